"""Telemetry without a key: the gateway logs to Application Insights with its managed identity, function apps send
theirs with their own identity, and resource logs go to a Log Analytics workspace that takes no shared key.

- A Log Analytics workspace (``features.disableLocalAuth``: only Microsoft Entra ingestion and queries) and a
  workspace-based Application Insights component with local authentication disabled (``DisableLocalAuth``: the
  instrumentation key in its connection string then authenticates nothing), or adopted ones (an adopted component
  must have local authentication disabled; an adopted workspace keeps its own settings, and nothing here uses its
  keys: diagnostic settings write with Azure Monitor's own authority).
- An APIM logger whose credentials are the connection string and ``identityClientId`` (``SystemAssigned`` or the
  user-assigned identity's client id), and the Monitoring Metrics Publisher role for that identity on the component
  alone (learn.microsoft.com/azure/api-management/api-management-howto-app-insights, "managed identity").
- Each API we publish gets an Application Insights diagnostic with safe defaults (:func:`api_diagnostic`).
- Resource logs and metrics of the gateway, the vaults and the function apps we create go to the workspace
  (:func:`resource_logs`; tiers in ``azure_rules.RESOURCE_LOG_TIERS``).
- Function apps: ``APPLICATIONINSIGHTS_CONNECTION_STRING`` with ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING=
  Authorization=AAD`` and the same role for the app's identity (:func:`app_settings`, :func:`grant_publisher`).

The instrumentation key inside a connection string is an identifier, not a secret (learn.microsoft.com/azure/
azure-monitor/app/connection-strings); what keeps it from being a credential is ``DisableLocalAuth``, which an adopted
component must have (checked when the program runs).
"""


import re
from typing import Any, Optional, TypedDict

import pulumi
from pulumi_azure_native import apimanagement, applicationinsights, monitor, operationalinsights

from . import arguments, naming
from .errors import LastMileError
from .roles import BUILT_IN_ROLES, assign

try:  # Python 3.11+
    from typing import NotRequired
except ImportError:  # pragma: no cover
    from typing_extensions import NotRequired

#: The logger's id on the gateway, and the diagnostic's (APIM names an Application Insights diagnostic this way).
LOGGER_ID = "lastmile-appinsights"
DIAGNOSTIC_ID = "applicationinsights"
PUBLISHER_ROLE = "Monitoring Metrics Publisher"
#: Log Analytics retention of a PerGB2018 workspace, in days (REST spec 2023-09-01: retentionInDays; the interactive
#: retention range learn.microsoft.com/azure/azure-monitor/logs/data-retention-configure).
RETENTION_DAYS = (30, 730)
DEFAULT_SAMPLING = 25.0
#: Header names that carry credentials, or may: never logged (the whole name or a part of it, case-insensitive).
CREDENTIAL_HEADER_PARTS = ("auth", "key", "token", "secret", "cookie", "password", "credential", "signature", "sas", "session")
#: Query parameters whose values are credentials (APIM's subscription key, function keys, SAS signatures, OAuth
#: tokens): hidden in every logged URL.
CREDENTIAL_QUERY_PARAMS = ("subscription-key", "code", "sig", "access_token", "api-key", "apikey", "key", "token")


class TelemetryArgs(TypedDict, total=False):
    """Telemetry of a gateway and the backends on it (``Gateway(telemetry={...})``; ``{}`` for the defaults)."""

    workspace_id: str
    """An existing Log Analytics workspace's resource id (adopted); default a new workspace that takes no shared key."""
    application_insights_id: str
    """An existing workspace-based Application Insights component's resource id (adopted; it must have local
    authentication disabled, and ``workspace_id`` then names the workspace for resource logs); default a new one."""
    retention_in_days: int
    """Retention of a new workspace, 30-730 days; default 30."""
    sampling_percentage: float
    """Share of requests each API logs to Application Insights, 0-100 (errors are always logged); default 25."""
    log_client_ip: bool
    """Log callers' IP addresses; default false (personal data)."""
    headers: list[str]
    """Request and response headers each API logs (default none); a header that may carry a credential is refused."""


