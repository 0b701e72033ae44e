// A TypeScript program that uses the apim-lastmile component package. Add the package first (needs the Pulumi CLI):
//   pulumi package add https://<your-git-host>/platform/apim-lastmile/provider@v0.1.0
// which generates the SDK imported below.
import * as azure from "@pulumi/azure-native";
import * as apimLastmile from "@pulumi/apim-lastmile";

const rg = new azure.resources.ResourceGroup("rg", { location: "westeurope" });

const gateway = new apimLastmile.Gateway("edge", {
    resourceGroupName: rg.name,
    publisherEmail: "platform-team@contoso.com",
    publisherName: "Contoso Platform Team",
    sku: apimLastmile.Sku.StandardV2,
    userAssignedIdentity: true,
    // Backend traffic into a network of its own, so the function below can be private (no public access at all).
    virtualNetwork: { addressPrefix: "10.40.0.0/24" },
});

// A backend takes the gateway's outputs as its GatewayRef.
const ref = {
    serviceName: gateway.serviceName,
    resourceGroupName: gateway.resourceGroupName,
    principalId: gateway.principalId,
    identityClientId: gateway.identityClientId,
    identityType: apimLastmile.IdentityType.UserAssigned,
    gatewayUrl: gateway.gatewayUrl,
    sku: apimLastmile.Sku.StandardV2,
    privateLink: gateway.privateLink,
};

const orders = new apimLastmile.SecuredFunctionBackend("orders", {
    gateway: ref,
    resourceGroupName: rg.name,
    apiPath: "orders",
    runtime: { name: apimLastmile.RuntimeName.Node, version: "22" },
    network: apimLastmile.NetworkMode.Private,
});

const legacy = new apimLastmile.KeyVaultSecretBackend("legacy", {
    gateway: ref,
    resourceGroupName: rg.name,
    apiPath: "legacy",
    backendUrl: "https://legacy.contoso.com",
    username: "svc-apim",
    delivery: apimLastmile.Delivery.SendRequest,
});

export const ordersUrl = orders.apiUrl;
export const legacyUrl = legacy.apiUrl;
