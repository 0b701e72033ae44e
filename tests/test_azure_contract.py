"""Every input we send holds to Azure's published contract (the generated REST API types in ../shared/azure-types).

The facts live in ``components/apim_lastmile/tools/azure_contract.json`` (extracted by ``python -m apim_lastmile.tools.contract``);
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

from apim_lastmile import naming
from apim_lastmile.tools import contract
from apim_lastmile.api import HTTP_METHODS, _operation_id
from apim_lastmile.keyvault_backend import named_value_names, vault_name_prefix
from apim_lastmile.tools.plan import plan_stack
from helpers import stack_plan

REPO = Path(__file__).resolve().parents[1]
TYPES_DIR = REPO.parent / "shared" / "azure-types"


@pytest.fixture(scope="module")
def plans():
    return {stack: stack_plan(stack) for stack in ("dev", "prod")}


def test_committed_facts_are_what_microsofts_types_say():
    if not (TYPES_DIR / "README.md").is_file():
        pytest.fail(f"Azure's types not found at {TYPES_DIR}: put shared/ beside the repo")
    committed = json.loads(contract.FACTS_FILE.read_text())
    assert contract.extract(TYPES_DIR) == committed, "stale azure_contract.json: run python -m apim_lastmile.tools.contract ../shared/azure-types"


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
    """The facts are of the api-version each azure-native class sends (its docstring names it; a parameterized
    package's token names its version)."""
    from apim_lastmile.tools import api_versions

    for token, wire in contract.WIRES.items():
        used = api_versions.sdk_sends(token)
        # Microsoft.Web 2025-05-01 is not in the types snapshot: its 2025-03-01 types stand in (see the WIRES note).
        assert used == wire.sent_version, token
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
    """Set (or with _DELETE remove) the input at a dotted path; a number is an index into a list."""
    *head, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    node = inputs
    for key in head:
        node = node[key] if isinstance(key, int) else node.setdefault(key, {})
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
    ("azure-native_keyvault_v20260201:keyvault:Vault", "vaultName", "kv_with_underscore", "does not match"),
    ("azure-native_keyvault_v20260201:keyvault:Vault", "properties.sku.name", "Standard", "expected one of premium, standard"),
    ("azure-native_keyvault_v20260201:keyvault:Vault", "properties.tenantId", "not-a-tenant", "shorter than 36"),
    ("azure-native_keyvault_v20260201:keyvault:Vault", "properties.vaultUri", "https://x.vault.azure.net/", None),  # settable in the contract
    ("azure-native_keyvault_v20260201:keyvault:Secret", "secretName", "a.b", "does not match"),
    ("azure-native_keyvault_v20260201:keyvault:Secret", "vaultName", "kv.bad", "does not match"),
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
    ("azure-native_keyvault_v20260201:keyvault:Vault", "properties.softDeleteRetentionInDays", 5, "below the minimum 7"),
    ("azure-native_keyvault_v20260201:keyvault:Vault", "properties.softDeleteRetentionInDays", 91, "above the maximum 90"),
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


# ---- the network last mile: inputs as the Pulumi mocks record them (camelCase, nested properties flattened) ----

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-x/providers"
NSG = "azure-native:network:NetworkSecurityGroup"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
PE = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
ZONE = "azure-native:privatedns:PrivateZone"
LINK = "azure-native:privatedns:VirtualNetworkLink"
NETWORK_EXAMPLES = [
    (NSG, {"networkSecurityGroupName": "nsg-apim-lastmile", "resourceGroupName": "rg-x", "location": "westeurope",
           "securityRules": [
               {"name": "storage-out", "priority": 100, "direction": "Outbound", "access": "Allow", "protocol": "Tcp",
                "sourceAddressPrefix": "VirtualNetwork", "sourcePortRange": "*", "destinationAddressPrefix": "Storage",
                "destinationPortRange": "443", "description": "Function storage over the service tag"},
               {"name": "monitor-out", "priority": 110, "direction": "Outbound", "access": "Allow", "protocol": "Tcp",
                "sourceAddressPrefix": "VirtualNetwork", "sourcePortRange": "*", "destinationAddressPrefix": "AzureMonitor",
                "destinationPortRanges": ["1886", "443"], "description": "Application Insights"}]}),
    (VNET, {"virtualNetworkName": "vnet-apim-lastmile", "resourceGroupName": "rg-x", "location": "westeurope",
            "addressSpace": {"addressPrefixes": ["10.40.0.0/24"]}}),
    (SUBNET, {"subnetName": "apim", "virtualNetworkName": "vnet-apim-lastmile", "resourceGroupName": "rg-x",
              "addressPrefix": "10.40.0.0/25",
              "networkSecurityGroup": {"id": f"{SUB}/Microsoft.Network/networkSecurityGroups/nsg-apim-lastmile"},
              "delegations": [{"name": "apim-outbound", "serviceName": "Microsoft.Web/serverFarms"}]}),
    (SUBNET, {"subnetName": "private-endpoints", "virtualNetworkName": "vnet-apim-lastmile", "resourceGroupName": "rg-x",
              "addressPrefix": "10.40.0.128/26", "privateEndpointNetworkPolicies": "Disabled"}),
    (ZONE, {"privateZoneName": "privatelink.azurewebsites.net", "resourceGroupName": "rg-x", "location": "Global"}),
    (LINK, {"virtualNetworkLinkName": "vnet-apim-lastmile", "privateZoneName": "privatelink.azurewebsites.net",
            "resourceGroupName": "rg-x", "location": "Global", "registrationEnabled": False,
            "virtualNetwork": {"id": f"{SUB}/Microsoft.Network/virtualNetworks/vnet-apim-lastmile"}}),
    (PE, {"privateEndpointName": "pe-orders", "resourceGroupName": "rg-x", "location": "westeurope",
          "subnet": {"id": f"{SUB}/Microsoft.Network/virtualNetworks/vnet-apim-lastmile/subnets/private-endpoints"},
          "privateLinkServiceConnections": [{"name": "orders-sites", "privateLinkServiceId": f"{SUB}/Microsoft.Web/sites/func-orders-abc",
                                             "groupIds": ["sites"]}]}),
    (ZONE_GROUP, {"privateDnsZoneGroupName": "default", "privateEndpointName": "pe-orders", "resourceGroupName": "rg-x",
                  "privateDnsZoneConfigs": [{"name": "privatelink-azurewebsites-net",
                                             "privateDnsZoneId": f"{SUB}/Microsoft.Network/privateDnsZones/privatelink.azurewebsites.net"}]}),
]


@pytest.mark.parametrize("token,inputs", NETWORK_EXAMPLES, ids=[t.split(":")[-1] for t, _ in NETWORK_EXAMPLES])
def test_network_inputs_the_library_sends_hold_to_azure_contract(token, inputs):
    assert token in contract.facts()
    assert contract.check(token, inputs) == []


def network_example(token):
    return copy.deepcopy(next(inputs for t, inputs in NETWORK_EXAMPLES if t == token))


NETWORK_MUTATIONS = [
    # (type, wire path (a number indexes a list), bad value, what the finding must say, the ARM path it must name)
    (NSG, "securityRules.0.direction", "Sideways", "expected a documented value", "properties.securityRules[].properties.direction"),
    (NSG, "securityRules.0.access", "Maybe", "expected a documented value", "properties.securityRules[].properties.access"),
    (NSG, "securityRules.1.protocol", "Http", "expected a documented value", "properties.securityRules[].properties.protocol"),
    (NSG, "securityRules.0.priority", 99, "below the minimum 100", "properties.securityRules[].properties.priority"),
    (NSG, "securityRules.0.priority", 4097, "above the maximum 4096", "properties.securityRules[].properties.priority"),
    (NSG, "securityRules.0.priority", 100.5, "whole number", "properties.securityRules[].properties.priority"),
    (NSG, "securityRules.1.direction", _DELETE, "required by Azure", "properties.securityRules[].properties.direction"),
    (NSG, "securityRules.0.provisioningState", "Succeeded", "read-only", "properties.securityRules[].properties.provisioningState"),
    (NSG, "securityRules.0.etag", "W/\"1\"", "read-only", "properties.securityRules[].etag"),
    (NSG, "securityRules.0.properties", {"priority": 100}, "not a property", "properties.securityRules[].properties"),
    (NSG, "securityRules.0.destinationPortRanges", "443", "expected a list", "properties.securityRules[].properties.destinationPortRanges"),
    (NSG, "securityRules.0.destinationPort", "443", "not a property", "properties.securityRules[].destinationPort"),
    (NSG, "defaultSecurityRules", [], "read-only", "properties.defaultSecurityRules"),
    (NSG, "networkSecurityGroupName", _DELETE, "required by Azure", "name"),
    (VNET, "addressSpace.addressPrefixes", "10.40.0.0/24", "expected a list", "properties.addressSpace.addressPrefixes"),
    (VNET, "addressSpace.addressPrefixs", ["10.40.0.0/24"], "not a property", "properties.addressSpace.addressPrefixs"),
    (VNET, "provisioningState", "Succeeded", "read-only", "properties.provisioningState"),
    (VNET, "privateEndpointVNetPolicies", "Strict", "expected a documented value", "properties.privateEndpointVNetPolicies"),
    (SUBNET, "delegations.0.serviceName", 42, "expected a string", "properties.delegations[].properties.serviceName"),
    (SUBNET, "delegations.0.actions", ["Microsoft.Network/virtualNetworks/subnets/action"], "read-only",
     "properties.delegations[].properties.actions"),
    (SUBNET, "delegations.0.service", "Microsoft.Web/serverFarms", "not a property", "properties.delegations[].service"),
    (SUBNET, "privateEndpointNetworkPolicies", "Off", "expected a documented value", "properties.privateEndpointNetworkPolicies"),
    (SUBNET, "networkSecurityGroup", "nsg-apim-lastmile", "expected an object", "properties.networkSecurityGroup"),
    (SUBNET, "networkSecurityGroup.provisioningState", "Succeeded", "read-only",
     "properties.networkSecurityGroup.properties.provisioningState"),
    (SUBNET, "purpose", "apim", "read-only", "properties.purpose"),
    (SUBNET, "location", "westeurope", "not a property", "location"),
    (SUBNET, "subnetName", _DELETE, "required by Azure", "name"),
    (ZONE, "numberOfRecordSets", 1, "read-only", "properties.numberOfRecordSets"),
    (ZONE, "location", 7, "expected a string", "location"),
    (ZONE, "zoneType", "Private", "not a property", "zoneType"),
    (LINK, "registrationEnabled", "false", "true or false", "properties.registrationEnabled"),
    (LINK, "virtualNetwork", f"{SUB}/Microsoft.Network/virtualNetworks/vnet-apim-lastmile", "expected an object",
     "properties.virtualNetwork"),
    (LINK, "resolutionPolicy", "Sometimes", "expected a documented value", "properties.resolutionPolicy"),
    (LINK, "virtualNetworkLinkState", "Completed", "read-only", "properties.virtualNetworkLinkState"),
    (PE, "privateLinkServiceConnections.0.groupIds", "sites", "expected a list", "properties.privateLinkServiceConnections[].properties.groupIds"),
    (PE, "privateLinkServiceConnections.0.privateLinkServiceId", 5, "expected a string",
     "properties.privateLinkServiceConnections[].properties.privateLinkServiceId"),
    (PE, "privateLinkServiceConnections.0.serviceId", "x", "not a property", "properties.privateLinkServiceConnections[].serviceId"),
    (PE, "privateLinkServiceConnections.0.provisioningState", "Succeeded", "read-only",
     "properties.privateLinkServiceConnections[].properties.provisioningState"),
    (PE, "subnet", "private-endpoints", "expected an object", "properties.subnet"),
    (PE, "networkInterfaces", [], "read-only", "properties.networkInterfaces"),
    (ZONE_GROUP, "privateDnsZoneConfigs.0.recordSets", [], "read-only", "properties.privateDnsZoneConfigs[].properties.recordSets"),
    (ZONE_GROUP, "privateDnsZoneConfigs.0.privateDnsZoneIds", ["x"], "not a property", "properties.privateDnsZoneConfigs[].privateDnsZoneIds"),
    (ZONE_GROUP, "privateDnsZoneConfigs", {"name": "x"}, "expected a list", "properties.privateDnsZoneConfigs"),
    (ZONE_GROUP, "location", "westeurope", "not a property", "location"),
]


@pytest.mark.parametrize("token,path,value,problem,arm_path", NETWORK_MUTATIONS,
                         ids=[f"{m[0].split(':')[-1]}.{m[1]}={m[2]!r:.12}" for m in NETWORK_MUTATIONS])
def test_one_broken_network_input_is_reported(token, path, value, problem, arm_path):
    inputs = network_example(token)
    _set(inputs, path, value)
    findings = contract.check(token, inputs)
    assert [(f.path, problem in f.problem) for f in findings] == [(arm_path, True)], findings
    assert str(findings[0]).startswith(token)


def test_every_security_rule_is_held_to_the_required_properties():
    """Required properties are checked for each item of a list, not once for the list."""
    inputs = network_example(NSG)
    rule = {"name": "only-a-name"}
    inputs["securityRules"].append(rule)
    missing = {f.path for f in contract.check(NSG, inputs)}
    assert missing == {f"properties.securityRules[].properties.{p}" for p in ("access", "direction", "priority", "protocol")}


# Where azure-native 3.29's input types and our mapping of them onto the types part, and why (see the test below).
_CLIENT_FLATTENED_POOL = "an IpamPoolPrefixAllocation's x-ms-client-flatten `pool` (ARM pool.id): only `properties` is unflattened"
_NEWER_SDK = "azure-native's shared input type is newer than the api-version's types"
SDK_INPUTS_NOT_MAPPED = {
    "azure-native:web:WebApp": {"properties.functionAppConfig.siteUpdateStrategy": "a 2025-05-01 property (types of 2025-03-01)"},
    VNET: {
        "properties.addressSpace.ipamPoolPrefixAllocations[].id": _CLIENT_FLATTENED_POOL,
        "properties.subnets[].properties.ipamPoolPrefixAllocations[].id": _CLIENT_FLATTENED_POOL,
        "properties.virtualNetworkPeerings[].properties.localAddressSpace.ipamPoolPrefixAllocations[].id": _CLIENT_FLATTENED_POOL,
        "properties.virtualNetworkPeerings[].properties.localVirtualNetworkAddressSpace.ipamPoolPrefixAllocations[].id": _CLIENT_FLATTENED_POOL,
        "properties.virtualNetworkPeerings[].properties.remoteAddressSpace.ipamPoolPrefixAllocations[].id": _CLIENT_FLATTENED_POOL,
        "properties.virtualNetworkPeerings[].properties.remoteVirtualNetworkAddressSpace.ipamPoolPrefixAllocations[].id": _CLIENT_FLATTENED_POOL,
        "properties.subnets[].serviceGateway": _NEWER_SDK},
    SUBNET: {"properties.ipamPoolPrefixAllocations[].id": _CLIENT_FLATTENED_POOL},
    PE: {"properties.subnet.properties.ipamPoolPrefixAllocations[].id": _CLIENT_FLATTENED_POOL, "properties.subnet.serviceGateway": _NEWER_SDK},
}


def _sdk_shape(annotation):
    """('[]'/'{}' per list/map level, the innermost type) of an azure-native input annotation."""
    import collections.abc
    import typing

    import pulumi._types as pulumi_types

    t = pulumi_types.unwrap_type(annotation)
    origin = typing.get_origin(t)
    if origin in (collections.abc.Sequence, list):
        kind, inner = _sdk_shape(typing.get_args(t)[0])
        return "[]" + kind, inner
    if origin in (collections.abc.Mapping, dict):
        kind, inner = _sdk_shape(typing.get_args(t)[1])
        return "{}" + kind, inner
    if origin is typing.Union:
        members = [a for a in typing.get_args(t) if a is not type(None)]
        nested = [m for m in members if pulumi_types.is_input_type(m)]
        return ("", nested[0]) if nested else _sdk_shape(members[0])
    return "", t


@pytest.mark.parametrize("token", sorted(contract.WIRES))
def test_every_sdk_input_maps_onto_the_contract(token):
    """azure-native's own input types say how it flattens: walk every input it can send for the type (nested input
    types too) and map it as contract.check does. No nested input type has a ``properties`` input, so flattening a
    nested ``properties`` is right; the few inputs that do not map are listed with the reason."""
    import importlib

    import pulumi._types as pulumi_types

    wire = contract.WIRES[token]
    paths = contract.facts()[token]["paths"]
    _, module, cls = token.split(":")
    resource = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), cls)
    home = importlib.import_module(resource.__module__)
    args = getattr(home, f"{cls}InitArgs", None) or getattr(home, f"{cls}Args")
    unmapped = set()

    def walk(input_type, at, seen):
        types = pulumi_types.input_type_types(input_type)
        for name in pulumi_types.input_type_py_to_pulumi_names(input_type).values():
            if at and name == "properties":
                raise AssertionError(f"{token}: {input_type.__name__} at {at} keeps a nested properties input")
            if not at and (name in (wire.name_param, "location") or name in wire.parents):
                continue
            path = contract._input_path(wire, paths, at, name)
            if path is None:
                if not paths.get(f"{at}.properties", {}).get("unexpanded"):
                    unmapped.add(f"{at}.{name}" if at else name)
                continue
            kind, inner = _sdk_shape(types[name])
            below = paths.get(path + kind, {})
            if (pulumi_types.is_input_type(inner) and inner not in seen and not paths[path].get("readOnly")
                    and below.get("type") == "object" and not below.get("unexpanded")):
                walk(inner, path + kind, seen | {inner})

    walk(args, "", frozenset())
    assert unmapped == set(SDK_INPUTS_NOT_MAPPED.get(token, {})), unmapped


