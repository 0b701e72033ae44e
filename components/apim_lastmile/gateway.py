"""Gateway: an API Management service whose managed identity carries the last mile."""


import ipaddress
import re
from enum import Enum
from typing import Optional, TypedDict

import pulumi
from pulumi_azure_native import apimanagement, managedidentity

from . import arguments, claims, naming, telemetry
from .azure_rules import (ACKNOWLEDGE_TRUSTED_SERVICE_RETIREMENT, CLIENT_CERTIFICATE_TIERS, DEDICATED_OUTBOUND_IPS,
                          DISABLE_OVER_PRIVILEGED_ACCESS, MAX_ACCESS_RULES, RESOURCE_LOG_TIERS, check_capacity, check_location)
from .errors import LastMileError
from .network import PRIVATE_DNS_ZONES, PrivateLinkRef, VirtualNetworkArgs, check_network_tier, check_virtual_network, virtual_network

try:  # Python 3.11+
    from typing import NotRequired, Required
except ImportError:  # pragma: no cover
    from typing_extensions import NotRequired, Required

class Sku(str, Enum):
    """An API Management tier (learn.microsoft.com/azure/api-management/api-management-features)."""

    CONSUMPTION = "Consumption"
    """Serverless, capacity 0, no built-in cache."""
    DEVELOPER = "Developer"
    """One unit, no SLA: for development."""
    BASIC = "Basic"
    """Classic Basic, 1-2 units."""
    STANDARD = "Standard"
    """Classic Standard, 1-4 units."""
    PREMIUM = "Premium"
    """Classic Premium, 1-12 units per region."""
    ISOLATED = "Isolated"
    """Classic Isolated (App Service Environment)."""
    BASIC_V2 = "BasicV2"
    """Basic v2, 1-10 units."""
    STANDARD_V2 = "StandardV2"
    """Standard v2, 1-10 units."""
    PREMIUM_V2 = "PremiumV2"
    """Premium v2, 1-30 units."""


class CacheKind(str, Enum):
    """Whether a gateway can cache, which a Key Vault backend in send-request mode needs."""

    INTERNAL = "internal"
    """The tier's built-in cache (every tier but Consumption)."""
    EXTERNAL = "external"
    """An external Redis cache configured on the gateway."""
    NONE = "none"
    """No cache: a Consumption gateway without an external cache."""


class IdentityType(str, Enum):
    """Which managed identity carries the last mile."""

    SYSTEM_ASSIGNED = "SystemAssigned"
    """The service's system-assigned identity."""
    USER_ASSIGNED = "UserAssigned"
    """A user-assigned identity (its client id is then sent as client-id)."""


class GatewayRef(TypedDict):
    """What a backend needs to know about a gateway: ``Gateway.ref`` returns one, or build it (e.g. from another
    stack's outputs, see ``gateway_ref_from_outputs``) for an APIM instance another stack owns."""

    service_name: pulumi.Input[str]
    """The API Management service name."""
    resource_group_name: pulumi.Input[str]
    """The resource group of the API Management service."""
    principal_id: pulumi.Input[str]
    """The object (principal) id of the managed identity that carries the last mile."""
    identity_client_id: NotRequired[pulumi.Input[str]]
    """The client id of that identity, only when it is user-assigned (policies send it as client-id, Key Vault named
    values as identityClientId)."""
    identity_type: NotRequired[IdentityType]
    """SystemAssigned or UserAssigned; checked against identity_client_id when given."""
    system_principal_id: NotRequired[pulumi.Input[str]]
    """The object id of the service's system-assigned identity, when the last mile is carried by a user-assigned one
    (Gateway gives the service both): a Key Vault without public access admits APIM's named-value reads as a trusted
    service only with that identity."""
    gateway_url: NotRequired[pulumi.Input[str]]
    """The gateway's https:// URL (default https://<service>.azure-api.net)."""
    sku: NotRequired[Sku]
    """The gateway's tier: decides whether it has a built-in cache."""
    cache: NotRequired[CacheKind]
    """internal, external or none; without it, it follows from sku (no built-in cache on Consumption)."""
    outbound_ips: NotRequired[pulumi.Input[list[str]]]
    """The gateway's own public IP addresses (tiers that have them: Developer, Basic, Standard, Premium, Isolated);
    a function backend in gateway-ip network mode admits only these."""
    private_link: NotRequired[PrivateLinkRef]
    """Where backends in network mode private put their private endpoints: the gateway's virtual network (Developer,
    Premium, StandardV2 with Gateway(virtual_network=...))."""
    telemetry: NotRequired[telemetry.TelemetryRef]
    """The gateway's telemetry (Gateway(telemetry=...)): every API a backend publishes then logs through its logger,
    and function apps and vaults the backends create send theirs to the same component and workspace."""


