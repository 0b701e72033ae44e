"""Storage accounts that take only Microsoft Entra tokens: the settings every account we create shares."""

from typing import Any

from pulumi_azure_native import storage


def keyless_account_args() -> dict[str, Any]:
    """StorageAccount arguments for an account with no shared keys, no public blobs, HTTPS and TLS 1.2 only."""
    return {
        "kind": storage.Kind.STORAGE_V2,
        "sku": {"name": storage.SkuName.STANDARD_LRS},
        "allow_blob_public_access": False,
        "allow_shared_key_access": False,
        "default_to_o_auth_authentication": True,
        "enable_https_traffic_only": True,
        "minimum_tls_version": storage.MinimumTlsVersion.TLS1_2,
    }
