"""SecuredFunctionBackend: an Azure Function that only API Management's managed identity may call.

The story: an Entra app registration that only APIM's identity may get tokens for -> a Function App
(Flex Consumption, identity-based storage, no FTP, no basic publishing credentials) -> Easy Auth that
answers 401 to anyone but APIM's identity -> the APIM API whose policy fetches the token.
"""


from enum import Enum
from typing import Optional, Sequence, TypedDict

import pulumi
import pulumi_azuread as azuread
from pulumi_azure_native import authorization, storage, web

from . import arguments, claims, flex, naming, policy, telemetry
from .azure_rules import check_location
from .api import Operation, check_api_path, check_backend_basics, check_operations, publish_api
from .errors import LastMileError
from .gateway import GatewayRef
from .network import DENY_ALL, NetworkMode, access_restrictions, check_ranges, choose_mode, count_endpoints, private_endpoint
from .resilience import backend_entity, backend_pool, check_pool, claim_member_ids, idempotent_retry
from .roles import BUILT_IN_ROLES, assign
from .storage import keyless_account_args, private_account_args

try:
    from typing import NotRequired, Required
except ImportError:  # pragma: no cover
    from typing_extensions import NotRequired, Required

#: Runtimes the Flex Consumption plan offers, with the default version we pick (all versions: flex.RUNTIME_VERSIONS).
RUNTIMES = flex.DEFAULT_VERSIONS
#: The Function App's deployment container in its storage account.
DEPLOYMENT_CONTAINER = "app-package"
INVOKE_ROLE_VALUE = "Function.Invoke"


class RuntimeName(str, Enum):
    """A language runtime of the Flex Consumption plan."""

    PYTHON = "python"
    """Python (3.10 to 3.13)."""
    NODE = "node"
    """Node.js (20, 22)."""
    DOTNET_ISOLATED = "dotnet-isolated"
    """.NET isolated worker (8.0, 9.0, 10.0)."""
    JAVA = "java"
    """Java (11, 17, 21)."""
    POWERSHELL = "powershell"
    """PowerShell (7.4)."""


class FunctionRuntime(TypedDict, total=False):
    """The Function App's language runtime."""

    name: Required[RuntimeName]
    """The runtime."""
    version: str
    """A version Flex Consumption runs for it (dotnet-isolated: "8.0", not "8"); default python 3.11, node 20,
    dotnet-isolated 8.0, java 17, powershell 7.4."""


class FunctionReplica(TypedDict, total=False):
    """One further copy of a SecuredFunctionBackend's function app, a member of its load-balanced pool."""

    location: Required[str]
    """The replica's Azure region, e.g. northeurope."""
    priority: int
    """1-100: APIM sends to the lowest priority whose members are up; default 1 (the primary app is priority 1)."""
    weight: int
    """1-100: the share among members of one priority; default 1."""


class SecuredFunctionBackendArgs(TypedDict, total=False):
    """Arguments of SecuredFunctionBackend: an Azure Function behind Easy Auth that only the gateway's identity may
    call, and the APIM API in front of it."""

    gateway: Required[GatewayRef]
    """The gateway whose identity may call the function (Gateway.ref, or its outputs)."""
    resource_group_name: Required[pulumi.Input[str]]
    """Where the Function App lives (or lives already, when adopted)."""
    api_path: Required[str]
    """The API's path on the gateway, e.g. orders (no leading '/')."""
    app_client_id: str
    """The client id of an existing app registration; default a new one with an app role only the gateway's
    identity holds, and app role assignment required."""
    function_app_name: str
    """Adopt this existing Function App (in resource_group_name) instead of creating a Flex Consumption one."""
    operations: Sequence[Operation]
    """The API's operations; default every method on /*."""
    location: pulumi.Input[str]
    """An Azure region; default the resource group's."""
    runtime: FunctionRuntime
    """The language runtime; default python 3.11."""
    maximum_instance_count: int
    """The Flex Consumption scale-out limit, 1 to 1000; default 40."""
    subscription_required: bool
    """Callers need an APIM subscription key; default true."""
    protect: NotRequired[bool]
    """Protect the stateful children (app registration, storage) from deletion; default false."""
    network: NetworkMode
    """identity-only; gateway-ip (only the gateway's own addresses reach the function: Developer, Basic, Standard,
    Premium, Isolated); private (no public access, a private endpoint in the gateway's virtual network: Developer,
    Premium, StandardV2 with a virtual network); default the strongest the gateway supports."""
    deployment_ip_ranges: Sequence[str]
    """gateway-ip: CIDR ranges allowed on the SCM (deployment) site, e.g. your CI runners; default none. Not with
    private, where the SCM site is private too (deploy from inside the network)."""
    replicas: Sequence[FunctionReplica]
    """Further copies of the function app in other regions, load-balanced with it in one pool (priority, then weight;
    a member whose circuit breaker is open is skipped): each with its own plan, host storage and identity, behind the
    same app registration, so one token reaches any of them. Not with function_app_name or network private; on a
    tier that takes pools; default none."""
    zone_redundant: NotRequired[bool]
    """Spread the app over the region's availability zones (a zone-redundant Flex Consumption plan, which keeps at
    least two always-ready instances, billed as such) with zone-redundant (ZRS) host storage; default false. Only
    for an app this backend creates, in a region where Flex Consumption offers it."""


