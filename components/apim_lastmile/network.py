"""The network last mile: who can even reach a backend, beside who may call it.

Identity already makes the function answer 401 to all but the gateway's identity. The network modes add a second,
independent layer where the gateway's tier allows it:

- ``identity-only``: reachable from anywhere, only the gateway's identity gets past Easy Auth (every tier).
- ``gateway-ip``: the function's access restrictions allow only the gateway's own public IP addresses, default
  action deny, and its SCM (deployment) site only the addresses you deploy from. Only tiers whose gateway has
  addresses of its own (``azure_rules.DEDICATED_OUTBOUND_IPS``); Consumption and the v2 tiers run "without a
  deterministic IP address" (learn.microsoft.com/azure/api-management/api-management-howto-ip-addresses).
- ``private``: the gateway sends its backend traffic into a virtual network (``azure_rules.VIRTUAL_NETWORK``:
  injection on Developer/Premium, outbound integration on Standard v2); the function has public network access
  disabled and is reached through a private endpoint in that network, whose name the private DNS zone linked to the
  network resolves (learn.microsoft.com/azure/private-link/private-endpoint-dns: group ``sites``, zone
  ``privatelink.azurewebsites.net``).

:func:`virtual_network` builds the gateway's side of ``private`` (network, subnets, NSG, DNS zones);
:func:`private_endpoint` the backend's side. Facts and sources: docs/research/network-last-mile.md.
"""

import ipaddress
from enum import Enum
from typing import Any, Mapping, Optional, Sequence, TypedDict

import pulumi

from . import arguments, claims
from .azure_rules import DEDICATED_OUTBOUND_IPS, MAX_ACCESS_RULES, VIRTUAL_NETWORK
from .errors import LastMileError

try:  # Python 3.11+
    from typing import NotRequired, Required
except ImportError:  # pragma: no cover
    from typing_extensions import NotRequired, Required


class NetworkMode(str, Enum):
    """How far a backend is reachable."""

    IDENTITY_ONLY = "identity-only"
    """Reachable from anywhere; only the gateway's identity gets past Easy Auth (every tier)."""
    GATEWAY_IP = "gateway-ip"
    """Reachable only from the gateway's own public IP addresses (Developer, Basic, Standard, Premium, Isolated)."""
    PRIVATE = "private"
    """No public access: reached through a private endpoint in the gateway's virtual network (Developer, Premium,
    StandardV2 with Gateway(virtual_network=...))."""


#: Weakest to strongest.
MODES = tuple(m.value for m in NetworkMode)

#: Private link group id -> the private DNS zone its endpoints' names resolve in
#: (learn.microsoft.com/azure/private-link/private-endpoint-dns, public cloud).
PRIVATE_DNS_ZONES: dict[str, str] = {
    "sites": "privatelink.azurewebsites.net",
    "blob": "privatelink.blob.core.windows.net",
    "dfs": "privatelink.dfs.core.windows.net",
}
#: Address space of the gateway's network: /26 or larger, so the gateway subnet (its first half) is at least /27,
#: what outbound integration needs (injection needs /29), and the private endpoint subnet (the next quarter) /28.
MAX_NETWORK_PREFIX = 26
#: Address ranges Azure accepts for a virtual network's private space (RFC 1918 and the shared 100.64.0.0/10).
PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
GATEWAY_SUBNET = "apim-gateway"
ENDPOINT_SUBNET = "private-endpoints"
FUNCTION_SUBNET = "function-apps"
#: The delegation Flex Consumption apps need on the subnet they integrate with
#: (learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations).
FLEX_DELEGATION = "Microsoft.App/environments"


class PrivateLinkRef(TypedDict):
    """Where a backend of the gateway puts its private endpoint: Gateway.ref carries it for a gateway with a
    virtual network."""

    subnet_id: pulumi.Input[str]
    """The resource id of the subnet for private endpoints in the gateway's virtual network."""
    location: pulumi.Input[str]
    """The region of that network (a private endpoint lives in its network's region)."""
    dns_zone_ids: pulumi.Input[dict[str, str]]
    """Private link group id (sites, blob, dfs) -> the id of the private DNS zone linked to that network."""
    endpoint_capacity: NotRequired[int]
    """How many private endpoints the subnet holds (its addresses less the 5 Azure keeps); Gateway.ref sets it, and
    the backends of one program are counted against it."""
    integration_subnet_id: NotRequired[pulumi.Input[str]]
    """The subnet (delegated to Microsoft.App/environments) that private Flex Consumption apps send their outbound
    traffic into, to reach their host storage through its private endpoint; Gateway.ref sets it."""