SKUS: dict[str, int] = {sku.value: (0 if sku is Sku.CONSUMPTION else 1) for sku in Sku}
"""SKU name -> default capacity. Consumption is serverless (capacity 0); the others run units."""
#: Tiers without a built-in cache: only an external (Redis) cache serves cache-lookup/store there.
#: learn.microsoft.com/azure/api-management/caching-overview: the internal cache is provisioned "in all API
#: Management service tiers (except the Consumption tier)"; the v2 tiers have one too (BasicV2 250 MB, StandardV2 1 GB).
NO_BUILT_IN_CACHE = frozenset({"Consumption"})
#: What a GatewayRef says of the gateway's cache: the built-in one, an external one, or none at all.
CACHE_KINDS = tuple(kind.value for kind in CacheKind)
IDENTITY_TYPES = tuple(kind.value for kind in IdentityType)


class ExternalCacheArgs(TypedDict, total=False):
    """An external Redis-compatible cache for the gateway (an apimanagement.Cache entity)."""

    connection_string: Required[pulumi.Input[str]]
    """The Redis connection string, as a Pulumi secret, e.g. <name>.redis.cache.windows.net:6380,password=<key>,
    ssl=True,abortConnect=False. APIM reaches an external cache only with an access key (it offers no Microsoft Entra
    option), so the key must stay a secret: a plain value is refused."""
    use_from_location: str
    """default (every region of the gateway) or an Azure region; it is also the cache id."""
    redis_resource_id: str
    """The cache's Azure resource id, kept as a link in APIM (optional)."""


class GatewayArgs(TypedDict, total=False):
    """Arguments of Gateway: an API Management service with a managed identity for the last mile."""

    resource_group_name: Required[pulumi.Input[str]]
    """Where the service lives."""
    publisher_email: Required[str]
    """Shown in the developer portal and used for notices (at most 100 characters)."""
    publisher_name: Required[str]
    """The publisher's name (1-100 characters)."""
    sku: Sku
    """The tier, default Consumption (capacity 0)."""
    capacity: int
    """Scale units: 0 on Consumption; within the tier's range elsewhere (default 1)."""
    location: pulumi.Input[str]
    """An Azure region; default the resource group's."""
    service_name: str
    """The globally unique service name; default apim-<name>-<6 random characters>."""
    user_assigned_identity: bool
    """True: a user-assigned identity carries the last mile (policies send client-id); default the system-assigned
    identity."""
    protect: bool
    """Protect the service (and identity) from deletion, for production stacks; default false."""
    external_cache: ExternalCacheArgs
    """An external Redis cache (the only cache a Consumption gateway can have); default none."""
    virtual_network: VirtualNetworkArgs
    """A virtual network for the gateway's backend traffic (Developer and Premium: injection in external mode;
    StandardV2: outbound integration), so backends can be private (network mode private); default none."""
    telemetry: telemetry.TelemetryArgs
    """Application Insights and resource logs, every one without a key ({} for the defaults); default none."""


def check_external_cache(cache: object, key: str = "external_cache") -> Optional[dict]:
    """Validate :class:`ExternalCacheArgs`: the connection string must be a Pulumi secret."""
    if cache is None:
        return None
    if not isinstance(cache, dict):
        raise LastMileError(key, cache, "expected {'connection_string': <a Pulumi secret>, 'use_from_location': 'default'}")
    unknown = sorted(set(cache) - set(ExternalCacheArgs.__annotations__))
    if unknown:
        raise LastMileError(f"{key}.{unknown[0]}", cache[unknown[0]], f"unknown key; expected {', '.join(ExternalCacheArgs.__annotations__)}")
    connection = cache.get("connection_string")
    if not isinstance(connection, pulumi.Output):
        raise LastMileError(
            f"{key}.connection_string", "<plain value hidden>" if isinstance(connection, str) else connection,
            "pass the Redis connection string as a Pulumi secret (pulumi.Config().require_secret(...)): it carries the cache's access key",
        )
    location = cache.get("use_from_location", "default")
    if not isinstance(location, str) or not re.fullmatch(r"[a-z0-9]{1,80}", location):
        raise LastMileError(f"{key}.use_from_location", location, "expected 'default' or an Azure region name such as westeurope")
    if location != "default":
        check_location(f"{key}.use_from_location", location)
    resource_id = cache.get("redis_resource_id")
    if resource_id is not None:
        naming.check_resource_id(f"{key}.redis_resource_id", resource_id)
        if naming.resource_type(resource_id).lower() not in ("microsoft.cache/redis", "microsoft.cache/redisenterprise"):
            raise LastMileError(f"{key}.redis_resource_id", resource_id, "expected the id of a Microsoft.Cache/redis or "
                                                                         "Microsoft.Cache/redisEnterprise cache")
    return {"connection_string": connection, "use_from_location": location, "redis_resource_id": resource_id}


