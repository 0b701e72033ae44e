"""The policy pack's rules: compliant resources pass, each non-compliant one is reported, and every resource the
dev and prod stacks declare passes while each single-property mutation of them is caught."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

from apim_lastmile.roles import BROAD_ROLES

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "policypack"))

import lastmile_rules as rules  # noqa: E402
from helpers import stack_plan

SUB = "00000000-0000-4000-8000-000000000001"
SP = "ServicePrincipal"


def rule_hits(resource_type, props, name="r"):
    return sorted({rule for rule, _ in rules.violations(resource_type, props, name)})


# --- each rule: one compliant and one non-compliant resource ------------------------------------------------

EASY_AUTH = {
    "platform": {"enabled": True},
    "globalValidation": {"requireAuthentication": True, "unauthenticatedClientAction": "Return401"},
    "identityProviders": {"azureActiveDirectory": {"enabled": True, "validation": {
        "defaultAuthorizationPolicy": {"allowedPrincipals": {"identities": ["11111111-1111-4111-8111-111111111111"]}}}}},
}
FUNCTION_APP = {"kind": "functionapp,linux", "httpsOnly": True, "siteConfig": {"minTlsVersion": "1.2", "ftpsState": "Disabled"}}
VAULT = {"properties": {"enableRbacAuthorization": True, "enablePurgeProtection": True, "enableSoftDelete": True}}
GOOD_POLICY = ('<policies><inbound><base/><authentication-basic username="{{u}}" password="{{p}}"/>'
               '<authentication-managed-identity resource="api://x"/></inbound></policies>')

CASES = [
    # rule, type, compliant props, non-compliant props
    ("apim-has-managed-identity", "azure-native:apimanagement:ApiManagementService",
     {"identity": {"type": "SystemAssigned"}}, {"identity": {"type": "None"}}),
    ("apim-has-managed-identity", "azure-native:apimanagement/v20240501:ApiManagementService",
     {"identity": {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/x/id": {}}}}, {"identity": {"type": "UserAssigned"}}),
    ("easy-auth-refuses-anonymous", "azure-native:web:WebAppAuthSettingsV2", EASY_AUTH,
     {**EASY_AUTH, "globalValidation": {"requireAuthentication": True, "unauthenticatedClientAction": "AllowAnonymous"}}),
    ("easy-auth-refuses-anonymous", "azure-native:web:WebAppAuthSettingsV2Slot",
     {**EASY_AUTH, "identityProviders": {"azureActiveDirectory": {"enabled": True, "validation": {
         "defaultAuthorizationPolicy": {"allowedApplications": ["22222222-2222-4222-8222-222222222222"]}}}}},
     {**EASY_AUTH, "identityProviders": {"azureActiveDirectory": {"enabled": True, "validation": {}}}}),
    ("function-app-hardened", "azure-native:web:WebApp", FUNCTION_APP, {**FUNCTION_APP, "httpsOnly": False}),
    ("function-app-hardened", "azure-native:web:WebAppFtpAllowed", {"allow": False}, {"allow": True}),
    ("key-vault-rbac-purge-protection", "azure-native_keyvault_v20260201:keyvault:Vault", VAULT,
     {"properties": {"enableRbacAuthorization": False, "enablePurgeProtection": True}}),
    ("no-broad-role-for-service-principals", "azure-native:authorization:RoleAssignment",
     {"principalType": SP, "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"},
     {"principalType": SP, "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{BROAD_ROLES['Owner']}"}),
    ("secret-named-values-from-key-vault", "azure-native:apimanagement:NamedValue",
     {"secret": True, "keyVault": {"secretIdentifier": "https://kv.vault.azure.net/secrets/p"}}, {"secret": True, "value": "hunter2"}),
    ("policies-use-managed-identity", "azure-native:apimanagement:ApiPolicy", {"value": GOOD_POLICY},
     {"value": GOOD_POLICY.replace('password="{{p}}"', 'password="hunter2"')}),
    ("policies-use-managed-identity", "azure-native:apimanagement:ApiOperationPolicy", {"value": GOOD_POLICY},
     {"value": GOOD_POLICY.replace("</inbound>", '<set-header name="x-functions-key" exists-action="override"><value>k</value></set-header></inbound>')}),
    ("policies-use-managed-identity", "azure-native:apimanagement:Policy", {"value": GOOD_POLICY},
     {"value": GOOD_POLICY.replace("</inbound>", '<rewrite-uri template="/api/run?code=abc"/></inbound>')}),
    ("backends-carry-no-function-keys", "azure-native:apimanagement:Backend",
     {"url": "https://f.azurewebsites.net/api", "credentials": {"header": {"x-ms-version": ["1"]}}},
     {"url": "https://f.azurewebsites.net/api", "credentials": {"header": {"x-functions-key": ["{{f-key}}"]}}}),
    ("backends-carry-no-function-keys", "azure-native:apimanagement:Backend",
     {"url": "https://erp.contoso.com", "credentials": {"authorization": {"scheme": "Basic", "parameter": "{{erp-basic}}"}}},
     {"url": "https://erp.contoso.com", "credentials": {"authorization": {"scheme": "Basic", "parameter": "c3ZjOmh1bnRlcjI="}}}),
    ("backends-carry-no-function-keys", "azure-native:apimanagement:Backend",
     {"url": "https://contoso.blob.core.windows.net/c"}, {"url": "https://contoso.blob.core.windows.net/c?sv=2022-11-02&sig=Zm9v"}),
    ("loggers-use-managed-identity", "azure-native:apimanagement:Logger",
     {"loggerType": "applicationInsights", "credentials": {"connectionString": "InstrumentationKey=x;IngestionEndpoint=https://x/",
                                                          "identityClientId": "SystemAssigned"}},
     {"loggerType": "applicationInsights", "credentials": {"instrumentationKey": "00000000-0000-0000-0000-000000000000"}}),
    ("loggers-use-managed-identity", "azure-native:apimanagement:WorkspaceLogger",
     {"loggerType": "azureEventHub", "credentials": {"endpointAddress": "ns.servicebus.windows.net", "name": "hub",
                                                    "identityClientId": "SystemAssigned"}},
     {"loggerType": "azureEventHub", "credentials": {"connectionString": "Endpoint=sb://ns/;SharedAccessKeyName=a;SharedAccessKey=b",
                                                    "name": "hub"}}),
    ("app-telemetry-uses-entra", "azure-native:web:WebApp",
     {**FUNCTION_APP, "siteConfig": {**FUNCTION_APP["siteConfig"], "appSettings": [
         {"name": "APPLICATIONINSIGHTS_CONNECTION_STRING", "value": "InstrumentationKey=x;IngestionEndpoint=https://x/"},
         {"name": "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "value": "Authorization=AAD"}]}},
     {**FUNCTION_APP, "siteConfig": {**FUNCTION_APP["siteConfig"], "appSettings": [
         {"name": "APPLICATIONINSIGHTS_CONNECTION_STRING", "value": "InstrumentationKey=x;IngestionEndpoint=https://x/"}]}}),
    ("app-telemetry-uses-entra", "azure-native:web:WebAppApplicationSettings",
     {"properties": {"FUNCTIONS_EXTENSION_VERSION": "~4"}}, {"properties": {"APPINSIGHTS_INSTRUMENTATIONKEY": "00000000-0000-0000-0000-000000000000"}}),
    ("diagnostics-log-no-credentials", "azure-native:apimanagement:ApiDiagnostic",
     {"loggerId": "/l", "frontend": {"request": {"headers": ["x-correlation-id"]}}},
     {"loggerId": "/l", "frontend": {"request": {"headers": ["x-correlation-id", "Authorization"]}}}),
    ("diagnostics-log-no-credentials", "azure-native:apimanagement:Diagnostic",
     {"loggerId": "/l", "backend": {"response": {"headers": []}}},
     {"loggerId": "/l", "backend": {"response": {"headers": ["Set-Cookie"]}}}),
    ("access-restrictions-not-open", "azure-native:web:WebAppSlot",
     {"siteConfig": {"ipSecurityRestrictions": [{"ipAddress": "203.0.113.7/32", "action": "Allow"}], "ipSecurityRestrictionsDefaultAction": "Deny"}},
     {"siteConfig": {"scmIpSecurityRestrictions": [{"ipAddress": "Any", "action": "Allow"}]}}),
]


@pytest.mark.parametrize("rule, typ, good, bad", CASES, ids=[f"{c[0]}:{c[1].rsplit(':', 1)[1]}" for c in CASES])
def test_rule_passes_compliant_and_reports_non_compliant(rule, typ, good, bad):
    assert rule_hits(typ, good) == []
    assert rule_hits(typ, bad) == [rule]


def test_the_pack_and_the_library_agree_on_which_headers_may_carry_a_credential():
    from apim_lastmile import telemetry
    import credentials

    assert credentials.CREDENTIAL_HEADER_PARTS == telemetry.CREDENTIAL_HEADER_PARTS


def test_every_rule_has_a_case_and_the_pack_is_mandatory():
    assert {r.name for r in rules.RULES} == {c[0] for c in CASES}
    assert {r.name for r in rules.STACK_RULES} == {"credential-named-values-from-key-vault", "backend-apps-reachable-only-from-the-gateway",
                                                   "private-backend-apps-have-an-endpoint"}
    assert rules.ALL_RULES == [*rules.RULES, *rules.STACK_RULES]
    advisory = {"backend-apps-reachable-only-from-the-gateway", "private-backend-apps-have-an-endpoint"}
    assert all(r.enforcement_level.value == ("advisory" if r.name in advisory else "mandatory") for r in rules.ALL_RULES)
    assert all(r.description for r in rules.ALL_RULES)


def test_the_pack_enforces_every_rule():
    assert "policies=ALL_RULES" in (REPO / "policypack" / "__main__.py").read_text()
    assert "lxml" in (REPO / "policypack" / "requirements.txt").read_text()


def test_broad_role_ids_match_the_library():
    assert rules.BROAD_ROLE_IDS == {guid: name for name, guid in BROAD_ROLES.items()}


@pytest.mark.parametrize("role", sorted(BROAD_ROLES))
def test_each_broad_role_is_reported_for_service_principals_but_not_users(role):
    props = {"principalType": SP, "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{BROAD_ROLES[role].upper()}"}
    assert rule_hits("azure-native:authorization:RoleAssignment", props) == ["no-broad-role-for-service-principals"]
    assert rule_hits("azure-native:authorization:RoleAssignment", {k: v for k, v in props.items() if k != "principalType"})
    assert rule_hits("azure-native:authorization:RoleAssignment", {**props, "principalType": "User"}) == []


@pytest.mark.parametrize("text", [
    '<policies><inbound><authentication-basic username="u" password="@(&quot;hunter2&quot;)"/></inbound></policies>',
    '<policies><inbound><set-query-parameter name="code" exists-action="override"><value>k</value></set-query-parameter>'
    '<rewrite-uri template="/x?a=1&amp;code=2"/></inbound></policies>',
    '<policies><inbound><authentication-basic username="u" password="plain" </inbound>',  # not even XML: not inspectable
])
def test_policy_findings_see_through_disguises(text):
    assert rules.policy_findings(text, "p")


def test_a_policy_that_does_not_parse_is_reported_as_not_inspectable():
    found = rules.policy_findings('<policies><inbound><authentication-basic username="u" password="plain" </inbound>', "p")
    assert len(found) == 1 and "cannot be inspected" in found[0] and "does not parse" in found[0]


def test_policy_expressions_and_named_values_are_not_literals():
    for value in ('{{erp-password}}', '@((string)context.Variables["lastmileSecret"])'):
        assert rules.policy_findings(f'<policies><inbound><authentication-basic username="u" password="{value.replace(chr(34), "&quot;")}"/>'
                                     "</inbound></policies>", "p") == []
    assert rules.policy_findings('<policies><inbound><set-header name="zipcode=1"/><rewrite-uri template="/a?zipcode=1"/>'
                                 '<return-response><set-status code="502" reason="Bad Gateway"/></return-response></inbound></policies>', "p") == []


def test_a_value_unknown_during_preview_is_left_to_the_engine():
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

    with pytest.raises(UnknownValueError):
        rules.violations("azure-native:apimanagement:ApiPolicy", {"value": UNKNOWN_STRING_VALUE})


def test_other_resources_are_ignored():
    assert rules.violations("aws:s3/bucket:Bucket", {"acl": "public-read"}) == []
    assert rules.violations("azure-native:web:WebApp", {"kind": "app", "httpsOnly": False}) == []


# --- every resource of the dev and prod stacks, as declared, then mutated -----------------------------------

@pytest.fixture(scope="module")
def stack_resources():
    """Every resource the dev and prod stacks declare: (type, "stack/name", wire inputs)."""
    resources = []
    for stack in ("dev", "prod"):
        resources += [(r.type, f"{stack}/{r.name}", r.plain_inputs) for r in stack_plan(stack).registrations if r.custom]
    return resources


def test_every_declared_resource_passes_every_rule(stack_resources):
    assert {n.split("/")[0] for _, n, _ in stack_resources} == {"dev", "prod"} and len(stack_resources) > 100
    found = [(name, hits) for typ, name, props in stack_resources if (hits := rules.violations(typ, props, name))]
    assert found == []


def _set(path, value):
    def change(props):
        *parents, last = path
        for key in parents:
            props = props.setdefault(key, {})
        if value is KeyError:
            props.pop(last, None)
        else:
            props[last] = value
    return change


def _replace_in_policy(old, new):
    def change(props):
        assert old in props["value"]
        props["value"] = props["value"].replace(old, new, 1)
    return change


# (type, which resource, mutation, rule that must catch it)
MUTATIONS = [
    ("azure-native:apimanagement:ApiManagementService", None, _set(("identity",), KeyError), "apim-has-managed-identity"),
    ("azure-native:apimanagement:ApiManagementService", None, _set(("identity", "type"), "None"), "apim-has-managed-identity"),
    ("azure-native:web:WebAppAuthSettingsV2", None, _set(("globalValidation", "requireAuthentication"), False), "easy-auth-refuses-anonymous"),
    ("azure-native:web:WebAppAuthSettingsV2", None, _set(("globalValidation", "unauthenticatedClientAction"), "AllowAnonymous"), "easy-auth-refuses-anonymous"),
    ("azure-native:web:WebAppAuthSettingsV2", None, _set(("globalValidation", "unauthenticatedClientAction"), "RedirectToLoginPage"), "easy-auth-refuses-anonymous"),
    ("azure-native:web:WebAppAuthSettingsV2", None, _set(("platform", "enabled"), False), "easy-auth-refuses-anonymous"),
    ("azure-native:web:WebAppAuthSettingsV2", None,
     _set(("identityProviders", "azureActiveDirectory", "validation", "defaultAuthorizationPolicy"), KeyError), "easy-auth-refuses-anonymous"),
    ("azure-native:web:WebApp", None, _set(("httpsOnly",), False), "function-app-hardened"),
    ("azure-native:web:WebApp", None, _set(("siteConfig", "minTlsVersion"), "1.0"), "function-app-hardened"),
    ("azure-native:web:WebApp", None, _set(("siteConfig", "minTlsVersion"), "1.1"), "function-app-hardened"),
    ("azure-native:web:WebApp", None, _set(("siteConfig", "ftpsState"), "AllAllowed"), "function-app-hardened"),
    ("azure-native:web:WebApp", None, _set(("siteConfig", "ftpsState"), "FtpsOnly"), "function-app-hardened"),
    ("azure-native:web:WebAppFtpAllowed", None, _set(("allow",), True), "function-app-hardened"),
    ("azure-native_keyvault_v20260201:keyvault:Vault", None, _set(("properties", "enableRbacAuthorization"), False), "key-vault-rbac-purge-protection"),
    ("azure-native_keyvault_v20260201:keyvault:Vault", None, _set(("properties", "enablePurgeProtection"), KeyError), "key-vault-rbac-purge-protection"),
    *[("azure-native:authorization:RoleAssignment", None,
       _set(("roleDefinitionId",), f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
       "no-broad-role-for-service-principals") for guid in BROAD_ROLES.values()],
    ("azure-native:apimanagement:NamedValue", "password", _set(("keyVault",), KeyError), "secret-named-values-from-key-vault"),
    ("azure-native:apimanagement:ApiPolicy", "orders-policy",
     _replace_in_policy("</inbound>", '<set-header name="x-functions-key" exists-action="override"><value>{{orders-key}}</value></set-header></inbound>'),
     "policies-use-managed-identity"),
    ("azure-native:apimanagement:ApiPolicy", "orders-policy",
     _replace_in_policy("</inbound>", '<rewrite-uri template="/orders?code=abc123"/></inbound>'), "policies-use-managed-identity"),
    ("azure-native:apimanagement:ApiPolicy", "legacy-policy|erp-policy",
     _replace_in_policy('password="', 'password="hunter2" x="'), "policies-use-managed-identity"),
    ("azure-native:apimanagement:ApiPolicy", "legacy-policy|erp-policy",
     _replace_in_policy('password="{{', 'password="@(&quot;hun&quot; + &quot;ter2&quot;)" x="{{'), "policies-use-managed-identity"),
    ("azure-native:apimanagement:ApiPolicy", None, _set(("format",), "rawxml-link"), "policies-use-managed-identity"),
    ("azure-native:apimanagement:ApiPolicy", None, _set(("format",), "json"), "policies-use-managed-identity"),
]


def _targets(resources, typ, which):
    found = [(t, n, p) for t, n, p in resources if t == typ and (which is None or any(w in n for w in which.split("|")))]
    if typ == "azure-native:apimanagement:NamedValue":
        found = [(t, n, p) for t, n, p in found if p.get("secret") is True]
    return found


@pytest.mark.parametrize("typ, which, mutate, rule", MUTATIONS,
                         ids=[f"{i}-{m[3]}-{m[0].rsplit(':', 1)[1]}" for i, m in enumerate(MUTATIONS)])
def test_each_single_property_mutation_is_reported(stack_resources, typ, which, mutate, rule):
    targets = _targets(stack_resources, typ, which)
    assert targets, f"neither stack declares a {typ} {which or ''} to mutate"
    for _, name, props in targets:
        mutated = copy.deepcopy(props)
        mutate(mutated)
        assert rule in rule_hits(typ, mutated, name), (name, rule)


# --- the stack rule: the named value behind a password, across resources ---------------------------------------

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_rule_catches_a_password_named_value_moved_out_of_key_vault(stack_resources, stack):
    resources = [(typ, props, name) for typ, name, props in stack_resources if name.startswith(f"{stack}/")]
    assert rules.stack_violations(resources) == []
    mutated = []
    for typ, props, name in resources:
        props = copy.deepcopy(props)
        if typ == "azure-native:apimanagement:NamedValue" and props.get("keyVault"):
            props.pop("keyVault")
            props["value"] = "hunter2"
        mutated.append((typ, props, name))
    found = rules.stack_violations(mutated)
    assert found and {rule for rule, _, _ in found} == {"credential-named-values-from-key-vault"}
    assert all("one step removed" in message for _, message, _ in found)


def test_the_pack_is_split_by_concern_and_imports_no_library():
    """Each module of the pack reads on its own: none is over 600 lines, none imports apim_lastmile, and the modules
    import one another without a cycle (a module only imports those listed before it)."""
    import re as re_
    from pathlib import Path

    order = ["pack_base", "credentials", "resource_rules", "stack_rules", "network_rules", "lastmile_rules"]
    pack = Path(__file__).resolve().parents[1] / "policypack"
    assert {p.stem for p in pack.glob("*.py")} == {*order, "__main__"}
    # Reading policies and finding credentials: one copy, lastmile audit's, linked into the pack. The modules the pack
    # imports from it reach nothing outside that package (no apim_lastmile, no relative import above it).
    shared = pack / "lastmile_audit"
    assert shared.is_symlink() and shared.resolve() == (pack.parent / "components/apim_lastmile/tools/audit").resolve()
    for name in ("apim_reading", "reading", "detector"):
        text = (shared / f"{name}.py").read_text()
        assert not re_.search(r"^\s*(from|import) (apim_lastmile|\.\.)", text, re_.M), name
    for index, name in enumerate(order):
        text = (pack / f"{name}.py").read_text()
        assert text.count("\n") <= 600 and not re_.search(r"^\s*(from|import) apim_lastmile", text, re_.M)
        imported = set(re_.findall(r"^from (\w+) import", text, re_.M)) & set(order)
        assert imported <= set(order[:index]), (name, imported - set(order[:index]))
