"""Every input we send holds to Azure's published contract (the generated REST API types in ../shared/azure-types).

The facts live in ``components/apim_lastmile/azure_contract.json`` (extracted by ``python -m apim_lastmile.contract``);
these tests prove they are what Microsoft's types say, that the dev and prod plans (and, through helpers.run, every
component test's run) send nothing Azure would refuse, that the check fails when one input breaks a constraint, and
that our own naming rules accept only names Azure accepts.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apim_lastmile import contract, naming
from apim_lastmile.api import HTTP_METHODS, _operation_id
from apim_lastmile.keyvault_backend import named_value_names, vault_name_prefix
from apim_lastmile.plan import plan_stack

REPO = Path(__file__).resolve().parents[1]
TYPES_DIR = REPO.parent / "shared" / "azure-types"


@pytest.fixture(scope="module")
def plans():
    return {stack: plan_stack(stack, REPO) for stack in ("dev", "prod")}


def test_committed_facts_are_what_microsofts_types_say():
    if not (TYPES_DIR / "README.md").is_file():
        pytest.fail(f"Azure's types not found at {TYPES_DIR}: put shared/ beside the repo")
    committed = json.loads(contract.FACTS_FILE.read_text())
    assert contract.extract(TYPES_DIR) == committed, "stale azure_contract.json: run python -m apim_lastmile.contract ../shared/azure-types"


def test_supplements_name_their_source_and_a_path_the_types_have():
    committed = json.loads(contract.FACTS_FILE.read_text())["types"]
    for extra in contract.SUPPLEMENTS:
        assert extra["path"] in committed[extra["token"]]["paths"], extra
        assert extra["source"].startswith(("Azure/azure-rest-api-specs specification/", "learn.microsoft.com/")), extra
        assert contract.facts()[extra["token"]]["paths"][extra["path"]]["supplementedBy"] == extra["source"]


def test_every_type_records_its_source_and_api_version():
    for token, facts in contract.facts().items():
        wire = contract.WIRES[token]
        assert facts["apiVersion"] == wire.api_version and facts["source"]["types"].endswith(f"{wire.api_version}/types.json")
        assert facts["source"]["spec"].startswith("Azure/azure-rest-api-specs specification/")
        assert (TYPES_DIR / facts["source"]["types"]).is_file()


def test_api_versions_are_the_ones_the_sdk_uses():
    """The facts are of the api-version each azure-native class sends (its docstring names it)."""
    import importlib
    import inspect
    import re as re_

    for token, wire in contract.WIRES.items():
        _, module, cls = token.split(":")
        source = Path(inspect.getsourcefile(getattr(importlib.import_module(f"pulumi_azure_native.{module}"), cls))).read_text()
        used = re_.search(r"Uses Azure REST API version (\S+?)\.", source).group(1)
        # Microsoft.Web 2025-05-01 is not in the types snapshot: its 2025-03-01 types stand in (see the WIRES note).
        assert used == wire.api_version or (used, wire.api_version) == ("2025-05-01", "2025-03-01"), token


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_inputs_hold_to_azure_contract(plans, stack):
    plan = plans[stack]
    registered = {r.type for r in plan.registrations if r.custom and r.type.startswith("azure-native:")}
    assert registered <= set(contract.WIRES), f"azure-native types without contract facts: {registered - set(contract.WIRES)}"
    findings = contract.check_plan(plan.registrations)
    assert findings == [], "\n".join(map(str, findings))


def first(plans, token):
    for stack in ("dev", "prod"):
        for r in plans[stack].registrations:
            if r.type == token:
                return copy.deepcopy(r.plain_inputs)
    raise AssertionError(token)


def _set(inputs, path, value):
    *head, last = path.split(".")
    node = inputs
    for key in head:
        node = node.setdefault(key, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()
APIM = "azure-native:apimanagement:ApiManagementService"
MUTATIONS = [
    # (type, wire path, bad value, what the finding must say)
    (APIM, "sku.name", "Gold", "expected a documented value"),
    (APIM, "sku.capacity", 1.5, "whole number"),
    (APIM, "serviceName", "1-apim", "does not match"),
    (APIM, "publisherEmail", "a" * 95 + "@x.com", "longer than 100"),
    (APIM, "publisherName", _DELETE, "required by Azure"),
    (APIM, "gatewayUrl", "https://spoofed.azure-api.net", "read-only"),
    (APIM, "identity.type", "Robot", "expected a documented value"),
    (APIM, "resourceGroupName", "rg/evil", "does not match"),
    (APIM, "virtualNetworkTyp", "None", "not a property"),
    ("azure-native:apimanagement:NamedValue", "namedValueId", "a*b", "does not match"),
    ("azure-native:apimanagement:NamedValue", "displayName", "has space", "does not match"),
    ("azure-native:apimanagement:NamedValue", "value", "x" * 4097, "longer than 4096"),
    ("azure-native:apimanagement:Api", "path", "p" * 401, "longer than 400"),
    ("azure-native:apimanagement:Api", "protocols", "https", "expected a list"),
    ("azure-native:apimanagement:ApiOperation", "operationId", "o" * 81, "longer than 80"),
    ("azure-native:apimanagement:ApiOperation", "urlTemplate", _DELETE, "required by Azure"),
    ("azure-native:apimanagement:ApiPolicy", "format", "json", "expected a documented value"),
    ("azure-native:apimanagement:Backend", "backendId", "", "shorter than 1"),
    ("azure-native:apimanagement:Backend", "tls.validateCertificateChain", "yes", "true or false"),
    ("azure-native:keyvault:Vault", "vaultName", "kv_with_underscore", "does not match"),
    ("azure-native:keyvault:Vault", "properties.sku.name", "Standard", "expected one of premium, standard"),
    ("azure-native:keyvault:Vault", "properties.tenantId", "not-a-tenant", "shorter than 36"),
    ("azure-native:keyvault:Vault", "properties.vaultUri", "https://x.vault.azure.net/", None),  # settable in the contract
    ("azure-native:keyvault:Secret", "secretName", "a.b", "does not match"),
    ("azure-native:keyvault:Secret", "vaultName", "kv.bad", "does not match"),
    ("azure-native:storage:StorageAccount", "accountName", "Upper", "does not match"),
    ("azure-native:storage:StorageAccount", "minimumTlsVersion", "TLS1_9", "expected a documented value"),
    ("azure-native:storage:StorageAccount", "enableHttpsTrafficOnly", "true", "true or false"),
    ("azure-native:storage:BlobContainer", "containerName", "ab", "shorter than 3"),
    ("azure-native:storage:BlobContainer", "accountName", "x" * 25, "longer than 24"),
    ("azure-native:web:WebApp", "siteConfig.minTlsVersion", "1.4", "expected a documented value"),
    ("azure-native:web:WebApp", "siteConfig.bogusSetting", True, "not a property"),
    ("azure-native:web:WebApp", "functionAppConfig.runtime.name", "cobol", "expected a documented value"),
    ("azure-native:web:WebApp", "defaultHostName", "evil.example", "read-only"),
    ("azure-native:web:AppServicePlan", "sku", "FC1", "expected an object"),
    ("azure-native:web:WebAppAuthSettingsV2", "globalValidation.unauthenticatedClientAction", "Return402", "expected one of"),
    ("azure-native:web:WebAppAuthSettingsV2", "identityProviders.azureActiveDirectory.validation.allowedAudiences", "x", "expected a list"),
    ("azure-native:web:WebAppFtpAllowed", "allow", _DELETE, "required by Azure"),
    ("azure-native:authorization:RoleAssignment", "principalType", "Robot", "expected a documented value"),
    ("azure-native:authorization:RoleAssignment", "principalId", _DELETE, "required by Azure"),
    # Rules the specs state only in words, or Microsoft's docs state (contract.SUPPLEMENTS):
    ("azure-native:authorization:RoleAssignment", "roleAssignmentName", "reader-role", "does not match"),
    ("azure-native:keyvault:Vault", "properties.softDeleteRetentionInDays", 5, "below the minimum 7"),
    ("azure-native:keyvault:Vault", "properties.softDeleteRetentionInDays", 91, "above the maximum 90"),
    ("azure-native:web:WebApp", "functionAppConfig.scaleAndConcurrency.instanceMemoryMB", 1024, "expected one of 512, 2048, 4096"),
    ("azure-native:web:WebApp", "functionAppConfig.scaleAndConcurrency.maximumInstanceCount", 1001, "above the maximum 1000"),
    ("azure-native:resources:ResourceGroup", "resourceGroupName", "r" * 91, "longer than 90"),
]


@pytest.mark.parametrize("token,path,value,problem", MUTATIONS, ids=[f"{m[0].split(':')[-1]}.{m[1]}" for m in MUTATIONS])
def test_one_broken_input_is_reported(plans, token, path, value, problem):
    inputs = first(plans, token)
    assert contract.check(token, inputs) == []
    _set(inputs, path, value)
    findings = contract.check(token, inputs)
    if problem is None:
        assert findings == []
        return
    assert any(problem in f.problem for f in findings), findings
    assert str(findings[0]).startswith(token)


def test_a_managed_identity_mutation_in_a_recorded_plan_fails_the_run_check(plans):
    """The check the component tests run after every mock run (helpers.assert_azure_accepts) fails on one bad input."""
    from helpers import assert_azure_accepts

    plan = copy.deepcopy(plans["dev"])
    assert_azure_accepts(plan)
    vault = next(r for r in plan.registrations if r.type == "azure-native:keyvault:Vault")
    vault.inputs["properties"]["sku"]["name"] = "gold"
    with pytest.raises(AssertionError, match="properties.sku.name"):
        assert_azure_accepts(plan)


def test_other_providers_are_not_judged():
    assert contract.check("azuread:index/applicationRegistration:ApplicationRegistration", {"anything": 1}) == []


# ---- our naming rules against Azure's name facts ----

def name_facts(token):
    return contract.facts()[token]["paths"]["name"]


def azure_accepts(facts, value) -> bool:
    return contract._value_problem(facts, value) is None


NAME_RULES = [
    (naming.APIM_SERVICE, name_facts(APIM)),
    (naming.STORAGE_ACCOUNT, name_facts("azure-native:storage:StorageAccount")),
    (naming.KEY_VAULT, name_facts("azure-native:keyvault:Vault")),
    (naming.KEY_VAULT_SECRET, name_facts("azure-native:keyvault:Secret")),
    (naming.BLOB_CONTAINER, name_facts("azure-native:storage:BlobContainer")),
    (naming.RESOURCE_GROUP, name_facts("azure-native:resources:ResourceGroup")),
    (naming.API_PATH, contract.facts()["azure-native:apimanagement:Api"]["paths"]["properties.path"]),
]
ALPHABET = "abzAZ09-_.()/~*#é"


@pytest.mark.parametrize("rule,facts", NAME_RULES, ids=[r.what for r, _ in NAME_RULES])
def test_naming_rule_bounds_sit_inside_azures(rule, facts):
    assert rule.max_len <= facts.get("maxLength", rule.max_len) and rule.min_len >= facts.get("minLength", 0)
    longest = ("a" * rule.max_len)
    assert rule.check("k", longest) and azure_accepts(facts, longest)


@pytest.mark.parametrize("rule,facts", NAME_RULES, ids=[r.what for r, _ in NAME_RULES])
@settings(max_examples=300, deadline=None)
@given(candidate=st.text(alphabet=ALPHABET, max_size=130))
def test_every_name_our_rule_accepts_azure_accepts(rule, facts, candidate):
    try:
        rule.check("k", candidate)
    except ValueError:
        return
    assert azure_accepts(facts, candidate), (rule.what, candidate)


@settings(max_examples=300, deadline=None)
@given(name=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,39}", fullmatch=True))
def test_ids_derived_from_a_component_name_are_valid_apim_ids(name):
    """A component name names the API, the backend and the named values: each must be a valid APIM id."""
    naming.COMPONENT_NAME.check("name", name)
    types = contract.facts()
    assert azure_accepts(types["azure-native:apimanagement:Api"]["paths"]["name"], name)
    assert azure_accepts(types["azure-native:apimanagement:Backend"]["paths"]["name"], name)
    named_value = types["azure-native:apimanagement:NamedValue"]["paths"]
    for nv in named_value_names(name).values():
        assert azure_accepts(named_value["name"], nv) and azure_accepts(named_value["properties.displayName"], nv)
    prefix = vault_name_prefix(name)
    assert azure_accepts(types["azure-native:keyvault:Vault"]["paths"]["name"], prefix + "a1b2c3")


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(HTTP_METHODS), template=st.from_regex(r"/[A-Za-z0-9._~{}*/-]{0,200}", fullmatch=True))
def test_operation_ids_are_valid_apim_ids(method, template):
    assert azure_accepts(contract.facts()["azure-native:apimanagement:ApiOperation"]["paths"]["name"], _operation_id(method, template))


def test_lastmile_plan_fails_when_azure_would_refuse_an_input(monkeypatch, capsys):
    from apim_lastmile.cli import main

    real = contract.check

    def stricter(token, inputs, known=None):
        found = real(token, inputs, known)
        if token == APIM:
            found.append(contract.Finding(token, "sku.name", inputs["sku"]["name"], "expected a documented value"))
        return found

    assert main(["plan", "dev", "--project-dir", str(REPO)]) == 0
    monkeypatch.setattr(contract, "check", stricter)
    assert main(["plan", "dev", "--project-dir", str(REPO)]) == 1
    err = capsys.readouterr().err
    assert "Azure would refuse: azure-native:apimanagement:ApiManagementService sku.name: 'Consumption'" in err


# ---- role assignments: named like Bicep's guid(scope, principal, role), replaced delete-first ----

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_role_assignments_have_deterministic_names_and_are_replaced_delete_first(plans, stack):
    from apim_lastmile.roles import assignment_name

    grants = [r for r in plans[stack].registrations if r.type == "azure-native:authorization:RoleAssignment"]
    assert grants
    names = set()
    for grant in grants:
        inputs = grant.plain_inputs
        guid = inputs["roleDefinitionId"].rsplit("/", 1)[1]
        assert inputs["roleAssignmentName"] == assignment_name(inputs["scope"], inputs["principalId"], guid)
        assert inputs["principalType"] == "ServicePrincipal"  # no PrincipalNotFound for a brand-new identity
        assert grant.delete_before_replace, f"{grant.name}: a create-first replacement would hit RoleAssignmentExists"
        names.add(inputs["roleAssignmentName"])
    assert len(names) == len(grants)
    again = plan_stack(stack, REPO)
    assert sorted(r.plain_inputs["roleAssignmentName"] for r in again.registrations
                  if r.type == "azure-native:authorization:RoleAssignment") == sorted(names)


def test_assignment_name_changes_with_principal_scope_and_role():
    from apim_lastmile.roles import assignment_name

    base = assignment_name("/subscriptions/s/resourceGroups/rg", "11111111-1111-4111-8111-111111111111", "r1")
    assert base == assignment_name("/subscriptions/S/resourcegroups/RG", "11111111-1111-4111-8111-111111111111".upper(), "R1")
    assert len({base, assignment_name("/subscriptions/s/resourceGroups/rg2", "11111111-1111-4111-8111-111111111111", "r1"),
                assignment_name("/subscriptions/s/resourceGroups/rg", "22222222-1111-4111-8111-111111111111", "r1"),
                assignment_name("/subscriptions/s/resourceGroups/rg", "11111111-1111-4111-8111-111111111111", "r2")}) == 4
