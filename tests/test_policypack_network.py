"""The policy pack's network stack rules on the prod stack (network: private on StandardV2) and the dev stack
(Consumption, identity-only): the stacks as declared pass, and each change that opens an app or leaves the gateway
unable to resolve or reach it is reported by the right rule, whichever way the values are spelled."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "policypack"))

import lastmile_rules as rules  # noqa: E402
from helpers import stack_plan

OPEN = "backend-apps-reachable-only-from-the-gateway"
ENDPOINT = "private-backend-apps-have-an-endpoint"
NETWORK_RULES = (OPEN, ENDPOINT)
APP = "azure-native:web:WebApp"
APIM = "azure-native:apimanagement:ApiManagementService"
PE = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
SITES = ("orders-function", "invoices-function")


@pytest.fixture(scope="module")
def plans():
    return {stack: stack_plan(stack) for stack in ("dev", "prod")}


def resources(plans, stack="prod", deployed=False):
    """The stack's custom resources as stack rules get them: (type, props, name). ``deployed``: as after an update,
    when each resource's props also carry its id (the plan's outputs)."""
    out = []
    for r in plans[stack].registrations:
        if r.custom:
            props = copy.deepcopy(r.plain_inputs)
            if deployed and "id" in (r.outputs or {}):
                props["id"] = r.outputs["id"]
            out.append((r.type, props, r.name))
    return out


def findings(res):
    """{rule: sorted names of the resources reported} for the two network rules."""
    found: dict[str, list[str]] = {}
    for rule, _, urn in rules.stack_violations(res):
        if rule in NETWORK_RULES:
            found.setdefault(rule, []).append(urn.rsplit("::", 1)[-1])
    return {rule: sorted(names) for rule, names in found.items()}


def messages(res, rule):
    return [message for r, message, _ in rules.stack_violations(res) if r == rule]


def one(res, typ, name):
    [props] = [p for t, p, n in res if t == typ and n == name]
    return props


def without(res, *names):
    return [(t, p, n) for t, p, n in res if n not in names]


# --- the stacks as declared ------------------------------------------------------------------------------

@pytest.mark.parametrize("deployed", [False, True], ids=["preview", "deployed"])
def test_prod_as_declared_passes_both_rules(plans, deployed):
    res = resources(plans, deployed=deployed)
    # what makes the pass meaningful: both apps are private, behind backends, on a StandardV2 gateway with a network
    assert {n for t, p, n in res if t == APP and p["publicNetworkAccess"] == "Disabled"} == set(SITES)
    apim = one(res, APIM, "lastmile-apim")
    assert apim["sku"]["name"] == "StandardV2" and apim["virtualNetworkType"] == "External"
    assert findings(res) == {}
    assert rules.stack_violations(res) == []


def test_dev_reports_nothing_from_either_rule_and_is_checked(plans):
    res = resources(plans, "dev")
    assert one(res, APIM, "lastmile-apim")["sku"]["name"] == "Consumption"
    apps = [n for t, p, n in res if t == APP]
    assert apps and all(one(res, APP, n).get("publicNetworkAccess") in (None, "Enabled") for n in apps)
    assert findings(res) == {}
    # the converse is reported: a dev app made private cannot be reached by a Consumption gateway
    one(res, APP, apps[0])["publicNetworkAccess"] = "Disabled"
    found = findings(res)
    assert found == {ENDPOINT: [apps[0], apps[0]]}
    assert any("Consumption" in m and "virtual network" in m for m in messages(res, ENDPOINT))


# --- rule 1: a public app behind a gateway with a network --------------------------------------------------

@pytest.mark.parametrize("value", ["Enabled", "enabled", "ENABLED", KeyError, ""])
@pytest.mark.parametrize("deployed", [False, True], ids=["preview", "deployed"])
def test_an_app_made_public_is_reported(plans, value, deployed):
    res = resources(plans, deployed=deployed)
    app = one(res, APP, "orders-function")
    if value is KeyError:
        del app["publicNetworkAccess"]  # unset is Enabled
    else:
        app["publicNetworkAccess"] = value
    assert findings(res) == {OPEN: ["orders-function"]}
    [message] = messages(res, OPEN)
    assert "network: private" in message and "publicly reachable" in message


@pytest.mark.parametrize("value", ["disabled", "DISABLED"])
def test_disabled_is_read_as_arm_reads_it_in_any_case(plans, value):
    res = resources(plans)
    one(res, APP, "orders-function")["publicNetworkAccess"] = value
    assert findings(res) == {}


def test_site_config_saying_enabled_makes_the_app_public(plans):
    res = resources(plans)
    one(res, APP, "orders-function")["siteConfig"]["publicNetworkAccess"] = "Enabled"
    assert findings(res) == {OPEN: ["orders-function"]}
    one(res, APP, "orders-function")["siteConfig"]["publicNetworkAccess"] = "Disabled"
    assert findings(res) == {}


def test_address_restrictions_do_not_stand_in_for_private_behind_a_network(plans):
    res = resources(plans)
    app = one(res, APP, "orders-function")
    app["publicNetworkAccess"] = "Enabled"
    app["siteConfig"]["ipSecurityRestrictions"] = [{"ipAddress": "203.0.113.7/32", "action": "Allow"}]
    apim = one(res, APIM, "lastmile-apim")
    apim["sku"]["name"] = "Premium"  # dedicated addresses and injection: the network wins
    assert findings(res) == {OPEN: ["orders-function"]}
    apim["virtualNetworkType"] = "None"  # no network: addresses are enough, as before
    assert findings(res).get(OPEN) is None


@pytest.mark.parametrize("kind", ["external", "INTERNAL"])
def test_the_gateways_network_type_is_read_in_any_case(plans, kind):
    res = resources(plans)
    one(res, APIM, "lastmile-apim")["virtualNetworkType"] = kind
    assert findings(res) == {}
    one(res, APP, "orders-function")["publicNetworkAccess"] = "Enabled"
    assert findings(res) == {OPEN: ["orders-function"]}


def test_an_app_is_found_behind_its_backend_however_the_url_is_written(plans):
    res = resources(plans)
    one(res, APP, "orders-function")["publicNetworkAccess"] = "Enabled"
    backend = one(res, "azure-native:apimanagement:Backend", "orders-backend")
    backend.pop("resourceId")
    for url in ("https://FUNC-ORDERS-759EAF.azurewebsites.net:443/api", "https://u@func-orders-759eaf.azurewebsites.net./api",
                "https://func-orders-759eaf.privatelink.azurewebsites.net/api"):
        backend["url"] = url
        assert findings(res) == {OPEN: ["orders-function"]}, url
    backend["url"] = "https://func-orders-759eaf-other.azurewebsites.net/api"  # a name that merely starts alike
    assert findings(res) == {}


# --- rule 2: a private app the gateway cannot resolve or reach ----------------------------------------------

@pytest.mark.parametrize("deployed", [False, True], ids=["preview", "deployed"])
def test_an_apps_private_endpoint_removed_is_reported(plans, deployed):
    res = without(resources(plans, deployed=deployed), "orders-sites-endpoint")
    assert findings(res) == {ENDPOINT: ["orders-function"]}
    [message] = messages(res, ENDPOINT)
    assert "no private endpoint" in message and "cannot reach" in message


@pytest.mark.parametrize("deployed", [False, True], ids=["preview", "deployed"])
def test_an_endpoints_zone_group_removed_is_reported(plans, deployed):
    res = without(resources(plans, deployed=deployed), "orders-sites-endpoint-dns")
    assert findings(res) == {ENDPOINT: ["orders-function"]}
    [message] = messages(res, ENDPOINT)
    assert "privatelink.azurewebsites.net" in message and "cannot resolve" in message


@pytest.mark.parametrize("zone", [
    "privatelink.blob.core.windows.net",
    "privatelink.azurewebsites.net.contoso.com",
    "privatelink.blob.core.windows.net/virtualNetworkLinks/privatelink.azurewebsites.net",
    "privatelink.blob.core.windows.net/privateDnsZones/privatelink.azurewebsites.net",  # ends alike, names no zone
    "../../Microsoft.Storage/privateDnsZones/privatelink.azurewebsites.net",
])
def test_a_zone_group_naming_another_zone_is_reported(plans, zone):
    res = resources(plans)
    config = one(res, ZONE_GROUP, "orders-sites-endpoint-dns")["privateDnsZoneConfigs"][0]
    base = config["privateDnsZoneId"].rsplit("/", 1)[0]
    if zone.startswith("../../"):
        base, zone = base.rsplit("/", 2)[0], zone[6:]
    config["privateDnsZoneId"] = base + "/" + zone
    assert findings(res) == {ENDPOINT: ["orders-function"]}


def test_a_zone_group_on_another_endpoint_does_not_count(plans):
    res = resources(plans)
    one(res, ZONE_GROUP, "orders-sites-endpoint-dns")["privateEndpointName"] = "pe-lake-blob"
    assert findings(res) == {ENDPOINT: ["orders-function"]}


def test_zone_ids_and_endpoint_names_are_compared_as_arm_compares_them(plans):
    res = resources(plans)
    group = one(res, ZONE_GROUP, "orders-sites-endpoint-dns")
    group["privateDnsZoneConfigs"][0]["privateDnsZoneId"] = group["privateDnsZoneConfigs"][0]["privateDnsZoneId"].upper()
    group["privateEndpointName"] = "PE-Orders-Sites"
    assert findings(res) == {}


@pytest.mark.parametrize("group_ids", [["blob"], [], ["sites-staging"]])
def test_an_endpoint_to_another_sub_resource_is_reported(plans, group_ids):
    res = resources(plans)
    one(res, PE, "orders-sites-endpoint")["privateLinkServiceConnections"][0]["groupIds"] = group_ids
    assert findings(res) == {ENDPOINT: ["orders-function"]}


@pytest.mark.parametrize("deployed", [False, True], ids=["preview", "deployed"])
def test_an_endpoint_to_another_resource_is_reported(plans, deployed):
    res = resources(plans, deployed=deployed)
    connection = one(res, PE, "orders-sites-endpoint")["privateLinkServiceConnections"][0]
    target = connection["privateLinkServiceId"]
    for other in (target.replace("func-orders-759eaf", "func-invoices-0fd927"), target + "/slots/staging",
                  target.replace("/resourceGroups/rg-lastmile-prod/", "/resourceGroups/rg-elsewhere/"),
                  target.replace("Microsoft.Web/sites", "Microsoft.Storage/storageAccounts")):
        connection["privateLinkServiceId"] = other
        assert findings(res) == {ENDPOINT: ["orders-function"]}, other
    connection["privateLinkServiceId"] = target.upper()  # resource ids compare case-insensitively
    assert findings(res) == {}


def test_a_manual_connection_counts(plans):
    res = resources(plans)
    endpoint = one(res, PE, "orders-sites-endpoint")
    endpoint["manualPrivateLinkServiceConnections"] = endpoint.pop("privateLinkServiceConnections")
    assert findings(res) == {}
    endpoint["manualPrivateLinkServiceConnections"][0]["groupIds"] = ["blob"]
    assert findings(res) == {ENDPOINT: ["orders-function"]}


def test_an_app_private_only_in_site_config_still_needs_its_endpoint(plans):
    res = without(resources(plans), "orders-sites-endpoint")
    app = one(res, APP, "orders-function")
    app.pop("publicNetworkAccess")
    app["siteConfig"]["publicNetworkAccess"] = "disabled"
    found = findings(res)
    assert found[ENDPOINT] == ["orders-function"]


@pytest.mark.parametrize("change", ["no network", "BasicV2", "no subnet"])
def test_a_gateway_without_a_network_cannot_reach_private_apps(plans, change):
    res = resources(plans)
    apim = one(res, APIM, "lastmile-apim")
    if change == "no network":
        apim["virtualNetworkType"] = "None"
    elif change == "BasicV2":
        apim["sku"]["name"] = "BasicV2"  # no virtual network on this tier
    else:
        apim.pop("virtualNetworkConfiguration")
    assert findings(res) == {ENDPOINT: sorted(SITES)}
    assert all("virtual network" in m for m in messages(res, ENDPOINT))


# --- values unknown during preview ------------------------------------------------------------------------

def test_an_unknown_app_id_falls_back_to_its_name(plans):
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    res = resources(plans, deployed=True)
    one(res, APP, "orders-function")["id"] = UNKNOWN_STRING_VALUE
    assert findings(res) == {}
    res = without(res, "orders-sites-endpoint")
    assert findings(res) == {ENDPOINT: ["orders-function"]}


def test_an_unknown_endpoint_target_is_left_to_the_engine_not_passed(plans):
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

    res = resources(plans)
    one(res, PE, "orders-sites-endpoint")["privateLinkServiceConnections"][0]["privateLinkServiceId"] = UNKNOWN_STRING_VALUE
    with pytest.raises(UnknownValueError):
        rules.stack_violations(res)
    # an unknown value on an endpoint that does not matter (the lake's) does not stop the rule
    res = resources(plans)
    one(res, PE, "lake-blob-endpoint")["privateLinkServiceConnections"][0]["privateLinkServiceId"] = UNKNOWN_STRING_VALUE
    assert findings(res) == {}


def test_once_deployed_an_app_is_found_behind_its_backend_by_its_host_names(plans):
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    # App Service's unique default host names and custom domains do not contain the site name as <name>.azurewebsites.net
    res = resources(plans, deployed=True)
    app = one(res, APP, "orders-function")
    app["publicNetworkAccess"] = "Enabled"
    app["defaultHostName"] = "func-orders-759eaf-b4d2f0c9e1a7h3ab.westeurope-01.azurewebsites.net"
    app["hostNames"] = [UNKNOWN_STRING_VALUE, "Orders.Contoso.com"]
    backend = one(res, "azure-native:apimanagement:Backend", "orders-backend")
    backend.pop("resourceId")
    for url in ("https://func-orders-759eaf-b4d2f0c9e1a7h3ab.westeurope-01.azurewebsites.net/api", "https://orders.contoso.com/api"):
        backend["url"] = url
        assert findings(res) == {OPEN: ["orders-function"]}, url
    backend["url"] = "https://invoices.contoso.com/api"
    assert findings(res) == {}


def test_the_packs_tier_lists_are_the_librarys():
    """The pack does not import the library, so it keeps copies of the tier tables; they must not drift (the pack also
    knows Premium v2, which the library's API version cannot create but a stack may declare)."""
    from apim_lastmile.azure_rules import DEDICATED_OUTBOUND_IPS, VIRTUAL_NETWORK

    assert rules._DEDICATED_IP_TIERS == {t.lower() for t in DEDICATED_OUTBOUND_IPS}
    assert rules._VIRTUAL_NETWORK_TIERS == {t.lower() for t in VIRTUAL_NETWORK} | {"premiumv2"}
