"""Backends that fail: every backend entity the library creates carries a circuit breaker where the tier has one."""

from __future__ import annotations

from apim_lastmile import SecuredFunctionBackend
from apim_lastmile.azure_rules import CIRCUIT_BREAKER_TIERS
from apim_lastmile.gateway import SKUS
from helpers import run, stack_plan

BACKEND = "azure-native:apimanagement:Backend"
BREAKER = {"rules": [{"name": "lastmile-breaker", "acceptRetryAfter": True, "tripDuration": "PT1M",
                      "failureCondition": {"count": 5, "interval": "PT1M",
                                           "statusCodeRanges": [{"min": 429, "max": 429}, {"min": 500, "max": 599}]}}]}


def test_prod_backends_trip_on_server_errors_and_throttling_and_dev_has_no_breaker():
    prod = {b.name: b.plain_inputs for b in stack_plan("prod").of_type(BACKEND)}
    pool = prod.pop("chat-backend")  # a pool routes; its members trip
    assert "circuitBreaker" not in pool and [m["id"].rsplit("/", 1)[1] for m in pool["pool"]["services"]] == ["chat-1", "chat-2"]
    for name, backend in prod.items():
        assert backend["circuitBreaker"] == BREAKER, name
    dev = [b for b in stack_plan("dev").of_type(BACKEND) if b.plain_inputs.get("type") != "Pool"]
    # every kind; orders with its North Europe replica is a pool of two
    assert {b.name for b in dev} == {"orders-member-1", "orders-member-2", "invoices-backend", "legacy-backend", "lake-backend"}
    assert set(prod) == {"orders-backend", "invoices-backend", "erp-backend", "lake-backend", "chat-member-1", "chat-member-2"}
    assert [b.plain_inputs.get("circuitBreaker") for b in dev] == [None] * 5  # Consumption has none


def test_a_breaker_exactly_on_the_tiers_that_have_one():
    """The wiring is proven by the stacks above (StandardV2 with, Consumption without); the tier rule for each tier here."""
    from apim_lastmile.resilience import circuit_breaker

    for sku in SKUS:
        breaker = circuit_breaker({"sku": sku})
        assert (breaker is not None) is (sku in CIRCUIT_BREAKER_TIERS), sku
        assert breaker is None or len(breaker["rules"]) == 1  # APIM accepts one rule per backend
    assert "Consumption" not in CIRCUIT_BREAKER_TIERS and "StandardV2" in CIRCUIT_BREAKER_TIERS


