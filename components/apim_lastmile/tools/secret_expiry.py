"""When the Key Vault secrets behind a deployed stack expire, from its outputs (``pulumi stack output --json``).

Each secret version the environment program writes expires 90 days later (landing zones deny a secret without an
expiry, or with a longer one), and any ``pulumi up`` after 60 days writes a new version with a new expiry. A stack
nobody deploys for 90 days keeps an expired secret: Key Vault still serves it and APIM keeps using it ("exp" is
informational for a secret's get: learn.microsoft.com/azure/key-vault/secrets/about-secrets), but the landing zone's
Key Vault guardrails audit it, and the next version is judged afresh. ``lastmile plan --outputs`` warns ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..errors import LastMileError

#: How many days ahead of an expiry ``lastmile plan --outputs`` warns.
WARN_DAYS = 30


@dataclass(frozen=True)
class Expiry:
    backend: str
    expires: date
    days_left: int

    def __str__(self) -> str:
        when = (f"expired on {self.expires} ({-self.days_left} days ago)" if self.days_left < 0
                else f"expires on {self.expires} (in {self.days_left} days)")
        return (f"the Key Vault secret of secret backend {self.backend!r} {when}: run `pulumi up` for this stack, which "
                "writes a new version with a new expiry once 60 days have passed (Key Vault still serves an expired "
                "secret, but a landing zone's Key Vault guardrails flag it)")


def expiring(outputs: Any, today: date, warn_days: int = WARN_DAYS) -> list[Expiry]:
    """The secrets of ``outputs``' ``secret_backends`` that expire within ``warn_days`` of ``today`` (or have)."""
    backends = outputs.get("secret_backends") if isinstance(outputs, dict) else None
    if backends is None:
        return []
    if not isinstance(backends, dict):
        raise LastMileError("outputs.secret_backends", backends, "expected the object the environment program exports")
    found = []
    for name, backend in sorted(backends.items()):
        value = backend.get("secret_expires") if isinstance(backend, dict) else None
        if value is None:
            continue  # a stack deployed before the secret had an expiry
        try:
            expires = datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()
        except ValueError:
            raise LastMileError(f"outputs.secret_backends.{name}.secret_expires", value, "expected an ISO 8601 time") from None
        left = (expires - today).days
        if left <= warn_days:
            found.append(Expiry(name, expires, left))
    return found