class TelemetryRef(TypedDict):
    """What backends on the gateway need of its telemetry (the gateway's ref carries it as ``telemetry``)."""

    logger_id: pulumi.Input[str]
    """The APIM logger's resource id."""
    workspace_id: pulumi.Input[str]
    """The Log Analytics workspace resource logs go to."""
    application_insights_id: pulumi.Input[str]
    """The Application Insights component (the scope of every Monitoring Metrics Publisher grant)."""
    connection_string: pulumi.Input[str]
    """The component's connection string (an identifier: the component takes Microsoft Entra authentication only)."""
    sampling_percentage: NotRequired[float]
    """Share of requests each API logs, 0-100."""
    log_client_ip: NotRequired[bool]
    """Whether APIs log callers' IP addresses."""
    headers: NotRequired[list[str]]
    """Headers each API logs."""


_WORKSPACES = "Microsoft.OperationalInsights/workspaces"
_COMPONENTS = "Microsoft.Insights/components"


def check_headers(headers: object, key: str) -> list[str]:
    if headers is None:
        return []
    if isinstance(headers, (str, bytes)) or not isinstance(headers, (list, tuple)):
        raise LastMileError(key, headers, "expected a list of header names, such as ['x-correlation-id']")
    for index, header in enumerate(headers):
        if not isinstance(header, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}", header):
            raise LastMileError(f"{key}[{index}]", header, "expected an HTTP header name")
        part = next((p for p in CREDENTIAL_HEADER_PARTS if p in header.lower()), None)
        if part is not None:
            raise LastMileError(f"{key}[{index}]", header, f"a header named like {part!r} may carry a credential, and logs are "
                                                           "read by more people than the gateway: leave it out")
    return list(headers)


