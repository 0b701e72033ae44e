"""KeyVaultSecretBackend: least privilege, secrets kept secret, both delivery modes."""

from __future__ import annotations

import json

import pulumi
import pytest
from lxml import etree
from pulumi.runtime import rpc

from apim_lastmile import Gateway, KeyVaultSecretBackend, LastMileError
from apim_lastmile.keyvault_backend import RBAC_PROPAGATION_WAIT, vault_name_prefix
from apim_lastmile.naming import KEY_VAULT, SUFFIX_LENGTH
from apim_lastmile.tools.plan import fake_guid

from helpers import registered, run

REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def program(uai=False, sku=None, **overrides):
    # send-request needs a cache: the Consumption default has none, so those plans run on a v2 tier.
    sku = sku or ("StandardV2" if overrides.get("delivery") == "send-request" else "Consumption")

    def body():
        gw = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso",
                              "user_assigned_identity": uai, "sku": sku})
        KeyVaultSecretBackend("legacy", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": "legacy",
                                         "backend_url": "https://legacy.contoso.com", "username": "svc-apim", **overrides})
    return body


def principal(plan, uai):
    if uai:
        return plan.one("azure-native:managedidentity:UserAssignedIdentity").outputs["principalId"]
    return plan.one("azure-native:apimanagement:ApiManagementService").outputs["identity"]["principalId"]


def contains_secret(value) -> bool:
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


@pytest.fixture(scope="module", params=["named-value", "send-request"])
def mode_plan(request):
    return request.param, run(program(delivery=request.param))


def test_vault_is_rbac_purge_protected_soft_deleting(mode_plan):
    _, plan = mode_plan
    vault = plan.one("azure-native_keyvault_v20260201:keyvault:Vault")
    props = vault.plain_inputs["properties"]
    assert props["enableRbacAuthorization"] is True and props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True and props["softDeleteRetentionInDays"] == 90
    assert "accessPolicies" not in props
    KEY_VAULT.check("vault name", vault.plain_inputs["vaultName"])


def test_one_secret_reader_role_on_the_one_secret(mode_plan):
    _, plan = mode_plan
    [grant] = plan.of_type("azure-native:authorization:RoleAssignment")
    inputs = grant.plain_inputs
    secret = plan.one("azure-native_keyvault_v20260201:keyvault:Secret")
    assert inputs["roleDefinitionId"].endswith(SECRETS_USER)
    assert inputs["principalId"] == principal(plan, False)
    assert inputs["principalType"] == "ServicePrincipal"
    assert inputs["scope"] == secret.outputs["id"] and inputs["scope"].endswith("/secrets/legacy-password")


def test_generated_secret_is_a_pulumi_secret_everywhere(mode_plan):
    _, plan = mode_plan
    secret = plan.one("azure-native_keyvault_v20260201:keyvault:Secret")
    assert rpc.is_rpc_secret(secret.inputs["properties"]["value"]) or rpc.is_rpc_secret(secret.inputs["properties"])
    password = plan.one("random:index/randomPassword:RandomPassword")
    assert password.plain_inputs["keepers"] == {"rotation": "initial"} and password.plain_inputs["length"] == 32
    # landing zones deny a secret without a content type
    assert secret.plain_inputs["properties"]["contentType"] == "password"
    value = password.outputs["result"]
    for r in plan.registrations:
        if r.type != "azure-native_keyvault_v20260201:keyvault:Secret" and r.custom:
            assert value not in str(r.plain_inputs), r.name
    assert value not in str(plan.outputs) and value not in str(plan.to_json())


def test_policy_has_no_literal_password_and_validates(mode_plan, assert_valid_policy):
    mode, plan = mode_plan
    xml = plan.one("azure-native:apimanagement:ApiPolicy").plain_inputs["value"]
    assert_valid_policy(xml)
    doc = etree.fromstring(xml.encode())
    basic = doc.find("inbound/authentication-basic")
    assert basic.get("username") == "{{legacy-username}}"
    assert basic.get("password") in ("{{legacy-password}}", '@((string)context.Variables["lastmileSecret"])')
    assert plan.one("random:index/randomPassword:RandomPassword").outputs["result"] not in xml
    assert doc.find("inbound/set-backend-service").get("backend-id") == "legacy"
    assert plan.one("azure-native:apimanagement:Backend").plain_inputs["url"] == "https://legacy.contoso.com"


