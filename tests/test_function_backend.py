"""SecuredFunctionBackend and Gateway: the security invariants, read from what the mocks recorded."""

from __future__ import annotations

import pytest
from lxml import etree

from apim_lastmile import Gateway, SecuredFunctionBackend, flex
from apim_lastmile.function_backend import token_issuer
from apim_lastmile.tools.plan import SUBSCRIPTION_ID, TENANT_ID, LastMileMocks
from apim_lastmile.roles import BUILT_IN_ROLES

from helpers import run

AUTH = "azure-native:web:WebAppAuthSettingsV2"
APIM = "azure-native:apimanagement:ApiManagementService"
UAI = "azure-native:managedidentity:UserAssignedIdentity"
APP_REG = "azuread:index/applicationRegistration:ApplicationRegistration"


def program(uai=False, **backend_args):
    def body():
        gw = Gateway("edge", {"resource_group_name": "rg-test", "publisher_email": "ops@contoso.com",
                              "publisher_name": "Contoso", "user_assigned_identity": uai})
        SecuredFunctionBackend("orders", {"gateway": gw.ref, "resource_group_name": "rg-test", "api_path": "orders", **backend_args})
    return body


def gateway_principal(plan, uai=False):
    if uai:
        return plan.one(UAI).outputs["principalId"]
    return plan.one(APIM).outputs["identity"]["principalId"]


def policy_doc(plan):
    return etree.fromstring(plan.one("azure-native:apimanagement:ApiPolicy").plain_inputs["value"].encode())


@pytest.fixture(scope="module")
def system_plan():
    return run(program())


@pytest.fixture(scope="module")
def uai_plan():
    return run(program(uai=True))


def test_easy_auth_requires_authentication_and_returns_401(system_plan):
    auth = system_plan.one(AUTH).plain_inputs
    assert auth["platform"]["enabled"] is True
    assert auth["globalValidation"] == {"requireAuthentication": True, "unauthenticatedClientAction": "Return401"}
    assert auth["httpSettings"]["requireHttps"] is True


