"""Hostile but fair input to the stack config and to the components' Python arguments.

Every case must be refused with a LastMileError that names the config key (or argument), before anything is
registered, without echoing a long value or a credential. The loader, the CLI and the policy fragments have their
own corpora (test_loader.py, test_cli_hostile.py, test_policy_hostile.py).
"""

from __future__ import annotations

import copy
import json
import time

import pulumi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apim_lastmile import EntraBackend, Gateway, KeyVaultSecretBackend, LastMileError, SecuredFunctionBackend
from apim_lastmile.tools import config
from apim_lastmile.errors import ConfigError

from helpers import registered, run

GUID = "00000000-0000-4000-8000-000000000001"
CONTAINER = f"/subscriptions/{GUID}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/lake/blobServices/default/containers/raw"
VALID = {
    "resourceGroup": {"name": "rg-dev", "location": "westeurope"},
    "gateway": {"publisherEmail": "ops@contoso.com", "publisherName": "Contoso"},
    "functionBackends": [{"name": "orders", "apiPath": "orders"}],
    "secretBackends": [{"name": "legacy", "apiPath": "legacy", "backendUrl": "https://legacy.contoso.com", "username": "svc"}],
    "entraBackends": [{"name": "lake", "apiPath": "lake", "backendUrl": "https://lake.dfs.core.windows.net/raw", "audience": "storage",
                       "roleAssignments": [{"role": "Storage Blob Data Reader", "scope": CONTAINER}]}],
    "dataLakeReaders": [{"name": "files", "apiPath": "files", "container": "raw"}],
}


def changed(path: str, value):
    """VALID with ``path`` (dots, list indexes as numbers) set to ``value``."""
    data = copy.deepcopy(VALID)
    *head, last = path.split(".")
    node = data
    for part in head:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


def ops(*templates, method="GET"):
    return [{"method": method, "urlTemplate": t} for t in templates]


