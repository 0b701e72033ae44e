"""What keeps the last mile up when a backend fails: the circuit breaker every backend entity we create carries.

APIM counts failures per gateway instance; once a rule trips it stops calling the backend for the trip duration and
answers 503 itself, honouring the backend's ``Retry-After`` (learn.microsoft.com/azure/api-management/backends,
"Circuit breaker"). One rule per backend (the only number APIM accepts), on the tiers that have it
(``azure_rules.CIRCUIT_BREAKER_TIERS``: not Consumption).
"""

from __future__ import annotations

from typing import Any, Optional

from . import arguments
from .azure_rules import CIRCUIT_BREAKER_TIERS

#: Trip after 5 failures (server errors, or 429 Too Many Requests) within a minute; rest the backend for a minute, or
#: as long as its Retry-After says.
DEFAULT_BREAKER: dict[str, Any] = {
    "rules": [{
        "name": "lastmile-breaker",
        "failure_condition": {
            "count": 5,
            "interval": "PT1M",
            "status_code_ranges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}],
        },
        "trip_duration": "PT1M",
        "accept_retry_after": True,
    }]
}


def circuit_breaker(gateway: Any) -> Optional[dict[str, Any]]:
    """The breaker for a backend entity on ``gateway`` (a GatewayRef): the default on a tier that has breakers; None
    on Consumption, and when the ref does not say its tier (a hand-built ref without ``sku``)."""
    sku = arguments.plain(gateway.get("sku")) if isinstance(gateway, dict) else None
    return DEFAULT_BREAKER if sku in CIRCUIT_BREAKER_TIERS else None
