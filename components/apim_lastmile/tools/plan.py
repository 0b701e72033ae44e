"""Offline plan: run a Pulumi program under mocks and report what it declares.

No Azure and no Pulumi CLI: the program runs in-process against :class:`LastMileMocks`, which answers
like Azure would (ids, principal ids, host names) with deterministic values, and a recording monitor
keeps every registration: type, name, parent, ``protect`` and the inputs that would be sent to Azure.
Tests use the same machinery, so what they assert is what ``lastmile plan`` shows.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import runpy
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from .. import keyvault_api

SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
TENANT_ID = "00000000-0000-4000-8000-00000000000a"
SECRET_MASK = "[secret]"
_NS = uuid.UUID("0d6f6c36-3f0e-4a55-8a3e-5a5d1a6b2c11")

def _azure_name(typ: str, inputs: dict, logical: str) -> str:
    """The Azure name of a resource: its name as Azure's contract (``contract.WIRES``) names it, else ``name``, else
    the logical name."""
    from .contract import WIRES

    wire = WIRES.get(typ)
    return wire.own_name(inputs, logical) if wire is not None else inputs.get("name") or logical


def _resource_id(typ: str, inputs: dict, azure_name: str) -> Optional[str]:
    """The ARM id Azure would give a resource of a type in ``contract.WIRES``, built from its type path and the
    inputs that name its parents (``Wire.parent_names``); None otherwise."""
    from .contract import WIRES

    wire = WIRES.get(typ)
    if wire is None:
        return None
    group = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups"
    namespace, *types = wire.arm_type.split("/")
    if wire.arm_type == "Microsoft.Resources/resourceGroups":
        return f"{group}/{azure_name}"
    path = "/".join(f"{kind}/{name}" for kind, name in zip(types, [*wire.parent_names(inputs), azure_name]))
    scope = inputs.get(wire.scope_param) if wire.scope_param else f"{group}/{inputs.get('resourceGroupName', 'rg')}"
    return f"{scope}/providers/{namespace}/{path}"


def fake_guid(*parts: str) -> str:
    """A deterministic GUID, so plans are stable from run to run."""
    return str(uuid.uuid5(_NS, "/".join(parts)))


def _plain(value: Any) -> Any:
    """Inputs without secret wrappers (secrets unwrapped); see :func:`mask_secrets` for display."""
    if rpc.is_rpc_secret(value):
        return _plain(value["value"])
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def mask_secrets(value: Any) -> Any:
    """Inputs with every Pulumi secret replaced by ``[secret]``."""
    if rpc.is_rpc_secret(value):
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def _masked_inputs(r: "Registration") -> Any:
    """A registration's inputs with secrets masked. A Key Vault secret's ``properties`` reach the engine as one secret
    (a secret anywhere in a property makes all of it secret); only its ``value`` is, so the rest (contentType, the
    expiry) stays visible to a reviewer and to scanners."""
    inputs = mask_secrets(r.inputs)
    if r.type.endswith(":keyvault:Secret") and rpc.is_rpc_secret(r.inputs.get("properties")):
        shown = dict(_plain(r.inputs["properties"]))
        if "value" in shown:
            shown["value"] = SECRET_MASK
        inputs["properties"] = mask_secrets(shown)
    return inputs


def _component_outputs(name: str, location: str) -> dict:
    """What Azure answers for an Application Insights component: its connection string names it by its
    instrumentation key (an identifier) and its regional ingestion endpoint."""
    key = fake_guid("instrumentation-key", name)
    return {"instrumentationKey": key, "appId": fake_guid("application", name),
            "connectionString": f"InstrumentationKey={key};IngestionEndpoint=https://{location}-5.in.applicationinsights.azure.com/;"
                                f"LiveEndpoint=https://{location}.livediagnostics.monitor.azure.com/;ApplicationId={fake_guid('application', name)}"}


class LastMileMocks(pulumi_mocks.Mocks):
    """Answers resource registrations and data-source calls the way Azure would, deterministically.

    ``directory`` describes existing app registrations by client id, for programs that adopt one:
    ``{"token_version": 1 or 2 (default 2), "service_principal": bool (default True), "assignment_required": bool}``.
    ``components`` describes existing Application Insights components by name: ``{"disable_local_auth": bool}``.
    """

    def __init__(self, directory: Optional[dict[str, dict]] = None, stacks: Optional[dict[str, dict]] = None,
                 components: Optional[dict[str, dict]] = None) -> None:
        super().__init__()
        self.directory = directory or {}
        self.stacks = stacks or {}
        self.components = components or {}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        inputs = _plain(args.inputs)
        typ = args.typ
        outputs = dict(inputs)
        azure_name = _azure_name(typ, inputs, args.name)
        outputs.setdefault("name", azure_name)
        rid = _resource_id(typ, inputs, azure_name) or f"{args.name}-id"
        guid = lambda what: fake_guid(typ, args.name, what)  # noqa: E731

        if typ == "pulumi:pulumi:StackReference":
            stack_name = inputs.get("name", args.name)
            return f"{stack_name}-ref", {"name": stack_name, "outputs": self.stacks.get(stack_name, {}), "secretOutputNames": []}
        if typ == "azure-native:apimanagement:ApiManagementService":
            identity = dict(inputs.get("identity") or {})
            if "SystemAssigned" in str(identity.get("type", "")):
                identity.update(principalId=guid("principal"), tenantId=TENANT_ID)
            outputs.update(identity=identity, gatewayUrl=f"https://{azure_name}.azure-api.net")
            from ..azure_rules import DEDICATED_OUTBOUND_IPS

            if (inputs.get("sku") or {}).get("name") in DEDICATED_OUTBOUND_IPS:
                # Documentation addresses (RFC 5737), one per service, as Azure gives a classic-tier service its own.
                outputs["publicIPAddresses"] = [f"203.0.113.{int(hashlib.sha256(azure_name.encode()).hexdigest()[:2], 16) % 250 + 1}"]
        elif typ == "azure-native:managedidentity:UserAssignedIdentity":
            outputs.update(principalId=guid("principal"), clientId=guid("client"), tenantId=TENANT_ID)
        elif typ == "azure-native:storage:StorageAccount":
            outputs["primaryEndpoints"] = {
                "blob": f"https://{azure_name}.blob.core.windows.net/",
                "dfs": f"https://{azure_name}.dfs.core.windows.net/",
            }
        elif typ == "azure-native:web:WebApp":
            identity = dict(inputs.get("identity") or {})
            identity.update(principalId=guid("principal"), tenantId=TENANT_ID)
            outputs.update(identity=identity, defaultHostName=f"{azure_name}.azurewebsites.net")
        elif typ in ("azure-native:keyvault:Vault", keyvault_api.VAULT):
            props = dict(inputs.get("properties") or {})
            props["vaultUri"] = f"https://{azure_name}.vault.azure.net/"
            outputs["properties"] = props
        elif typ in ("azure-native:keyvault:Secret", keyvault_api.SECRET):
            vault = inputs.get("vaultName", "vault")
            props = {k: v for k, v in (inputs.get("properties") or {}).items() if k != "value"}
            props["secretUri"] = f"https://{vault}.vault.azure.net/secrets/{azure_name}"
            # A new value is a new version, as in Key Vault.
            version = hashlib.sha256(json.dumps((inputs.get("properties") or {}).get("value")).encode()).hexdigest()[:32]
            props["secretUriWithVersion"] = f"https://{vault}.vault.azure.net/secrets/{azure_name}/{version}"
            outputs["properties"] = props
        elif typ == "azure-native:applicationinsights:Component":
            outputs.update(_component_outputs(azure_name, inputs.get("location") or "westeurope"))
        elif typ == "time:index/rotating:Rotating":
            # A fixed clock (2026-01-01T00:00:00Z), so plans are stable from run to run.
            outputs.update(rfc3339="2026-01-01T00:00:00Z", unix=1767225600)
        elif typ == "azuread:index/applicationRegistration:ApplicationRegistration":
            object_id = guid("object")
            outputs.update(clientId=guid("client"), objectId=object_id)
            rid = f"/applications/{object_id}"
        elif typ == "azuread:index/servicePrincipal:ServicePrincipal":
            outputs.update(objectId=guid("object"))
        elif typ == "random:index/randomString:RandomString":
            digest = hashlib.sha256(f"{pulumi.get_stack()}/{args.name}".encode()).hexdigest()
            outputs["result"] = "".join(c for c in digest if c.isalnum())[: int(inputs.get("length", 6))]
        elif typ == "random:index/randomPassword:RandomPassword":
            seed = f"{args.name}/{json.dumps(inputs.get('keepers') or {}, sort_keys=True)}"
            outputs["result"] = "mock-" + hashlib.sha256(seed.encode()).hexdigest()[: int(inputs.get("length", 32)) - 5]
        outputs.setdefault("id", rid)
        return rid, outputs

    def call(self, args: pulumi_mocks.MockCallArgs):
        if args.token == "azure-native:authorization:getClientConfig":
            return {"tenantId": TENANT_ID, "subscriptionId": SUBSCRIPTION_ID, "objectId": fake_guid("deployer"), "clientId": fake_guid("deployer-client")}
        if args.token == "azure-native:web:getWebApp":
            name = args.args.get("name", "app")
            rg = args.args.get("resourceGroupName", "rg")
            return {
                "id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{name}",
                "name": name,
                "defaultHostName": f"{name}.azurewebsites.net",
                "identity": {"type": "SystemAssigned", "principalId": fake_guid("site", name)},
            }
        if args.token == "azure-native:applicationinsights:getComponent":
            name = args.args.get("resourceName", "component")
            found = self.components.get(name, {})
            return {**_component_outputs(name, "westeurope"), "name": name, "disableLocalAuth": found.get("disable_local_auth", True),
                    "id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{args.args.get('resourceGroupName', 'rg')}"
                          f"/providers/Microsoft.Insights/components/{name}"}
        if args.token == "azuread:index/getApplication:getApplication":
            client_id = args.args.get("clientId", "")
            app = self.directory.get(client_id, {})
            return {"clientId": client_id, "objectId": fake_guid("app", client_id), "displayName": f"app {client_id}",
                    "apis": [{"requestedAccessTokenVersion": app.get("token_version", 2)}]}
        if args.token == "azuread:index/getServicePrincipals:getServicePrincipals" and "objectIds" in args.args:
            # The deployer (getClientConfig's objectId) is a service principal, as in CI.
            found = [o for o in args.args["objectIds"] if o == fake_guid("deployer")]
            return {"objectIds": found, "servicePrincipals": [{"objectId": o, "clientId": fake_guid("deployer-client")} for o in found]}
        if args.token == "azuread:index/getServicePrincipals:getServicePrincipals":
            found = [c for c in args.args.get("clientIds", []) if self.directory.get(c, {}).get("service_principal", True)]
            return {"clientIds": found, "objectIds": [fake_guid("sp", c) for c in found], "servicePrincipals": [
                {"clientId": c, "objectId": fake_guid("sp", c), "displayName": f"app {c}",
                 "appRoleAssignmentRequired": self.directory.get(c, {}).get("assignment_required", False)} for c in found]}
        if args.token in ("azure-native:keyvault:getVault", keyvault_api.GET_VAULT):
            name = args.args.get("vaultName", "vault")
            rg = args.args.get("resourceGroupName", "rg")
            return {
                "id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}",
                "name": name,
                "properties": {"vaultUri": f"https://{name}.vault.azure.net/", "tenantId": TENANT_ID, "enableRbacAuthorization": True,
                               "enablePurgeProtection": True, "sku": {"family": "A", "name": "standard"}},
            }
        return {}


@dataclass
class Registration:
    """One resource as the program declared it."""

    urn: str
    type: str
    name: str
    parent: str
    protect: bool
    custom: bool
    inputs: dict
    depends_on: list[str]
    outputs: dict = field(default_factory=dict)
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    #: The types this resource is aliased to (the engine's state migration; not part of the plan JSON).
    alias_types: list[str] = field(default_factory=list)

    @property
    def options(self) -> dict:
        """The lifecycle options Pulumi acts on at replace and delete time (stable: sorted, URNs only)."""
        return {"dependsOn": sorted(self.depends_on), "deleteBeforeReplace": self.delete_before_replace,
                "retainOnDelete": self.retain_on_delete}

    @property
    def plain_inputs(self) -> dict:
        """The inputs with secret markers removed (for assertions on values)."""
        return _plain(self.inputs)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also records parent, protect and dependencies of each registration."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._urns: set[str] = set()

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        # The engine refuses a second resource with the same URN ("Duplicate resource URN"), mid-deployment.
        if response.urn in self._urns:
            raise ValueError(f"duplicate resource URN {response.urn}: two resources of one type and name under one parent")
        self._urns.add(response.urn)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    protect=bool(request.protect),
                    custom=bool(request.custom),
                    inputs=rpc.deserialize_properties(request.object) if request.custom else {},
                    depends_on=sorted(request.dependencies),
                    outputs=dict(self.resources[response.urn].state) if request.custom else {},
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    retain_on_delete=bool(request.retainOnDelete),
                    alias_types=sorted({a.spec.type for a in request.aliases if a.HasField("spec") and a.spec.type}),
                )
            )
        return response


@dataclass
class Plan:
    """What a program declared: its registrations and its resolved stack outputs."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]

    def one(self, typ: str, name: Optional[str] = None) -> Registration:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {typ} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def policies(self) -> dict[str, str]:
        """Every APIM policy document the program declares, by resource name."""
        return {
            r.name: r.plain_inputs["value"]
            for r in self.registrations
            if r.type.startswith("azure-native:apimanagement:") and r.type.endswith("Policy") and "value" in r.inputs
        }

    def to_json(self) -> dict:
        """A stable, JSON-ready view: sorted, secrets masked, nothing that changes from run to run."""
        return {
            "stack": self.stack,
            "resources": [
                {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "protect": r.protect,
                 "options": r.options, "inputs": _masked_inputs(r)}
                for r in sorted(self.registrations, key=lambda r: r.urn)
            ],
            "policies": dict(sorted(self.policies().items())),
            "outputs": mask_secrets(self.outputs),
        }