def without_client_certificate(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
    """Leave ``enableClientCertificate`` out of an API Management service's inputs. azure-native's SDK fills in
    ``false``, which Azure refuses on the tiers the property is not meant for (``azure_rules.CLIENT_CERTIFICATE_TIERS``);
    left out, Azure's default applies: no client certificate required, which is what ``false`` says."""
    if args.type_ != "azure-native:apimanagement:ApiManagementService":
        return None
    props = {key: value for key, value in dict(args.props).items() if key != "enable_client_certificate"}
    return pulumi.ResourceTransformationResult(props, args.opts)


def _validate(name: str, args: GatewayArgs) -> dict:
    naming.COMPONENT_NAME.check("Gateway name", name)
    if not isinstance(args, dict):
        raise LastMileError("args", args, "expected GatewayArgs (a dict)")
    arguments.check_known_keys(args, GatewayArgs)
    for switch in ("user_assigned_identity", "protect"):
        arguments.check_bool(args, switch)
    if args.get("location") is not None and not isinstance(args["location"], pulumi.Output):
        check_location("location", args["location"])
    for key in ("resource_group_name", "publisher_email", "publisher_name"):
        if args.get(key) in (None, ""):
            raise LastMileError(key, args.get(key), f"{key} is required")
    naming.check_email("publisher_email", args["publisher_email"])
    publisher_name = args["publisher_name"]
    if not isinstance(publisher_name, str) or len(publisher_name) > 100:
        raise LastMileError("publisher_name", publisher_name, "expected a name of 1-100 characters")
    if isinstance(args["resource_group_name"], str):
        naming.RESOURCE_GROUP.check("resource_group_name", args["resource_group_name"])
    sku = arguments.plain(args.get("sku", "Consumption"))
    if not isinstance(sku, str) or sku not in SKUS:
        raise LastMileError("sku", sku, f"expected one of {', '.join(SKUS)}")
    capacity = check_capacity("capacity", sku, args.get("capacity", SKUS[sku]))
    service_name = naming.optional(naming.APIM_SERVICE, "service_name", args.get("service_name"))
    if service_name is None:
        naming.check_prefix_fits(naming.APIM_SERVICE, "Gateway name", f"apim-{name}-")
    uai = args.get("user_assigned_identity", False)
    virtual = check_virtual_network(args.get("virtual_network"), sku)
    # Program-wide: APIM service names are global (<name>.azure-api.net), and a gateway with a network creates the
    # privatelink zones in its group, where a second one of the same name cannot be.
    if service_name is not None:
        claims.CLAIMS.claim("apim services", service_name, name, "service_name", what="API Management service name")
    if virtual is not None and isinstance(args["resource_group_name"], str):
        for zone in virtual["zones"]:
            claims.CLAIMS.claim(("private DNS zones", args["resource_group_name"].lower()), PRIVATE_DNS_ZONES[zone], name,
                                "virtual_network", what="private DNS zone")
    return {"sku": sku, "capacity": capacity, "service_name": service_name, "uai": uai, "protect": args.get("protect", False),
            "external_cache": check_external_cache(args.get("external_cache")),
            "virtual_network": virtual, "telemetry": _checked_telemetry(name, args.get("telemetry"))}


def _checked_telemetry(name: str, args: object) -> Optional[dict]:
    checked = telemetry.check_telemetry(args)
    if checked is not None and checked["workspace_id"] is None:
        telemetry.check_workspace_name(name)
    return checked


class Gateway(pulumi.ComponentResource):
    """An API Management service with a managed identity for the last mile to its backends. Its outputs are the
    fields of a GatewayRef, which the backends take as their gateway."""

    service_name: pulumi.Output[str]
    """The API Management service name."""
    resource_group_name: pulumi.Output[str]
    """The service's resource group."""
    gateway_url: pulumi.Output[str]
    """The gateway's https:// URL."""
    principal_id: pulumi.Output[str]
    """The object (principal) id of the identity that carries the last mile."""
    identity_client_id: Optional[pulumi.Output[str]]
    """The client id of that identity when it is user-assigned (absent for the system-assigned one)."""
    identity_type: pulumi.Output[str]
    """SystemAssigned or UserAssigned."""
    system_principal_id: pulumi.Output[str]
    """The object id of the service's system-assigned identity (the service has one with a user-assigned identity
    too: Key Vault's trusted-service access takes only that one)."""
    sku: pulumi.Output[str]
    """The tier."""
    cache: pulumi.Output[str]
    """internal, external or none: whether the gateway can cache."""
    outbound_ips: pulumi.Output[list[str]]
    """The gateway's own public IP addresses (empty on tiers without dedicated ones: Consumption and the v2 tiers)."""
    private_link: Optional[pulumi.Output[PrivateLinkRef]]
    """With a virtual network: the private endpoint subnet, its region and the private DNS zone ids for the backends."""
    telemetry: Optional[telemetry.TelemetryRef]
    """With telemetry: the logger, workspace and Application Insights component the backends use."""

    def __init__(self, name: str, args: GatewayArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        v = _validate(name, args)
        super().__init__("apim-lastmile:index:Gateway", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=True if v["protect"] else None)
        rg = args["resource_group_name"]

        identity: Optional[managedidentity.UserAssignedIdentity] = None
        if v["uai"]:
            identity = managedidentity.UserAssignedIdentity(
                f"{name}-identity",
                resource_group_name=rg,
                location=args.get("location"),
                resource_name_=f"id-apim-{name}",
                opts=stateful,
            )
            # The system-assigned identity too: Key Vault's trusted-service access (a vault without public access) admits
            # APIM's named-value reads with that identity only (keyvault_backend.py).
            service_identity = {
                "type": apimanagement.ApimIdentityType.SYSTEM_ASSIGNED_USER_ASSIGNED,
                "user_assigned_identities": identity.id.apply(lambda rid: {rid: {}}),
            }
        else:
            service_identity = {"type": apimanagement.ApimIdentityType.SYSTEM_ASSIGNED}

        service_name = v["service_name"] or pulumi.Output.concat(
            f"apim-{name}-", naming.unique_suffix(name, self, keepers={"resourceGroup": rg, "location": args.get("location")})
        )
        network_args = {}
        link: Optional[PrivateLinkRef] = None
        if v["virtual_network"] is not None:
            subnet_id, link = virtual_network(name, self, rg, args.get("location"), v["virtual_network"], stateful)
            # External: the gateway stays public for clients and sends backend traffic into the network (classic
            # injection in external mode; on StandardV2 the only value outbound integration takes).
            network_args = {"virtual_network_type": apimanagement.VirtualNetworkType.EXTERNAL,
                            "virtual_network_configuration": {"subnet_resource_id": subnet_id}}
        if v["sku"] in ACKNOWLEDGE_TRUSTED_SERVICE_RETIREMENT:
            # The gateway reaches backends by network line of sight, never as a "trusted service" (retired 2026-03-15).
            network_args["custom_properties"] = {DISABLE_OVER_PRIVILEGED_ACCESS: "True"}
        service = apimanagement.ApiManagementService(
            f"{name}-apim",
            service_name=service_name,
            resource_group_name=rg,
            location=args.get("location"),
            publisher_email=args["publisher_email"],
            publisher_name=args["publisher_name"],
            sku={"name": v["sku"], "capacity": v["capacity"]},
            identity=service_identity,
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(
                transformations=[] if v["sku"] in CLIENT_CERTIFICATE_TIERS else [without_client_certificate])),
            **network_args,
        )

        cache = v["external_cache"]
        if cache is not None:
            cache_args = {}
            if cache["redis_resource_id"]:
                cache_args["resource_id"] = "https://management.azure.com" + cache["redis_resource_id"]
            apimanagement.Cache(
                f"{name}-cache",
                cache_id=cache["use_from_location"],
                service_name=service.name,
                resource_group_name=rg,
                connection_string=pulumi.Output.secret(cache["connection_string"]),
                use_from_location=cache["use_from_location"],
                description="External cache of the gateway (cache-lookup-value / cache-store-value)",
                opts=pulumi.ResourceOptions(parent=self),
                **cache_args,
            )
        self._sku = v["sku"]
        self._cache = "external" if cache is not None else ("none" if v["sku"] in NO_BUILT_IN_CACHE else "internal")
        self.service_name = service.name
        self.gateway_url = service.gateway_url
        self.system_principal_id = service.identity.apply(lambda i: i.principal_id if i else None)
        if identity is not None:
            self.principal_id = identity.principal_id
            self.identity_client_id = identity.client_id
        else:
            self.principal_id = service.identity.apply(lambda i: i.principal_id if i else None)
            self.identity_client_id = None
        self._rg = rg
        self.resource_group_name = pulumi.Output.from_input(rg)
        self.identity_type = pulumi.Output.from_input("SystemAssigned" if identity is None else "UserAssigned")
        self.sku = pulumi.Output.from_input(str(self._sku))
        self.cache = pulumi.Output.from_input(self._cache)
        self.outbound_ips = service.public_ip_addresses.apply(lambda ips: list(ips or []))
        outputs = {"service_name": self.service_name, "resource_group_name": self.resource_group_name, "gateway_url": self.gateway_url,
                   "principal_id": self.principal_id, "identity_type": self.identity_type, "sku": self.sku, "cache": self.cache,
                   "outbound_ips": self.outbound_ips, "system_principal_id": self.system_principal_id}
        self._private_link: Optional[PrivateLinkRef] = None
        self.private_link = None
        if link is not None:
            # The endpoints' subnet once the gateway is in the network: a backend reached through it before that
            # would be unreachable from the gateway.
            self._private_link = {**link, "subnet_id": pulumi.Output.all(link["subnet_id"], service.id).apply(lambda ids: ids[0])}
            self.private_link = pulumi.Output.from_input(self._private_link)
            outputs["private_link"] = self.private_link
        if self.identity_client_id is not None:
            outputs["identity_client_id"] = self.identity_client_id
        self.telemetry = None
        if v["telemetry"] is not None:
            self.telemetry = telemetry.build(name, self, v["telemetry"], resource_group_name=rg, location=args.get("location"),
                                             service_name=service.name, principal_id=self.principal_id,
                                             identity_client_id=self.identity_client_id, protect=v["protect"])
            if v["sku"] in RESOURCE_LOG_TIERS:
                telemetry.resource_logs(f"{name}-resource-logs", self, service.id, self.telemetry["workspace_id"], dedicated=True)
            outputs["telemetry"] = self.telemetry
        self.register_outputs(outputs)

    @property
    def ref(self) -> GatewayRef:
        """A :class:`GatewayRef` for the backends of this gateway (the same object on every call)."""
        if not hasattr(self, "_ref"):
            ref: GatewayRef = {
                "service_name": self.service_name,
                "resource_group_name": self._rg,
                "principal_id": self.principal_id,
                "gateway_url": self.gateway_url,
                "identity_type": "SystemAssigned" if self.identity_client_id is None else "UserAssigned",
                "sku": str(self._sku),
                "cache": self._cache,
                "outbound_ips": self.outbound_ips,
            }
            if self.identity_client_id is not None:
                ref["identity_client_id"] = self.identity_client_id
                ref["system_principal_id"] = self.system_principal_id
            if self._private_link is not None:
                ref["private_link"] = self._private_link
            if self.telemetry is not None:
                ref["telemetry"] = self.telemetry
            self._ref = ref
        return self._ref


def check_gateway_ref(gateway: object, key: str = "gateway") -> GatewayRef:
    """Validate a :class:`GatewayRef` eagerly; known string values are checked, Outputs pass through."""
    if not isinstance(gateway, dict):
        raise LastMileError(key, gateway, "expected a GatewayRef: Gateway(...).ref or a dict with service_name, resource_group_name, principal_id")
    # A misspelt field (outbound_ip, privatelink, Sku) would leave the backend in a weaker network mode without a word.
    arguments.check_known_keys(gateway, GatewayRef, f"{key}.")
    for field in ("service_name", "resource_group_name", "principal_id"):
        if gateway.get(field) in (None, ""):
            raise LastMileError(f"{key}.{field}", gateway.get(field), f"a GatewayRef needs {field}")
    for field in ("service_name", "resource_group_name", "principal_id", "identity_client_id", "system_principal_id", "gateway_url"):
        value = gateway.get(field)
        if value is not None and not isinstance(value, (str, pulumi.Output)):
            raise LastMileError(f"{key}.{field}", value, "expected a string (or an Output of one)")
    if isinstance(gateway["service_name"], str):
        naming.APIM_SERVICE.check(f"{key}.service_name", gateway["service_name"])
    if isinstance(gateway["principal_id"], str):
        naming.check_guid(f"{key}.principal_id", gateway["principal_id"])
    if isinstance(gateway.get("system_principal_id"), str):
        naming.check_guid(f"{key}.system_principal_id", gateway["system_principal_id"])
    client_id = gateway.get("identity_client_id")
    if isinstance(client_id, str):
        naming.check_guid(f"{key}.identity_client_id", client_id)
    identity_type = arguments.plain(gateway.get("identity_type"))
    if identity_type is not None and identity_type not in IDENTITY_TYPES:
        raise LastMileError(f"{key}.identity_type", identity_type, f"expected one of {', '.join(IDENTITY_TYPES)}")
    if identity_type == "SystemAssigned" and client_id is not None:
        raise LastMileError(
            f"{key}.identity_client_id", client_id,
            "a system-assigned identity takes no client-id (APIM would ask for a token as an identity it does not have): "
            "remove identity_client_id, or use Gateway(user_assigned_identity=True)",
        )
    if identity_type == "UserAssigned" and client_id is None:
        raise LastMileError(
            f"{key}.identity_client_id", None,
            "a user-assigned identity needs its client id, or APIM would use its system-assigned identity instead",
        )
    url = gateway.get("gateway_url")
    if isinstance(url, str):
        naming.check_https_url(f"{key}.gateway_url", url)
    elif url is not None and not isinstance(url, pulumi.Output):
        raise LastMileError(f"{key}.gateway_url", url, "expected the gateway's https:// URL")
    sku, cache = arguments.plain(gateway.get("sku")), arguments.plain(gateway.get("cache"))
    if sku is not None and (not isinstance(sku, str) or sku not in SKUS):
        raise LastMileError(f"{key}.sku", sku, f"expected one of {', '.join(SKUS)}")
    if cache is not None and cache not in CACHE_KINDS:
        raise LastMileError(f"{key}.cache", cache, f"expected one of {', '.join(CACHE_KINDS)}")
    if cache == "internal" and sku in NO_BUILT_IN_CACHE:
        raise LastMileError(f"{key}.cache", cache, f"the {sku} tier has no built-in cache: say 'external' (with an external cache) or 'none'")
    if isinstance(gateway["principal_id"], str) and isinstance(client_id, str) and client_id.lower() == gateway["principal_id"].lower():
        raise LastMileError(f"{key}.identity_client_id", client_id, "the client id of an identity is not its principal (object) id: "
                                                                    "read both from the identity (principalId, clientId)")
    check_outbound_ips(gateway.get("outbound_ips"), sku, f"{key}.outbound_ips")
    if gateway.get("private_link") is not None and sku is None:
        raise LastMileError(f"{key}.sku", None, "a ref with a private_link must say the gateway's tier (sku): without it no "
                                                "backend could be made private, and it would silently stay identity-only")
    check_private_link(gateway.get("private_link"), sku, f"{key}.private_link")
    telemetry.check_telemetry_ref(gateway.get("telemetry"), f"{key}.telemetry")
    return gateway  # type: ignore[return-value]


#: Addresses a gateway's public address cannot be: private, shared (CGNAT), loopback, link-local (the instance metadata
#: service among them), unspecified, multicast and reserved ranges (RFC 6890). Documentation ranges stay allowed.
_NOT_THE_GATEWAYS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
    "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"))


