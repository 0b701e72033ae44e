"""Azure's rules that its resource type contract (``azure_contract.json``) does not carry, as data with their source.

The REST specifications describe one request; these facts are about a service's tiers and limits, which only
Microsoft's documentation states. Each is used by the validators before anything is registered.
"""

from __future__ import annotations

import difflib
from typing import Any

from .errors import LastMileError

_LIMITS = "learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#api-management-limits"

_FEATURES = "learn.microsoft.com/azure/api-management/api-management-features (tier table, 2026-02)"
_V2_TIERS = "learn.microsoft.com/azure/api-management/v2-service-tiers-overview"

#: Scale units per APIM tier, (min, max). Consumption is serverless (0); Developer cannot scale.
#: Source: the tier table of api-management-features (2026-02: Basic 2, Standard 4, Premium "12 per region",
#: Basic v2 10, Standard v2 10, Premium v2 30) and v2-service-tiers-overview ("Scale a Premium v2 instance to up to
#: 30 units"). Isolated follows Premium's classic bound of 12.
CAPACITY: dict[str, tuple[int, int]] = {
    "Consumption": (0, 0), "Developer": (1, 1), "Basic": (1, 2), "Standard": (1, 4), "Premium": (1, 12),
    "Isolated": (1, 12), "BasicV2": (1, 10), "StandardV2": (1, 10), "PremiumV2": (1, 30),
}

#: ``enableClientCertificate`` is "only meant to be used for Consumption SKU Service" (REST spec 2024-05-01,
#: apimdeployment.json); on the other classic tiers Azure refuses even ``false`` (EnableClientCertificateCannotBeChanged
#: ForSku: pulumi/pulumi-azure-native#1741, #1865; pulumi/pulumi-azure#3315), and azure-native's SDK fills in ``false``
#: on every service. The gateway sends it only where it applies; elsewhere Azure's default (no client certificate
#: required) is what ``false`` meant.
CLIENT_CERTIFICATE_TIERS = frozenset({"Consumption"})
#: The tiers on which the refusal is reported (the classic tiers but Consumption); on the v2 tiers the property exists
#: (their client certificate checks need ``true``: Azure/azure-resource-manager-schemas#3793), so ``false`` is not
#: known to be refused there, but the gateway leaves it out too.
CLIENT_CERTIFICATE_REFUSED = frozenset({"Developer", "Basic", "Standard", "Premium", "Isolated"})

