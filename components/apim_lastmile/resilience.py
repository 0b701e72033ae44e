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


def backend_entity(name: str, parent: Any, gateway: Any, url: Any, description: str, resource_id: Any = None,
                   depends_on: Optional[list] = None):
    """The APIM backend entity ``name`` (its id; the API of the same name routes to it with ``set-backend-service
    backend-id``): ``url`` over HTTPS with the certificate chain and name validated, and the circuit breaker where the
    tier has one. API ids are unique per gateway (``api.check_api_path``), so backend ids are too."""
    import pulumi
    from pulumi_azure_native import apimanagement

    args: dict[str, Any] = {}
    if resource_id is not None:
        args["resource_id"] = resource_id
    return apimanagement.Backend(
        f"{name}-backend",
        backend_id=name,
        service_name=gateway["service_name"],
        resource_group_name=gateway["resource_group_name"],
        protocol=apimanagement.BackendProtocol.HTTP,
        url=url,
        description=description,
        tls={"validate_certificate_chain": True, "validate_certificate_name": True},
        circuit_breaker=circuit_breaker(gateway),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
        **args,
    )


#: The methods a retry may repeat: RFC 9110 idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE); a POST or PATCH
#: that reached the backend may have had its effect.
IDEMPOTENT_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
#: Transient answers worth one more try: 502, 503, 504 (a 429 waits for its Retry-After through the circuit breaker).
TRANSIENT_STATUS = (502, 503, 504)


def idempotent_retry():
    """The backend section of every API we publish: forward the request (its body buffered, so a retry can send it
    again) and, for an idempotent method only, retry twice on a transient answer (exponential backoff from 1 s, at
    most 4 s)."""
    from . import policy

    methods = " || ".join(f'context.Request.Method == "{m}"' for m in IDEMPOTENT_METHODS)
    statuses = " || ".join(f"context.Response.StatusCode == {s}" for s in TRANSIENT_STATUS)
    return policy.retry(condition=policy.expr(f"({methods}) && context.Response != null && ({statuses})"),
                        body=[policy.forward_request(buffer_request_body=True)], count=2, interval=1, delta=1, max_interval=4)