def test_easy_auth_trusts_only_the_app_registration_and_the_gateway_identity(system_plan):
    plan = system_plan
    aad = plan.one(AUTH).plain_inputs["identityProviders"]["azureActiveDirectory"]
    client_id = plan.one(APP_REG).outputs["clientId"]
    assert aad["enabled"] is True
    assert aad["registration"]["clientId"] == client_id
    assert aad["registration"]["openIdIssuer"] == f"https://login.microsoftonline.com/{TENANT_ID}/v2.0"
    assert aad["validation"]["allowedAudiences"] == [client_id, f"api://{client_id}"]
    assert aad["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]["identities"] == [gateway_principal(plan)]
    # The auth settings land on the function app the component created.
    assert plan.one(AUTH).plain_inputs["name"] == plan.one("azure-native:web:WebApp").outputs["name"]


def test_app_registration_issues_v2_tokens_only_to_the_gateway(system_plan):
    plan = system_plan
    app = plan.one(APP_REG)
    assert app.plain_inputs["requestedAccessTokenVersion"] == 2
    assert app.plain_inputs["signInAudience"] == "AzureADMyOrg"
    client_id = app.outputs["clientId"]
    uri = plan.one("azuread:index/applicationIdentifierUri:ApplicationIdentifierUri").plain_inputs
    assert uri == {"applicationId": app.outputs["id"], "identifierUri": f"api://{client_id}"}
    role = plan.one("azuread:index/applicationAppRole:ApplicationAppRole").plain_inputs
    assert role["allowedMemberTypes"] == ["Application"] and role["applicationId"] == app.outputs["id"]
    sp = plan.one("azuread:index/servicePrincipal:ServicePrincipal")
    assert sp.plain_inputs["clientId"] == client_id and sp.plain_inputs["appRoleAssignmentRequired"] is True
    grant = plan.one("azuread:index/appRoleAssignment:AppRoleAssignment").plain_inputs
    assert grant == {"appRoleId": role["roleId"], "principalObjectId": gateway_principal(plan), "resourceObjectId": sp.outputs["objectId"]}


def test_function_app_is_locked_down(system_plan):
    plan = system_plan
    app = plan.one("azure-native:web:WebApp").plain_inputs
    assert app["httpsOnly"] is True
    assert app["kind"] == "functionapp,linux"
    assert app["identity"]["type"] == "SystemAssigned"
    assert app["siteConfig"]["minTlsVersion"] == "1.2" and app["siteConfig"]["scmMinTlsVersion"] == "1.2"
    # Flex Consumption has no FTP and refuses the settings it replaced (ARM 51021): none of them is sent.
    assert list(flex.unsupported(app)) == [] and "ftpsState" not in app["siteConfig"]
    assert "netFrameworkVersion" not in app["siteConfig"]
    assert app["functionAppConfig"]["scaleAndConcurrency"]["instanceMemoryMB"] in flex.INSTANCE_MEMORY_MB
    settings = {s["name"]: s["value"] for s in app["siteConfig"]["appSettings"]}
    account = plan.one("azure-native:storage:StorageAccount")
    assert settings == {"AzureWebJobsStorage__accountName": account.outputs["name"]}
    deploy = app["functionAppConfig"]["deployment"]["storage"]
    assert deploy["authentication"] == {"type": "SystemAssignedIdentity"}
    assert deploy["value"] == account.outputs["primaryEndpoints"]["blob"] + "app-package"
    plan_inputs = plan.one("azure-native:web:AppServicePlan").plain_inputs
    assert plan_inputs["sku"] == {"name": "FC1", "tier": "FlexConsumption"} and plan_inputs["reserved"] is True
    for typ in ("azure-native:web:WebAppFtpAllowed", "azure-native:web:WebAppScmAllowed"):
        lock = plan.one(typ).plain_inputs
        assert lock["allow"] is False and lock["name"] == plan.one("azure-native:web:WebApp").outputs["name"]


def test_storage_takes_no_keys_and_the_app_reaches_it_with_its_identity(system_plan):
    plan = system_plan
    account = plan.one("azure-native:storage:StorageAccount")
    assert account.plain_inputs["allowSharedKeyAccess"] is False
    assert account.plain_inputs["allowBlobPublicAccess"] is False
    assert account.plain_inputs["minimumTlsVersion"] == "TLS1_2"
    grant = plan.one("azure-native:authorization:RoleAssignment").plain_inputs
    assert grant["principalType"] == "ServicePrincipal"
    assert grant["principalId"] == plan.one("azure-native:web:WebApp").outputs["identity"]["principalId"]
    assert grant["roleDefinitionId"] == f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/{BUILT_IN_ROLES['Storage Blob Data Owner']}"
    assert grant["scope"] == account.outputs["id"]


def test_apim_api_backend_and_policy(system_plan, assert_valid_policy):
    plan = system_plan
    apim_name = plan.one(APIM).outputs["name"]
    api = plan.one("azure-native:apimanagement:Api").plain_inputs
    assert api["protocols"] == ["https"] and api["path"] == "orders" and api["serviceName"] == apim_name
    ops = sorted(r.plain_inputs["method"] for r in plan.of_type("azure-native:apimanagement:ApiOperation"))
    assert ops == sorted(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    assert {r.plain_inputs["urlTemplate"] for r in plan.of_type("azure-native:apimanagement:ApiOperation")} == {"/*"}
    backend = plan.one("azure-native:apimanagement:Backend").plain_inputs
    host = plan.one("azure-native:web:WebApp").outputs["defaultHostName"]
    assert backend["url"] == f"https://{host}/api" and backend["protocol"] == "http"
    assert backend["tls"] == {"validateCertificateChain": True, "validateCertificateName": True}
    pol = plan.one("azure-native:apimanagement:ApiPolicy")
    assert pol.plain_inputs["format"] == "rawxml"
    assert_valid_policy(pol.plain_inputs["value"])
    doc = policy_doc(plan)
    mi = doc.find("inbound/authentication-managed-identity")
    aad = plan.one(AUTH).plain_inputs["identityProviders"]["azureActiveDirectory"]
    assert mi.get("resource") in aad["validation"]["allowedAudiences"]
    assert mi.get("client-id") is None
    assert doc.find("inbound/set-backend-service").get("backend-id") == backend["backendId"]
    # No keys anywhere in the policy.
    assert "x-functions-key" not in pol.plain_inputs["value"] and "code=" not in pol.plain_inputs["value"]


def test_children_are_parented_to_their_component(system_plan):
    plan = system_plan
    comps = {r.urn: r for r in plan.registrations if r.type.startswith("apim-lastmile:index:")}
    assert {r.type for r in comps.values()} == {"apim-lastmile:index:Gateway", "apim-lastmile:index:SecuredFunctionBackend"}
    for r in plan.registrations:
        if r.custom:
            assert r.parent in comps, (r.type, r.name)


def test_user_assigned_identity_end_to_end(uai_plan, assert_valid_policy):
    plan = uai_plan
    uai = plan.one(UAI)
    apim = plan.one(APIM).plain_inputs
    assert apim["identity"] == {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {uai.outputs["id"]: {}}}
    doc = policy_doc(plan)
    assert doc.find("inbound/authentication-managed-identity").get("client-id") == uai.outputs["clientId"]
    aad = plan.one(AUTH).plain_inputs["identityProviders"]["azureActiveDirectory"]
    assert aad["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]["identities"] == [uai.outputs["principalId"]]
    grant = plan.one("azuread:index/appRoleAssignment:AppRoleAssignment").plain_inputs
    assert grant["principalObjectId"] == uai.outputs["principalId"]
    assert_valid_policy(plan.one("azure-native:apimanagement:ApiPolicy").plain_inputs["value"])


def test_adopting_an_existing_function_app_and_app_registration(assert_valid_policy):
    client_id = "6a1f8b7e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
    plan = run(program(function_app_name="func-legacy-orders", app_client_id=client_id))
    for typ in ("azure-native:web:WebApp", "azure-native:storage:StorageAccount", "azure-native:web:AppServicePlan", APP_REG,
                "azuread:index/servicePrincipal:ServicePrincipal"):
        assert plan.of_type(typ) == [], typ
    auth = plan.one(AUTH).plain_inputs
    assert auth["name"] == "func-legacy-orders"
    assert auth["identityProviders"]["azureActiveDirectory"]["registration"]["clientId"] == client_id
    assert plan.one("azure-native:web:WebAppFtpAllowed").plain_inputs["name"] == "func-legacy-orders"
    assert plan.one("azure-native:apimanagement:Backend").plain_inputs["url"] == "https://func-legacy-orders.azurewebsites.net/api"
    assert policy_doc(plan).find("inbound/authentication-managed-identity").get("resource") == client_id


def test_custom_operations():
    ops = [{"method": "GET", "url_template": "/items/{id}"}, {"method": "POST", "url_template": "/items"}]
    plan = run(program(operations=ops))
    got = sorted((r.plain_inputs["method"], r.plain_inputs["urlTemplate"]) for r in plan.of_type("azure-native:apimanagement:ApiOperation"))
    assert got == [("GET", "/items/{id}"), ("POST", "/items")]


@pytest.mark.parametrize("sku, capacity", [("Consumption", 0), ("BasicV2", 1), ("StandardV2", 1), ("Premium", 1)])
def test_gateway_sku_and_identity(sku, capacity):
    plan = run(lambda: Gateway("edge", {"resource_group_name": "rg", "publisher_email": "a@b.co", "publisher_name": "n", "sku": sku}))
    apim = plan.one(APIM).plain_inputs
    assert apim["sku"] == {"name": sku, "capacity": capacity}
    assert apim["identity"] == {"type": "SystemAssigned"}
    assert apim["serviceName"].startswith("apim-edge-") and len(apim["serviceName"]) == len("apim-edge-") + 6
    assert plan.of_type(UAI) == []


def test_gateway_ref_and_protect():
    captured = {}

    def body():
        gw = Gateway("edge", {"resource_group_name": "rg", "publisher_email": "a@b.co", "publisher_name": "n",
                              "service_name": "apim-contoso-prod", "protect": True, "user_assigned_identity": True})
        captured["ref"] = gw.ref
        assert gw.ref is gw.ref

    plan = run(body)
    assert set(captured["ref"]) == {"service_name", "resource_group_name", "principal_id", "gateway_url", "identity_client_id", "identity_type",
                                    "sku", "cache", "outbound_ips", "system_principal_id"}
    assert captured["ref"]["identity_type"] == "UserAssigned"
    assert (captured["ref"]["sku"], captured["ref"]["cache"]) == ("Consumption", "none")
    assert plan.one(APIM).plain_inputs["serviceName"] == "apim-contoso-prod"
    assert plan.one(APIM).protect and plan.one(UAI).protect
    assert plan.of_type("random:index/randomString:RandomString") == []
    assert not [r for r in plan.registrations if r.type == "apim-lastmile:index:Gateway" and r.protect]


# ---- tokens: the version, issuer and audience Easy Auth checks must be the ones APIM's token carries ----

@pytest.mark.parametrize("uai", [False, True], ids=["system-assigned", "user-assigned"])
def test_token_version_issuer_and_audience_agree(uai):
    """The app registration asks for v2 access tokens, so the token APIM's identity gets (either kind: the resource
    app decides the version) has iss https://login.microsoftonline.com/<tenant>/v2.0 and aud = the client id; Easy
    Auth checks exactly that issuer, and the policy asks for exactly an allowed audience."""
    plan = run(program(uai=uai))
    client_id = plan.one(APP_REG).outputs["clientId"]
    assert plan.one(APP_REG).plain_inputs["requestedAccessTokenVersion"] == 2
    aad = plan.one(AUTH).plain_inputs["identityProviders"]["azureActiveDirectory"]
    assert aad["registration"]["openIdIssuer"] == token_issuer(TENANT_ID, 2) == f"https://login.microsoftonline.com/{TENANT_ID}/v2.0"
    resource = policy_doc(plan).find("inbound/authentication-managed-identity").get("resource")
    assert resource == client_id == aad["registration"]["clientId"] and resource in aad["validation"]["allowedAudiences"]


def test_no_traffic_before_entra_can_issue_the_token():
    """The API policy waits for the service principal (else AADSTS500011) and APIM's app role assignment (else
    AADSTS501051)."""
    plan = run(program())
    depends = plan.one("azure-native:apimanagement:ApiPolicy").depends_on
    assert plan.one("azuread:index/servicePrincipal:ServicePrincipal").urn in depends
    assert plan.one("azuread:index/appRoleAssignment:AppRoleAssignment").urn in depends


ADOPTED = "6a1f8b7e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize("version, issuer", [(2, f"https://login.microsoftonline.com/{TENANT_ID}/v2.0"), (1, f"https://sts.windows.net/{TENANT_ID}/"),
                                             (None, f"https://sts.windows.net/{TENANT_ID}/")])
def test_an_adopted_registration_gets_the_issuer_of_its_token_version(version, issuer):
    mocks = LastMileMocks({ADOPTED: {"token_version": version}})
    plan = run(program(app_client_id=ADOPTED), mocks=mocks)
    aad = plan.one(AUTH).plain_inputs["identityProviders"]["azureActiveDirectory"]
    assert aad["registration"]["openIdIssuer"] == issuer
    assert ADOPTED in aad["validation"]["allowedAudiences"]


def test_an_adopted_registration_without_a_service_principal_fails_at_deploy_time():
    mocks = LastMileMocks({ADOPTED: {"service_principal": False}})
    with pytest.raises(ValueError) as err:  # Pulumi wraps the LastMileError raised in the apply, message intact
        run(program(app_client_id=ADOPTED), mocks=mocks)
    assert f"app_client_id: got '{ADOPTED}'; this app registration has no service principal" in str(err.value)
    assert "AADSTS500011" in str(err.value) and f"az ad sp create --id {ADOPTED}" in str(err.value)


def test_an_adopted_registration_that_requires_assignment_is_warned_about(monkeypatch):
    warnings = []
    monkeypatch.setattr("pulumi.log.warn", lambda msg, resource=None, *a, **k: warnings.append(msg))
    run(program(app_client_id=ADOPTED), mocks=LastMileMocks({ADOPTED: {"assignment_required": True}}))
    assert any("AADSTS501051" in w and ADOPTED in w for w in warnings), warnings
    warnings.clear()
    run(program(app_client_id=ADOPTED), mocks=LastMileMocks({ADOPTED: {"assignment_required": False}}))
    assert not any("AADSTS501051" in w for w in warnings)