def _validate(name: str, args: SecuredFunctionBackendArgs) -> dict:
    gateway = check_backend_basics("SecuredFunctionBackend", name, args, SecuredFunctionBackendArgs)
    client_id = args.get("app_client_id")
    if client_id is not None:
        client_id = naming.check_guid("app_client_id", client_id)
    app_name = naming.optional(naming.FUNCTION_APP, "function_app_name", args.get("function_app_name"))
    if app_name is None:
        naming.check_prefix_fits(naming.FUNCTION_APP, "SecuredFunctionBackend name", f"func-{name}-")
    runtime = args.get("runtime") or {"name": "python"}
    runtime_name = arguments.plain(runtime.get("name")) if isinstance(runtime, dict) else runtime
    if not isinstance(runtime, dict) or not isinstance(runtime_name, str) or runtime_name not in RUNTIMES:
        raise LastMileError("runtime.name", runtime_name, f"expected one of {', '.join(RUNTIMES)}")
    arguments.check_known_keys(runtime, FunctionRuntime, "runtime.")
    runtime = {"name": runtime_name, "version": check_runtime_version(runtime_name, runtime.get("version"))}
    max_instances = args.get("maximum_instance_count", 40)
    low, high = flex.MAXIMUM_INSTANCE_COUNT
    if isinstance(max_instances, bool) or not isinstance(max_instances, int) or not low <= max_instances <= high:
        raise LastMileError("maximum_instance_count", max_instances, f"expected a whole number from {low} to {high}")
    operations = check_operations(args.get("operations"))
    network = choose_mode(args.get("network"), gateway, adopted_app=app_name is not None)
    deployment_ranges = check_ranges(args.get("deployment_ip_ranges"))
    if deployment_ranges and network != NetworkMode.GATEWAY_IP.value:
        raise LastMileError("deployment_ip_ranges", args.get("deployment_ip_ranges"),
                            f"only network gateway-ip restricts the SCM site to ranges (this backend's network is {network}"
                            + (": the SCM site has no public access either, deploy from inside the gateway's network)"
                               if network == NetworkMode.PRIVATE.value else ")"))
    api_path = check_api_path(args.get("api_path"), gateway, name, operations=operations)
    arguments.check_bool(args, "zone_redundant")
    if args.get("zone_redundant") and app_name is not None:
        raise LastMileError("zone_redundant", True, "only for a function app this backend creates: an adopted app's plan is its owner's")
    # A replica's resources are named <name>-r<n>-...: no other function backend may be called that.
    claims.CLAIMS.claim("function backend names", name, name, "SecuredFunctionBackend name", what="function backend name")
    replicas = _check_replicas(name, args.get("replicas"), gateway, app_name, network)
    if network == NetworkMode.PRIVATE.value:
        # The app's endpoint (sites) and, for an app we create, its host storage's (blob).
        count_endpoints(gateway, name, 1 if app_name is not None else 2)
        if app_name is None:
            _check_private_storage_link(gateway["private_link"])
    return {
        "network": network, "deployment_ranges": deployment_ranges,
        "gateway": gateway, "client_id": client_id, "app_name": app_name, "runtime": runtime,
        "max_instances": max_instances, "operations": operations, "api_path": api_path,
        "subscription_required": args.get("subscription_required", True),
        "protect": args.get("protect", False), "zone_redundant": bool(args.get("zone_redundant", False)),
        "replicas": replicas,
    }


