"""Azure's rules that its resource type contract (``azure_contract.json``) does not carry, as data with their source.

The REST specifications describe one request; these facts are about a service's tiers and limits, which only
Microsoft's documentation states. Each is used by the validators before anything is registered.
"""

from __future__ import annotations

import difflib
from typing import Any

from .errors import LastMileError

_LIMITS = "learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#api-management-limits"

#: Scale units per APIM tier, (min, max). Consumption is serverless (0); Developer cannot scale.
#: Source: learn.microsoft.com/azure/api-management/upgrade-and-scale and the APIM limits tables (classic: Basic 2,
#: Standard 4, Premium 31 per region; v2: BasicV2 10, StandardV2 10). Isolated follows Premium's classic bound of 12.
CAPACITY: dict[str, tuple[int, int]] = {
    "Consumption": (0, 0), "Developer": (1, 1), "Basic": (1, 2), "Standard": (1, 4), "Premium": (1, 31),
    "Isolated": (1, 12), "BasicV2": (1, 10), "StandardV2": (1, 10),
}
#: Tiers whose gateway has public IP addresses of its own (the service's ``publicIPAddresses``), so a backend can allow
#: exactly them. Source: learn.microsoft.com/azure/api-management/api-management-howto-ip-addresses ("Every API
#: Management instance in Developer, Basic, Standard, or Premium tier has public IP addresses that are exclusive to
#: that instance"; Consumption, Basic v2, Standard v2 and Premium v2 run "without a deterministic IP address"). The
#: REST spec lists Isolated too (publicIPAddresses: "Available only for Basic, Standard, Premium and Isolated SKU").
DEDICATED_OUTBOUND_IPS = frozenset({"Developer", "Basic", "Standard", "Premium", "Isolated"})
#: Tiers whose gateway can send its backend traffic into a virtual network, and how. Source:
#: learn.microsoft.com/azure/api-management/virtual-network-concepts (networking models per tier): classic injection
#: on Developer and Premium (the subnet carries no delegation and needs an NSG with the management rules), outbound
#: virtual network integration on Standard v2 (subnet delegated to Microsoft.Web/serverFarms, /27 or larger,
#: learn.microsoft.com/azure/api-management/integrate-vnet-outbound). Premium v2 has both but is not a SKU of the
#: 2024-05-01 API our SDK speaks; Consumption, Basic, Standard, Basic v2 and Isolated have neither (Isolated is not
#: generally available).
VIRTUAL_NETWORK: dict[str, str] = {"Developer": "injection", "Premium": "injection", "StandardV2": "integration"}
#: Smallest gateway subnet per model (prefix length): injection /29, integration /27 (same sources).
GATEWAY_SUBNET_MAX_PREFIX: dict[str, int] = {"injection": 29, "integration": 27}

#: Maximum size of one policy document, in bytes (source: the APIM limits tables: Consumption 16 KiB, others 256 KiB).
POLICY_BYTES: dict[str, int] = {"Consumption": 16 * 1024}
POLICY_BYTES_DEFAULT = 256 * 1024
#: Maximum operations per API (source: the APIM limits tables, 2025, every tier).
MAX_OPERATIONS = 100

#: Public-cloud regions by programmatic name. Source: learn.microsoft.com/azure/reliability/regions-list ("Programmatic
#: name", 2025-09), plus valid restricted ones (swedensouth, jioindia*, denmarkeast, the EUAP canaries). The live list
#: for a subscription is `az account list-locations`.
REGIONS = frozenset({
    "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast", "belgiumcentral",
    "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast", "centralindia", "centralus", "chilecentral",
    "eastasia", "eastus", "eastus2", "francecentral", "francesouth", "germanynorth", "germanywestcentral",
    "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest", "koreacentral", "koreasouth",
    "malaysiawest", "mexicocentral", "newzealandnorth", "northcentralus", "northeurope", "norwayeast", "norwaywest",
    "polandcentral", "qatarcentral", "southafricanorth", "southafricawest", "southcentralus", "southeastasia",
    "southindia", "spaincentral", "swedencentral", "switzerlandnorth", "switzerlandwest", "uaecentral", "uaenorth",
    "uksouth", "ukwest", "westcentralus", "westeurope", "westindia", "westus", "westus2", "westus3",
    "swedensouth", "jioindiacentral", "jioindiawest", "denmarkeast", "centraluseuap", "eastus2euap",
})
#: Sovereign clouds: their token audiences and service hosts differ from the public cloud's that the audience
#: catalogue knows, so they are refused rather than half-supported.
SOVEREIGN_PREFIXES = ("china", "usgov", "usdod", "usnat", "ussec", "germanycentral", "germanynortheast")


def did_you_mean(value: object, options: Any) -> str:
    """`` (did you mean 'x'?)`` for a near miss among ``options``, else ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_location(key: str, value: Any) -> str:
    """An Azure public-cloud region, by programmatic name (``westeurope``) or display name (``West Europe``)."""
    if not isinstance(value, str):
        raise LastMileError(key, value, "expected an Azure region such as westeurope")
    name = value.replace(" ", "").lower()
    if name.startswith(SOVEREIGN_PREFIXES):
        raise LastMileError(key, value, "sovereign clouds are not supported: the audience catalogue and host checks are for the public cloud")
    if name not in REGIONS:
        raise LastMileError(key, value, "expected an Azure region such as westeurope (az account list-locations lists yours)"
                            + did_you_mean(name, REGIONS))
    return value


def check_capacity(key: str, sku: str, capacity: Any) -> int:
    """Scale units for ``sku`` within :data:`CAPACITY`."""
    low, high = CAPACITY[sku]
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not low <= capacity <= high:
        what = "has capacity 0 (it is serverless)" if high == 0 else (
            "runs exactly 1 unit" if high == 1 else f"takes {low} to {high} units")
        raise LastMileError(key, capacity, f"the {sku} tier {what}")
    return capacity


def check_policy_size(key: str, xml: str, sku: Any) -> str:
    """A policy document within the tier's size limit (checked when the document is known, at deploy time at latest)."""
    limit = POLICY_BYTES.get(sku, POLICY_BYTES_DEFAULT) if isinstance(sku, str) else POLICY_BYTES_DEFAULT
    size = len(xml.encode("utf-8"))
    if size > limit:
        raise LastMileError(key, f"{size} bytes", f"APIM's {sku or 'gateway'} tier takes policy documents of at most {limit} bytes ({_LIMITS})")
    return xml