class VirtualNetworkArgs(TypedDict, total=False):
    """The gateway's virtual network: where its backend traffic goes for backends in network mode private."""

    address_prefix: Required[str]
    """A private IPv4 range of /26 or larger, e.g. 10.40.0.0/24: the first half is the gateway's subnet, the next
    quarter the subnet for the backends' private endpoints, the last quarter the subnet private function apps integrate
    with. It must not overlap networks you peer with it."""
    private_dns_zones: Sequence[str]
    """The private link group ids whose private DNS zones the network resolves: sites (function apps) and blob
    (their host storage) always, dfs (Data Lake)."""


def supported_modes(sku: Optional[str]) -> tuple[str, ...]:
    """The modes a gateway of tier ``sku`` can do, weakest first (unknown tier: identity only)."""
    out = [NetworkMode.IDENTITY_ONLY.value]
    if sku in DEDICATED_OUTBOUND_IPS:
        out.append(NetworkMode.GATEWAY_IP.value)
    if sku in VIRTUAL_NETWORK:
        out.append(NetworkMode.PRIVATE.value)
    return tuple(out)


def _tiers_with(mode: str) -> str:
    tiers = sorted(DEDICATED_OUTBOUND_IPS) if mode == NetworkMode.GATEWAY_IP.value else sorted(VIRTUAL_NETWORK)
    return ", ".join(tiers)


_NO_NETWORK = "cannot send its backend traffic into a virtual network"


def _why_not(mode: str) -> str:
    return "has no public IP address of its own to allow" if mode == NetworkMode.GATEWAY_IP.value else _NO_NETWORK


def check_network_tier(key: str, value: Any, sku: Optional[str]) -> None:
    """A gateway network (or a ref's private_link) only on a tier that has one (``azure_rules.VIRTUAL_NETWORK``)."""
    if sku is not None and sku not in VIRTUAL_NETWORK:
        raise LastMileError(key, value, f"the {sku} tier {_NO_NETWORK}; that needs one of {_tiers_with(NetworkMode.PRIVATE.value)}")


def _unavailable(mode: str, gateway: Mapping, adopted: bool, refused: Mapping[str, str]) -> Optional[str]:
    """Why ``mode`` (which the tier supports) cannot be built here, or None."""
    if mode in refused:
        return refused[mode]
    if mode == NetworkMode.IDENTITY_ONLY.value:
        return None
    if adopted:
        return f"{mode} changes the network access of an app this component creates, not of an adopted one"
    if mode == NetworkMode.GATEWAY_IP.value and gateway.get("outbound_ips") is None:
        return "the gateway ref carries no outbound_ips (Gateway.ref does; add them to a hand-built ref)"
    if mode == NetworkMode.PRIVATE.value and gateway.get("private_link") is None:
        return ("the gateway has no virtual network: give it one (Gateway(virtual_network={'address_prefix': ...}), "
                "stack config gateway.virtualNetwork.addressPrefix), or add private_link to a hand-built ref")
    return None


def choose_mode(requested: Any, gateway: Mapping, adopted_app: bool, key: str = "network",
                refused: Optional[Mapping[str, str]] = None) -> str:
    """The mode to build: ``requested``, checked against the gateway's tier and what its ref carries, or else the
    strongest one available. ``refused``: modes this kind of backend cannot do, with the reason."""
    refused = refused or {}
    sku = arguments.plain(gateway.get("sku"))
    supported = supported_modes(sku)
    if requested is None:
        return [m for m in supported if _unavailable(m, gateway, adopted_app, refused) is None][-1]
    requested = arguments.plain(requested)
    if requested not in MODES:
        raise LastMileError(key, requested, f"expected one of {', '.join(MODES)}")
    if requested not in supported:
        tier = f"the {sku} tier" if sku else "a gateway whose ref does not say its sku"
        raise LastMileError(key, requested, f"{tier} {_why_not(requested)} (it supports {', '.join(supported)}); "
                                            f"{requested} needs one of {_tiers_with(requested)}")
    reason = _unavailable(requested, gateway, adopted_app, refused)
    if reason:
        raise LastMileError(key, requested, reason)
    return requested