@pytest.fixture(scope="module")
def named_value_plan():
    return run(program(delivery="named-value"))


@pytest.fixture(scope="module")
def send_request_plan():
    return run(program(delivery="send-request"))


def test_named_value_mode(named_value_plan):
    plan = named_value_plan
    xml = plan.one("azure-native:apimanagement:ApiPolicy").plain_inputs["value"]
    assert "send-request" not in xml
    nv = {r.plain_inputs["namedValueId"]: r for r in plan.of_type("azure-native:apimanagement:NamedValue")}
    assert set(nv) == {"legacy-username", "legacy-password"}
    password = nv["legacy-password"]
    kv = password.plain_inputs["keyVault"]
    secret = plan.one("azure-native_keyvault_v20260201:keyvault:Secret")
    # The current version: the `up` that rotates the password also updates the named value, so APIM switches at once.
    assert kv == {"secretIdentifier": secret.outputs["properties"]["secretUriWithVersion"]}
    assert kv["secretIdentifier"].startswith(secret.outputs["properties"]["secretUri"] + "/")
    assert password.plain_inputs["secret"] is True and "value" not in password.plain_inputs
    grant = plan.one("azure-native:authorization:RoleAssignment")
    assert grant.urn in password.depends_on
    # RBAC takes minutes to take effect and APIM reads the secret on create: a wait sits between the two, and runs
    # again whenever the grant is re-made.
    wait = plan.one("time:index/sleep:Sleep")
    assert wait.urn in password.depends_on and grant.urn in wait.depends_on
    assert wait.plain_inputs["createDuration"] == RBAC_PROPAGATION_WAIT == "120s"
    assert wait.plain_inputs["triggers"] == {"grant": grant.outputs["id"]}
    assert nv["legacy-username"].plain_inputs == {**nv["legacy-username"].plain_inputs, "value": "svc-apim", "secret": False}


def test_send_request_mode_calls_key_vault_only_on_a_cache_miss(send_request_plan):
    plan = send_request_plan
    doc = etree.fromstring(plan.one("azure-native:apimanagement:ApiPolicy").plain_inputs["value"].encode())
    inbound = doc.find("inbound")
    tags = [c.tag for c in inbound]
    assert tags.index("cache-lookup-value") < tags.index("choose") < tags.index("authentication-basic")
    lookup_var = inbound.find("cache-lookup-value").get("variable-name")
    requests = list(doc.iter("send-request"))
    assert len(requests) == 1
    branch = requests[0].getparent()
    assert branch.tag == "when" and branch.getparent().getparent() is inbound
    assert branch.get("condition") == f'@(!context.Variables.ContainsKey("{lookup_var}"))'
    assert requests[0].find("set-url").text == "{{legacy-vault-url}}/secrets/{{legacy-secret-name}}?api-version=7.4"
    assert requests[0].find("authentication-managed-identity").get("resource") == "https://vault.azure.net"
    assert requests[0].get("ignore-error") == "false"
    # A Key Vault error answers 502 before the password is used; the backend is never called.
    error_when = branch.find("choose/when")
    assert "StatusCode != 200" in error_when.get("condition")
    assert error_when.find("return-response/set-status").get("code") == "502"
    store = branch.find("cache-store-value")
    assert store.get("duration") == "300" and store.get("key") == inbound.find("cache-lookup-value").get("key")
    nv = {r.plain_inputs["namedValueId"]: r.plain_inputs for r in plan.of_type("azure-native:apimanagement:NamedValue")}
    assert nv["legacy-vault-url"]["value"] == plan.one("azure-native_keyvault_v20260201:keyvault:Vault").outputs["properties"]["vaultUri"].rstrip("/")
    assert nv["legacy-secret-name"]["value"] == "legacy-password"