F, S, E, D = "functionBackends.0", "secretBackends.0", "entraBackends.0", "dataLakeReaders.0"
CONFIG_CASES = [
    # Azure's rules the contract does not carry
    ("gateway.sku", "Gold", "gateway.sku", "expected one of"),
    ("gateway.capacity", 3, "gateway.capacity", "Consumption tier has capacity 0"),
    ("gateway", {**VALID["gateway"], "sku": "Basic", "capacity": 3}, "gateway.capacity", "takes 1 to 2 units"),
    ("gateway", {**VALID["gateway"], "sku": "Developer", "capacity": 2}, "gateway.capacity", "runs exactly 1 unit"),
    ("gateway", {**VALID["gateway"], "sku": "StandardV2", "capacity": 11}, "gateway.capacity", "1 to 10 units"),
    ("resourceGroup.location", "westeurpe", "resourceGroup.location", "did you mean 'westeurope'"),
    ("resourceGroup.location", "chinaeast2", "resourceGroup.location", "sovereign"),
    ("resourceGroup.location", 5, "resourceGroup.location", "valid string"),
    (f"{F}.runtime", "dotnet-isolated", None, None),  # valid alone; the next one breaks it
    (f"{F}.runtimeVersion", "10", "functionBackends[0].runtimeVersion", "write '10.0'"),
    (f"{F}.maximumInstanceCount", 0, "functionBackends[0].maximumInstanceCount", "1 to 1000"),
    (f"{F}.maximumInstanceCount", 1001, "functionBackends[0].maximumInstanceCount", "1 to 1000"),
    (f"{F}.operations", ops("/a/{id"), "functionBackends[0].operations[0].urlTemplate", "braces balanced"),
    (f"{F}.operations", ops("/a/{id}/{ID}"), "functionBackends[0].operations[0].urlTemplate", "appear once"),
    (f"{F}.operations", ops("/{*rest}/x"), "functionBackends[0].operations[0].urlTemplate", "put it last"),
    (f"{F}.operations", ops("/a-b", "/a_b"), "functionBackends[0].operations[1]", "the same operation as"),
    (f"{F}.operations", ops("/Items", "/items"), "functionBackends[0].operations[1]", "case-insensitive"),
    (f"{F}.operations", ops(*(f"/op{i}" for i in range(101))), "functionBackends[0].operations", "at most 100"),
    (f"{F}.operations", ops("/a//b"), "functionBackends[0].operations[0].urlTemplate", "path starting with '/'"),
    (f"{F}.operations", [{"method": "get", "urlTemplate": "/x"}], "functionBackends[0].operations[0].method", "GET"),
    ("functionBackends", [{"name": "Orders", "apiPath": "o"}, {"name": "orders", "apiPath": "p"}], "functionBackends[1].name", "already used"),
    ("functionBackends", [{"name": "orders", "apiPath": "Shop"}, {"name": "other", "apiPath": "shop"}], "functionBackends[1].apiPath", "already used"),
    ("gateway.name", "g" * 60, "gateway.name", "1-40 characters"),
    (f"{F}.apiPath", "/orders", "functionBackends[0].apiPath", "no leading '/'"),
    # errors that must be messages, not crashes
    ("functionBackends", 5, "functionBackends", "valid list"),
    ("secretBackends", 5, "secretBackends", "valid list"),
    ("secretBackends", "legacy", "secretBackends", "valid list"),
    ("gateway", ["ops@contoso.com"], "gateway", "valid dictionary"),
    (f"{F}.operations", "GET /x", "functionBackends[0].operations", "valid list"),
    (f"{S}.cacheSeconds", "forever", "secretBackends[0].cacheSeconds", "valid integer"),
    ("protect", "yes-please", "protect", "valid boolean"),
    # unknown keys, with did-you-mean
    ("protcet", True, "protcet", "did you mean 'protect'"),
    (f"{F}.appClientID", GUID, "functionBackends[0].appClientID", "did you mean 'appClientId'"),
    ("gateway.userAssignedIdentiy", True, "gateway.userAssignedIdentiy", "did you mean 'userAssignedIdentity'"),
    # a token or a password sent where the config says
    (f"{S}.backendUrl", "https://svc:hunter2@legacy.contoso.com", "secretBackends[0].backendUrl", "user:password@"),
    (f"{S}.backendUrl", "https://10.0.0.4/api", "secretBackends[0].backendUrl", "IP address"),
    (f"{S}.backendUrl", "https://2130706433/", "secretBackends[0].backendUrl", "read as an IPv4 address"),
    (f"{S}.backendUrl", "https://0x7f.0.0.1/", "secretBackends[0].backendUrl", "read as an IPv4 address"),
    (f"{S}.backendUrl", "https://[::1]/", "secretBackends[0].backendUrl", "not an IP literal"),
    (f"{S}.backendUrl", "https://169.254.169.254/metadata/identity", "secretBackends[0].backendUrl", "IP address"),
    (f"{S}.backendUrl", "https://localhost/api", "secretBackends[0].backendUrl", "not localhost"),
    (f"{S}.backendUrl", "https://metadata.azure.internal/", "secretBackends[0].backendUrl", "metadata service"),
    (f"{S}.backendUrl", "https://intranet/", None, None),  # a private name: a gateway in a virtual network uses them
    (f"{S}.backendUrl", "http://legacy.contoso.com", "secretBackends[0].backendUrl", "https://"),
    (f"{S}.backendUrl", "HTTP://legacy.contoso.com", "secretBackends[0].backendUrl", "https://"),
    (f"{S}.backendUrl", "https://legacy.contoso.com/api?code=abc", "secretBackends[0].backendUrl", "'code' carries a key"),
    (f"{S}.backendUrl", "https://legacy.contoso.com/api?%63ode=abc", "secretBackends[0].backendUrl", "'code' carries a key"),
    (f"{S}.backendUrl", "https://legacy.contoso.com/api?%2563ode=abc", "secretBackends[0].backendUrl", "'code' carries a key"),
    (f"{S}.backendUrl", "https://legacy.contoso.com/api?API-Key=abc", "secretBackends[0].backendUrl", "'API-Key' carries a key"),
    (f"{S}.backendUrl", "https://legacy.contoso.com/api\r\nHost: evil", "secretBackends[0].backendUrl", "single line"),
    (f"{S}.backendUrl", "https://legacy.contoso.com/a b", "secretBackends[0].backendUrl", "without spaces"),
    (f"{S}.backendUrl", "https://legacy.contoso.com:99999/", "secretBackends[0].backendUrl", "port"),
    (f"{E}.backendUrl", "https://collector.example.com/raw", "entraBackends[0].backendUrl", "storage's token may only travel to"),
    (f"{E}.backendUrl", "https://lake.dfs.core.windows.net.attacker.com/raw", "entraBackends[0].backendUrl", "may only travel to"),
    (f"{E}.backendUrl", "https://lake.blob.core.windows.net/raw?sv=2022&sig=abc", "entraBackends[0].backendUrl", "'sig' carries a key"),
    (f"{E}.audience", "https://storage.azure.com/", None, None),  # the written-out audience is the catalogue entry...
    (f"{E}.audience", "https://vault.azure.net", "entraBackends[0].roleAssignments[0].role", "does not open keyvault"),  # ...and this one
    (f"{E}.audience", "http://storage.azure.com/", "entraBackends[0].audience", "http://"),
    (f"{E}.roleAssignments", [{"role": "Key Vault Secrets User", "scope": CONTAINER}], "entraBackends[0].roleAssignments[0].role", "does not open storage"),
    # credentials in literal headers
    (f"{E}.headers", {"Authorization": "Basic c3ZjOmh1bnRlcjI="}, "entraBackends[0].headers.Authorization", "token from authentication-managed-identity"),
    (f"{E}.headers", {"x-api-key": "k"}, "entraBackends[0].headers.x-api-key", "literal credential"),
    (f"{E}.headers", {"Api-Key": "k"}, "entraBackends[0].headers.Api-Key", "literal credential"),
    (f"{E}.headers", {"X-Client-Secret": "k"}, "entraBackends[0].headers.X-Client-Secret", "literal credential"),
    (f"{E}.headers", {"Ocp-Apim-Subscription-Key": "k"}, "entraBackends[0].headers.Ocp-Apim-Subscription-Key", "caller's APIM key"),
    (f"{E}.headers", {"Cookie": "session=1"}, "entraBackends[0].headers.Cookie", "session credential"),
    (f"{E}.headers", {"X-Trace": "a\r\nInjected: b"}, "entraBackends[0].headers.X-Trace", "one line"),
    (f"{E}.headers", {"X-Trace": "@(context.Variables)"}, "entraBackends[0].headers.X-Trace", "leading '@'"),
    (f"{E}.headers", {"X-Trace": "{{secret-nv}}"}, "entraBackends[0].headers.X-Trace", "'{{'"),
    # role assignments Azure would refuse or that reach too far
    (f"{E}.roleAssignments", [{"role": "Storage Blob Data Contributor", "scope": f"/subscriptions/{GUID}"}],
     "entraBackends[0].roleAssignments[0].scope", "not a whole subscription"),
    (f"{E}.roleAssignments", [{"role": "Storage Blob Data Contributor", "scope": "/providers/Microsoft.Management/managementGroups/corp"}],
     "entraBackends[0].roleAssignments[0].scope", "not a whole management group"),
    (f"{E}.roleAssignments", [{"role": "Storage Blob Data Reader", "scope": "/subscriptions/" + "-" * 36}],
     "entraBackends[0].roleAssignments[0].scope", "resource id"),
    (f"{E}.roleAssignments", [{"role": "Storage Blob Data Reader", "scope": CONTAINER}] * 2, "entraBackends[0].roleAssignments[1]", "twice"),
    (f"{E}.roleAssignments", [{"role": "Owner", "scope": CONTAINER}], "entraBackends[0].roleAssignments[0].role", "never granted"),
    # literals that would become code
    (f"{S}.username", "@(context.Request.Headers.GetValueOrDefault(\"x\"))", "secretBackends[0].username", "evaluate it as code"),
    (f"{S}.username", "{{other-named-value}}", "secretBackends[0].username", "evaluate it as code"),
    (f"{S}.username", "svc\r\nX-Injected: 1", "secretBackends[0].username", "one line"),
    (f"{S}.username", "svc:extra", "secretBackends[0].username", "':'"),
    # a cache the tier does not have; a secret two backends would fight over
    (f"{S}.delivery", "send-request", "secretBackends[0].delivery", "no built-in cache"),
    ("secretBackends", [{**VALID["secretBackends"][0], "keyVaultName": "kv-shared"},
                        {**VALID["secretBackends"][0], "name": "other", "apiPath": "other", "keyVaultName": "KV-Shared", "secretName": "legacy-password"}],
     "secretBackends[1].secretName", "Key Vault secret"),
    (f"{D}.operations", ops("/*", method="PUT"), "dataLakeReaders[0].operations[0].method", "read-only"),
    (f"{D}.container", "Raw", "dataLakeReaders[0].container", "lower-case"),
]