#: Trusted service connectivity of the gateway (reaching Storage, Key Vault, Service Bus, Event Hubs, Container
#: Registry behind their firewalls as a "trusted Microsoft service") retired on 2026-03-15; services created on or
#: after 2025-12-01 never had it. Source: learn.microsoft.com/azure/api-management/breaking-changes/
#: trusted-service-connectivity-retirement-march-2026. The gateway needs a network line of sight instead (public
#: access, an IP or network rule, a private endpoint); this custom property acknowledges that the service no longer
#: depends on it (value "True", in the service's ``customProperties``).
TRUSTED_SERVICE_RETIREMENT = "2026-03-15"
DISABLE_OVER_PRIVILEGED_ACCESS = "Microsoft.WindowsAzure.ApiManagement.Gateway.ManagedIdentity.DisableOverPrivilegedAccess"
#: Tiers on which the gateway sets it: the classic tiers with custom properties (AVM's service module drops
#: ``customProperties`` on Consumption, "not supported"); the v2 tiers have no documented custom properties (no cipher
#: configuration, v2-service-tiers-overview), and a v2 service created today never had trusted connectivity.
ACKNOWLEDGE_TRUSTED_SERVICE_RETIREMENT = frozenset({"Developer", "Basic", "Standard", "Premium", "Isolated"})
#: Tiers whose gateway has public IP addresses of its own (the service's ``publicIPAddresses``), so a backend can allow
#: exactly them. Source: learn.microsoft.com/azure/api-management/api-management-howto-ip-addresses ("Every API
#: Management instance in Developer, Basic, Standard, or Premium tier has public IP addresses that are exclusive to
#: that instance"; Consumption, Basic v2, Standard v2 and Premium v2 run "without a deterministic IP address"). The
#: REST spec lists Isolated too (publicIPAddresses: "Available only for Basic, Standard, Premium and Isolated SKU").
DEDICATED_OUTBOUND_IPS = frozenset({"Developer", "Basic", "Standard", "Premium", "Isolated"})
#: Tiers whose backend entities may carry a circuit breaker. Sources: learn.microsoft.com/azure/api-management/backends
#: ("the backend circuit breaker isn't supported in the Consumption tier"; "only one rule can be configured") and
#: api-management-gateways-overview (backend table: classic and v2 gateways yes, Consumption no). Premium v2 is not in
#: that table: left out until a source says so.
CIRCUIT_BREAKER_TIERS = frozenset({"Developer", "Basic", "Standard", "Premium", "Isolated", "BasicV2", "StandardV2"})
#: Tiers that take load-balanced backend pools, and a pool's size. Sources: api-management-gateways-overview (backend
#: table: classic, v2 and Consumption gateways yes) and learn.microsoft.com/azure/api-management/backends ("You can
#: include up to 30 backends in a pool"; members are single backends; priority and weight 0-100 in the 2024-05-01 REST
#: spec). Premium v2 is not in that table: refused until a source says so.
POOL_TIERS = frozenset({"Consumption", "Developer", "Basic", "Standard", "Premium", "Isolated", "BasicV2", "StandardV2"})
MAX_POOL_MEMBERS = 30
#: Tiers whose resource logs (GatewayLogs and the rest, through a diagnostic setting) reach a Log Analytics workspace.
#: Source: api-management-features (tier table, 2025-11: "Azure Monitor and Log Analytics request logs" on every tier
#: but Consumption; "Application Insights request logs" on every tier, so a Consumption gateway still logs to
#: Application Insights). Isolated is not in that table; it runs the classic dedicated gateway, as Premium does.
#: monitor-api-management: write them to resource-specific tables (ApiManagementGatewayLogs).
RESOURCE_LOG_TIERS = frozenset({"Developer", "Basic", "Standard", "Premium", "Isolated", "BasicV2", "StandardV2", "PremiumV2"})
#: App Service takes at most 512 access restriction rules per site (learn.microsoft.com/azure/app-service/
#: app-service-ip-restrictions: "You can add up to 512 rules").
MAX_ACCESS_RULES = 512
#: Tiers whose gateway can send its backend traffic into a virtual network, and how. Source:
#: learn.microsoft.com/azure/api-management/virtual-network-concepts (networking models per tier): classic injection
#: on Developer and Premium (the subnet carries no delegation and needs an NSG with the management rules), outbound
#: virtual network integration on Standard v2 (subnet delegated to Microsoft.Web/serverFarms, /27 or larger,
#: learn.microsoft.com/azure/api-management/integrate-vnet-outbound), and on Premium v2 (the same integration: Azure
#: Verified Modules' PremiumV2 test ``avm/res/api-management/service/tests/e2e/v2max`` deploys External with a subnet
#: delegated to Microsoft.Web/serverFarms). Premium v2's injection (subnet delegated to Microsoft.Web/hostingEnvironments,
#: only at creation: inject-vnet-v2) is not offered: no public template shows its ARM shape. Consumption, Basic,
#: Standard, Basic v2 and Isolated have neither (Isolated is not generally available).
VIRTUAL_NETWORK: dict[str, str] = {"Developer": "injection", "Premium": "injection", "StandardV2": "integration",
                                   "PremiumV2": "integration"}
#: Smallest gateway subnet per model (prefix length): injection /29, integration /27 (same sources).
GATEWAY_SUBNET_MAX_PREFIX: dict[str, int] = {"injection": 29, "integration": 27}

#: Maximum size of one policy document, in bytes (source: the APIM limits tables: Consumption 16 KiB, others 256 KiB).
POLICY_BYTES: dict[str, int] = {"Consumption": 16 * 1024}
POLICY_BYTES_DEFAULT = 256 * 1024
#: Maximum operations per API (source: the APIM limits tables of 2025-11, every tier). The 2026 limits (below) no
#: longer list it; it is kept as the documented bound of the last table that had one.
MAX_OPERATIONS = 100
#: Service limits per tier from 2026 (learn.microsoft.com/azure/api-management/service-limits, 2026-02-17, and
#: "New Azure API management service limits", Microsoft Tech Community, 2026-02-26): in force from 2026-03-15 on
#: Consumption, Developer, Basic and Basic v2, 2026-04-15 on Standard and Standard v2, 2026-05-15 on Premium and
#: Premium v2. API versions and revisions count too. (Isolated: not listed; Premium's are used.)
SERVICE_LIMITS_SOURCE = "learn.microsoft.com/azure/api-management/service-limits (2026)"
OPERATIONS_PER_SERVICE: dict[str, int] = {
    "Consumption": 3000, "Developer": 3000, "Basic": 10000, "BasicV2": 10000, "Standard": 50000, "StandardV2": 50000,
    "Premium": 75000, "PremiumV2": 75000, "Isolated": 75000,
}
NAMED_VALUES_PER_SERVICE: dict[str, int] = {
    "Consumption": 5000, "Developer": 5000, "Basic": 5000, "BasicV2": 5000, "Standard": 10000, "StandardV2": 10000,
    "Premium": 18000, "PremiumV2": 18000, "Isolated": 18000,
}

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
