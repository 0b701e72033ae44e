"""The network last mile, mode private, and the tier table for every mode: the gateway sends its backend traffic into
a virtual network (injection on Developer/Premium, outbound integration on StandardV2), the function has no public
access and is reached through a private endpoint whose name the gateway's network resolves."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest

from apim_lastmile import Gateway, LastMileError, SecuredFunctionBackend, gateway_ref_from_stack
from apim_lastmile.tools import config
from apim_lastmile.azure_rules import DEDICATED_OUTBOUND_IPS, VIRTUAL_NETWORK
from apim_lastmile.errors import ConfigError
from apim_lastmile.gateway import SKUS
from apim_lastmile.network import MODES, PRIVATE_DNS_ZONES, supported_modes
from apim_lastmile.tools.plan import LastMileMocks

from helpers import registered, run, stack_plan

REPO = Path(__file__).resolve().parents[1]
APP = "azure-native:web:WebApp"
APIM = "azure-native:apimanagement:ApiManagementService"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
PE = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
ZONE = "azure-native:privatedns:PrivateZone"
LINK = "azure-native:privatedns:VirtualNetworkLink"
VNET = {"address_prefix": "10.40.0.0/24"}
REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}
SUBNET_ID = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe"
ZONE_ID = ("/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/"
           "privatelink.azurewebsites.net")
BLOB_ZONE_ID = ZONE_ID.replace("privatelink.azurewebsites.net", "privatelink.blob.core.windows.net")
FUNCTION_SUBNET_ID = SUBNET_ID.replace("/subnets/pe", "/subnets/function-apps")
LINK_REF = {"subnet_id": SUBNET_ID, "location": "westeurope", "dns_zone_ids": {"sites": ZONE_ID, "blob": BLOB_ZONE_ID},
            "integration_subnet_id": FUNCTION_SUBNET_ID}


def program(sku, vnet=None, **backend):
    def body():
        args = {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso", "sku": sku}
        if vnet is not None:
            args["virtual_network"] = vnet
        gw = Gateway("edge", args)
        SecuredFunctionBackend("orders", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": "orders", **backend})
    return body


@functools.lru_cache(maxsize=None)
def _standard_v2_private():
    return run(program("StandardV2", VNET))


def standard_v2_private():
    """The plan of a StandardV2 gateway with a network and a private function, made once per process (most of the
    network tests read it; a deep copy, so a test cannot change another's)."""
    return copy.deepcopy(_standard_v2_private())


def mode_of(plan) -> str:
    """The network mode a plan built, read off the recorded inputs (not the component's own output)."""
    app = plan.one(APP).plain_inputs
    if app.get("publicNetworkAccess") == "Disabled":
        return "private"
    return "gateway-ip" if app["siteConfig"].get("ipSecurityRestrictions") else "identity-only"


# --- the tier table ------------------------------------------------------------------------------------------

#: What Microsoft documents per tier (see README, "The network last mile"): dedicated addresses on the classic tiers
#: but Consumption; a virtual network for backend traffic on Developer, Premium (injection), StandardV2 and PremiumV2
#: (integration).
TABLE = {
    "Consumption": ("identity-only",), "Developer": ("identity-only", "gateway-ip", "private"),
    "Basic": ("identity-only", "gateway-ip"), "Standard": ("identity-only", "gateway-ip"),
    "Premium": ("identity-only", "gateway-ip", "private"), "Isolated": ("identity-only", "gateway-ip"),
    "BasicV2": ("identity-only",), "StandardV2": ("identity-only", "private"), "PremiumV2": ("identity-only", "private"),
}


def test_the_tier_table_covers_every_sku_and_is_what_the_rules_say():
    assert set(TABLE) == set(SKUS)
    for sku, modes in TABLE.items():
        assert supported_modes(sku) == modes, sku
        assert ("gateway-ip" in modes) == (sku in DEDICATED_OUTBOUND_IPS) and ("private" in modes) == (sku in VIRTUAL_NETWORK)


@pytest.mark.parametrize("sku", list(TABLE))
def test_each_tier_defaults_to_its_strongest_mode(sku):
    with_network = VNET if "private" in TABLE[sku] else None
    plan = run(program(sku, with_network))
    assert mode_of(plan) == TABLE[sku][-1]
    if with_network:  # without a network, the strongest the gateway can do
        assert mode_of(run(program(sku))) == ("gateway-ip" if sku in DEDICATED_OUTBOUND_IPS else "identity-only")


@pytest.mark.parametrize("sku, mode", [(s, m) for s in TABLE for m in MODES if m not in TABLE[s]])
def test_a_mode_the_tier_cannot_do_is_refused_naming_the_tier_and_what_it_supports(sku, mode):
    with pytest.raises(LastMileError) as err:
        run(lambda: SecuredFunctionBackend("orders", {"gateway": {**REF, "sku": sku, "outbound_ips": [], "private_link": None},
                                                      "resource_group_name": "rg", "api_path": "orders", "network": mode}))
    text = str(err.value)
    assert text.startswith(f"network: got {mode!r}") and f"the {sku} tier" in text
    assert f"it supports {', '.join(TABLE[sku])}" in text
    assert registered() == []


@pytest.mark.parametrize("sku", [s for s in TABLE if s not in VIRTUAL_NETWORK])
def test_a_virtual_network_on_a_tier_without_one_is_refused(sku):
    with pytest.raises(LastMileError) as err:
        run(program(sku, VNET))
    assert str(err.value).startswith("virtual_network:") and f"the {sku} tier cannot send" in str(err.value)
    assert registered() == []


# --- the gateway's side --------------------------------------------------------------------------------------

def test_standard_v2_integrates_a_delegated_subnet_and_is_external():
    plan = standard_v2_private()
    subnets = {s.plain_inputs["subnetName"]: s for s in plan.of_type(SUBNET)}
    gateway_subnet, endpoints = subnets["apim-gateway"].plain_inputs, subnets["private-endpoints"].plain_inputs
    assert gateway_subnet["addressPrefix"] == "10.40.0.0/25" and endpoints["addressPrefix"] == "10.40.0.128/26"
    assert gateway_subnet["delegations"] == [{"name": "apim-outbound", "serviceName": "Microsoft.Web/serverFarms"}]
    assert "delegations" not in endpoints
    service = plan.one(APIM).plain_inputs
    assert service["virtualNetworkType"] == "External"
    assert service["virtualNetworkConfiguration"]["subnetResourceId"] == subnets["apim-gateway"].outputs["id"]
    nsg = plan.one(NSG, "edge-nsg")
    assert gateway_subnet["networkSecurityGroup"]["id"] == nsg.outputs["id"]
    # Landing zones deny a subnet without an NSG: the endpoints' subnet has its own, with Azure's default rules only.
    endpoint_nsg = plan.one(NSG, "edge-endpoint-nsg")
    assert endpoints["networkSecurityGroup"]["id"] == endpoint_nsg.outputs["id"] != nsg.outputs["id"]
    assert not endpoint_nsg.plain_inputs.get("securityRules") and endpoints["privateEndpointNetworkPolicies"] == "Disabled"
    rules = {(r["direction"], r["destinationAddressPrefix"]): r for r in nsg.plain_inputs["securityRules"]}
    assert set(rules) == {("Outbound", "Storage"), ("Outbound", "AzureKeyVault")}
    # Two changes to one network at a time are refused: the second subnet waits for the first.
    assert subnets["apim-gateway"].urn in subnets["private-endpoints"].depends_on


@pytest.mark.parametrize("sku", ["Developer", "Premium"])
def test_classic_injection_has_no_delegation_and_the_management_rules(sku):
    plan = run(program(sku, VNET))
    gateway_subnet = next(s.plain_inputs for s in plan.of_type(SUBNET) if s.plain_inputs["subnetName"] == "apim-gateway")
    assert "delegations" not in gateway_subnet
    rules = {(r["direction"], r["sourceAddressPrefix"], r["destinationAddressPrefix"]):
             r.get("destinationPortRange") or r.get("destinationPortRanges") for r in plan.one(NSG, "edge-nsg").plain_inputs["securityRules"]}
    assert rules[("Inbound", "ApiManagement", "VirtualNetwork")] == "3443"
    assert rules[("Inbound", "AzureLoadBalancer", "VirtualNetwork")] == "6390"
    assert rules[("Outbound", "VirtualNetwork", "Sql")] == "1433"
    assert rules[("Outbound", "VirtualNetwork", "AzureMonitor")] == ["1886", "443"]
    priorities = [(r["direction"], r["priority"]) for r in plan.one(NSG, "edge-nsg").plain_inputs["securityRules"]]
    assert len(priorities) == len(set(priorities))
    assert plan.one(APIM).plain_inputs["virtualNetworkType"] == "External"


def test_the_zones_are_linked_to_the_gateways_network_and_handed_on_once_linked():
    plan = run(program("StandardV2", {**VNET, "private_dns_zones": ["dfs"]}))
    zones = {z.plain_inputs["privateZoneName"]: z for z in plan.of_type(ZONE)}
    # sites and blob always: private function apps and their host storage.
    assert set(zones) == {PRIVATE_DNS_ZONES["sites"], PRIVATE_DNS_ZONES["blob"], PRIVATE_DNS_ZONES["dfs"]}
    vnet = plan.one("azure-native:network:VirtualNetwork")
    for link in plan.of_type(LINK):
        assert link.plain_inputs["virtualNetwork"]["id"] == vnet.outputs["id"]
        assert link.plain_inputs["registrationEnabled"] is False and link.plain_inputs["location"] == "Global"
    link_urns = {l.urn for l in plan.of_type(LINK)}
    for group in plan.of_type(ZONE_GROUP):
        assert link_urns & set(group.depends_on), "the endpoint's DNS record is written only once the zone is linked"


@pytest.mark.parametrize("vnet, key, phrase", [
    ({"address_prefix": "20.40.0.0/24"}, "virtual_network.address_prefix", "private range"),
    ({"address_prefix": "10.40.0.0/27"}, "virtual_network.address_prefix", "/26 or larger"),
    ({"address_prefix": "10.40.0.1/24"}, "virtual_network.address_prefix", "no host bits"),
    ({"address_prefix": "fd00::/48"}, "virtual_network.address_prefix", "IPv4"),
    ({"address_prefix": "ten-forty"}, "virtual_network.address_prefix", "CIDR"),
    ({}, "virtual_network.address_prefix", "IPv4"),
    ({"address_prefix": "10.40.0.0/24", "adress_space": "x"}, "virtual_network.adress_space", "unknown argument"),
    ({"address_prefix": "10.40.0.0/24", "private_dns_zones": ["file"]}, "virtual_network.private_dns_zones[0]", "sites, blob, dfs"),
    ({"address_prefix": "10.40.0.0/24", "private_dns_zones": "dfs"}, "virtual_network.private_dns_zones", "a list"),
    ("10.40.0.0/24", "virtual_network", "expected {"),
])
def test_bad_virtual_network_input_is_refused_before_anything_is_registered(vnet, key, phrase):
    with pytest.raises(LastMileError) as err:
        run(program("StandardV2", vnet))
    assert str(err.value).startswith(f"{key}:") and phrase in str(err.value), str(err.value)
    assert registered() == []


# --- the function's side -------------------------------------------------------------------------------------

def test_a_private_function_has_no_public_access_and_an_endpoint_in_the_gateways_network():
    plan = standard_v2_private()
    app = plan.one(APP)
    site = app.plain_inputs
    assert site["publicNetworkAccess"] == "Disabled"
    assert site["siteConfig"]["ipSecurityRestrictionsDefaultAction"] == "Deny"
    assert site["siteConfig"]["scmIpSecurityRestrictionsDefaultAction"] == "Deny"
    endpoints = {r.plain_inputs["privateLinkServiceConnections"][0]["groupIds"][0]: r for r in plan.of_type(PE)}
    endpoint = endpoints["sites"].plain_inputs
    endpoint_subnet = next(s for s in plan.of_type(SUBNET) if s.plain_inputs["subnetName"] == "private-endpoints")
    assert endpoint["subnet"]["id"] == endpoint_subnet.outputs["id"]
    [connection] = endpoint["privateLinkServiceConnections"]
    assert connection["privateLinkServiceId"] == app.outputs["id"] and connection["groupIds"] == ["sites"]
    groups = {r.name: r for r in plan.of_type(ZONE_GROUP)}
    [zone_config] = groups["orders-sites-endpoint-dns"].plain_inputs["privateDnsZoneConfigs"]
    sites_zone = next(z for z in plan.of_type(ZONE) if z.plain_inputs["privateZoneName"] == "privatelink.azurewebsites.net")
    assert zone_config["privateDnsZoneId"] == sites_zone.outputs["id"]
    # No API traffic before the gateway can resolve and reach the function.
    assert groups["orders-sites-endpoint-dns"].urn in plan.one("azure-native:apimanagement:ApiPolicy").depends_on


def test_a_private_functions_host_storage_is_private_and_reached_from_the_function_subnet():
    """Landing zones deny a storage account with public network access (ALZ Deny-Public-Endpoints, Corp): the host
    storage of a private app has none, and the app reaches its blob endpoint from the gateway network's function subnet."""
    plan = standard_v2_private()
    account = plan.one("azure-native:storage:StorageAccount")
    assert account.plain_inputs["publicNetworkAccess"] == "Disabled"
    assert account.plain_inputs["networkRuleSet"] == {"defaultAction": "Deny", "bypass": "None"}
    blob = next(r for r in plan.of_type(PE) if r.plain_inputs["privateLinkServiceConnections"][0]["groupIds"] == ["blob"])
    assert blob.plain_inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"] == account.outputs["id"]
    blob_zone = next(z for z in plan.of_type(ZONE) if z.plain_inputs["privateZoneName"] == "privatelink.blob.core.windows.net")
    blob_group = next(g for g in plan.of_type(ZONE_GROUP) if g.name == "orders-storage-blob-endpoint-dns")
    assert blob_group.plain_inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"] == blob_zone.outputs["id"]
    function_subnet = next(s for s in plan.of_type(SUBNET) if s.plain_inputs["subnetName"] == "function-apps")
    assert function_subnet.plain_inputs["delegations"] == [{"name": "flex-consumption", "serviceName": "Microsoft.App/environments"}]
    assert function_subnet.plain_inputs["addressPrefix"] == "10.40.0.192/26"
    nsg_ids = {r.outputs["id"] for r in plan.of_type(NSG)}
    assert function_subnet.plain_inputs["networkSecurityGroup"]["id"] in nsg_ids
    app = plan.one(APP)
    assert app.plain_inputs["virtualNetworkSubnetId"] == function_subnet.outputs["id"]
    # The host starts only once its storage resolves to the endpoint.
    assert blob_group.urn in app.depends_on


def test_private_function_apps_join_their_subnet_one_at_a_time():
    """Two Flex apps created at once on one subnet fail (hashicorp/terraform-provider-azurerm#32089)."""
    def body():
        gateway = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso",
                                   "sku": "StandardV2", "virtual_network": VNET})
        for name in ("orders", "invoices", "refunds"):
            SecuredFunctionBackend(name, {"gateway": gateway.ref, "resource_group_name": "rg", "api_path": name})

    apps = {r.name: r for r in run(body).of_type(APP)}
    assert apps["orders-function"].urn in apps["invoices-function"].depends_on
    assert apps["invoices-function"].urn in apps["refunds-function"].depends_on
    assert not any(a.urn in apps["orders-function"].depends_on for a in apps.values())


