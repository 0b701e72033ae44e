"""Hostile input, round 2 (issue 20, item 7): `lastmile permissions` names every scope with its subscription, never
merges two subscriptions' groups of one name, and names a narrower built-in role than Contributor where one certainly
suffices; `lastmile verify` does not take a name that does not resolve as proof that a function is private.

Every call goes to 127.0.0.1: names are resolved by a stand-in for socket.getaddrinfo that answers loopback for the
names a test gives it and "no such name" for any other, so no DNS query leaves this machine.
"""

from __future__ import annotations

import io
import json
import re
import socket
import sys
from pathlib import Path

import pulumi
import pytest

from apim_lastmile import EntraBackend, SecuredFunctionBackend
from apim_lastmile.tools import permissions
from apim_lastmile.tools import verify as verify_mod
from apim_lastmile.tools.cli import main
from apim_lastmile.keyvault_api import SECRET
from apim_lastmile.tools.permissions import NARROW_ROLES, requirements
from apim_lastmile.tools.plan import SUBSCRIPTION_ID, Registration
from apim_lastmile.roles import BUILT_IN_ROLES
from apim_lastmile.tools.verify import verify

from helpers import run

REPO = Path(__file__).resolve().parents[1]
OTHER_SUB = "11111111-0000-4000-8000-000000000002"
REF = {"service_name": "apim-contoso", "resource_group_name": "rg-platform", "principal_id": "11111111-1111-4111-8111-111111111111"}
RBAC_ADMIN = "Role Based Access Control Administrator, constrained to: "


# --- permissions: plans built from registrations ---------------------------------------------------------------

def reg(typ: str, name: str, **inputs) -> Registration:
    return Registration(urn=f"urn:pulumi:dev::p::{typ}::{name}", type=typ, name=name, parent="", protect=False, custom=True,
                        inputs=inputs, depends_on=[])


