"""apim-lastmile: a passwordless last mile from Azure API Management to its backends.

The public API (see DESIGN.md) is re-exported here; nothing is defined in this file.
"""

from . import audiences, policy
from .entra_backend import EntraBackend, EntraBackendArgs, RoleAssignmentSpec
from .errors import ConfigError, LastMileError, PolicyError
from .function_backend import SecuredFunctionBackend, SecuredFunctionBackendArgs
from .gateway import ExternalCacheArgs, Gateway, GatewayArgs, GatewayRef, exported_ref, gateway_ref_from_stack
from .keyvault_backend import KeyVaultSecretBackend, KeyVaultSecretBackendArgs
from .network import NetworkMode, PrivateLinkRef, VirtualNetworkArgs

__all__ = [
    "ConfigError",
    "EntraBackend",
    "EntraBackendArgs",
    "ExternalCacheArgs",
    "Gateway",
    "GatewayArgs",
    "GatewayRef",
    "KeyVaultSecretBackend",
    "KeyVaultSecretBackendArgs",
    "LastMileError",
    "NetworkMode",
    "PolicyError",
    "PrivateLinkRef",
    "RoleAssignmentSpec",
    "SecuredFunctionBackend",
    "SecuredFunctionBackendArgs",
    "VirtualNetworkArgs",
    "audiences",
    "exported_ref",
    "gateway_ref_from_stack",
    "policy",
]
