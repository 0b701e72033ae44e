"""Azure's names and ids: naming rules checked eagerly, GUIDs, e-mail addresses, resource ids and their types, and
unique suffixes from pulumi-random. Program-wide claims are in ``claims``; an argument's shape in ``arguments``."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_random as random

from .errors import LastMileError

SUFFIX_LENGTH = 6


@dataclass(frozen=True)
class NameRule:
    """One Azure naming rule: a regular expression, length bounds and a sentence for the error."""

    what: str
    pattern: str
    min_len: int
    max_len: int
    describe: str

    def check(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not (self.min_len <= len(value) <= self.max_len) or not re.fullmatch(self.pattern, value):
            raise LastMileError(key, value, f"{self.what} names are {self.min_len}-{self.max_len} characters: {self.describe}")
        return value


APIM_SERVICE = NameRule(
    "API Management service", r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?", 1, 50,
    "letters, digits and hyphens, starting with a letter and ending with a letter or digit",
)
FUNCTION_APP = NameRule(
    "Function App", r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", 2, 60,
    "letters, digits and hyphens, not starting or ending with a hyphen",
)
STORAGE_ACCOUNT = NameRule("Storage account", r"[a-z0-9]+", 3, 24, "lower-case letters and digits only")
KEY_VAULT = NameRule(
    "Key Vault", r"[A-Za-z](?!.*--)[A-Za-z0-9-]*[A-Za-z0-9]", 3, 24,
    "letters, digits and single hyphens, starting with a letter and ending with a letter or digit",
)
BLOB_CONTAINER = NameRule(
    "Blob container", r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*", 3, 63,
    "lower-case letters, digits and single hyphens, starting and ending with a letter or digit",
)
KEY_VAULT_SECRET = NameRule("Key Vault secret", r"[A-Za-z0-9-]+", 1, 127, "letters, digits and hyphens")
RESOURCE_GROUP = NameRule(
    "Resource group", r"[-\w._()]*[-\w_()]", 1, 90,
    "letters, digits, '-', '_', '.', '(' and ')', not ending with '.'",
)
USER_ASSIGNED_IDENTITY = NameRule(
    "User-assigned identity", r"[A-Za-z0-9][A-Za-z0-9_-]*", 3, 128,
    "letters, digits, hyphens and underscores, starting with a letter or digit",
)
#: An APIM API path: URL path segments without a leading or trailing slash or spaces.
API_PATH = NameRule(
    "API path", r"(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+)*", 1, 400,
    "URL path segments of letters, digits, '.', '_', '~' or '-' separated by '/', without a leading '/' and without "
    "'.' or '..' segments (a URL normalises them away, so the API would answer on another path)",
)
LOG_ANALYTICS_WORKSPACE = NameRule(
    "Log Analytics workspace", r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", 4, 63,
    "letters, digits and hyphens, starting and ending with a letter or digit",
)
#: Pulumi logical names of our components also name APIM entities (API, backend ids).
COMPONENT_NAME = NameRule(
    "Component", r"[A-Za-z][A-Za-z0-9-]*", 1, 40,
    "letters, digits and hyphens, starting with a letter (it also names APIM API and backend ids)",
)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_G = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_SEGMENT = r"[^/\s?#]+"
_RESOURCE_ID = re.compile(
    rf"^/subscriptions/{_G}(/resourceGroups/{_SEGMENT})?(/providers/{_SEGMENT}(/{_SEGMENT}/{_SEGMENT})+)?$"
    rf"|^/providers/Microsoft\.Management/managementGroups/{_SEGMENT}$", re.IGNORECASE)
# Namespace for deterministic ids (app role ids): stable across runs, distinct per logical name.
LASTMILE_NAMESPACE = uuid.UUID("4f0d8a52-6c1e-4d7a-9d8e-3a1f1c5e9b27")


def is_guid(value: Any) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


def check_guid(key: str, value: Any) -> str:
    if not is_guid(value):
        raise LastMileError(key, value, "expected a GUID such as 00000000-0000-0000-0000-000000000000")
    return value.lower()


def check_email(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 100 or not _EMAIL.match(value):
        raise LastMileError(key, value, "expected an email address such as platform-team@contoso.com (at most 100 characters)")
    return value


def check_https_url(key: str, value: Any) -> str:
    """An https:// URL a token or password may travel to (see :mod:`apim_lastmile.urls`)."""
    from .urls import check_https_url as check

    return check(key, value)


def scope_level(scope: str) -> str:
    """``management group``, ``subscription``, ``resource group`` or ``resource`` for a valid resource id."""
    parts = scope.strip("/").split("/")
    if parts[0].lower() == "providers":
        return "management group"
    if len(parts) == 2:
        return "subscription"
    if len(parts) == 4:
        return "resource group"
    return "resource"


def check_resource_id(key: str, value: Any, of_type: Optional[str] = None) -> str:
    """An Azure resource id; with ``of_type`` (``Microsoft.Network/virtualNetworks/subnets``) one of that type."""
    if not isinstance(value, str) or not _RESOURCE_ID.match(value):
        raise LastMileError(
            key, value,
            "expected an Azure resource id such as /subscriptions/<guid>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>",
        )
    if of_type is not None and resource_type(value).lower() != of_type.lower():
        raise LastMileError(key, value, f"expected the id of a {of_type}, not of a {resource_type(value) or 'subscription or group'}")
    return value


def resource_type(resource_id: str) -> str:
    """``Microsoft.Network/virtualNetworks/subnets`` for a subnet's id (the last provider's types), ``""`` for a
    subscription or resource group."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return ""
    rest = parts[len(lowered) - 1 - lowered[::-1].index("providers") + 1:]
    return "/".join([rest[0], *rest[1::2]]) if rest else ""


def stable_uuid(*parts: str) -> str:
    """A deterministic GUID for ``parts``: the same program yields the same id on every run."""
    return str(uuid.uuid5(LASTMILE_NAMESPACE, "/".join(parts)))


def alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def check_prefix_fits(rule: NameRule, key: str, prefix: str) -> None:
    """Fail eagerly when ``prefix`` plus a random suffix cannot make a valid name under ``rule``."""
    candidate = prefix + "a" * SUFFIX_LENGTH
    if len(candidate) > rule.max_len:
        raise LastMileError(
            key, prefix,
            f"the generated {rule.what} name '{prefix}<{SUFFIX_LENGTH} random chars>' would exceed "
            f"{rule.max_len} characters: use a shorter component name or give the name explicitly",
        )
    rule.check(key, candidate)


def unique_suffix(name: str, parent: Optional[pulumi.Resource] = None,
                  keepers: Optional[dict[str, pulumi.Input[Optional[str]]]] = None) -> pulumi.Output[str]:
    """Six lower-case letters and digits, fixed once created (pulumi-random keeps it in state).

    ``keepers``: the inputs that force the named resources to be replaced (resource group, location). When one
    changes, the suffix changes with it, so the replacement gets a new name: APIM services and Key Vaults are
    soft-deleted, and their old names stay taken (APIM 48 hours; a purge-protected vault its retention days).
    """
    return random.RandomString(
        f"{name}-suffix", length=SUFFIX_LENGTH, special=False, upper=False, numeric=True,
        keepers={k: pulumi.Output.from_input(v).apply(lambda x: x or "") for k, v in (keepers or {}).items()} or None,
        opts=pulumi.ResourceOptions(parent=parent),
    ).result


def optional(rule: NameRule, key: str, value: Optional[str]) -> Optional[str]:
    return None if value is None else rule.check(key, value)
