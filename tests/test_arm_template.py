"""`lastmile plan <stack> --arm`: the plan's Azure resources as an ARM deployment template, in ARM's shape, judged by
Microsoft's resource types in ../shared/azure-types (read afresh here, not the committed facts)."""

from __future__ import annotations

import copy
import functools
import json

import pytest

from apim_lastmile.tools import arm_template, cli, contract
from helpers import REPO, run, stack_plan

TYPES_DIR = REPO.parent / "shared" / "azure-types"


@functools.lru_cache(maxsize=None)
def _shared_types() -> dict:
    if not (TYPES_DIR / "README.md").is_file():
        pytest.fail(f"Azure's types not found at {TYPES_DIR}: put shared/ beside the repo")
    return contract.extract(TYPES_DIR)["types"]


@functools.lru_cache(maxsize=None)
def _template(stack: str) -> dict:
    return arm_template.to_template(stack_plan(stack))


def template(stack: str) -> dict:
    return copy.deepcopy(_template(stack))


def resources(stack: str, arm_type: str) -> list[dict]:
    return [r for r in arm_template.template_resources(template(stack)) if r["type"] == arm_type]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stacks_templates_validate_against_azures_types(stack):
    t = template(stack)
    assert arm_template.validate(t, _shared_types()) == []
    planned = [r for r in stack_plan(stack).registrations if r.custom and r.type in contract.WIRES
               and r.type != "azure-native:resources:ResourceGroup"]
    assert len(arm_template.template_resources(t)) == len(planned)
    assert t["metadata"]["resourceGroup"]["name"] == f"rg-lastmile-{stack}"


@pytest.mark.parametrize("mutate, expected", [
    (lambda r: r["properties"].update(notAProperty=1), "properties.notAProperty: not a property"),
    (lambda r: r["properties"].update(hsmPoolResourceId="x"), "properties.hsmPoolResourceId: 'x': read-only"),
    (lambda r: r["properties"]["sku"].update(name="gold"), "properties.sku.name: 'gold'"),
    (lambda r: r["properties"].pop("tenantId"), "properties.tenantId: required but not set"),
    (lambda r: r["properties"].update(enableRbacAuthorization="yes"), "expected true or false"),
    (lambda r: r.update(name="a/b"), "name: expected one segment per level"),
    (lambda r: r.update(apiVersion="2019-09-01"), "no Azure types for this type and API version"),
])
def test_the_validator_refuses_what_azure_refuses(mutate, expected):
    t = template("prod")
    vault = next(r for r in t["resources"] if r["type"] == "Microsoft.KeyVault/vaults")
    mutate(vault)
    problems = arm_template.validate(t, _shared_types())
    assert any(expected in p for p in problems), problems


