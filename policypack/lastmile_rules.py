"""The passwordless-last-mile rules, as plain pulumi-policy ResourceValidationPolicy and StackValidationPolicy objects.

They look at any program's resources (not only apim-lastmile's), by type token in any API-version module, in
Pulumi's wire names (camelCase). Policies are read as APIM reads them: parsed (xml or rawxml, any case of the
format), references and CDATA resolved, expressions lexed as C#. This module only defines the rules: ``__main__.py``
puts them in a PolicyPack (constructing a PolicyPack starts a gRPC server, so tests import this module instead and
call each rule's ``validate``). No dependency on the apim-lastmile library, so the pack can guard any repository;
pure Python plus lxml.

The rules live in modules by concern: ``lastmile_audit`` (linked from the tools: parsing what APIM sees, and
``lastmile audit``'s credential detector), ``credentials`` (credential rules on it), ``resource_rules``, ``stack_rules`` (named values), ``network_rules``; ``pack_base`` is what they share.
This module assembles them, and re-exports the names tools and tests use.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy

from pack_base import BROAD_ROLE_IDS, _rule, _stack_rule, dig, is_type  # noqa: F401
from lastmile_audit.apim_reading import NOT_POLICY_DOCUMENTS, POLICY_TYPES, parse_policy, policy_resource  # noqa: F401
from credentials import _app_telemetry, _backends, _diagnostics, _loggers, _policies, policy_findings  # noqa: F401
from resource_rules import _apim_identity, _broad_roles, _easy_auth, _function_app, _key_vault, _named_values  # noqa: F401
from stack_rules import _named_value_backing  # noqa: F401
from network_rules import _DEDICATED_IP_TIERS, _VIRTUAL_NETWORK_TIERS, _access_restrictions, _open_backend_apps, _private_backend_endpoints  # noqa: F401

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
    _rule("policies-use-managed-identity", "APIM policies (every policy and policy-fragment type, xml or rawxml, "
          "read by an XML parser) carry no x-functions-key, no code= and no literal or constant password or key; a "
          "policy the pack cannot read is reported.", _policies),
    _rule("backends-carry-no-function-keys", "APIM backends send no function key in their credentials, and no other "
          "credential stored as a literal value.", _backends),
    _rule("app-telemetry-uses-entra", "Web and function apps send Application Insights telemetry with Microsoft Entra "
          "authentication, not an instrumentation key.", _app_telemetry),
    _rule("loggers-use-managed-identity", "APIM loggers authenticate with the gateway's managed identity, not an "
          "instrumentation key or a bare connection string.", _loggers),
    _rule("diagnostics-log-no-credentials", "APIM diagnostics log no request or response header that may carry a "
          "credential (Authorization, subscription keys, cookies, tokens).", _diagnostics),
    _rule("access-restrictions-not-open", "App access restrictions (site and SCM) have no allow-all entry.", _access_restrictions),
]


STACK_RULES = [
    _stack_rule("credential-named-values-from-key-vault", "A named value used as a password or key in a policy "
                "references Key Vault instead of holding the value.", _named_value_backing),
    _stack_rule("backend-apps-reachable-only-from-the-gateway", "An app behind an APIM backend is no more reachable than "
                "the gateway needs: where the stack's APIM sends backend traffic into a virtual network (Developer, "
                "Premium, StandardV2, PremiumV2 with virtualNetworkType External/Internal and a subnet), its public "
                "network access is disabled (network: private); where the tier has addresses of its own, it admits only "
                "them or is private (advisory).", _open_backend_apps, level=EnforcementLevel.ADVISORY),
    _stack_rule("private-backend-apps-have-an-endpoint", "An app behind an APIM backend whose public network access is "
                "disabled has, in the stack, a private endpoint to it (groupIds sites) with a DNS zone group naming "
                "privatelink.azurewebsites.net, behind a gateway with a virtual network: otherwise the gateway cannot "
                "resolve or reach it (advisory).", _private_backend_endpoints, level=EnforcementLevel.ADVISORY),
]
#: What the pack enforces (``__main__.py``): the per-resource rules and the stack rules.
ALL_RULES = [*RULES, *STACK_RULES]


def _policy_resource(resource_type: str, props: Mapping[str, Any], name: str, urn: Optional[str]):
    from pulumi_policy import PolicyResource
    from pulumi_policy.policy import PolicyResourceOptions
    from pulumi_policy.proxy import unknown_checking_proxy

    opts = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=None, additional_secret_outputs=[])
    return PolicyResource(resource_type, unknown_checking_proxy(dict(props)),
                          urn or f"urn:pulumi:stack::project::{resource_type}::{name}", name, opts, None, None, [], {})


def stack_violations(resources: Iterable[tuple[str, Mapping[str, Any], str]]) -> list[tuple[str, str, Optional[str]]]:
    """Run every stack rule on ``[(type, props, name), ...]``; ``[(rule name, message, urn), ...]``."""
    from pulumi_policy import StackValidationArgs

    args = StackValidationArgs([_policy_resource(t, p, n, None) for t, p, n in resources])
    found: list[tuple[str, str, Optional[str]]] = []
    for rule in STACK_RULES:
        rule.validate(args, lambda message, urn=None, rule=rule: found.append((rule.name, message, urn)))
    return found


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