def check_sampling(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise LastMileError(key, value, "expected a percentage from 0 to 100")
    return float(value)


def check_workspace_name(gateway_name: str, key: str = "Gateway name") -> None:
    """The new workspace's name, ``log-apim-<gateway name>``, within Log Analytics' rule (it must end with a letter or
    digit): checked before anything registers."""
    try:
        naming.LOG_ANALYTICS_WORKSPACE.check(key, f"log-apim-{gateway_name}")
    except LastMileError as exc:
        raise LastMileError(key, gateway_name, f"the new workspace log-apim-{gateway_name} would break Log Analytics' rule "
                                               f"({exc.expected}): rename the gateway, or adopt a workspace "
                                               "(telemetry.workspace_id)") from None


def check_telemetry(telemetry: object, key: str = "telemetry") -> Optional[dict]:
    """Validate :class:`TelemetryArgs` (None: no telemetry)."""
    if telemetry is None:
        return None
    if not isinstance(telemetry, dict):
        raise LastMileError(key, telemetry, "expected TelemetryArgs (a dict; {} for the defaults)")
    arguments.check_known_keys(telemetry, TelemetryArgs, f"{key}.")
    arguments.check_bool(telemetry, "log_client_ip", f"{key}.")
    workspace = telemetry.get("workspace_id")
    if workspace is not None:
        naming.check_resource_id(f"{key}.workspace_id", workspace, _WORKSPACES)
    component = telemetry.get("application_insights_id")
    if component is not None:
        naming.check_resource_id(f"{key}.application_insights_id", component, _COMPONENTS)
        if workspace is None:
            raise LastMileError(f"{key}.workspace_id", None, "an adopted Application Insights component needs workspace_id too: the "
                                                             "workspace the resource logs go to (usually the one it is based on)")
    retention = telemetry.get("retention_in_days", RETENTION_DAYS[0])
    if isinstance(retention, bool) or not isinstance(retention, int) or not RETENTION_DAYS[0] <= retention <= RETENTION_DAYS[1]:
        raise LastMileError(f"{key}.retention_in_days", retention, f"expected {RETENTION_DAYS[0]}-{RETENTION_DAYS[1]} days")
    if workspace is not None and "retention_in_days" in telemetry:
        raise LastMileError(f"{key}.retention_in_days", retention, "an adopted workspace keeps its own retention: remove retention_in_days")
    return {"workspace_id": workspace, "application_insights_id": component, "retention_in_days": retention,
            "sampling_percentage": check_sampling(telemetry.get("sampling_percentage", DEFAULT_SAMPLING), f"{key}.sampling_percentage"),
            "log_client_ip": telemetry.get("log_client_ip", False),
            "headers": check_headers(telemetry.get("headers"), f"{key}.headers")}


def check_telemetry_ref(ref: object, key: str = "gateway.telemetry") -> None:
    """A :class:`TelemetryRef` in a gateway's ref: its four ids, known ones of the right type."""
    if ref is None:
        return
    if not isinstance(ref, dict):
        raise LastMileError(key, ref, "expected a TelemetryRef: {'logger_id': ..., 'workspace_id': ..., 'application_insights_id': "
                                      "..., 'connection_string': ...}")
    arguments.check_known_keys(ref, TelemetryRef, f"{key}.")
    types = {"logger_id": "Microsoft.ApiManagement/service/loggers", "workspace_id": _WORKSPACES,
             "application_insights_id": _COMPONENTS, "connection_string": None}
    for field, of_type in types.items():
        value = ref.get(field)
        if value in (None, ""):
            raise LastMileError(f"{key}.{field}", value, f"a TelemetryRef needs {field}")
        if not isinstance(value, (str, pulumi.Output)):
            raise LastMileError(f"{key}.{field}", value, "expected a string (or an Output of one)")
        if isinstance(value, str) and of_type is not None:
            naming.check_resource_id(f"{key}.{field}", value, of_type)
    connection = ref["connection_string"]
    if isinstance(connection, str) and "IngestionEndpoint=" not in connection:
        raise LastMileError(f"{key}.connection_string", connection, "expected an Application Insights connection string "
                                                                    "(InstrumentationKey=...;IngestionEndpoint=...)")
    known = {k: v for k, v in ref.items() if not isinstance(v, pulumi.Output)}
    if "sampling_percentage" in known:
        check_sampling(known["sampling_percentage"], f"{key}.sampling_percentage")
    arguments.check_bool(known, "log_client_ip", f"{key}.")
    check_headers(known.get("headers"), f"{key}.headers")


def _adopted_component(component_id: str, key: str) -> pulumi.Output[str]:
    """The connection string of an adopted component, read when the program runs; refused unless the component takes
    Microsoft Entra authentication only (otherwise its instrumentation key is a credential), and unless it is in the
    deployment's subscription (where the look-up runs)."""
    from pulumi_azure_native import authorization

    parts = component_id.split("/")

    def checked(values: list) -> str:
        connection, local_off = values
        if not local_off:
            raise LastMileError(key, component_id, "this Application Insights component accepts its instrumentation key as a "
                                                   "credential: disable local authentication on it first (its DisableLocalAuth property, e.g. "
                                                   f"Update-AzApplicationInsights -ResourceGroupName {parts[4]} -Name {parts[-1]} "
                                                   "-DisableLocalAuth)")
        return connection

    def look_up(deployment_subscription: Optional[str]) -> pulumi.Output[str]:
        # Checked first: the look-up runs in the deployment's subscription, where another's component is not found.
        if deployment_subscription and parts[2].lower() != str(deployment_subscription).lower():
            raise LastMileError(key, component_id, f"the component is in subscription {parts[2]}, the deployment in "
                                                   f"{deployment_subscription}: adopt a component of the deployment's "
                                                   "subscription (its connection string is read there)")
        found = applicationinsights.get_component_output(resource_group_name=parts[4], resource_name=parts[-1])
        return pulumi.Output.all(found.connection_string, found.disable_local_auth).apply(checked)

    return authorization.get_client_config_output().subscription_id.apply(look_up)


def build(name: str, parent: pulumi.Resource, v: dict, *, resource_group_name: pulumi.Input[str], location: Optional[pulumi.Input[str]],
          service_name: pulumi.Input[str], principal_id: pulumi.Input[str], identity_client_id: Optional[pulumi.Input[str]],
          protect: bool) -> TelemetryRef:
    """The workspace, the component, the publisher grant and the logger of gateway ``name``; returns the ref."""
    child = pulumi.ResourceOptions(parent=parent)
    stateful = pulumi.ResourceOptions(parent=parent, protect=True if protect else None)
    workspace_id: pulumi.Input[str] = v["workspace_id"]
    if workspace_id is None:
        workspace = operationalinsights.Workspace(
            f"{name}-workspace", workspace_name=f"log-apim-{name}", resource_group_name=resource_group_name, location=location,
            sku={"name": operationalinsights.WorkspaceSkuNameEnum.PER_GB2018}, retention_in_days=v["retention_in_days"],
            # Only Microsoft Entra ingestion and queries; readers need rights on the resources whose logs they read.
            features={"disable_local_auth": True, "enable_log_access_using_only_resource_permissions": True},
            opts=stateful)
        workspace_id = workspace.id
    if v["application_insights_id"] is None:
        component = applicationinsights.Component(
            f"{name}-appinsights", resource_name_=f"appi-apim-{name}", resource_group_name=resource_group_name, location=location,
            kind="web", application_type=applicationinsights.ApplicationType.WEB, workspace_resource_id=workspace_id,
            ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS, disable_local_auth=True, opts=stateful)
        component_id, connection = component.id, component.connection_string
    else:
        component_id = v["application_insights_id"]
        connection = _adopted_component(component_id, "telemetry.application_insights_id")
    grant = grant_publisher(f"{name}-telemetry-publisher", parent, principal_id, component_id,
                            f"{name}: API Management logs to Application Insights with its managed identity")
    logger = apimanagement.Logger(
        f"{name}-logger", logger_id=LOGGER_ID, service_name=service_name, resource_group_name=resource_group_name,
        logger_type=apimanagement.LoggerType.APPLICATION_INSIGHTS, resource_id=component_id, is_buffered=True,
        description="Application Insights, reached with the gateway's managed identity (no instrumentation key)",
        credentials={"connectionString": connection,
                     "identityClientId": identity_client_id if identity_client_id is not None else "SystemAssigned"},
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[grant])))
    return {"logger_id": logger.id, "workspace_id": workspace_id, "application_insights_id": component_id,
            "connection_string": connection, "sampling_percentage": v["sampling_percentage"], "log_client_ip": v["log_client_ip"],
            "headers": v["headers"]}