def test_a_hand_built_ref_for_a_private_function_names_the_blob_zone_and_the_function_subnet():
    for link, key in (({**LINK_REF, "dns_zone_ids": {"sites": ZONE_ID}}, "gateway.private_link.dns_zone_ids.blob"),
                      ({k: v for k, v in LINK_REF.items() if k != "integration_subnet_id"}, "gateway.private_link.integration_subnet_id")):
        with pytest.raises(LastMileError) as err:
            run(lambda: SecuredFunctionBackend("orders", {"gateway": {**REF, "sku": "Premium", "private_link": link},
                                                          "resource_group_name": "rg", "api_path": "orders"}))
        assert str(err.value).startswith(key + ":")
        assert registered() == []


def test_private_refuses_deployment_ranges_and_adopted_apps():
    with pytest.raises(LastMileError) as err:
        run(program("StandardV2", VNET, deployment_ip_ranges=["198.51.100.0/28"]))
    assert str(err.value).startswith("deployment_ip_ranges:") and "deploy from inside the gateway's network" in str(err.value)
    with pytest.raises(LastMileError) as err:
        run(lambda: SecuredFunctionBackend("orders", {"gateway": {**REF, "sku": "StandardV2", "private_link": LINK_REF},
                                                      "resource_group_name": "rg", "api_path": "orders", "network": "private",
                                                      "function_app_name": "func-legacy"}))
    assert "not of an adopted one" in str(err.value)
    assert registered() == []


