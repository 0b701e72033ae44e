"""A send-request Key Vault backend needs a gateway cache; the Consumption tier has none.

Without a cache every request misses, so the policy would call Key Vault on every request (throttled under load):
such a backend is refused before anything is registered, unless the gateway has an external cache, whose Redis
connection string (it carries the access key) must be a Pulumi secret.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from apim_lastmile import Gateway, KeyVaultSecretBackend, LastMileError
from apim_lastmile.tools import config
from apim_lastmile.tools.cli import main
from apim_lastmile.errors import ConfigError
from apim_lastmile.gateway import SKUS

from helpers import registered, run

REPO = Path(__file__).resolve().parents[1]
REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}
BACKEND = {"resource_group_name": "rg", "api_path": "legacy", "backend_url": "https://legacy.contoso.com", "username": "svc",
           "delivery": "send-request"}
CACHE = "azure-native:apimanagement:Cache"
REDIS = "lastmile.redis.cache.windows.net:6380,password=not-a-real-key,ssl=True,abortConnect=False"


def gateway_program(sku, external_cache=None, then=None):
    def body():
        args = {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso", "sku": sku}
        if external_cache is not None:
            args["external_cache"] = external_cache() if callable(external_cache) else external_cache
        gw = Gateway("edge", args)
        if then:
            then(gw.ref)
    return body


def test_send_request_on_a_consumption_gateway_is_refused_before_anything_is_registered():
    with pytest.raises(LastMileError) as err:
        run(lambda: KeyVaultSecretBackend("legacy", {"gateway": {**REF, "sku": "Consumption"}, **BACKEND}))
    message = str(err.value)
    assert message.startswith("delivery: got 'send-request'")
    assert "Consumption" in message and "no built-in cache" in message and "named-value" in message and "external cache" in message
    assert registered() == []


def test_send_request_on_a_consumption_gateway_component_registers_nothing_of_its_own():
    with pytest.raises(LastMileError, match="Consumption has no built-in cache"):
        run(gateway_program("Consumption", then=lambda ref: KeyVaultSecretBackend("legacy", {"gateway": ref, **BACKEND})))
    assert not [r for r in registered() if "legacy" in r.urn]


def test_a_hand_built_ref_must_say_whether_the_gateway_caches():
    with pytest.raises(LastMileError, match="does not say whether the gateway has a cache"):
        KeyVaultSecretBackend("legacy", {"gateway": REF, **BACKEND})
    with pytest.raises(LastMileError, match="has no built-in cache"):
        KeyVaultSecretBackend("legacy", {"gateway": {**REF, "cache": "internal", "sku": "Consumption"}, **BACKEND})
    with pytest.raises(LastMileError, match="expected one of internal, external, none"):
        KeyVaultSecretBackend("legacy", {"gateway": {**REF, "cache": "redis"}, **BACKEND})
    with pytest.raises(LastMileError, match="gateway.sku"):
        KeyVaultSecretBackend("legacy", {"gateway": {**REF, "sku": "Gold"}, **BACKEND})
    # named-value mode needs no cache, whatever the ref says.
    plan = run(lambda: KeyVaultSecretBackend("legacy", {"gateway": REF, **BACKEND, "delivery": "named-value"}))
    assert plan.of_type("azure-native:apimanagement:ApiPolicy")


@pytest.mark.parametrize("sku", [s for s in SKUS if s != "Consumption"])
def test_every_tier_with_a_built_in_cache_takes_send_request(sku):
    refs = {}
    plan = run(gateway_program(sku, then=lambda ref: (refs.setdefault("ref", ref),
                                                      KeyVaultSecretBackend("legacy", {"gateway": ref, **BACKEND}))))
    assert (refs["ref"]["sku"], refs["ref"]["cache"]) == (sku, "internal")
    assert plan.of_type(CACHE) == []
    assert "cache-lookup-value" in plan.one("azure-native:apimanagement:ApiPolicy").plain_inputs["value"]


def test_an_external_cache_makes_send_request_possible_on_consumption():
    refs = {}
    cache = lambda: {"connection_string": pulumi.Output.secret(REDIS),  # noqa: E731
                     "redis_resource_id": "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Cache/redis/lastmile"}
    plan = run(gateway_program("Consumption", cache, then=lambda ref: (refs.setdefault("ref", ref),
                                                                      KeyVaultSecretBackend("legacy", {"gateway": ref, **BACKEND}))))
    assert refs["ref"]["cache"] == "external"
    entity = plan.one(CACHE)
    assert rpc.is_rpc_secret(entity.inputs["connectionString"]), "the Redis access key must stay a Pulumi secret"
    inputs = entity.plain_inputs
    assert inputs["cacheId"] == inputs["useFromLocation"] == "default"
    assert inputs["resourceId"] == "https://management.azure.com/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Cache/redis/lastmile"
    assert inputs["serviceName"] == plan.one("azure-native:apimanagement:ApiManagementService").outputs["name"]
    assert REDIS not in str(plan.to_json())


@pytest.mark.parametrize(
    "cache, key, expected",
    [
        ({"connection_string": REDIS}, "external_cache.connection_string", "Pulumi secret"),
        ({}, "external_cache.connection_string", "Pulumi secret"),
        ("redis", "external_cache", "expected {"),
        ({"connection_string": pulumi.Output.secret("x"), "use_from_location": "West Europe"}, "external_cache.use_from_location", "region"),
        ({"connection_string": pulumi.Output.secret("x"), "redis_resource_id": "lastmile"}, "external_cache.redis_resource_id", "resource id"),
        ({"connection_string": pulumi.Output.secret("x"), "password": "k"}, "external_cache.password", "unknown key"),
    ],
)
def test_bad_external_cache_is_refused_before_anything_is_registered(cache, key, expected):
    with pytest.raises(LastMileError) as err:
        Gateway("edge", {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso",
                         "external_cache": cache})
    assert str(err.value).startswith(key) and expected in str(err.value)
    assert "not-a-real-key" not in str(err.value)


# ---- stack config ----

VALID = {"resourceGroup": {"name": "rg-dev"}, "gateway": {"publisherEmail": "ops@contoso.com", "publisherName": "Contoso"}}
ENTRY = {"name": "legacy", "apiPath": "legacy", "backendUrl": "https://legacy.contoso.com", "username": "svc", "delivery": "send-request"}


def test_config_refuses_send_request_on_consumption_without_a_cache():
    with pytest.raises(ConfigError) as err:
        config.parse({**VALID, "secretBackends": [ENTRY]})
    assert str(err.value).startswith("apim-lastmile:secretBackends[0].delivery: got 'send-request'")
    assert "Consumption" in str(err.value) and "gateway.externalCache" in str(err.value)
    env = config.parse({**VALID, "gateway": {**VALID["gateway"], "sku": "StandardV2"}, "secretBackends": [ENTRY]})
    assert env.secret_backends[0].delivery == "send-request"
    cached = {**VALID["gateway"], "externalCache": {"connectionStringConfigKey": "redisConnection"}}
    env = config.parse({**VALID, "gateway": cached, "secretBackends": [ENTRY], "redisConnection": "ciphertext"})
    assert env.gateway.external_cache.connection_string_config_key == "redisConnection"
    with pytest.raises(ConfigError, match=r"gateway.externalCache.connectionStringConfigKey.*own"):
        config.parse({**VALID, "gateway": {**VALID["gateway"], "externalCache": {"connectionStringConfigKey": "gateway"}}})


def dev_project(tmp_path, *, secure: bool, cache: bool):
    """The repo's program, with dev's legacy backend in send-request mode (and an external cache if asked)."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir()
    dev = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())
    dev["config"]["apim-lastmile:secretBackends"][0]["delivery"] = "send-request"
    if cache:
        dev["config"]["apim-lastmile:gateway"]["externalCache"] = {"connectionStringConfigKey": "redisConnection"}
        dev["config"]["apim-lastmile:redisConnection"] = {"secure": "AAABAKZha2UtY2lwaGVydGV4dA=="} if secure else REDIS
    (tmp_path / "stacks" / "Pulumi.cached.yaml").write_text(yaml.safe_dump(dev))
    return tmp_path


def test_dev_shows_both_delivery_modes_are_possible(tmp_path, capsys):
    """dev as shipped: named-value. dev in send-request mode: refused without a cache, planned with an external one."""
    assert main(["plan", "cached", "--project-dir", str(dev_project(mk(tmp_path / "a"), secure=True, cache=False))]) == 1
    assert "secretBackends[0].delivery" in capsys.readouterr().err
    assert main(["plan", "cached", "--json", "--project-dir", str(dev_project(mk(tmp_path / "b"), secure=True, cache=True))]) == 0
    out = capsys.readouterr().out
    assert '"type": "azure-native:apimanagement:Cache"' in out and "send-request" in out


def test_a_plain_text_connection_string_in_config_is_refused(tmp_path, capsys):
    assert main(["plan", "cached", "--project-dir", str(dev_project(tmp_path, secure=False, cache=True))]) == 1
    err = capsys.readouterr().err
    assert "apim-lastmile:redisConnection" in err and "pulumi config set --secret" in err and "not-a-real-key" not in err


def mk(path: Path) -> Path:
    path.mkdir()
    return path
