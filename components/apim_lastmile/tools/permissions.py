"""What the deployer needs for a stack: the least Azure roles and Microsoft Graph permissions, read off its plan.

`lastmile permissions <stack>` prints them, so the identity behind `pulumi up` (a CI service principal, or whoever
runs `az login`) can be given exactly that before the first run, instead of failing half way (Contributor alone cannot
create role assignments; creating app registrations and app role assignments needs Graph permissions).

Every scope names its subscription: a resource group as ``resource group <name> in subscription <id>``, a resource by
its full ARM id. Resources registered with ``resourceGroupName`` live in the deployer's subscription (the azure-native
provider's), which an offline plan knows only as :data:`apim_lastmile.tools.plan.SUBSCRIPTION_ID`; role assignment scopes
are full ARM ids and carry their own. Two groups of one name in two subscriptions are two scopes.

Contributor on a resource group only where the program creates resources of kinds no narrower built-in role covers;
in a group it only touches (an adopted vault's, another stack's gateway's, an adopted function app's), the narrowest
built-in role on the one resource (:data:`NARROW_ROLES`). Sources: learn.microsoft.com/azure/role-based-access-control/
built-in-roles (Contributor, Role Based Access Control Administrator, which can be constrained to the roles it may
grant, and the roles of :data:`NARROW_ROLES`), and the azuread provider's "API Permissions" notes for each resource it
manages (in the installed pulumi-azuread SDK).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .. import keyvault_api
from ..roles import role_name

#: What a custom deployer role needs besides the write actions to follow APIM's asynchronous operations
#: (the action Microsoft.ApiManagement/service/tenant/operationResults/read in Azure's resource provider operations:
#: learn.microsoft.com/azure/role-based-access-control/permissions/integration; the built-in API Management Service
#: Contributor and Operator roles hold it through Microsoft.ApiManagement/service/*/read).
APIM_ASYNC_READ = "Microsoft.ApiManagement/service/tenant/*/read"
_AZUREAD_APPS = ("applicationRegistration", "applicationIdentifierUri", "applicationAppRole", "servicePrincipal")
_BUILT_IN = "learn.microsoft.com/azure/role-based-access-control/built-in-roles/"


@dataclass(frozen=True)
class NarrowRole:
    """A built-in role that certainly covers what the program does to one resource, in place of Contributor on its
    group: ``actions`` is the part of the role's definition that does (quoted from ``source``)."""

    role: str
    actions: str
    source: str
    what: str


#: The narrower built-in roles :func:`requirements` names, by the kind of resource they are granted on.
NARROW_ROLES = {
    "key vault": NarrowRole(
        "Key Vault Contributor", "Microsoft.KeyVault/* (vaults/read, vaults/secrets/read and write)",
        _BUILT_IN + "security#key-vault-contributor",
        "reads the adopted vault and writes the secret through ARM, a control-plane write; the delete is a data-plane "
        "call, for which the program grants the deployer Key Vault Secrets Officer on the vault"),
    "API Management service": NarrowRole(
        "API Management Service Contributor", "Microsoft.ApiManagement/service/*",
        _BUILT_IN + "integration#api-management-service-contributor",
        "adds its APIs, operations, policies, backends and named values to a gateway it does not create"),
    "function app": NarrowRole(
        "Website Contributor", "Microsoft.Web/sites/*",
        _BUILT_IN + "web-and-mobile#website-contributor",
        "reads the adopted app and writes its authentication and basic-auth publishing settings"),
}
#: The subnet join and the private DNS record (:func:`_network_requirements`).
NETWORK_CONTRIBUTOR = _BUILT_IN + "networking#network-contributor"
PRIVATE_DNS_ZONE_CONTRIBUTOR = _BUILT_IN + "networking#private-dns-zone-contributor"

#: The widest scope :func:`render` puts in its first column (a resource group with its subscription fits).
SCOPE_COLUMN = 100

_SECRET_TYPES = ("azure-native:keyvault:Secret", keyvault_api.SECRET)
_SITE_SETTINGS = ("azure-native:web:WebAppAuthSettingsV2", "azure-native:web:WebAppFtpAllowed", "azure-native:web:WebAppScmAllowed")
_APIM_SERVICE = "azure-native:apimanagement:ApiManagementService"


@dataclass(frozen=True)
class Requirement:
    """One permission the deployer must hold: where, what, and why this stack needs it."""

    scope: str
    permission: str
    why: str


def subscription_scope(subscription: str) -> str:
    return f"subscription {subscription}"


