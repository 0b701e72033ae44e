"""Hostile input, round 2: gateway refs, ranges, program-wide names, cross-stack refs and secrets in errors.

Every case must be refused with a LastMileError naming the argument or config key, before anything is registered,
without echoing a credential; a ref or stack that asks for a network the library cannot build is refused rather
than silently planned weaker. Cases are our own, grouped by the root causes the issue names.
"""

from __future__ import annotations

import copy

import pulumi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apim_lastmile import Gateway, KeyVaultSecretBackend, LastMileError, SecuredFunctionBackend, gateway_ref_from_stack
from apim_lastmile.tools import config
from apim_lastmile.errors import ConfigError, mask_credentials, show
from apim_lastmile.network import check_ranges
from apim_lastmile.tools.plan import LastMileMocks

from helpers import registered, run

GUID = "00000000-0000-4000-8000-000000000001"
PRINCIPAL = "11111111-1111-4111-8111-111111111111"
SUB = f"/subscriptions/{GUID}/resourceGroups/rg-hub/providers"
SUBNET = f"{SUB}/Microsoft.Network/virtualNetworks/vnet/subnets/endpoints"
ZONE = f"{SUB}/Microsoft.Network/privateDnsZones/privatelink.azurewebsites.net"
REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": PRINCIPAL}
LINK = {"subnet_id": SUBNET, "location": "westeurope", "integration_subnet_id": SUBNET.replace("/endpoints", "/function-apps"),
        "dns_zone_ids": {"sites": ZONE, "blob": ZONE.replace("privatelink.azurewebsites.net", "privatelink.blob.core.windows.net")}}


def backend(ref, **extra):
    return lambda: SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg", "api_path": "orders", **extra})


def refused(program, key_prefix: str, *fragments: str) -> str:
    with pytest.raises(LastMileError) as err:
        run(program)
    text = str(err.value)
    assert text.startswith(key_prefix), text
    for fragment in fragments:
        assert fragment in text, text
    assert registered() == [], "nothing may be registered before the refusal"
    assert "Output object at" not in text
    return text


# ---- GatewayRef: validated as an argument, no mode chosen by absence -------------------------------------------------

