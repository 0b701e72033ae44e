"""Day two: destroy, re-create, replace and rotate as cleanly as the first `pulumi up`.

Asserted on `lastmile plan dev` and `lastmile plan prod`, from the inputs and the lifecycle options Pulumi acts on
(recorded by plan.py and shown in `lastmile plan --json`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apim_lastmile.tools import plan as plan_mod
from apim_lastmile.tools.cli import main
from apim_lastmile.tools.plan import plan_stack

from helpers import run, stack_plan

REPO = Path(__file__).resolve().parents[1]
STACKS = ("dev", "prod")
#: Resources whose delete reopens access: azure-native deletes the publishing policies by writing `allow: true`
#: (pulumi/pulumi-azure-native#2537), and deleting auth settings leaves an app with no authentication.
REOPENS_ON_DELETE = {"azure-native:web:WebAppFtpAllowed", "azure-native:web:WebAppScmAllowed", "azure-native:web:WebAppAuthSettingsV2"}
#: Globally unique names that stay taken after a delete (soft delete), and what forces their replacement.
SOFT_DELETED = {"azure-native:apimanagement:ApiManagementService": "serviceName", "azure-native_keyvault_v20260201:keyvault:Vault": "vaultName"}


@pytest.fixture(scope="module")
def plans():
    return {stack: stack_plan(stack) for stack in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_no_delete_reopens_access(plans, stack):
    found = [r for r in plans[stack].registrations if r.type in REOPENS_ON_DELETE]
    assert {r.type for r in found} == REOPENS_ON_DELETE
    assert [r.name for r in found if not r.retain_on_delete] == []


@pytest.mark.parametrize("stack", STACKS)
def test_a_secret_in_our_own_vault_is_retained_so_destroy_makes_no_data_plane_call(plans, stack):
    secrets = plans[stack].of_type("azure-native_keyvault_v20260201:keyvault:Secret")
    vaults = {r.plain_inputs["vaultName"] for r in plans[stack].of_type("azure-native_keyvault_v20260201:keyvault:Vault")}
    assert secrets and all(s.retain_on_delete for s in secrets if s.plain_inputs["vaultName"] in vaults)


@pytest.mark.parametrize("stack", STACKS)
def test_suffix_keepers_cover_the_inputs_that_force_replacement(plans, stack):
    """Every generated globally unique name changes when its resource must be replaced (a new resource group or
    location), so a replacement never meets its own soft-deleted predecessor's name."""
    plan = plans[stack]
    suffixes = {r.outputs["result"]: r for r in plan.of_type("random:index/randomString:RandomString")}
    checked = 0
    for r in plan.registrations:
        name_input = SOFT_DELETED.get(r.type) or {"azure-native:storage:StorageAccount": "accountName"}.get(r.type)
        if not name_input:
            continue
        name = r.plain_inputs[name_input]
        suffix = next(s for value, s in suffixes.items() if name.endswith(value))
        keepers = suffix.plain_inputs["keepers"]
        assert keepers["resourceGroup"] == r.plain_inputs["resourceGroupName"], r.name
        assert keepers["location"] == (r.plain_inputs.get("location") or ""), r.name
        checked += 1
    assert checked >= 3


def test_a_rotation_changes_the_password_the_secret_and_the_named_value():
    from test_keyvault_backend import program

    first, second = run(program(rotation="2026-11-23")), run(program(rotation="2027-02-01"))

    def named_value(plan):
        return next(r for r in plan.of_type("azure-native:apimanagement:NamedValue") if r.plain_inputs["namedValueId"] == "legacy-password")

    def secret_value(plan):
        return plan.one("azure-native_keyvault_v20260201:keyvault:Secret").plain_inputs["properties"]["value"]

    assert secret_value(first) != secret_value(second)
    before, after = named_value(first).plain_inputs["keyVault"], named_value(second).plain_inputs["keyVault"]
    assert before["secretIdentifier"] != after["secretIdentifier"], "APIM must switch in the same up, not within 4 hours"
    assert before["secretIdentifier"].rsplit("/", 1)[0] == after["secretIdentifier"].rsplit("/", 1)[0]


@pytest.mark.parametrize("stack", STACKS)
def test_a_second_plan_of_an_unchanged_stack_registers_the_same_inputs_and_options(plans, stack):
    again = plan_stack(stack, REPO)
    assert again.to_json() == plans[stack].to_json()


def test_plan_json_shows_lifecycle_options(capsys, cached_plans):
    assert main(["plan", "dev", "--json", "--project-dir", str(REPO)]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in data["resources"]}
    assert by_name["orders-no-ftp-basic-auth"]["options"]["retainOnDelete"] is True
    assert by_name["legacy-secret-reader"]["options"]["deleteBeforeReplace"] is True
    assert any(u.endswith("legacy-rbac-propagation") for u in by_name["legacy-nv-password"]["options"]["dependsOn"])


def test_a_changed_option_shows_in_the_plan_diff(tmp_path, capsys, cached_plans):
    assert main(["plan", "dev", "--json", "--project-dir", str(REPO)]) == 0
    base = json.loads(capsys.readouterr().out)
    head = json.loads(json.dumps(base))
    target = next(r for r in head["resources"] if r["name"] == "orders-no-ftp-basic-auth")
    target["options"]["retainOnDelete"] = False
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "h.json").write_text(json.dumps(head))
    assert main(["diff", str(tmp_path / "b.json"), str(tmp_path / "h.json"), "--exit-code"]) == 1
    assert "orders-no-ftp-basic-auth  (options)" in capsys.readouterr().out


def test_plan_records_options_for_every_custom_resource(plans):
    for r in plans["prod"].registrations:
        assert set(r.options) == {"dependsOn", "deleteBeforeReplace", "retainOnDelete"}
    assert isinstance(plan_mod.Registration.options, property)


# ---- who may deploy ----

def test_lastmile_permissions_lists_the_least_roles_and_graph_permissions(capsys, cached_plans):
    assert main(["permissions", "dev", "--project-dir", str(REPO)]) == 0
    out = capsys.readouterr().out
    assert f"resource group rg-lastmile-dev in subscription {plan_mod.SUBSCRIPTION_ID}  Role Based Access Control Administrator, " \
           "constrained to: Key Vault Secrets User, Monitoring Metrics Publisher, Storage Blob Data Owner, " \
           "Storage Blob Data Reader" in out
    assert "Application.ReadWrite.OwnedBy" in out and "AppRoleAssignment.ReadWrite.All and Application.Read.All" in out
    assert "Contributor (or create the group beforehand" in out and "  Owner" not in out and "User Access Administrator" not in out


def test_permissions_of_an_adopted_vault_and_app():
    from apim_lastmile.tools.permissions import requirements
    from test_keyvault_backend import program

    import pulumi

    plan = run(program(secret_value=pulumi.Output.secret("x"), key_vault_name="kv-shared", key_vault_resource_group_name="rg-security"))
    found = {(r.scope, r.permission) for r in requirements(plan.registrations)}
    assert (f"resource group rg-security in subscription {plan_mod.SUBSCRIPTION_ID}", "Role Based Access Control Administrator, constrained to: Key Vault Secrets Officer, "
                                          "Key Vault Secrets User") in found
    assert ("Microsoft Graph", "Application.Read.All") in found
    assert not any("Application.ReadWrite" in p for _, p in found)