def group_scope(subscription: str, group: str) -> str:
    """A resource group as every line names it: with its subscription, as group names repeat across subscriptions."""
    return f"resource group {group} in subscription {subscription}"


def arm_group(resource_id: object) -> Optional[tuple[str, str]]:
    """(subscription, resource group) of an ARM id under a resource group, or None."""
    parts = resource_id.split("/") if isinstance(resource_id, str) else []
    if len(parts) > 4 and parts[0] == "" and parts[1].lower() == "subscriptions" and parts[3].lower() == "resourcegroups" \
            and parts[2] and parts[4]:
        return parts[2], parts[4]
    return None


def _key(subscription: str, group: str) -> tuple[str, str]:
    # Azure compares subscription ids and resource group names without regard to case.
    return subscription.lower(), group.lower()


def _where_granted(scope: object) -> str:
    """A role assignment's scope as a line names it: its group (with the subscription), the subscription, or the
    scope itself (a management group, or anything else: shown as given)."""
    located = arm_group(scope)
    if located:
        return group_scope(*located)
    parts = scope.split("/") if isinstance(scope, str) else []
    if len(parts) == 3 and parts[0] == "" and parts[1].lower() == "subscriptions" and parts[2]:
        return subscription_scope(parts[2])
    return f"scope {scope}"


def _narrow_target(r, subscription: str, group: str) -> Optional[tuple[str, str]]:
    """(kind, ARM id) of the one resource a narrower built-in role (:data:`NARROW_ROLES`) covers the registration
    ``r`` on, or None when ``r`` needs Contributor on its group."""
    base = f"/subscriptions/{subscription}/resourceGroups/{group}/providers"
    inputs = r.plain_inputs
    if r.type in _SECRET_TYPES and isinstance(inputs.get("vaultName"), str) and inputs["vaultName"]:
        return "key vault", f"{base}/Microsoft.KeyVault/vaults/{inputs['vaultName']}"
    if r.type.startswith("azure-native:apimanagement:") and r.type != _APIM_SERVICE \
            and isinstance(inputs.get("serviceName"), str) and inputs["serviceName"]:
        return "API Management service", f"{base}/Microsoft.ApiManagement/service/{inputs['serviceName']}"
    if r.type in _SITE_SETTINGS and isinstance(inputs.get("name"), str) and inputs["name"]:
        return "function app", f"{base}/Microsoft.Web/sites/{inputs['name']}"
    return None


def _some(names: list[str], shown: int = 3) -> str:
    return ", ".join(names) if len(names) <= shown else f"{', '.join(names[:shown])} and {len(names) - shown} more"


def requirements(registrations, subscription: Optional[str] = None) -> list[Requirement]:
    """The permissions a plan's resources need, most general first, without repeats. ``subscription`` is the
    deployer's (default: the one the plan's mocks answer with)."""
    if subscription is None:
        from .plan import SUBSCRIPTION_ID as subscription
    found: list[Requirement] = []
    created: dict[tuple[str, str], str] = {}
    for r in registrations:
        group = r.plain_inputs.get("resourceGroupName") if r.type == "azure-native:resources:ResourceGroup" else None
        if isinstance(group, str) and group:
            created.setdefault(_key(subscription, group), group)
    for group in sorted(created.values()):
        found.append(Requirement(subscription_scope(subscription), "Contributor (or create the group beforehand and hold Contributor on it)",
                                 f"the program creates resource group {group}"))

    # The resources the program registers by group, each group in the deployer's subscription.
    by_group: dict[tuple[str, str], tuple[str, list]] = {}
    for r in registrations:
        group = r.plain_inputs.get("resourceGroupName")
        if r.custom and r.type.split(":")[0].startswith("azure-native") and isinstance(group, str) and group \
                and r.type != "azure-native:resources:ResourceGroup":
            by_group.setdefault(_key(subscription, group), (group, []))[1].append(r)
    contributed = set(created)
    narrow: list[tuple[str, str, list]] = []
    apim_write: list[tuple[str, str]] = []  # (scope, the role a custom role would replace)
    for key, (group, resources) in sorted(by_group.items()):
        apim = any(r.type.startswith("azure-native:apimanagement:") for r in resources)
        if key in created:
            if apim:
                apim_write.append((group_scope(subscription, group), "Contributor"))
            continue
        targets = [_narrow_target(r, subscription, group) for r in resources]
        if None in targets:
            contributed.add(key)
            found.append(Requirement(group_scope(subscription, group), "Contributor", "creates and updates the resources there"))
            if apim:
                apim_write.append((group_scope(subscription, group), "Contributor"))
            continue
        for target in sorted(set(targets)):
            kind, rid = target
            narrow.append((kind, rid, sorted({r.name for r, t in zip(resources, targets) if t == target})))
            if kind == "API Management service":
                apim_write.append((f"{kind} {rid}", NARROW_ROLES[kind].role))
    for kind, rid, names in narrow:
        role = NARROW_ROLES[kind]
        found.append(Requirement(
            f"{kind} {rid}", f"{role.role} (built-in: {role.actions}; {role.source})",
            f"{role.what}: {_some(names)}; the program touches nothing else in resource group {rid.split('/')[4]}, so "
            "Contributor there is more than it needs"))
    found += _network_requirements(registrations, contributed)
    for scope, role in apim_write:
        found.append(Requirement(
            scope, f"with a custom role instead of {role}: also {APIM_ASYNC_READ}",
            "ARM follows API Management's long-running operations through service/tenant/operationResults, which a "
            "custom role listing only write actions cannot read, so the deployment fails after the write succeeds"))

    # Role assignments: by the group (or subscription) of their scope, never merging two subscriptions' groups.
    grants: dict[tuple, tuple[str, set[str]]] = {}
    for r in registrations:
        if r.type == "azure-native:authorization:RoleAssignment":
            scope = r.plain_inputs.get("scope")
            where = _where_granted(scope)
            located = arm_group(scope)
            key = ("group", *_key(*located)) if located else ("other", where.lower())
            role = role_name(str(r.plain_inputs.get("roleDefinitionId", "")).rsplit("/", 1)[-1])
            grants.setdefault(key, (where, set()))[1].add(role)
    for where, names in sorted(grants.values(), key=lambda item: item[0]):
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