def test_a_private_vaults_named_value_is_read_by_the_system_assigned_identity_even_with_a_user_assigned_one():
    """Key Vault admits APIM's named-value reads through its firewall as a trusted service only from the service's
    system-assigned identity (api-management-howto-properties, "Key Vault behind a firewall")."""
    plan = run(program(uai=True))
    system = plan.one("azure-native:apimanagement:ApiManagementService").outputs["identity"]["principalId"]
    password = [r for r in plan.of_type("azure-native:apimanagement:NamedValue") if r.plain_inputs["namedValueId"] == "legacy-password"][0]
    assert "identityClientId" not in password.plain_inputs["keyVault"]
    assert plan.one("azure-native:authorization:RoleAssignment").plain_inputs["principalId"] == system
    vault = plan.one("azure-native_keyvault_v20260201:keyvault:Vault").plain_inputs["properties"]
    assert vault["publicNetworkAccess"] == "Disabled" and vault["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices"}


def test_a_ref_with_a_user_assigned_identity_but_no_system_one_cannot_use_a_private_vault():
    ref = {"service_name": "apim-x", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111",
           "identity_client_id": "22222222-2222-4222-8222-222222222222", "identity_type": "UserAssigned", "sku": "StandardV2"}
    with pytest.raises(LastMileError) as err:
        run(lambda: KeyVaultSecretBackend("legacy", {"gateway": ref, "resource_group_name": "rg", "api_path": "legacy",
                                                     "backend_url": "https://legacy.contoso.com", "username": "svc"}))
    assert str(err.value).startswith("gateway.system_principal_id:") and "trusted service" in str(err.value)
    assert registered() == []
    # An adopted vault (its network is its owner's) and send-request delivery (a public vault) still take the ref.
    run(lambda: KeyVaultSecretBackend("legacy", {"gateway": ref, "resource_group_name": "rg", "api_path": "legacy",
                                                 "backend_url": "https://legacy.contoso.com", "username": "svc",
                                                 "key_vault_name": "kv-shared", "secret_value": pulumi.Output.secret("x")}))


def test_send_request_delivery_keeps_a_public_vault_the_gateway_reads_with_its_last_mile_identity():
    """The gateway's own calls to Key Vault (send-request) are not trusted-service traffic since March 2026: the vault
    stays reachable and the last-mile identity (client-id) reads it."""
    plan = run(program(uai=True, delivery="send-request"))
    uai = plan.one("azure-native:managedidentity:UserAssignedIdentity").outputs
    vault = plan.one("azure-native_keyvault_v20260201:keyvault:Vault").plain_inputs["properties"]
    assert "publicNetworkAccess" not in vault and "networkAcls" not in vault
    assert plan.one("azure-native:authorization:RoleAssignment").plain_inputs["principalId"] == uai["principalId"]
    plan2 = run(program(uai=True, delivery="send-request"))
    doc = etree.fromstring(plan2.one("azure-native:apimanagement:ApiPolicy").plain_inputs["value"].encode())
    assert next(doc.iter("send-request")).find("authentication-managed-identity").get("client-id") == plan2.one(
        "azure-native:managedidentity:UserAssignedIdentity").outputs["clientId"]


def test_given_secret_value_and_adopted_vault():
    plan = run(program(secret_value=pulumi.Output.secret("s3cr3t-from-config"), key_vault_name="kv-shared-prod",
                       key_vault_resource_group_name="rg-security", secret_name="erp-password", soft_delete_retention_days=7))
    assert plan.of_type("azure-native_keyvault_v20260201:keyvault:Vault") == [] and plan.of_type("random:index/randomPassword:RandomPassword") == []
    secret = plan.one("azure-native_keyvault_v20260201:keyvault:Secret")
    assert secret.plain_inputs["vaultName"] == "kv-shared-prod" and secret.plain_inputs["resourceGroupName"] == "rg-security"
    assert contains_secret(secret.inputs) and secret.plain_inputs["properties"]["value"] == "s3cr3t-from-config"
    for r in plan.registrations:
        if r.type != "azure-native_keyvault_v20260201:keyvault:Secret":
            assert "s3cr3t-from-config" not in str(r.plain_inputs)
    reader = plan.one("azure-native:authorization:RoleAssignment", "legacy-secret-reader").plain_inputs
    assert reader["scope"].endswith("/vaults/kv-shared-prod/secrets/erp-password")
    # Deleting the secret is a data-plane call with the deployer's credentials: the deployer may manage secrets in this
    # one vault, and the secret depends on that grant (so `pulumi destroy` deletes the secret first).
    officer = plan.one("azure-native:authorization:RoleAssignment", "legacy-deployer-secrets-officer")
    assert officer.plain_inputs["scope"].endswith("/resourceGroups/rg-security/providers/Microsoft.KeyVault/vaults/kv-shared-prod")
    assert officer.plain_inputs["roleDefinitionId"].endswith("b86a8fe4-44ce-4948-aee5-eccb2c155cd7")  # Key Vault Secrets Officer
    assert officer.plain_inputs["principalId"] == fake_guid("deployer")
    assert officer.plain_inputs["principalType"] == "ServicePrincipal"  # the mocks' deployer is a CI identity
    assert officer.urn in secret.depends_on and not secret.retain_on_delete


