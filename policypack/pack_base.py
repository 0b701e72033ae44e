"""What every rule of the pack shares: type tokens in any API-version module, a safe dig into wire props, and the
wrappers that make a check a pulumi-policy rule.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping, Optional

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy


ReportViolation = Callable[..., None]

#: Roles that reopen the last mile when a workload identity holds them (same ids as apim_lastmile.roles).
BROAD_ROLE_IDS = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
}
ANONYMOUS_REFUSED = ("Return401", "Return403")
TLS_OK = ("1.2", "1.3")


def is_type(resource_type: str, module: str, *names: str) -> bool:
    """``azure-native:<module>:<Name>``, an explicit API version of it (``<module>/v20240501:<Name>``), or the same from
    azure-native's parameterized package for one API version (``azure-native_keyvault_v20260201:keyvault:Vault``)."""
    match = re.fullmatch(r"azure-native(?:_([a-z]+)_v[0-9a-z]+)?:([a-z]+)(?:/v[0-9a-z]+)?:(\w+)", resource_type)
    return bool(match) and match.group(2) == module and match.group(1) in (None, module) and match.group(3) in names


def dig(props: Any, *path: str) -> Any:
    """``props[a][b]...``, or None where any step is missing."""
    for key in path:
        if not isinstance(props, Mapping):
            return None
        props = props.get(key)
    return props


def listed(value: Any) -> list:
    """A list in wire props as a list (the engine hands lists behind its unknown-checking proxies, so read them by
    shape, not by class); anything else (missing, a string, an object) as no items."""
    if value is None or isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        return []
    return list(value)


def _rule(name: str, description: str, check: Callable[[ResourceValidationArgs], Iterable[str]]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


def _stack_rule(name: str, description: str, check: Callable[[Iterable[Any]], Iterable[tuple[str, Optional[str]]]],
                level: EnforcementLevel = EnforcementLevel.MANDATORY):
    from pulumi_policy import StackValidationPolicy

    def validate(args, report_violation: ReportViolation) -> None:
        for message, urn in check(args.resources):
            report_violation(message, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)
