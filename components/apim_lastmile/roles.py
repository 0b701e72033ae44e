"""Built-in Azure role definition GUIDs, by name.

Source: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles (the ids are the
same in every tenant and cloud). Every role id the library grants comes from :data:`BUILT_IN_ROLES`;
:data:`BROAD_ROLES` lists the roles it never grants (the policy pack reports them too).
"""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization

from .errors import LastMileError
from .naming import is_guid, stable_uuid

#: Narrow, data-plane or read-only roles the library may grant, by their exact built-in name.
BUILT_IN_ROLES: dict[str, str] = {
    # Storage (blob and Data Lake Gen2)
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    # Key Vault (RBAC permission model)
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    # Resource Manager
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    # Messaging
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Event Hubs Data Receiver": "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
    "Azure Event Hubs Data Sender": "2b629674-e913-4c01-ae53-ef4638d8f975",
    # Azure AI services, Azure OpenAI, Machine Learning
    "Cognitive Services User": "a97b65f3-24c7-4388-baec-2e87135dc908",
    "Cognitive Services OpenAI User": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    "Cognitive Services OpenAI Contributor": "a001fd3d-188f-4b5d-821b-7da978bf7442",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    # Azure Monitor: send telemetry to Application Insights with Microsoft Entra authentication
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    # Logic Apps (through Resource Manager)
    "Logic App Operator": "515c2055-d9d4-4321-b1b9-bd0c9a0f79fe",
    "Logic App Contributor": "87a39d53-fc1b-424a-814c-f7e04687dc9e",
}

#: Built-in roles that only read, whatever service they belong to (the others may write or act).
READ_ONLY_ROLES = frozenset({
    "Storage Blob Data Reader", "Key Vault Secrets User", "Reader", "Azure Service Bus Data Receiver",
    "Azure Event Hubs Data Receiver", "Logic App Operator",
})

#: Roles that reopen the last mile (control of everything, or of who may do anything): never granted to a
#: gateway identity, and reported by the policy pack when any stack grants them to a service principal.
BROAD_ROLES: dict[str, str] = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
}


def role_id(name_or_guid: str, key: str = "role") -> str:
    """The GUID of a built-in role given its name, or the GUID itself if it is one of ours."""
    if name_or_guid in BUILT_IN_ROLES:
        return BUILT_IN_ROLES[name_or_guid]
    if is_guid(name_or_guid) and name_or_guid.lower() in BUILT_IN_ROLES.values():
        return name_or_guid.lower()
    if name_or_guid in BROAD_ROLES or str(name_or_guid).lower() in BROAD_ROLES.values():
        raise LastMileError(
            key, name_or_guid,
            "a broad role (Owner, Contributor, User Access Administrator, Key Vault Administrator) is never granted to the "
            "gateway; pick the narrowest data-plane role from roles.BUILT_IN_ROLES",
        )
    raise LastMileError(key, name_or_guid, f"expected a built-in role name or id from roles.py: {', '.join(sorted(BUILT_IN_ROLES))}")


_NAMES = {guid: name for name, guid in {**BUILT_IN_ROLES, **BROAD_ROLES}.items()}


def role_name(guid: str) -> str:
    """The built-in name of a role id from either table (``guid`` itself when unknown)."""
    return _NAMES.get(guid.lower(), guid)


def role_definition_id_at(scope: str, guid: str) -> str:
    """The role definition id for an assignment at ``scope``: under the scope's own subscription (so a scope in
    another subscription works), or tenant-level for a management-group scope."""
    parts = scope.split("/")
    if len(parts) > 2 and parts[1].lower() == "subscriptions":
        return f"/subscriptions/{parts[2]}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    return f"/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def role_definition_id(scope: pulumi.Input[str], guid: str) -> pulumi.Output[str]:
    """:func:`role_definition_id_at` for a scope that may be known only at deploy time (every assignment uses this)."""
    return pulumi.Output.from_input(scope).apply(lambda s: role_definition_id_at(s, guid))


def assignment_name(scope: str, principal_id: str, guid: str) -> str:
    """The role assignment's name: a GUID derived from scope, principal and role, like Bicep's
    ``guid(scope, principalId, roleId)``. A re-run or a rebuilt state names the same grant the same way, and a new
    principal (a re-created identity) gets a new name instead of ``RoleAssignmentUpdateNotPermitted``."""
    return stable_uuid("role-assignment", scope.lower(), principal_id.lower(), guid.lower())


def assign(logical_name: str, *, principal_id: pulumi.Input[str], role_guid: str, scope: pulumi.Input[str],
           description: str, parent: pulumi.Resource,
           principal_type: pulumi.Input[str] = authorization.PrincipalType.SERVICE_PRINCIPAL) -> authorization.RoleAssignment:
    """One role assignment to a managed identity, the way every grant of the library is made.

    - ``principalType: ServicePrincipal``: ARM then skips the directory look-up that fails with ``PrincipalNotFound``
      for an identity created moments before (learn.microsoft.com/azure/role-based-access-control/troubleshooting).
    - A deterministic name (:func:`assignment_name`), and ``delete_before_replace``: a replacement removes the old
      grant before making the new one, since ARM refuses a second assignment of the same role to the same principal
      on the same scope (``RoleAssignmentExists``) whatever its name.
    - ``principal_type`` other than ``ServicePrincipal`` only for the deployer, who may be a user.
    """
    return authorization.RoleAssignment(
        logical_name,
        role_assignment_name=pulumi.Output.all(scope, principal_id).apply(lambda v: assignment_name(v[0], v[1], role_guid)),
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=role_definition_id(scope, role_guid),
        scope=scope,
        description=description,
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
    )