def test_private_needs_the_gateways_network():
    with pytest.raises(LastMileError) as err:
        run(program("StandardV2", network="private"))
    assert "the gateway has no virtual network" in str(err.value) and "virtualNetwork.addressPrefix" in str(err.value)


@pytest.mark.parametrize("link, key, phrase", [
    ({**LINK_REF, "subnet_id": "subnet-7"}, "gateway.private_link.subnet_id", "resource id"),
    ({**LINK_REF, "dns_zone_ids": {"file": ZONE_ID}}, "gateway.private_link.dns_zone_ids.file", "sites, blob, dfs"),
    ({**LINK_REF, "location": "mars"}, "gateway.private_link.location", "region"),
    ({**LINK_REF, "zones": {}}, "gateway.private_link.zones", "unknown argument"),
    ({"location": "westeurope", "dns_zone_ids": {}}, "gateway.private_link.subnet_id", "needs subnet_id"),
    ("vnet", "gateway.private_link", "PrivateLinkRef"),
])
def test_a_bad_hand_built_private_link_is_refused(link, key, phrase):
    with pytest.raises(LastMileError) as err:
        run(lambda: SecuredFunctionBackend("orders", {"gateway": {**REF, "sku": "Premium", "private_link": link},
                                                      "resource_group_name": "rg", "api_path": "orders"}))
    assert str(err.value).startswith(f"{key}:") and phrase in str(err.value), str(err.value)
    assert registered() == []