def test_rotation_is_a_keeper():
    plan = run(program(rotation="2026-12-01"))
    assert plan.one("random:index/randomPassword:RandomPassword").plain_inputs["keepers"] == {"rotation": "2026-12-01"}


def test_vault_name_prefix_always_fits():
    for name in ("a", "legacy", "x" * 40, "a--b--c-d-e-f-g-h-i-j-k"):
        prefix = vault_name_prefix(name)
        KEY_VAULT.check("vault", prefix + "a" * SUFFIX_LENGTH)


def kv(**overrides):
    args = {"gateway": REF, "resource_group_name": "rg", "api_path": "legacy", "backend_url": "https://legacy.contoso.com",
            "username": "svc", **overrides}
    return lambda: KeyVaultSecretBackend("legacy", args)


@pytest.mark.parametrize(
    "overrides, key, shown",
    [
        ({"key_vault_name": "kv"}, "key_vault_name", "'kv'"),
        ({"key_vault_name": "1vault"}, "key_vault_name", "1vault"),
        ({"key_vault_name": "kv--double"}, "key_vault_name", "kv--double"),
        ({"key_vault_name": "k" * 25}, "key_vault_name", "k" * 25),
        ({"secret_name": "bad_name"}, "secret_name", "bad_name"),
        ({"secret_name": "s" * 128}, "secret_name", "(130 chars)"),
        ({"backend_url": "http://legacy.contoso.com"}, "backend_url", "http://legacy.contoso.com"),
        ({"username": ""}, "username", "''"),
        ({"username": "   "}, "username", "'   '"),
        ({"cache_seconds": 0}, "cache_seconds", "0"),
        ({"cache_seconds": -30}, "cache_seconds", "-30"),
        ({"delivery": "env-var"}, "delivery", "env-var"),
        ({"soft_delete_retention_days": 3}, "soft_delete_retention_days", "3"),
        ({"key_vault_resource_group_name": "rg-sec"}, "key_vault_resource_group_name", "rg-sec"),
    ],
)
def test_bad_input_is_refused_before_any_resource(overrides, key, shown):
    with pytest.raises(LastMileError) as err:
        run(kv(**overrides))
    assert key in str(err.value) and shown in str(err.value), str(err.value)
    assert registered() == []


def test_plain_secret_value_is_refused_and_not_echoed():
    with pytest.raises(LastMileError) as err:
        run(kv(secret_value="hunter2"))
    assert "secret_value" in str(err.value) and "hunter2" not in str(err.value)
    assert "require_secret" in str(err.value)
    assert registered() == []


def test_policy_waits_for_every_named_value_it_references(mode_plan):
    """APIM validates {{named value}} references when a policy is written ("Cannot find a property ..."): the policy
    depends on each named value it names."""
    import re

    _, plan = mode_plan
    policy_res = plan.one("azure-native:apimanagement:ApiPolicy")
    referenced = set(re.findall(r"\{\{([^{}]+)\}\}", policy_res.plain_inputs["value"]))
    named = {r.plain_inputs["namedValueId"]: r.urn for r in plan.of_type("azure-native:apimanagement:NamedValue")}
    assert referenced and referenced <= set(named)
    assert {named[n] for n in referenced} <= set(policy_res.depends_on)


