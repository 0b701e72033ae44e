"""Key Vault's vault and secret at control-plane API 2026-02-01, through azure-native's parameterized package.

Azure retires every Key Vault control-plane API version before 2026-02-01 on 2027-02-27
(learn.microsoft.com/azure/key-vault/general/migrate-api-version), and pulumi-azure-native 3.29's ``keyvault.Vault``
and ``keyvault.Secret`` send 2024-11-01. The provider serves any API version it knows as a *parameterized package*:
``pulumi package add azure-native keyvault 2026-02-01`` generates a local SDK whose resources carry the package
reference that :func:`package_ref` registers here. That command needs the Pulumi CLI at build time; what it generates
is small and fixed, so this module is that SDK, written out for the two resources and one function we use:

- package ``azure-native_keyvault_v20260201``, parameterizing the installed ``azure-native`` provider (the version the
  installed Python SDK names in its ``pulumi-plugin.json``), with the parameter the provider's ``Parameterize``
  returns: the base64 text of ``{"module":"keyvault","version":"v20260201"}``
  (pulumi/pulumi-azure-native provider/pkg/provider/provider_parameterize.go);
- tokens ``azure-native_keyvault_v20260201:keyvault:Vault``, ``...:Secret`` and ``...:getVault``; inputs and outputs
  with Azure's own (camelCase) names, as the generated SDK sends them.

Not provable offline (no Pulumi CLI, no Azure): that the engine downloads the provider and accepts the
parameterization (the request is the one the generated SDK sends, byte for byte, checked in the tests), and that
Azure answers ``azureApiVersion: 2026-02-01``.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Optional

import pulumi

API_VERSION = "2026-02-01"
MODULE = "keyvault"
PACKAGE = f"azure-native_{MODULE}_v{API_VERSION.replace('-', '')}"
VAULT = f"{PACKAGE}:{MODULE}:Vault"
SECRET = f"{PACKAGE}:{MODULE}:Secret"
GET_VAULT = f"{PACKAGE}:{MODULE}:getVault"
#: What the provider's Parameterize returns as the package's parameter: base64 of the (compact) JSON of its arguments.
PARAMETER = base64.b64encode(json.dumps({"module": MODULE, "version": f"v{API_VERSION.replace('-', '')}"},
                                        separators=(",", ":")).encode())


@lru_cache(maxsize=1)
def provider_version() -> str:
    """The azure-native provider version the installed SDK asks the engine for (its ``pulumi-plugin.json``)."""
    plugin = json.loads(resources.files("pulumi_azure_native").joinpath("pulumi-plugin.json").read_text())
    return plugin["version"]


async def package_ref() -> Optional[str]:
    """Register the parameterized package with the engine (once per deployment) and return its reference."""
    return await pulumi.runtime.register_package(
        "azure-native", provider_version(), "", PACKAGE, provider_version(), base64.b64encode(PARAMETER).decode())


class Vault(pulumi.CustomResource):
    """``Microsoft.KeyVault/vaults`` at 2026-02-01 (inputs as Azure names them: ``vaultName``, ``properties``...)."""

    name: pulumi.Output[str]
    properties: pulumi.Output[dict]

    def __init__(self, resource_name: str, *, resource_group_name: pulumi.Input[str], vault_name: pulumi.Input[str],
                 properties: dict[str, Any], location: Optional[pulumi.Input[str]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {"resourceGroupName": resource_group_name, "vaultName": vault_name, "location": location,
                 "properties": properties, "name": None, "azureApiVersion": None}
        super().__init__(VAULT, resource_name, props, opts, package_ref=package_ref())


class Secret(pulumi.CustomResource):
    """``Microsoft.KeyVault/vaults/secrets`` at 2026-02-01 (written through Resource Manager; deleted through the data
    plane by the provider, pulumi/pulumi-azure-native#2374)."""

    name: pulumi.Output[str]
    properties: pulumi.Output[dict]

    def __init__(self, resource_name: str, *, resource_group_name: pulumi.Input[str], vault_name: pulumi.Input[str],
                 secret_name: pulumi.Input[str], properties: dict[str, Any],
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = {"resourceGroupName": resource_group_name, "vaultName": vault_name, "secretName": secret_name,
                 "properties": properties, "name": None, "azureApiVersion": None}
        super().__init__(SECRET, resource_name, props, opts, package_ref=package_ref())


def get_vault_output(vault_name: pulumi.Input[str], resource_group_name: pulumi.Input[str],
                     opts: Optional[pulumi.InvokeOutputOptions] = None) -> pulumi.Output[dict]:
    """An existing vault (``id``, ``name``, ``properties``) read at 2026-02-01."""
    return pulumi.runtime.invoke_output(GET_VAULT, {"vaultName": vault_name, "resourceGroupName": resource_group_name},
                                        opts, package_ref=package_ref())