@pytest.mark.parametrize("path, value, key, phrase", [c for c in CONFIG_CASES if c[2]], ids=lambda v: str(v)[:40])
def test_hostile_config_is_refused_at_its_key(path, value, key, phrase):
    data = changed(path, value)
    if path.endswith("runtimeVersion"):
        data["functionBackends"][0]["runtime"] = "dotnet-isolated"
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        config.parse(data)
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert message.startswith(f"apim-lastmile:{key}:"), message
    assert phrase in message, message
    assert "hunter2" not in message and "c3ZjOmh1bnRlcjI" not in message and len(message) < 600


@pytest.mark.parametrize("path, value", [(c[0], c[1]) for c in CONFIG_CASES if not c[2]])
def test_the_valid_neighbours_of_hostile_cases_still_parse(path, value):
    config.parse(changed(path, value))


def test_the_valid_config_parses():
    env = config.parse(VALID)
    assert [b.name for b in env.entra_backends] == ["lake"]


@settings(max_examples=80, deadline=None)  # the suite's 90 s budget (docs/design.md)
@given(
    where=st.sampled_from(["gateway", "resourceGroup", "functionBackends", "secretBackends", "entraBackends", "dataLakeReaders",
                           "protect", "gateway.sku", "gateway.capacity", "functionBackends.0", "functionBackends.0.operations",
                           "secretBackends.0.backendUrl", "secretBackends.0.username", "entraBackends.0.headers",
                           "entraBackends.0.roleAssignments", "entraBackends.0.audience", "resourceGroup.location"]),
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
        | st.sampled_from(["https://10.0.0.1/", "@(x)", "{{x}}", "http://a.b", "westeurope", "Consumption", "GET", "/x/{id}"]),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=12,
    ),
)
def test_fuzzed_config_values_give_a_config_error_or_parse(where, value):
    try:
        config.parse(changed(where, value))
    except ConfigError as err:
        assert str(err).startswith("apim-lastmile:") and len(str(err)) < 1000


