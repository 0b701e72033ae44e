"""A plan's Azure resources as an ARM deployment template, for ARM scanners and Azure Policy evaluation.

``lastmile plan <stack> --arm`` prints it. Every resource the program registers through azure-native (a type in
``contract.WIRES``) becomes a template resource in ARM's shape, not the SDK's: the body's ``properties`` and every
nested object's ``properties`` rebuilt from azure-native's flattened inputs, SDK client names turned back into ARM
names (``contract._input_path``, the same mapping the contract check uses), children named as ARM names them
(``service/api/operation``, ``account/default/container``, ``site/authsettingsV2``), extension resources (role
assignments, diagnostic settings) with a ``scope``, and the API version azure-native sends.

The template is deployed to one resource group (resource-group scope, what scanners read). The resource group a
program creates is not a template resource (a resource group template cannot create its own group): it is named in
the template's ``metadata.resourceGroup``. Resources in another resource group go into a nested deployment to that
group, and extension resources into one where the resource they extend lives (another subscription too: a grant on
another team's Azure OpenAI account); the nested deployment waits for what they wait for outside it. Values are those the offline plan resolved (mock ids, fixed clock); secret values become ``securestring``
parameters without a default, and nothing else is masked. Resources of other providers (Microsoft Graph, random,
time) are listed in ``metadata.notInTemplate``.
"""

from __future__ import annotations

from typing import Any, Optional

from pulumi.runtime import rpc

from .contract import WIRES, Wire, _input_path, facts

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
_RESOURCE_GROUP = "azure-native:resources:ResourceGroup"


class _Secrets:
    """Secret values met on the way, each turned into a securestring parameter."""

    def __init__(self) -> None:
        self.parameters: dict[str, dict] = {}

    def parameter(self, resource: str, path: str) -> str:
        name = f"{resource}-{path.strip('.')}".replace(".", "-").replace("/", "-")
        self.parameters[name] = {"type": "securestring",
                                 "metadata": {"description": f"the secret {path.strip('.')} of {resource} (not shown by the plan)"}}
        return f"[parameters('{name}')]"


