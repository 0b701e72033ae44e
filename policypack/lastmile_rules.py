"""The passwordless-last-mile rules, as plain pulumi-policy ResourceValidationPolicy objects.

They look at any program's resources (not only apim-lastmile's), by type token, in Pulumi's wire names
(camelCase). This module only defines the rules: ``__main__.py`` puts them in a PolicyPack (constructing a
PolicyPack starts a gRPC server, so tests import this module instead and call each rule's ``validate``).
No dependency on the apim-lastmile library, so the pack can guard any repository.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
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
    """``azure-native:<module>:<Name>`` or an explicit API version of it (``<module>/v20240501:<Name>``)."""
    match = re.fullmatch(r"azure-native:([a-z]+)(?:/v[0-9a-z]+)?:(\w+)", resource_type)
    return bool(match) and match.group(1) == module and match.group(2) in names


def dig(props: Any, *path: str) -> Any:
    """``props[a][b]...``, or None where any step is missing."""
    for key in path:
        if not isinstance(props, Mapping):
            return None
        props = props.get(key)
    return props


def _rule(name: str, description: str, check: Callable[[ResourceValidationArgs], Iterable[str]]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


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


# ---- Policies: no function keys, no code=, no literal basic-auth password -------------------------------

#: ``code=`` in a query string (``?code=``, ``&code=``, ``&amp;code=``), not an attribute such as set-status code="502".
_CODE_PARAM = re.compile(r"(?:[?&]|&amp;)code=", re.IGNORECASE)
_CSHARP_STRING = re.compile(r'^@\(\s*"(?:[^"\\]|\\.)*"\s*\)$')


def _literal(value: str) -> bool:
    """A policy attribute that is a constant: not a named value, not an expression (a bare C# string is constant)."""
    value = value.strip()
    if re.fullmatch(r"\{\{[A-Za-z0-9._-]+\}\}", value):
        return False
    if value.startswith("@"):
        return bool(_CSHARP_STRING.match(value))
    return True


def policy_findings(text: str, where: str) -> list[str]:
    """What is wrong with one APIM policy document (used for every *Policy resource's ``value``)."""
    found = []
    if "x-functions-key" in text.lower():
        found.append(f"{where}: the policy sends a function key (x-functions-key); use authentication-managed-identity")
    if _CODE_PARAM.search(text):
        found.append(f"{where}: the policy carries a code= query parameter (a function key); use authentication-managed-identity")
    try:
        doc = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        doc = None
    if doc is not None:
        if any(q.get("name", "").lower() == "code" for q in doc.iter("set-query-parameter")):
            found.append(f"{where}: the policy sets a code query parameter (a function key); use authentication-managed-identity")
        for basic in doc.iter("authentication-basic"):
            if _literal(basic.get("password", "")):
                found.append(f"{where}: authentication-basic has a literal password; reference a Key Vault named value")
    elif re.search(r"<authentication-basic[^>]*password\s*=\s*\"(?!\{\{)(?!@)", text):
        found.append(f"{where}: authentication-basic has a literal password; reference a Key Vault named value")
    return found


def _policies(args: ResourceValidationArgs) -> Iterable[str]:
    match = re.fullmatch(r"azure-native:apimanagement(?:/v[0-9a-z]+)?:(\w*Policy)", args.resource_type)
    value = dig(args.props, "value")
    if match and isinstance(value, str):
        yield from policy_findings(value, args.name)


def _backends(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "apimanagement", "Backend", "WorkspaceBackend"):
        return
    headers = {k.lower() for k in (dig(args.props, "credentials", "header") or {})}
    query = {k.lower() for k in (dig(args.props, "credentials", "query") or {})}
    if "x-functions-key" in headers or "code" in query:
        yield f"{args.name}: the backend sends a function key (credentials); use the gateway's managed identity"


RULES: list[ResourceValidationPolicy] = [
    _rule("apim-has-managed-identity", "API Management services have a managed identity for the last mile.", _apim_identity),
    _rule("easy-auth-refuses-anonymous", "App Service Authentication requires authentication, answers 401/403 to "
          "anonymous callers and restricts allowed principals or applications.", _easy_auth),
    _rule("function-app-hardened", "Function apps are HTTPS only with TLS 1.2+, and FTP is off.", _function_app),
    _rule("key-vault-rbac-purge-protection", "Key Vaults use RBAC authorization and purge protection.", _key_vault),
    _rule("no-broad-role-for-service-principals", "No Owner, Contributor, User Access Administrator or Key Vault "
          "Administrator role assignment to a service principal.", _broad_roles),
    _rule("secret-named-values-from-key-vault", "Secret APIM named values reference Key Vault instead of holding a "
          "literal value.", _named_values),
    _rule("policies-use-managed-identity", "APIM policies carry no x-functions-key, no code= and no literal "
          "authentication-basic password.", _policies),
    _rule("backends-carry-no-function-keys", "APIM backends send no function key in their credentials.", _backends),
]


def violations(resource_type: str, props: Mapping[str, Any], name: str = "resource",
               urn: Optional[str] = None) -> list[tuple[str, str]]:
    """Run every rule on one resource; ``[(rule name, message), ...]`` (what the engine would report)."""
    from pulumi_policy.policy import PolicyResourceOptions
    from pulumi_policy.proxy import unknown_checking_proxy

    # As the engine does: props behind the proxy that raises on values unknown during preview.
    opts = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=None, additional_secret_outputs=[])
    args = ResourceValidationArgs(resource_type, unknown_checking_proxy(dict(props)),
                                  urn or f"urn:pulumi:stack::project::{resource_type}::{name}", name, opts, None)
    found: list[tuple[str, str]] = []
    for rule in RULES:
        rule.validate(args, lambda message, urn=None, rule=rule: found.append((rule.name, message)))
    return found