def check_outbound_ips(ips: object, sku: Optional[str], key: str = "gateway.outbound_ips") -> None:
    """The gateway's own public addresses: a list of single public IP addresses (an Output passes through), only on a
    tier that has them; a range, a private or special address, or a string where the list belongs would open the
    function to more than the gateway."""
    if ips is None or isinstance(ips, pulumi.Output):
        return
    if isinstance(ips, (str, bytes)) or not isinstance(ips, (list, tuple)):
        raise LastMileError(key, ips, "expected a list of the gateway's public IP addresses, such as ['203.0.113.10']")
    if ips and sku is None:
        raise LastMileError(f"{key[: key.rfind('.')]}.sku" if "." in key else "sku", None,
                            "a ref with outbound_ips must say the gateway's tier (sku), so the network mode is chosen from it")
    if ips and sku not in DEDICATED_OUTBOUND_IPS:
        raise LastMileError(key, ips, f"the {sku} tier has no public IP addresses of its own; only "
                                      f"{', '.join(sorted(DEDICATED_OUTBOUND_IPS))} do")
    if len(ips) > MAX_ACCESS_RULES:
        raise LastMileError(key, f"{len(ips)} addresses", f"App Service takes at most {MAX_ACCESS_RULES} access restriction rules")
    for index, ip in enumerate(ips):
        try:
            address = ipaddress.ip_address(ip) if isinstance(ip, str) else None
        except ValueError:
            address = None
        if address is None:
            raise LastMileError(f"{key}[{index}]", ip, "expected one public IP address (no range): the gateway's own address")
        if any(address in net for net in _NOT_THE_GATEWAYS if net.version == address.version):
            raise LastMileError(f"{key}[{index}]", ip, "expected a public address: a private, loopback, link-local or reserved "
                                                       "one is not the gateway's")