def grant_publisher(logical: str, parent: pulumi.Resource, principal_id: pulumi.Input[str], component_id: pulumi.Input[str],
                    description: str):
    """Monitoring Metrics Publisher for ``principal_id`` on the Application Insights component alone: what sending
    telemetry with Microsoft Entra authentication takes (learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication)."""
    return assign(logical, principal_id=principal_id, role_guid=BUILT_IN_ROLES[PUBLISHER_ROLE], scope=component_id,
                  description=description, parent=parent)


def api_diagnostic(name: str, parent: pulumi.Resource, gateway: Any, api: pulumi.Resource) -> Optional[apimanagement.ApiDiagnostic]:
    """The API's Application Insights diagnostic when the gateway has telemetry: a fixed share of requests (errors
    always), W3C trace context, no request or response body, only the headers the telemetry names (none that may
    carry a credential), credential query parameters hidden, callers' IP addresses left out unless asked."""
    telemetry = gateway.get("telemetry") if isinstance(gateway, dict) else None
    if telemetry is None:
        return None
    headers = telemetry.get("headers") or []
    masking = {"query_params": [{"value": p, "mode": apimanagement.DataMaskingMode.HIDE} for p in CREDENTIAL_QUERY_PARAMS]}
    message = {"headers": headers, "body": {"bytes": 0}, "data_masking": masking}
    pipeline = {"request": message, "response": {"headers": headers, "body": {"bytes": 0}}}
    return apimanagement.ApiDiagnostic(
        f"{name}-diagnostic", diagnostic_id=DIAGNOSTIC_ID, api_id=api.name,  # type: ignore[attr-defined]
        service_name=gateway["service_name"], resource_group_name=gateway["resource_group_name"], logger_id=telemetry["logger_id"],
        always_log=apimanagement.AlwaysLog.ALL_ERRORS,
        sampling={"sampling_type": apimanagement.SamplingType.FIXED, "percentage": telemetry.get("sampling_percentage", DEFAULT_SAMPLING)},
        http_correlation_protocol=apimanagement.HttpCorrelationProtocol.W3_C, verbosity=apimanagement.Verbosity.INFORMATION,
        operation_name_format=apimanagement.OperationNameFormat.NAME, log_client_ip=telemetry.get("log_client_ip", False),
        metrics=True, frontend=pipeline, backend=pipeline, opts=pulumi.ResourceOptions(parent=parent))