def test_generated_vault_and_apim_names_end_in_a_random_suffix(named_value_plan):
    """Key Vaults and APIM services are soft-deleted, and their names stay taken while they are (vault: the retention
    days, unpurgeable with purge protection; APIM: 48 hours). Generated names end in a pulumi-random suffix, which a
    destroyed stack loses, so the next `up` gets fresh names instead of VaultAlreadyExists /
    ServiceAlreadyExistsInSoftDeletedState."""
    plan = named_value_plan
    suffixes = {r.parent.rsplit("::", 1)[1]: r.outputs["result"] for r in plan.of_type("random:index/randomString:RandomString")}
    assert plan.one("azure-native_keyvault_v20260201:keyvault:Vault").plain_inputs["vaultName"] == vault_name_prefix("legacy") + suffixes["legacy"]
    assert plan.one("azure-native:apimanagement:ApiManagementService").plain_inputs["serviceName"] == "apim-edge-" + suffixes["edge"]
    for r in plan.of_type("random:index/randomString:RandomString"):
        assert r.plain_inputs["length"] == SUFFIX_LENGTH and r.plain_inputs["special"] is False


def test_the_secret_expires_within_90_days_and_is_renewed_by_the_clock_and_by_rotation(mode_plan):
    """Landing zones deny a secret without an expiry or with one more than 90 days out; the clock (pulumiverse-time
    Rotating) rotates after 60 days, so the next `up` writes a version with a new expiry, and `rotation` restarts it."""
    _, plan = mode_plan
    secret = plan.one("azure-native_keyvault_v20260201:keyvault:Secret").plain_inputs["properties"]
    clock = plan.one("time:index/rotating:Rotating")
    written = clock.outputs["unix"]
    assert secret["attributes"]["exp"] == written + 90 * 86400 and secret["contentType"] == "password"
    assert clock.plain_inputs["rotationDays"] == 60 and clock.plain_inputs["triggers"] == {"rotation": "initial"}


def test_the_plan_json_masks_the_secret_value_only(mode_plan):
    _, plan = mode_plan
    [entry] = [r for r in plan.to_json()["resources"] if r["type"].endswith(":keyvault:Secret")]
    props = entry["inputs"]["properties"]
    assert props["value"] == "[secret]" and props["contentType"] == "password" and props["attributes"]["exp"] > 0
    password = plan.one("azure-native_keyvault_v20260201:keyvault:Secret").plain_inputs["properties"]["value"]
    assert password not in json.dumps(plan.to_json())


@pytest.mark.parametrize("exported, reader", [
    ({"identityType": "SystemAssigned"}, "principal"),  # the last mile's identity is the system-assigned one
    ({"identityType": "UserAssigned", "identityClientId": "22222222-2222-4222-8222-222222222222",
      "systemPrincipalId": "33333333-3333-4333-8333-333333333333"}, "system"),
    ({"identityType": "UserAssigned", "identityClientId": "22222222-2222-4222-8222-222222222222"}, None),  # exported before
])
def test_a_gateway_from_another_stack_reads_a_private_vault_with_its_system_assigned_identity(exported, reader):
    from apim_lastmile import gateway_ref_from_stack
    from apim_lastmile.tools.plan import LastMileMocks

    gateway = {"serviceName": "apim-platform", "resourceGroupName": "rg-platform", "principalId": "11111111-1111-4111-8111-111111111111",
               "gatewayUrl": "https://apim-platform.azure-api.net", "sku": "StandardV2", **exported}

    def body():
        ref = gateway_ref_from_stack(pulumi.StackReference("org/platform/prod"), sku="StandardV2")
        KeyVaultSecretBackend("legacy", {"gateway": ref, "resource_group_name": "rg", "api_path": "legacy",
                                         "backend_url": "https://legacy.contoso.com", "username": "svc"})

    mocks = LastMileMocks(stacks={"org/platform/prod": {"gateway": gateway}})
    if reader is None:
        with pytest.raises(ValueError, match="gateway.system_principal_id: .* run `pulumi up` on the gateway's stack first"):
            run(body, mocks=mocks)
        return
    plan = run(body, mocks=mocks)
    expected = gateway["principalId"] if reader == "principal" else exported["systemPrincipalId"]
    assert plan.one("azure-native:authorization:RoleAssignment", "legacy-secret-reader").plain_inputs["principalId"] == expected
    password = [r for r in plan.of_type("azure-native:apimanagement:NamedValue") if r.plain_inputs["namedValueId"] == "legacy-password"][0]
    assert "identityClientId" not in password.plain_inputs["keyVault"]