# ---- Python callers ----

REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111", "sku": "BasicV2"}
GW = {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso"}
FN = {"gateway": REF, "resource_group_name": "rg", "api_path": "orders"}
KV = {"gateway": REF, "resource_group_name": "rg", "api_path": "legacy", "backend_url": "https://legacy.contoso.com", "username": "svc"}
EB = {"gateway": REF, "api_path": "lake", "backend_url": "https://lake.dfs.core.windows.net/raw", "audience": "storage"}


def _output():
    return pulumi.Output.from_input("orders")


PYTHON_CASES = [
    (lambda: Gateway("edge", {**GW, "protcet": True}), "protcet", "did you mean 'protect'"),
    (lambda: Gateway("edge", {**GW, "protect": None}), "protect", "True or False"),
    (lambda: Gateway("edge", {**GW, "user_assigned_identity": "false"}), "user_assigned_identity", "True or False"),
    (lambda: Gateway("edge", {**GW, "capacity": "2", "sku": "BasicV2"}), "capacity", "takes 1 to 10 units"),
    (lambda: Gateway("edge", {**GW, "sku": "Premium", "capacity": 13}), "capacity", "1 to 12"),
    (lambda: Gateway("edge", {**GW, "location": 5}), "location", "Azure region"),
    (lambda: Gateway("edge", {**GW, "location": "mars"}), "location", "Azure region"),
    (lambda: Gateway("edge", {**GW, "location": "usgovvirginia"}), "location", "sovereign"),
    (lambda: Gateway("edge", {**GW, "publisher_name": 5}), "publisher_name", "1-100 characters"),
    (lambda: Gateway("edge", {**GW, "external_cache": {"connection_string": "host:6380,password=hunter2"}}), "external_cache.connection_string", "Pulumi secret"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "app_clientid": GUID}), "app_clientid", "did you mean 'app_client_id'"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "subscription_required": None}), "subscription_required", "True or False"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "subscription_required": "false"}), "subscription_required", "True or False"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "protect": 1}), "protect", "True or False"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "api_path": _output()}), "api_path", "an Output"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "runtime": {"name": "node", "version": 18}}), "runtime.version", "node 20, 22"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "operations": "GET /x"}), "operations", "non-empty list"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "operations": [{"method": "GET", "url_template": "/x", "backend": "y"}]}),
     "operations[0].backend", "unknown key"),
    (lambda: SecuredFunctionBackend("orders", {**FN, "location": "West Eurpe"}), "location", "did you mean 'westeurope'"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "username": 5}), "username", "non-empty user name"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "username": "@(1)"}), "username", "code"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "backend_url": "https://a:b@legacy.contoso.com"}), "backend_url", "user:password@"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "backend_url": pulumi.Output.from_input("https://legacy.contoso.com")}), "backend_url", "plain string"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "secret_value": "hunter2"}), "secret_value", "never a plain string"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "rotation": 5}), "rotation", "non-empty string"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "cache_seconds": True}), "cache_seconds", "whole number"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "delivery": "send-request", "gateway": {**REF, "sku": "Consumption"}}), "delivery", "no built-in cache"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "secret_name": "legacy_password"}), "secret_name", "letters, digits and hyphens"),
    (lambda: KeyVaultSecretBackend("legacy", {**KV, "vault_name": "kv-x"}), "vault_name", "did you mean 'key_vault_name'"),
    (lambda: EntraBackend("lake", {**EB, "backend_url": "https://evil.example.com/raw"}), "backend_url", "storage's token may only travel"),
    (lambda: EntraBackend("lake", {**EB, "audience": "arm", "backend_url": "https://management.azure.com.evil.io/"}), "backend_url", "management.azure.com"),
    (lambda: EntraBackend("lake", {**EB, "headers": {"X-Thing": 5}}), "headers.X-Thing", "literal string"),
    (lambda: EntraBackend("lake", {**EB, "headers": {"Proxy-Authorization": "Basic x"}}), "headers.Proxy-Authorization", "credential"),
    (lambda: EntraBackend("lake", {**EB, "role_assignments": [{"role": "Storage Blob Data Contributor", "scope": f"/subscriptions/{GUID}"}]}),
     "role_assignments[0].scope", "not a whole subscription"),
    (lambda: EntraBackend("lake", {**EB, "role_asignments": []}), "role_asignments", "did you mean 'role_assignments'"),
    (lambda: EntraBackend("lake", {**EB, "audience": "https://storage.azure.com", "role_assignments": [{"role": "Reader", "scope": CONTAINER}]}),
     "role_assignments[0].role", "does not open storage"),
]