def check_ranges(ranges: Any, key: str = "deployment_ip_ranges") -> list[str]:
    """IPv4/IPv6 ranges in CIDR form without host bits (as everywhere in this library: a range is what it says), at
    most App Service's rule limit, and together not open to every address (the union is judged, not each range)."""
    if ranges is None:
        return []
    if isinstance(ranges, (str, bytes)) or not isinstance(ranges, Sequence):
        raise LastMileError(key, ranges, "expected a list of CIDR ranges such as 203.0.113.0/28")
    if len(ranges) > MAX_ACCESS_RULES:
        raise LastMileError(key, f"{len(ranges)} ranges", f"App Service takes at most {MAX_ACCESS_RULES} access restriction rules")
    out: list[Any] = []
    for index, value in enumerate(ranges):
        try:
            net = ipaddress.ip_network(value, strict=False) if isinstance(value, str) else None
        except ValueError:
            net = None
        if net is None:
            raise LastMileError(f"{key}[{index}]", value, "expected a CIDR range such as 203.0.113.0/28")
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise LastMileError(f"{key}[{index}]", value, f"host bits are set: write {str(net)!r} (the range it means) or a "
                                                          "single address") from None
        if net.prefixlen == 0:
            raise LastMileError(f"{key}[{index}]", value, "a range open to every address restricts nothing")
        out.append(net)
    for version in (4, 6):
        union = list(ipaddress.collapse_addresses(n for n in out if n.version == version))
        if any(n.prefixlen == 0 for n in union):
            raise LastMileError(key, [str(n) for n in out if n.version == version],
                                "together these ranges are open to every address, which restricts nothing")
    return [str(n) for n in out]


def _restrictions(ips: Sequence[str], name: str) -> list[dict]:
    return [{"ip_address": ip if "/" in ip else (f"{ip}/128" if ":" in ip else f"{ip}/32"), "action": "Allow",
             "priority": 100 + index, "name": f"{name}-{index}"[:32]} for index, ip in enumerate(ips)]


#: ``site_config`` of a private app: both sites deny every public address (public access is off besides).
DENY_ALL = {"ip_security_restrictions_default_action": "Deny", "scm_ip_security_restrictions_use_main": False,
            "scm_ip_security_restrictions_default_action": "Deny"}


def access_restrictions(outbound_ips: pulumi.Input[Sequence[str]], deployment_ranges: Sequence[str]) -> dict:
    """``site_config`` entries that admit only the gateway's addresses, and on the SCM site only the deployers'."""

    def gateway_only(ips: Optional[Sequence[str]]) -> list[dict]:
        if not ips:
            raise LastMileError("network", "gateway-ip", "the gateway reports no public IP address, so nothing could reach the function: "
                                                         "use network identity-only")
        return _restrictions(ips, "apim-gateway")

    return {
        "ip_security_restrictions": pulumi.Output.from_input(outbound_ips).apply(gateway_only),
        "ip_security_restrictions_default_action": "Deny",
        "scm_ip_security_restrictions_use_main": False,
        "scm_ip_security_restrictions": _restrictions(deployment_ranges, "deployer"),
        "scm_ip_security_restrictions_default_action": "Deny",
    }


# --- private: the gateway's network -------------------------------------------------------------------------

