"""Rules on single resources: APIM's identity, Easy Auth, function app hardening, Key Vault, broad roles, secret named
values.
"""

from __future__ import annotations

from typing import Iterable

from pulumi_policy import ResourceValidationArgs

from pack_base import ANONYMOUS_REFUSED, BROAD_ROLE_IDS, TLS_OK, dig, is_type

# ---- APIM has a managed identity -----------------------------------------------------------------------

def _apim_identity(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "apimanagement", "ApiManagementService"):
        return
    kind = str(dig(args.props, "identity", "type") or "None")
    if "Assigned" not in kind:
        yield f"API Management service {args.name} has no managed identity (identity.type={kind}): the last mile needs one"
    elif kind == "UserAssigned" and not dig(args.props, "identity", "userAssignedIdentities"):
        yield f"API Management service {args.name} is UserAssigned but names no identity in identity.userAssignedIdentities"


# ---- Easy Auth: authentication required, 401/403 for anonymous callers, callers restricted ---------------

def _easy_auth(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "web", "WebAppAuthSettingsV2", "WebAppAuthSettingsV2Slot"):
        return
    props = args.props
    if dig(props, "platform", "enabled") is not True:
        yield f"{args.name}: App Service Authentication is off (platform.enabled must be true)"
    if dig(props, "globalValidation", "requireAuthentication") is not True:
        yield f"{args.name}: globalValidation.requireAuthentication must be true"
    action = dig(props, "globalValidation", "unauthenticatedClientAction")
    if action not in ANONYMOUS_REFUSED:
        yield f"{args.name}: anonymous callers must get 401 or 403 (globalValidation.unauthenticatedClientAction={action})"
    entra = dig(props, "identityProviders", "azureActiveDirectory") or {}
    validation = dig(entra, "validation") or {}
    allowed = [
        dig(validation, "defaultAuthorizationPolicy", "allowedPrincipals", "identities"),
        dig(validation, "defaultAuthorizationPolicy", "allowedApplications"),
        dig(validation, "jwtClaimChecks", "allowedClientApplications"),
    ]
    if dig(entra, "enabled") is False or not any(allowed):
        yield (f"{args.name}: Entra ID must restrict callers (validation.defaultAuthorizationPolicy.allowedPrincipals."
               "identities or allowedApplications): otherwise any identity in the tenant can call the app")


# ---- Function apps: HTTPS only, TLS 1.2+, FTP off -----------------------------------------------------

def _function_app(args: ResourceValidationArgs) -> Iterable[str]:
    props = args.props
    if is_type(args.resource_type, "web", "WebAppFtpAllowed", "WebAppFtpAllowedSlot"):
        if dig(props, "allow") is not False:
            yield f"{args.name}: FTP basic-auth publishing credentials must be off (allow: false)"
        return
    if not is_type(args.resource_type, "web", "WebApp", "WebAppSlot") or "functionapp" not in str(dig(props, "kind") or "").lower():
        return
    if dig(props, "httpsOnly") is not True:
        yield f"{args.name}: a function app must be HTTPS only (httpsOnly: true)"
    tls = dig(props, "siteConfig", "minTlsVersion")
    if str(tls) not in TLS_OK:
        yield f"{args.name}: siteConfig.minTlsVersion must be 1.2 or later (got {tls})"
    ftps = dig(props, "siteConfig", "ftpsState")
    # Flex Consumption (functionAppConfig) has no FTP(S) at all and refuses ftpsState; elsewhere it must be off.
    if ftps != "Disabled" and not (dig(props, "functionAppConfig") and ftps is None):
        yield f"{args.name}: FTP must be off (siteConfig.ftpsState: Disabled, got {ftps})"


# ---- Key Vault: RBAC and purge protection ---------------------------------------------------------------

def _key_vault(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "keyvault", "Vault"):
        return
    if dig(args.props, "properties", "enableRbacAuthorization") is not True:
        yield f"{args.name}: Key Vault must use RBAC authorization (properties.enableRbacAuthorization: true), not access policies"
    if dig(args.props, "properties", "enablePurgeProtection") is not True:
        yield f"{args.name}: Key Vault must have purge protection (properties.enablePurgeProtection: true)"
    if dig(args.props, "properties", "enableSoftDelete") is False:
        yield f"{args.name}: Key Vault soft delete cannot be turned off"


# ---- No broad role for a service principal ---------------------------------------------------------------

def _broad_roles(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "authorization", "RoleAssignment"):
        return
    role = str(dig(args.props, "roleDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1].lower()
    principal_type = dig(args.props, "principalType")
    if role in BROAD_ROLE_IDS and principal_type in (None, "ServicePrincipal"):
        yield (f"{args.name}: {BROAD_ROLE_IDS[role]} for a service principal (principalType={principal_type}) reopens the "
               "last mile; grant the narrowest data-plane role on the narrowest scope")


# ---- Secret named values come from Key Vault ------------------------------------------------------------

def _named_values(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "apimanagement", "NamedValue", "WorkspaceNamedValue"):
        return
    if dig(args.props, "secret") is True:
        if not dig(args.props, "keyVault", "secretIdentifier"):
            yield f"{args.name}: a secret named value must reference Key Vault (keyVault.secretIdentifier), not hold a literal value"
        elif dig(args.props, "value") not in (None, ""):
            yield f"{args.name}: a Key Vault named value must not also carry a literal value"