REF_CASES = [
    # misspelt or unknown fields would leave the backend weaker without a word
    ({**REF, "outbound_ip": ["203.0.113.10"], "sku": "Basic"}, "gateway.outbound_ip", "unknown argument", "did you mean 'outbound_ips'"),
    ({**REF, "privatelink": LINK, "sku": "Premium"}, "gateway.privatelink", "unknown argument", "private_link"),
    ({**REF, "Sku": "Premium"}, "gateway.Sku", "unknown argument", "did you mean 'sku'"),
    ({**REF, "serviceName": "x"}, "gateway.serviceName", "unknown argument"),
    ({**REF, "principal": PRINCIPAL}, "gateway.principal", "unknown argument"),
    ({**REF, "outboundIps": []}, "gateway.outboundIps", "unknown argument"),
    # outbound_ips: single public addresses of a tier that has them
    ({**REF, "sku": "Basic", "outbound_ips": "203.0.113.10"}, "gateway.outbound_ips", "expected a list"),
    ({**REF, "sku": "Basic", "outbound_ips": ["0.0.0.0/0"]}, "gateway.outbound_ips[0]", "no range"),
    ({**REF, "sku": "Basic", "outbound_ips": ["203.0.113.0/24"]}, "gateway.outbound_ips[0]", "no range"),
    ({**REF, "sku": "Basic", "outbound_ips": ["10.0.0.4"]}, "gateway.outbound_ips[0]", "expected a public address"),
    ({**REF, "sku": "Basic", "outbound_ips": ["127.0.0.1"]}, "gateway.outbound_ips[0]", "expected a public address"),
    ({**REF, "sku": "Basic", "outbound_ips": ["169.254.169.254"]}, "gateway.outbound_ips[0]", "expected a public address"),
    ({**REF, "sku": "Basic", "outbound_ips": ["192.168.1.1"]}, "gateway.outbound_ips[0]", "expected a public address"),
    ({**REF, "sku": "Basic", "outbound_ips": ["::1"]}, "gateway.outbound_ips[0]", "expected a public address"),
    ({**REF, "sku": "Basic", "outbound_ips": ["fd00::1"]}, "gateway.outbound_ips[0]", "expected a public address"),
    ({**REF, "sku": "Basic", "outbound_ips": ["gateway.contoso.com"]}, "gateway.outbound_ips[0]", "one public IP address"),
    ({**REF, "sku": "Basic", "outbound_ips": [None]}, "gateway.outbound_ips[0]", "one public IP address"),
    ({**REF, "sku": "Basic", "outbound_ips": ["203.0.113.10"] * 513}, "gateway.outbound_ips", "at most 512"),
    ({**REF, "outbound_ips": ["203.0.113.10"]}, "gateway.sku", "must say the gateway's tier"),
    ({**REF, "sku": "BasicV2", "outbound_ips": ["203.0.113.10"]}, "gateway.outbound_ips", "no public IP addresses of its own"),
    ({**REF, "sku": "Consumption", "outbound_ips": ["203.0.113.10"]}, "gateway.outbound_ips", "no public IP addresses of its own"),
    # private_link: a tier that has a network, ids of the right type, zones of the right name
    ({**REF, "private_link": LINK}, "gateway.sku", "must say the gateway's tier"),
    ({**REF, "sku": "Basic", "private_link": LINK}, "gateway.private_link", "cannot send its backend traffic into a virtual network"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "subnet_id": ZONE}}, "gateway.private_link.subnet_id",
     "Microsoft.Network/virtualNetworks/subnets", "not of a Microsoft.Network/privateDnsZones"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "subnet_id": f"/subscriptions/{GUID}/resourceGroups/rg"}},
     "gateway.private_link.subnet_id", "expected the id of a Microsoft.Network/virtualNetworks/subnets"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "subnet_id": "subnet-1"}}, "gateway.private_link.subnet_id", "Azure resource id"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "dns_zone_ids": {"sites": SUBNET}}}, "gateway.private_link.dns_zone_ids.sites",
     "Microsoft.Network/privateDnsZones"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "dns_zone_ids": {"sites": ZONE.replace("azurewebsites", "blob.core.windows")}}},
     "gateway.private_link.dns_zone_ids.sites", "privatelink.azurewebsites.net zone"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "dns_zone_ids": {"web": ZONE}}}, "gateway.private_link.dns_zone_ids.web",
     "expected keys among"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "dns_zone_ids": {}}}, "gateway.private_link.dns_zone_ids", "needs dns_zone_ids"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "dns_zone_ids": ZONE}}, "gateway.private_link.dns_zone_ids", "expected {'sites'"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "subnet": SUBNET}}, "gateway.private_link.subnet", "unknown argument"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "endpoint_capacity": 0}}, "gateway.private_link.endpoint_capacity", "1 or more"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "endpoint_capacity": "11"}}, "gateway.private_link.endpoint_capacity", "whole number"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "location": "mars"}}, "gateway.private_link.location", "Azure region"),
    ({**REF, "sku": "Premium", "private_link": "vnet"}, "gateway.private_link", "expected a PrivateLinkRef"),
    # identities
    ({**REF, "identity_client_id": PRINCIPAL, "identity_type": "UserAssigned"}, "gateway.identity_client_id", "not its principal"),
    ({**REF, "principal_id": "not-a-guid"}, "gateway.principal_id", "expected a GUID"),
    ({**REF, "identity_client_id": "x", "identity_type": "UserAssigned"}, "gateway.identity_client_id", "expected a GUID"),
    ({**REF, "sku": "Platinum"}, "gateway.sku", "expected one of"),
    ({**REF, "sku": "premium"}, "gateway.sku", "expected one of"),
    # field types: a string or an Output, never a number where Azure wants a name or an id
    ({**REF, "principal_id": 5}, "gateway.principal_id", "expected a string"),
    ({**REF, "service_name": ["apim-contoso"]}, "gateway.service_name", "expected a string"),
    ({**REF, "resource_group_name": {"name": "rg"}}, "gateway.resource_group_name", "expected a string"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "dns_zone_ids": {"sites": 5}}}, "gateway.private_link.dns_zone_ids.sites",
     "expected a private DNS zone id"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "location": None}}, "gateway.private_link.location", "needs location"),
    ({**REF, "sku": "Premium", "private_link": {k: v for k, v in LINK.items() if k != "location"}}, "gateway.private_link.location",
     "needs location"),
    ({**REF, "sku": "Premium", "private_link": {**LINK, "subnet_id": 7}}, "gateway.private_link.subnet_id", "expected a string"),
]


@pytest.mark.parametrize("case", REF_CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(REF_CASES)])
def test_a_gateway_ref_is_validated_like_an_argument(case):
    ref, key, *fragments = case
    refused(backend(ref), key, *fragments)


