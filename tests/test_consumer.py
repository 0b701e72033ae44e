"""A consumer's view: only the public names, Pulumi's own mocks, nothing from our test helpers."""

from __future__ import annotations

import pulumi
from lxml import etree

from apim_lastmile import (EntraBackend, EntraBackendArgs, Gateway, GatewayArgs, GatewayRef, SecuredFunctionBackend,
                           SecuredFunctionBackendArgs, policy)


class ConsumerMocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.created = []

    def new_resource(self, args):
        self.created.append((args.typ, args.name, args.inputs))
        outputs = dict(args.inputs)
        # The few outputs a created Function App's wiring reads (Azure fills them in).
        if args.typ == "random:index/randomString:RandomString":
            outputs["result"] = "a1b2c3"
        elif args.typ == "azure-native:storage:StorageAccount":
            outputs["primaryEndpoints"] = {"blob": f"https://{args.inputs['accountName']}.blob.core.windows.net/"}
        elif args.typ == "azure-native:web:WebApp":
            outputs.update(defaultHostName=f"{args.inputs['name']}.azurewebsites.net",
                           identity={"type": "SystemAssigned", "principalId": "7d6c5b4a-0000-4000-8000-000000000003"})
        return f"{args.name}-id", outputs

    def call(self, args):
        # Adopting an app registration reads it from Entra ID: its token version, and that it has a service principal.
        if args.token == "azuread:index/getApplication:getApplication":
            return {"clientId": args.args["clientId"], "apis": [{"requestedAccessTokenVersion": 2}]}
        if args.token == "azuread:index/getServicePrincipals:getServicePrincipals":
            return {"servicePrincipals": [{"clientId": c, "objectId": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
                                           "appRoleAssignmentRequired": True} for c in args.args["clientIds"]]}
        if args.token == "azure-native:web:getWebApp":
            name = args.args["name"]
            return {"id": f"/subscriptions/x/resourceGroups/rg-team/providers/Microsoft.Web/sites/{name}",
                    "defaultHostName": f"{name}.azurewebsites.net"}
        return {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "subscriptionId": "00000000-0000-0000-0000-000000000000"}


MOCKS = ConsumerMocks()


def setup_module(module):
    from pulumi.runtime.settings import ROOT

    ROOT.set(None)
    pulumi.runtime.set_mocks(MOCKS, project="consumer", stack="test", preview=False)


