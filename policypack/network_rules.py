"""Network rules: who can reach the apps behind the stack's backends (access restrictions, private endpoints, the
gateway's tier and network).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional, Sequence

from pulumi_policy import ResourceValidationArgs

from pack_base import dig, is_type

#: APIM tiers whose gateway has public addresses of its own, so a backend app can admit only them
#: (learn.microsoft.com/azure/api-management/api-management-howto-ip-addresses; Isolated per the REST spec).
_DEDICATED_IP_TIERS = {"developer", "basic", "standard", "premium", "isolated"}
#: APIM tiers that send backend traffic into a virtual network: injection (Developer, Premium) or outbound
#: integration (StandardV2, PremiumV2), both declared as virtualNetworkType External/Internal plus
#: virtualNetworkConfiguration.subnetResourceId (learn.microsoft.com/azure/api-management/virtual-network-concepts).
_VIRTUAL_NETWORK_TIERS = {"developer", "premium", "standardv2", "premiumv2"}
#: The private DNS zone a ``sites`` private endpoint's name resolves in (public cloud;
#: learn.microsoft.com/azure/private-link/private-endpoint-dns).
_SITES_ZONE = "privatelink.azurewebsites.net"


class _Unknown:
    """A value not known during preview (see :func:`_peek`)."""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<unknown>"


_UNKNOWN = _Unknown()


def _peek(props: Any, *path: str) -> Any:
    """:func:`dig`, but a value unknown during preview is ``_UNKNOWN`` instead of an error: for facts a rule can do
    without (an app's id, its host names) or must read as "maybe" (a subnet created in the same update)."""
    from pulumi_policy.proxy import UnknownValueError

    try:
        return dig(props, *path)
    except UnknownValueError:
        return _UNKNOWN


def _fold(value: Any) -> Optional[str]:
    """A string value case-folded as ARM compares names and enum values; None for anything else."""
    return value.casefold() if isinstance(value, str) else None


def _arm_id(text: Any) -> Optional[tuple[str, str, str, tuple[tuple[str, str], ...]]]:
    """A resource id (also the ``https://management.azure.com/...`` form APIM backends use) as
    (subscription, resource group, provider namespace, ((type, name), ...)), case-folded; None if it is not one."""
    from urllib.parse import urlsplit

    if not isinstance(text, str):
        return None
    text = text.strip()
    if re.match(r"https?://", text, re.IGNORECASE):
        text = urlsplit(text).path
    parts = text.split("/")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if len(parts) < 9 or parts[0] != "" or (len(parts) - 7) % 2 or "" in parts[1:]:
        return None
    parts = [p.casefold() for p in parts]
    if parts[1] != "subscriptions" or parts[3] != "resourcegroups" or parts[5] != "providers":
        return None
    rest = parts[7:]
    return parts[2], parts[4], parts[6], tuple(zip(rest[::2], rest[1::2]))


def _host(url: Any) -> Optional[str]:
    """The host a backend URL sends to, as DNS compares it (case-folded, no port, user info or final dot)."""
    from urllib.parse import unquote, urlsplit

    if not isinstance(url, str):
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return unquote(host).casefold().rstrip(".") if host else None


class _App:
    """A web/function app of the stack as the network rules see it: its site name, resource group, id (when known)
    and the host names it answers on."""

    def __init__(self, res: Any):
        from pulumi_policy.proxy import UnknownValueError

        self.res = res
        name = dig(res.props, "name")
        self.name = (name if isinstance(name, str) and name else res.name).casefold()
        self.group = _fold(_peek(res.props, "resourceGroupName"))
        self.id = _arm_id(_peek(res.props, "id"))
        hosts = {f"{self.name}.azurewebsites.net", f"{self.name}.privatelink.azurewebsites.net"}
        for field in ("defaultHostName", "hostNames", "enabledHostNames"):  # outputs, once deployed
            value = _peek(res.props, field)
            values = [value] if isinstance(value, str) else value if isinstance(value, Sequence) else []
            for i in range(len(values)):
                try:
                    host = values[i]
                except UnknownValueError:
                    continue
                if isinstance(host, str) and host.strip():
                    hosts.add(host.strip().casefold().rstrip("."))
        self.hosts = hosts

    def is_site(self, resource_id: Any) -> bool:
        """Whether ``resource_id`` names this app (by id where the app's is known, else by name and group)."""
        parsed = _arm_id(resource_id)
        if parsed is None:
            return False
        if self.id is not None:
            return parsed == self.id
        _, group, namespace, pairs = parsed
        return namespace == "microsoft.web" and pairs == (("sites", self.name),) and self.group in (None, group)

    def behind(self, backend: Any) -> bool:
        """Whether an APIM backend sends to this app (its URL's host, or the site its resourceId names)."""
        if _host(dig(backend.props, "url")) in self.hosts:
            return True
        parsed = _arm_id(dig(backend.props, "resourceId"))
        return bool(parsed) and parsed[2] == "microsoft.web" and parsed[3][:1] == (("sites", self.name),)

    def public_access(self) -> tuple[bool, bool]:
        """(surely private, maybe private): public network access disabled (``publicNetworkAccess``, compared as ARM
        compares enum values) and ``siteConfig.publicNetworkAccess`` not saying otherwise; maybe private when
        either says disabled (an app that may refuse public traffic needs its private endpoint)."""
        site = _fold(dig(self.res.props, "publicNetworkAccess"))
        config = dig(self.res.props, "siteConfig", "publicNetworkAccess")
        config = "" if config is None else _fold(config)  # a non-string siteConfig value counts as enabled (None)
        surely = site == "disabled" and config in ("", "disabled")
        maybe = "disabled" in ((site or "").strip(), (config or "").strip())
        return surely, surely or maybe

    def restricted(self) -> bool:
        """Access restrictions deny by default and allow some addresses, none of them every address."""
        config = dig(self.res.props, "siteConfig") or {}
        entries = dig(config, "ipSecurityRestrictions") or []
        if _fold(dig(config, "ipSecurityRestrictionsDefaultAction")) != "deny" or not entries:
            return False
        return not any(str(dig(e, "action") or "Allow").lower() == "allow"
                       and str(dig(e, "ipAddress") or "").strip().lower() in _OPEN_RANGES for e in entries)


class _Gateways:
    """The stack's APIM services and backends, and which services an app's backends belong to."""

    def __init__(self, resources: list[Any]):
        self.services = [r for r in resources if is_type(r.resource_type, "apimanagement", "ApiManagementService")]
        self.backends = [r for r in resources if is_type(r.resource_type, "apimanagement", "Backend", "WorkspaceBackend")]

    def of(self, app: _App) -> Optional[list[Any]]:
        """The services whose backends send to ``app`` (every service of the stack where a backend's service is not
        known or not in the stack); None if no backend of the stack sends to it."""
        behind = [b for b in self.backends if app.behind(b)]
        if not behind:
            return None
        names = {_fold(_peek(b.props, "serviceName")) for b in behind}
        own = [s for s in self.services if _fold(_peek(s.props, "serviceName")) in names]
        return own if own and None not in names else self.services

    @staticmethod
    def tier(service: Any) -> str:
        return str(dig(service.props, "sku", "name") or "").casefold()

    @classmethod
    def has_network(cls, service: Any) -> bool:
        """The service sends backend traffic into a virtual network (a subnet not yet known counts)."""
        kind = _fold(dig(service.props, "virtualNetworkType"))
        subnet = _peek(service.props, "virtualNetworkConfiguration", "subnetResourceId")
        return cls.tier(service) in _VIRTUAL_NETWORK_TIERS and kind in ("external", "internal") and bool(subnet)


def _web_apps(resources: list[Any]) -> Iterable[_App]:
    return (_App(r) for r in resources if is_type(r.resource_type, "web", "WebApp"))


def _open_backend_apps(resources: Iterable[Any]) -> Iterable[tuple[str, Optional[str]]]:
    """(message, urn) for every web/function app behind an APIM backend of the stack that is reachable from more
    than the gateway although the gateway could do better (advisory): where the gateway sends backend traffic into a
    virtual network, an app whose public network access is not disabled; where the tier has public addresses of its
    own, an app that every address can reach (neither restricted to addresses nor private)."""
    resources = list(resources)
    gateways = _Gateways(resources)
    if not gateways.services:
        return
    for app in _web_apps(resources):
        services = gateways.of(app)
        if not services:
            continue
        private = app.public_access()[0]
        if any(gateways.has_network(s) for s in services):
            if not private:
                access = dig(app.res.props, "publicNetworkAccess")
                yield (f"{app.res.name}: this app behind API Management is publicly reachable (publicNetworkAccess="
                       f"{access if access is not None else 'unset, so Enabled'}), while the stack's gateway sends its "
                       "backend traffic into a virtual network: disable public access and reach it through a private "
                       "endpoint (network: private)", app.res.urn)
        elif {gateways.tier(s) for s in services} & _DEDICATED_IP_TIERS and not (private or app.restricted()):
            yield (f"{app.res.name}: every address can reach this app behind API Management, while the stack's gateway has "
                   "addresses of its own: allow only those (network: gateway-ip)", app.res.urn)


def _private_backend_endpoints(resources: Iterable[Any]) -> Iterable[tuple[str, Optional[str]]]:
    """(message, urn) for every web/function app behind an APIM backend of the stack whose public network access is
    disabled but which the gateway cannot resolve or reach (advisory): no private endpoint of the stack connects to it
    (group ``sites``) with a DNS zone group naming ``privatelink.azurewebsites.net``, or its gateway (in the stack)
    has no virtual network. A value this needs that is unknown during preview is left to the engine."""
    from pulumi_policy.proxy import UnknownValueError

    resources = list(resources)
    gateways = _Gateways(resources)
    endpoints = [r for r in resources if is_type(r.resource_type, "network", "PrivateEndpoint")]
    zone_groups = [r for r in resources if is_type(r.resource_type, "network", "PrivateDnsZoneGroup")]

    def resolves(endpoint: Any) -> bool:
        """A zone group of the stack on ``endpoint`` names the sites zone (raises if only an unknown value could)."""
        name = _fold(dig(endpoint.props, "privateEndpointName"))
        group = _fold(_peek(endpoint.props, "resourceGroupName"))
        unknown: Optional[UnknownValueError] = None
        for zone_group in zone_groups:
            try:
                zg_group = _fold(_peek(zone_group.props, "resourceGroupName"))
                if name is None or _fold(dig(zone_group.props, "privateEndpointName")) != name or \
                        (group and zg_group and group != zg_group):
                    continue
                for config in dig(zone_group.props, "privateDnsZoneConfigs") or []:
                    zone = _arm_id(dig(config, "privateDnsZoneId"))
                    if zone and zone[2] == "microsoft.network" and zone[3] == (("privatednszones", _SITES_ZONE),):
                        return True
            except UnknownValueError as err:
                unknown = unknown or err
        if unknown is not None:
            raise unknown
        return False

    for app in _web_apps(resources):
        services = gateways.of(app)
        if services is None or not app.public_access()[1]:
            continue
        if services and not any(gateways.has_network(s) for s in services):
            yield (f"{app.res.name}: public network access is disabled, but the stack's gateway ("
                   f"{', '.join(sorted({str(dig(s.props, 'sku', 'name')) for s in services}))}) sends no backend traffic "
                   "into a virtual network: it cannot reach this app (network: private needs the gateway's network)",
                   app.res.urn)
        unknown: Optional[UnknownValueError] = None
        connected = resolved = False
        for endpoint in endpoints:
            try:
                connections = [*(dig(endpoint.props, "privateLinkServiceConnections") or []),
                               *(dig(endpoint.props, "manualPrivateLinkServiceConnections") or [])]
                if not any(app.is_site(dig(c, "privateLinkServiceId"))
                           and "sites" in {_fold(g) for g in dig(c, "groupIds") or []} for c in connections):
                    continue
                connected = True
                if resolves(endpoint):
                    resolved = True
                    break
            except UnknownValueError as err:
                unknown = unknown or err
        if resolved:
            continue
        if unknown is not None:
            raise unknown  # the engine reports that the rule cannot run during preview
        if not connected:
            yield (f"{app.res.name}: public network access is disabled, but no private endpoint of the stack connects "
                   "to this app (privateLinkServiceConnections with groupIds [sites]): the gateway cannot reach it",
                   app.res.urn)
        else:
            yield (f"{app.res.name}: public network access is disabled, but its private endpoint has no DNS zone group "
                   f"naming the {_SITES_ZONE} private DNS zone: the gateway cannot resolve the app's name to it",
                   app.res.urn)


_OPEN_RANGES = {"any", "0.0.0.0/0", "::/0", "*", "internet"}


def _access_restrictions(args: ResourceValidationArgs) -> Iterable[str]:
    """An allow entry for every address restricts nothing, on the site or its SCM (deployment) site."""
    if not is_type(args.resource_type, "web", "WebApp", "WebAppSlot"):
        return
    config = dig(args.props, "siteConfig")
    for field in ("ipSecurityRestrictions", "scmIpSecurityRestrictions"):
        for entry in dig(config, field) or []:
            address = str(dig(entry, "ipAddress") or "").strip().lower()
            if str(dig(entry, "action") or "Allow").lower() == "allow" and address in _OPEN_RANGES:
                yield f"{args.name}: {field} allows every address ({dig(entry, 'ipAddress')}); allow the gateway's addresses only"
