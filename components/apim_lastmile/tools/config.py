"""The stack config schema: typed, validated as a whole before any resource is registered.

Keys live under the project namespace in ``stacks/Pulumi.<env>.yaml``::

    config:
      azure-native:location: westeurope
      apim-lastmile:resourceGroup: {name: rg-lastmile-dev}
      apim-lastmile:gateway: {publisherEmail: ..., publisherName: ..., sku: Consumption}
      apim-lastmile:functionBackends:
        - {name: orders, apiPath: orders}

Errors name the full config key (``apim-lastmile:functionBackends[1].apiPath``), the value and the fix.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .. import arguments, audiences, claims, naming
from ..entra_backend import check_backend_url, check_headers, check_role_assignments
from ..errors import NOT_SHOWN, ConfigError, LastMileError, Shown
from ..azure_rules import check_location, did_you_mean
from ..network import choose_mode
from ..storage import STORAGE_REFUSED

PROJECT_KEYS = ("resourceGroup", "gateway", "functionBackends", "secretBackends", "entraBackends", "dataLakeReaders", "protect",
                "zoneRedundant")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


def _rule(rule: naming.NameRule):
    return lambda v: v if v is None else rule.check("value", v)


def _api_path(v: str) -> str:
    if v.startswith("/"):
        raise LastMileError("apiPath", v, "an API path has no leading '/': write 'orders', not '/orders'")
    return naming.API_PATH.check("apiPath", v)


class ResourceGroupConfig(_Model):
    """``resourceGroup``: the environment's resource group (created by the program)."""

    name: str
    location: Optional[str] = None

    _name = field_validator("name")(lambda cls, v: naming.RESOURCE_GROUP.check("name", v))
    _location = field_validator("location")(lambda cls, v: v if v is None else check_location("location", v))



class ExternalCacheConfig(_Model):
    """``gateway.externalCache``: an external Redis cache; its connection string (with the access key) lives in the
    secret config key ``connectionStringConfigKey`` (``pulumi config set --secret``), never in the stack file."""

    connection_string_config_key: str
    use_from_location: str = "default"
    redis_resource_id: Optional[str] = None

    _rid = field_validator("redis_resource_id")(lambda cls, v: v if v is None else naming.check_resource_id("redisResourceId", v))


class VirtualNetworkConfig(_Model):
    """``gateway.virtualNetwork``: the gateway's virtual network, for backends in network mode private (see
    :class:`apim_lastmile.VirtualNetworkArgs`; the private DNS zones follow from the backends)."""

    address_prefix: str


class TelemetryConfig(_Model):
    """``gateway.telemetry``: Application Insights and resource logs without a key (see
    :class:`apim_lastmile.TelemetryArgs`); ``{}`` for the defaults."""

    workspace_id: Optional[str] = None
    application_insights_id: Optional[str] = None
    # Numbers and switches as written (no coercion of true to 1 or "yes" to True): TelemetryArgs checks them.
    retention_in_days: Optional[StrictInt] = None
    sampling_percentage: Optional[StrictFloat] = None
    log_client_ip: Optional[StrictBool] = None
    headers: Optional[list[str]] = None

    def args(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class GatewayConfig(_Model):
    """``gateway``: the API Management service (see :class:`apim_lastmile.GatewayArgs`)."""

    name: str = "lastmile"
    publisher_email: str
    publisher_name: str
    sku: str = "Consumption"
    capacity: Optional[int] = None
    service_name: Optional[str] = None
    user_assigned_identity: bool = False
    external_cache: Optional[ExternalCacheConfig] = None
    virtual_network: Optional[VirtualNetworkConfig] = None
    telemetry: Optional[TelemetryConfig] = None

    # Every value is checked by Gateway's own validation, run on these args by _check_components (one path).

    def args(self, private_dns_zones: tuple[str, ...] = ()) -> dict[str, Any]:
        """The GatewayArgs this entry sets (the program sets the resource group, location, protect and the external
        cache; "rg" stands in for the group until then). ``private_dns_zones``: the private link groups the
        backends' endpoints need besides sites."""
        out: dict[str, Any] = {"resource_group_name": "rg", "publisher_email": self.publisher_email,
                               "publisher_name": self.publisher_name, "sku": self.sku,
                               "user_assigned_identity": self.user_assigned_identity}
        if self.capacity is not None:
            out["capacity"] = self.capacity
        if self.service_name:
            out["service_name"] = self.service_name
        if self.virtual_network is not None:
            out["virtual_network"] = {"address_prefix": self.virtual_network.address_prefix,
                                      "private_dns_zones": ["sites", *private_dns_zones]}
        if self.telemetry is not None:
            out["telemetry"] = self.telemetry.args()
        return out


class OperationConfig(_Model):
    method: str
    url_template: str


class _BackendEntry(_Model):
    """What every backend entry has: a name, an API path, operations and the subscription switch."""

    name: str
    api_path: str
    operations: Optional[list[OperationConfig]] = None
    subscription_required: bool = True

    def _operations(self) -> list[dict]:
        return [op.model_dump() for op in self.operations or ()]

    def _common_args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"api_path": self.api_path, "subscription_required": self.subscription_required}
        if self.operations is not None:
            out["operations"] = self._operations()
        return out