def grant(name: str, scope: str, role: str) -> Registration:
    sub = scope.split("/")[2] if scope.startswith("/subscriptions/") else SUBSCRIPTION_ID
    return reg("azure-native:authorization:RoleAssignment", name, scope=scope, principalId="p",
               roleDefinitionId=f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{BUILT_IN_ROLES[role]}")


def account(sub: str, group: str, name: str = "lake") -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{name}"


def by_scope(found) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in found:
        out.setdefault(r.scope, []).append(r.permission)
    return out


def test_a_created_group_names_the_deployers_subscription():
    found = requirements([reg("azure-native:resources:ResourceGroup", "rg", resourceGroupName="rg-new"),
                          reg("azure-native:storage:StorageAccount", "sa", resourceGroupName="rg-new", accountName="sa")])
    [created] = [r for r in found if r.why == "the program creates resource group rg-new"]
    assert created.scope == f"subscription {SUBSCRIPTION_ID}"
    # the group it creates needs no second Contributor line
    assert not [r for r in found if r.permission == "Contributor"]


def test_contributor_on_a_group_names_its_subscription():
    found = requirements([reg("azure-native:storage:StorageAccount", "sa", resourceGroupName="rg-app", accountName="sa")])
    assert by_scope(found) == {f"resource group rg-app in subscription {SUBSCRIPTION_ID}": ["Contributor"]}


def test_two_subscriptions_groups_of_one_name_are_never_merged():
    found = requirements([
        grant("mine", account(SUBSCRIPTION_ID, "rg-data"), "Storage Blob Data Reader"),
        grant("theirs", account(OTHER_SUB, "rg-data", "other"), "Storage Blob Data Owner"),
    ])
    scopes = by_scope(found)
    assert scopes[f"resource group rg-data in subscription {SUBSCRIPTION_ID}"] == [RBAC_ADMIN + "Storage Blob Data Reader"]
    assert scopes[f"resource group rg-data in subscription {OTHER_SUB}"] == [RBAC_ADMIN + "Storage Blob Data Owner"]
    assert len(found) == 2


def test_one_group_spelled_two_ways_is_one_scope():
    # Azure compares resource group names and subscription ids without regard to case.
    found = requirements([grant("a", account(SUBSCRIPTION_ID, "RG-Data"), "Storage Blob Data Reader"),
                          grant("b", account(SUBSCRIPTION_ID.upper(), "rg-data", "b"), "Storage Blob Data Owner")])
    assert [(r.scope, r.permission) for r in found] == [
        (f"resource group RG-Data in subscription {SUBSCRIPTION_ID}", RBAC_ADMIN + "Storage Blob Data Owner, Storage Blob Data Reader")]


def test_a_grant_on_a_subscription_or_a_management_group_names_it():
    found = requirements([grant("sub", f"/subscriptions/{OTHER_SUB}", "Storage Blob Data Reader"),
                          grant("mg", "/providers/Microsoft.Management/managementGroups/mg-1", "Storage Blob Data Reader")])
    assert set(by_scope(found)) == {f"subscription {OTHER_SUB}", "scope /providers/Microsoft.Management/managementGroups/mg-1"}


def test_a_group_with_only_grants_gets_no_contributor():
    found = requirements([grant("only", account(OTHER_SUB, "rg-only"), "Storage Blob Data Reader")])
    assert [r.permission for r in found] == [RBAC_ADMIN + "Storage Blob Data Reader"]
    assert found[0].scope == f"resource group rg-only in subscription {OTHER_SUB}"


def test_a_secret_in_an_adopted_vault_needs_key_vault_contributor_on_the_vault_not_contributor_on_its_group():
    from test_keyvault_backend import program

    plan = run(program(secret_value=pulumi.Output.secret("x"), key_vault_name="kv-shared", key_vault_resource_group_name="rg-security"))
    found = requirements(plan.registrations)
    vault = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-security/providers/Microsoft.KeyVault/vaults/kv-shared"
    scopes = by_scope(found)
    [permission] = scopes[f"key vault {vault}"]
    assert permission.startswith("Key Vault Contributor (built-in: Microsoft.KeyVault/*")
    assert f"resource group rg-security in subscription {SUBSCRIPTION_ID}" in scopes
    assert "Contributor" not in scopes[f"resource group rg-security in subscription {SUBSCRIPTION_ID}"]
    assert scopes[f"resource group rg-security in subscription {SUBSCRIPTION_ID}"] == [
        RBAC_ADMIN + "Key Vault Secrets Officer, Key Vault Secrets User"]
    # The gateway's own group holds the service the program creates: Contributor stays.
    assert scopes[f"resource group rg in subscription {SUBSCRIPTION_ID}"][0] == "Contributor"


def test_a_gateway_of_another_stack_needs_api_management_service_contributor_on_the_service():
    def body():
        SecuredFunctionBackend("orders", {"gateway": REF, "resource_group_name": "rg-team", "api_path": "orders"})

    found = requirements(run(body).registrations)
    service = f"API Management service /subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-platform/providers/Microsoft.ApiManagement/service/apim-contoso"
    scopes = by_scope(found)
    assert scopes[service][0].startswith("API Management Service Contributor (built-in: Microsoft.ApiManagement/service/*")
    # a custom role in its place still needs the asynchronous-operation read
    assert scopes[service][1] == f"with a custom role instead of API Management Service Contributor: also {permissions.APIM_ASYNC_READ}"
    assert not any("rg-platform" in s for s in scopes if s.startswith("resource group"))
    # the backend's group holds the function it creates: Contributor there
    assert scopes[f"resource group rg-team in subscription {SUBSCRIPTION_ID}"][0] == "Contributor"


def test_an_adopted_function_app_in_a_group_of_its_own_needs_website_contributor_on_the_app():
    def body():
        SecuredFunctionBackend("adopted", {"gateway": REF, "resource_group_name": "rg-apps", "api_path": "adopted",
                                           "function_app_name": "func-x", "app_client_id": "6a1b2c3d-0000-4000-8000-000000000001"})

    scopes = by_scope(requirements(run(body).registrations))
    site = f"function app /subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/func-x"
    assert [p.split(" (")[0] for p in scopes[site]] == ["Website Contributor"]
    assert f"resource group rg-apps in subscription {SUBSCRIPTION_ID}" not in scopes


def test_a_group_with_anything_else_keeps_contributor():
    # a secret and a storage account the program creates: no narrower built-in role covers both
    found = requirements([reg(SECRET, "s", resourceGroupName="rg-mixed", vaultName="kv", secretName="s"),
                          reg("azure-native:storage:StorageAccount", "sa", resourceGroupName="rg-mixed", accountName="sa")])
    assert [(r.scope, r.permission) for r in found] == [(f"resource group rg-mixed in subscription {SUBSCRIPTION_ID}", "Contributor")]
    # nor does a secret whose vault is not known offline
    found = requirements([reg(SECRET, "s", resourceGroupName="rg-kv", vaultName=None, secretName="s")])
    assert [r.permission for r in found] == ["Contributor"]


def test_a_subnet_in_another_subscriptions_group_of_the_same_name_needs_its_join():
    subnet = f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe"
    mine = subnet.replace(OTHER_SUB, SUBSCRIPTION_ID)
    base = [reg("azure-native:storage:StorageAccount", "sa", resourceGroupName="rg-hub", accountName="sa")]
    found = requirements(base + [reg("azure-native:network:PrivateEndpoint", "pe", resourceGroupName="rg-hub", subnet={"id": subnet})])
    [join] = [r for r in found if r.scope == f"subnet {subnet}"]
    assert join.permission.startswith("Microsoft.Network/virtualNetworks/subnets/join/action (built-in: Network Contributor on its virtual network hub")
    # in the deployer's own group of that name, Contributor there covers the join
    found = requirements(base + [reg("azure-native:network:PrivateEndpoint", "pe", resourceGroupName="rg-hub", subnet={"id": mine})])
    assert not [r for r in found if r.scope.startswith("subnet")]


def test_every_scope_names_a_subscription_and_the_render_says_what_the_offline_one_is():
    def body():
        SecuredFunctionBackend("orders", {"gateway": REF, "resource_group_name": "rg-team", "api_path": "orders"})
        EntraBackend("lake", {"gateway": REF, "api_path": "lake", "backend_url": "https://lake.blob.core.windows.net", "audience": "storage",
                              "role_assignments": [{"role": "Storage Blob Data Reader", "scope": account(OTHER_SUB, "rg-team")}]})

    found = requirements(run(body).registrations)
    for r in found:
        assert r.scope == "Microsoft Graph" or " subscription " in f" {r.scope}" or r.scope.split(" ")[-1].startswith("/subscriptions/"), r
    assert {r.scope for r in found if r.permission.startswith(RBAC_ADMIN)} == {
        f"resource group rg-team in subscription {SUBSCRIPTION_ID}", f"resource group rg-team in subscription {OTHER_SUB}"}
    text = permissions.render("x", found)
    assert f"Subscription {SUBSCRIPTION_ID} stands for the deployer's own" in text
    # an ARM id longer than the scope column takes a line of its own, its permission below
    lines = text.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("API Management service /subscriptions/")))
    assert lines[at + 1].lstrip().startswith("API Management Service Contributor")