def resource_logs(logical: str, parent: pulumi.Resource, resource_id: pulumi.Input[str], workspace_id: pulumi.Input[str],
                  dedicated: bool = False) -> monitor.DiagnosticSetting:
    """Every resource log (category group ``allLogs``) and metric of ``resource_id`` to the workspace (the setting is named
    after ``logical``, so that each one has a name of its own in a template); ``dedicated``
    writes them to resource-specific tables (API Management's ApiManagementGatewayLogs) instead of AzureDiagnostics."""
    args: dict[str, Any] = {"log_analytics_destination_type": "Dedicated"} if dedicated else {}
    return monitor.DiagnosticSetting(
        logical, name=f"lastmile-{logical}", resource_uri=resource_id, workspace_id=workspace_id,
        logs=[{"category_group": "allLogs", "enabled": True}], metrics=[{"category": "AllMetrics", "enabled": True}],
        opts=pulumi.ResourceOptions(parent=parent), **args)


def app_settings(telemetry: Optional[dict]) -> list[dict[str, Any]]:
    """A function app's telemetry settings: the connection string, and Microsoft Entra authentication with the app's
    system-assigned identity (learn.microsoft.com/azure/azure-functions/functions-app-settings,
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING). Nothing without telemetry."""
    if telemetry is None:
        return []
    return [{"name": "APPLICATIONINSIGHTS_CONNECTION_STRING", "value": telemetry["connection_string"]},
            {"name": "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "value": "Authorization=AAD"}]


def exported(telemetry: Optional[TelemetryRef]) -> Optional[dict]:
    """The ref as a stack exports it (camelCase), for :func:`from_export`."""
    if telemetry is None:
        return None
    return {"loggerId": telemetry["logger_id"], "workspaceId": telemetry["workspace_id"],
            "applicationInsightsId": telemetry["application_insights_id"], "connectionString": telemetry["connection_string"],
            "samplingPercentage": telemetry.get("sampling_percentage"), "logClientIp": telemetry.get("log_client_ip"),
            "headers": telemetry.get("headers")}


def from_export(field: Any) -> TelemetryRef:
    """A :class:`TelemetryRef` read from another stack's exported gateway (``field(name)`` reads one of its fields)."""
    telemetry = field("telemetry")

    def part(name: str, default: Any = None) -> pulumi.Output:
        return telemetry.apply(lambda t: (t or {}).get(name, default))

    return {"logger_id": part("loggerId"), "workspace_id": part("workspaceId"), "application_insights_id": part("applicationInsightsId"),
            "connection_string": part("connectionString"), "sampling_percentage": part("samplingPercentage", DEFAULT_SAMPLING),
            "log_client_ip": part("logClientIp", False), "headers": part("headers", [])}