#: azure-native's classes alias every explicit-version type token of their resource
#: (``azure-native:apimanagement/v20220801:ApiManagementService``...), for stacks deployed with azure-native v1/v2.
_SDK_VERSION_ALIAS = re.compile(r"azure-native:[a-z]+/v\d{8}(?:preview)?:\w+")


def _without_sdk_version_aliases(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
    """Leave out the SDK's aliases to old explicit-version type tokens. They matter only to the engine, for state that
    an azure-native v1/v2 deployment left, which an offline plan has none of; resolving their URNs is three quarters
    of a mock run's time (0.71 s -> 0.17 s for a gateway and a private function). Aliases a program sets itself (the
    Key Vault resources' move to API 2026-02-01) stay, and are recorded (``Registration.alias_types``)."""
    aliases = args.opts.aliases
    if not aliases:
        return None
    kept = [a for a in aliases if not (isinstance(a, pulumi.Alias) and isinstance(a.type_, str) and _SDK_VERSION_ALIAS.fullmatch(a.type_))]
    if len(kept) == len(aliases):
        return None
    opts = copy.copy(args.opts)
    opts.aliases = kept or None
    return pulumi.ResourceTransformationResult(args.props, opts)


def _reset_runtime() -> None:
    from pulumi.runtime.settings import ROOT

    ROOT.set(None)


def run(program: Callable[[], Any], *, project: str = "apim-lastmile", stack: str = "dev",
        config: Optional[dict[str, Any]] = None, secret_keys: Optional[list[str]] = None,
        mocks: Optional[LastMileMocks] = None) -> Plan:
    """Run ``program`` under :class:`LastMileMocks` and return the :class:`Plan` it declared.

    ``config`` maps full keys (``apim-lastmile:gateway``) to values; non-strings are JSON-encoded as
    Pulumi does for structured config.
    """
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    _reset_runtime()
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()}
    pulumi.runtime.set_all_config(flat, secret_keys or [])
    mocks = mocks or LastMileMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    # Each run is a deployment of its own; Pulumi's MockSettings leave the package reference cache shared between runs,
    # so Key Vault's parameterized package would be registered with the first run's monitor only.
    from pulumi.runtime.settings import SETTINGS

    SETTINGS.package_refs = {}
    root = pulumi.runtime.get_root_resource()
    pulumi.runtime.register_stack_transformation(_without_sdk_version_aliases)
    resolved: dict[str, Any] = {}

    async def main() -> None:
        program()
        for key, value in list(root.outputs.items()):
            out = pulumi.Output.from_input(value)
            result = await out.future()
            resolved[key] = rpc.wrap_rpc_secret(result) if await out.is_secret() else result

    try:
        _sync_await(run_pulumi_func(main))
    finally:
        _sync_await(_drain())
    return Plan(stack=stack, registrations=monitor.registrations, outputs=resolved)