def check_private_link(link: object, sku: Optional[str], key: str = "gateway.private_link") -> None:
    """A :class:`PrivateLinkRef`: subnet_id, location and dns_zone_ids, on a tier that can have a virtual network."""
    if link is None:
        return
    if not isinstance(link, dict):
        raise LastMileError(key, link, "expected a PrivateLinkRef: {'subnet_id': ..., 'location': ..., 'dns_zone_ids': {'sites': ...}}")
    arguments.check_known_keys(link, PrivateLinkRef, f"{key}.")
    for field in ("subnet_id", "location", "dns_zone_ids"):
        if link.get(field) in (None, "", {}):
            raise LastMileError(f"{key}.{field}", link.get(field), f"a PrivateLinkRef needs {field} (a private endpoint lives "
                                                                    "in its network's region)" if field == "location" else
                                f"a PrivateLinkRef needs {field}")
    for field in ("subnet_id", "location"):
        if not isinstance(link[field], (str, pulumi.Output)):
            raise LastMileError(f"{key}.{field}", link[field], "expected a string (or an Output of one)")
    for field in ("subnet_id", "integration_subnet_id"):
        if isinstance(link.get(field), str):
            naming.check_resource_id(f"{key}.{field}", link[field], "Microsoft.Network/virtualNetworks/subnets")
        elif link.get(field) is not None and not isinstance(link[field], pulumi.Output):
            raise LastMileError(f"{key}.{field}", link[field], "expected a subnet id (or an Output of one)")
    if isinstance(link.get("location"), str):
        check_location(f"{key}.location", link["location"])
    if isinstance(link["dns_zone_ids"], dict):
        for group, zone_id in link["dns_zone_ids"].items():
            if group not in PRIVATE_DNS_ZONES:
                raise LastMileError(f"{key}.dns_zone_ids.{group}", zone_id, f"expected keys among {', '.join(PRIVATE_DNS_ZONES)}")
            if not isinstance(zone_id, (str, pulumi.Output)):
                raise LastMileError(f"{key}.dns_zone_ids.{group}", zone_id, "expected a private DNS zone id (or an Output of one)")
            if isinstance(zone_id, str):
                naming.check_resource_id(f"{key}.dns_zone_ids.{group}", zone_id, "Microsoft.Network/privateDnsZones")
                if zone_id.rsplit("/", 1)[-1].lower() != PRIVATE_DNS_ZONES[group]:
                    raise LastMileError(f"{key}.dns_zone_ids.{group}", zone_id, f"expected the {PRIVATE_DNS_ZONES[group]} zone for group {group}")
    elif not isinstance(link["dns_zone_ids"], pulumi.Output):
        raise LastMileError(f"{key}.dns_zone_ids", link["dns_zone_ids"], "expected {'sites': <private DNS zone id>, ...}")
    capacity = link.get("endpoint_capacity")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
        raise LastMileError(f"{key}.endpoint_capacity", capacity, "expected how many private endpoints the subnet holds (a whole number, 1 or more)")
    check_network_tier(key, "<private_link>", sku)