def test_a_private_link_on_a_tier_without_a_network_is_refused():
    with pytest.raises(LastMileError, match="the Basic tier cannot send its backend traffic into a virtual network"):
        run(lambda: SecuredFunctionBackend("orders", {"gateway": {**REF, "sku": "Basic", "private_link": LINK_REF},
                                                      "resource_group_name": "rg", "api_path": "orders"}))


def test_a_hand_built_ref_needs_the_zone_the_endpoint_registers_in():
    with pytest.raises(ValueError, match="a PrivateLinkRef needs dns_zone_ids"):
        run(lambda: SecuredFunctionBackend("orders", {"gateway": {**REF, "sku": "Premium", "private_link": {**LINK_REF, "dns_zone_ids": {}}},
                                                      "resource_group_name": "rg", "api_path": "orders"}))
    assert registered() == []
    blob_only = {"blob": ZONE_ID.replace("privatelink.azurewebsites.net", "privatelink.blob.core.windows.net")}
    with pytest.raises(ValueError, match="no private DNS zone for sites"):
        run(lambda: SecuredFunctionBackend("orders", {"gateway": {**REF, "sku": "Premium", "private_link": {**LINK_REF, "dns_zone_ids": blob_only}},
                                                      "resource_group_name": "rg", "api_path": "orders"}))


