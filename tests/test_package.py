"""The component package: the schema Pulumi's analyzer infers, and Construct through the provider, offline.

SDK generation (`pulumi package add`) needs the Pulumi CLI, which cannot run here; these tests prove what can be
proven without it: the schema is complete and committed, and the provider builds exactly what the Python classes do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from pulumi.errors import InputPropertyError

from apim_lastmile.tools import package
from apim_lastmile.arguments import camel_path

from helpers import registered, run, stack_plan

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "schema.json").read_text())
REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111",
       "sku": "StandardV2"}
CONTAINER = ("/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/"
             "lake/blobServices/default/containers/raw")
ARGS = {
    "Gateway": {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso", "sku": "BasicV2"},
    "SecuredFunctionBackend": {"gateway": REF, "resource_group_name": "rg", "api_path": "orders",
                               "runtime": {"name": "dotnet-isolated", "version": "8.0"},
                               "operations": [{"method": "GET", "url_template": "/orders/{id}"}]},
    "KeyVaultSecretBackend": {"gateway": REF, "resource_group_name": "rg", "api_path": "legacy", "backend_url": "https://legacy.contoso.com",
                              "username": "svc", "delivery": "send-request"},
    "EntraBackend": {"gateway": REF, "api_path": "lake", "backend_url": "https://lake.dfs.core.windows.net/raw", "audience": "storage",
                     "role_assignments": [{"role": "Storage Blob Data Reader", "scope": CONTAINER}], "headers": {"x-ms-version": "2023-11-03"}},
}


def camel(value):
    """Python argument names -> schema names, as an SDK in another language sends them."""
    if isinstance(value, dict):
        return {(k if k.startswith("x-") else camel_path(k)): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def test_the_analyzer_infers_every_component_and_the_committed_schema_is_current():
    assert package.schema() == SCHEMA, "schema.json is stale: regenerate it with python -c 'from apim_lastmile.tools import package; ...' (see docs/other-languages.md)"
    assert set(SCHEMA["resources"]) == {f"apim-lastmile:index:{c.__name__}" for c in package.COMPONENTS}
    assert SCHEMA["name"] == "apim-lastmile" and SCHEMA["version"] == package.version()


def _properties(schema):
    for token, resource in schema["resources"].items():
        yield token, "", resource
        for section in ("inputProperties", "properties"):
            for name, prop in resource.get(section, {}).items():
                yield token, f"{section}.{name}", prop
    for token, typ in schema["types"].items():
        yield token, "", typ
        for name, prop in typ.get("properties", {}).items():
            yield token, f"properties.{name}", prop
        for member in typ.get("enum", []):
            yield token, f"enum.{member['value']}", member


def test_the_schema_is_complete_every_property_described_and_concretely_typed():
    for token, where, item in _properties(SCHEMA):
        assert item.get("description", "").strip(), f"{token} {where}: no description"
        if where.startswith(("inputProperties", "properties")):
            assert "type" in item or "$ref" in item, f"{token} {where}: no type"
            assert "pulumi.json#/Any" not in json.dumps(item), f"{token} {where}: Any-typed"
    closed = {t: [m["value"] for m in SCHEMA["types"][f"apim-lastmile:index:{t}"]["enum"]] for t in ("Sku", "Delivery", "RuntimeName")}
    assert "Consumption" in closed["Sku"] and closed["Delivery"] == ["named-value", "send-request"] and "dotnet-isolated" in closed["RuntimeName"]


def test_the_readme_argument_table_names_every_input_of_the_schema():
    readme = (REPO / "README.md").read_text()
    table = readme.split("### Components and their arguments", 1)[1].split("`protect=True`", 1)[0]
    rows = {row.split("|")[1].strip(" `"): row for row in table.splitlines() if row.startswith("| `")}
    for token, resource in SCHEMA["resources"].items():
        row = rows[token.rsplit(":", 1)[1]]
        for name in resource["inputProperties"]:
            snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
            assert f"`{snake}`" in row, f"README's {token} row does not name {snake}"


def _registrations(plan):
    return sorted((r.type, r.name, json.dumps(r.plain_inputs, sort_keys=True, default=str)) for r in plan.registrations if r.custom)


@pytest.mark.parametrize("component", [c.__name__ for c in package.COMPONENTS])
def test_construct_through_the_provider_registers_what_the_python_class_does(component):
    cls = next(c for c in package.COMPONENTS if c.__name__ == component)
    direct = run(lambda: cls("edge", ARGS[component]))
    provider = package.provider()
    results = []
    through = run(lambda: results.append(provider.construct("edge", f"apim-lastmile:index:{component}", camel(ARGS[component]))))
    assert _registrations(through) == _registrations(direct)
    assert len(_registrations(direct)) >= 2
    state = results[0].state
    resource = SCHEMA["resources"][f"apim-lastmile:index:{component}"]
    assert set(resource["required"]) <= set(state) <= set(resource["properties"]), component


@pytest.mark.parametrize("component, change, path, phrase", [
    ("SecuredFunctionBackend", {"runtime": {"name": "dotnet-isolated", "version": "10"}}, "runtime.version", "write '10.0'"),
    ("KeyVaultSecretBackend", {"backend_url": "https://10.0.0.4/"}, "backendUrl", "IP address"),
    ("EntraBackend", {"backend_url": "https://collector.example.com/raw"}, "backendUrl", "storage's token may only travel to"),
    ("Gateway", {"sku": "Basic", "capacity": 3}, "capacity", "takes 1 to 2 units"),
])
def test_bad_input_through_the_provider_is_an_input_property_error_not_a_stack_trace(component, change, path, phrase):
    provider = package.provider()
    with pytest.raises(InputPropertyError) as err:
        run(lambda: provider.construct("edge", f"apim-lastmile:index:{component}", camel({**ARGS[component], **change})))
    assert err.value.property_path == path and phrase in err.value.reason
    assert "Traceback" not in err.value.reason and not [r for r in registered() if r.custom]


def test_an_enum_outside_the_schema_is_refused_by_the_provider():
    provider = package.provider()
    with pytest.raises(InputPropertyError, match="Invalid value Gold"):
        run(lambda: provider.construct("edge", "apim-lastmile:index:Gateway", camel({**ARGS["Gateway"], "sku": "Gold"})))


def test_the_plugin_folder_hosts_the_package():
    plugin = yaml.safe_load((REPO / "provider" / "PulumiPlugin.yaml").read_text())
    assert plugin["runtime"]["name"] == "python"
    assert "from apim_lastmile.tools.package import main" in (REPO / "provider" / "__main__.py").read_text()
    assert (REPO / "provider" / "requirements.txt").read_text().strip().splitlines()[-1] == ".."


# ---- the examples in other languages name only what the schema has ----

def test_the_yaml_example_names_only_schema_types_and_properties():
    program = yaml.safe_load((REPO / "examples" / "yaml" / "Pulumi.yaml").read_text())
    used = 0
    for name, resource in program["resources"].items():
        token = resource["type"]
        if not token.startswith("apim-lastmile:"):
            continue
        schema = SCHEMA["resources"][token]
        for prop, value in (resource.get("properties") or {}).items():
            assert prop in schema["inputProperties"], f"{name}: {prop} is not an input of {token}"
            if isinstance(value, dict) and "$ref" in schema["inputProperties"][prop]:
                typ = SCHEMA["types"][schema["inputProperties"][prop]["$ref"].split("#/types/")[1]]
                assert set(value) <= set(typ["properties"]), f"{name}.{prop}: {set(value) - set(typ['properties'])}"
        used += 1
    assert used >= 2


def test_the_typescript_example_names_only_schema_types_and_properties():
    source = (REPO / "examples" / "typescript" / "index.ts").read_text()
    found = re.findall(r"new apimLastmile\.(\w+)\(\"[^\"]+\", \{(.*?)\n\}\);", source, re.S)
    assert {c for c, _ in found} >= {"Gateway", "SecuredFunctionBackend"}
    for component, body in found:
        inputs = SCHEMA["resources"][f"apim-lastmile:index:{component}"]["inputProperties"]
        for prop in re.findall(r"^    (\w+):", body, re.M):
            assert prop in inputs, f"{component}: {prop} is not in the schema"


# ---- cross-stack: a GatewayRef from another stack's outputs ----

def test_a_gateway_exported_by_one_stack_is_a_gateway_ref_in_another():
    import pulumi

    from apim_lastmile import KeyVaultSecretBackend, gateway_ref_from_stack
    from apim_lastmile.tools.plan import LastMileMocks

    exported = stack_plan("prod").outputs["gateway"]
    assert set(exported) == {"serviceName", "resourceGroupName", "principalId", "identityClientId", "identityType", "gatewayUrl", "sku", "cache",
                             "outboundIps", "privateLink", "systemPrincipalId", "telemetry"}
    assert set(exported["telemetry"]) == {"loggerId", "workspaceId", "applicationInsightsId", "connectionString", "samplingPercentage",
                                          "logClientIp", "headers"}
    assert set(exported["privateLink"]) == {"subnetId", "location", "dnsZoneIds", "endpointCapacity", "integrationSubnetId"}

    def consumer():
        ref = gateway_ref_from_stack(pulumi.StackReference("platform/lastmile/prod"), sku=exported["sku"], with_telemetry=True)
        KeyVaultSecretBackend("team", {"gateway": ref, "resource_group_name": "rg-team", "api_path": "team",
                                       "backend_url": "https://team.contoso.com", "username": "svc", "delivery": "send-request"})

    plan = run(consumer, mocks=LastMileMocks(stacks={"platform/lastmile/prod": {"gateway": exported}}))
    grant = plan.one("azure-native:authorization:RoleAssignment", "team-secret-reader").plain_inputs
    assert grant["principalId"] == exported["principalId"]
    named = plan.one("azure-native:apimanagement:NamedValue", "team-nv-username").plain_inputs
    assert named["serviceName"] == exported["serviceName"] and named["resourceGroupName"] == exported["resourceGroupName"]
    xml = plan.one("azure-native:apimanagement:ApiPolicy").plain_inputs["value"]
    assert f'client-id="{exported["identityClientId"]}"' in xml
    # The consumer's API logs through the platform's logger, with the platform's sampling.
    diagnostic = plan.one("azure-native:apimanagement:ApiDiagnostic", "team-diagnostic").plain_inputs
    assert diagnostic["loggerId"] == exported["telemetry"]["loggerId"]
    assert diagnostic["sampling"]["percentage"] == exported["telemetry"]["samplingPercentage"]


def test_a_stack_reference_with_telemetry_refuses_a_gateway_that_exports_none():
    import pulumi

    from apim_lastmile import EntraBackend, gateway_ref_from_stack
    from apim_lastmile.tools.plan import LastMileMocks

    exported = {k: v for k, v in stack_plan("prod").outputs["gateway"].items() if k != "telemetry"}
    with pytest.raises(ValueError, match="exports no telemetry"):  # at deploy time, in the engine's wrapper
        run(lambda: EntraBackend("team", {"gateway": gateway_ref_from_stack(pulumi.StackReference("p/l/prod"), with_telemetry=True),
                                          "api_path": "team", "backend_url": "https://team.blob.core.windows.net/c", "audience": "storage"}),
            mocks=LastMileMocks(stacks={"p/l/prod": {"gateway": exported}}))


def test_a_stack_reference_without_the_tier_cannot_take_send_request():
    import pulumi

    from apim_lastmile import KeyVaultSecretBackend, LastMileError, gateway_ref_from_stack
    from apim_lastmile.tools.plan import LastMileMocks

    exported = {"serviceName": "apim-platform", "resourceGroupName": "rg-platform", "principalId": "11111111-1111-4111-8111-111111111111"}
    with pytest.raises(LastMileError, match="does not say whether the gateway has a cache"):
        run(lambda: KeyVaultSecretBackend("team", {"gateway": gateway_ref_from_stack(pulumi.StackReference("platform/lastmile/prod")),
                                                   "resource_group_name": "rg", "api_path": "team", "backend_url": "https://team.contoso.com",
                                                   "username": "svc", "delivery": "send-request"}),
            mocks=LastMileMocks(stacks={"platform/lastmile/prod": {"gateway": exported}}))


PRIVATE_LINK = {"subnet_id": "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Network/"
                             "virtualNetworks/v/subnets/private-endpoints",
                "location": "westeurope",
                "dns_zone_ids": {"sites": "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/"
                                          "Microsoft.Network/privateDnsZones/privatelink.azurewebsites.net",
                                 "blob": "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/"
                                         "Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net"},
                "integration_subnet_id": "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/"
                                         "Microsoft.Network/virtualNetworks/v/subnets/function-apps"}


@pytest.mark.parametrize("component, args", [
    ("Gateway", {**ARGS["Gateway"], "sku": "StandardV2", "virtual_network": {"address_prefix": "10.40.0.0/24", "private_dns_zones": ["dfs"]}}),
    ("SecuredFunctionBackend", {**ARGS["SecuredFunctionBackend"], "gateway": {**REF, "private_link": PRIVATE_LINK}, "network": "private"}),
])
def test_the_network_last_mile_through_the_provider_registers_what_the_python_class_does(component, args):
    cls = next(c for c in package.COMPONENTS if c.__name__ == component)
    direct = run(lambda: cls("edge", args))
    through = run(lambda: package.provider().construct("edge", f"apim-lastmile:index:{component}", camel(args)))
    assert _registrations(through) == _registrations(direct)
    assert any(t in {"azure-native:network:PrivateEndpoint", "azure-native:network:Subnet"} for t, _, _ in _registrations(direct))


def test_the_plugin_serves_our_provider_so_refusals_reach_the_engine_as_input_property_errors(monkeypatch):
    """The entry point must serve package.provider() (whose refusals name the property), not the plain provider
    component_provider_host would build."""
    from pulumi.provider import experimental

    served = []
    monkeypatch.setattr("pulumi.provider.main", lambda provider, args: served.append((provider, args)))
    monkeypatch.setattr(experimental.host, "is_hosting", False)
    monkeypatch.setattr("sys.argv", ["provider/__main__.py", str(REPO / "provider"), "127.0.0.1:1"])
    package.main()
    [(provider, args)] = served
    assert args == [str(REPO / "provider"), "127.0.0.1:1"]
    with pytest.raises(InputPropertyError) as err:
        run(lambda: provider.construct("edge", "apim-lastmile:index:Gateway", camel({**ARGS["Gateway"], "sku": "Basic", "capacity": 3})))
    assert err.value.property_path == "capacity"
    package.main()  # the analyzer importing the plugin again starts no second server
    assert len(served) == 1


def test_the_plugin_process_answers_the_engine_with_the_committed_schema():
    import subprocess
    import sys

    import grpc
    from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

    process = subprocess.Popen([sys.executable, str(REPO / "provider" / "__main__.py"), str(REPO / "provider"), "127.0.0.1:1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(process.stdout.readline().decode().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = provider_pb2_grpc.ResourceProviderStub(channel).GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60)
        assert json.loads(answer.schema) == SCHEMA
    finally:
        process.kill()
        process.communicate()


def test_schema_descriptions_are_unwrapped_prose_for_every_sdk():
    found = []

    def walk(value):
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "description" and isinstance(child, str):
                    found.append(child)
                else:
                    walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(package.schema())
    assert len(found) > 50
    assert not [d for d in found if re.search(r"\n(?!\n)|  ", d) or d != d.strip()]
    gateway = package.schema()["resources"]["apim-lastmile:index:Gateway"]["inputProperties"]
    assert "injection in external mode; StandardV2: outbound integration" in gateway["virtualNetwork"]["description"]


@pytest.mark.parametrize("component, args, made", [
    ("Gateway", {**ARGS["Gateway"], "telemetry": {"sampling_percentage": 50, "headers": ["x-request-id"], "retention_in_days": 60}},
     "azure-native:apimanagement:Logger"),
    ("EntraBackend", {**ARGS["EntraBackend"], "gateway": {**REF, "sku": "StandardV2"},
                      "pool": [{"url": "https://lake2.dfs.core.windows.net/raw", "priority": 2, "weight": 3}]},
     "azure-native:apimanagement:Backend"),
])
def test_telemetry_and_replicas_through_the_provider_register_what_the_python_class_does(component, args, made):
    """Other languages reach the same arguments through the component package (nested objects, lists, numbers)."""
    cls = next(c for c in package.COMPONENTS if c.__name__ == component)
    direct = run(lambda: cls("edge", args))
    through = run(lambda: package.provider().construct("edge", f"apim-lastmile:index:{component}", camel(args)))
    assert _registrations(through) == _registrations(direct)
    inputs = [json.loads(i) for t, _, i in _registrations(direct) if t == made]
    if component == "Gateway":
        assert inputs[0]["credentials"]["identityClientId"] == "SystemAssigned"
    else:
        assert [i["pool"]["services"][1]["weight"] for i in inputs if i.get("type") == "Pool"] == [3]