def _check_replicas(name: str, replicas: object, gateway: GatewayRef, app_name: Optional[str], network: str) -> list[dict]:
    """Replicas (``[{"location": ..., "priority": ..., "weight": ...}]``): apps this backend creates, in known regions,
    on a tier that takes pools, never private (a private app joins the function subnet of the gateway's network, which
    lies in one region); their member ids are claimed on the gateway."""
    checked = check_pool(replicas, gateway, "replicas", target="location")
    if not checked:
        return []
    if app_name is not None:
        raise LastMileError("replicas", f"{len(checked)} replicas", "replicas are function apps this backend creates: not with "
                                                                     "function_app_name (adopt the others' apps as backends of their own)")
    if network == NetworkMode.PRIVATE.value:
        raise LastMileError("replicas", f"{len(checked)} replicas", "a private function app joins the function subnet of the "
                                                                     "gateway's network, which lies in one region: give this "
                                                                     "backend network gateway-ip or identity-only, or no replicas")
    regions = {}
    for index, replica in enumerate(checked):
        check_location(f"replicas[{index}].location", replica["location"])
        region = replica["location"].replace(" ", "").lower()
        if region in regions:
            raise LastMileError(f"replicas[{index}].location", replica["location"], f"replicas[{regions[region]}] is in that region "
                                                                                  "already: one replica per region")
        regions[region] = index
        claims.CLAIMS.claim("function backend names", f"{name}-r{index + 1}", name, "replicas", what="function backend name")
    naming.check_prefix_fits(naming.FUNCTION_APP, "SecuredFunctionBackend name", f"func-{name}-r{len(checked)}-")
    claim_member_ids(name, gateway, len(checked) + 1, "replicas")
    return checked


def _field(result: object, key: str) -> object:
    """A field of a data-source result, whether Output.all handed it back as a typed object or a dict."""
    return result.get(key) if isinstance(result, dict) else getattr(result, key, None)


def token_version_of(apis: Sequence) -> int:
    """The access token version an app registration's ``api`` block asks for (1 when unset, as Entra ID does)."""
    for api in apis or ():
        version = _field(api, "requested_access_token_version")
        if version:
            return int(version)
    return 1


def token_issuer(tenant_id: str, version: int) -> str:
    """The ``iss`` of an access token of ``version`` (learn.microsoft.com/entra/identity-platform/access-tokens): the
    resource app's ``requestedAccessTokenVersion`` decides it, whichever identity (system- or user-assigned) asks."""
    if version == 2:
        return f"https://login.microsoftonline.com/{tenant_id}/v2.0"
    return f"https://sts.windows.net/{tenant_id}/"


def check_runtime_version(name: str, version: object, key: str = "runtime.version") -> str:
    """The Flex Consumption version of runtime ``name`` (its default when ``version`` is empty)."""
    if version in (None, ""):
        return RUNTIMES[name]
    versions = flex.RUNTIME_VERSIONS[name]
    if str(version) not in versions:
        hint = f" (write '{version}.0')" if f"{version}.0" in versions else ""
        raise LastMileError(
            key, version,
            f"Flex Consumption runs {name} {', '.join(versions)}{hint}; "
            "see az functionapp list-flexconsumption-runtimes --location <region>",
        )
    return str(version)


