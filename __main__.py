"""The environment program: validate the stack's config, then compose the components.

All config is validated before the first resource is registered, so a typo never leaves an
environment half-made.
"""

import pulumi
from pulumi_azure_native import resources

from apim_lastmile import Gateway, GatewayArgs, KeyVaultSecretBackend, SecuredFunctionBackend, config

env = config.load()
stateful = pulumi.ResourceOptions(protect=True) if env.protect else None

group = resources.ResourceGroup(
    "environment",
    resource_group_name=env.resource_group.name,
    location=env.resource_group.location,
    opts=stateful,
)

gateway_args: GatewayArgs = {
    "resource_group_name": group.name,
    "publisher_email": env.gateway.publisher_email,
    "publisher_name": env.gateway.publisher_name,
    "sku": env.gateway.sku,
    "user_assigned_identity": env.gateway.user_assigned_identity,
    "protect": env.protect,
}
if env.resource_group.location:
    gateway_args["location"] = env.resource_group.location
if env.gateway.capacity is not None:
    gateway_args["capacity"] = env.gateway.capacity
if env.gateway.service_name:
    gateway_args["service_name"] = env.gateway.service_name
gateway = Gateway(env.gateway.name, gateway_args)

functions = {}
for entry in env.function_backends:
    backend = SecuredFunctionBackend(
        entry.name,
        {"gateway": gateway.ref, "resource_group_name": group.name, "protect": env.protect, **entry.args()},
    )
    functions[entry.name] = {
        "api_url": backend.api_url,
        "function_app_name": backend.function_app_name,
        "function_url": backend.function_url,
        "app_client_id": backend.app_client_id,
    }

secret_backends = {}
for entry in env.secret_backends:
    args = {"gateway": gateway.ref, "resource_group_name": group.name, "protect": env.protect, **entry.args()}
    if entry.secret_config_key:
        args["secret_value"] = pulumi.Config().require_secret(entry.secret_config_key)
    backend = KeyVaultSecretBackend(entry.name, args)
    secret_backends[entry.name] = {"api_url": backend.api_url, "vault_uri": backend.vault_uri, "secret_id": backend.secret_id}

pulumi.export("resource_group_name", group.name)
pulumi.export("gateway_url", gateway.gateway_url)
pulumi.export("gateway_principal_id", gateway.principal_id)
pulumi.export("function_backends", functions)
pulumi.export("secret_backends", secret_backends)