class ReplicaConfig(_Model):
    """One replica of a ``functionBackends`` entry: its region, priority and weight in the entry's pool."""

    location: str
    priority: StrictInt = 1
    weight: StrictInt = 1


class FunctionBackendConfig(_BackendEntry):
    """One entry of ``functionBackends`` (see :class:`apim_lastmile.SecuredFunctionBackendArgs`)."""

    app_client_id: Optional[str] = None
    function_app_name: Optional[str] = None
    runtime: Optional[str] = None
    runtime_version: Optional[str] = None
    maximum_instance_count: Optional[int] = None
    network: Optional[str] = None
    deployment_ip_ranges: Optional[list[str]] = None
    replicas: list[ReplicaConfig] = []

    # Checked by SecuredFunctionBackend's own validation (names, client id, runtime and version, network, replicas...).

    def args(self) -> dict[str, Any]:
        """The keyword arguments of SecuredFunctionBackendArgs this entry sets (gateway and group aside)."""
        out = self._common_args()
        if self.app_client_id:
            out["app_client_id"] = self.app_client_id
        if self.function_app_name:
            out["function_app_name"] = self.function_app_name
        if self.runtime:
            out["runtime"] = {"name": self.runtime, "version": self.runtime_version}
        if self.maximum_instance_count is not None:
            out["maximum_instance_count"] = self.maximum_instance_count
        if self.network is not None:
            out["network"] = self.network
        if self.deployment_ip_ranges is not None:
            out["deployment_ip_ranges"] = list(self.deployment_ip_ranges)
        if self.replicas:
            out["replicas"] = [r.model_dump() for r in self.replicas]
        return out