def test_the_narrow_roles_are_built_in_with_a_source():
    assert {r.role for r in NARROW_ROLES.values()} == {"Key Vault Contributor", "API Management Service Contributor", "Website Contributor"}
    for role in NARROW_ROLES.values():
        assert role.source.startswith("learn.microsoft.com/azure/role-based-access-control/built-in-roles/")
        assert role.source.endswith("#" + role.role.lower().replace(" ", "-"))
        assert "Contributor" != role.role and "*" in role.actions


def test_lastmile_permissions_dev_names_the_subscription(capsys, cached_plans):
    assert main(["permissions", "dev", "--project-dir", str(REPO)]) == 0
    out = capsys.readouterr().out
    assert (f"resource group rg-lastmile-dev in subscription {SUBSCRIPTION_ID}  {RBAC_ADMIN}Key Vault Secrets User, "
            "Monitoring Metrics Publisher, Storage Blob Data Owner, Storage Blob Data Reader") in out
    assert re.search(rf"^subscription {SUBSCRIPTION_ID} +Contributor \(or create the group beforehand", out, re.M)
    assert "resource group rg-lastmile-dev  " not in out


# --- verify: a name that does not resolve is not proof ---------------------------------------------------------

@pytest.fixture
def resolver(monkeypatch):
    """socket.getaddrinfo for the names in ``known`` (each answered with 127.0.0.1); loopback literals as the real
    one; any other name: no such name. ``script[host]`` lists what successive look-ups of ``host`` do first (an
    exception to raise, or None for the usual answer). Every name asked for is recorded in ``asked``."""
    real = socket.getaddrinfo

    class Resolver:
        def __init__(self) -> None:
            self.known: set[str] = set()
            self.asked: list[str] = []
            self.script: dict[str, list] = {}

        def __call__(self, host, port, *args, **kwargs):
            self.asked.append(host)
            step = self.script[host].pop(0) if self.script.get(host) else None
            if step is not None:
                raise step
            if host in ("127.0.0.1", "localhost", "::1"):
                return real(host, port, *args, **kwargs)
            if host in self.known:
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    fake = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def closed_port_number():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outputs(function_url: str, api_url: str, network: str) -> dict:
    return {"function_backends": {"orders": {"function_url": function_url, "api_url": api_url, "network": network}}}


