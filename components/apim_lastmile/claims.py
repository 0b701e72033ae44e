"""Program-wide uniqueness and counts: what one program run claims per gateway (API paths and ids, operations, named
values, private endpoints), per vault (secrets), per group (private DNS zones) and globally (APIM service names).

APIM and Azure reject (or silently share) a second claim, so it is refused before the second one registers anything.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .errors import LastMileError


class _Claims:
    """Names claimed within one program run, per scope: API paths and API ids per gateway, secrets per adopted vault,
    grants per identity. APIM and Azure reject (or silently share) a second claim, so it is refused before it registers."""

    def __init__(self) -> None:
        self._claims: dict[tuple[int, Any], dict[str, str]] = {}

    @contextlib.contextmanager
    def isolated(self):
        """Claims made inside (a dry run of the checks) are forgotten afterwards."""
        saved, self._claims = self._claims, {}
        try:
            yield
        finally:
            self._claims = saved

    def claim(self, gateway_key: Any, path: str, owner: str, key: str, what: str = "API path") -> None:
        from pulumi.runtime.settings import SETTINGS

        run = id(SETTINGS.monitor)
        claims = self._claims.setdefault((run, gateway_key), {})
        other = claims.get(path.lower())
        if other is not None and other != owner:
            where = " on this gateway" if what.startswith("API") else " in this program"
            raise LastMileError(key, path, f"{what} {path!r} is already used by {other!r}{where}; {what}s must be unique "
                                           + ("(APIM compares them case-insensitively)" if what.startswith("API") else "(case-insensitively)"))
        claims[path.lower()] = owner

    def tally(self, scope: Any, owner: str, count: int) -> int:
        """Record ``count`` things ``owner`` adds within ``scope`` in this program run; the total of every owner."""
        from pulumi.runtime.settings import SETTINGS

        counts = self._claims.setdefault((id(SETTINGS.monitor), ("tally", scope)), {})
        counts[owner] = count  # type: ignore[assignment]
        return sum(counts.values())  # type: ignore[arg-type]

    def last(self, scope: Any) -> list:
        """The item last :meth:`enqueue`d in ``scope`` in this program run (an empty list for none). For things Azure
        makes one at a time (function apps joining one subnet): depend on it."""
        from pulumi.runtime.settings import SETTINGS

        return list(self._claims.get((id(SETTINGS.monitor), ("queue", scope)), {}).values())

    def enqueue(self, scope: Any, item: Any) -> None:
        """Make ``item`` the last in ``scope`` in this program run."""
        from pulumi.runtime.settings import SETTINGS

        self._claims[(id(SETTINGS.monitor), ("queue", scope))] = {"last": item}


CLAIMS = _Claims()


#: Outputs that name a gateway known by another key (id of the Output -> key): refs read from one stack's export.
#: The Output is kept with its key, so its id cannot be reused by another object while the entry exists.
_GATEWAY_ALIASES: dict[int, tuple[Any, Any]] = {}


def alias_gateway(service_name: Any, key: Any) -> None:
    """Make ``service_name`` (an Output) identify the gateway ``key`` names, so two refs to it are one gateway."""
    _GATEWAY_ALIASES[id(service_name)] = (service_name, key)


def gateway_key(service_name: Any) -> Any:
    """A key that identifies a gateway within one program run, whether its name is known or an Output."""
    if isinstance(service_name, str):
        return service_name.lower()
    return _GATEWAY_ALIASES.get(id(service_name), (None, id(service_name)))[1]