class SecretBackendConfig(_BackendEntry):
    """One entry of ``secretBackends`` (see :class:`apim_lastmile.KeyVaultSecretBackendArgs`).

    The password is generated (``rotation`` regenerates it) or read from the secret config key named by
    ``secretConfigKey`` (set it with ``pulumi config set --secret``); it never sits in the stack file.
    """

    backend_url: str
    username: str
    delivery: str = "named-value"
    cache_seconds: Optional[int] = None
    key_vault_name: Optional[str] = None
    key_vault_resource_group_name: Optional[str] = None
    secret_name: Optional[str] = None
    secret_config_key: Optional[str] = None
    rotation: Optional[str] = None
    soft_delete_retention_days: int = 90

    # Checked by KeyVaultSecretBackend's own validation (names, URL, username, delivery, cache, retention...).

    def args(self) -> dict[str, Any]:
        """The KeyVaultSecretBackendArgs this entry sets (gateway, group and secret value aside)."""
        out = self._common_args()
        out.update(backend_url=self.backend_url, username=self.username, delivery=self.delivery,
                   soft_delete_retention_days=self.soft_delete_retention_days)
        # Checked by the component itself (range, and only with send-request delivery), reported at cacheSeconds.
        for key in ("key_vault_name", "key_vault_resource_group_name", "secret_name", "rotation", "cache_seconds"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


class RoleAssignmentConfig(_Model):
    role: str
    scope: str


class PoolMemberConfig(_Model):
    """One further endpoint of an ``entraBackends`` entry's load-balanced pool."""

    url: str
    priority: int = 1
    weight: int = 1

    _url = field_validator("url")(lambda cls, v: check_backend_url(v, "url"))


class EntraBackendConfig(_BackendEntry):
    """One entry of ``entraBackends`` (see :class:`apim_lastmile.EntraBackendArgs`): a service that exists
    already, named by its URL, audience and the resource ids the gateway gets a role on; ``pool`` adds further
    endpoints of the same service, load-balanced with ``backendUrl``."""

    backend_url: str
    audience: str
    role_assignments: list[RoleAssignmentConfig] = []
    headers: dict[str, str] = {}
    pool: list[PoolMemberConfig] = []

    _name = field_validator("name")(lambda cls, v: naming.COMPONENT_NAME.check("name", v))
    _url = field_validator("backend_url")(lambda cls, v: check_backend_url(v, "backendUrl"))

    @model_validator(mode="after")
    def _service(self) -> "EntraBackendConfig":
        _, entry = audiences.resolve(self.audience)
        check_role_assignments([r.model_dump() for r in self.role_assignments], entry, "roleAssignments")
        check_headers(self.headers, entry.headers if entry else {})
        return self

    def args(self) -> dict[str, Any]:
        """The EntraBackendArgs this entry sets (gateway aside)."""
        out = self._common_args()
        out.update(backend_url=self.backend_url, audience=self.audience, headers=dict(self.headers),
                   role_assignments=[r.model_dump() for r in self.role_assignments])
        if self.pool:
            out["pool"] = [m.model_dump() for m in self.pool]
        return out


class DataLakeReaderConfig(_BackendEntry):
    """One entry of ``dataLakeReaders``: the worked example of an EntraBackend. The program creates a Data Lake
    Gen2 account (hierarchical namespace, no shared keys) and a container, and publishes read-only access to it."""

    container: str
    network: Optional[str] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        naming.COMPONENT_NAME.check("name", v)
        naming.check_prefix_fits(naming.STORAGE_ACCOUNT, "name", "dl" + naming.alnum(v)[:16])
        return v

    _container = field_validator("container")(lambda cls, v: naming.BLOB_CONTAINER.check("container", v))

    @model_validator(mode="after")
    def _read_only(self) -> "DataLakeReaderConfig":
        for index, op in enumerate(self.operations or ()):
            if op.method not in ("GET", "HEAD"):
                raise LastMileError(f"operations[{index}].method", op.method, "a Data Lake reader is read-only: GET or HEAD")
        return self

    def args(self) -> dict[str, Any]:
        """The EntraBackendArgs this entry sets besides gateway, backend_url, audience and role (the program's)."""
        return self._common_args()

    def network_mode(self, gateway: dict) -> str:
        """The account's network mode on ``gateway`` (a GatewayRef): this entry's, or the strongest available."""
        return choose_mode(self.network, gateway, adopted_app=False, refused=STORAGE_REFUSED)


class EnvironmentConfig(_Model):
    """The whole environment: resource group, gateway and backends."""

    resource_group: ResourceGroupConfig
    gateway: GatewayConfig
    function_backends: list[FunctionBackendConfig] = []
    secret_backends: list[SecretBackendConfig] = []
    entra_backends: list[EntraBackendConfig] = []
    data_lake_readers: list[DataLakeReaderConfig] = []
    protect: bool = False
    #: Zone-redundant function apps (plans and host storage) and Data Lake accounts; Key Vault is zone-redundant by itself.
    zone_redundant: bool = False

    def gateway_args(self) -> dict[str, Any]:
        """The gateway's args from its entry, its network resolving what the private backends need (dfs, and blob,
        to which Data Lake operations may be redirected, for the Data Lake readers that may be private)."""
        # A Data Lake reader may be private on a gateway with a network unless it opts out.
        lakes = self.gateway.virtual_network is not None and any(r.network in (None, "private") for r in self.data_lake_readers)
        return self.gateway.args(("blob", "dfs") if lakes else ())


def secret_config_keys(values: dict[str, Any]) -> set[str]:
    """The config keys the stack names as holding a secret (a backend's password, the external cache's connection)."""
    backends = values.get("secretBackends")
    keys = [b.get("secretConfigKey") for b in backends if isinstance(b, dict)] if isinstance(backends, list) else []
    gateway = values.get("gateway")
    cache = gateway.get("externalCache") if isinstance(gateway, dict) else None
    if isinstance(cache, dict):
        keys.append(cache.get("connectionStringConfigKey"))
    return {k for k in keys if isinstance(k, str)}  # a key of another type is refused at its place by the schema


#: Python argument -> config key, where they are not the same words (the rest is camelCased segment by segment).
_CONFIG_KEYS = {"runtime.name": "runtime", "runtime.version": "runtimeVersion", "secret_value": "secretConfigKey"}
_CHECK_REF = {"service_name": "apim-config-check", "resource_group_name": "rg-config-check",
              "principal_id": "00000000-0000-4000-8000-00000000c0de"}


def config_key(argument: str) -> str:
    """The config key for a component argument path (``operations[0].url_template`` -> ``operations[0].urlTemplate``)."""
    if argument.endswith(" name"):  # "SecuredFunctionBackend name": the component's name
        return "name"
    return _CONFIG_KEYS.get(argument) or arguments.camel_path(argument)


def _check_components(env: EnvironmentConfig, project: str) -> None:
    """Run every component's own argument checks on the args the program will pass, before anything is registered,
    and report a failure at its config key. The gateway reference is a stand-in with the stack's tier and cache."""
    from ..entra_backend import _validate as entra
    from ..function_backend import _validate as function
    from ..gateway import _validate as gateway
    from ..keyvault_backend import _validate as secret

    ref = {**_CHECK_REF, "sku": env.gateway.sku, "outbound_ips": []}  # as Gateway.ref carries them
    if env.gateway.external_cache is not None:
        ref["cache"] = "external"
    if env.gateway.virtual_network is not None:
        from ..network import PRIVATE_DNS_ZONES, check_virtual_network, subnet_capacity

        try:
            network = check_virtual_network(env.gateway_args().get("virtual_network"), env.gateway.sku)
        except LastMileError:
            network = None  # the gateway's own check below reports it at its key
        zones = {group: _CHECK_SUBNET.split("/providers/")[0] + f"/providers/Microsoft.Network/privateDnsZones/{zone}"
                 for group, zone in PRIVATE_DNS_ZONES.items()}
        ref["private_link"] = {"subnet_id": _CHECK_SUBNET, "location": "westeurope", "dns_zone_ids": zones,
                               "integration_subnet_id": _CHECK_SUBNET}
        if network is not None:  # as Gateway.ref carries it, so the endpoints are counted here too
            ref["private_link"]["endpoint_capacity"] = subnet_capacity(network["endpoint_subnet"])
    checks: list[tuple[str, Any]] = [("gateway", lambda: gateway(env.gateway.name, env.gateway_args()))]
    for i, b in enumerate(env.function_backends):
        checks.append((f"functionBackends[{i}]", lambda b=b: function(b.name, {"gateway": ref, "resource_group_name": "rg", **b.args()})))
    for i, b in enumerate(env.secret_backends):
        checks.append((f"secretBackends[{i}]", lambda b=b: secret(b.name, {"gateway": ref, "resource_group_name": "rg", **b.args()})))
    for i, b in enumerate(env.entra_backends):
        checks.append((f"entraBackends[{i}]", lambda b=b: entra(b.name, {"gateway": ref, **b.args()})))
    for i, b in enumerate(env.data_lake_readers):
        lake = {"gateway": ref, "backend_url": "https://configcheck.dfs.core.windows.net/raw", "audience": "storage",
                "role_assignments": [{"role": "Storage Blob Data Reader", "scope": _CHECK_CONTAINER}], **b.args()}
        checks.append((f"dataLakeReaders[{i}]", lambda b=b, lake=lake: entra(b.name, lake)))
        checks.append((f"dataLakeReaders[{i}]", lambda b=b: _lake_endpoints(b, ref)))
    with claims.CLAIMS.isolated():
        for where, check in checks:
            try:
                check()
            except LastMileError as exc:
                raise ConfigError(f"{project}:{where}.{config_key(exc.key)}", exc.value, exc.expected) from None


def _lake_endpoints(reader: "DataLakeReaderConfig", ref: dict) -> None:
    """A Data Lake reader's mode on the stand-in gateway; a private one adds two endpoints (dfs and blob)."""
    from ..network import count_endpoints

    if reader.network_mode(ref) == "private":
        count_endpoints(ref, reader.name, 2)


_CHECK_SUBNET = ("/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Network/"
                 "virtualNetworks/vnet/subnets/private-endpoints")
_CHECK_CONTAINER = ("/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/"
                    "storageAccounts/configcheck/blobServices/default/containers/raw")


def _check_unique(env: EnvironmentConfig, project: str) -> None:
    """Backend names and API paths must be unique: APIM rejects a second API on the same path."""
    entries = [(f"functionBackends[{i}]", b) for i, b in enumerate(env.function_backends)]
    entries += [(f"secretBackends[{i}]", b) for i, b in enumerate(env.secret_backends)]
    entries += [(f"entraBackends[{i}]", b) for i, b in enumerate(env.entra_backends)]
    entries += [(f"dataLakeReaders[{i}]", b) for i, b in enumerate(env.data_lake_readers)]
    for field_name, get in (("name", lambda b: b.name), ("apiPath", lambda b: b.api_path.lower())):
        seen: dict[str, str] = {}
        for where, backend in entries:
            value = get(backend)
            if value in seen:
                raise ConfigError(
                    f"{project}:{where}.{field_name}", value,
                    f"already used by {seen[value]}; each backend needs its own {field_name}",
                )
            seen[value] = where
    for index, backend in enumerate(env.secret_backends):
        key = backend.secret_config_key
        if key is not None and key in PROJECT_KEYS:
            raise ConfigError(f"{project}:secretBackends[{index}].secretConfigKey", key, "name a secret config key of its own, e.g. legacyPassword")
    cache = env.gateway.external_cache
    if cache is not None and cache.connection_string_config_key in PROJECT_KEYS:
        raise ConfigError(f"{project}:gateway.externalCache.connectionStringConfigKey", cache.connection_string_config_key,
                          "name a secret config key of its own, e.g. redisConnection")


def _keys_at(loc: tuple) -> set[str]:
    """The config keys of the object at ``loc`` (a pydantic error location): a near miss is suggested from those, not
    from every object's keys."""
    import typing

    model: Any = EnvironmentConfig
    for part in loc:
        if isinstance(part, int):
            continue
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        field = next((f for name, f in fields.items() if part in (name, f.alias)), None)
        if field is None:
            return set()
        candidates = [field.annotation]
        model = None
        while candidates:
            kind = candidates.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                model = kind
                break
            candidates.extend(typing.get_args(kind))
        if model is None:
            return set()
    return {to_camel(name) for name in model.model_fields}


def _key_path(project: str, loc: tuple) -> str:
    head, *rest = loc
    key = f"{project}:{to_camel(head) if isinstance(head, str) else head}"
    for part in rest:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if "[" in part or "." in part else f".{to_camel(part)}"
    return key


def _expected(error: dict) -> str:
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, LastMileError):
        return original.expected
    if error.get("type") == "missing":
        return "this key is required"
    if error.get("type") == "extra_forbidden":
        here = _keys_at(error["loc"][:-1])
        hint = did_you_mean(error["loc"][-1], here) or (f" (keys here: {', '.join(sorted(here))})" if here else "")
        return "unknown key" + hint + "; check the spelling against the README's config reference"
    return str(error.get("msg", "")).removeprefix("Value error, ")