class SecuredFunctionBackend(pulumi.ComponentResource):
    """An Azure Function behind Easy Auth that accepts only the gateway's managed identity."""

    api_url: pulumi.Output[str]
    """The API's public URL on the gateway."""
    policy_xml: pulumi.Output[str]
    """The exact policy XML sent to APIM."""
    function_app_name: pulumi.Output[str]
    """The Function App's name (deploy your code to it)."""
    function_url: pulumi.Output[str]
    """The function's own https://<host>/api URL (it answers 401 to anyone but the gateway)."""
    app_client_id: pulumi.Output[str]
    """The client id of the app registration the gateway gets tokens for."""
    network: pulumi.Output[str]
    """The network mode built: identity-only, gateway-ip or private (lastmile verify checks it)."""
    replica_app_names: pulumi.Output[list[str]]
    """The replicas' Function App names, in the order of replicas (deploy the same code to each); empty without."""
    replica_function_urls: pulumi.Output[list[str]]
    """The replicas' own https://<host>/api URLs (each answers 401 to anyone but the gateway); empty without."""

    def __init__(self, name: str, args: SecuredFunctionBackendArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        v = _validate(name, args)
        super().__init__("apim-lastmile:index:SecuredFunctionBackend", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        self._stateful = pulumi.ResourceOptions(parent=self, protect=True if v["protect"] else None)
        gateway: GatewayRef = v["gateway"]
        rg = args["resource_group_name"]
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        # 1. Identity: who may get a token for this function, and the token version (hence issuer) it gets.
        if v["client_id"]:
            client_id = pulumi.Output.from_input(v["client_id"])
            token_version, identity_ready = self._adopted_app(v["client_id"]), []
        else:
            client_id, identity_ready = self._app_registration(gateway)
            token_version = pulumi.Output.from_input(2)

        # 2. The function itself, created or adopted, and in network mode private its endpoint in the gateway's network;
        #    replicas in other regions (apps of their own, the same registration).
        reachable: list[pulumi.Resource] = []
        if v["app_name"] is None:
            app_name, host, app_id = self._function_app(name, rg, args.get("location"), v, gateway)
            if v["network"] == NetworkMode.PRIVATE.value:
                reachable.append(private_endpoint(name, self, rg, app_id, "sites", gateway["private_link"]))
        else:
            existing = web.get_web_app_output(name=v["app_name"], resource_group_name=rg, opts=pulumi.InvokeOutputOptions(parent=self))
            app_name, host, app_id = pulumi.Output.from_input(v["app_name"]), existing.default_host_name, existing.id
        apps = [(name, app_name, host, app_id)] + [
            (label, *self._function_app(label, rg, replica["location"], v, gateway))
            for label, replica in ((f"{name}-r{i + 1}", r) for i, r in enumerate(v["replicas"]))]
        issuer = pulumi.Output.all(client.tenant_id, token_version).apply(lambda t: token_issuer(*t))
        for label, each_name, _, _ in apps:
            self._lock_down(label, each_name, rg)
            # 3. Easy Auth: 401 for anyone without a token, and only APIM's identity with one.
            self._easy_auth(label, each_name, rg, client_id, issuer, gateway["principal_id"])

        # 4. APIM: a backend entity for the function (for each member of the pool, with replicas), and the API whose
        # policy carries the token. A cold or failing function: APIM stops calling it for a while instead of
        # hammering it (resilience.py); with replicas, the pool sends to another member meanwhile.
        def entity(backend_id: str, label: str, each_host, each_id, logical: Optional[str] = None):
            return backend_entity(backend_id, self, gateway, pulumi.Output.concat("https://", each_host, "/api"),
                                  f"Azure Function for {label}, reached with APIM's managed identity",
                                  resource_id=pulumi.Output.concat("https://management.azure.com", each_id), logical=logical)

        if not v["replicas"]:
            backend = entity(name, name, host, app_id)
        else:
            shares = [(1, 1)] + [(r["priority"], r["weight"]) for r in v["replicas"]]
            members = [(entity(f"{name}-{i + 1}", label, each_host, each_id, logical=f"{name}-member-{i + 1}"), *shares[i])
                       for i, (label, _, each_host, each_id) in enumerate(apps)]
            backend = backend_pool(name, self, gateway, members, f"Azure Functions for {name}: a load-balanced pool over its regions")
        self.policy_xml = pulumi.Output.all(client_id, gateway.get("identity_client_id")).apply(
            lambda ids: policy.render(
                inbound=[
                    policy.managed_identity_auth(resource=ids[0], client_id=ids[1]),
                    policy.set_backend_service(backend_id=name),
                ],
                backend=[idempotent_retry()], backend_base=False,
            )
        )
        self.api_url = publish_api(
            name, self, gateway, v["api_path"], v["operations"], self.policy_xml,
            display_name=f"{name} (Azure Function)", subscription_required=v["subscription_required"],
            # No traffic before the token can be issued: no service principal is AADSTS500011, no app role
            # assignment AADSTS501051.
            # No traffic before the gateway can resolve and reach a private function either.
            depends_on=[backend, *identity_ready, *reachable],
        )
        self.function_app_name = app_name
        self.function_url = pulumi.Output.concat("https://", host, "/api")
        self.replica_app_names = pulumi.Output.all(*(each_name for _, each_name, _, _ in apps[1:]))
        self.replica_function_urls = pulumi.Output.all(*(pulumi.Output.concat("https://", each_host, "/api") for _, _, each_host, _ in apps[1:]))
        self.app_client_id = client_id
        self.network = pulumi.Output.from_input(v["network"])
        self.register_outputs(
            {
                "api_url": self.api_url, "policy_xml": self.policy_xml, "function_app_name": app_name,
                "function_url": self.function_url, "app_client_id": client_id, "network": self.network,
                "replica_app_names": self.replica_app_names, "replica_function_urls": self.replica_function_urls,
            }
        )

    def _adopted_app(self, client_id: str) -> pulumi.Output[int]:
        """The token version of an adopted app registration, after checking at deploy time (preview included) that
        APIM can get a token for it: a service principal in the tenant, else every call fails with AADSTS500011."""
        invoke = pulumi.InvokeOutputOptions(parent=self)
        app = azuread.get_application_output(client_id=client_id, opts=invoke)
        principals = azuread.get_service_principals_output(client_ids=[client_id], ignore_missing=True, opts=invoke)

        def check(values) -> int:
            apis, found = values
            if not found:
                raise LastMileError(
                    "app_client_id", client_id,
                    "this app registration has no service principal in the tenant, so APIM's token request would fail with "
                    f"AADSTS500011 (resource principal not found): create one with az ad sp create --id {client_id}",
                )
            if _field(found[0], "app_role_assignment_required"):
                pulumi.log.warn(
                    f"app_client_id {client_id}: its service principal requires an app role assignment; assign one to the "
                    "gateway's identity, or Entra ID refuses APIM's token with AADSTS501051", self,
                )
            return token_version_of(apis)

        return pulumi.Output.all(app.apis, principals.service_principals).apply(check)

    def _app_registration(self, gateway: GatewayRef) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
        """An app registration only the gateway's identity can get tokens for; returns its client id and the
        resources that must exist before APIM asks for a token (service principal, app role assignment)."""
        name = self._name
        app = azuread.ApplicationRegistration(
            f"{name}-app",
            display_name=f"apim-lastmile {name} ({pulumi.get_stack()})",
            sign_in_audience="AzureADMyOrg",
            requested_access_token_version=2,
            opts=self._stateful,
        )
        azuread.ApplicationIdentifierUri(
            f"{name}-app-uri", application_id=app.id, identifier_uri=pulumi.Output.concat("api://", app.client_id), opts=self._child
        )
        role = azuread.ApplicationAppRole(
            f"{name}-app-role",
            application_id=app.id,
            role_id=naming.stable_uuid(pulumi.get_project(), name, INVOKE_ROLE_VALUE),
            allowed_member_types=["Application"],
            display_name="Invoke the function through API Management",
            description="Granted only to the API Management gateway's managed identity.",
            value=INVOKE_ROLE_VALUE,
            opts=self._child,
        )
        principal = azuread.ServicePrincipal(
            f"{name}-sp", client_id=app.client_id, app_role_assignment_required=True, opts=self._child
        )
        assignment = azuread.AppRoleAssignment(
            f"{name}-apim-invoke",
            app_role_id=role.role_id,
            principal_object_id=gateway["principal_id"],
            resource_object_id=principal.object_id,
            opts=self._child,
        )
        return app.client_id, [principal, assignment]

    def _function_app(self, name: str, rg, location, v: dict, gateway: GatewayRef) -> tuple:
        """A Flex Consumption Function App (``name``: the component's, or a replica's ``<name>-r<n>``) that reaches its
        storage with its own identity (no keys). In network mode private the storage has no public access either: the
        app sends its outbound traffic into the gateway's network (the function subnet) and reaches the storage's blob
        endpoint through a private endpoint there."""
        private = v["network"] == NetworkMode.PRIVATE.value
        suffix = naming.unique_suffix(name, self, keepers={"resourceGroup": rg, "location": location})
        account = storage.StorageAccount(
            f"{name}-storage",
            account_name=pulumi.Output.concat("st", naming.alnum(name)[:16], suffix),
            resource_group_name=rg,
            location=location,
            opts=self._stateful,
            **keyless_account_args(v["zone_redundant"]),
            **(private_account_args() if private else {}),
        )
        storage.BlobContainer(
            f"{name}-package",
            account_name=account.name,
            resource_group_name=rg,
            container_name=DEPLOYMENT_CONTAINER,
            public_access=storage.PublicAccess.NONE,
            opts=self._child,
        )
        subnet_id, app_opts = None, self._child
        if private:
            link = gateway["private_link"]
            # The host needs blob only for HTTP triggers (AzureWebJobsStorage and the deployment package: Microsoft's
            # Flex quickstarts, infra/main.bicep enableBlob; queue and table are for Durable Functions and other triggers).
            storage_endpoint = private_endpoint(f"{name}-storage", self, rg, account.id, "blob", link)
            # Azure creates one Flex app at a time on a subnet (two at once fail: hashicorp/terraform-provider-azurerm#32089).
            queue = ("function subnet", claims.gateway_key(gateway["service_name"]))
            subnet_id = pulumi.Output.from_input(link.get("integration_subnet_id")).apply(_integration_subnet)
            app_opts = pulumi.ResourceOptions(parent=self, depends_on=[storage_endpoint, *claims.CLAIMS.last(queue)])
        plan = web.AppServicePlan(
            f"{name}-plan",
            name=pulumi.Output.concat("plan-", name, "-", suffix),
            resource_group_name=rg,
            location=location,
            kind="functionapp",
            reserved=True,
            sku={"name": "FC1", "tier": "FlexConsumption"},
            # Always written, so turning it off is a change too (Azure restarts the app for either).
            zone_redundant=v["zone_redundant"],
            opts=self._child,
        )
        app = web.WebApp(
            f"{name}-function",
            name=pulumi.Output.concat("func-", name, "-", suffix),
            resource_group_name=rg,
            location=location,
            kind="functionapp,linux",
            server_farm_id=plan.id,
            https_only=True,
            identity={"type": web.ManagedServiceIdentityType.SYSTEM_ASSIGNED},
            site_config={
                "min_tls_version": web.SupportedTlsVersions.SUPPORTED_TLS_VERSIONS_1_2,
                "scm_min_tls_version": web.SupportedTlsVersions.SUPPORTED_TLS_VERSIONS_1_2,
                # No ftps_state: Flex Consumption has no FTP(S) at all and refuses the property (flex.py); basic-auth
                # publishing is turned off below. A dict, not SiteConfigArgs, whose defaults (netFrameworkVersion)
                # Flex refuses too (pulumi/pulumi-azure-native#4168).
                "http20_enabled": True,
                # Identity-based host storage: an account name, never a connection string.
                # Telemetry (when the gateway has it): Application Insights with the app's own identity, no key.
                "app_settings": [{"name": "AzureWebJobsStorage__accountName", "value": account.name},
                                 *telemetry.app_settings(gateway.get("telemetry"))],
                **(access_restrictions(gateway["outbound_ips"], v["deployment_ranges"]) if v["network"] == "gateway-ip" else {}),
                # private: should public access ever be turned back on, every address is still denied (access
                # restrictions do not apply to traffic through the private endpoint: app-service overview-private-endpoint).
                **(DENY_ALL if v["network"] == NetworkMode.PRIVATE.value else {}),
            },
            # private: no public access to the site or its SCM site; the gateway comes through the private endpoint.
            # Always written: left unset, Azure decides from whether a private endpoint exists, and a mode change
            # back from private would keep whatever the app had.
            public_network_access="Disabled" if v["network"] == NetworkMode.PRIVATE.value else "Enabled",
            function_app_config={
                "deployment": {
                    "storage": {
                        "type": web.FunctionsDeploymentStorageType.BLOB_CONTAINER,
                        "value": pulumi.Output.concat(account.primary_endpoints.blob, DEPLOYMENT_CONTAINER),
                        "authentication": {"type": web.AuthenticationType.SYSTEM_ASSIGNED_IDENTITY},
                    }
                },
                "runtime": v["runtime"],
                "scale_and_concurrency": {"maximum_instance_count": v["max_instances"], "instance_memory_mb": 2048},
            },
            # private: outbound traffic (to the storage's private endpoint) through the gateway network's function subnet.
            virtual_network_subnet_id=subnet_id,
            opts=app_opts,
        )
        if private:
            claims.CLAIMS.enqueue(queue, app)
        # The host keeps its leases and the deployment package in blobs: Storage Blob Data Owner on
        # this one account (what Functions documents for identity-based AzureWebJobsStorage).
        assign(
            f"{name}-storage-access",
            principal_id=app.identity.apply(lambda i: i.principal_id),
            role_guid=BUILT_IN_ROLES["Storage Blob Data Owner"],
            scope=account.id,
            description=f"{name}: the function's host storage, reached with its managed identity",
            parent=self,
        )
        sink = gateway.get("telemetry")
        if sink is not None:
            telemetry.grant_publisher(f"{name}-telemetry-publisher", self, app.identity.apply(lambda i: i.principal_id),
                                      sink["application_insights_id"], f"{name}: the function sends its telemetry with its managed identity")
            telemetry.resource_logs(f"{name}-resource-logs", self, app.id, sink["workspace_id"])
        return app.name, app.default_host_name, app.id

    def _easy_auth(self, label: str, app_name: pulumi.Input[str], rg: pulumi.Input[str], client_id: pulumi.Input[str],
                   issuer: pulumi.Input[str], gateway_principal: pulumi.Input[str]) -> None:
        """App Service Authentication on one app: 401 for anyone without a token, and only the gateway's identity with
        one (tokens of the app registration ``client_id``, from ``issuer``: the registration's token version decides it)."""
        web.WebAppAuthSettingsV2(
            f"{label}-auth",
            name=app_name,
            resource_group_name=rg,
            platform={"enabled": True, "runtime_version": "~1"},
            global_validation={
                "require_authentication": True,
                "unauthenticated_client_action": web.UnauthenticatedClientActionV2.RETURN401,
            },
            http_settings={"require_https": True},
            login={"token_store": {"enabled": False}},
            identity_providers={
                "azure_active_directory": {
                    "enabled": True,
                    "registration": {"client_id": client_id, "open_id_issuer": issuer},
                    "validation": {
                        "allowed_audiences": [client_id, pulumi.Output.concat("api://", client_id)],
                        "default_authorization_policy": {"allowed_principals": {"identities": [gateway_principal]}},
                    },
                }
            },
            # Retained: deleting auth settings resets the app to no authentication, which would open an adopted app
            # to anonymous callers; a destroyed app takes its settings along.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )

    def _lock_down(self, label: str, app_name: pulumi.Input[str], rg: pulumi.Input[str]) -> None:
        """No FTP and no SCM basic-auth publishing credentials: deployments go through Entra ID.

        ``retain_on_delete``: azure-native deletes these settings by writing ``allow: true``
        (pulumi/pulumi-azure-native#2537), so removing the component, or a refactor that replaces these resources,
        would turn basic-auth publishing back on. Retained, the setting stays off; a destroyed app takes it along.
        """
        keep = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        web.WebAppFtpAllowed(f"{label}-no-ftp-basic-auth", name=app_name, resource_group_name=rg, allow=False, opts=keep)
        web.WebAppScmAllowed(f"{label}-no-scm-basic-auth", name=app_name, resource_group_name=rg, allow=False, opts=keep)


def _check_private_storage_link(link: dict) -> None:
    """A private function app we create keeps its host storage private too: the gateway's network must resolve the
    blob zone and offer the subnet the app integrates with (a hand-built ref must say both)."""
    zones = link.get("dns_zone_ids")
    if isinstance(zones, dict) and not zones.get("blob"):
        raise LastMileError("gateway.private_link.dns_zone_ids.blob", None, "a private function app's host storage is private "
                                                                            "too (a blob private endpoint): give the ref the "
                                                                            "network's privatelink.blob.core.windows.net zone id")
    if "integration_subnet_id" not in link:
        raise LastMileError("gateway.private_link.integration_subnet_id", None, "a private function app reaches its private "
                                                                                "host storage from a subnet delegated to "
                                                                                "Microsoft.App/environments in the gateway's "
                                                                                "network: give the ref that subnet's id")


def _integration_subnet(subnet_id: Optional[str]) -> str:
    if not subnet_id:
        raise LastMileError("network", "private", "the gateway ref's private_link has no integration_subnet_id (a gateway stack "
                                                  "made before private function storage): run `pulumi up` on the gateway's stack "
                                                  "first, or use network identity-only")
    return subnet_id