def gateway_ref_from_stack(stack: pulumi.StackReference, output: str = "gateway", *, sku: Optional[str] = None,
                           cache: Optional[str] = None, virtual_network: bool = False, with_telemetry: bool = False) -> GatewayRef:
    """A :class:`GatewayRef` for the gateway another stack owns, from the object that stack exports (the environment
    program exports it as ``gateway``: serviceName, resourceGroupName, principalId, identityClientId, identityType,
    gatewayUrl, sku, cache, outboundIps, privateLink). Stack outputs are known only at deploy time, so pass ``sku``
    (or ``cache``) here when a Key Vault backend on that gateway uses send-request delivery or a function backend
    picks its network mode by the tier, and ``virtual_network=True`` when that gateway has one (its backends can then
    be private), and ``with_telemetry=True`` when it has telemetry (its backends' APIs then log through its logger);
    all are checked before anything is registered."""
    exported = stack.get_output(output)

    def checked(g: object) -> dict:
        """The export, refused at deploy time when it is missing or disagrees with what this consumer stated."""
        if not isinstance(g, dict):
            raise LastMileError(f"stack output {output!r}", g, "the referenced stack exports no gateway under this name: check the "
                                                               "stack name and output (the environment program exports 'gateway')")
        for name in ("serviceName", "resourceGroupName", "principalId"):
            if g.get(name) in (None, ""):
                raise LastMileError(f"stack output {output}.{name}", g.get(name), "the exported gateway lacks it: export Gateway's outputs "
                                                                                 "with apim_lastmile.exported_ref(gateway)")
        if sku is not None and g.get("sku") not in (None, sku):
            raise LastMileError("sku", sku, f"the referenced stack's gateway is {g.get('sku')!r}: state the tier it exports")
        if virtual_network and not g.get("privateLink"):
            raise LastMileError("virtual_network", True, "the referenced stack's gateway exports no privateLink (it has no virtual "
                                                         "network): drop virtual_network=True or give that gateway a network")
        if with_telemetry and not g.get("telemetry"):
            raise LastMileError("with_telemetry", True, "the referenced stack's gateway exports no telemetry: drop with_telemetry=True "
                                                        "or give that gateway Gateway(telemetry={...})")
        return g

    exported = exported.apply(checked)

    def field(name: str) -> pulumi.Output:
        return exported.apply(lambda g: g.get(name))

    service_name = field("serviceName")
    # Every ref read from this stack's export is the same gateway (API paths and ids are claimed on it once).
    claims.alias_gateway(service_name, ("stack", getattr(stack, "_name", id(stack)), output))
    ref: GatewayRef = {
        "service_name": service_name,
        "resource_group_name": field("resourceGroupName"),
        "principal_id": field("principalId"),
        "identity_client_id": field("identityClientId"),
        "system_principal_id": field("systemPrincipalId"),
        "gateway_url": exported.apply(lambda g: g.get("gatewayUrl") or f"https://{g['serviceName']}.azure-api.net"),
        "outbound_ips": field("outboundIps"),
    }
    if sku is not None:
        ref["sku"] = sku
    if cache is not None:
        ref["cache"] = cache
    if virtual_network:
        link = field("privateLink")
        ref["private_link"] = {"subnet_id": link.apply(lambda p: (p or {}).get("subnetId")),
                               "location": link.apply(lambda p: (p or {}).get("location")),
                               "dns_zone_ids": link.apply(lambda p: (p or {}).get("dnsZoneIds")),
                               "integration_subnet_id": link.apply(lambda p: (p or {}).get("integrationSubnetId"))}
    if with_telemetry:
        ref["telemetry"] = telemetry.from_export(field)
    return check_gateway_ref(ref)


