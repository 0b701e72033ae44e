"""Gateway: an API Management service whose managed identity carries the last mile."""


import re
from typing import Optional, TypedDict

import pulumi
from pulumi_azure_native import apimanagement, managedidentity

from . import naming
from .azure_rules import check_capacity, check_location
from .errors import LastMileError

try:  # Python 3.11+
    from typing import NotRequired, Required
except ImportError:  # pragma: no cover
    from typing_extensions import NotRequired, Required

#: SKU name -> default capacity. Consumption is serverless (capacity 0); the others run units.
SKUS: dict[str, int] = {
    "Consumption": 0,
    "Developer": 1,
    "Basic": 1,
    "Standard": 1,
    "Premium": 1,
    "Isolated": 1,
    "BasicV2": 1,
    "StandardV2": 1,
}
#: Tiers without a built-in cache: only an external (Redis) cache serves cache-lookup/store there.
#: learn.microsoft.com/azure/api-management/caching-overview: the internal cache is provisioned "in all API
#: Management service tiers (except the Consumption tier)"; the v2 tiers have one too (BasicV2 250 MB, StandardV2 1 GB).
NO_BUILT_IN_CACHE = frozenset({"Consumption"})
#: What a GatewayRef says of the gateway's cache: the built-in one, an external one, or none at all.
CACHE_KINDS = ("internal", "external", "none")


class GatewayRef(TypedDict):
    """What a backend needs to know about a gateway (public contract).

    Build one by hand (e.g. from a StackReference) for an APIM instance another stack owns.
    ``identity_client_id`` is set only when the last mile uses a user-assigned identity (policies then send
    it as ``client-id``, Key Vault named values as ``identityClientId``). ``identity_type`` (``SystemAssigned``
    or ``UserAssigned``) is optional; when given it is checked against ``identity_client_id``, which catches a
    client id copied onto the ref of a system-assigned gateway. ``sku`` (one of :data:`SKUS`) and ``cache``
    (``internal``, ``external`` or ``none``) say whether the gateway can cache; without ``cache`` it follows from
    ``sku`` (no built-in cache on Consumption). A Key Vault backend in ``send-request`` mode needs a cache.
    """

    service_name: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    principal_id: pulumi.Input[str]
    identity_client_id: NotRequired[Optional[pulumi.Input[str]]]
    identity_type: NotRequired[str]
    gateway_url: NotRequired[pulumi.Input[str]]
    sku: NotRequired[str]
    cache: NotRequired[str]


IDENTITY_TYPES = ("SystemAssigned", "UserAssigned")


class ExternalCacheArgs(TypedDict, total=False):
    """An external Redis-compatible cache for the gateway (an ``apimanagement.Cache`` entity).

    - ``connection_string`` (required): a Pulumi secret (``config.require_secret(...)``), e.g.
      ``<name>.redis.cache.windows.net:6380,password=<key>,ssl=True,abortConnect=False``. APIM reaches an external
      cache only with an access key (it offers no Microsoft Entra option for it), so the key must stay a secret;
      a plain string is refused.
    - ``use_from_location``: ``default`` (every region of the gateway) or an Azure region; it is also the cache id.
    - ``redis_resource_id``: the cache's Azure resource id, kept as a link in APIM (optional).
    """

    connection_string: Required[pulumi.Output]
    use_from_location: str
    redis_resource_id: str


class GatewayArgs(TypedDict, total=False):
    """Arguments of :class:`Gateway`.

    - ``resource_group_name`` (required): where the service lives.
    - ``publisher_email``, ``publisher_name`` (required): shown in the developer portal and used for notices.
    - ``sku``: one of :data:`SKUS`, default ``Consumption`` (capacity 0). ``capacity`` overrides the default
      of 1 for the other SKUs.
    - ``location``: defaults to the resource group's.
    - ``service_name``: the globally unique service name; default ``apim-<name>-<6 random chars>``.
    - ``user_assigned_identity``: ``True`` creates a user-assigned identity and makes it the identity of the
      last mile (policies then send ``client-id``); default: the system-assigned identity.
    - ``protect``: protect the service (and identity) from deletion, for production stacks.
    - ``external_cache``: :class:`ExternalCacheArgs`, an external Redis cache (the only cache a Consumption gateway
      can have).
    """

    resource_group_name: Required[pulumi.Input[str]]
    publisher_email: Required[str]
    publisher_name: Required[str]
    sku: str
    capacity: int
    location: pulumi.Input[str]
    service_name: str
    user_assigned_identity: bool
    protect: bool
    external_cache: ExternalCacheArgs


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
    resource_id = cache.get("redis_resource_id")
    if resource_id is not None:
        naming.check_resource_id(f"{key}.redis_resource_id", resource_id)
    return {"connection_string": connection, "use_from_location": location, "redis_resource_id": resource_id}


