"""The network last mile of a function backend: who can even reach the function, beside who may call it.

Identity already makes the function answer 401 to all but the gateway's identity. Where the gateway's tier gives it
public IP addresses of its own (azure_rules.DEDICATED_OUTBOUND_IPS), the function can also refuse every other
address: its access restrictions allow only those, with a default action of deny, and its SCM (deployment) site
allows only the addresses you deploy from. On Consumption and the v2 tiers the gateway has no address of its own
(learn.microsoft.com/azure/api-management/api-management-howto-ip-addresses), so identity is the only layer there;
a virtual-network mode for the tiers that have one is not built yet (see docs/research/network-last-mile.md).
"""

from __future__ import annotations

import ipaddress
from enum import Enum
from typing import Any, Optional, Sequence

import pulumi

from . import naming
from .azure_rules import DEDICATED_OUTBOUND_IPS
from .errors import LastMileError


class NetworkMode(str, Enum):
    """How far the function is reachable."""

    IDENTITY_ONLY = "identity-only"
    """Reachable from anywhere; only the gateway's identity gets past Easy Auth (every tier)."""
    GATEWAY_IP = "gateway-ip"
    """Reachable only from the gateway's own public IP addresses (tiers that have them)."""


MODES = tuple(m.value for m in NetworkMode)


def supported_modes(sku: Optional[str]) -> tuple[str, ...]:
    """The modes a gateway of tier ``sku`` can do (unknown tier: identity only)."""
    return MODES if sku in DEDICATED_OUTBOUND_IPS else (NetworkMode.IDENTITY_ONLY.value,)


def choose_mode(requested: Any, gateway: dict, adopted_app: bool, key: str = "network") -> str:
    """The mode to build: ``requested``, checked against the tier, or the strongest the tier supports."""
    sku = naming.plain(gateway.get("sku"))
    supported = supported_modes(sku)
    if requested is None:
        strongest = supported[-1]
        return NetworkMode.IDENTITY_ONLY.value if adopted_app or gateway.get("outbound_ips") is None else strongest
    requested = naming.plain(requested)
    if requested not in MODES:
        raise LastMileError(key, requested, f"expected one of {', '.join(MODES)}")
    if requested not in supported:
        tier = f"the {sku} tier" if sku else "a gateway whose ref does not say its sku"
        raise LastMileError(key, requested, f"{tier} has no public IP address of its own to allow (it supports "
                                            f"{', '.join(supported)}); gateway-ip needs Developer, Basic, Standard, Premium or Isolated")
    if requested == NetworkMode.GATEWAY_IP.value:
        if adopted_app:
            raise LastMileError(key, requested, "gateway-ip sets the access restrictions of a Function App this component creates, "
                                                "not of an adopted one")
        if gateway.get("outbound_ips") is None:
            raise LastMileError(key, requested, "the gateway ref carries no outbound_ips (Gateway.ref does; add them to a hand-built ref)")
    return requested


def check_ranges(ranges: Any, key: str = "deployment_ip_ranges") -> list[str]:
    """IPv4/IPv6 ranges in CIDR form, none of them open to everyone."""
    if ranges is None:
        return []
    if isinstance(ranges, (str, bytes)) or not isinstance(ranges, Sequence):
        raise LastMileError(key, ranges, "expected a list of CIDR ranges such as 203.0.113.0/28")
    out = []
    for index, value in enumerate(ranges):
        try:
            network = ipaddress.ip_network(value, strict=False) if isinstance(value, str) else None
        except ValueError:
            network = None
        if network is None:
            raise LastMileError(f"{key}[{index}]", value, "expected a CIDR range such as 203.0.113.0/28")
        if network.prefixlen == 0:
            raise LastMileError(f"{key}[{index}]", value, "a range open to every address restricts nothing")
        out.append(str(network))
    return out


def _restrictions(ips: Sequence[str], name: str) -> list[dict]:
    return [{"ip_address": ip if "/" in ip else (f"{ip}/128" if ":" in ip else f"{ip}/32"), "action": "Allow",
             "priority": 100 + index, "name": f"{name}-{index}"[:32]} for index, ip in enumerate(ips)]


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
