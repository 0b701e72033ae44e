"""Telemetry without a key: Application Insights and Log Analytics that refuse local authentication, a logger and
function apps that authenticate with their managed identities, narrow grants, safe API diagnostics, resource logs."""

from __future__ import annotations

import json
import re

import pytest

from apim_lastmile import EntraBackend, Gateway, KeyVaultSecretBackend, LastMileError, SecuredFunctionBackend
from apim_lastmile.roles import BUILT_IN_ROLES
from apim_lastmile.tools.plan import LastMileMocks
from helpers import registered, run, stack_plan

COMPONENT = "azure-native:applicationinsights:Component"
WORKSPACE = "azure-native:operationalinsights:Workspace"
LOGGER = "azure-native:apimanagement:Logger"
API_DIAGNOSTIC = "azure-native:apimanagement:ApiDiagnostic"
SETTING = "azure-native:monitor:DiagnosticSetting"
GRANT = "azure-native:authorization:RoleAssignment"
PUBLISHER = BUILT_IN_ROLES["Monitoring Metrics Publisher"]
SUB = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg-obs/providers"
ADOPTED_COMPONENT = f"{SUB}/Microsoft.Insights/components/appi-shared"
ADOPTED_WORKSPACE = f"{SUB}/Microsoft.OperationalInsights/workspaces/log-shared"
#: What a credential looks like in a string: a storage or Service Bus key, a SAS signature, a function key.
CREDENTIAL_IN_TEXT = re.compile(r"AccountKey=|SharedAccessKey=|[?&]sig=|[?&]code=|x-functions-key", re.I)