def test_a_gateway_of_another_stack_with_a_network_makes_its_backends_private():
    link = {"subnetId": SUBNET_ID, "location": "westeurope", "dnsZoneIds": {"sites": ZONE_ID, "blob": BLOB_ZONE_ID},
            "integrationSubnetId": FUNCTION_SUBNET_ID}
    exported = {"serviceName": "apim-contoso", "resourceGroupName": "rg", "principalId": REF["principal_id"],
                "gatewayUrl": "https://apim-contoso.azure-api.net", "outboundIps": [], "privateLink": link}

    def body():
        import pulumi

        ref = gateway_ref_from_stack(pulumi.StackReference("org/platform/prod"), sku="StandardV2", virtual_network=True)
        SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg", "api_path": "orders"})

    plan = run(body, mocks=LastMileMocks(stacks={"org/platform/prod": {"gateway": exported}}))
    assert mode_of(plan) == "private"
    assert {e.plain_inputs["subnet"]["id"] for e in plan.of_type(PE)} == {SUBNET_ID}
    assert plan.one(APP).plain_inputs["virtualNetworkSubnetId"] == FUNCTION_SUBNET_ID
    # A gateway stack exported before the function subnet existed: refused at deploy time, naming the fix.
    older = {**exported, "privateLink": {k: v for k, v in link.items() if k != "integrationSubnetId"}}
    with pytest.raises(ValueError, match="no integration_subnet_id .* run `pulumi up` on the gateway's stack first"):
        run(body, mocks=LastMileMocks(stacks={"org/platform/prod": {"gateway": older}}))
    without = {k: v for k, v in exported.items() if k != "privateLink"}
    with pytest.raises(ValueError, match="exports no privateLink"):
        run(body, mocks=LastMileMocks(stacks={"org/platform/prod": {"gateway": without}}))


