"""What the Azure Functions Flex Consumption plan accepts, and what it refuses.

Sources (learn.microsoft.com/azure/azure-functions/...):
- flex-consumption-plan ("Supported language stack versions", "Instance memory", "Considerations");
- functions-app-settings#flex-consumption-plan-deprecations: app settings and site properties that Flex
  Consumption replaces or does not support. Newer regional stamps refuse them with ARM error 51021, e.g.
  "The following site configuration property (Site.SiteConfig.FtpsState) for Flex Consumption sites is invalid.
  Please remove or rename it before retrying." (Azure/azure-cli#31414, pulumi/pulumi-azure-native#4168).
Check what a region offers today with ``az functionapp list-flexconsumption-runtimes --location <region>``.
"""

from __future__ import annotations

from typing import Any, Iterable

#: Runtime name -> the versions Flex Consumption runs, newest last; the default is the one the library picks.
#: .NET versions are written "8.0", never "8": ARM accepts "10" but the app never starts (Azure/Azure-Functions#2665).
RUNTIME_VERSIONS: dict[str, tuple[str, ...]] = {
    "python": ("3.10", "3.11", "3.12", "3.13"),
    "node": ("20", "22"),
    "dotnet-isolated": ("8.0", "9.0", "10.0"),
    "java": ("11", "17", "21"),
    "powershell": ("7.4",),
}
DEFAULT_VERSIONS: dict[str, str] = {"python": "3.11", "node": "20", "dotnet-isolated": "8.0", "java": "17", "powershell": "7.4"}
#: functionAppConfig.scaleAndConcurrency.instanceMemoryMB: the instance sizes the plan offers.
INSTANCE_MEMORY_MB = (512, 2048, 4096)
MAXIMUM_INSTANCE_COUNT = (1, 1000)

#: App settings that Flex Consumption replaces by functionAppConfig or does not support.
UNSUPPORTED_APP_SETTINGS = frozenset({
    "ENABLE_ORYX_BUILD", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY", "FUNCTIONS_WORKER_PROCESS_COUNT", "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "SCM_DO_BUILD_DURING_DEPLOYMENT", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_CONTENTSHARE", "WEBSITE_DNS_SERVER", "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_SKIP_CONTENTSHARE_VALIDATION", "WEBSITE_VNET_ROUTE_ALL", "WEBSITE_TIME_ZONE", "TZ",
    "WEBSITE_LOAD_CERTIFICATES",
})
#: Site and siteConfig properties Flex Consumption refuses (the wire names azure-native sends).
UNSUPPORTED_SITE_PROPERTIES = frozenset({"isXenon", "reserved", "vnetBackupRestoreEnabled", "vnetContentShareEnabled",
                                         "vnetImagePullEnabled", "vnetRouteAllEnabled", "dnsConfiguration"})
UNSUPPORTED_SITE_CONFIG = frozenset({
    "alwaysOn", "ftpsState", "javaVersion", "linuxFxVersion", "netFrameworkVersion", "powerShellVersion", "pythonVersion",
    "nodeVersion", "windowsFxVersion", "functionAppScaleLimit", "preWarmedInstanceCount", "use32BitWorkerProcess",
    "functionsRuntimeScaleMonitoringEnabled", "vnetRouteAllEnabled",
})


def unsupported(site: dict[str, Any]) -> Iterable[str]:
    """The settings in a Flex Consumption site's wire inputs that Flex refuses (``[]`` when it takes them all).

    ``isXenon: false`` is azure-native's default and harmless; any other value of a listed property is reported.
    """
    for key, value in site.items():
        if key in UNSUPPORTED_SITE_PROPERTIES and not (key == "isXenon" and value is False):
            yield key
    config = site.get("siteConfig") or {}
    for key in config:
        if key in UNSUPPORTED_SITE_CONFIG:
            yield f"siteConfig.{key}"
    for setting in config.get("appSettings") or ():
        if setting.get("name") in UNSUPPORTED_APP_SETTINGS or str(setting.get("name", "")).startswith("WEBSITE_CONTENT"):
            yield f"siteConfig.appSettings.{setting.get('name')}"