def test_a_ref_that_does_not_say_its_tier_gets_no_breaker():
    ref = {"service_name": "apim-x", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}
    plan = run(lambda: SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg", "api_path": "orders"}))
    assert "circuitBreaker" not in plan.one(BACKEND).plain_inputs


# ---- the retry of idempotent methods ------------------------------------------------------------------------------------

import pytest  # noqa: E402
from lxml import etree  # noqa: E402

from apim_lastmile import policy  # noqa: E402
from apim_lastmile.errors import PolicyError  # noqa: E402
from apim_lastmile.resilience import IDEMPOTENT_METHODS, idempotent_retry  # noqa: E402


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_api_retries_transient_failures_of_idempotent_methods_only(stack, assert_valid_policy):
    policies = stack_plan(stack).policies()
    assert len(policies) == {"dev": 4, "prod": 5}[stack]
    for name, xml in policies.items():
        assert_valid_policy(xml)
        backend = etree.fromstring(xml.encode()).find("backend")
        assert backend.find("base") is None, name  # the inherited backend would forward the request a second time
        [retry] = backend.findall("retry")
        assert (retry.get("count"), retry.get("interval"), retry.get("max-interval")) == ("2", "1", "4")
        assert retry.find("forward-request").get("buffer-request-body") == "true"
        condition = retry.get("condition")
        assert {m for m in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH") if f'"{m}"' in condition} == set(IDEMPOTENT_METHODS)
        assert "502" in condition and "503" in condition and "504" in condition and "429" not in condition


@pytest.mark.parametrize("make, key", [
    (lambda: policy.retry(condition=policy.expr("true"), body=[policy.forward_request()], count=0), "retry.count"),
    (lambda: policy.retry(condition=policy.expr("true"), body=[policy.forward_request()], count=51), "retry.count"),
    (lambda: policy.retry(condition=policy.expr("true"), body=[policy.forward_request()], interval=policy.expr("1")), "retry.interval"),
    (lambda: policy.retry(condition="true", body=[policy.forward_request()]), "retry.condition"),
    (lambda: policy.retry(condition=policy.expr("true"), body=[]), "retry.body"),
    (lambda: policy.render(backend=[policy.set_backend_service(backend_id="x")], backend_base=False), "backend"),
    (lambda: policy.render(inbound=[policy.forward_request()]), "inbound[0]"),
])
def test_retry_and_its_backend_section_refuse_what_apim_would_not_run(make, key):
    with pytest.raises(PolicyError) as err:
        make()
    assert str(err.value).startswith(f"{key}:"), str(err.value)


def test_the_retry_renders_inside_a_backend_section_of_its_own(assert_valid_policy):
    xml = policy.render(backend=[idempotent_retry()], backend_base=False)
    assert_valid_policy(xml)
    assert etree.fromstring(xml.encode()).find("backend/retry/forward-request") is not None


# ---- a load-balanced pool of one service's endpoints ----------------------------------------------------------------------

from apim_lastmile import EntraBackend, LastMileError  # noqa: E402
from helpers import registered  # noqa: E402

OPENAI = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/"
PRINCIPAL = "11111111-1111-4111-8111-111111111111"


def _pool_program(sku="StandardV2", pool=None, name="chat"):
    ref = {"service_name": "apim-x", "resource_group_name": "rg", "principal_id": PRINCIPAL, "sku": sku}
    pool = [{"url": "https://aoai-sweden.openai.azure.com/openai", "priority": 1, "weight": 2},
            {"url": "https://aoai-eastus.openai.azure.com/openai", "priority": 2}] if pool is None else pool
    return lambda: EntraBackend(name, {
        "gateway": ref, "api_path": "chat", "audience": "openai", "backend_url": "https://aoai-westeu.openai.azure.com/openai",
        "role_assignments": [{"role": "Cognitive Services OpenAI User", "scope": OPENAI + account}
                             for account in ("aoai-westeu", "aoai-sweden", "aoai-eastus")],
        "pool": pool})


def test_a_pool_routes_to_every_member_with_its_breaker_and_each_member_gets_its_role(assert_valid_policy):
    plan = run(_pool_program())
    backends = {b.name: b.plain_inputs for b in plan.of_type(BACKEND)}
    assert set(backends) == {"chat-member-1", "chat-member-2", "chat-member-3", "chat-backend"}
    pool = backends.pop("chat-backend")
    assert pool["type"] == "Pool" and pool["backendId"] == "chat" and "url" not in pool and "protocol" not in pool
    ids = {b.name: b.outputs["id"] for b in plan.of_type(BACKEND)}
    assert pool["pool"]["services"] == [
        {"id": ids["chat-member-1"], "priority": 1, "weight": 1},
        {"id": ids["chat-member-2"], "priority": 1, "weight": 2},
        {"id": ids["chat-member-3"], "priority": 2, "weight": 1}]
    assert [backends[f"chat-member-{i}"]["url"] for i in (1, 2, 3)] == [
        "https://aoai-westeu.openai.azure.com/openai", "https://aoai-sweden.openai.azure.com/openai", "https://aoai-eastus.openai.azure.com/openai"]
    assert all(b["circuitBreaker"] == BREAKER for b in backends.values())
    grants = plan.of_type("azure-native:authorization:RoleAssignment")
    assert {g.plain_inputs["scope"].rsplit("/", 1)[1] for g in grants} == {"aoai-westeu", "aoai-sweden", "aoai-eastus"}
    assert {g.plain_inputs["principalId"] for g in grants} == {PRINCIPAL}
    xml = plan.policies()["chat-policy"]
    assert_valid_policy(xml)
    assert 'backend-id="chat"' in xml and 'resource="https://cognitiveservices.azure.com"' in xml


@pytest.mark.parametrize("sku, pool, key, phrase", [
    ("PremiumV2", None, "pool", "takes no load-balanced backend pool"),
    ("StandardV2", [{"url": "https://x.openai.azure.com"}] * 30, "pool", "2 to 30 backends"),
    ("StandardV2", [{"url": "https://evil.example.com/openai"}], "pool[0].url", "openai"),
    ("StandardV2", [{"url": "https://x.openai.azure.com", "priority": 0}], "pool[0].priority", "1 to 100"),
    ("StandardV2", [{"url": "https://x.openai.azure.com", "weight": True}], "pool[0].weight", "1 to 100"),
    ("StandardV2", [{"url": "https://x.openai.azure.com", "region": "eu"}], "pool[0].region", "unknown key"),
    ("StandardV2", "https://x.openai.azure.com", "pool", "expected a list"),
])
def test_a_pool_the_tier_or_the_service_cannot_take_is_refused_before_registration(sku, pool, key, phrase):
    with pytest.raises(LastMileError) as err:
        run(_pool_program(sku, pool))
    assert str(err.value).startswith(f"{key}:") and phrase in str(err.value), str(err.value)
    assert registered() == []


def test_pool_member_ids_cannot_take_another_apis_id():
    def body():
        _pool_program()()
        EntraBackend("chat-2", {"gateway": {"service_name": "apim-x", "resource_group_name": "rg", "principal_id": PRINCIPAL,
                                            "sku": "StandardV2"}, "api_path": "other", "audience": "openai",
                                "backend_url": "https://aoai-westeu.openai.azure.com/openai"})

    with pytest.raises(LastMileError) as err:
        run(body)
    assert "'chat-2' is already used by 'chat'" in str(err.value)


def test_a_pool_in_the_stack_config_reaches_the_component_and_is_refused_at_its_key():
    from apim_lastmile.errors import ConfigError
    from apim_lastmile.tools import config

    entry = {"name": "chat", "apiPath": "chat", "audience": "openai", "backendUrl": "https://a.openai.azure.com/openai",
             "pool": [{"url": "https://b.openai.azure.com/openai", "priority": 2}]}
    base = {"resourceGroup": {"name": "rg"}, "gateway": {"publisherEmail": "a@b.co", "publisherName": "n", "sku": "StandardV2"},
            "entraBackends": [entry]}
    assert config.parse(base).entra_backends[0].args()["pool"] == [{"url": "https://b.openai.azure.com/openai", "priority": 2, "weight": 1}]
    for change, key in (({"pool": [{"url": "https://evil.example.com"}]}, "entraBackends[0].pool[0].url"),
                        ({"pool": [{"url": "https://b.openai.azure.com", "weight": 0}]}, "entraBackends[0].pool[0].weight")):
        with pytest.raises(ConfigError) as err:
            config.parse({**base, "entraBackends": [{**entry, **change}]})
        assert str(err.value).startswith(f"apim-lastmile:{key}:"), str(err.value)
    with pytest.raises(ConfigError) as err:
        config.parse({**base, "gateway": {**base["gateway"], "sku": "PremiumV2"}})
    assert str(err.value).startswith("apim-lastmile:entraBackends[0].pool:") and "takes no load-balanced backend pool" in str(err.value)


# ---- a pool of function apps: replicas in other regions ----------------------------------------------------------------

from apim_lastmile import Gateway  # noqa: E402
from apim_lastmile.roles import BUILT_IN_ROLES  # noqa: E402

APP = "azure-native:web:WebApp"


def _replica_program(sku="StandardV2", replicas=None, telemetry=None, **backend):
    replicas = [{"location": "northeurope", "priority": 2}, {"location": "swedencentral", "priority": 2, "weight": 3}] \
        if replicas is None else replicas

    def body():
        network = {"virtual_network": {"address_prefix": "10.40.0.0/24"}} if backend.get("network") == "private" else {}
        g = Gateway("gw", {"resource_group_name": "rg", "publisher_email": "a@b.co", "publisher_name": "n", "sku": sku,
                           "location": "westeurope", **network, **({"telemetry": telemetry} if telemetry is not None else {})})
        SecuredFunctionBackend("orders", {"gateway": g.ref, "resource_group_name": "rg", "api_path": "orders",
                                          "location": "westeurope", "replicas": replicas, **backend})
    return body


def test_a_function_pool_plans_every_member_with_its_identity_roles_auth_and_breaker(assert_valid_policy):
    plan = run(_replica_program(telemetry={}))
    apps = {a.name: a for a in plan.of_type(APP)}
    assert {n: a.plain_inputs["location"] for n, a in apps.items()} == {
        "orders-function": "westeurope", "orders-r1-function": "northeurope", "orders-r2-function": "swedencentral"}
    backends = {b.name: b.plain_inputs for b in plan.of_type(BACKEND)}
    pool = backends.pop("orders-backend")
    ids = {b.name: b.outputs["id"] for b in plan.of_type(BACKEND)}
    assert pool["backendId"] == "orders" and pool["pool"]["services"] == [
        {"id": ids["orders-member-1"], "priority": 1, "weight": 1},
        {"id": ids["orders-member-2"], "priority": 2, "weight": 1},
        {"id": ids["orders-member-3"], "priority": 2, "weight": 3}]
    hosts = {a.outputs["defaultHostName"] for a in apps.values()}
    assert {b["url"] for b in backends.values()} == {f"https://{h}/api" for h in hosts}
    assert all(b["circuitBreaker"] == BREAKER for b in backends.values())
    client_id = plan.one("azuread:index/applicationRegistration:ApplicationRegistration").outputs["clientId"]
    gateway_principal = plan.one("azure-native:apimanagement:ApiManagementService").outputs["identity"]["principalId"]
    for label in ("orders", "orders-r1", "orders-r2"):
        app = apps[f"{label}-function"]
        principal = app.outputs["identity"]["principalId"]
        auth = plan.one("azure-native:web:WebAppAuthSettingsV2", f"{label}-auth").plain_inputs
        aad = auth["identityProviders"]["azureActiveDirectory"]
        # One registration, one audience: the token APIM gets reaches any member; only the gateway's identity is let in.
        assert aad["registration"]["clientId"] == client_id
        assert aad["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]["identities"] == [gateway_principal]
        assert auth["name"] == app.plain_inputs["name"] and auth["globalValidation"]["unauthenticatedClientAction"] == "Return401"
        grants = {g.plain_inputs["roleDefinitionId"].rsplit("/", 1)[1]: g.plain_inputs
                  for g in plan.of_type("azure-native:authorization:RoleAssignment") if g.plain_inputs["principalId"] == principal}
        storage = plan.one("azure-native:storage:StorageAccount", f"{label}-storage")
        # Each member's own identity: Storage Blob Data Owner on its own host storage, the publisher role on the component.
        assert grants[BUILT_IN_ROLES["Storage Blob Data Owner"]]["scope"] == storage.outputs["id"]
        assert set(grants) == {BUILT_IN_ROLES["Storage Blob Data Owner"], BUILT_IN_ROLES["Monitoring Metrics Publisher"]}
        assert storage.plain_inputs["location"] == app.plain_inputs["location"]
        assert plan.one("azure-native:web:WebAppScmAllowed", f"{label}-no-scm-basic-auth").plain_inputs["allow"] is False
    # Only one app registration and one app role assignment, to the gateway.
    assert len(plan.of_type("azuread:index/applicationRegistration:ApplicationRegistration")) == 1
    assert len(plan.of_type("azuread:index/appRoleAssignment:AppRoleAssignment")) == 1
    xml = plan.policies()["orders-policy"]
    assert_valid_policy(xml)
    assert 'backend-id="orders"' in xml


@pytest.mark.parametrize("sku, replicas, backend, key, phrase", [
    ("PremiumV2", None, {}, "replicas", "takes no load-balanced backend pool"),
    ("StandardV2", [{"location": "northeurope"}] * 30, {}, "replicas", "2 to 30 backends"),
    ("StandardV2", [{"location": "Narnia"}], {}, "replicas[0].location", "Azure region"),
    ("StandardV2", [{"location": "northeurope", "region": "x"}], {}, "replicas[0].region", "unknown key"),
    ("StandardV2", [{"url": "https://x"}], {}, "replicas[0].url", "unknown key"),
    ("StandardV2", [{"location": "northeurope", "weight": 0}], {}, "replicas[0].weight", "1 to 100"),
    ("Consumption", [{"location": "northeurope", "priority": 2}], {}, "replicas[0].priority", "no circuit breakers"),
    ("StandardV2", None, {"function_app_name": "func-existing"}, "replicas", "not with function_app_name"),
    ("StandardV2", None, {"network": "private"}, "replicas", "lies in one region"),
    ("StandardV2", [{"location": "northeurope"}, {"location": "North Europe"}], {}, "replicas[1].location", "one replica per region"),
])
def test_a_function_pool_azure_or_the_tier_cannot_take_is_refused_before_registration(sku, replicas, backend, key, phrase):
    with pytest.raises(LastMileError) as err:
        run(_replica_program(sku, replicas, **backend))
    assert str(err.value).startswith(f"{key}:") and phrase in str(err.value), str(err.value)
    assert not [r.urn for r in registered() if "SecuredFunctionBackend" in r.urn]  # the gateway came first; nothing of the backend


def test_the_member_ids_of_a_function_pool_are_taken():
    def body():
        g = Gateway("gw", {"resource_group_name": "rg", "publisher_email": "a@b.co", "publisher_name": "n", "sku": "StandardV2"})
        SecuredFunctionBackend("orders", {"gateway": g.ref, "resource_group_name": "rg", "api_path": "orders",
                                          "replicas": [{"location": "northeurope"}]})
        EntraBackend("orders-2", {"gateway": g.ref, "api_path": "other", "audience": "storage",
                                  "backend_url": "https://a.blob.core.windows.net/c"})

    with pytest.raises(LastMileError) as err:
        run(body)
    assert "'orders-2' is already used by 'orders'" in str(err.value)


def test_dev_shares_orders_between_two_regions_by_weight():
    plan = stack_plan("dev")
    pool = plan.one(BACKEND, "orders-backend").plain_inputs["pool"]["services"]
    assert [(s["priority"], s["weight"]) for s in pool] == [(1, 1), (1, 1)]  # no breakers on Consumption: no failover tier
    # The primary app in the group's region (no location of its own), the replica in North Europe.
    assert {a.plain_inputs.get("location") for a in plan.of_type(APP) if a.name.startswith("orders")} == {None, "northeurope"}
    assert len(plan.outputs["function_backends"]["orders"]["replica_app_names"]) == 1


def test_replicas_in_the_stack_config_reach_the_component_and_are_refused_at_their_key():
    from apim_lastmile.errors import ConfigError
    from apim_lastmile.tools import config

    entry = {"name": "orders", "apiPath": "orders", "replicas": [{"location": "northeurope", "priority": 2}]}
    base = {"resourceGroup": {"name": "rg"}, "gateway": {"publisherEmail": "a@b.co", "publisherName": "n", "sku": "StandardV2"},
            "functionBackends": [entry]}
    assert config.parse(base).function_backends[0].args()["replicas"] == [{"location": "northeurope", "priority": 2, "weight": 1}]
    for change, key in (({"replicas": [{"location": "atlantis"}]}, "functionBackends[0].replicas[0].location"),
                        ({"replicas": [{"location": "northeurope", "weight": 101}]}, "functionBackends[0].replicas[0].weight"),
                        ({"replicas": [{"location": "northeurope"}], "functionAppName": "func-x"}, "functionBackends[0].replicas")):
        with pytest.raises(ConfigError) as err:
            config.parse({**base, "functionBackends": [{**entry, **change}]})
        assert str(err.value).startswith(f"apim-lastmile:{key}:"), str(err.value)
    with pytest.raises(ConfigError) as err:
        config.parse({**base, "gateway": {**base["gateway"], "sku": "Consumption"}})
    assert str(err.value).startswith("apim-lastmile:functionBackends[0].replicas[0].priority:"), str(err.value)


def test_a_pool_priority_needs_the_tier_and_a_replica_name_is_taken():
    ref = {"service_name": "apim-x", "resource_group_name": "rg", "principal_id": PRINCIPAL}  # no sku: breakers unknown
    with pytest.raises(LastMileError) as err:
        run(lambda: SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg", "api_path": "orders",
                                                      "replicas": [{"location": "northeurope", "priority": 2}]}))
    assert str(err.value).startswith("replicas[0].priority:") and "say the gateway's tier" in str(err.value)

    def taken():
        SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg", "api_path": "orders",
                                          "replicas": [{"location": "northeurope"}]})
        SecuredFunctionBackend("orders-r1", {"gateway": ref, "resource_group_name": "rg", "api_path": "other"})
    with pytest.raises(LastMileError) as err:
        run(taken)
    assert "'orders-r1' is already used by 'orders'" in str(err.value)


def test_adding_replicas_updates_the_backend_apim_knows_by_name_in_place():
    """Single backend -> pool (and back) is one resource, updated: two resources for the id orders would have the new one
    created while the old one exists (azure-native refuses), and deleting the old one would delete the pool."""
    def plan(replicas):
        ref = {"service_name": "apim-x", "resource_group_name": "rg", "principal_id": PRINCIPAL, "sku": "StandardV2"}
        return run(lambda: SecuredFunctionBackend("orders", {"gateway": ref, "resource_group_name": "rg", "api_path": "orders",
                                                             "replicas": replicas}))

    single, pooled = plan([]), plan([{"location": "northeurope"}])
    owner = lambda p: next(b.urn for b in p.of_type(BACKEND) if b.plain_inputs["backendId"] == "orders")  # noqa: E731
    assert owner(single) == owner(pooled)
    assert pooled.one(BACKEND, "orders-backend").plain_inputs["type"] == "Pool"
    assert {b.plain_inputs["backendId"] for b in pooled.of_type(BACKEND)} == {"orders", "orders-1", "orders-2"}