async def _drain() -> None:
    """Settle what a failed run left in flight (Pulumi stops at the first failed RPC), so the next run in
    this process does not inherit its error."""
    import asyncio

    from pulumi.runtime.settings import SETTINGS

    manager = SETTINGS.rpc_manager
    while manager.rpcs or SETTINGS.outputs:
        pending = list(manager.rpcs) + list(SETTINGS.outputs)
        manager.rpcs.clear()
        SETTINGS.outputs.clear()
        await asyncio.gather(*pending, return_exceptions=True)
    manager.clear()


# ---- the environment program and its stack files ----

def find_project(start: Optional[Path] = None) -> Path:
    """The directory holding ``Pulumi.yaml``: ``start`` or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no Pulumi.yaml in {here} or its parents: run from the project directory or pass --project-dir")


def load_stack_config(project_dir: Path, stack: str) -> tuple[str, dict[str, Any], list[str]]:
    """Project name, config and secret keys of ``stacks/Pulumi.<stack>.yaml`` (secure values masked).

    Both files are read by :func:`apim_lastmile.tools.loader.load_yaml` (size, alias, tag and duplicate-key limits;
    dates stay strings); any problem is a :class:`ConfigError` naming ``<file>:<line>:<column>``.
    """
    from ..errors import ConfigError
    from .loader import load_yaml

    if not _STACK_NAME.fullmatch(stack):
        raise ConfigError("stack", stack, "expected a stack name of letters, digits, '-', '_' and '.' (it names stacks/Pulumi.<stack>.yaml)")
    project_file = load_yaml(project_dir / "Pulumi.yaml", "Pulumi project", display="Pulumi.yaml", strings=("name", "stackConfigDir"))
    project = project_file.get("name")
    if not project:
        raise ConfigError("Pulumi.yaml", project, "expected the project's name: `name: <project>`")
    config_dir = project_dir / (project_file.get("stackConfigDir") or ".")
    path = config_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in config_dir.glob("Pulumi.*.yaml"))
        raise ConfigError("stack", stack, f"no {_shown_path(path, project_dir)}; known stacks: {', '.join(known) or 'none'}")
    data = load_yaml(path, "stack config", display=_shown_path(path, project_dir), sections=("config",))
    config: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, value in (data.get("config") or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Encrypted with the stack's key: not readable offline; a placeholder stands in.
            value = "offline-placeholder-for-a-secure-value"
            secret_keys.append(full)
        config[full] = value
    return project, config, secret_keys


_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def _shown_path(path: Path, project_dir: Path) -> str:
    try:
        return str(path.relative_to(project_dir))
    except ValueError:
        return str(path)


def plan_stack(stack: str, project_dir: Optional[Path] = None) -> Plan:
    """Run the project's ``__main__.py`` for ``stack`` under mocks."""
    project_dir = find_project(project_dir)
    project, config, secret_keys = load_stack_config(project_dir, stack)
    program_path = project_dir / "__main__.py"

    def program() -> None:
        sys.path.insert(0, str(project_dir))
        cwd = os.getcwd()
        os.chdir(project_dir)
        try:
            runpy.run_path(str(program_path), run_name="__main__")
        finally:
            os.chdir(cwd)
            sys.path.remove(str(project_dir))

    return run(program, project=project, stack=stack, config=config, secret_keys=secret_keys)


def render_text(plan: Plan) -> str:
    """The resource tree (type, name, under its parent) and every rendered policy."""
    by_parent: dict[str, list[Registration]] = {}
    for r in plan.registrations:
        by_parent.setdefault(r.parent, []).append(r)
    lines = [f"Stack {plan.stack}: {len(plan.registrations)} resources"]

    def walk(parent: str, depth: int) -> None:
        for r in sorted(by_parent.get(parent, []), key=lambda r: r.urn):
            flag = "  [protected]" if r.protect else ""
            lines.append(f"{'  ' * depth}{r.type}  {r.name}{flag}")
            walk(r.urn, depth + 1)

    roots = {r.parent for r in plan.registrations} - {r.urn for r in plan.registrations}
    for root in sorted(roots):
        walk(root, 1)
    for name, xml in sorted(plan.policies().items()):
        lines += ["", f"Policy {name}:", xml.rstrip()]
    if plan.outputs:
        lines += ["", "Outputs:", json.dumps(mask_secrets(plan.outputs), indent=2, sort_keys=True)]
    return "\n".join(lines) + "\n"
