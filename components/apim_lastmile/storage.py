"""Storage accounts that take only Microsoft Entra tokens: the settings every account we create shares."""

from typing import Any

from pulumi_azure_native import storage

#: The network modes a storage account behind the gateway cannot have, and why.
STORAGE_REFUSED = {
    "gateway-ip": "a storage account's IP rules do not apply to requests from its own Azure region "
                  "(learn.microsoft.com/azure/storage/common/storage-network-security-limitations), so allowing only the gateway's addresses "
                  "would refuse a same-region gateway and admit nothing more elsewhere: use private or identity-only",
}


def keyless_account_args(zone_redundant: bool = False) -> dict[str, Any]:
    """StorageAccount arguments for an account with no shared keys, no public blobs, HTTPS and TLS 1.2 only; its data
    in three zones of the region (ZRS) when ``zone_redundant``, else in one (LRS). Zone-redundant Flex Consumption
    needs zone-redundant host storage (learn.microsoft.com/azure/azure-functions/functions-zone-redundancy)."""
    return {
        "kind": storage.Kind.STORAGE_V2,
        "sku": {"name": storage.SkuName.STANDARD_ZRS if zone_redundant else storage.SkuName.STANDARD_LRS},
        "allow_blob_public_access": False,
        "allow_shared_key_access": False,
        # Written out, not left to defaults: no object replication to other tenants, and copies only from accounts of
        # this tenant (ALZ storage guardrails 92a89a79 and Deny-Storage-CopyScope, opt-in Deny).
        "allow_cross_tenant_replication": False,
        "allowed_copy_scope": storage.AllowedCopyScope.AAD,
        "default_to_o_auth_authentication": True,
        "enable_https_traffic_only": True,
        "minimum_tls_version": storage.MinimumTlsVersion.TLS1_2,
    }


def private_account_args() -> dict[str, Any]:
    """StorageAccount arguments for an account reached only through private endpoints: no public network access, and
    the firewall denies everything else with no trusted-service bypass."""
    return {
        "public_network_access": storage.PublicNetworkAccess.DISABLED,
        "network_rule_set": {"default_action": storage.DefaultAction.DENY, "bypass": storage.Bypass.NONE},
    }