def _validate(name: str, args: GatewayArgs) -> dict:
    naming.COMPONENT_NAME.check("Gateway name", name)
    if not isinstance(args, dict):
        raise LastMileError("args", args, "expected GatewayArgs (a dict)")
    naming.check_known_keys(args, GatewayArgs)
    for switch in ("user_assigned_identity", "protect"):
        naming.check_bool(args, switch)
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
    sku = args.get("sku", "Consumption")
    if sku not in SKUS:
        raise LastMileError("sku", sku, f"expected one of {', '.join(SKUS)}")
    capacity = check_capacity("capacity", sku, args.get("capacity", SKUS[sku]))
    service_name = naming.optional(naming.APIM_SERVICE, "service_name", args.get("service_name"))
    if service_name is None:
        naming.check_prefix_fits(naming.APIM_SERVICE, "Gateway name", f"apim-{name}-")
    uai = args.get("user_assigned_identity", False)
    return {"sku": sku, "capacity": capacity, "service_name": service_name, "uai": uai, "protect": args.get("protect", False),
            "external_cache": check_external_cache(args.get("external_cache"))}


class Gateway(pulumi.ComponentResource):
    """An API Management service with a managed identity for the last mile to its backends."""

    service_name: pulumi.Output[str]
    gateway_url: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    identity_client_id: Optional[pulumi.Output[str]]

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
            service_identity = {
                "type": apimanagement.ApimIdentityType.USER_ASSIGNED,
                "user_assigned_identities": identity.id.apply(lambda rid: {rid: {}}),
            }
        else:
            service_identity = {"type": apimanagement.ApimIdentityType.SYSTEM_ASSIGNED}

        service_name = v["service_name"] or pulumi.Output.concat(
            f"apim-{name}-", naming.unique_suffix(name, self, keepers={"resourceGroup": rg, "location": args.get("location")})
        )
        service = apimanagement.ApiManagementService(
            f"{name}-apim",
            service_name=service_name,
            resource_group_name=rg,
            location=args.get("location"),
            publisher_email=args["publisher_email"],
            publisher_name=args["publisher_name"],
            sku={"name": v["sku"], "capacity": v["capacity"]},
            identity=service_identity,
            opts=stateful,
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
        if identity is not None:
            self.principal_id = identity.principal_id
            self.identity_client_id = identity.client_id
        else:
            self.principal_id = service.identity.apply(lambda i: i.principal_id if i else None)
            self.identity_client_id = None
        self._rg = rg
        outputs = {"service_name": self.service_name, "gateway_url": self.gateway_url, "principal_id": self.principal_id}
        if self.identity_client_id is not None:
            outputs["identity_client_id"] = self.identity_client_id
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
                "sku": self._sku,
                "cache": self._cache,
            }
            if self.identity_client_id is not None:
                ref["identity_client_id"] = self.identity_client_id
            self._ref = ref
        return self._ref


def check_gateway_ref(gateway: object, key: str = "gateway") -> GatewayRef:
    """Validate a :class:`GatewayRef` eagerly; known string values are checked, Outputs pass through."""
    if not isinstance(gateway, dict):
        raise LastMileError(key, gateway, "expected a GatewayRef: Gateway(...).ref or a dict with service_name, resource_group_name, principal_id")
    for field in ("service_name", "resource_group_name", "principal_id"):
        if gateway.get(field) in (None, ""):
            raise LastMileError(f"{key}.{field}", gateway.get(field), f"a GatewayRef needs {field}")
    if isinstance(gateway["service_name"], str):
        naming.APIM_SERVICE.check(f"{key}.service_name", gateway["service_name"])
    if isinstance(gateway["principal_id"], str):
        naming.check_guid(f"{key}.principal_id", gateway["principal_id"])
    client_id = gateway.get("identity_client_id")
    if isinstance(client_id, str):
        naming.check_guid(f"{key}.identity_client_id", client_id)
    identity_type = gateway.get("identity_type")
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
    sku, cache = gateway.get("sku"), gateway.get("cache")
    if sku is not None and sku not in SKUS:
        raise LastMileError(f"{key}.sku", sku, f"expected one of {', '.join(SKUS)}")
    if cache is not None and cache not in CACHE_KINDS:
        raise LastMileError(f"{key}.cache", cache, f"expected one of {', '.join(CACHE_KINDS)}")
    if cache == "internal" and sku in NO_BUILT_IN_CACHE:
        raise LastMileError(f"{key}.cache", cache, f"the {sku} tier has no built-in cache: say 'external' (with an external cache) or 'none'")
    return gateway  # type: ignore[return-value]


def gateway_cache(gateway: GatewayRef) -> Optional[str]:
    """``internal``, ``external`` or ``none`` as the ref says (or as its ``sku`` implies); ``None`` when unknown."""
    if gateway.get("cache") is not None:
        return gateway["cache"]
    sku = gateway.get("sku")
    if sku is None:
        return None
    return "none" if sku in NO_BUILT_IN_CACHE else "internal"


def gateway_url(gateway: GatewayRef) -> pulumi.Output[str]:
    """The gateway's base URL: given in the ref, else the default ``https://<service>.azure-api.net``."""
    if gateway.get("gateway_url") is not None:
        return pulumi.Output.from_input(gateway["gateway_url"])
    return pulumi.Output.concat("https://", gateway["service_name"], ".azure-api.net")