def check_virtual_network(value: Any, sku: str, key: str = "virtual_network") -> Optional[dict]:
    """Validate :class:`VirtualNetworkArgs` for a gateway of tier ``sku``; returns the checked values with the
    subnets carved out of the address space."""
    if value is None:
        return None
    check_network_tier(key, value, sku)
    if not isinstance(value, dict):
        raise LastMileError(key, value, "expected {'address_prefix': '10.40.0.0/24'}")
    arguments.check_known_keys(value, VirtualNetworkArgs, f"{key}.")
    prefix = value.get("address_prefix")
    try:
        space = ipaddress.ip_network(prefix) if isinstance(prefix, str) else None
    except ValueError:
        space = None
    if not isinstance(space, ipaddress.IPv4Network):
        raise LastMileError(f"{key}.address_prefix", prefix, "expected an IPv4 range in CIDR form with no host bits, such as 10.40.0.0/24")
    if not any(space.subnet_of(r) for r in PRIVATE_RANGES):
        raise LastMileError(f"{key}.address_prefix", prefix, "expected a private range (inside 10.0.0.0/8, 172.16.0.0/12, "
                                                             "192.168.0.0/16 or 100.64.0.0/10)")
    if space.prefixlen > MAX_NETWORK_PREFIX:
        raise LastMileError(f"{key}.address_prefix", prefix, f"expected /{MAX_NETWORK_PREFIX} or larger: the gateway's subnet is "
                                                             "half of it and outbound integration needs at least /27")
    zones = value.get("private_dns_zones", ["sites"])
    if isinstance(zones, (str, bytes)) or not isinstance(zones, Sequence):
        raise LastMileError(f"{key}.private_dns_zones", zones, f"expected a list of {', '.join(PRIVATE_DNS_ZONES)}")
    for index, zone in enumerate(zones):
        if zone not in PRIVATE_DNS_ZONES:
            raise LastMileError(f"{key}.private_dns_zones[{index}]", zone, f"expected one of {', '.join(PRIVATE_DNS_ZONES)}")
    gateway_subnet, rest = space.subnets(prefixlen_diff=1)
    endpoint_subnet, function_subnet = rest.subnets(prefixlen_diff=1)
    return {"address_prefix": str(space), "gateway_subnet": str(gateway_subnet), "endpoint_subnet": str(endpoint_subnet),
            "function_subnet": str(function_subnet), "model": VIRTUAL_NETWORK[sku], "zones": sorted({"sites", "blob", *zones})}


def _rule(name: str, priority: int, direction: str, source: str, destination: str, ports: Sequence[str], description: str) -> dict:
    rule = {"name": name, "priority": priority, "direction": direction, "access": "Allow", "protocol": "Tcp",
            "source_address_prefix": source, "source_port_range": "*", "destination_address_prefix": destination,
            "description": description}
    if len(ports) == 1:
        rule["destination_port_range"] = ports[0]
    else:
        rule["destination_port_ranges"] = list(ports)
    return rule


def security_rules(model: str) -> list[dict]:
    """The NSG rules the gateway's subnet needs.

    injection (external mode): learn.microsoft.com/azure/api-management/virtual-network-reference and
    api-management-using-with-vnet (stv2): inbound client traffic 443 and the management endpoint 3443 from the
    ApiManagement tag, the infrastructure load balancer 6390; outbound Internet 80 (certificate validation), Storage
    443, Sql 1433, AzureKeyVault 443, AzureMonitor 1886/443.
    integration: learn.microsoft.com/azure/api-management/integrate-vnet-outbound: outbound Storage 443 and
    AzureKeyVault 443 (versions of that page have asked for either; inbound rules do not apply there).
    """
    out = [
        _rule("storage-out", 100, "Outbound", "VirtualNetwork", "Storage", ["443"], "APIM dependency on Azure Storage"),
        _rule("key-vault-out", 110, "Outbound", "VirtualNetwork", "AzureKeyVault", ["443"], "APIM reads Key Vault named values"),
    ]
    if model == "injection":
        out += [
            _rule("sql-out", 120, "Outbound", "VirtualNetwork", "Sql", ["1433"], "APIM configuration store"),
            _rule("monitor-out", 130, "Outbound", "VirtualNetwork", "AzureMonitor", ["1886", "443"], "APIM diagnostics and metrics"),
            _rule("certificates-out", 140, "Outbound", "VirtualNetwork", "Internet", ["80"], "Certificate validation and management"),
            _rule("clients-in", 100, "Inbound", "Internet", "VirtualNetwork", ["443"], "Client traffic to the gateway (external mode)"),
            _rule("management-in", 110, "Inbound", "ApiManagement", "VirtualNetwork", ["3443"], "APIM management endpoint"),
            _rule("load-balancer-in", 120, "Inbound", "AzureLoadBalancer", "VirtualNetwork", ["6390"], "Azure infrastructure load balancer"),
        ]
    return out