def test_a_valid_ref_still_plans_the_mode_it_asks_for():
    site = run(backend({**REF, "sku": "Basic", "outbound_ips": ["203.0.113.10", "2001:db8::1"]})).one(
        "azure-native:web:WebApp").plain_inputs["siteConfig"]
    assert site["ipSecurityRestrictionsDefaultAction"] == "Deny"
    assert [r["ipAddress"] for r in site["ipSecurityRestrictions"]] == ["203.0.113.10/32", "2001:db8::1/128"]
    plan = run(backend({**REF, "sku": "Premium", "private_link": LINK}))
    assert plan.one("azure-native:web:WebApp").plain_inputs["publicNetworkAccess"] == "Disabled"


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from(["sku", "outbound_ips", "private_link", "cache", "identity_type", "gateway_url", "x"]),
                       st.one_of(st.none(), st.text(max_size=12), st.lists(st.text(max_size=8), max_size=3), st.integers())))
def test_fuzzed_refs_are_refused_cleanly_or_plan_what_they_say(extra):
    ref = {**REF, **extra}
    try:
        plan = run(backend(ref))
    except LastMileError as err:
        assert str(err).startswith(("gateway", "network")), str(err)
        assert registered() == []
        return
    app = plan.one("azure-native:web:WebApp").plain_inputs
    # Accepted: the mode built is one the ref's tier supports, never a silent weakening of what it asked for.
    assert app.get("publicNetworkAccess") == "Enabled"


# ---- ranges judged as sets, host bits handled the same everywhere --------------------------------------------------

RANGE_CASES = [
    (["0.0.0.0/1", "128.0.0.0/1"], "deployment_ip_ranges", "together these ranges are open to every address"),
    (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"], "deployment_ip_ranges", "together"),
    (["::/1", "8000::/1"], "deployment_ip_ranges", "together"),
    (["0.0.0.0/0"], "deployment_ip_ranges[0]", "restricts nothing"),
    (["::/0"], "deployment_ip_ranges[0]", "restricts nothing"),
    (["203.0.113.5/28"], "deployment_ip_ranges[0]", "host bits are set: write '203.0.113.0/28'"),
    (["2001:db8::1/64"], "deployment_ip_ranges[0]", "host bits are set"),
    (["198.51.100.0/33"], "deployment_ip_ranges[0]", "CIDR range"),
    ("198.51.100.0/28", "deployment_ip_ranges", "expected a list"),
    ([f"198.51.{i // 256}.{i % 256}" for i in range(513)], "deployment_ip_ranges", "at most 512"),
    ([42], "deployment_ip_ranges[0]", "CIDR range"),
]


@pytest.mark.parametrize("ranges,key,fragment", RANGE_CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(RANGE_CASES)])
def test_deployment_ranges_are_judged_as_a_set(ranges, key, fragment):
    refused(backend({**REF, "sku": "Basic", "outbound_ips": ["203.0.113.10"]}, network="gateway-ip", deployment_ip_ranges=ranges),
            key, fragment)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=32).flatmap(
    lambda p: st.integers(min_value=0, max_value=2 ** p - 1).map(lambda n: f"{__import__('ipaddress').ip_network((n << (32 - p), p))}")),
    min_size=1, max_size=6))
def test_fuzzed_ranges_are_accepted_only_when_their_union_restricts(ranges):
    import ipaddress

    union = list(ipaddress.collapse_addresses(ipaddress.ip_network(r) for r in ranges))
    try:
        checked = check_ranges(ranges)
    except LastMileError as err:
        assert any(n.prefixlen == 0 for n in union), str(err)
        return
    assert not any(n.prefixlen == 0 for n in union) and checked == ranges


def test_the_virtual_network_refuses_host_bits_as_the_ranges_do():
    refused(lambda: Gateway("edge", {"resource_group_name": "rg", "publisher_email": "a@contoso.com", "publisher_name": "C",
                                     "sku": "Premium", "virtual_network": {"address_prefix": "10.40.0.5/24"}}),
            "virtual_network.address_prefix", "no host bits")


# ---- capacities known before registration -----------------------------------------------------------------------------