@pulumi.runtime.test
def test_backend_on_an_apim_owned_by_another_stack():
    ref: GatewayRef = {
        "service_name": "apim-shared-platform",
        "resource_group_name": "rg-platform",
        "principal_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    }
    args: SecuredFunctionBackendArgs = {
        "gateway": ref,
        "resource_group_name": "rg-team",
        "api_path": "team/orders",
        "app_client_id": "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b",
        "function_app_name": "func-team-orders",
    }
    backend = SecuredFunctionBackend("orders", args)

    def check(values):
        xml, url = values
        doc = etree.fromstring(xml.encode())
        mi = doc.find("inbound/authentication-managed-identity")
        assert mi.get("resource") == "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
        assert mi.get("client-id") is None
        assert url == "https://apim-shared-platform.azure-api.net/team/orders"
        RENDERED.append(xml)

    return pulumi.Output.all(backend.policy_xml, backend.api_url).apply(check)


RENDERED: list = []


def test_what_the_mocks_recorded_for_that_backend():
    # Runs after the test above, whose decorator waited for every registration to finish.
    auth = [i for t, _, i in MOCKS.created if t == "azure-native:web:WebAppAuthSettingsV2"]
    assert len(auth) == 1
    principals = auth[0]["identityProviders"]["azureActiveDirectory"]["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]
    assert principals["identities"] == ["3f2504e0-4f89-41d3-9a0c-0305e82c3301"]
    policies = [i for t, n, i in MOCKS.created if t == "azure-native:apimanagement:ApiPolicy" and n.startswith("orders")]
    assert len(RENDERED) == 1 and [p["value"] for p in policies] == RENDERED
    assert not [t for t, _, _ in MOCKS.created if t.startswith("azuread:") or t == "azure-native:web:WebApp"]


@pulumi.runtime.test
def test_entra_backend_with_another_stacks_user_assigned_identity():
    ref: GatewayRef = {
        "service_name": "apim-shared-platform",
        "resource_group_name": "rg-platform",
        "principal_id": "9a8b7c6d-0000-4000-8000-000000000001",
        "identity_client_id": "9a8b7c6d-0000-4000-8000-000000000002",
    }
    container = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-team/providers/Microsoft.Storage/"
                 "storageAccounts/stteam/blobServices/default/containers/raw")
    args: EntraBackendArgs = {
        "gateway": ref,
        "api_path": "team/files",
        "backend_url": "https://stteam.dfs.core.windows.net/raw",
        "audience": "storage",
        "role_assignments": [{"role": "Storage Blob Data Reader", "scope": container}],
    }
    backend = EntraBackend("files", args)

    def check(xml):
        mi = etree.fromstring(xml.encode()).find("inbound/authentication-managed-identity")
        assert mi.attrib == {"resource": "https://storage.azure.com/", "client-id": "9a8b7c6d-0000-4000-8000-000000000002"}

    return backend.policy_xml.apply(check)


def test_the_entra_backends_role_went_to_the_other_stacks_identity():
    # Runs after the test above, whose decorator waited for every registration to finish.
    grants = [i for t, n, i in MOCKS.created if t == "azure-native:authorization:RoleAssignment" and n.startswith("files-")]
    assert [(g["principalId"], g["principalType"]) for g in grants] == [("9a8b7c6d-0000-4000-8000-000000000001", "ServicePrincipal")]
    assert grants[0]["scope"].endswith("/containers/raw")
    assert grants[0]["roleDefinitionId"].endswith("/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")


def test_policy_is_usable_without_resources():
    xml = policy.render(inbound=[policy.managed_identity_auth(resource="https://storage.azure.com/"),
                                 policy.set_header(name="x-ms-version", values=["2023-11-03"])])
    assert "<base/>" in xml and 'resource="https://storage.azure.com/"' in xml


def test_gateway_args_is_a_typed_dict():
    args: GatewayArgs = {"resource_group_name": "rg", "publisher_email": "a@b.co", "publisher_name": "n"}
    assert Gateway.__init__.__annotations__["args"] in ("GatewayArgs", GatewayArgs)
    assert set(GatewayArgs.__required_keys__) == {"resource_group_name", "publisher_email", "publisher_name"}
    assert isinstance(args, dict)


@pulumi.runtime.test
def test_a_private_function_on_another_stacks_network_with_only_the_public_names():
    from apim_lastmile import NetworkMode, PrivateLinkRef

    link: PrivateLinkRef = {
        "subnet_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-platform/providers/Microsoft.Network/"
                     "virtualNetworks/vnet-apim-edge/subnets/private-endpoints",
        "location": "westeurope",
        "dns_zone_ids": {"sites": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-platform/providers/"
                                  "Microsoft.Network/privateDnsZones/privatelink.azurewebsites.net",
                         "blob": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-platform/providers/"
                                 "Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net"},
        "integration_subnet_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-platform/providers/"
                                 "Microsoft.Network/virtualNetworks/vnet-apim-edge/subnets/function-apps",
    }
    ref: GatewayRef = {"service_name": "apim-shared-platform", "resource_group_name": "rg-platform",
                       "principal_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "sku": "Premium", "private_link": link}
    backend = SecuredFunctionBackend("payments", {"gateway": ref, "resource_group_name": "rg-team", "api_path": "team/payments",
                                                  "app_client_id": "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5c", "network": NetworkMode.PRIVATE})

    def check(mode):
        assert mode == "private"

    return backend.network.apply(check)


def test_that_private_function_has_its_endpoint_in_the_other_stacks_subnet():
    # Runs after the test above, whose decorator waited for every registration to finish.
    apps = [i for t, n, i in MOCKS.created if t == "azure-native:web:WebApp" and n.startswith("payments")]
    endpoints = [i for t, n, i in MOCKS.created if t == "azure-native:network:PrivateEndpoint" and n.startswith("payments")]
    assert [a["publicNetworkAccess"] for a in apps] == ["Disabled"]
    assert [e["subnet"]["id"].rsplit("/", 1)[1] for e in endpoints] == ["private-endpoints", "private-endpoints"]
    assert sorted(e["privateLinkServiceConnections"][0]["groupIds"][0] for e in endpoints) == ["blob", "sites"]  # app, host storage
    assert apps[0]["virtualNetworkSubnetId"].rsplit("/", 1)[1] == "function-apps"