def _strings(value, path=""):
    """Every (path, string) in a recorded input."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


def _keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def _settings(site: dict) -> dict:
    return {s["name"]: s["value"] for s in site.get("siteConfig", {}).get("appSettings", [])}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_key_anywhere_in_the_recorded_inputs(stack):
    """A connection string names the component by its instrumentation key, an identifier (learn.microsoft.com/azure/
    azure-monitor/app/connection-strings); it may appear only where Microsoft Entra authentication goes with it, on a
    component that refuses anything else. No field carries an instrumentation key, no string a storage key, SAS
    signature or function key."""
    plan = stack_plan(stack)
    [component] = plan.of_type(COMPONENT)
    assert component.plain_inputs["disableLocalAuth"] is True
    [workspace] = plan.of_type(WORKSPACE)
    assert workspace.plain_inputs["features"]["disableLocalAuth"] is True
    carriers = []
    for r in plan.registrations:
        inputs = r.plain_inputs
        assert not any("instrumentationkey" in k.lower() for k in _keys(inputs)), r.name
        for path, text in _strings(inputs):
            assert not CREDENTIAL_IN_TEXT.search(text), f"{r.name}{path}"
            assert "APPINSIGHTS_INSTRUMENTATIONKEY" not in text, f"{r.name}{path}"
            if "InstrumentationKey=" in text:
                carriers.append((r.type, path))
                if r.type == LOGGER:
                    assert path == ".credentials.connectionString" and inputs["credentials"]["identityClientId"], r.name
                else:
                    assert r.type == "azure-native:web:WebApp", (r.name, path)
                    assert _settings(inputs)["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD", r.name
    functions = plan.of_type("azure-native:web:WebApp")
    assert sorted(carriers) == sorted([(LOGGER, ".credentials.connectionString")] + [
        ("azure-native:web:WebApp", f".siteConfig.appSettings[{list(_settings(f.plain_inputs)).index('APPLICATIONINSIGHTS_CONNECTION_STRING')}].value")
        for f in functions])
    assert len(functions) == {"dev": 3, "prod": 2}[stack]  # dev: orders has a replica


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_telemetry_grant_is_monitoring_metrics_publisher_on_the_component_alone(stack):
    plan = stack_plan(stack)
    component_id = plan.one(COMPONENT).outputs["id"]
    grants = [g.plain_inputs for g in plan.of_type(GRANT) if g.plain_inputs["roleDefinitionId"].endswith(PUBLISHER)]
    assert {g["scope"] for g in grants} == {component_id}
    gateway = plan.outputs["gateway"]
    apps = {f.outputs["identity"]["principalId"] for f in plan.of_type("azure-native:web:WebApp")}
    # The identity that carries the last mile (prod: the user-assigned one), and each function app's own.
    assert sorted(g["principalId"] for g in grants) == sorted([gateway["principalId"], *apps])
    logger = plan.one(LOGGER).plain_inputs
    assert logger["credentials"]["identityClientId"] == (gateway["identityClientId"] if stack == "prod" else "SystemAssigned")
    assert logger["loggerType"] == "applicationInsights" and logger["resourceId"] == component_id
    # The logger waits for its grant.
    assert plan.one(GRANT, "lastmile-telemetry-publisher").urn in plan.one(LOGGER).depends_on


@pytest.mark.parametrize("stack, sampling", [("dev", 100.0), ("prod", 25.0)])
def test_every_api_logs_with_safe_defaults(stack, sampling):
    plan = stack_plan(stack)
    apis = {a.plain_inputs["apiId"] for a in plan.of_type("azure-native:apimanagement:Api")}
    diagnostics = plan.of_type(API_DIAGNOSTIC)
    assert {d.plain_inputs["apiId"] for d in diagnostics} == apis and len(diagnostics) == len(apis) == {"dev": 4, "prod": 5}[stack]
    logger_id = plan.one(LOGGER).outputs["id"]
    for d in diagnostics:
        inputs = d.plain_inputs
        assert inputs["diagnosticId"] == "applicationinsights" and inputs["loggerId"] == logger_id
        assert inputs["sampling"] == {"samplingType": "fixed", "percentage": sampling} and inputs["alwaysLog"] == "allErrors"
        assert inputs["httpCorrelationProtocol"] == "W3C" and inputs["logClientIp"] is False
        for side in ("frontend", "backend"):
            for message in ("request", "response"):
                logged = inputs[side][message]
                assert logged["headers"] == [] and logged["body"] == {"bytes": 0}, (d.name, side, message)
            hidden = inputs[side]["request"]["dataMasking"]["queryParams"]
            # APIM's subscription key, function keys, SAS signatures and OAuth tokens, written out: shrinking the list fails.
            assert {(p["value"], p["mode"]) for p in hidden} == {(p, "Hide") for p in (
                "subscription-key", "code", "sig", "access_token", "api-key", "apikey", "key", "token")}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_resource_logs_of_gateway_vault_and_function_apps_go_to_the_workspace(stack):
    plan = stack_plan(stack)
    workspace_id = plan.one(WORKSPACE).outputs["id"]
    settings = {s.plain_inputs["resourceUri"]: s.plain_inputs for s in plan.of_type(SETTING)}
    targets = {r.outputs["id"] for r in plan.registrations
               if r.type in ("azure-native:web:WebApp", "azure-native_keyvault_v20260201:keyvault:Vault")}
    service = plan.one("azure-native:apimanagement:ApiManagementService").outputs["id"]
    # Consumption has no resource logs (api-management-features); StandardV2 sends them to resource-specific tables.
    assert set(settings) == (targets | {service} if stack == "prod" else targets)
    assert len(targets) == {"dev": 4, "prod": 3}[stack]  # the vault and every function app (dev: orders and its replica)
    for uri, s in settings.items():
        assert s["workspaceId"] == workspace_id
        assert s["logs"] == [{"categoryGroup": "allLogs", "enabled": True}] and s["metrics"] == [{"category": "AllMetrics", "enabled": True}]
        assert (s.get("logAnalyticsDestinationType") == "Dedicated") is (uri == service)
    assert len({s["name"] for s in settings.values()}) == len(settings)


def test_prod_keeps_its_telemetry_protected_and_dev_gets_the_defaults():
    prod = stack_plan("prod")
    assert prod.one(WORKSPACE).plain_inputs["retentionInDays"] == 90
    assert prod.one(COMPONENT).protect and prod.one(WORKSPACE).protect
    dev = stack_plan("dev")
    assert dev.one(WORKSPACE).plain_inputs["retentionInDays"] == 30
    component = dev.one(COMPONENT).plain_inputs
    assert component["workspaceResourceId"] == dev.one(WORKSPACE).outputs["id"] and component["ingestionMode"] == "LogAnalytics"


# ---- the component, on its own ----------------------------------------------------------------------------------------

GATEWAY = {"resource_group_name": "rg", "publisher_email": "a@b.co", "publisher_name": "n", "sku": "StandardV2"}


def _program(telemetry, sku="StandardV2", **gateway):
    def body():
        g = Gateway("gw", {**GATEWAY, "sku": sku, "telemetry": telemetry, **gateway})
        SecuredFunctionBackend("fn", {"gateway": g.ref, "resource_group_name": "rg", "api_path": "fn"})
        EntraBackend("lake", {"gateway": g.ref, "api_path": "lake", "audience": "storage",
                              "backend_url": "https://acct.dfs.core.windows.net/raw"})
    return body


def test_without_telemetry_nothing_logs_and_no_setting_is_added():
    plan = run(_program(None))
    assert not plan.of_type(COMPONENT) and not plan.of_type(LOGGER) and not plan.of_type(API_DIAGNOSTIC) and not plan.of_type(SETTING)
    [function] = plan.of_type("azure-native:web:WebApp")
    assert set(_settings(function.plain_inputs)) == {"AzureWebJobsStorage__accountName"}


def test_adopted_component_and_workspace_are_used_not_created():
    plan = run(_program({"application_insights_id": ADOPTED_COMPONENT, "workspace_id": ADOPTED_WORKSPACE, "headers": ["x-correlation-id"]}),
               mocks=LastMileMocks(components={"appi-shared": {"disable_local_auth": True}}))
    assert not plan.of_type(COMPONENT) and not plan.of_type(WORKSPACE)
    logger = plan.one(LOGGER).plain_inputs
    assert logger["resourceId"] == ADOPTED_COMPONENT and logger["credentials"]["connectionString"].startswith("InstrumentationKey=")
    assert {s.plain_inputs["workspaceId"] for s in plan.of_type(SETTING)} == {ADOPTED_WORKSPACE}
    assert {g.plain_inputs["scope"] for g in plan.of_type(GRANT) if g.plain_inputs["roleDefinitionId"].endswith(PUBLISHER)} == {ADOPTED_COMPONENT}
    assert {d.plain_inputs["frontend"]["request"]["headers"][0] for d in plan.of_type(API_DIAGNOSTIC)} == {"x-correlation-id"}


def test_an_adopted_component_that_still_takes_its_key_is_refused():
    adopted = {"application_insights_id": ADOPTED_COMPONENT, "workspace_id": ADOPTED_WORKSPACE}
    with pytest.raises(ValueError, match="disable local authentication on it first"):  # at deploy time: preview included
        run(lambda: Gateway("gw", {**GATEWAY, "telemetry": adopted}),
            mocks=LastMileMocks(components={"appi-shared": {"disable_local_auth": False}}))


def test_a_user_assigned_identity_logs_with_its_client_id_and_consumption_has_no_resource_logs():
    plan = run(_program({}, sku="Consumption", user_assigned_identity=True))
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity").outputs
    assert plan.one(LOGGER).plain_inputs["credentials"]["identityClientId"] == identity["clientId"]
    grant = plan.one(GRANT, "gw-telemetry-publisher").plain_inputs
    assert grant["principalId"] == identity["principalId"]
    service = plan.one("azure-native:apimanagement:ApiManagementService").outputs["id"]
    assert service not in {s.plain_inputs["resourceUri"] for s in plan.of_type(SETTING)}
    assert len(plan.of_type(SETTING)) == 1  # the function app's


def test_a_vault_the_backend_creates_sends_its_audit_log():
    def body():
        g = Gateway("gw", {**GATEWAY, "telemetry": {}})
        KeyVaultSecretBackend("erp", {"gateway": g.ref, "resource_group_name": "rg", "api_path": "erp",
                                      "backend_url": "https://erp.contoso.com", "username": "svc"})
    plan = run(body)
    vault = plan.one("azure-native_keyvault_v20260201:keyvault:Vault").outputs["id"]
    assert vault in {s.plain_inputs["resourceUri"] for s in plan.of_type(SETTING)}


@pytest.mark.parametrize("telemetry, key, phrase", [
    ({"sampling_percentage": 101}, "telemetry.sampling_percentage", "0 to 100"),
    ({"sampling_percentage": True}, "telemetry.sampling_percentage", "0 to 100"),
    ({"retention_in_days": 7}, "telemetry.retention_in_days", "30-730"),
    ({"workspace_id": ADOPTED_WORKSPACE, "retention_in_days": 60}, "telemetry.retention_in_days", "keeps its own retention"),
    ({"headers": ["Authorization"]}, "telemetry.headers[0]", "may carry a credential"),
    ({"headers": ["Ocp-Apim-Subscription-Key"]}, "telemetry.headers[0]", "may carry a credential"),
    ({"headers": ["x-ms-client-session-id"]}, "telemetry.headers[0]", "may carry a credential"),
    ({"headers": ["bad header"]}, "telemetry.headers[0]", "HTTP header name"),
    ({"headers": "x-id"}, "telemetry.headers", "list of header names"),
    ({"application_insights_id": ADOPTED_COMPONENT}, "telemetry.workspace_id", "needs workspace_id too"),
    ({"application_insights_id": ADOPTED_WORKSPACE, "workspace_id": ADOPTED_WORKSPACE}, "telemetry.application_insights_id", "Microsoft.Insights/components"),
    ({"workspace_id": ADOPTED_COMPONENT}, "telemetry.workspace_id", "Microsoft.OperationalInsights/workspaces"),
    ({"log_client_ip": "no"}, "telemetry.log_client_ip", "True or False"),
    ({"sampling": 10}, "telemetry.sampling", "unknown argument"),
    ("on", "telemetry", "expected TelemetryArgs"),
])
def test_bad_telemetry_is_refused_before_anything_registers(telemetry, key, phrase):
    with pytest.raises(LastMileError) as err:
        run(_program(telemetry))
    assert str(err.value).startswith(f"{key}:") and phrase in str(err.value), str(err.value)
    assert registered() == []


def test_a_gateway_name_the_new_workspace_could_not_take_is_refused_before_anything_registers():
    with pytest.raises(LastMileError) as err:
        run(lambda: Gateway("gw-", {**GATEWAY, "telemetry": {}}))
    assert str(err.value).startswith("Gateway name: got 'gw-'") and "log-apim-gw-" in str(err.value)
    assert registered() == []
    run(lambda: Gateway("gw-", {**GATEWAY, "telemetry": {"workspace_id": ADOPTED_WORKSPACE}}))  # no new workspace: fine


def test_an_adopted_component_of_another_subscription_is_refused():
    other = ADOPTED_COMPONENT.replace("00000000-0000-4000-8000-000000000001", "7c1e4b2a-5d3f-4a8e-9b6c-1f2e3d4c5b6a")
    with pytest.raises(ValueError, match="is in subscription 7c1e4b2a-5d3f-4a8e-9b6c-1f2e3d4c5b6a"):
        run(lambda: Gateway("gw", {**GATEWAY, "telemetry": {"application_insights_id": other, "workspace_id": ADOPTED_WORKSPACE}}),
            mocks=LastMileMocks(components={"appi-shared": {"disable_local_auth": True}}))


def test_a_hand_built_ref_with_telemetry_is_checked_field_by_field():
    from apim_lastmile.gateway import check_gateway_ref

    ref = {"service_name": "apim-x", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111",
           "telemetry": {"logger_id": f"{SUB}/Microsoft.ApiManagement/service/apim-x/loggers/l", "workspace_id": ADOPTED_WORKSPACE,
                         "application_insights_id": ADOPTED_COMPONENT,
                         "connection_string": "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x/"}}
    check_gateway_ref(ref)
    for change, key in (({"logger_id": ADOPTED_WORKSPACE}, "gateway.telemetry.logger_id"),
                        ({"connection_string": "InstrumentationKey=abc"}, "gateway.telemetry.connection_string"),
                        ({"workspace_id": None}, "gateway.telemetry.workspace_id"),
                        ({"headers": ["Cookie"]}, "gateway.telemetry.headers[0]"),
                        ({"loger_id": "x"}, "gateway.telemetry.loger_id")):
        with pytest.raises(LastMileError) as err:
            check_gateway_ref({**ref, "telemetry": {**ref["telemetry"], **change}})
        assert str(err.value).startswith(f"{key}:"), str(err.value)


def test_telemetry_in_the_stack_config_reaches_the_gateway_and_is_refused_at_its_key():
    from apim_lastmile.errors import ConfigError
    from apim_lastmile.tools import config

    base = {"resourceGroup": {"name": "rg"}, "gateway": {"publisherEmail": "a@b.co", "publisherName": "n", "sku": "StandardV2",
                                                         "telemetry": {"samplingPercentage": 50, "headers": ["x-request-id"]}}}
    assert config.parse(base).gateway_args()["telemetry"] == {"sampling_percentage": 50.0, "headers": ["x-request-id"]}
    for change, key in (({"samplingPercentage": 150}, "gateway.telemetry.samplingPercentage"),
                        ({"samplingPercentage": True}, "gateway.telemetry.samplingPercentage"),  # not read as 1
                        ({"logClientIp": "yes"}, "gateway.telemetry.logClientIp"),  # not read as True
                        ({"retentionInDays": 30.5}, "gateway.telemetry.retentionInDays"),
                        ({"headers": ["Authorization"]}, "gateway.telemetry.headers[0]"),
                        ({"retention": 30}, "gateway.telemetry.retention")):
        with pytest.raises(ConfigError) as err:
            config.parse({**base, "gateway": {**base["gateway"], "telemetry": change}})
        assert str(err.value).startswith(f"apim-lastmile:{key}"), str(err.value)


def test_the_plan_diff_shows_the_telemetry_resources(tmp_path, capsys):
    from apim_lastmile.tools.cli import main

    def program(telemetry):
        def body():
            g = Gateway("gw", {**GATEWAY, **({"telemetry": telemetry} if telemetry is not None else {})})
            EntraBackend("lake", {"gateway": g.ref, "api_path": "lake", "audience": "storage",
                                  "backend_url": "https://acct.dfs.core.windows.net/raw"})
        return body

    before = run(program(None)).to_json()
    after = run(program({})).to_json()
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(after))
    main(["diff", str(tmp_path / "before.json"), str(tmp_path / "after.json")])
    out = capsys.readouterr().out
    for added in (COMPONENT, WORKSPACE, LOGGER, API_DIAGNOSTIC, SETTING):
        assert re.search(rf"^\+ .*{re.escape(added)}", out, re.M), (added, out[:3000])
