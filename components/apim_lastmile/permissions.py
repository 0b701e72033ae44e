"""What the deployer needs for a stack: the least Azure roles and Microsoft Graph permissions, read off its plan.

`lastmile permissions <stack>` prints them, so the identity behind `pulumi up` (a CI service principal, or whoever
runs `az login`) can be given exactly that before the first run, instead of failing half way (Contributor alone cannot
create role assignments; creating app registrations and app role assignments needs Graph permissions).
Sources: learn.microsoft.com/azure/role-based-access-control/built-in-roles (Contributor, Role Based Access Control
Administrator, which can be constrained to the roles it may grant), and the azuread provider's "API Permissions"
notes for each resource it manages (in the installed pulumi-azuread SDK).
"""

from __future__ import annotations

from dataclasses import dataclass

from .roles import role_name

#: What a custom deployer role needs besides the write actions to follow APIM's asynchronous operations
#: (the action Microsoft.ApiManagement/service/tenant/operationResults/read in Azure's resource provider operations:
#: learn.microsoft.com/azure/role-based-access-control/permissions/integration; the built-in API Management Service
#: Contributor and Operator roles hold it through Microsoft.ApiManagement/service/*/read).
APIM_ASYNC_READ = "Microsoft.ApiManagement/service/tenant/*/read"
_AZUREAD_APPS = ("applicationRegistration", "applicationIdentifierUri", "applicationAppRole", "servicePrincipal")


@dataclass(frozen=True)
class Requirement:
    """One permission the deployer must hold: where, what, and why this stack needs it."""

    scope: str
    permission: str
    why: str


def requirements(registrations) -> list[Requirement]:
    """The permissions a plan's resources need, most general first, without repeats."""
    found: list[Requirement] = []
    groups_created = {r.plain_inputs.get("resourceGroupName") for r in registrations if r.type == "azure-native:resources:ResourceGroup"}
    for group in sorted(g for g in groups_created if g):
        found.append(Requirement("subscription", "Contributor (or create the group beforehand and hold Contributor on it)",
                                 f"the program creates resource group {group}"))
    groups = sorted({r.plain_inputs["resourceGroupName"] for r in registrations
                     if r.custom and r.type.split(":")[0].startswith("azure-native") and isinstance(r.plain_inputs.get("resourceGroupName"), str)}
                    - groups_created)
    for group in groups:
        found.append(Requirement(f"resource group {group}", "Contributor", "creates and updates the resources there"))
    found += _network_requirements(registrations, set(groups) | {g for g in groups_created if g})
    services = sorted({r.plain_inputs.get("resourceGroupName") for r in registrations
                       if r.custom and r.type.split(":")[0].startswith("azure-native") and r.type.split(":")[1] == "apimanagement"
                       and isinstance(r.plain_inputs.get("resourceGroupName"), str)})
    for group in services:
        found.append(Requirement(
            f"resource group {group}", f"with a custom role instead of Contributor: also {APIM_ASYNC_READ}",
            "ARM follows API Management's long-running operations through service/tenant/operationResults, which a "
            "custom role listing only write actions cannot read, so the deployment fails after the write succeeds"))
    grants: dict[str, set[str]] = {}
    for r in registrations:
        if r.type == "azure-native:authorization:RoleAssignment":
            scope = r.plain_inputs["scope"]
            parts = scope.split("/")
            where = f"resource group {parts[4]}" if len(parts) > 4 and parts[3].lower() == "resourcegroups" else scope
            grants.setdefault(where, set()).add(role_name(r.plain_inputs["roleDefinitionId"].rsplit("/", 1)[1]))
    for where, names in sorted(grants.items()):
        found.append(Requirement(
            where, f"Role Based Access Control Administrator, constrained to: {', '.join(sorted(names))}",
            "creates the role assignments of the last mile (Contributor cannot write role assignments)"))
    types = {r.type.split(":")[1].split("/")[-1] for r in registrations if r.type.startswith("azuread:")}
    if types & set(_AZUREAD_APPS):
        found.append(Requirement("Microsoft Graph", "Application.ReadWrite.OwnedBy (a user: Application Developer or Application Administrator)",
                                 "creates the app registration, its identifier URI, app role and service principal (it owns them)"))
    if "appRoleAssignment" in types:
        found.append(Requirement("Microsoft Graph", "AppRoleAssignment.ReadWrite.All and Application.Read.All (a user: Application Administrator)",
                                 "assigns the app role to the gateway's identity; this permission can assign any app role, so keep "
                                 "the identity that holds it to this pipeline"))
    auth_settings = sum(r.type == "azure-native:web:WebAppAuthSettingsV2" for r in registrations)
    apps = sum(r.type == "azuread:index/applicationRegistration:ApplicationRegistration" for r in registrations)
    adopted_apps = auth_settings > apps
    deployer_grant = any(r.name.endswith("-deployer-secrets-officer") for r in registrations)
    if adopted_apps or deployer_grant:
        found.append(Requirement("Microsoft Graph", "Application.Read.All",
                                 "reads adopted app registrations and whether the deployer is a service principal"))
    return found


def _group_of(resource_id: object) -> str:
    parts = str(resource_id or "").split("/")
    return parts[4] if len(parts) > 4 and parts[3].lower() == "resourcegroups" else ""


def _network_requirements(registrations, contributed: set[str]) -> list[Requirement]:
    """Private endpoints in a network, and DNS records in a zone, that live outside the groups the deployer holds
    Contributor on (a gateway another stack owns): joining a subnet and writing a zone are permissions there."""
    found: list[Requirement] = []
    for r in registrations:
        if r.type == "azure-native:network:PrivateEndpoint":
            subnet = (r.plain_inputs.get("subnet") or {}).get("id")
            if _group_of(subnet) and _group_of(subnet) not in contributed:
                found.append(Requirement(f"subnet {subnet}", "Microsoft.Network/virtualNetworks/subnets/join/action (e.g. Network Contributor "
                                         "on the network)", f"puts the private endpoint {r.name} into the gateway's network"))
        if r.type == "azure-native:network:PrivateDnsZoneGroup":
            for config in r.plain_inputs.get("privateDnsZoneConfigs") or []:
                zone = config.get("privateDnsZoneId")
                if _group_of(zone) and _group_of(zone) not in contributed:
                    found.append(Requirement(f"private DNS zone {zone}", "Private DNS Zone Contributor",
                                             f"writes the record of the private endpoint {r.name}"))
    return found


def render(stack: str, found: list[Requirement]) -> str:
    lines = [f"Stack {stack}: what the deployer needs", ""]
    width = max((len(r.scope) for r in found), default=0)
    for r in found:
        lines.append(f"{r.scope.ljust(width)}  {r.permission}")
        lines.append(f"{' ' * width}  ({r.why})")
    return "\n".join(lines) + "\n"