@pytest.mark.parametrize("network", ["gateway-ip", "private"])
def test_a_name_that_does_not_resolve_fails_with_the_reason(network, resolver, servers):
    gateway = servers(200)
    [direct, through] = verify(outputs("https://func-orderz.azurewebsites.net/api", gateway.url + "/orders", network), timeout=2)
    assert not direct.ok and direct.got == "does not resolve"
    assert direct.why == ("the name does not resolve: check the outputs file; a private app's public name still resolves, "
                          "to its privatelink alias")
    assert through.ok
    assert resolver.asked[0] == "func-orderz.azurewebsites.net"


def test_the_cli_fails_a_mistyped_outputs_file(resolver, servers, monkeypatch, capsys):
    data = outputs("https://func-orderz.azurewebsites.net/api", servers(200).url + "/orders", "private")
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(data)))
    assert main(["verify", "dev", "--subscription-key", "k-123", "--timeout", "2"]) == 1
    out = capsys.readouterr().out
    assert "FAILED orders / function, anonymous: the name does not resolve: check the outputs file" in out
    assert "2 checks, 1 failed" in out


def test_a_name_that_resolves_and_refuses_is_proof(resolver, servers, closed_port_number):
    resolver.known.add("func-orders.azurewebsites.net")
    url = f"https://func-orders.azurewebsites.net:{closed_port_number}/api"
    [direct, through] = verify(outputs(url, servers(200).url, "private"), timeout=2)
    assert direct.ok and direct.got == "no connection (connection refused)", direct
    assert through.ok
    # resolved by the stand-in, twice: the check for forbidden addresses, then the connection itself
    assert resolver.asked.count("func-orders.azurewebsites.net") == 2


def test_a_name_that_resolves_and_fails_the_tls_handshake_is_proof(resolver, servers):
    resolver.known.add("func-orders.azurewebsites.net")
    plain = servers(401)  # a TLS client hello gets no TLS answer
    port = plain.url.rsplit(":", 1)[1]
    [direct, _] = verify(outputs(f"https://func-orders.azurewebsites.net:{port}/api", servers(200).url, "gateway-ip"), timeout=2)
    assert direct.ok and direct.got == "no connection (TLS handshake failed)", direct
    assert plain.seen == []


def test_403_stays_proof(resolver, servers):
    [direct, _] = verify(outputs(servers(403).url + "/api", servers(200).url, "private"), timeout=2)
    assert direct.ok and direct.got == "403"


def test_a_failed_dns_look_up_proves_nothing(resolver, servers):
    resolver.script["func-orders.azurewebsites.net"] = [socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")]
    [direct, _] = verify(outputs("https://func-orders.azurewebsites.net/api", servers(200).url, "gateway-ip"), timeout=2)
    assert not direct.ok and direct.got == "DNS look-up failed"
    assert direct.why.startswith("the DNS look-up failed (no answer from the resolver): nothing was proved")


def test_a_name_that_stops_resolving_between_the_check_and_the_call_fails(resolver, servers, closed_port_number):
    # resolves for the address check, then no such name when urllib connects
    host = "func-orders.azurewebsites.net"
    resolver.known.add(host)
    resolver.script[host] = [None, socket.gaierror(socket.EAI_NONAME, "Name or service not known")]
    [direct, _] = verify(outputs(f"https://{host}:{closed_port_number}/api", servers(200).url, "private"), timeout=2)
    assert resolver.asked.count(host) == 2 and resolver.script[host] == []
    assert not direct.ok and direct.got == "does not resolve"


@pytest.mark.parametrize("exc, kind", [
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), verify_mod.UNRESOLVED),
    (socket.gaierror(socket.EAI_NODATA, "No address associated with hostname"), verify_mod.UNRESOLVED),
    (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), verify_mod.LOOKUP_FAILED),
    (socket.gaierror(socket.EAI_FAIL, "Non-recoverable failure in name resolution"), verify_mod.LOOKUP_FAILED),
    (verify_mod.urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "x")), verify_mod.UNRESOLVED),
])
def test_resolution_failures_are_told_apart_and_none_is_proof(exc, kind):
    assert verify_mod._no_connection(exc) == kind
    assert kind in verify_mod.NOT_PROOF
    assert len(verify_mod.NOT_PROOF[kind]) <= verify_mod.MAX_REASON_CHARS


def test_identity_only_still_fails_a_name_that_does_not_resolve(resolver, servers):
    [direct, _] = verify(outputs("https://func-orderz.azurewebsites.net/api", servers(200).url, "identity-only"), timeout=2)
    assert not direct.ok and "cannot resolve the host" in direct.why
