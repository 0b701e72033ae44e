"""Stack rules on named values: a named value used as a credential must come from Key Vault.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional


from pack_base import dig, is_type
from lastmile_audit.apim_reading import Unreadable, parse_policy, policy_resource
from credentials import inspect_policy

# ---- Across the stack: a named value used as a credential is backed by Key Vault ----------------------------

_NAMED_VALUE_TYPES = ("NamedValue", "WorkspaceNamedValue")


def _named_value_backing(resources: Iterable[Any]) -> Iterable[tuple[str, Optional[str]]]:
    """(message, urn) for every policy that uses a named value as a credential when that named value (matched by
    display name, which is what ``{{...}}`` names, case-insensitively; the id where no display name is given) holds
    its value in APIM instead of referencing Key Vault."""
    resources = list(resources)
    values: dict[str, list[Any]] = {}
    for res in resources:
        if is_type(res.resource_type, "apimanagement", *_NAMED_VALUE_TYPES):
            key = dig(res.props, "displayName") or dig(res.props, "namedValueId") or res.name
            values.setdefault(str(key).strip().lower(), []).append(res)
    for res in resources:
        if not policy_resource(res.resource_type):
            continue
        try:
            root = parse_policy(dig(res.props, "value"), dig(res.props, "format"))
        except Unreadable:
            continue  # policies-use-managed-identity reports it
        for name, uses in sorted(inspect_policy(root)[1].items()):
            for nv in values.get(name.strip().lower(), []):
                if not dig(nv.props, "keyVault", "secretIdentifier"):
                    secret = "a secret" if dig(nv.props, "secret") is True else "a plain"
                    yield (f"{res.name}: {', '.join(sorted(uses))} is {{{{{name}}}}}, {secret} named value ({nv.name}) "
                           "that holds the value itself: a literal one step removed; back it by Key Vault "
                           "(keyVault.secretIdentifier)", res.urn)