def test_more_private_backends_than_the_endpoint_subnet_holds_are_refused():
    from apim_lastmile.network import count_endpoints

    def program(already):
        def body():
            gw = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "a@contoso.com", "publisher_name": "C",
                                  "sku": "Premium", "virtual_network": {"address_prefix": "10.40.0.0/26"}})
            assert gw.ref["private_link"]["endpoint_capacity"] == 11  # a /28 endpoint subnet: 16 addresses less Azure's 5
            count_endpoints(gw.ref, "earlier backends", already)
            SecuredFunctionBackend("last", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": "last"})
        return body
    run(program(9))  # the tenth and eleventh fit: the app's endpoint and its host storage's
    with pytest.raises(LastMileError) as err:
        run(program(10))
    assert str(err.value).startswith("network: got 'private'; the gateway's endpoint subnet holds 11 private endpoints and this program needs 12")
    assert not any(r.name.startswith("last") for r in registered())


# ---- program-wide uniqueness -----------------------------------------------------------------------------------------

def gateway(name, **extra):
    return Gateway(name, {"resource_group_name": "rg", "publisher_email": "a@contoso.com", "publisher_name": "C", **extra})


def test_two_gateways_with_one_service_name_are_refused():
    with pytest.raises(LastMileError) as err:
        run(lambda: (gateway("a", service_name="apim-contoso"), gateway("b", service_name="APIM-Contoso")))
    assert str(err.value).startswith("service_name: got 'APIM-Contoso'; API Management service name 'APIM-Contoso' is already used by 'a'")
    assert not any(r.name.startswith("b-") for r in registered())


def test_two_networked_gateways_cannot_create_the_same_zone_in_one_group():
    vnet = {"address_prefix": "10.40.0.0/24"}
    with pytest.raises(LastMileError) as err:
        run(lambda: (gateway("a", sku="Premium", virtual_network=vnet), gateway("b", sku="Premium", virtual_network=vnet)))
    assert str(err.value).startswith("virtual_network: got 'privatelink.blob.core.windows.net'; private DNS zone")
    assert not any(r.name.startswith("b-") for r in registered())
    run(lambda: (gateway("a", sku="Premium", virtual_network=vnet),
                 Gateway("b", {"resource_group_name": "rg-2", "publisher_email": "a@contoso.com", "publisher_name": "C",
                               "sku": "Premium", "virtual_network": vnet})))


@pytest.mark.parametrize("path", [".", "..", "v1/..", "../orders", "./orders", "a/./b", "a/../b"])
def test_dot_segments_in_api_paths_are_refused(path):
    refused(lambda: SecuredFunctionBackend("orders", {"gateway": REF, "resource_group_name": "rg", "api_path": path,
                                                      "network": "identity-only"}), "api_path", "'.' or '..' segments")


EXPORTED = {"serviceName": "apim-contoso", "resourceGroupName": "rg-platform", "principalId": PRINCIPAL, "sku": "Premium",
            "outboundIps": ["203.0.113.10"], "privateLink": {"subnetId": SUBNET, "location": "westeurope", "dnsZoneIds": {"sites": ZONE}}}


def on_stack(body, exported=EXPORTED, output="gateway"):
    return run(body, mocks=LastMileMocks(stacks={"org/platform/prod": {output: exported}}))


def test_two_refs_to_one_stacks_gateway_are_one_gateway():
    def body():
        stack = pulumi.StackReference("org/platform/prod")
        a = gateway_ref_from_stack(stack, sku="Premium")
        b = gateway_ref_from_stack(stack, sku="Premium")
        SecuredFunctionBackend("one", {"gateway": a, "resource_group_name": "rg", "api_path": "orders", "network": "identity-only"})
        SecuredFunctionBackend("two", {"gateway": b, "resource_group_name": "rg", "api_path": "Orders", "network": "identity-only"})
    with pytest.raises(LastMileError, match=r"api_path: got 'Orders'; API path 'Orders' is already used by 'one' on this gateway"):
        on_stack(body)


# ---- cross-stack refs: a missing or disagreeing export fails at deploy time, clearly --------------------------------

def deploy_error(body, **kwargs) -> str:
    with pytest.raises(Exception) as err:
        on_stack(body, **kwargs)
    return str(err.value)


def uses(**options):
    def body():
        ref = gateway_ref_from_stack(pulumi.StackReference("org/platform/prod"), **options)
        SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg", "api_path": "orders", "network": "identity-only"})
    return body


def test_a_missing_export_is_a_clear_error_not_a_resource_named_none():
    assert "stack output 'gateway'" in deploy_error(uses(), exported=EXPORTED, output="gw")
    assert "exports no gateway under this name" in deploy_error(uses(), exported=EXPORTED, output="gw")


def test_an_export_without_its_fields_is_named():
    text = deploy_error(uses(), exported={k: v for k, v in EXPORTED.items() if k != "principalId"})
    assert "stack output gateway.principalId" in text and "exported_ref" in text


def test_the_tier_a_consumer_states_is_compared_with_the_export():
    text = deploy_error(uses(sku="StandardV2"))
    assert "sku: got 'StandardV2'; the referenced stack's gateway is 'Premium'" in text


def test_a_network_asked_of_a_stack_that_exports_none_is_refused():
    text = deploy_error(uses(sku="Premium", virtual_network=True), exported={k: v for k, v in EXPORTED.items() if k != "privateLink"})
    assert "exports no privateLink" in text


def test_a_matching_export_plans():
    on_stack(uses(sku="Premium", virtual_network=True))


# ---- secrets: never echoed -----------------------------------------------------------------------------------------

SECRETS = [
    "contoso.redis.cache.windows.net:6380,password=S3cr3tRedisKey==,ssl=True,abortConnect=False",
    "DefaultEndpointsProtocol=https;AccountName=lake;AccountKey=S3cr3tStorageKey==;EndpointSuffix=core.windows.net",
    "Endpoint=sb://bus.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=S3cr3tBusKey=",
    "https://lake.blob.core.windows.net/raw?sv=2024-01-01&sig=S3cr3tSig%3D",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJTM2NyM3QifQ.S3cr3tSignaturePart",
    "https://svc:S3cr3tPass@legacy.contoso.com/",
    "Bearer S3cr3tTokenValue123",
    "https://orders.azurewebsites.net/api/x?code=S3cr3tFunctionKey",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_an_unknown_component_argument_is_named_never_shown(secret):
    text = refused(lambda: Gateway("edge", {"resource_group_name": "rg", "publisher_email": "a@contoso.com", "publisher_name": "C",
                                            "conection_string": secret}), "conection_string", "unknown argument")
    assert "S3cr3t" not in text


@pytest.mark.parametrize("secret", SECRETS)
def test_a_misspelt_config_key_is_named_never_shown(secret):
    values = {"resourceGroup": {"name": "rg-dev", "location": "westeurope"},
              "gateway": {"publisherEmail": "ops@contoso.com", "publisherName": "Contoso",
                          "externalCache": {"connectionStrng": secret}}}
    with pytest.raises(ConfigError) as err:
        config.parse(copy.deepcopy(values))
    assert "S3cr3t" not in str(err.value) and "connectionStrng" in str(err.value)
    with pytest.raises(ConfigError) as err:
        config.parse({**copy.deepcopy(values), "redisConection": secret})
    assert "S3cr3t" not in str(err.value) and "apim-lastmile:redisConection" in str(err.value)


@pytest.mark.parametrize("secret", SECRETS)
def test_a_credential_at_a_known_key_is_masked(secret):
    text = str(LastMileError("backend_url", secret, "expected something else"))
    assert "S3cr3t" not in text and text.startswith("backend_url: got ")
    assert "S3cr3t" not in show([secret]) and "S3cr3t" not in show({"x": secret})


def test_masking_keeps_what_is_no_credential():
    for plain in ("westeurope", "https://legacy.contoso.com/api", "Storage Blob Data Reader", "key-vault-name", "10.40.0.0/24"):
        assert mask_credentials(plain) == plain


# ---- the external cache's region ---------------------------------------------------------------------------------------

def test_the_external_caches_resource_id_must_be_a_cache():
    refused(lambda: Gateway("edge", {"resource_group_name": "rg", "publisher_email": "a@contoso.com", "publisher_name": "C",
                                     "external_cache": {"connection_string": pulumi.Output.secret("x"), "redis_resource_id": SUBNET}}),
            "external_cache.redis_resource_id", "Microsoft.Cache/redis")


@pytest.mark.parametrize("location,fragment", [("westmars", "Azure region"), ("usgovvirginia", "sovereign"), ("West Europe", "'default'")])
def test_the_external_caches_region_must_exist(location, fragment):
    refused(lambda: Gateway("edge", {"resource_group_name": "rg", "publisher_email": "a@contoso.com", "publisher_name": "C",
                                     "external_cache": {"connection_string": pulumi.Output.secret("x"), "use_from_location": location}}),
            "external_cache.use_from_location", fragment)


def test_named_values_count_against_the_tier_on_one_gateway():
    from apim_lastmile.api import count_on_gateway
    from apim_lastmile.azure_rules import NAMED_VALUES_PER_SERVICE

    limit = NAMED_VALUES_PER_SERVICE["Consumption"]
    ref = {**REF, "sku": "Consumption"}

    def body():
        count_on_gateway(ref, "named values", "hand-written", limit - 1, NAMED_VALUES_PER_SERVICE, "namedValues")
        KeyVaultSecretBackend("legacy", {"gateway": ref, "resource_group_name": "rg", "api_path": "legacy",
                                         "backend_url": "https://legacy.contoso.com", "username": "svc"})
    with pytest.raises(LastMileError, match=rf"delivery: got '{limit + 1} named values on the gateway'; the Consumption tier allows at most {limit}"):
        run(body)
    assert registered() == []


# ---- late or vague refusals, first-corpus leftovers ------------------------------------------------------------------

BASE = {"resourceGroup": {"name": "rg-dev", "location": "westeurope"},
        "gateway": {"publisherEmail": "ops@contoso.com", "publisherName": "Contoso"}}
SECRET = {"name": "legacy", "apiPath": "legacy", "backendUrl": "https://legacy.contoso.com", "username": "svc"}


@pytest.mark.parametrize("values,key,fragment", [
    ({**BASE, "gateway": {**BASE["gateway"], "sku": "Premium", "virtualNetwork": None}}, "apim-lastmile:gateway.virtualNetwork",
     "an empty value"),
    ({**BASE, "functionBackends": [{"name": "orders", "apiPath": "orders", "network": None}]},
     "apim-lastmile:functionBackends[0].network", "an empty value"),
    ({**BASE, "secretBackends": [{**SECRET, "cacheSeconds": 300}]}, "apim-lastmile:secretBackends[0].cacheSeconds",
     "only delivery send-request caches the password"),
    ({**BASE, "gateway": {**BASE["gateway"], "sku": "Basic"}, "secretBackends": [{**SECRET, "delivery": "send-request", "cacheSeconds": 2**31}]},
     "apim-lastmile:secretBackends[0].cacheSeconds", "32-bit integer"),
    ({**BASE, "gateway": {**BASE["gateway"], "sku": "Premium", "virtualNetwork": {"addressPrefix": "10.40.0.0/26"}},
      "functionBackends": [{"name": f"f{i}", "apiPath": f"f{i}"} for i in range(6)]},
     "apim-lastmile:functionBackends[5].network", "holds 11 private endpoints"),  # two each: the app's and its storage's
])
def test_config_refusals_come_before_registration_at_the_key(values, key, fragment):
    with pytest.raises(ConfigError) as err:
        config.parse(copy.deepcopy(values))
    assert str(err.value).startswith(key) and fragment in str(err.value), str(err.value)
    assert "Output object" not in str(err.value)


@pytest.mark.parametrize("value", [[], ["erpPassword"], {}, {"a": 1}])
def test_a_secret_config_key_of_the_wrong_type_is_refused_at_its_key(value):
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, "secretBackends": [{**SECRET, "secretConfigKey": value}]})
    assert str(err.value).startswith("apim-lastmile:secretBackends[0].secretConfigKey: got")


