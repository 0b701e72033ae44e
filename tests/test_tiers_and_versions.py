"""Deployable on every tier and past announced retirements: what real Azure refuses beyond its published contract.

Each test asserts on the inputs the mocks record (what would be sent), never on the component's own variables.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import tomllib
from datetime import date
from pathlib import Path

import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi_azure_native import apimanagement

from apim_lastmile import Gateway, KeyVaultSecretBackend, LastMileError, SecuredFunctionBackend, keyvault_api
from apim_lastmile.tools import api_versions, contract
from apim_lastmile.azure_rules import (ACKNOWLEDGE_TRUSTED_SERVICE_RETIREMENT, CAPACITY, CLIENT_CERTIFICATE_TIERS,
                                       DISABLE_OVER_PRIVILEGED_ACCESS, OPERATIONS_PER_SERVICE)
from apim_lastmile.tools.cli import main
from apim_lastmile.gateway import SKUS, without_client_certificate
from apim_lastmile.tools.plan import LastMileMocks, run as plan_run

from helpers import registered, run, stack_plan

REPO = Path(__file__).resolve().parents[1]
SERVICE = "azure-native:apimanagement:ApiManagementService"
REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}


def gateway_program(sku, **extra):
    def body():
        Gateway("edge", {"resource_group_name": "rg", "publisher_email": "platform@contoso.com", "publisher_name": "Contoso",
                         "sku": sku, **extra})
    return body


# ---- every tier plans with inputs Azure accepts ------------------------------------------------------------

def test_the_tier_list_is_every_sku_azure_offers():
    assert set(SKUS) == {"Consumption", "Developer", "Basic", "Standard", "Premium", "Isolated", "BasicV2", "StandardV2", "PremiumV2"}
    assert set(CAPACITY) == set(SKUS) == set(OPERATIONS_PER_SERVICE)


@pytest.mark.parametrize("sku", sorted(SKUS))
def test_every_tier_sends_client_certificate_only_where_azure_takes_it(sku):
    service = run(gateway_program(sku)).one(SERVICE).plain_inputs  # run() also asserts Azure's contract and the rules beyond it
    if sku in CLIENT_CERTIFICATE_TIERS:
        assert service["enableClientCertificate"] is False  # what the property means where it applies: no client certificate
    else:
        assert "enableClientCertificate" not in service
    acknowledged = (service.get("customProperties") or {}).get(DISABLE_OVER_PRIVILEGED_ACCESS)
    assert acknowledged == ("True" if sku in ACKNOWLEDGE_TRUSTED_SERVICE_RETIREMENT else None)
    assert service["sku"] == {"name": sku, "capacity": 0 if sku == "Consumption" else 1}


def test_the_sdk_default_is_what_azure_refuses_and_the_check_reports_it():
    """The outside judge: azure-native's own class sends enableClientCertificate false on a Developer service, which
    Azure answers with EnableClientCertificateCannotBeChangedForSku; `lastmile plan` reports it for any program."""
    def bare():
        apimanagement.ApiManagementService("svc", service_name="apim-bare", resource_group_name="rg", publisher_email="a@contoso.com",
                                           publisher_name="C", sku={"name": "Developer", "capacity": 1},
                                           identity={"type": "SystemAssigned"})
    plan = plan_run(bare)
    assert plan.one(SERVICE).plain_inputs["enableClientCertificate"] is False
    findings = contract.check_plan(plan.registrations)
    assert [f.path for f in findings] == ["enableClientCertificate"]
    assert "EnableClientCertificateCannotBeChangedForSku" in findings[0].problem


def test_the_transformation_touches_only_the_service():
    class Args:
        type_ = "azure-native:apimanagement:Api"
        props = {"enable_client_certificate": False}
        opts = None
    assert without_client_certificate(Args()) is None


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stacks_send_nothing_azure_refuses_beyond_its_contract(stack):
    plan = stack_plan(stack)
    service = plan.one(SERVICE).plain_inputs
    assert ("enableClientCertificate" in service) == (service["sku"]["name"] in CLIENT_CERTIFICATE_TIERS)
    assert contract.check_plan(plan.registrations) == []


# ---- Premium v2 ---------------------------------------------------------------------------------------------

def test_premium_v2_scales_to_30_units_and_no_further():
    assert run(gateway_program("PremiumV2", capacity=30)).one(SERVICE).plain_inputs["sku"]["capacity"] == 30
    with pytest.raises(LastMileError, match=r"capacity: got 31; the PremiumV2 tier takes 1 to 30 units"):
        run(gateway_program("PremiumV2", capacity=31))
    assert registered() == []
    with pytest.raises(LastMileError, match=r"the Premium tier takes 1 to 12 units"):
        run(gateway_program("Premium", capacity=13))


def test_premium_v2_integrates_a_delegated_subnet_and_its_functions_default_to_private():
    def body():
        gw = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "platform@contoso.com", "publisher_name": "C",
                              "sku": "PremiumV2", "virtual_network": {"address_prefix": "10.40.0.0/24"}})
        SecuredFunctionBackend("orders", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": "orders"})
    plan = run(body)
    service = plan.one(SERVICE).plain_inputs
    assert service["virtualNetworkType"] == "External" and "enableClientCertificate" not in service
    subnets = {r.plain_inputs["subnetName"]: r.plain_inputs for r in plan.of_type("azure-native:network:Subnet")}
    gateway_subnet = next(s for s in subnets.values() if s.get("delegations"))
    assert gateway_subnet["delegations"][0]["serviceName"] == "Microsoft.Web/serverFarms"
    assert service["virtualNetworkConfiguration"]["subnetResourceId"].endswith("/subnets/" + gateway_subnet["subnetName"])
    assert plan.one("azure-native:web:WebApp").plain_inputs["publicNetworkAccess"] == "Disabled"


# ---- service limits ------------------------------------------------------------------------------------------

def test_operations_per_service_are_counted_across_the_programs_apis():
    from apim_lastmile.api import count_on_gateway

    limit = OPERATIONS_PER_SERVICE["Consumption"]
    ref = {**REF, "sku": "Consumption"}
    ops = [{"method": "GET", "url_template": f"/r{i}"} for i in range(3)]

    def body(already):
        def program():
            count_on_gateway(ref, "API operations", "earlier", already, OPERATIONS_PER_SERVICE, "operations")
            SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg", "api_path": "orders",
                                              "operations": ops, "network": "identity-only"})
            SecuredFunctionBackend("stock", {"gateway": ref, "resource_group_name": "rg", "api_path": "stock",
                                             "operations": ops, "network": "identity-only"})
        return program
    run(body(limit - 6))  # exactly at the limit
    with pytest.raises(LastMileError) as err:
        plan_run(body(limit - 5))
    assert str(err.value).startswith(f"operations: got '{limit + 1} API operations on the gateway'")
    assert f"the Consumption tier allows at most {limit} API operations per service" in str(err.value)
    assert not any(r.name.startswith("stock") for r in registered())


# ---- Key Vault at 2026-02-01 -----------------------------------------------------------------------------------

def test_the_vault_and_secret_are_sent_at_2026_02_01_through_the_parameterized_package(monkeypatch):
    requests = []
    original = pulumi_mocks.MockMonitor.RegisterPackage

    def record(self, request):
        requests.append(request)
        return original(self, request)
    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterPackage", record)
    plan = run(lambda: KeyVaultSecretBackend("legacy", {"gateway": REF, "resource_group_name": "rg", "api_path": "legacy",
                                                        "backend_url": "https://legacy.contoso.com", "username": "svc"}))
    types = {r.type for r in plan.registrations}
    assert {"azure-native_keyvault_v20260201:keyvault:Vault", "azure-native_keyvault_v20260201:keyvault:Secret"} <= types
    assert not any(t.startswith("azure-native:keyvault:") for t in types)
    assert requests, "the package is registered with the engine"
    installed = json.loads((api_versions.installed_sdk_dir() / "pulumi-plugin.json").read_text())["version"]
    for request in requests:
        assert (request.name, request.version) == ("azure-native", installed)
        assert (request.parameterization.name, request.parameterization.version) == ("azure-native_keyvault_v20260201", installed)
        # What the provider's Parameterize returns: base64 text of its JSON arguments, version in the SDK form.
        assert json.loads(base64.b64decode(request.parameterization.value)) == {"module": "keyvault", "version": "v20260201"}
    vault = plan.one(keyvault_api.VAULT).plain_inputs["properties"]
    assert vault["enableRbacAuthorization"] is True  # written out, although 2026-02-01 makes it the default
    assert contract.WIRES[keyvault_api.VAULT].sent_version == contract.WIRES[keyvault_api.SECRET].sent_version == "2026-02-01"
    assert contract.facts()[keyvault_api.VAULT]["apiVersion"] == "2026-02-01"


def test_an_adopted_vault_is_read_at_2026_02_01():
    calls = []

    class Recording(LastMileMocks):
        def call(self, args):
            calls.append(args.token)
            return super().call(args)
    run(lambda: KeyVaultSecretBackend("legacy", {"gateway": REF, "resource_group_name": "rg", "api_path": "legacy",
                                                 "backend_url": "https://legacy.contoso.com", "username": "svc",
                                                 "key_vault_name": "kv-shared"}), mocks=Recording())
    assert keyvault_api.GET_VAULT in calls and "azure-native:keyvault:getVault" not in calls


# ---- SDK floors and the API version guard -------------------------------------------------------------------------

def test_the_floors_in_pyproject_are_the_guards_floors():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = {m.group(1): m.group(2) for m in (re.match(r"([a-z-]+)>=([0-9.]+)", d) for d in deps) if m}
    for package, (floor, _) in api_versions.FLOORS.items():
        assert floors[package] == floor, package


def test_the_installed_sdks_pass_the_guard():
    assert api_versions.check_installed() == []


def test_an_sdk_below_its_floor_is_refused_naming_package_installed_version_and_floor():
    fake = {"pulumi-azure-native": "3.10.0"}
    problems = api_versions.check_installed(version_of=lambda p: fake.get(p, "99.0.0"))
    assert [str(p) for p in problems][0].startswith("pulumi-azure-native 3.10.0 is installed; apim-lastmile needs >= 3.29.0")


def test_an_sdk_that_sends_another_api_version_is_refused(tmp_path):
    sdk = tmp_path / "pulumi_azure_native"
    shutil.copytree(api_versions.installed_sdk_dir() / "apimanagement", sdk / "apimanagement",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = sdk / "apimanagement" / "api_management_service.py"
    target.write_text(target.read_text().replace("Uses Azure REST API version 2024-05-01", "Uses Azure REST API version 2022-09-01-preview"))
    problems = api_versions.check_installed(sdk_dir=sdk)
    assert [p.needed for p in problems] == [f"a release that sends 2024-05-01 for {SERVICE}"]
    assert "it sends 2022-09-01-preview" in problems[0].why


def test_lastmile_plan_stops_on_an_sdk_below_its_floor(monkeypatch, capsys):
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda p: "3.10.0" if p == "pulumi-azure-native" else real(p))
    assert main(["plan", "dev", "--project-dir", str(REPO)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing planned
    assert "lastmile: error: pulumi-azure-native 3.10.0 is installed; apim-lastmile needs >= 3.29.0" in captured.err


# ---- retirements -------------------------------------------------------------------------------------------------

def test_a_version_retiring_within_180_days_is_warned_of_and_a_retired_one_refused():
    old_vault = "azure-native:keyvault:Vault"  # the SDK's default class: 2024-11-01
    assert api_versions.sdk_sends(old_vault) == "2024-11-01"
    soon = api_versions.retirements([old_vault], today=date(2026, 12, 3))
    assert [(r.token, r.api_version, r.on, r.days_left, r.retired) for r in soon] == [
        (old_vault, "2024-11-01", date(2027, 2, 27), 86, False)]
    assert "retires on 2027-02-27 (86 days)" in str(soon[0]) and "keyvault_api" in str(soon[0])
    assert api_versions.retirements([old_vault], today=date(2026, 8, 30)) == []  # 181 days ahead
    retired = api_versions.retirements([old_vault, "azure-native:apimanagement/v20191201:Api"], today=date(2027, 3, 1))
    assert all(r.retired for r in retired) and len(retired) == 2


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stacks_send_nothing_that_retires(stack):
    tokens = [r.type for r in stack_plan(stack).registrations if r.custom]
    assert api_versions.retirements(tokens, today=date(2027, 3, 1), within_days=3650) == []


def test_lastmile_plan_warns_of_a_retirement_and_fails_on_a_retired_version(monkeypatch, capsys, cached_plans):
    from apim_lastmile.tools import api_versions as module

    monkeypatch.setattr(module, "RETIREMENTS", (module.Retirement("Microsoft.ApiManagement", "2030-01-01", date(2027, 1, 1),
                                                                  "example", "move on"),))
    assert main(["plan", "dev", "--project-dir", str(REPO), "--today", "2026-12-03"]) == 0
    err = capsys.readouterr().err
    assert "lastmile: warning: azure-native:apimanagement:Api is sent at API version 2024-05-01, which Azure retires on 2027-01-01 (29 days)" in err
    assert main(["plan", "dev", "--project-dir", str(REPO), "--today", "2027-01-02"]) == 1
    assert "Azure would refuse: azure-native:apimanagement:Api is sent at API version 2024-05-01, which Azure retired on 2027-01-01" in capsys.readouterr().err
    assert main(["plan", "dev", "--project-dir", str(REPO), "--today", "tomorrow"]) == 1
    assert "--today: got 'tomorrow'; expected a date as YYYY-MM-DD" in capsys.readouterr().err


def test_permissions_name_the_async_read_for_custom_roles(capsys, cached_plans):
    assert main(["permissions", "dev", "--project-dir", str(REPO)]) == 0
    assert "Microsoft.ApiManagement/service/tenant/*/read" in capsys.readouterr().out


def test_the_key_vault_move_keeps_the_old_types_as_aliases_and_the_plan_drops_only_the_sdks_version_aliases():
    plan = stack_plan("dev")
    assert plan.one(keyvault_api.VAULT).alias_types == ["azure-native:keyvault:Vault"]
    assert plan.one(keyvault_api.SECRET).alias_types == ["azure-native:keyvault:Secret"]
    for r in plan.registrations:
        assert not [a for a in r.alias_types if re.fullmatch(r"azure-native:[a-z]+/v\d{8}(preview)?:\w+", a)], r.name
    # azure-native's other aliases (a module move) stay
    prod = stack_plan("prod")
    zones = prod.of_type("azure-native:privatedns:PrivateZone")
    assert zones and all(z.alias_types == ["azure-native:network:PrivateZone"] for z in zones)