def virtual_network(name: str, parent: pulumi.Resource, rg: pulumi.Input[str], location: Optional[pulumi.Input[str]],
                    v: dict, opts: pulumi.ResourceOptions) -> tuple[pulumi.Output[str], PrivateLinkRef]:
    """The gateway's network: a virtual network, the gateway's subnet (delegated to Microsoft.Web/serverFarms for
    outbound integration, none for injection) with its NSG, a subnet for private endpoints, a subnet for private
    function apps' outbound traffic, each with an NSG, and the private DNS zones linked to the network. Returns the gateway subnet's id and the :class:`PrivateLinkRef` for the backends."""
    # Imported here: the SDK's network module is large, and most gateways have no network.
    from pulumi_azure_native import network, privatedns

    child = pulumi.ResourceOptions(parent=parent)
    nsg = network.NetworkSecurityGroup(
        f"{name}-nsg", network_security_group_name=f"nsg-apim-{name}", resource_group_name=rg, location=location,
        security_rules=security_rules(v["model"]), opts=child)
    # No inline subnets: they are resources of their own below. Since network API 2023-11-01 a PUT of the network
    # without `subnets` keeps the existing ones (Azure networking blog, "Azure Virtual Network now supports updates
    # without subnet property", 2024; pulumi/pulumi-azure-native#611), so an update of the network never deletes them.
    vnet = network.VirtualNetwork(
        f"{name}-vnet", virtual_network_name=f"vnet-apim-{name}", resource_group_name=rg, location=location,
        address_space={"address_prefixes": [v["address_prefix"]]}, opts=opts)
    gateway_subnet = network.Subnet(
        f"{name}-gateway-subnet", subnet_name=GATEWAY_SUBNET, virtual_network_name=vnet.name, resource_group_name=rg,
        address_prefix=v["gateway_subnet"], network_security_group={"id": nsg.id},
        delegations=[{"name": "apim-outbound", "service_name": "Microsoft.Web/serverFarms"}] if v["model"] == "integration" else None,
        opts=child)
    # Every subnet has an NSG: landing zones deny a subnet without one (ALZ Deny-Subnet-Without-Nsg, on by default;
    # docs/research/landing-zone.md). Only Azure's default rules: with private endpoint network policies disabled, NSG
    # rules do not apply to the endpoints' traffic (learn.microsoft.com/azure/private-link/disable-private-endpoint-
    # network-policy), and a deployer in a peered network must still reach a private app's SCM endpoint.
    endpoint_nsg = network.NetworkSecurityGroup(
        f"{name}-endpoint-nsg", network_security_group_name=f"nsg-endpoints-{name}", resource_group_name=rg, location=location,
        opts=child)
    # One subnet operation at a time: Azure refuses a second change to a network while one runs (AnotherOperationInProgress).
    endpoint_subnet = network.Subnet(
        f"{name}-endpoint-subnet", subnet_name=ENDPOINT_SUBNET, virtual_network_name=vnet.name, resource_group_name=rg,
        address_prefix=v["endpoint_subnet"], private_endpoint_network_policies="Disabled",
        network_security_group={"id": endpoint_nsg.id},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[gateway_subnet]))
    # Private Flex Consumption apps integrate here: their host reaches its storage through the storage's private
    # endpoint. An NSG with Azure's default rules (they allow traffic within the network).
    function_nsg = network.NetworkSecurityGroup(
        f"{name}-function-nsg", network_security_group_name=f"nsg-functions-{name}", resource_group_name=rg, location=location,
        opts=child)
    function_subnet = network.Subnet(
        f"{name}-function-subnet", subnet_name=FUNCTION_SUBNET, virtual_network_name=vnet.name, resource_group_name=rg,
        address_prefix=v["function_subnet"], network_security_group={"id": function_nsg.id},
        delegations=[{"name": "flex-consumption", "service_name": FLEX_DELEGATION}],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[endpoint_subnet]))
    zones: dict[str, pulumi.Output[str]] = {}
    for group in v["zones"]:
        zone_name = PRIVATE_DNS_ZONES[group]
        zone = privatedns.PrivateZone(f"{name}-{group}-zone", private_zone_name=zone_name, resource_group_name=rg,
                                      location="Global", opts=child)
        link = privatedns.VirtualNetworkLink(
            f"{name}-{group}-zone-link", virtual_network_link_name=f"vnet-apim-{name}", private_zone_name=zone.name,
            resource_group_name=rg, location="Global", registration_enabled=False, virtual_network={"id": vnet.id}, opts=child)
        # A zone is of use to the gateway only once its network resolves it.
        zones[group] = pulumi.Output.all(zone.id, link.id).apply(lambda ids: ids[0])
    ref: PrivateLinkRef = {"subnet_id": endpoint_subnet.id, "location": vnet.location,
                           "dns_zone_ids": pulumi.Output.all(**zones),
                           "endpoint_capacity": subnet_capacity(v["endpoint_subnet"]),
                           "integration_subnet_id": function_subnet.id}
    return gateway_subnet.id, ref


