"""Azure's published contract for every resource type we register, and a check of wire inputs against it.

Mocks accept whatever a program sends; Azure Resource Manager does not. The facts in ``azure_contract.json`` are
extracted (by :func:`extract`, run as ``python -m apim_lastmile.tools.contract <azure-types dir>``) from Microsoft's
resource types generated from the Azure REST API specifications, at the api-version pulumi-azure-native uses
for each type. For every property path of each resource body they keep: the value type, required and read-only
flags, enums (closed, or extensible: documented values of a ``modelAsString`` enum), string length and pattern,
number range, array length. Each type records the file and api-version it came from.

:func:`check` maps azure-native's wire inputs onto the ARM body (path parameters, ``properties`` flattened into the
body and into every nested object, SDK client names) and reports every input that breaks a fact, every input Azure does not know, every read-only
property we set, and every required property we leave out.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Optional

FACTS_FILE = Path(__file__).with_name("azure_contract.json")
#: Where the generated types come from (see ../shared/azure-types/README.md).
TYPES_SOURCE = "Azure/bicep-types-az@1f896de2db966ad91e8f7d7d981e11d32e4f5d8d generated/<provider>/<namespace>/<api-version>/types.json"
_SPECS = "Azure/azure-rest-api-specs specification/"
_MAX_DEPTH = 8
# Type flags of the generated types: 1 Required, 2 ReadOnly.
_REQUIRED, _READ_ONLY = 1, 2
_RG = "Microsoft.Resources/resourceGroups"


@dataclass(frozen=True)
class Wire:
    """How azure-native sends one resource type: which inputs are URL path parameters, whether the body's
    ``properties`` are flattened into the top level, and the inputs that carry an SDK client name."""

    arm_type: str
    folder: str
    spec: str
    name_param: Optional[str]
    fixed_name: Optional[str] = None
    #: other path parameters -> the ARM type whose name they are ("" for one that is not a name, e.g. scope)
    parents: dict[str, str] = field(default_factory=dict)
    flattened: bool = True
    #: inputs named by the SDK's client name (x-ms-client-name) -> the ARM name; a nested one is keyed by the ARM
    #: path of its object and the input name ("properties.encryption.encryptionIdentity")
    renames: dict[str, str] = field(default_factory=dict)

    @property
    def scope_param(self) -> Optional[str]:
        """The input naming the resource it extends (``scope`` of a role assignment, ``resourceUri`` of a diagnostic
        setting), for an extension resource; None for one that lives in a resource group."""
        return next((param for param, arm_type in self.parents.items() if not arm_type), None)

    @property
    def api_version(self) -> str:
        return self.folder.rsplit("/", 1)[1]

    def own_name(self, inputs: dict, fallback: str) -> str:
        """The resource's own name: the fixed one, else its name parameter's input (``name`` when it has none)."""
        return self.fixed_name or str(inputs.get(self.name_param or "name") or fallback)

    def parent_names(self, inputs: dict) -> list[str]:
        """The names of its parents, one per level of its type path above it, from the inputs that name them (a level
        no input names, such as ``blobServices``, is ``default``)."""
        namespace, *levels = self.arm_type.split("/")
        by_type = {arm: param for param, arm in self.parents.items() if arm}
        return [str(inputs.get(by_type.get("/".join([namespace, *levels[:i + 1]]), ""), "default")) for i in range(len(levels) - 1)]

    @property
    def sent_version(self) -> str:
        """The API version azure-native sends (the spec folder's; the facts may come from a close version's types)."""
        return re.search(r"/(?:stable|preview)/([0-9a-z-]+)/", self.spec).group(1)


_APIM = ("microsoft.apimanagement/2024-05-01", "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/")
_WEB = ("microsoft.web/2025-03-01", "web/resource-manager/Microsoft.Web/stable/2025-05-01/ (types of 2025-03-01)")
_SERVICE = {"serviceName": "Microsoft.ApiManagement/service", "resourceGroupName": _RG}
_API = {**_SERVICE, "apiId": "Microsoft.ApiManagement/service/apis"}
_SITE = {"name": "Microsoft.Web/sites", "resourceGroupName": _RG}
_NETWORK = ("microsoft.network/2024-05-01", "network/resource-manager/Microsoft.Network/stable/2024-05-01/")
_PRIVATE_DNS = ("microsoft.network.privatedns/2024-06-01", "privatedns/resource-manager/Microsoft.Network/stable/2024-06-01/")
_IN_RG = {"resourceGroupName": _RG}

#: Every azure-native type token the library and the environment program register.
WIRES: dict[str, Wire] = {
    "azure-native:resources:ResourceGroup": Wire(
        _RG, "microsoft.resources/2024-03-01", "resources/resource-manager/Microsoft.Resources/stable/2024-03-01/", "resourceGroupName"),
    "azure-native:managedidentity:UserAssignedIdentity": Wire(
        "Microsoft.ManagedIdentity/userAssignedIdentities", "microsoft.managedidentity/2023-01-31",
        "msi/resource-manager/Microsoft.ManagedIdentity/stable/2023-01-31/", "resourceName", parents={"resourceGroupName": _RG}),
    "azure-native:apimanagement:ApiManagementService": Wire(
        "Microsoft.ApiManagement/service", *_APIM, "serviceName", parents={"resourceGroupName": _RG}),
    "azure-native:apimanagement:Api": Wire(
        "Microsoft.ApiManagement/service/apis", *_APIM, "apiId", parents=_SERVICE,
        renames={"apiType": "type", "soapApiType": "apiType", "translateRequiredQueryParametersConduct": "translateRequiredQueryParameters"}),
    "azure-native:apimanagement:ApiOperation": Wire(
        "Microsoft.ApiManagement/service/apis/operations", *_APIM, "operationId", parents=_API),
    "azure-native:apimanagement:ApiPolicy": Wire("Microsoft.ApiManagement/service/apis/policies", *_APIM, "policyId", parents=_API),
    "azure-native:apimanagement:NamedValue": Wire("Microsoft.ApiManagement/service/namedValues", *_APIM, "namedValueId", parents=_SERVICE),
    "azure-native:apimanagement:Backend": Wire("Microsoft.ApiManagement/service/backends", *_APIM, "backendId", parents=_SERVICE),
    "azure-native:apimanagement:Cache": Wire("Microsoft.ApiManagement/service/caches", *_APIM, "cacheId", parents=_SERVICE),
    "azure-native:apimanagement:Logger": Wire("Microsoft.ApiManagement/service/loggers", *_APIM, "loggerId", parents=_SERVICE),
    "azure-native:apimanagement:ApiDiagnostic": Wire(
        "Microsoft.ApiManagement/service/apis/diagnostics", *_APIM, "diagnosticId", parents=_API),
    "azure-native:operationalinsights:Workspace": Wire(
        "Microsoft.OperationalInsights/workspaces", "microsoft.operationalinsights/2023-09-01",
        "operationalinsights/resource-manager/Microsoft.OperationalInsights/stable/2023-09-01/", "workspaceName", parents=_IN_RG),
    "azure-native:applicationinsights:Component": Wire(
        "Microsoft.Insights/components", "microsoft.insights/2020-02-02",
        "applicationinsights/resource-manager/Microsoft.Insights/stable/2020-02-02/", "resourceName", parents=_IN_RG,
        renames={"applicationType": "Application_Type", "disableIpMasking": "DisableIpMasking", "disableLocalAuth": "DisableLocalAuth",
                 "flowType": "Flow_Type", "forceCustomerStorageForProfiler": "ForceCustomerStorageForProfiler",
                 "hockeyAppId": "HockeyAppId", "immediatePurgeDataOn30Days": "ImmediatePurgeDataOn30Days", "ingestionMode": "IngestionMode", "requestSource": "Request_Source",
                 "retentionInDays": "RetentionInDays", "samplingPercentage": "SamplingPercentage",
                 "workspaceResourceId": "WorkspaceResourceId"}),
    "azure-native:monitor:DiagnosticSetting": Wire(
        "Microsoft.Insights/diagnosticSettings", "microsoft.insights/2021-05-01-preview",
        "monitor/resource-manager/Microsoft.Insights/preview/2021-05-01-preview/", "name", parents={"resourceUri": ""}),
    "azure-native:authorization:RoleAssignment": Wire(
        "Microsoft.Authorization/roleAssignments", "microsoft.authorization/2022-04-01",
        "authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/", "roleAssignmentName", parents={"scope": ""}),
    # Key Vault at 2026-02-01 through azure-native's parameterized package (keyvault_api.py).
    "azure-native_keyvault_v20260201:keyvault:Vault": Wire(
        "Microsoft.KeyVault/vaults", "microsoft.keyvault/2026-02-01", "keyvault/resource-manager/Microsoft.KeyVault/stable/2026-02-01/",
        "vaultName", parents={"resourceGroupName": _RG}, flattened=False),
    "azure-native_keyvault_v20260201:keyvault:Secret": Wire(
        "Microsoft.KeyVault/vaults/secrets", "microsoft.keyvault/2026-02-01", "keyvault/resource-manager/Microsoft.KeyVault/stable/2026-02-01/",
        "secretName", parents={"vaultName": "Microsoft.KeyVault/vaults", "resourceGroupName": _RG}, flattened=False,
        renames={"properties.attributes.expires": "exp", "properties.attributes.notBefore": "nbf"}),
    "azure-native:storage:StorageAccount": Wire(
        "Microsoft.Storage/storageAccounts", "microsoft.storage/2024-01-01", "storage/resource-manager/Microsoft.Storage/stable/2024-01-01/",
        "accountName", parents={"resourceGroupName": _RG},
        renames={"enableHttpsTrafficOnly": "supportsHttpsTrafficOnly", "enableNfsV3": "isNfsV3Enabled", "networkRuleSet": "networkAcls",
                 "properties.encryption.encryptionIdentity": "identity", "properties.encryption.keyVaultProperties": "keyvaultproperties",
                 "properties.encryption.identity.encryptionFederatedIdentityClientId": "federatedIdentityClientId",
                 "properties.encryption.identity.encryptionUserAssignedIdentity": "userAssignedIdentity",
                 "properties.encryption.keyvaultproperties.keyName": "keyname",
                 "properties.encryption.keyvaultproperties.keyVaultUri": "keyvaulturi",
                 "properties.encryption.keyvaultproperties.keyVersion": "keyversion",
                 "properties.networkAcls.ipRules[].iPAddressOrRange": "value",
                 "properties.networkAcls.virtualNetworkRules[].virtualNetworkResourceId": "id"}),
    "azure-native:storage:BlobContainer": Wire(
        "Microsoft.Storage/storageAccounts/blobServices/containers", "microsoft.storage/2024-01-01",
        "storage/resource-manager/Microsoft.Storage/stable/2024-01-01/", "containerName",
        parents={"accountName": "Microsoft.Storage/storageAccounts", "resourceGroupName": _RG}),
    "azure-native:web:AppServicePlan": Wire("Microsoft.Web/serverfarms", *_WEB, "name", parents={"resourceGroupName": _RG}),
    "azure-native:web:WebApp": Wire("Microsoft.Web/sites", *_WEB, "name", parents={"resourceGroupName": _RG}),
    "azure-native:web:WebAppFtpAllowed": Wire(
        "Microsoft.Web/sites/basicPublishingCredentialsPolicies", *_WEB, None, fixed_name="ftp", parents=_SITE),
    "azure-native:web:WebAppScmAllowed": Wire(
        "Microsoft.Web/sites/basicPublishingCredentialsPolicies", *_WEB, None, fixed_name="scm", parents=_SITE),
    "azure-native:web:WebAppAuthSettingsV2": Wire(
        "Microsoft.Web/sites/config", "microsoft.web/2021-02-01", "web/resource-manager/Microsoft.Web/stable/2021-02-01/",
        None, fixed_name="authsettingsV2", parents=_SITE),
    "azure-native:network:NetworkSecurityGroup": Wire(
        "Microsoft.Network/networkSecurityGroups", *_NETWORK, "networkSecurityGroupName", parents=_IN_RG),
    "azure-native:network:VirtualNetwork": Wire("Microsoft.Network/virtualNetworks", *_NETWORK, "virtualNetworkName", parents=_IN_RG),
    "azure-native:network:Subnet": Wire(
        "Microsoft.Network/virtualNetworks/subnets", *_NETWORK, "subnetName",
        parents={"virtualNetworkName": "Microsoft.Network/virtualNetworks", **_IN_RG}),
    "azure-native:network:PrivateEndpoint": Wire("Microsoft.Network/privateEndpoints", *_NETWORK, "privateEndpointName", parents=_IN_RG),
    "azure-native:network:PrivateDnsZoneGroup": Wire(
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups", *_NETWORK, "privateDnsZoneGroupName",
        parents={"privateEndpointName": "Microsoft.Network/privateEndpoints", **_IN_RG}),
    "azure-native:privatedns:PrivateZone": Wire("Microsoft.Network/privateDnsZones", *_PRIVATE_DNS, "privateZoneName", parents=_IN_RG),
    "azure-native:privatedns:VirtualNetworkLink": Wire(
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks", *_PRIVATE_DNS, "virtualNetworkLinkName",
        parents={"privateZoneName": "Microsoft.Network/privateDnsZones", **_IN_RG}),
}


#: Rules the REST specifications state only in words (descriptions) or that only Microsoft's documentation states;
#: the generated types cannot carry them, so they are kept here by hand, each with its source.
SUPPLEMENTS: list[dict[str, Any]] = [
    {"token": "azure-native:apimanagement:ApiManagementService", "path": "sku.name",
     "facts": {"enum": ["Basic", "BasicV2", "Consumption", "Developer", "Isolated", "Premium", "PremiumV2", "Standard", "StandardV2"]},
     "source": "learn.microsoft.com/azure/api-management/v2-service-tiers-overview (Premium v2 generally available; v2 "
               "capabilities \"supported in API Management API version 2024-05-01 or later\"); SkuType is an extensible "
               "enum at 2024-05-01 and names PremiumV2 from 2025-03-01-preview; Azure/bicep-registry-modules "
               "avm/res/api-management/service tests/e2e/v2max deploys PremiumV2"},
    {"token": "azure-native:authorization:RoleAssignment", "path": "name",
     "facts": {"pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
     "source": _SPECS + "authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/"
               "authorization-RoleAssignmentsCalls.json: roleAssignmentName \"It can be any valid GUID.\""},
    # The 2026-02-01 types (generated from TypeSpec) dropped the name patterns 2024-11-01 carried; the rules are unchanged.
    {"token": "azure-native_keyvault_v20260201:keyvault:Vault", "path": "name", "facts": {"pattern": "^[a-zA-Z0-9-]{3,24}$"},
     "source": "learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault (vaults: "
               "3-24 alphanumerics and hyphens; the 2024-11-01 spec's vaultName pattern)"},
    {"token": "azure-native_keyvault_v20260201:keyvault:Secret", "path": "name", "facts": {"pattern": "^[a-zA-Z0-9-]{1,127}$"},
     "source": "learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault (secrets: "
               "1-127 alphanumerics and hyphens; the 2024-11-01 spec's secretName pattern)"},
    {"token": "azure-native_keyvault_v20260201:keyvault:Vault", "path": "properties.softDeleteRetentionInDays",
     "facts": {"minValue": 7, "maxValue": 90},
     "source": _SPECS + "keyvault/resource-manager/Microsoft.KeyVault/stable/2026-02-01/keyvault.json: "
               "softDeleteRetentionInDays \"It accepts >=7 and <=90.\""},
    {"token": "azure-native:apimanagement:Cache", "path": "properties.useFromLocation",
     "facts": {"pattern": "^(default|[a-z0-9]+)$"},
     "source": _SPECS + "apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/apimcaches.json: "
               "useFromLocation \"should be either 'default' or valid Azure region identifier\""},
    {"token": "azure-native:network:NetworkSecurityGroup", "path": "properties.securityRules[].properties.priority",
     "facts": {"minValue": 100, "maxValue": 4096},
     "source": _SPECS + "network/resource-manager/Microsoft.Network/stable/2024-05-01/networkSecurityGroup.json: "
               "SecurityRulePropertiesFormat.priority \"The value can be between 100 and 4096.\""},
    {"token": "azure-native:web:WebApp", "path": "properties.functionAppConfig.scaleAndConcurrency.instanceMemoryMB",
     "facts": {"enum": [512, 2048, 4096]},
     "source": "learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-memory"},
    {"token": "azure-native:web:WebApp", "path": "properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount",
     "facts": {"minValue": 1, "maxValue": 1000},
     "source": "learn.microsoft.com/azure/azure-functions/flex-consumption-plan#limitations (1 to 1000 instances)"},
]


# ---- extraction from the generated types ----

class _Types:
    """One ``types.json``: resolves ``$ref``s and finds resource bodies."""

    def __init__(self, path: Path) -> None:
        self.items = json.loads(path.read_text())
        self.bodies = {x["name"].split("@")[0]: x["body"] for x in self.items if x.get("$type") == "ResourceType"}

    def get(self, ref: dict) -> dict:
        return self.items[int(ref["$ref"][2:])]


def _constraint(types: _Types, typ: dict) -> dict:
    """The facts of one value type (without its children)."""
    kind = typ["$type"]
    if kind == "StringType":
        out = {"type": "string"}
        out.update({k: typ[k] for k in ("minLength", "maxLength", "pattern") if k in typ})
        return out
    if kind == "StringLiteralType":
        return {"type": "string", "enum": [typ["value"]], "extensible": False}
    if kind == "IntegerType":
        out = {"type": "integer"}
        out.update({k: typ[k] for k in ("minValue", "maxValue") if k in typ})
        return out
    if kind == "BooleanType":
        return {"type": "boolean"}
    if kind == "ArrayType":
        out = {"type": "array"}
        out.update({k: typ[k] for k in ("minLength", "maxLength") if k in typ})
        return out
    if kind in ("ObjectType", "DiscriminatedObjectType"):
        return {"type": "map" if "additionalProperties" in typ and not typ.get("properties") else "object"}
    if kind == "UnionType":
        members = [types.get(e) for e in typ["elements"]]
        literals = [m["value"] for m in members if m["$type"] == "StringLiteralType"]
        if literals and all(m["$type"] in ("StringLiteralType", "StringType") for m in members):
            return {"type": "string", "enum": sorted(literals), "extensible": any(m["$type"] == "StringType" for m in members)}
        return {"type": "any"}
    return {"type": "any"}


def _object_props(types: _Types, typ: dict, variant: Optional[str]) -> dict:
    if typ["$type"] == "DiscriminatedObjectType":
        props = dict(typ.get("baseProperties") or {})
        elements = typ["elements"] if variant is None else {variant: typ["elements"][variant]}
        for element in elements.values():
            props.update(types.get(element).get("properties") or {})
        return props
    return typ.get("properties") or {}


def _walk(types: _Types, typ: dict, prefix: str, depth: int, stack: tuple, variant: Optional[str] = None,
          owner: Optional[dict] = None) -> Iterator[tuple[str, dict]]:
    """(path, facts) for every property under ``typ``; read-only subtrees and cycles are not entered.

    Where the walk stops short (a cycle, or deeper than ``_MAX_DEPTH``) the facts of the path it stops at (``owner``)
    say ``"unexpanded": true``, so that :func:`check` judges nothing below it rather than calling it unknown.
    """
    kind = typ["$type"]
    if kind not in ("ObjectType", "DiscriminatedObjectType", "ArrayType"):
        return
    if depth > _MAX_DEPTH or id(typ) in stack:
        if owner is not None:
            owner["unexpanded"] = True
        return
    stack += (id(typ),)
    if kind in ("ObjectType", "DiscriminatedObjectType"):
        for name, prop in sorted(_object_props(types, typ, variant).items()):
            child = types.get(prop["type"])
            facts = _constraint(types, child)
            flags = prop.get("flags", 0)
            if flags & _REQUIRED:
                facts["required"] = True
            if flags & _READ_ONLY:
                facts["readOnly"] = True
            path = f"{prefix}.{name}" if prefix else name
            yield path, facts
            if not flags & _READ_ONLY:
                yield from _walk(types, child, path, depth + 1, stack, owner=facts)
        extra = typ.get("additionalProperties")
        if extra is not None and not typ.get("properties"):
            child = types.get(extra)
            facts = _constraint(types, child)
            yield f"{prefix}{{}}", facts
            yield from _walk(types, child, f"{prefix}{{}}", depth + 1, stack, owner=facts)
    else:
        child = types.get(typ["itemType"])
        facts = _constraint(types, child)
        yield f"{prefix}[]", facts
        yield from _walk(types, child, f"{prefix}[]", depth + 1, stack, owner=facts)


def _name_facts(types: _Types, arm_type: str) -> dict:
    body = types.get(types.bodies[arm_type])
    if body["$type"] == "DiscriminatedObjectType":
        return {"type": "string", "enum": sorted(body["elements"]), "extensible": False}
    return _constraint(types, types.get(body["properties"]["name"]["type"]))


def extract(types_dir: Path) -> dict:
    """The facts for every type in :data:`WIRES`, read from ``types_dir`` (the shared azure-types folder)."""
    loaded: dict[str, _Types] = {}

    def types_for(folder: str) -> _Types:
        if folder not in loaded:
            loaded[folder] = _Types(Path(types_dir) / folder / "types.json")
        return loaded[folder]

    def find(arm_type: str, near: str) -> tuple[_Types, str]:
        for folder in (near, *(w.folder for w in WIRES.values())):
            if arm_type in types_for(folder).bodies:
                return types_for(folder), folder
        raise KeyError(arm_type)

    out: dict[str, Any] = {}
    for token, wire in sorted(WIRES.items()):
        types = types_for(wire.folder)
        body = types.get(types.bodies[wire.arm_type])
        paths = dict(_walk(types, body, "", 0, (), variant=wire.fixed_name))
        if wire.fixed_name is None:
            paths["name"] = {**_name_facts(types, wire.arm_type), "required": True}
        parents = {}
        for param, arm_type in sorted(wire.parents.items()):
            if arm_type:
                parent_types, _ = find(arm_type, wire.folder)
                parents[param] = {"armType": arm_type, **_name_facts(parent_types, arm_type)}
        out[token] = {
            "armType": wire.arm_type,
            "apiVersion": wire.api_version,
            "source": {"types": f"{wire.folder}/types.json", "spec": _SPECS + wire.spec},
            "nameParameter": wire.name_param,
            "fixedName": wire.fixed_name,
            "parents": parents,
            "paths": paths,
        }
    return {"generatedFrom": TYPES_SOURCE, "types": out}


# ---- checking wire inputs ----

@dataclass(frozen=True)
class Finding:
    """One input that Azure would refuse (or does not know)."""

    token: str
    path: str
    value: Any
    problem: str

    def __str__(self) -> str:
        shown = self.value if not isinstance(self.value, str) or len(self.value) < 120 else self.value[:117] + "..."
        return f"{self.token} {self.path}: {shown!r}: {self.problem}"


@lru_cache(maxsize=1)
def facts() -> dict:
    """The committed facts (``azure_contract.json``) with :data:`SUPPLEMENTS` applied."""
    types = json.loads(FACTS_FILE.read_text())["types"]
    for extra in SUPPLEMENTS:
        path = types[extra["token"]]["paths"][extra["path"]]
        path.update(extra["facts"])
        path["supplementedBy"] = extra["source"]
        if extra["path"] == "name":  # the same rule where a child names this resource as its parent
            arm_type = WIRES[extra["token"]].arm_type
            for other in types.values():
                for parent in other.get("parents", {}).values():
                    if parent.get("armType") == arm_type:
                        parent.update(extra["facts"])
    return types


def _value_problem(facts_: dict, value: Any) -> Optional[str]:
    kind = facts_["type"]
    if kind == "string":
        if not isinstance(value, str):
            return f"expected a string, got {type(value).__name__}"
        if "enum" in facts_ and value not in facts_["enum"]:
            what = "a documented value" if facts_.get("extensible") else "one of"
            return f"expected {what} {', '.join(facts_['enum'])}"
        if len(value) < facts_.get("minLength", 0):
            return f"shorter than {facts_['minLength']} characters"
        if "maxLength" in facts_ and len(value) > facts_["maxLength"]:
            return f"longer than {facts_['maxLength']} characters"
        if "pattern" in facts_ and not re.search(facts_["pattern"], value):
            return f"does not match {facts_['pattern']}"
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            return f"expected a whole number, got {value!r}"
        if "enum" in facts_ and value not in facts_["enum"]:
            return f"expected one of {', '.join(map(str, facts_['enum']))}"
        if "minValue" in facts_ and value < facts_["minValue"]:
            return f"below the minimum {facts_['minValue']}"
        if "maxValue" in facts_ and value > facts_["maxValue"]:
            return f"above the maximum {facts_['maxValue']}"
    elif kind == "boolean":
        if not isinstance(value, bool):
            return f"expected true or false, got {type(value).__name__}"
    elif kind == "array":
        if not isinstance(value, list):
            return f"expected a list, got {type(value).__name__}"
        if len(value) < facts_.get("minLength", 0) or ("maxLength" in facts_ and len(value) > facts_["maxLength"]):
            return f"expected {facts_.get('minLength', 0)} to {facts_.get('maxLength', 'any number of')} items"
    elif kind in ("object", "map") and not isinstance(value, dict):
        return f"expected an object, got {type(value).__name__}"
    return None


def judge_value(facts_: dict, value: Any) -> Optional[str]:
    """What is wrong with ``value`` at a path with these facts (read-only, or a broken fact); None if nothing."""
    if facts_.get("readOnly"):
        return "read-only: Azure sets it, a request may not"
    return _value_problem(facts_, value)


def items_below(facts_: dict, path: str, value: Any) -> list[tuple[str, Any]]:
    """The (path, value) of each item of a map or array value whose facts were walked (an object's properties are
    mapped by the caller)."""
    if facts_.get("unexpanded"):
        return []  # Azure's types go deeper than the facts were walked: nothing below is judged
    if facts_["type"] == "map":
        return [(f"{path}{{}}", child) for child in value.values()]
    if facts_["type"] == "array":
        return [(f"{path}[]", child) for child in value]
    return []


def _input_path(wire: Wire, paths: dict, at: str, key: str) -> Optional[str]:
    """The ARM path that azure-native input ``key`` of the object at ``at`` ("" for the body) is sent to.

    azure-native flattens every ``x-ms-client-flatten`` object into its parent. The body's ``properties`` is flattened
    when ``wire.flattened``; a nested object's ``properties`` (a security rule's, a delegation's, a private link
    service connection's, ...) always is: no azure-native input type of ours has a nested ``properties`` input (see
    tests/test_azure_contract.py::test_every_sdk_input_maps_onto_the_contract). A key the object has itself wins; an
    input named ``properties`` at a flattened level is the ARM ``properties.properties``.
    """
    top = not at
    arm = wire.renames.get(f"{at}.{key}" if at else key, key)
    flattened = wire.flattened or not top
    prefix = f"{at}." if at else ""
    # A read-only envelope field (the resource's own "type") does not take an input its flattened properties have
    # (a backend's "type": Single or Pool).
    shadowed = flattened and paths.get(prefix + arm, {}).get("readOnly") and f"{prefix}properties.{arm}" in paths
    if prefix + arm in paths and not (flattened and arm == "properties") and not shadowed:
        return prefix + arm
    if flattened and f"{prefix}properties.{arm}" in paths:
        return f"{prefix}properties.{arm}"
    return None


def _flattened_here(wire: Wire, paths: dict, at: str) -> list[str]:
    """The object paths whose children the inputs of the object at ``at`` set: itself and its flattened properties."""
    prefix = f"{at}." if at else ""
    inner = f"{prefix}properties"
    if (wire.flattened or at) and paths.get(inner, {}).get("type") == "object":
        return [at, inner]
    return [at]


def check(token: str, inputs: dict, known: Optional[dict] = None) -> list[Finding]:
    """Every way ``inputs`` (azure-native wire inputs, secrets unwrapped) break Azure's contract for ``token``.

    An empty list for a type we hold no facts for (another provider's resource).
    """
    known = facts() if known is None else known
    if token not in known:
        return []
    type_facts = known[token]
    wire = WIRES[token]
    paths = type_facts["paths"]
    found: list[Finding] = []
    required: dict[str, list[str]] = {}
    for path, facts_ in paths.items():
        if facts_.get("required"):
            required.setdefault(_parent(path), []).append(path)

    def missing(at: str, present: set[str]) -> None:
        """Report the required properties of the object at ``at`` (and of its flattened properties) left out."""
        for holder in _flattened_here(wire, paths, at):
            for path in required.get(holder, ()):
                if path not in present:
                    found.append(Finding(token, path, None, "required by Azure but not set"))

    def visit_object(at: str, value: dict) -> None:
        present: set[str] = set()
        for key, child in value.items():
            path = _input_path(wire, paths, at, key)
            if path is None and paths.get(f"{at}.properties", {}).get("unexpanded"):
                continue  # a flattened property below the depth the facts were walked to: not judged
            if path is None:
                found.append(Finding(token, f"{at}.{key}", child, f"not a property of {wire.arm_type}@{wire.api_version}"))
            elif child is not None:
                present.add(path)
                visit(path, child)
        missing(at, present)

    def visit(path: str, value: Any) -> None:
        if value is None:
            return
        facts_ = paths.get(path)
        if facts_ is None:
            found.append(Finding(token, path, value, f"not a property of {wire.arm_type}@{wire.api_version}"))
            return
        problem = judge_value(facts_, value)
        if problem:
            found.append(Finding(token, path, value, problem))
        elif facts_["type"] == "object" and not facts_.get("unexpanded"):
            visit_object(path, value)
        else:
            for below, child in items_below(facts_, path, value):
                visit(below, child)

    # "location" is filled by the provider from the resource group; a fixed name is in the URL; azure-native names
    # a role assignment with a new GUID when the program gives none.
    present = {"location"}
    if wire.fixed_name is not None or token == "azure-native:authorization:RoleAssignment":
        present.add("name")
    for key, value in inputs.items():
        if key == wire.name_param:
            present.add("name")
            visit("name", value)
        elif key in wire.parents:
            parent = type_facts["parents"].get(key)
            problem = parent and value is not None and _value_problem(parent, value)
            if problem:
                found.append(Finding(token, key, value, f"{problem} (the name of the {parent['armType']})"))
        elif key == "location":
            visit("location", value)
        else:
            path = _input_path(wire, paths, "", key)
            if path is None:
                found.append(Finding(token, key, value, f"not a property of {wire.arm_type}@{wire.api_version}"))
            elif value is not None:
                present.add(path)
                visit(path, value)
    if wire.flattened and "properties" in paths:
        present.add("properties")  # azure-native builds the body's properties object from the flattened inputs
    missing("", present)
    return found


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("[]"), path.rfind("{}"))
    return path[:cut] if cut > 0 else ""


def beyond_contract(token: str, inputs: dict) -> list[Finding]:
    """What Azure refuses although its published contract allows it (``azure_rules``, each rule with its source)."""
    from ..azure_rules import CLIENT_CERTIFICATE_REFUSED

    found: list[Finding] = []
    if token.split(":")[0] == "azure-native" and token.endswith(":ApiManagementService"):
        sku = (inputs.get("sku") or {}).get("name")
        if "enableClientCertificate" in inputs and sku in CLIENT_CERTIFICATE_REFUSED:
            found.append(Finding(token, "enableClientCertificate", inputs["enableClientCertificate"],
                                 f"Azure refuses it on the {sku} tier (EnableClientCertificateCannotBeChangedForSku; "
                                 "pulumi/pulumi-azure-native#1741): leave it out, only Consumption takes it"))
    return found


def check_plan(registrations) -> list[Finding]:
    """:func:`check` and :func:`beyond_contract` over every registration of a plan (``plan.Registration`` objects)."""
    found: list[Finding] = []
    for r in registrations:
        if r.custom:
            found += check(r.type, r.plain_inputs) + beyond_contract(r.type, r.plain_inputs)
    return found


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m apim_lastmile.tools.contract <azure-types dir>``: (re)write ``azure_contract.json``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m apim_lastmile.tools.contract <path to shared/azure-types>\n")
        return 2
    FACTS_FILE.write_text(json.dumps(extract(Path(args[0])), indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