@pytest.mark.parametrize("build, key, phrase", PYTHON_CASES, ids=[f"{i}-{c[1]}" for i, c in enumerate(PYTHON_CASES)])
def test_hostile_python_arguments_are_refused_before_anything_is_registered(build, key, phrase):
    with pytest.raises(LastMileError) as err:
        run(build)
    message = str(err.value)
    assert message.startswith(f"{key}:"), message
    assert phrase in message, message
    assert "hunter2" not in message and "<pulumi.output.Output object" not in message
    assert registered() == [], [r.name for r in registered()]


def test_two_backends_on_one_adopted_secret_are_refused_in_one_program():
    def body():
        KeyVaultSecretBackend("a", {**KV, "api_path": "a", "key_vault_name": "kv-shared", "secret_name": "pw"})
        KeyVaultSecretBackend("b", {**KV, "api_path": "b", "key_vault_name": "KV-SHARED", "secret_name": "PW"})

    with pytest.raises(LastMileError, match=r"secret_name: got 'PW'; Key Vault secret 'PW' is already used by 'a'"):
        run(body)
    assert not [r for r in registered() if r.urn.endswith("::b") or "::b-" in r.urn]


def test_an_entra_backend_url_known_only_at_deploy_time_is_checked_then():
    with pytest.raises(ValueError, match="storage's token may only travel to"):
        run(lambda: EntraBackend("lake", {**EB, "backend_url": pulumi.Output.from_input("https://collector.example.com/raw")}))


def test_messages_are_json_clean_and_short_for_huge_values():
    with pytest.raises(LastMileError) as err:
        KeyVaultSecretBackend("legacy", {**KV, "username": "@" + "x" * 100_000})
    assert len(str(err.value)) < 400 and "(100003 chars)" in str(err.value)
    json.dumps(str(err.value))


def test_the_same_grant_from_two_entra_backends_is_refused():
    grant = [{"role": "Storage Blob Data Reader", "scope": CONTAINER}]

    def body():
        EntraBackend("lake", {**EB, "role_assignments": grant})
        EntraBackend("lake2", {**EB, "api_path": "lake2", "role_assignments": [{**grant[0], "scope": CONTAINER.upper().replace("/SUBSCRIPTIONS", "/subscriptions")}]})

    with pytest.raises(LastMileError, match=r"role_assignments\[0\]: .*role assignment .* is already used by 'lake'"):
        run(body)
    assert not [r for r in registered() if "lake2" in r.urn]
