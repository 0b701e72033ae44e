"""Stack config validation, the environment program and the `lastmile plan` command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from apim_lastmile import ConfigError
from apim_lastmile.tools import config
from apim_lastmile.tools.cli import main

from helpers import stack_plan

REPO = Path(__file__).resolve().parents[1]

VALID = {
    "resourceGroup": {"name": "rg-test", "location": "westeurope"},
    "gateway": {"publisherEmail": "ops@contoso.com", "publisherName": "Contoso"},
    "functionBackends": [{"name": "orders", "apiPath": "orders"}, {"name": "invoices", "apiPath": "billing/invoices"}],
}


def with_change(path: str, value):
    data = json.loads(json.dumps(VALID))
    target = data
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is KeyError:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


def test_valid_config_parses_with_defaults():
    env = config.parse(VALID)
    assert env.gateway.sku == "Consumption" and env.gateway.name == "lastmile" and env.protect is False
    assert env.function_backends[1].args() == {"api_path": "billing/invoices", "subscription_required": True}


@pytest.mark.parametrize(
    "path, value, key, shown",
    [
        ("gateway.publisherEmail", KeyError, "apim-lastmile:gateway.publisherEmail", "required"),
        ("gateway.publisherEmail", "ops.contoso.com", "apim-lastmile:gateway.publisherEmail", "ops.contoso.com"),
        ("gateway.sku", "Gold", "apim-lastmile:gateway.sku", "Gold"),
        ("gateway.serviceName", "x" * 51, "apim-lastmile:gateway.serviceName", "x" * 51),
        ("gateway.publisherNmae", "typo", "apim-lastmile:gateway.publisherNmae", "unknown key"),
        ("functionBackends.1.apiPath", "orders", "apim-lastmile:functionBackends[1].apiPath", "already used by functionBackends[0]"),
        ("functionBackends.1.apiPath", "/billing", "apim-lastmile:functionBackends[1].apiPath", "/billing"),
        ("functionBackends.1.apiPath", "bill ing", "apim-lastmile:functionBackends[1].apiPath", "bill ing"),
        ("functionBackends.1.apiPath", "", "apim-lastmile:functionBackends[1].apiPath", "''"),
        ("functionBackends.0.appClientId", "123", "apim-lastmile:functionBackends[0].appClientId", "123"),
        ("functionBackends.0.name", "n" * 41, "apim-lastmile:functionBackends[0].name", "n" * 41),
        ("functionBackends.1.name", "orders", "apim-lastmile:functionBackends[1].name", "already used"),
        ("functionBackends.0.runtime", "cobol", "apim-lastmile:functionBackends[0].runtime", "cobol"),
        ("resourceGroup.name", "r" * 91, "apim-lastmile:resourceGroup.name", "(93 chars)"),  # long values are cut
    ],
)
def test_bad_config_names_the_key_and_value(path, value, key, shown):
    with pytest.raises(ConfigError) as err:
        config.parse(with_change(path, value))
    assert str(err.value).startswith(key), str(err.value)
    assert shown in str(err.value)


def test_unknown_top_level_key():
    with pytest.raises(ConfigError) as err:
        config.parse({**VALID, "gatway": {}})
    assert "apim-lastmile:gatway" in str(err.value) and "known keys" in str(err.value)


def test_plan_dev_lists_the_whole_last_mile():
    plan = stack_plan("dev")
    types = {r.type for r in plan.registrations}
    for typ in (
        "azure-native:apimanagement:ApiManagementService",
        "azuread:index/applicationRegistration:ApplicationRegistration",
        "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri",
        "azuread:index/applicationAppRole:ApplicationAppRole",
        "azuread:index/servicePrincipal:ServicePrincipal",
        "azuread:index/appRoleAssignment:AppRoleAssignment",
        "azure-native:web:WebApp",
        "azure-native:web:WebAppAuthSettingsV2",
        "azure-native:apimanagement:Api",
        "azure-native:apimanagement:Backend",
        "azure-native:apimanagement:ApiPolicy",
    ):
        assert typ in types, typ
    apim = plan.one("azure-native:apimanagement:ApiManagementService").plain_inputs
    assert apim["sku"] == {"name": "Consumption", "capacity": 0}
    assert not any(r.protect for r in plan.registrations)
    assert set(plan.outputs["function_backends"]) == {"orders", "invoices"}


def test_plan_prod_uses_a_v2_sku_and_protects_stateful_resources(assert_valid_policy):
    plan = stack_plan("prod")
    apim = plan.one("azure-native:apimanagement:ApiManagementService")
    assert apim.plain_inputs["sku"]["name"] in ("BasicV2", "StandardV2") and apim.protect
    stateful = ("azure-native:resources:ResourceGroup", "azure-native:apimanagement:ApiManagementService",
                "azure-native:managedidentity:UserAssignedIdentity", "azure-native:storage:StorageAccount",
                "azuread:index/applicationRegistration:ApplicationRegistration", "azure-native_keyvault_v20260201:keyvault:Vault",
                "azure-native_keyvault_v20260201:keyvault:Secret")
    for r in plan.registrations:
        if r.type in stateful:
            assert r.protect, (r.type, r.name)
        if r.type in ("azure-native:apimanagement:ApiPolicy", "azure-native:web:WebAppAuthSettingsV2"):
            assert not r.protect, (r.type, r.name)
    for name, xml in plan.policies().items():
        assert_valid_policy(xml)
        if not name.startswith("erp"):
            assert 'client-id="' in xml
    erp_secret = plan.one("azure-native_keyvault_v20260201:keyvault:Secret", "erp-secret")
    assert erp_secret.protect and erp_secret.inputs["properties"]["value"]["value"] == "offline-placeholder-for-a-secure-value"
    assert "offline-placeholder" not in json.dumps(plan.to_json())
    # The vault has no public access: the service's system-assigned identity reads it as a trusted service.
    password_nv = plan.one("azure-native:apimanagement:NamedValue", "erp-nv-password").plain_inputs
    assert "identityClientId" not in password_nv["keyVault"]
    reader = plan.one("azure-native:authorization:RoleAssignment", "erp-secret-reader").plain_inputs
    assert reader["principalId"] == plan.one("azure-native:apimanagement:ApiManagementService").outputs["identity"]["principalId"]


def test_plan_dev_shows_the_key_vault_backend():
    plan = stack_plan("dev")
    names = {r.name for r in plan.registrations if r.parent.endswith("KeyVaultSecretBackend::legacy")}
    assert {"legacy-vault", "legacy-secret", "legacy-secret-reader", "legacy-nv-username", "legacy-nv-password",
            "legacy-policy", "legacy-password"} <= names
    # A Consumption gateway has no cache: dev delivers the password as a Key Vault named value (see test_cache.py).
    assert "send-request" not in plan.policies()["legacy-policy"] and "{{legacy-password}}" in plan.policies()["legacy-policy"]
    assert plan.outputs["secret_backends"]["legacy"]["secret_id"].endswith("/secrets/legacy-password")


@pytest.mark.parametrize(
    "change, key, shown",
    [
        ({"delivery": "env"}, "apim-lastmile:secretBackends[0].delivery", "env"),
        ({"cacheSeconds": 0}, "apim-lastmile:secretBackends[0].cacheSeconds", "0"),
        ({"backendUrl": "http://x.contoso.com"}, "apim-lastmile:secretBackends[0].backendUrl", "http://"),
        ({"username": " "}, "apim-lastmile:secretBackends[0].username", "' '"),
        ({"keyVaultName": "kv_bad"}, "apim-lastmile:secretBackends[0].keyVaultName", "kv_bad"),
        ({"secretName": "a.b"}, "apim-lastmile:secretBackends[0].secretName", "a.b"),
        ({"apiPath": "orders"}, "apim-lastmile:secretBackends[0].apiPath", "already used by functionBackends[0]"),
        ({"secretValue": "hunter2"}, "apim-lastmile:secretBackends[0].secretValue", "unknown key"),
    ],
)
def test_bad_secret_backend_config(change, key, shown):
    entry = {"name": "legacy", "apiPath": "legacy", "backendUrl": "https://legacy.contoso.com", "username": "svc", **change}
    with pytest.raises(ConfigError) as err:
        config.parse({**VALID, "secretBackends": [entry]})
    assert str(err.value).startswith(key) and shown in str(err.value), str(err.value)


def test_secret_config_key_is_allowed_as_an_extra_key():
    entry = {"name": "erp", "apiPath": "erp", "backendUrl": "https://erp.contoso.com", "username": "svc", "secretConfigKey": "erpPassword"}
    env = config.parse({**VALID, "secretBackends": [entry], "erpPassword": "ciphertext"})
    assert env.secret_backends[0].secret_config_key == "erpPassword"


def test_cli_text_and_json(capsys, cached_plans):
    # The command's output, from the per-process plan (tests/test_day_two.py proves that planning twice gives the same).
    assert main(["plan", "dev", "--project-dir", str(REPO)]) == 0
    text = capsys.readouterr().out
    assert "azure-native:web:WebAppAuthSettingsV2  orders-auth" in text
    assert "Policy orders-policy:" in text and "<authentication-managed-identity" in text
    assert main(["plan", "dev", "--json", "--project-dir", str(REPO)]) == 0
    first = capsys.readouterr().out
    assert main(["plan", "dev", "--json", "--project-dir", str(REPO)]) == 0
    assert capsys.readouterr().out == first, "plan --json must render a plan the same way every time"
    data = json.loads(first)
    assert data["stack"] == "dev" and set(data["policies"]) == {"orders-policy", "invoices-policy", "legacy-policy", "lake-policy"}
    assert [r["urn"] for r in data["resources"]] == sorted(r["urn"] for r in data["resources"])


@pytest.fixture
def bad_project(tmp_path):
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir()
    dev = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())
    dev["config"]["apim-lastmile:gateway"]["sku"] = "Gold"
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text(yaml.safe_dump(dev))
    return tmp_path


def test_cli_bad_config_exits_1_with_the_message_and_no_traceback(bad_project, capsys):
    assert main(["plan", "bad", "--project-dir", str(bad_project)]) == 1
    err = capsys.readouterr().err
    assert "apim-lastmile:gateway.sku" in err and "'Gold'" in err and "Consumption" in err
    assert "Traceback" not in err


def test_cli_unknown_stack(capsys):
    assert main(["plan", "staging", "--project-dir", str(REPO)]) == 1
    err = capsys.readouterr().err
    assert "stacks/Pulumi.staging.yaml" in err and "dev" in err and "prod" in err


def test_python_dash_m_entry_point(bad_project):
    # The plan itself is tested through cli.main everywhere; here, that `python -m` reaches it and fails cleanly.
    bad = subprocess.run([sys.executable, "-m", "apim_lastmile", "plan", "bad", "--project-dir", str(bad_project)], capture_output=True, text=True)
    assert bad.returncode == 1 and "gateway.sku" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("values, key, hint", [
    ({"gateway": {"userAssignedIdentiy": True}}, "gateway.userAssignedIdentiy", "did you mean 'userAssignedIdentity'"),
    ({"gateway": {"virtualNetwork": {"adressPrefix": "10.0.0.0/24"}}}, "gateway.virtualNetwork.adressPrefix", "did you mean 'addressPrefix'"),
    ({"functionBackends": [{"name": "o", "apiPath": "o", "operations": [{"method": "GET", "urlTemplat": "/x"}]}]},
     "functionBackends[0].operations[0].urlTemplat", "did you mean 'urlTemplate'"),
    # A gateway key in a backend: no near miss there, so the keys that belong there are listed.
    ({"functionBackends": [{"name": "o", "apiPath": "o", "userAssignedIdentity": True}]},
     "functionBackends[0].userAssignedIdentity", "(keys here: apiPath, appClientId,"),
])
def test_an_unknown_key_is_reported_first_with_suggestions_from_its_own_object(values, key, hint):
    from apim_lastmile.errors import ConfigError

    base = {"resourceGroup": {"name": "rg"}, "gateway": {"publisherEmail": "a@b.co", "publisherName": "n"}}
    merged = {**base, **values}
    if "gateway" in values:
        merged["gateway"] = {**base["gateway"], **values["gateway"]}
    with pytest.raises(ConfigError) as err:
        config.parse(merged)
    assert str(err.value).startswith(f"apim-lastmile:{key}: got") and hint in str(err.value), str(err.value)
    assert "required" not in str(err.value)


def test_the_deploying_guides_stack_config_reference_is_a_config_the_program_accepts():
    """Every key the README's reference shows, with its placeholders filled in, passes the same validation as a stack."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "deploying.md").read_text()
    block = guide.split("## Stack config", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    for placeholder, value in {"<guid>": "00000000-0000-4000-8000-000000000001", "<rg>": "rg", "<name>": "redis1",
                               "<vault>": "kv-legacy"}.items():
        block = block.replace(placeholder, value)
    assert not [line for line in block.splitlines() if "<" in line.split("#", 1)[0]]  # comments may say <random>
    values = {key.split(":", 1)[1]: value for key, value in yaml.safe_load(block)["config"].items() if key.startswith("apim-lastmile:")}
    env = config.parse(values)
    assert env.gateway.virtual_network is not None and env.function_backends[0].network == "gateway-ip"
    assert {"functionBackends", "secretBackends", "entraBackends", "dataLakeReaders"} <= set(values)


def test_the_mocks_refuse_two_resources_with_one_urn_as_the_engine_does():
    from pulumi_azure_native import resources

    from apim_lastmile.tools import plan as plan_mod

    def twice():
        resources.ResourceGroup("same", resource_group_name="rg-a")
        resources.ResourceGroup("same", resource_group_name="rg-b")
    with pytest.raises(Exception, match="duplicate resource URN"):
        plan_mod.run(twice)