# --- stack config and the environments -----------------------------------------------------------------------

BASE = {"resourceGroup": {"name": "rg"}, "gateway": {"publisherEmail": "a@b.co", "publisherName": "n", "sku": "StandardV2"}}


@pytest.mark.parametrize("values, key, phrase", [
    ({"gateway": {**BASE["gateway"], "sku": "Basic", "virtualNetwork": {"addressPrefix": "10.40.0.0/24"}}},
     "gateway.virtualNetwork", "the Basic tier cannot send"),
    ({"gateway": {**BASE["gateway"], "virtualNetwork": {"addressPrefix": "8.8.8.0/24"}}}, "gateway.virtualNetwork.addressPrefix", "private range"),
    ({"gateway": {**BASE["gateway"], "virtualNetwork": {"addressPrefix": "10.40.0.0/24", "subnets": 2}}}, "gateway.virtualNetwork.subnets", "unknown key"),
    ({"functionBackends": [{"name": "o", "apiPath": "o", "network": "private"}]}, "functionBackends[0].network", "no virtual network"),
    ({"dataLakeReaders": [{"name": "l", "apiPath": "l", "container": "raw", "network": "gateway-ip"}],
      "gateway": {**BASE["gateway"], "sku": "Standard"}}, "dataLakeReaders[0].network", "same"),
    ({"dataLakeReaders": [{"name": "l", "apiPath": "l", "container": "raw", "network": "private"}]}, "dataLakeReaders[0].network", "no virtual network"),
])
def test_stack_config_refuses_network_mistakes_at_their_key(values, key, phrase):
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, **values})
    assert str(err.value).startswith(f"apim-lastmile:{key}:") and phrase in str(err.value), str(err.value)


