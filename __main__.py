"""The environment program: validate the stack's config, then compose the components.

All config is validated before the first resource is registered, so a typo never leaves an
environment half-made.
"""

import pulumi
from pulumi_azure_native import resources, storage

from apim_lastmile import EntraBackend, Gateway, GatewayArgs, KeyVaultSecretBackend, SecuredFunctionBackend, exported_ref, naming
from apim_lastmile.network import private_endpoint
from apim_lastmile.storage import keyless_account_args, private_account_args
from apim_lastmile.tools import config

env = config.load()
stateful = pulumi.ResourceOptions(protect=True) if env.protect else None

group = resources.ResourceGroup(
    "environment",
    resource_group_name=env.resource_group.name,
    location=env.resource_group.location,
    opts=stateful,
)

gateway_args: GatewayArgs = {**env.gateway_args(), "resource_group_name": group.name, "protect": env.protect}
if env.resource_group.location:
    gateway_args["location"] = env.resource_group.location
if env.gateway.external_cache:
    cache = env.gateway.external_cache
    gateway_args["external_cache"] = {
        "connection_string": pulumi.Config().require_secret(cache.connection_string_config_key),
        "use_from_location": cache.use_from_location,
    }
    if cache.redis_resource_id:
        gateway_args["external_cache"]["redis_resource_id"] = cache.redis_resource_id
gateway = Gateway(env.gateway.name, gateway_args)

functions = {}
for entry in env.function_backends:
    args = {"gateway": gateway.ref, "resource_group_name": group.name, "protect": env.protect, **entry.args()}
    if env.zone_redundant and not entry.function_app_name:  # an adopted app's plan is its owner's
        args["zone_redundant"] = True
    backend = SecuredFunctionBackend(entry.name, args)
    functions[entry.name] = {
        "api_url": backend.api_url,
        "function_app_name": backend.function_app_name,
        "function_url": backend.function_url,
        "app_client_id": backend.app_client_id,
        "network": backend.network,
        "replica_app_names": backend.replica_app_names,
        "replica_function_urls": backend.replica_function_urls,
    }

secret_backends = {}
for entry in env.secret_backends:
    args = {"gateway": gateway.ref, "resource_group_name": group.name, "protect": env.protect, **entry.args()}
    if entry.secret_config_key:
        args["secret_value"] = pulumi.Config().require_secret(entry.secret_config_key)
    backend = KeyVaultSecretBackend(entry.name, args)
    secret_backends[entry.name] = {"api_url": backend.api_url, "vault_uri": backend.vault_uri, "secret_id": backend.secret_id,
                                   "secret_expires": backend.secret_expires}

entra_backends = {}
for entry in env.entra_backends:
    backend = EntraBackend(entry.name, {"gateway": gateway.ref, **entry.args()})
    entra_backends[entry.name] = {"api_url": backend.api_url}


def data_lake_reader(entry: config.DataLakeReaderConfig) -> tuple[EntraBackend, str]:
    """The worked EntraBackend example: a Data Lake Gen2 account that takes only Entra tokens, one container,
    and an API that reads files from it as the gateway's identity with Storage Blob Data Reader on that container.
    In network mode private (the default on a gateway with a virtual network) the account has no public access and
    the gateway reaches its dfs (and blob) endpoints through private endpoints in its network."""
    mode = entry.network_mode(gateway.ref)
    account = storage.StorageAccount(
        f"{entry.name}-datalake",
        account_name=pulumi.Output.concat("dl", naming.alnum(entry.name)[:16], naming.unique_suffix(
            f"{entry.name}-datalake", keepers={"resourceGroup": group.name, "location": env.resource_group.location})),
        resource_group_name=group.name,
        location=env.resource_group.location,
        is_hns_enabled=True,  # Data Lake Gen2: hierarchical namespace
        opts=pulumi.ResourceOptions(protect=env.protect or None),
        **keyless_account_args(env.zone_redundant),
        **(private_account_args() if mode == "private" else {}),
    )
    # private: an endpoint for dfs, which the API calls, and for blob, to which Data Lake operations may be redirected
    # (learn.microsoft.com/azure/storage/common/storage-private-endpoints).
    reachable = [private_endpoint(entry.name, None, group.name, account.id, sub, gateway.ref["private_link"])
                 for sub in (("dfs", "blob") if mode == "private" else ())]
    container = storage.BlobContainer(
        f"{entry.name}-container",
        account_name=account.name,
        resource_group_name=group.name,
        container_name=entry.container,
        public_access=storage.PublicAccess.NONE,
    )
    return EntraBackend(entry.name, {
        "gateway": gateway.ref,
        # Once the gateway resolves the account's dfs name to the private endpoint (private mode).
        "backend_url": pulumi.Output.all(account.primary_endpoints.dfs, *[r.id for r in reachable]).apply(
            lambda parts: parts[0] + entry.container),
        "audience": "storage",
        "role_assignments": [{"role": "Storage Blob Data Reader", "scope": container.id}],
        **entry.args(),
    }), mode


for entry in env.data_lake_readers:
    reader, mode = data_lake_reader(entry)
    entra_backends[entry.name] = {"api_url": reader.api_url, "network": mode}

pulumi.export("resource_group_name", group.name)
pulumi.export("gateway_service_name", gateway.service_name)
pulumi.export("gateway_url", gateway.gateway_url)
pulumi.export("gateway_principal_id", gateway.principal_id)
# What another stack (in any language) reads to put its own backends on this gateway: gateway_ref_from_stack(...).
pulumi.export("gateway", exported_ref(gateway))
pulumi.export("function_backends", functions)
pulumi.export("secret_backends", secret_backends)
pulumi.export("entra_backends", entra_backends)