def test_an_explicit_service_name_frees_a_long_gateway_name():
    env = config.parse({**BASE, "gateway": {**BASE["gateway"], "name": "a" * 40, "serviceName": "apim-contoso-dev"}})
    assert env.gateway.service_name == "apim-contoso-dev"
    with pytest.raises(ConfigError, match="apim-lastmile:gateway.name: .*would exceed 50 characters"):
        config.parse({**BASE, "gateway": {**BASE["gateway"], "name": "a" * 40}})


def load_with(values: dict, secret_keys=()):
    return run(lambda: config.load(), config={f"apim-lastmile:{k}": v for k, v in values.items()},
               secret_keys=[f"apim-lastmile:{k}" for k in secret_keys])


def test_a_stack_with_no_region_anywhere_is_refused():
    with pytest.raises(ConfigError, match=r"apim-lastmile:resourceGroup.location: got None; no region anywhere"):
        load_with({**BASE, "resourceGroup": {"name": "rg-dev"}})


def test_a_secret_config_key_that_is_not_set_is_named_with_the_command():
    with pytest.raises(ConfigError) as err:
        load_with({**BASE, "secretBackends": [{**SECRET, "secretConfigKey": "erpPassword"}]})
    assert str(err.value).startswith("apim-lastmile:erpPassword: got None; the stack names this secret config key but does not set it")
    assert "pulumi config set --secret apim-lastmile:erpPassword" in str(err.value)