def test_prod_is_private_where_its_tier_allows_and_dev_stays_identity_only():
    prod = stack_plan("prod")
    service = prod.one(APIM).plain_inputs
    assert service["sku"]["name"] == "StandardV2" and service["virtualNetworkType"] == "External"
    for app in prod.of_type(APP):
        assert app.plain_inputs["publicNetworkAccess"] == "Disabled", app.name
    endpoints = {(e.name, tuple(e.plain_inputs["privateLinkServiceConnections"][0]["groupIds"])) for e in prod.of_type(PE)}
    assert endpoints == {("orders-sites-endpoint", ("sites",)), ("invoices-sites-endpoint", ("sites",)),
                         ("orders-storage-blob-endpoint", ("blob",)), ("invoices-storage-blob-endpoint", ("blob",)),
                         ("lake-dfs-endpoint", ("dfs",)), ("lake-blob-endpoint", ("blob",))}
    for account in prod.of_type("azure-native:storage:StorageAccount"):
        assert account.plain_inputs["publicNetworkAccess"] == "Disabled", account.name
    lake = prod.one("azure-native:storage:StorageAccount", "lake-datalake").plain_inputs
    assert lake["publicNetworkAccess"] == "Disabled" and lake["networkRuleSet"] == {"defaultAction": "Deny", "bypass": "None"}
    assert {z.plain_inputs["privateZoneName"] for z in prod.of_type(ZONE)} == {PRIVATE_DNS_ZONES[g] for g in ("sites", "blob", "dfs")}

    dev = stack_plan("dev")
    assert dev.one(APIM).plain_inputs.get("virtualNetworkType", "None") == "None"
    assert "virtualNetworkConfiguration" not in dev.one(APIM).plain_inputs
    assert not dev.of_type(PE) and not dev.of_type(SUBNET)
    for app in dev.of_type(APP):
        assert app.plain_inputs["publicNetworkAccess"] == "Enabled" and "ipSecurityRestrictions" not in app.plain_inputs["siteConfig"]
    assert {b["network"] for b in dev.outputs["function_backends"].values()} == {"identity-only"}
    assert {b["network"] for b in prod.outputs["function_backends"].values()} == {"private"}


def test_a_backend_on_a_network_in_a_group_it_does_not_manage_needs_to_join_its_subnet_and_write_its_zone():
    from apim_lastmile.tools import permissions

    # The gateway's group takes the backend's APIs (Contributor there); the network lives in a hub group of its own.
    link = {"subnetId": SUBNET_ID.replace("/resourceGroups/rg/", "/resourceGroups/rg-hub/"), "location": "westeurope",
            "dnsZoneIds": {"sites": ZONE_ID.replace("/resourceGroups/rg/", "/resourceGroups/rg-hub/"),
                           "blob": BLOB_ZONE_ID.replace("/resourceGroups/rg/", "/resourceGroups/rg-hub/")},
            "integrationSubnetId": FUNCTION_SUBNET_ID.replace("/resourceGroups/rg/", "/resourceGroups/rg-hub/")}
    exported = {"serviceName": "apim-contoso", "resourceGroupName": "rg-platform", "principalId": REF["principal_id"],
                "outboundIps": [], "privateLink": link}

    def body():
        import pulumi

        ref = gateway_ref_from_stack(pulumi.StackReference("org/platform/prod"), sku="Premium", virtual_network=True)
        SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg-team", "api_path": "orders"})

    plan = run(body, mocks=LastMileMocks(stacks={"org/platform/prod": {"gateway": exported}}))
    found = {(r.scope, r.permission.split(" ")[0]) for r in permissions.requirements(plan.registrations)}
    assert (f"subnet {link['subnetId']}", "Microsoft.Network/virtualNetworks/subnets/join/action") in found
    assert (f"subnet {link['integrationSubnetId']}", "Microsoft.Network/virtualNetworks/subnets/join/action") in found  # the app's
    assert (f"private DNS zone {link['dnsZoneIds']['sites']}", "Private") in found
    assert (f"private DNS zone {link['dnsZoneIds']['blob']}", "Private") in found  # its host storage's record
    # In its own stack, Contributor on the group covers both.
    prod = stack_plan("prod")
    assert not [r for r in permissions.requirements(prod.registrations) if r.scope.startswith(("subnet", "private DNS zone"))]