def _unwrap(value: Any, secrets: _Secrets, resource: str, path: str) -> Any:
    """``value`` without Pulumi's secret wrappers: a secret leaf becomes a parameter reference. A secret object (Pulumi
    marks a whole object secret when any part of it is) keeps its fields, its ``value`` becoming a parameter."""
    if rpc.is_rpc_secret(value):
        inner = value["value"]
        if isinstance(inner, dict):
            return {k: (secrets.parameter(resource, f"{path}.{k}") if k == "value" else _unwrap(v, secrets, resource, f"{path}.{k}"))
                    for k, v in inner.items()}
        return secrets.parameter(resource, path)
    if isinstance(value, dict):
        return {k: _unwrap(v, secrets, resource, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, secrets, resource, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _put(target: dict, relative: str, value: Any) -> None:
    *outer, last = relative.split(".")
    for key in outer:
        target = target.setdefault(key, {})
    target[last] = value


def _shape(wire: Wire, paths: dict, at: str, value: Any) -> Any:
    """The ARM shape of the input ``value`` that goes to ARM path ``at``."""
    facts_ = paths.get(at)
    if value is None or facts_ is None or facts_.get("unexpanded"):
        return value
    if facts_["type"] == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)  # Pulumi's wire format has numbers only; ARM's types say integer
    if facts_["type"] == "object" and isinstance(value, dict):
        out: dict = {}
        for key, child in value.items():
            path = _input_path(wire, paths, at, key)
            if path is None:  # unknown to Azure's types: kept as sent (the contract check reports it)
                out[key] = child
            elif child is not None:
                _put(out, path[len(at) + 1:], _shape(wire, paths, path, child))
        return out
    if facts_["type"] == "map" and isinstance(value, dict):
        return {k: _shape(wire, paths, f"{at}{{}}", v) for k, v in value.items()}
    if facts_["type"] == "array" and isinstance(value, list):
        return [_shape(wire, paths, f"{at}[]", v) for v in value]
    return value


def arm_body(token: str, inputs: dict) -> dict:
    """The ARM request body (``location``, ``sku``, ``properties``, ...) of azure-native ``inputs`` (secrets unwrapped)."""
    wire = WIRES[token]
    paths = facts()[token]["paths"]
    body: dict = {}
    for key, value in inputs.items():
        if value is None or key == wire.name_param or key in wire.parents:
            continue
        path = _input_path(wire, paths, "", key) or key
        _put(body, path, _shape(wire, paths, path, value))
    return body


def arm_name(token: str, inputs: dict, fallback: str) -> str:
    """The name ARM gives the resource in a template: its parents' names, then its own (``service/api/operation``)."""
    wire = WIRES[token]
    return "/".join([*wire.parent_names(inputs), wire.own_name(inputs, fallback)])


def to_template(plan) -> dict:
    """The ARM deployment template of ``plan`` (a ``plan.Plan``)."""
    secrets = _Secrets()
    groups = [r for r in plan.registrations if r.type == _RESOURCE_GROUP]
    home = groups[0].plain_inputs.get("resourceGroupName") if groups else None
    location = groups[0].plain_inputs.get("location") if groups else None
    #: (subscription, when not the deployer's own; resource group) -> the resources deployed there, and their ARM ids
    by_group: dict[tuple[Optional[str], Optional[str]], list[dict]] = {}
    arm_ids: dict[tuple[Optional[str], Optional[str]], set[str]] = {}
    ids: dict[str, str] = {}  # Pulumi URN -> ARM id, for dependsOn
    not_in_template = []
    for r in plan.registrations:
        if r.custom and r.type in WIRES and r.type != _RESOURCE_GROUP:
            ids[r.urn] = r.outputs.get("id") or ""
    for r in sorted(plan.registrations, key=lambda r: r.urn):
        if not r.custom:
            continue
        if r.type not in WIRES:
            not_in_template.append({"type": r.type, "name": r.name})
            continue
        if r.type == _RESOURCE_GROUP:
            continue
        inputs = _unwrap(r.inputs, secrets, r.name, "")
        resource = {"type": WIRES[r.type].arm_type, "apiVersion": WIRES[r.type].sent_version,
                    "name": arm_name(r.type, inputs, r.outputs.get("name") or r.name)}
        if WIRES[r.type].scope_param:
            resource["scope"] = inputs.get(WIRES[r.type].scope_param)
        resource.update(arm_body(r.type, inputs))
        where = facts()[r.type]["paths"].get("location")
        if where is not None and not where.get("readOnly") and "location" not in resource and location:
            resource["location"] = location  # azure-native fills in the resource group's location
        depends = sorted({ids[u] for u in r.depends_on if ids.get(u)} | _referenced(inputs, ids, r.urn))
        if depends:
            resource["dependsOn"] = depends
        placed = _deployed_in(r.type, inputs, home)
        by_group.setdefault(placed, []).append(resource)
        arm_ids.setdefault(placed, set()).add(ids[r.urn])
    template = _template(by_group.pop((None, home), []), secrets.parameters)
    for (subscription, group), resources in sorted(by_group.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        nested = {"type": "Microsoft.Resources/deployments", "apiVersion": "2024-03-01",
                  "name": f"lastmile-{group}" if subscription is None else f"lastmile-{subscription[:8]}-{group}"}
        if subscription is not None:
            nested["subscriptionId"] = subscription
        # dependsOn names resources of its own template only: what the nested resources wait for outside it, the
        # nested deployment waits for.
        inside = arm_ids[(subscription, group)]
        outside = sorted({d for r in resources for d in r.get("dependsOn", ()) if d not in inside})
        for r in resources:
            kept = [d for d in r.pop("dependsOn", ()) if d in inside]
            if kept:
                r["dependsOn"] = kept
        if outside:
            nested["dependsOn"] = outside
        template["resources"].append({**nested, "resourceGroup": group, "properties": {
            "mode": "Incremental", "expressionEvaluationOptions": {"scope": "outer"}, "template": _template(resources, {})}})
    template["metadata"] = {
        "generator": "lastmile plan --arm",
        "stack": plan.stack,
        "resourceGroup": _group_metadata(groups[0]) if groups else None,
        "notInTemplate": not_in_template,
    }
    return template


def _deployed_in(token: str, inputs: dict, home: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """Where a resource is deployed: its resource group (``None`` for the deployer's own subscription); an extension
    resource (a role assignment, a diagnostic setting) where the resource it extends lives, since a resource-group
    deployment cannot place one in another group or subscription."""
    from .permissions import arm_group
    from .plan import SUBSCRIPTION_ID

    scope_param = WIRES[token].scope_param
    located = arm_group(inputs.get(scope_param)) if scope_param else None
    if located is None:
        return None, inputs.get("resourceGroupName", home)
    subscription, group = located
    if subscription.lower() == SUBSCRIPTION_ID.lower():
        return None, (home if home is not None and group.lower() == home.lower() else group)
    return subscription, group


def _template(resources: list[dict], parameters: dict) -> dict:
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": dict(sorted(parameters.items())), "resources": resources}


def _group_metadata(group) -> dict:
    inputs = group.plain_inputs
    return {"name": inputs.get("resourceGroupName"), "location": inputs.get("location"), "tags": inputs.get("tags") or {}}


def _referenced(value: Any, ids: dict[str, str], own: str) -> set[str]:
    """The ARM ids of template resources that ``value`` names (ARM's implicit dependencies, written out)."""
    found: set[str] = set()
    if isinstance(value, str):
        found |= {rid for urn, rid in ids.items() if urn != own and rid and (value == rid or value.startswith(rid + "/"))}
    elif isinstance(value, dict):
        for child in value.values():
            found |= _referenced(child, ids, own)
    elif isinstance(value, list):
        for child in value:
            found |= _referenced(child, ids, own)
    return found


# ---- the template against Azure's types ----

def _token_of(resource: dict) -> Optional[str]:
    """The azure-native token whose contract facts describe a template resource (a fixed name picks the variant)."""
    own = resource["name"].rsplit("/", 1)[-1]
    for token, wire in WIRES.items():
        if wire.arm_type == resource["type"] and wire.sent_version == resource["apiVersion"] and wire.fixed_name in (None, own):
            return token
    return None


def template_resources(template: dict) -> list[dict]:
    """Every resource of ``template``, those of its nested deployments included (the deployments themselves not)."""
    found = []
    for resource in template.get("resources", []):
        if resource["type"] == "Microsoft.Resources/deployments":
            found += template_resources(resource["properties"]["template"])
        else:
            found.append(resource)
    return found


def validate(template: dict, known: Optional[dict] = None) -> list[str]:
    """Every way a template resource breaks Azure's types (``known``: contract facts by token, as ``contract.extract``
    returns them from the shared azure-types; the committed facts by default): an unknown type or API version, a
    property the type does not have, a read-only one, a wrong value, a required one left out."""
    from .contract import _parent, items_below, judge_value

    known = facts() if known is None else known
    problems: list[str] = []
    for resource in template_resources(template):
        token = _token_of(resource)
        where = f"{resource['type']}@{resource['apiVersion']} {resource['name']}"
        if token is None or token not in known:
            problems.append(f"{where}: no Azure types for this type and API version")
            continue
        paths = known[token]["paths"]
        required: dict[str, list[str]] = {}
        for path, facts_ in paths.items():
            if facts_.get("required"):
                required.setdefault(_parent(path), []).append(path)

        def visit(path: str, value: Any) -> None:
            facts_ = paths.get(path)
            if facts_ is None:
                problems.append(f"{where}: {path}: not a property of the type")
                return
            if isinstance(value, str) and value.startswith("[parameters(") and not facts_.get("readOnly"):
                return  # a secure parameter: its value is not in the template
            problem = judge_value(facts_, value)
            if problem:
                problems.append(f"{where}: {path}: {value!r}: {problem}")
            elif facts_["type"] == "object" and not facts_.get("unexpanded"):
                visit_object(path, value)
            else:
                for below, child in items_below(facts_, path, value):
                    visit(below, child)

        def visit_object(at: str, value: dict) -> None:
            for key, child in value.items():
                visit(f"{at}.{key}" if at else key, child)
            for path in required.get(at, ()):
                if path.rsplit(".", 1)[-1].split("[")[0] not in value:
                    problems.append(f"{where}: {path}: required but not set")

        # A child's template name is "parent/.../own": ARM's types name the last segment.
        body = {k: v for k, v in resource.items() if k not in ("type", "apiVersion", "dependsOn", "scope", "metadata")}
        body["name"] = resource["name"].rsplit("/", 1)[-1]
        if resource["name"].count("/") != resource["type"].count("/") - 1:
            problems.append(f"{where}: name: expected one segment per level of the type")
        visit_object("", body)
    return problems