def test_a_managed_identity_mutation_in_a_recorded_plan_fails_the_run_check(plans):
    """The check the component tests run after every mock run (helpers.assert_azure_accepts) fails on one bad input."""
    from helpers import assert_azure_accepts

    plan = copy.deepcopy(plans["dev"])
    assert_azure_accepts(plan)
    vault = next(r for r in plan.registrations if r.type == "azure-native_keyvault_v20260201:keyvault:Vault")
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
    (naming.KEY_VAULT, name_facts("azure-native_keyvault_v20260201:keyvault:Vault")),
    (naming.KEY_VAULT_SECRET, name_facts("azure-native_keyvault_v20260201:keyvault:Secret")),
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
@settings(max_examples=80, deadline=None)  # the suite's 90 s budget (docs/design.md)
@given(candidate=st.text(alphabet=ALPHABET, max_size=130))
def test_every_name_our_rule_accepts_azure_accepts(rule, facts, candidate):
    try:
        rule.check("k", candidate)
    except ValueError:
        return
    assert azure_accepts(facts, candidate), (rule.what, candidate)


@settings(max_examples=80, deadline=None)  # the suite's 90 s budget (docs/design.md)
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
    assert azure_accepts(types["azure-native_keyvault_v20260201:keyvault:Vault"]["paths"]["name"], prefix + "a1b2c3")


@settings(max_examples=80, deadline=None)  # the suite's 90 s budget (docs/design.md)
@given(method=st.sampled_from(HTTP_METHODS), template=st.from_regex(r"/[A-Za-z0-9._~{}*/-]{0,200}", fullmatch=True))
def test_operation_ids_are_valid_apim_ids(method, template):
    assert azure_accepts(contract.facts()["azure-native:apimanagement:ApiOperation"]["paths"]["name"], _operation_id(method, template))


def test_lastmile_plan_fails_when_azure_would_refuse_an_input(monkeypatch, capsys, cached_plans):
    from apim_lastmile.tools.cli import main

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
