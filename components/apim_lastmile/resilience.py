"""What keeps the last mile up when a backend fails: the circuit breaker every backend entity we create carries.

APIM counts failures per gateway instance; once a rule trips it stops calling the backend for the trip duration and
answers 503 itself, honouring the backend's ``Retry-After`` (learn.microsoft.com/azure/api-management/backends,
"Circuit breaker"). One rule per backend (the only number APIM accepts), on the tiers that have it
(``azure_rules.CIRCUIT_BREAKER_TIERS``: not Consumption).
"""

from __future__ import annotations

from typing import Any, Optional

from . import arguments
from .azure_rules import CIRCUIT_BREAKER_TIERS, MAX_POOL_MEMBERS, POOL_TIERS
from .errors import LastMileError

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
                   depends_on: Optional[list] = None, logical: Optional[str] = None):
    """The APIM backend entity ``name`` (its id; the API of the same name routes to it with ``set-backend-service
    backend-id``): ``url`` over HTTPS with the certificate chain and name validated, and the circuit breaker where the
    tier has one. API ids are unique per gateway (``api.check_api_path``), so backend ids are too."""
    import pulumi
    from pulumi_azure_native import apimanagement

    args: dict[str, Any] = {}
    if resource_id is not None:
        args["resource_id"] = resource_id
    return apimanagement.Backend(
        logical or f"{name}-backend",
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


def check_pool(pool: Any, gateway: Any, key: str = "pool", target: str = "url") -> list[dict[str, Any]]:
    """The further members of a load-balanced pool: ``[{target: ..., "priority": 1-100, "weight": 1-100}, ...]`` (the
    first member is the component's own; ``target`` is what names a member: an EntraBackend's ``url``, a function
    replica's ``location``), on a tier that takes pools, 30 members at most."""
    if pool is None:
        return []
    shape = f"{{'{target}': ..., 'priority': 1, 'weight': 1}}"
    if isinstance(pool, (str, bytes, dict)) or not hasattr(pool, "__iter__"):
        raise LastMileError(key, pool, f"expected a list of {shape}")
    members = list(pool)
    sku = arguments.plain(gateway.get("sku")) if isinstance(gateway, dict) else None
    if members and sku is not None and sku not in POOL_TIERS:
        raise LastMileError(key, f"{len(members)} members", f"the {sku} tier takes no load-balanced backend pool (tiers that "
                                                             f"do: {', '.join(sorted(POOL_TIERS))})")
    if not 1 <= len(members) + 1 <= MAX_POOL_MEMBERS:
        raise LastMileError(key, f"{len(members)} members", f"a pool holds 2 to {MAX_POOL_MEMBERS} backends (this URL and the pool's)")
    checked = []
    for index, member in enumerate(members):
        where = f"{key}[{index}]"
        if not isinstance(member, dict):
            raise LastMileError(where, member, f"expected {shape}")
        unknown = set(member) - {target, "priority", "weight"}
        if unknown:
            raise LastMileError(f"{where}.{sorted(unknown)[0]}", member[sorted(unknown)[0]], f"unknown key: expected {target}, priority, weight")
        for field in ("priority", "weight"):
            value = member.get(field, 1)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                raise LastMileError(f"{where}.{field}", value, "expected a whole number from 1 to 100 (priority 1 is tried first)")
        checked.append({target: member.get(target), "priority": member.get("priority", 1), "weight": member.get("weight", 1)})
        if checked[-1]["priority"] != 1 and sku is None:
            raise LastMileError(f"{where}.priority", checked[-1]["priority"],
                                "a lower priority is used only while every member of a higher one has tripped its circuit "
                                "breaker, which not every tier has: say the gateway's tier (sku) in its ref, or share by weight")
        if checked[-1]["priority"] != 1 and sku not in CIRCUIT_BREAKER_TIERS:
            raise LastMileError(f"{where}.priority", checked[-1]["priority"],
                                f"the {sku} tier has no circuit breakers, and APIM sends to a lower priority only while every "
                                "member of a higher one is tripped: give every member priority 1 and share by weight")
    return checked


def claim_member_ids(name: str, gateway: Any, members: int, key: str = "pool") -> None:
    """A pool's member backend ids (``<name>-1``, ``<name>-2``...) share the gateway's id space with the APIs (and
    their backends): claimed, so no other API takes one."""
    from . import claims

    for number in range(1, members + 1):
        claims.CLAIMS.claim(("api id", claims.gateway_key(gateway["service_name"])), f"{name}-{number}", name, key, what="API id")


def backend_pool(name: str, parent: Any, gateway: Any, members: list[tuple[Any, int, int]], description: str):
    """A load-balanced pool ``name`` over ``members`` ((backend entity, priority, weight)): APIM picks a member by
    priority, then weight, and skips one whose circuit breaker has tripped (learn.microsoft.com/azure/api-management/
    backends). A pool takes no URL or protocol of its own (Azure refuses them: Azure/bicep#14097)."""
    import pulumi
    from pulumi_azure_native import apimanagement

    # The logical name of the single backend it replaces (``backend_entity``'s): adding members to a backend, or taking
    # them away, updates the one entity APIM knows as ``name`` in place; two resources for one APIM id would have the
    # new one created while the old one still exists, and deleting the old one would delete the pool.
    return apimanagement.Backend(
        f"{name}-backend",
        backend_id=name,
        service_name=gateway["service_name"],
        resource_group_name=gateway["resource_group_name"],
        type=apimanagement.BackendType.POOL,
        pool={"services": [{"id": member.id, "priority": priority, "weight": weight} for member, priority, weight in members]},
        description=description,
        opts=pulumi.ResourceOptions(parent=parent, aliases=[pulumi.Alias(name=f"{name}-pool")]),  # its name until 2026-12
    )
