"""EntraBackend, the audience catalogue, the Data Lake example and user-assigned identities end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest
from lxml import etree

from apim_lastmile import ConfigError, EntraBackend, Gateway, KeyVaultSecretBackend, LastMileError, SecuredFunctionBackend, audiences
from apim_lastmile.tools import config
from apim_lastmile.entra_backend import entra_policy
from apim_lastmile.naming import is_guid

from apim_lastmile.roles import BROAD_ROLES, BUILT_IN_ROLES

from helpers import registered, run, stack_plan

REPO = Path(__file__).resolve().parents[1]
SUB = "00000000-0000-4000-8000-000000000001"
CONTAINER_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/lake/blobServices/default/containers/raw"
REF = {"service_name": "apim-contoso", "resource_group_name": "rg", "principal_id": "11111111-1111-4111-8111-111111111111"}
READER = BUILT_IN_ROLES["Storage Blob Data Reader"]
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# --- the catalogue ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", list(audiences.CATALOGUE.values()), ids=list(audiences.CATALOGUE))
def test_catalogue_entry_has_audience_roles_and_source(entry):
    assert entry.resource.startswith("https://") or is_guid(entry.resource)
    assert entry.source.startswith("https://learn.microsoft.com/")
    assert all(role in BUILT_IN_ROLES for role in entry.roles)
    assert not set(entry.roles) & set(BROAD_ROLES)
    if entry.name == "sql":
        # Azure SQL authorises inside the database (T-SQL), not with Azure RBAC: the entry says how instead.
        assert entry.roles == () and "FROM EXTERNAL PROVIDER" in entry.note
    else:
        assert entry.role_ids() and all(is_guid(g) for g in entry.role_ids())
        assert entry.read_roles, "every RBAC-granted service names a read role"


def test_catalogue_covers_the_services_users_ask_for():
    assert {"storage", "arm", "keyvault", "sql", "servicebus", "eventhubs", "cognitiveservices", "machinelearning",
            "logicapps", "openai"} <= set(audiences.CATALOGUE)
    assert audiences.CATALOGUE["storage"].resource == "https://storage.azure.com/"
    assert audiences.CATALOGUE["storage"].headers == {"x-ms-version": audiences.STORAGE_API_VERSION}
    assert audiences.CATALOGUE["storage"].read_roles == ("Storage Blob Data Reader",)
    assert audiences.CATALOGUE["keyvault"].read_roles == ("Key Vault Secrets User",)
    assert audiences.resolve("storage")[0] == "https://storage.azure.com/"
    assert audiences.resolve("api://my-app") == ("api://my-app", None)
    assert audiences.resolve("6A1B2C3D-0000-4000-8000-000000000001") == ("6a1b2c3d-0000-4000-8000-000000000001", None)


def test_role_ids_are_unique_and_never_broad():
    ids = list(BUILT_IN_ROLES.values()) + list(BROAD_ROLES.values())
    assert len(set(ids)) == len(ids) and all(is_guid(g) for g in ids)


def test_no_role_guid_is_written_outside_roles_py():
    """Every role id the library uses comes from roles.py: no GUID literal elsewhere names a role."""
    role_ids = {g.lower() for g in list(BUILT_IN_ROLES.values()) + list(BROAD_ROLES.values())}
    sources = [p for p in (REPO / "components").rglob("*.py") if p.name != "roles.py"] + [REPO / "__main__.py"]
    for path in sources:
        for literal in GUID.findall(path.read_text()):
            assert literal.lower() not in role_ids, f"{path.name} hard-codes role {literal}; use roles.BUILT_IN_ROLES"


# --- the Data Lake example in the dev stack -----------------------------------------------------------------

@pytest.fixture(scope="module")
def dev_plan():
    return stack_plan("dev")


def test_dev_data_lake_is_keyless_with_hierarchical_namespace(dev_plan):
    account = dev_plan.one("azure-native:storage:StorageAccount", "lake-datalake").plain_inputs
    assert account["isHnsEnabled"] is True
    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False and account["minimumTlsVersion"] == "TLS1_2"
    container = dev_plan.one("azure-native:storage:BlobContainer", "lake-container").plain_inputs
    assert container["containerName"] == "raw" and container["publicAccess"] == "None"


def test_dev_data_lake_grants_blob_reader_on_the_container_to_the_gateway(dev_plan):
    grant = dev_plan.one("azure-native:authorization:RoleAssignment", "lake-grant-storage-blob-data-reader")
    inputs = grant.plain_inputs
    assert inputs["roleDefinitionId"] == f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{READER}"
    assert READER == "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    container = dev_plan.one("azure-native:storage:BlobContainer", "lake-container")
    assert inputs["scope"] == container.outputs["id"] and inputs["scope"].endswith("/blobServices/default/containers/raw")
    apim = dev_plan.one("azure-native:apimanagement:ApiManagementService")
    assert inputs["principalId"] == apim.outputs["identity"]["principalId"]
    assert inputs["principalType"] == "ServicePrincipal"
    lake = [r for r in dev_plan.of_type("azure-native:authorization:RoleAssignment") if r.parent.endswith("::lake")]
    assert lake == [grant], "one role, nothing broader"


def test_dev_data_lake_policy_asks_storage_for_a_token_and_sends_x_ms_version(dev_plan, assert_valid_policy):
    xml = dev_plan.policies()["lake-policy"]
    assert_valid_policy(xml)
    doc = etree.fromstring(xml.encode())
    auth = doc.find("inbound/authentication-managed-identity")
    assert auth.get("resource") == "https://storage.azure.com/" and auth.get("client-id") is None
    header = doc.find("inbound/set-header[@name='x-ms-version']")
    assert header is not None and header.findtext("value") == audiences.STORAGE_API_VERSION
    assert doc.find("inbound/set-backend-service").get("backend-id") == "lake"
    route = dev_plan.one("azure-native:apimanagement:Backend", "lake-backend").plain_inputs["url"]
    assert re.fullmatch(r"https://dllake[a-z0-9]{6}\.dfs\.core\.windows\.net/raw", route)
    policy = dev_plan.one("azure-native:apimanagement:ApiPolicy", "lake-policy")
    grant = dev_plan.one("azure-native:authorization:RoleAssignment", "lake-grant-storage-blob-data-reader")
    assert grant.urn in policy.depends_on, "the policy waits for the role, so the first call is not a 403"
    ops = {(o.plain_inputs["method"], o.plain_inputs["urlTemplate"]) for o in dev_plan.of_type("azure-native:apimanagement:ApiOperation")
           if o.parent.endswith("::lake")}
    assert ops == {("GET", "/*"), ("HEAD", "/*")}
    assert dev_plan.outputs["entra_backends"]["lake"]["api_url"].endswith("/lake")


# --- all three backend kinds, system- and user-assigned -----------------------------------------------------

def three_kinds(uai: bool):
    def body():
        gw = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso",
                              "user_assigned_identity": uai, "sku": "BasicV2"})  # send-request needs the built-in cache
        SecuredFunctionBackend("orders", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": "orders"})
        KeyVaultSecretBackend("legacy", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": "legacy",
                                         "backend_url": "https://legacy.contoso.com", "username": "svc"})
        KeyVaultSecretBackend("vaulted", {"gateway": gw.ref, "resource_group_name": "rg", "api_path": "vaulted",
                                          "backend_url": "https://vaulted.contoso.com", "username": "svc", "delivery": "send-request"})
        EntraBackend("lake", {"gateway": gw.ref, "api_path": "lake", "backend_url": "https://lake.dfs.core.windows.net/raw",
                              "audience": "storage", "role_assignments": [{"role": "Storage Blob Data Reader", "scope": CONTAINER_ID}]})
        EntraBackend("bus", {"gateway": gw.ref, "api_path": "bus", "backend_url": "https://ns.servicebus.windows.net/orders",
                             "audience": "servicebus", "role_assignments": [
                                 {"role": "Azure Service Bus Data Sender", "scope": CONTAINER_ID.replace("storageAccounts/lake/blobServices/default/containers/raw", "namespaces/ns")}]})
    return body


@pytest.fixture(scope="module", params=[False, True], ids=["system-assigned", "user-assigned"])
def identity_plan(request):
    return request.param, run(three_kinds(request.param))


def gateway_identity(plan, uai):
    if uai:
        identity = plan.one("azure-native:managedidentity:UserAssignedIdentity").outputs
        return identity["principalId"], identity["clientId"]
    return plan.one("azure-native:apimanagement:ApiManagementService").outputs["identity"]["principalId"], None


def test_apim_carries_one_identity_for_the_last_mile_and_its_own_for_key_vault(identity_plan):
    """A user-assigned identity carries the last mile; the service's system-assigned one is there too, for the one
    thing only it can do: read named values from a vault without public access as a trusted service."""
    uai, plan = identity_plan
    identity = plan.one("azure-native:apimanagement:ApiManagementService").plain_inputs["identity"]
    assert identity["type"] == ("SystemAssigned, UserAssigned" if uai else "SystemAssigned")
    assert len(identity.get("userAssignedIdentities") or {}) == (1 if uai else 0)


def test_every_policy_sends_client_id_only_for_a_user_assigned_identity(identity_plan, assert_valid_policy):
    uai, plan = identity_plan
    _, client_id = gateway_identity(plan, uai)
    policies = plan.policies()
    assert set(policies) == {"orders-policy", "legacy-policy", "vaulted-policy", "lake-policy", "bus-policy"}
    seen = 0
    for name, xml in policies.items():
        assert_valid_policy(xml)
        for auth in etree.fromstring(xml.encode()).iter("authentication-managed-identity"):
            seen += 1
            assert auth.get("client-id") == client_id, (name, auth.attrib)
    assert seen == 4, "function, Key Vault send-request, lake and bus each fetch a token"


def test_every_grant_to_apim_targets_the_gateway_identity(identity_plan):
    uai, plan = identity_plan
    principal, _ = gateway_identity(plan, uai)
    function_identity = plan.one("azure-native:web:WebApp").outputs["identity"]["principalId"]
    grants = plan.of_type("azure-native:authorization:RoleAssignment")
    by_owner = {}
    for grant in grants:
        inputs = grant.plain_inputs
        assert inputs["principalType"] == "ServicePrincipal"
        assert inputs["roleDefinitionId"].rsplit("/", 1)[1] in BUILT_IN_ROLES.values()
        by_owner.setdefault(grant.parent.rsplit("::", 1)[1], []).append(inputs["principalId"])
    # The function's own host-storage role is the only one not for APIM.
    assert by_owner.pop("orders") == [function_identity]
    # The named-value secret lives in a vault without public access: read by the service's own (system) identity.
    system = plan.one("azure-native:apimanagement:ApiManagementService").outputs["identity"]["principalId"]
    assert by_owner == {"legacy": [system], "vaulted": [principal], "lake": [principal], "bus": [principal]}
    easy_auth = plan.one("azure-native:web:WebAppAuthSettingsV2").plain_inputs
    allowed = easy_auth["identityProviders"]["azureActiveDirectory"]["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]
    assert allowed == {"identities": [principal]}
    app_role = plan.one("azuread:index/appRoleAssignment:AppRoleAssignment").plain_inputs
    assert app_role["principalObjectId"] == principal


def test_a_key_vault_named_value_from_a_private_vault_is_read_by_the_system_assigned_identity(identity_plan):
    """Key Vault admits APIM's named-value reads as a trusted service only from its system-assigned identity, so the
    named value names no identityClientId (api-management-howto-properties, Key Vault behind a firewall)."""
    uai, plan = identity_plan
    vaulted = [r.plain_inputs for r in plan.of_type("azure-native:apimanagement:NamedValue") if "keyVault" in r.plain_inputs]
    assert len(vaulted) == 1
    assert "identityClientId" not in vaulted[0]["keyVault"]
    vault = plan.one("azure-native_keyvault_v20260201:keyvault:Vault", "legacy-vault").plain_inputs["properties"]
    assert vault["publicNetworkAccess"] == "Disabled" and vault["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices"}


def test_hand_built_ref_with_client_id_is_user_assigned_end_to_end():
    ref = {**REF, "identity_client_id": "22222222-2222-4222-8222-222222222222", "identity_type": "UserAssigned"}

    def body():
        EntraBackend("arm", {"gateway": ref, "api_path": "arm", "backend_url": "https://management.azure.com",
                             "audience": "arm", "role_assignments": [{"role": "Reader", "scope": f"/subscriptions/{SUB}/resourceGroups/rg"}]})

    plan = run(body)
    auth = etree.fromstring(plan.policies()["arm-policy"].encode()).find("inbound/authentication-managed-identity")
    assert auth.attrib == {"resource": "https://management.azure.com/", "client-id": "22222222-2222-4222-8222-222222222222"}
    assert plan.one("azure-native:authorization:RoleAssignment").plain_inputs["principalId"] == REF["principal_id"]


# --- policies and options -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(audiences.CATALOGUE))
@pytest.mark.parametrize("client_id", [None, "33333333-3333-4333-8333-333333333333"])
def test_every_catalogue_policy_validates(name, client_id, assert_valid_policy):
    entry = audiences.CATALOGUE[name]
    xml = entra_policy("svc", entry.resource, entry.headers, client_id)
    assert_valid_policy(xml)
    auth = etree.fromstring(xml.encode()).find("inbound/authentication-managed-identity")
    assert auth.get("resource") == entry.resource and auth.get("client-id") == client_id


def test_explicit_audience_headers_and_override(assert_valid_policy):
    def body():
        EntraBackend("api", {"gateway": REF, "api_path": "api", "backend_url": "https://api.contoso.com",
                             "audience": "api://contoso-orders", "headers": {"X-Tenant": 'a "quoted" value'}})
        EntraBackend("blob", {"gateway": REF, "api_path": "blob", "backend_url": "https://acct.blob.core.windows.net/c",
                              "audience": "storage", "headers": {"X-MS-Version": "2025-01-05"}})

    plan = run(body)
    api = etree.fromstring(plan.policies()["api-policy"].encode())
    assert_valid_policy(plan.policies()["api-policy"])
    assert api.find("inbound/authentication-managed-identity").get("resource") == "api://contoso-orders"
    assert [h.get("name") for h in api.iter("set-header")] == ["X-Tenant"]
    blob = etree.fromstring(plan.policies()["blob-policy"].encode())
    headers = {h.get("name"): h.findtext("value") for h in blob.iter("set-header")}
    assert headers == {"X-MS-Version": "2025-01-05"}, "a caller's header replaces the catalogue's, never doubles it"
    assert not plan.of_type("azure-native:authorization:RoleAssignment"), "no role requested, none created"


def test_backend_url_and_scope_may_be_outputs():
    def body():
        url = pulumi.Output.from_input("https://acct.dfs.core.windows.net/raw")
        EntraBackend("lake", {"gateway": REF, "api_path": "lake", "backend_url": url, "audience": "storage",
                              "role_assignments": [{"role": READER, "scope": pulumi.Output.from_input(CONTAINER_ID)}]})

    plan = run(body)
    assert plan.one("azure-native:authorization:RoleAssignment").plain_inputs["scope"] == CONTAINER_ID
    assert plan.one("azure-native:apimanagement:Backend").plain_inputs["url"] == "https://acct.dfs.core.windows.net/raw"
    assert 'backend-id="lake"' in plan.policies()["lake-policy"]


def test_an_output_scope_that_is_not_a_resource_id_fails_the_run():
    def body():
        EntraBackend("lake", {"gateway": REF, "api_path": "lake", "backend_url": "https://acct.dfs.core.windows.net/raw",
                              "audience": "storage", "role_assignments": [{"role": READER, "scope": pulumi.Output.from_input("raw")}]})

    with pytest.raises(Exception, match="resource id"):
        run(body)


# --- bad input: a clear error before anything is registered -------------------------------------------------

def args(**changes):
    base = {"gateway": REF, "api_path": "lake", "backend_url": "https://acct.dfs.core.windows.net/raw", "audience": "storage",
            "role_assignments": [{"role": "Storage Blob Data Reader", "scope": CONTAINER_ID}]}
    base.update(changes)
    return base


@pytest.mark.parametrize(
    "changes, key, shown",
    [
        ({"audience": "blobstorage"}, "audience", "servicebus, sql, storage"),
        ({"audience": "http://storage.azure.com/"}, "audience", "https://"),
        ({"audience": None}, "audience", "required"),
        ({"role_assignments": [{"role": "Storage Blob Magic", "scope": CONTAINER_ID}]}, "role_assignments[0].role", "Storage Blob Data Reader"),
        ({"role_assignments": [{"role": "Key Vault Secrets User", "scope": CONTAINER_ID}]}, "role_assignments[0].role", "does not open storage"),
        ({"role_assignments": [{"role": "Contributor", "scope": CONTAINER_ID}]}, "role_assignments[0].role", "never granted"),
        ({"role_assignments": [{"role": BROAD_ROLES["Owner"], "scope": CONTAINER_ID}]}, "role_assignments[0].role", "never granted"),
        ({"role_assignments": [{"role": "Storage Blob Data Reader", "scope": "raw"}]}, "role_assignments[0].scope", "resource id"),
        ({"role_assignments": [{"role": "Storage Blob Data Reader", "scope": "subscriptions/x"}]}, "role_assignments[0].scope", "resource id"),
        ({"role_assignments": [{"role": "Storage Blob Data Reader", "scope": CONTAINER_ID}] * 2}, "role_assignments[1]", "twice"),
        ({"role_assignments": [{"role": "Storage Blob Data Reader"}]}, "role_assignments[0]", "exactly"),
        ({"role_assignments": {"role": "Storage Blob Data Reader", "scope": CONTAINER_ID}}, "role_assignments", "list"),
        ({"audience": "sql", "backend_url": "https://srv.database.windows.net/db", "role_assignments": [{"role": "Reader", "scope": CONTAINER_ID}]},
         "role_assignments", "CREATE USER"),
        ({"backend_url": "http://acct.dfs.core.windows.net/raw"}, "backend_url", "https://"),
        ({"backend_url": "https://acct.blob.core.windows.net/raw?sv=2022&sig=abc"}, "backend_url", "'sig' carries a key"),
        ({"headers": {"Authorization": "Bearer x"}}, "headers.Authorization", "token"),
        ({"headers": {"x-functions-key": "k"}}, "headers.x-functions-key", "function keys"),
        ({"headers": {"bad header": "v"}}, "headers", "header name"),
        ({"headers": {"X-Thing": pulumi.Output.from_input("v")}}, "headers.X-Thing", "literal"),
        ({"gateway": {**REF, "identity_client_id": "22222222-2222-4222-8222-222222222222", "identity_type": "SystemAssigned"}},
         "gateway.identity_client_id", "system-assigned identity takes no client-id"),
        ({"gateway": {**REF, "identity_type": "UserAssigned"}}, "gateway.identity_client_id", "needs its client id"),
        ({"gateway": {**REF, "identity_type": "Both"}}, "gateway.identity_type", "SystemAssigned"),
    ],
)
def test_bad_input_is_refused_before_anything_is_registered(changes, key, shown):
    def body():
        EntraBackend("lake", args(**changes))

    with pytest.raises(LastMileError) as err:
        run(body)
    assert str(err.value).startswith(f"{key}:"), str(err.value)
    assert shown in str(err.value)
    assert "sig=abc" not in str(err.value)
    assert not [r for r in registered() if r.custom or r.type.startswith("apim-lastmile:")]


def test_unknown_audience_lists_every_known_name():
    with pytest.raises(LastMileError) as err:
        audiences.resolve("datalake")
    for name in audiences.CATALOGUE:
        assert name in str(err.value)


def test_client_id_copied_onto_a_system_assigned_gateways_ref_is_refused():
    def body():
        gw = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "ops@contoso.com", "publisher_name": "Contoso"})
        ref = {**gw.ref, "identity_client_id": "22222222-2222-4222-8222-222222222222"}
        EntraBackend("lake", args(gateway=ref))

    with pytest.raises(LastMileError, match="system-assigned identity takes no client-id"):
        run(body)
    assert not [r for r in registered() if r.type == "apim-lastmile:index:EntraBackend"]


# --- stack config -------------------------------------------------------------------------------------------

BASE = {
    "resourceGroup": {"name": "rg-x"},
    "gateway": {"publisherEmail": "ops@contoso.com", "publisherName": "Contoso"},
}
ENTRA = {"name": "arm", "apiPath": "arm", "backendUrl": "https://management.azure.com", "audience": "arm",
         "roleAssignments": [{"role": "Reader", "scope": f"/subscriptions/{SUB}/resourceGroups/rg-x"}]}


def test_entra_and_data_lake_config_parse():
    env = config.parse({**BASE, "entraBackends": [ENTRA], "dataLakeReaders": [{"name": "lake", "apiPath": "lake", "container": "raw"}]})
    assert env.entra_backends[0].args()["role_assignments"] == ENTRA["roleAssignments"]
    assert env.data_lake_readers[0].container == "raw"


@pytest.mark.parametrize(
    "entry, key, shown",
    [
        ({**ENTRA, "audience": "azuresql"}, "apim-lastmile:entraBackends[0].audience", "storage"),
        ({**ENTRA, "roleAssignments": [{"role": "Owner", "scope": f"/subscriptions/{SUB}"}]},
         "apim-lastmile:entraBackends[0].roleAssignments[0].role", "never granted"),
        ({**ENTRA, "roleAssignments": [{"role": "Reader", "scope": "rg-x"}]},
         "apim-lastmile:entraBackends[0].roleAssignments[0].scope", "resource id"),
        ({**ENTRA, "backendUrl": "http://management.azure.com"}, "apim-lastmile:entraBackends[0].backendUrl", "https://"),
        ({**ENTRA, "headers": {"Authorization": "x"}}, "apim-lastmile:entraBackends[0].headers.Authorization", "token"),
        ({**ENTRA, "apiPath": "lake"}, "apim-lastmile:dataLakeReaders[0].apiPath", "already used by entraBackends[0]"),
    ],
)
def test_bad_entra_config_names_the_key(entry, key, shown):
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, "dataLakeReaders": [{"name": "lake", "apiPath": "lake", "container": "raw"}], "entraBackends": [entry]})
    assert str(err.value).startswith(key), str(err.value)
    assert shown in str(err.value)


@pytest.mark.parametrize(
    "entry, key",
    [
        ({"name": "lake", "apiPath": "lake", "container": "Raw_Files"}, "apim-lastmile:dataLakeReaders[0].container"),
        ({"name": "lake", "apiPath": "lake", "container": "raw", "operations": [{"method": "PUT", "urlTemplate": "/*"}]},
         "apim-lastmile:dataLakeReaders[0].operations[0].method"),
    ],
)
def test_bad_data_lake_config_names_the_key(entry, key):
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, "dataLakeReaders": [entry]})
    assert str(err.value).startswith(key), str(err.value)


def test_role_definition_follows_the_scopes_subscription():
    other = "99999999-9999-4999-8999-999999999999"
    scope = CONTAINER_ID.replace(SUB, other)

    def body():
        EntraBackend("lake", args(role_assignments=[{"role": "Storage Blob Data Reader", "scope": scope}]))

    grant = run(body).one("azure-native:authorization:RoleAssignment").plain_inputs
    assert grant["scope"] == scope
    assert grant["roleDefinitionId"] == f"/subscriptions/{other}/providers/Microsoft.Authorization/roleDefinitions/{READER}"
    from apim_lastmile.roles import role_definition_id_at

    assert role_definition_id_at("/providers/Microsoft.Management/managementGroups/mg", READER) == \
        f"/providers/Microsoft.Authorization/roleDefinitions/{READER}"
