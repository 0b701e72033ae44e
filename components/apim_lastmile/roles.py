"""Built-in Azure role definition GUIDs, by name.

Source: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles (the ids are the
same in every tenant and cloud). Every role id the library uses comes from this table.
"""

from __future__ import annotations

import pulumi

from .errors import LastMileError
from .naming import is_guid

BUILT_IN_ROLES: dict[str, str] = {
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}


def role_id(name_or_guid: str, key: str = "role") -> str:
    """The GUID of a built-in role given its name, or the GUID itself if it is one of ours."""
    if name_or_guid in BUILT_IN_ROLES:
        return BUILT_IN_ROLES[name_or_guid]
    if is_guid(name_or_guid) and name_or_guid.lower() in BUILT_IN_ROLES.values():
        return name_or_guid.lower()
    raise LastMileError(key, name_or_guid, f"expected a built-in role name or id from roles.py: {', '.join(sorted(BUILT_IN_ROLES))}")


def role_definition_id(subscription_id: pulumi.Input[str], guid: str) -> pulumi.Output[str]:
    """The subscription-level resource id of a built-in role definition."""
    return pulumi.Output.concat("/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", guid)