# --- private: a backend's endpoint --------------------------------------------------------------------------

#: Azure keeps five addresses of every subnet (learn.microsoft.com/azure/virtual-network/virtual-networks-faq:
#: "Azure reserves the first four addresses and the last address in each subnet").
RESERVED_ADDRESSES = 5


def subnet_capacity(prefix: str) -> int:
    """Private endpoints (one address each) a subnet of ``prefix`` can hold."""
    return ipaddress.ip_network(prefix).num_addresses - RESERVED_ADDRESSES


def count_endpoints(gateway: Mapping, owner: str, count: int, key: str = "network") -> None:
    """Count ``owner``'s private endpoints in the gateway's endpoint subnet within this program run, and refuse more
    than the subnet holds (known when the ref says ``endpoint_capacity``, as Gateway.ref does)."""
    link = gateway.get("private_link") or {}
    total = claims.CLAIMS.tally(("private endpoints", claims.gateway_key(gateway["service_name"])), owner, count)
    capacity = link.get("endpoint_capacity") if isinstance(link, Mapping) else None
    if isinstance(capacity, int) and total > capacity:
        raise LastMileError(key, "private", f"the gateway's endpoint subnet holds {capacity} private endpoints and this program "
                                            f"needs {total}: give the gateway a larger virtual_network.address_prefix")


def private_endpoint(name: str, parent: Optional[pulumi.Resource], rg: pulumi.Input[str], target_id: pulumi.Input[str], group: str,
                     private_link: Mapping) -> pulumi.CustomResource:
    """A private endpoint for ``target_id``'s ``group`` (sites, blob, dfs) in the gateway's endpoint subnet, with its
    name registered in the gateway network's private DNS zone. Returns the zone group: once it exists, the gateway
    resolves the backend's host to the endpoint."""
    from pulumi_azure_native import network

    child = pulumi.ResourceOptions(parent=parent)
    zone_ids = pulumi.Output.from_input(private_link["dns_zone_ids"])

    no_network = "(a gateway stack that exports no privateLink has no virtual network: use another network mode)"

    def subnet(subnet_id: Optional[str]) -> str:
        if not subnet_id:
            raise LastMileError("network", "private", f"the gateway ref's private_link has no subnet_id {no_network}")
        return subnet_id

    def zone_for(ids: Optional[Mapping[str, str]]) -> str:
        if ids is None:
            raise LastMileError("network", "private", f"the gateway ref's private_link has no dns_zone_ids {no_network}")
        if not ids.get(group):
            raise LastMileError("network", "private", f"the gateway's network has no private DNS zone for {group} "
                                                      f"({PRIVATE_DNS_ZONES[group]}): add {group!r} to its virtual_network.private_dns_zones")
        return ids[group]

    endpoint = network.PrivateEndpoint(
        f"{name}-{group}-endpoint", private_endpoint_name=f"pe-{name}-{group}", resource_group_name=rg,
        location=private_link.get("location"), subnet={"id": pulumi.Output.from_input(private_link["subnet_id"]).apply(subnet)},
        private_link_service_connections=[{"name": f"{name}-{group}", "private_link_service_id": target_id, "group_ids": [group]}],
        opts=child)
    return network.PrivateDnsZoneGroup(
        f"{name}-{group}-endpoint-dns", private_dns_zone_group_name="default", private_endpoint_name=endpoint.name, resource_group_name=rg,
        private_dns_zone_configs=[{"name": PRIVATE_DNS_ZONES[group].replace(".", "-"), "private_dns_zone_id": zone_ids.apply(zone_for)}],
        opts=child)