def _network_requirements(registrations, contributed: set[tuple[str, str]]) -> list[Requirement]:
    """Private endpoints in a network, and DNS records in a zone, that live outside the groups the deployer holds
    Contributor on (a gateway another stack owns, in this subscription or another): joining a subnet and writing a
    zone are permissions there. ``contributed`` holds (subscription, group) keys (:func:`_key`)."""
    found: list[Requirement] = []
    for r in registrations:
        # A private endpoint joins the endpoint subnet; a private function app joins the function subnet (its
        # outbound traffic, virtualNetworkSubnetId).
        subnet, what = None, ""
        if r.type == "azure-native:network:PrivateEndpoint":
            subnet, what = (r.plain_inputs.get("subnet") or {}).get("id"), f"puts the private endpoint {r.name} into the gateway's network"
        elif r.type == "azure-native:web:WebApp":
            subnet, what = r.plain_inputs.get("virtualNetworkSubnetId"), f"integrates the function app {r.name} with the gateway's network"
        located = arm_group(subnet)
        if located and _key(*located) not in contributed:
            network = subnet.split("/subnets/")[0].rsplit("/", 1)[-1] if "/subnets/" in subnet else "network"
            found.append(Requirement(
                f"subnet {subnet}", "Microsoft.Network/virtualNetworks/subnets/join/action (built-in: Network Contributor "
                f"on its virtual network {network}; {NETWORK_CONTRIBUTOR})", what))
        if r.type == "azure-native:network:PrivateDnsZoneGroup":
            for config in r.plain_inputs.get("privateDnsZoneConfigs") or []:
                zone = config.get("privateDnsZoneId")
                located = arm_group(zone)
                if located and _key(*located) not in contributed:
                    found.append(Requirement(f"private DNS zone {zone}", f"Private DNS Zone Contributor (built-in; {PRIVATE_DNS_ZONE_CONTRIBUTOR})",
                                             f"writes the record of the private endpoint {r.name}"))
    return found


def render(stack: str, found: list[Requirement]) -> str:
    from .plan import SUBSCRIPTION_ID

    lines = [f"Stack {stack}: what the deployer needs", ""]
    # A scope longer than SCOPE_COLUMN (a resource's ARM id) takes a line of its own.
    width = max((len(r.scope) for r in found if len(r.scope) <= SCOPE_COLUMN), default=0)
    for r in found:
        if len(r.scope) > width:
            lines.append(r.scope)
        lines.append(f"{(r.scope if len(r.scope) <= width else '').ljust(width)}  {r.permission}")
        lines.append(f"{' ' * width}  ({r.why})")
    if any(SUBSCRIPTION_ID.lower() in r.scope.lower() for r in found):
        lines += ["", f"Subscription {SUBSCRIPTION_ID} stands for the deployer's own (the one `az account show` names): the "
                      "plan runs offline, so resource groups the program names, and the resources in them, are in that subscription."]
    return "\n".join(lines) + "\n"
