"""The network last mile: where the tier gives the gateway addresses of its own, only they reach the function."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from apim_lastmile import Gateway, LastMileError, SecuredFunctionBackend
from apim_lastmile.tools import config
from apim_lastmile.errors import ConfigError

from helpers import registered, run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "policypack"))

import lastmile_rules as rules  # noqa: E402

APP = "azure-native:web:WebApp"
REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}


def program(sku, **backend):
    def body():
        gw = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso", "sku": sku})
        SecuredFunctionBackend("orders", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": "orders", **backend})
    return body


@pytest.mark.parametrize("sku", ["Developer", "Basic", "Standard", "Premium"])
def test_a_classic_tier_admits_only_the_gateways_addresses_by_default(sku):
    plan = run(program(sku, deployment_ip_ranges=["198.51.100.0/28"]))
    ips = plan.one("azure-native:apimanagement:ApiManagementService").outputs["publicIPAddresses"]
    site = plan.one(APP).plain_inputs["siteConfig"]
    assert [r["ipAddress"] for r in site["ipSecurityRestrictions"]] == [f"{ip}/32" for ip in ips]
    assert {r["action"] for r in site["ipSecurityRestrictions"]} == {"Allow"}
    assert site["ipSecurityRestrictionsDefaultAction"] == "Deny"
    assert site["scmIpSecurityRestrictionsDefaultAction"] == "Deny" and site["scmIpSecurityRestrictionsUseMain"] is False
    assert [r["ipAddress"] for r in site["scmIpSecurityRestrictions"]] == ["198.51.100.0/28"]
    assert list(rules.violations(APP, plan.one(APP).plain_inputs, "orders")) == []


@pytest.mark.parametrize("sku", ["Consumption", "BasicV2", "StandardV2"])
def test_tiers_without_addresses_of_their_own_stay_identity_only(sku):
    plan = run(program(sku))
    assert "ipSecurityRestrictions" not in plan.one(APP).plain_inputs["siteConfig"]
    with pytest.raises(LastMileError) as err:
        run(program(sku, network="gateway-ip"))
    assert str(err.value).startswith("network: got 'gateway-ip'") and f"the {sku} tier" in str(err.value)
    assert "identity-only" in str(err.value)
    assert not [r for r in registered() if "orders" in r.urn]


def test_identity_only_can_be_chosen_on_a_classic_tier():
    plan = run(program("Basic", network="identity-only"))
    assert "ipSecurityRestrictions" not in plan.one(APP).plain_inputs["siteConfig"]


@pytest.mark.parametrize("args, key, phrase", [
    ({"network": "privat"}, "network", "expected one of identity-only, gateway-ip, private"),
    ({"network": "private"}, "network", "does not say its sku"),
    ({"network": "gateway-ip", "gateway": {**REF, "sku": "Basic"}}, "network", "carries no outbound_ips"),
    ({"network": "gateway-ip", "gateway": {**REF, "sku": "Basic", "outbound_ips": ["203.0.113.7"]}, "function_app_name": "func-legacy"},
     "network", "not of an adopted one"),
    ({"network": "gateway-ip", "gateway": REF}, "network", "does not say its sku"),
    ({"deployment_ip_ranges": ["0.0.0.0/0"]}, "deployment_ip_ranges[0]", "restricts nothing"),
    ({"deployment_ip_ranges": ["ci-runners"]}, "deployment_ip_ranges[0]", "CIDR"),
    ({"deployment_ip_ranges": "198.51.100.0/28"}, "deployment_ip_ranges", "a list"),
])
def test_bad_network_input_is_refused_before_anything_is_registered(args, key, phrase):
    with pytest.raises(LastMileError) as err:
        run(lambda: SecuredFunctionBackend("orders", {"gateway": REF, "resource_group_name": "rg", "api_path": "orders", **args}))
    assert str(err.value).startswith(f"{key}:") and phrase in str(err.value), str(err.value)
    assert registered() == []


def test_a_gateway_without_addresses_at_deploy_time_fails_then_not_silently():
    with pytest.raises(ValueError, match="reports no public IP address"):
        run(lambda: SecuredFunctionBackend("orders", {"gateway": {**REF, "sku": "Basic", "outbound_ips": []},
                                                      "resource_group_name": "rg", "api_path": "orders"}))


def test_stack_config_network_and_its_refusal():
    base = {"resourceGroup": {"name": "rg"}, "gateway": {"publisherEmail": "a@b.co", "publisherName": "n"}}
    with pytest.raises(ConfigError) as err:
        config.parse({**base, "functionBackends": [{"name": "o", "apiPath": "o", "network": "gateway-ip"}]})
    assert str(err.value).startswith("apim-lastmile:functionBackends[0].network: got 'gateway-ip'") and "Consumption tier" in str(err.value)
    env = config.parse({**base, "gateway": {**base["gateway"], "sku": "Standard"},
                        "functionBackends": [{"name": "o", "apiPath": "o", "network": "gateway-ip", "deploymentIpRanges": ["198.51.100.0/28"]}]})
    assert env.function_backends[0].args()["deployment_ip_ranges"] == ["198.51.100.0/28"]


@pytest.mark.parametrize("entry", [{"ipAddress": "0.0.0.0/0", "action": "Allow"}, {"ipAddress": "Any", "action": "Allow"},
                                   {"ipAddress": "::/0", "action": "Allow"}])
def test_policy_pack_reports_an_allow_all_access_restriction(entry):
    site = {"kind": "functionapp,linux", "httpsOnly": True, "functionAppConfig": {"runtime": {"name": "python", "version": "3.11"}},
            "siteConfig": {"minTlsVersion": "1.2", "ipSecurityRestrictions": [entry]}}
    assert [rule for rule, _ in rules.violations(APP, site, "f")] == ["access-restrictions-not-open"]
    site["siteConfig"] = {"minTlsVersion": "1.2", "scmIpSecurityRestrictions": [entry]}
    assert [rule for rule, _ in rules.violations(APP, site, "f")] == ["access-restrictions-not-open"]


def _stack(plan):
    return [(r.type, r.plain_inputs, r.name) for r in plan.registrations if r.custom]


def test_stack_rule_advises_when_the_tier_could_restrict_but_the_app_is_open():
    restricted = run(program("Basic"))
    assert [f for f in rules.stack_violations(_stack(restricted)) if f[0] == "backend-apps-reachable-only-from-the-gateway"] == []
    open_app = run(program("Basic", network="identity-only"))
    found = [f for f in rules.stack_violations(_stack(open_app)) if f[0] == "backend-apps-reachable-only-from-the-gateway"]
    assert len(found) == 1 and "every address can reach" in found[0][1]
    consumption = run(program("Consumption"))
    assert [f for f in rules.stack_violations(_stack(consumption)) if f[0] == "backend-apps-reachable-only-from-the-gateway"] == []