def test_arm_shapes_not_the_sdks():
    account = resources("dev", "Microsoft.Storage/storageAccounts")[0]
    assert account["properties"]["supportsHttpsTrafficOnly"] is True  # the SDK's enableHttpsTrafficOnly
    assert "enableHttpsTrafficOnly" not in json.dumps(account)
    nsg = next(r for r in resources("prod", "Microsoft.Network/networkSecurityGroups") if r.get("properties", {}).get("securityRules"))
    rule = nsg["properties"]["securityRules"][0]
    assert set(rule) == {"name", "properties"} and "access" in rule["properties"]
    site = resources("prod", "Microsoft.Web/sites")[0]
    scale = site["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["maximumInstanceCount"] == 100 and type(scale["maximumInstanceCount"]) is int  # ARM's integer
    assert site["properties"]["siteConfig"]["minTlsVersion"] == "1.2"


def test_children_are_named_as_arm_names_them():
    names = {r["type"]: r["name"] for r in arm_template.template_resources(template("dev"))}
    assert names["Microsoft.Storage/storageAccounts/blobServices/containers"].split("/")[1:] in (["default", "app-package"], ["default", "raw"])
    assert names["Microsoft.Web/sites/config"].endswith("/authsettingsV2")
    assert names["Microsoft.ApiManagement/service/apis/operations"].count("/") == 2
    assignment = resources("dev", "Microsoft.Authorization/roleAssignments")[0]
    assert assignment["scope"].startswith("/subscriptions/") and "/providers/" in assignment["scope"]


def test_secret_values_are_secure_parameters_and_nothing_else_is_masked():
    t = template("prod")
    secret = next(r for r in t["resources"] if r["type"] == "Microsoft.KeyVault/vaults/secrets")
    (name, parameter), = t["parameters"].items()
    assert parameter["type"] == "securestring" and "defaultValue" not in parameter
    assert secret["properties"]["value"] == f"[parameters('{name}')]"
    assert secret["properties"]["contentType"] == "password"
    assert secret["properties"]["attributes"]["exp"] == 1767225600 + 90 * 86400  # the plan's fixed clock + 90 days
    assert "offline-placeholder-for-a-secure-value" not in json.dumps(t)
    assert "[secret]" not in json.dumps(t)


def test_the_dev_secret_generated_value_is_a_parameter_too():
    t = template("dev")
    secret = next(r for r in t["resources"] if r["type"] == "Microsoft.KeyVault/vaults/secrets")
    assert secret["properties"]["value"].startswith("[parameters(")
    assert "mock-" not in json.dumps(t)  # the generated password's plan value


def test_depends_on_names_template_resources():
    t = template("prod")
    ids = {r.outputs.get("id") for r in stack_plan("prod").registrations}
    site = resources("prod", "Microsoft.Web/sites")[0]
    assert any("/Microsoft.Web/serverfarms/" in d for d in site["dependsOn"])
    for r in arm_template.template_resources(t):
        assert set(r.get("dependsOn", [])) <= ids


def test_other_providers_are_listed_not_templated():
    listed = {x["type"] for x in template("prod")["metadata"]["notInTemplate"]}
    assert "azuread:index/applicationRegistration:ApplicationRegistration" in listed
    assert "time:index/rotating:Rotating" in listed
    assert not any(r["type"].startswith(("azuread", "random", "time")) for r in template("prod")["resources"])


def test_a_resource_in_another_group_goes_into_a_nested_deployment():
    import pulumi_azure_native as azn

    def program():
        azn.resources.ResourceGroup("rg", resource_group_name="rg-home", location="westeurope")
        azn.managedidentity.UserAssignedIdentity("far", resource_name_="id-far", resource_group_name="rg-far", location="westeurope")
        azn.managedidentity.UserAssignedIdentity("near", resource_name_="id-near", resource_group_name="rg-home")

    t = arm_template.to_template(run(program))
    top = {r["name"]: r for r in t["resources"]}
    assert top["id-near"]["location"] == "westeurope"  # the group's, as azure-native fills it in
    nested = top["lastmile-rg-far"]
    assert nested["type"] == "Microsoft.Resources/deployments" and nested["resourceGroup"] == "rg-far"
    assert [r["name"] for r in nested["properties"]["template"]["resources"]] == ["id-far"]
    assert arm_template.validate(t, _shared_types()) == []  # the nested template's resources are judged too
    nested["properties"]["template"]["resources"][0]["bogus"] = 1
    assert any("id-far: bogus: not a property" in p for p in arm_template.validate(t, _shared_types()))


def test_lastmile_plan_arm_prints_the_template(capsys, cached_plans):
    assert cli.main(["plan", "prod", "--arm", "--project-dir", str(REPO)]) == 0
    assert json.loads(capsys.readouterr().out) == _template("prod")


def test_arm_and_json_are_one_or_the_other(capsys):
    assert cli.main(["plan", "prod", "--arm", "--json"]) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_an_extension_resource_goes_where_the_resource_it_extends_lives():
    """prod grants the gateway's identity a role on Azure OpenAI accounts in another subscription: a resource-group
    deployment cannot place that grant, a nested deployment in that subscription and group can; what the grant waits
    for outside it, the nested deployment waits for."""
    t = template("prod")
    [nested] = [r for r in t["resources"] if r["type"] == "Microsoft.Resources/deployments"]
    assert (nested["subscriptionId"], nested["resourceGroup"]) == ("7c1e4b2a-5d3f-4a8e-9b6c-1f2e3d4c5b6a", "rg-ai-prod")
    inner = nested["properties"]["template"]["resources"]
    assert {r["type"] for r in inner} == {"Microsoft.Authorization/roleAssignments"} and len(inner) == 2
    assert all(r["scope"].startswith("/subscriptions/7c1e4b2a-5d3f-4a8e-9b6c-1f2e3d4c5b6a/resourceGroups/rg-ai-prod/") for r in inner)
    assert not any("dependsOn" in r for r in inner)
    assert [d.rsplit("/", 1)[1] for d in nested["dependsOn"]] == ["id-apim-lastmile"]
    # Grants on the stack's own resources stay in the stack's template.
    assert any(r["type"] == "Microsoft.Authorization/roleAssignments" for r in t["resources"])