def _refuse_empty_values(value: Any, key: str) -> None:
    """An empty value (``key:`` with nothing, or ``null``) is refused: it would silently mean the default (a stack
    that asks for a virtual network with an empty value would get none)."""
    if value is None:
        raise ConfigError(key, None, "an empty value: give one, or remove the key for its default")
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_empty_values(v, f"{key}.{k}" if ":" in key else f"{key}:{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_empty_values(v, f"{key}[{i}]")


def parse(values: dict[str, Any], project: str = "apim-lastmile") -> EnvironmentConfig:
    """Validate config values (keys without the namespace) or raise :class:`ConfigError`."""
    _refuse_empty_values(values, project)
    referenced = secret_config_keys(values)
    values = {k: v for k, v in values.items() if k not in referenced or k in PROJECT_KEYS}
    unknown = sorted(set(values) - set(PROJECT_KEYS))
    if unknown:
        raise ConfigError(f"{project}:{unknown[0]}", Shown(NOT_SHOWN),
                          f"unknown config key{did_you_mean(unknown[0], PROJECT_KEYS)}; known keys: {', '.join(PROJECT_KEYS)}")
    try:
        env = EnvironmentConfig.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key first: it is why a required one is missing beside it.
        first = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
        original = (first.get("ctx") or {}).get("error")
        value = original.value if isinstance(original, LastMileError) else first.get("input")
        if first.get("type") == "extra_forbidden":
            value = Shown(NOT_SHOWN)  # a misspelt key may hold a secret: reported by name, never by value
        loc = tuple(first.get("loc") or ("config",))
        if isinstance(original, LastMileError) and isinstance(loc[-1], int):
            # A whole-entry check: its own key (e.g. roleAssignments[0].role) says where inside the entry.
            loc += (config_key(original.key),)
        raise ConfigError(_key_path(project, loc), None if first.get("type") == "missing" else value, _expected(first)) from None
    _check_unique(env, project)
    _check_components(env, project)
    return env


def load(config: Optional[pulumi.Config] = None) -> EnvironmentConfig:
    """Read and validate the environment's config from the running stack."""
    config = config or pulumi.Config()
    values: dict[str, Any] = {}
    for key in PROJECT_KEYS:
        value = config.get_object(key)
        if value is not None:
            values[key] = value
    from pulumi.runtime.config import CONFIG

    prefix = f"{config.name}:"
    for full in CONFIG.get():
        namespace = full.split(":", 1)[0]
        if namespace != config.name and did_you_mean(namespace, [config.name]):
            raise ConfigError(full, "<value hidden>", f"unknown config namespace {namespace!r}{did_you_mean(namespace, [config.name])}")
        if full.startswith(prefix) and full[len(prefix):] not in PROJECT_KEYS:
            values[full[len(prefix):]] = CONFIG.get()[full]
    env = parse(values, config.name)
    if env.resource_group.location is None and "azure-native:location" not in CONFIG.get():
        raise ConfigError(f"{prefix}resourceGroup.location", None, "no region anywhere: set resourceGroup.location (e.g. westeurope) "
                                                                   "or pulumi config set azure-native:location <region>")
    for key in sorted(secret_config_keys(values)):
        if f"{prefix}{key}" not in CONFIG.get():
            raise ConfigError(f"{prefix}{key}", None, f"the stack names this secret config key but does not set it: "
                                                      f"pulumi config set --secret {prefix}{key} <value>")
    for key in sorted(secret_config_keys(values)):
        if f"{prefix}{key}" in CONFIG.get() and not pulumi.runtime.is_config_secret(f"{prefix}{key}"):
            raise ConfigError(f"{prefix}{key}", "<plain value hidden>",
                              f"a secret must be stored encrypted: pulumi config set --secret {prefix}{key} <value>")
    return env