def exported_ref(gateway: "Gateway") -> dict:
    """What a stack exports as ``gateway`` so that :func:`gateway_ref_from_stack` (or any language) can read it."""
    out = {"serviceName": gateway.service_name, "resourceGroupName": gateway.resource_group_name,
           "principalId": gateway.principal_id, "identityType": gateway.identity_type, "gatewayUrl": gateway.gateway_url,
           "sku": gateway.sku, "cache": gateway.cache, "outboundIps": gateway.outbound_ips}
    if gateway.identity_client_id is not None:
        out["identityClientId"] = gateway.identity_client_id
        out["systemPrincipalId"] = gateway.system_principal_id
    if gateway.private_link is not None:
        out["privateLink"] = gateway.private_link.apply(
            lambda p: {"subnetId": p["subnet_id"], "location": p["location"], "dnsZoneIds": p["dns_zone_ids"],
                       "endpointCapacity": p.get("endpoint_capacity"), "integrationSubnetId": p.get("integration_subnet_id")})
    if gateway.telemetry is not None:
        out["telemetry"] = telemetry.exported(gateway.telemetry)
    return out


def gateway_cache(gateway: GatewayRef) -> Optional[str]:
    """``internal``, ``external`` or ``none`` as the ref says (or as its ``sku`` implies); ``None`` when unknown."""
    if gateway.get("cache") is not None:
        return arguments.plain(gateway["cache"])
    sku = arguments.plain(gateway.get("sku"))
    if sku is None:
        return None
    return "none" if sku in NO_BUILT_IN_CACHE else "internal"


def gateway_url(gateway: GatewayRef) -> pulumi.Output[str]:
    """The gateway's base URL: given in the ref, else the default ``https://<service>.azure-api.net``."""
    if gateway.get("gateway_url") is not None:
        return pulumi.Output.from_input(gateway["gateway_url"])
    return pulumi.Output.concat("https://", gateway["service_name"], ".azure-api.net")