def test_destroy_takes_the_network_apart_in_an_order_azure_accepts():
    """Pulumi deletes a resource before what it depends on: endpoints before their subnet, the service before its
    subnet, DNS records before their zone, a zone's network link before the zone and the network."""
    plan = standard_v2_private()
    urn = {r.name: r.urn for r in plan.registrations}
    deps = {r.name: set(r.depends_on) for r in plan.registrations}
    assert urn["edge-endpoint-subnet"] in deps["orders-sites-endpoint"]
    assert urn["edge-gateway-subnet"] in deps["edge-apim"]
    assert urn["edge-nsg"] in deps["edge-gateway-subnet"] and urn["edge-vnet"] in deps["edge-gateway-subnet"]
    assert urn["orders-sites-endpoint"] in deps["orders-sites-endpoint-dns"] and urn["edge-sites-zone"] in deps["orders-sites-endpoint-dns"]
    assert {urn["edge-sites-zone"], urn["edge-vnet"]} <= deps["edge-sites-zone-link"]
    assert urn["orders-function"] in deps["orders-sites-endpoint"]


@pytest.mark.parametrize("mode", ["identity-only", "gateway-ip", "private"])
def test_public_access_is_always_written_so_a_mode_change_sets_it(mode):
    plan = run(program("Premium", VNET, network=mode))
    assert plan.one(APP).plain_inputs["publicNetworkAccess"] == ("Disabled" if mode == "private" else "Enabled")
    assert len(plan.of_type(PE)) == (2 if mode == "private" else 0)  # the app's (sites) and its storage's (blob)


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=80, deadline=None)  # the suite's 90 s budget (docs/design.md)
@given(address=st.one_of(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=0x0A000000, max_value=0x0AFFFFFF),
                         st.integers(min_value=0xAC100000, max_value=0xAC1FFFFF), st.integers(min_value=0x64400000, max_value=0x647FFFFF)),
       prefix=st.integers(min_value=0, max_value=32),
       sku=st.sampled_from(sorted(VIRTUAL_NETWORK)))
def test_any_address_range_is_refused_clearly_or_carved_into_subnets_azure_takes(address, prefix, sku):
    import ipaddress

    from apim_lastmile.network import PRIVATE_RANGES, check_virtual_network

    network = ipaddress.ip_network((address, prefix), strict=False)
    try:
        v = check_virtual_network({"address_prefix": str(network)}, sku)
    except LastMileError as err:
        assert err.key == "virtual_network.address_prefix"
        assert not any(network.subnet_of(r) for r in PRIVATE_RANGES) or network.prefixlen > 26
        return
    space, gateway, endpoints = (ipaddress.ip_network(v[k]) for k in ("address_prefix", "gateway_subnet", "endpoint_subnet"))
    assert any(space.subnet_of(r) for r in PRIVATE_RANGES)
    assert gateway.subnet_of(space) and endpoints.subnet_of(space) and not gateway.overlaps(endpoints)
    assert gateway.prefixlen <= 27 and endpoints.prefixlen <= 28


def test_the_gateway_gets_storage_zones_only_when_a_data_lake_reader_may_be_private():
    net = {"gateway": {**BASE["gateway"], "virtualNetwork": {"addressPrefix": "10.40.0.0/24"}}}
    lake = {"name": "l", "apiPath": "l", "container": "raw"}
    zones = lambda values: config.parse({**BASE, **values}).gateway_args().get("virtual_network", {}).get("private_dns_zones")  # noqa: E731
    assert zones(net) == ["sites"]
    assert zones({**net, "dataLakeReaders": [lake]}) == ["sites", "blob", "dfs"]
    assert zones({**net, "dataLakeReaders": [{**lake, "network": "identity-only"}]}) == ["sites"]
    assert zones({"dataLakeReaders": [lake]}) is None


def test_the_network_declares_no_inline_subnets_so_its_updates_keep_the_standalone_ones():
    plan = standard_v2_private()
    assert "subnets" not in plan.one("azure-native:network:VirtualNetwork").plain_inputs
    assert len(plan.of_type(SUBNET)) == 3
