"""The Azure Policy a workload meets in an Azure landing zone (ALZ) deployed with the portal's defaults, read offline
from a copy of the published sources (``../shared/azure-policy``, see its README), and the verdicts its rules give on
ARM template resources.

Sources and how they are read (docs/research/landing-zone.md, section 1):

- ``alz/eslzArm.json``: the ALZ deployment template, JSON with comments and trailing commas. Each policy assignment
  is a ``Microsoft.Resources/deployments`` resource linking ``alz/policyAssignments/<file>``; its ``condition`` names
  the portal switch, its ``scope`` the management group (``variables('scopes').lzsManagementGroup`` is "Landing
  Zones", ``corpManagementGroup`` "Corp", ``eslzRootManagementGroup`` the intermediate root, whose assignments both
  inherit; the workload-specific guardrails copy over the management groups a selector lists), its ``parameters``
  the assignment's enforcement mode and effects. Those expressions are evaluated with the template language of
  :mod:`apim_lastmile.tools.azure_policy`.
- ``alz/eslz-portal.json``: the portal form. Each switch's default is the ``defaultValue`` of its element (an
  ``OptionsGroup`` default is a label: ``Yes (recommended)`` -> ``Yes``, ``Audit only`` -> ``Audit``); the form's
  ``outputs`` map elements to the template's parameters. :data:`ASSUMED_DEPLOYMENT_INPUTS` fills the inputs the
  form requires but has no default for.
- ``alz/policyAssignments/*.json``: the assignment's name, definition, enforcement mode and parameter values.
- Definitions: ALZ's own in ``alz/policyDefinitions`` and ``alz/policySetDefinitions`` (deployed through ARM, so
  their ``[[`` escapes become ``[``: :func:`unescape_deployed_strings`), built-ins in ``builtin/`` found by their
  ``name`` (a GUID). The Microsoft cloud security benchmark (``builtin/initiatives/AzureSecurityCenter.json``) is
  assigned at the root by ``DINE-ASBPolicyAssignment.json`` with no parameters: its members carry the initiative's
  default effects.

Every assignment reaching "Landing Zones", "Corp" or the root is listed (:class:`Assignment`); each policy it
applies whose definition is present becomes a :class:`Rule` with its effect resolved through the initiative's
parameters. :func:`judge` evaluates rules against template resources. A resource in a Landing Zones subscription
meets the root's and Landing Zones' rules, one in Corp also Corp's (:func:`rules_reaching`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from apim_lastmile.tools import azure_policy
from apim_lastmile.tools.azure_policy import PolicyEvaluationError, UnsupportedPolicyLanguage

__all__ = [
    "ASSUMED_DEPLOYMENT_INPUTS",
    "Assignment",
    "CORP",
    "LANDING_ZONES",
    "LandingZone",
    "MissingDefinition",
    "Outcome",
    "ROOT",
    "Rule",
    "Verdict",
    "default_assignments",
    "deployment_inputs",
    "judge",
    "load_landing_zone",
    "portal_defaults",
    "read_json_with_comments",
    "rules_reaching",
    "unescape_deployed_strings",
    "view_for_mode",
]

ROOT, LANDING_ZONES, CORP = "root", "landingzones", "corp"

#: The management groups whose assignments a subscription in each archetype inherits.
INHERITED_MANAGEMENT_GROUPS: dict[str, tuple[str, ...]] = {
    LANDING_ZONES: (ROOT, LANDING_ZONES),
    CORP: (ROOT, LANDING_ZONES, CORP),
}

#: The management group prefix: ALZ's own placeholder (the initiatives name ``managementGroups/contoso``).
COMPANY_PREFIX = "contoso"

#: Inputs the portal form requires without a default: the company prefix and the platform subscriptions (the
#: form's default platform layout is "Dedicated (recommended)", one subscription each for management, connectivity
#: and identity). Assumed chosen, as a deployment cannot proceed without them; they gate the root's assignments
#: (management) and the Landing Zones' DDoS assignment (connectivity).
ASSUMED_DEPLOYMENT_INPUTS: dict[str, str] = {
    "enterpriseScaleCompanyPrefix": COMPANY_PREFIX,
    "managementSubscriptionId": "<management subscription>",
    "connectivitySubscriptionId": "<connectivity subscription>",
    "identitySubscriptionId": "<identity subscription>",
}

_MANAGEMENT_GROUPS = {
    COMPANY_PREFIX: ROOT,
    f"{COMPANY_PREFIX}-landingzones": LANDING_ZONES,
    f"{COMPANY_PREFIX}-corp": CORP,
}
_AZURE_CLOUD = {"name": "AzureCloud", "resourceManager": "https://management.azure.com/"}
_DEPLOYMENT_LOCATION = "<deployment location>"


# --- Reading the files --------------------------------------------------------------------------------------------


_STRING_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_STRING_OR_TRAILING_COMMA = re.compile(r'"(?:\\.|[^"\\])*"|,(?=\s*[}\]])')


def _strings_kept(pattern: re.Pattern, text: str) -> str:
    """``text`` with what ``pattern`` matches outside JSON strings removed."""
    return pattern.sub(lambda match: match.group() if match.group().startswith('"') else "", text)


def read_json_with_comments(path: Path) -> Any:
    """JSON that may carry ``//`` and ``/* */`` comments and trailing commas (``eslzArm.json``: ``json.load`` fails
    on it), both removed outside strings only."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(_strings_kept(_STRING_OR_TRAILING_COMMA, _strings_kept(_STRING_OR_COMMENT, text)))


def unescape_deployed_strings(value: Any) -> Any:
    """``value`` as ARM stores it after a deployment: a string starting ``[[`` loses one ``[`` (ALZ writes the policy
    rules it deploys as ``"[[parameters('effect')]"`` so that the deployment passes them on unevaluated)."""
    if isinstance(value, str):
        return value[1:] if value.startswith("[[") else value
    if isinstance(value, list):
        return [unescape_deployed_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: unescape_deployed_strings(item) for key, item in value.items()}
    return value


# --- Evaluating deployment templates ------------------------------------------------------------------------------


class _LazyObject(MappingABC):
    """A template object whose members are evaluated when read, so that reading ``variables('scopes').corp`` does not
    evaluate the other scopes."""

    def __init__(self, raw: Mapping, resolve: Callable[[Any], Any]):
        self._raw, self._resolve = raw, resolve

    def __getitem__(self, key: str) -> Any:
        return self._resolve(self._raw[key])

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"<template object with {sorted(self._raw)}>"


class _Template:
    """A deployment template's parameters and variables, for evaluating its expressions."""

    def __init__(self, document: Mapping, passed: Mapping[str, Any]):
        declared = document.get("parameters") or {}
        self.parameters = {name: spec.get("defaultValue") for name, spec in declared.items() if "defaultValue" in spec}
        self.parameters.update(passed)
        self.variables = document.get("variables") or {}

    def resolve(self, value: Any, copy_index: Optional[int] = None) -> Any:
        functions = self._functions(copy_index)

        def lazily(raw: Any) -> Any:
            if isinstance(raw, Mapping):
                return _LazyObject(raw, lazily)
            return azure_policy.resolve_template_value(raw, functions)

        functions["variables"] = lambda name: lazily(self.variables[name])
        return lazily(value) if not isinstance(value, Mapping) else _plain(lazily(value))

    def _functions(self, copy_index: Optional[int]) -> dict[str, Callable[..., Any]]:
        def parameter(name: str) -> Any:
            found = next((key for key in self.parameters if key.lower() == str(name).lower()), None)
            if found is None:  # ARM names compare ignoring case (eslzArm reads denyPipOnNicForCorp as ...forCorp)
                raise PolicyEvaluationError(f"the template parameter {name!r} has no value")
            return self.parameters[found]

        def index(offset: int = 0) -> int:
            if copy_index is None:
                raise PolicyEvaluationError("copyIndex() outside a copy loop")
            return copy_index + offset

        return {
            **azure_policy.STATELESS_FUNCTIONS,
            "parameters": parameter,
            "copyindex": index,
            "environment": lambda: dict(_AZURE_CLOUD),
            "deployment": lambda: {"location": _DEPLOYMENT_LOCATION, "properties": {"templateLink": {"uri": ""}}},
            "uri": lambda base, relative: f"{base}{relative}",
            "tenantresourceid": lambda kind, *names: "/providers/" + "/".join([kind.rstrip("/"), *names]),
            "take": lambda value, count: value[:count],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, MappingABC):
        return {key: _plain(value[key]) for key in value}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _resolved_or_error(template: _Template, value: Any, copy_index: Optional[int] = None) -> tuple[Any, Optional[str]]:
    """The value of ``value``, or why it cannot be evaluated here (a function or variable this reader lacks)."""
    try:
        return _plain(template.resolve(value, copy_index)), None
    except (PolicyEvaluationError, UnsupportedPolicyLanguage, KeyError, TypeError, IndexError) as error:
        return None, f"{type(error).__name__}: {error}"


# --- The portal's defaults ----------------------------------------------------------------------------------------


def _element_default(element: Mapping) -> Any:
    """The value an element of the form holds before the user touches it (a section: its elements' values)."""
    if element.get("type") == "Microsoft.Common.Section" or ("elements" in element and "defaultValue" not in element):
        return {child["name"]: _element_default(child) for child in element.get("elements") or []}
    default = element.get("defaultValue")
    allowed = (element.get("constraints") or {}).get("allowedValues")
    if isinstance(default, list):
        return [item["value"] if isinstance(item, Mapping) and "value" in item else item for item in default]
    if isinstance(default, str) and isinstance(allowed, list):
        for option in allowed:
            if isinstance(option, Mapping) and default in (option.get("label"), option.get("value")):
                return option.get("value")
    return default


def portal_defaults(portal: Mapping) -> dict[str, Any]:
    """The template parameters the portal form submits when every switch keeps its default: each output whose
    expression reads defaults only (the others, such as the chosen subscriptions, are left out)."""
    steps = {step["name"]: _element_default(step) for step in portal["view"]["properties"]["steps"]}
    steps["basics"] = {}
    functions = {**azure_policy.STATELESS_FUNCTIONS, "steps": lambda name: steps[name]}
    values = {}
    for name, expression in portal["view"]["outputs"]["parameters"].items():
        try:
            value = azure_policy.resolve_template_value(expression, functions)
        except (PolicyEvaluationError, UnsupportedPolicyLanguage, KeyError, TypeError, IndexError):
            continue
        # An element whose default is itself an expression (a required subscription drop-down's "[parse('[]')]")
        # has no default the form would submit.
        if value is not None and not azure_policy.is_template_expression(value):
            values[name] = value
    return values


def deployment_inputs(policy_dir: Path, arm: Optional[Mapping] = None) -> dict[str, Any]:
    """The parameters ``eslzArm.json`` (``arm`` if already read) is deployed with: its defaults, the portal's
    defaults over them, and :data:`ASSUMED_DEPLOYMENT_INPUTS`."""
    arm = arm if arm is not None else read_json_with_comments(policy_dir / "alz" / "eslzArm.json")
    inputs = {name: spec["defaultValue"] for name, spec in arm["parameters"].items() if "defaultValue" in spec}
    inputs.update(portal_defaults(read_json_with_comments(policy_dir / "alz" / "eslz-portal.json")))
    inputs.update(ASSUMED_DEPLOYMENT_INPUTS)
    return inputs


# --- Assignments --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """A policy assignment ALZ makes by default at the root, "Landing Zones" or "Corp"."""

    name: str
    management_group: str
    enforcement_mode: str
    definition_id: str
    #: The definition or initiative file, None when ``shared/`` does not carry it.
    definition_file: Optional[Path]
    #: The assignment's parameter values (plain values, not ``{"value": ...}``).
    parameters: Mapping[str, Any]
    #: ``alz/policyAssignments/<file>``.
    source_file: str
    #: Parameters that could not be evaluated here, each ``name (reason)``: the assignment file's default applies.
    unresolved_parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Deployment:
    assignment_file: str
    management_group: str
    parameters: Mapping[str, Any]
    unresolved: tuple[str, ...]


def _assignment_deployments(arm: Mapping, inputs: Mapping[str, Any]) -> Iterator[_Deployment]:
    template = _Template(arm, inputs)
    for resource in arm["resources"]:
        uri = ((resource.get("properties") or {}).get("templateLink") or {}).get("uri", "")
        if resource.get("type") != "Microsoft.Resources/deployments" or "deploymentUris" not in uri:
            continue
        target = template.resolve(uri)
        if "policyAssignments/" not in target:
            continue
        copies = template.resolve(resource["copy"]["count"]) if "copy" in resource else None
        for copy_index in range(copies) if copies is not None else [None]:
            deployment = _deployment(template, resource, target.rsplit("/", 1)[-1], copy_index)
            if deployment is not None:
                yield deployment


def _deployment(template: _Template, resource: Mapping, file_name: str,
                copy_index: Optional[int]) -> Optional[_Deployment]:
    if "condition" in resource and template.resolve(resource["condition"], copy_index) is not True:
        return None
    management_group = _MANAGEMENT_GROUPS.get(str(template.resolve(resource["scope"], copy_index)).rsplit("/", 1)[-1])
    if management_group is None:
        return None
    parameters, unresolved = {}, []
    for name, spec in (resource["properties"].get("parameters") or {}).items():
        value, error = _resolved_or_error(template, spec.get("value"), copy_index)
        if error is None:
            parameters[name] = value
        else:
            unresolved.append(f"{name} ({error})")
    return _Deployment(file_name, management_group, parameters, tuple(unresolved))


class _Definitions:
    """The definitions and initiatives in ``shared/``, found by the last segment of their id (their ``name``)."""

    def __init__(self, policy_dir: Path):
        self.policy_dir = policy_dir
        self.by_kind: dict[str, dict[str, tuple[Path, dict]]] = {"policydefinitions": {}, "policysetdefinitions": {}}
        for kind, folder, escaped in (
            ("policydefinitions", policy_dir / "alz" / "policyDefinitions", True),
            ("policysetdefinitions", policy_dir / "alz" / "policySetDefinitions", True),
            ("policysetdefinitions", policy_dir / "builtin" / "initiatives", False),
        ):
            self._index(kind, sorted(folder.glob("*.json")), escaped)
        builtins = sorted(path for path in (policy_dir / "builtin").glob("*/*.json")
                          if path.parent.name != "initiatives")
        self._index("policydefinitions", builtins, False)

    def _index(self, kind: str, paths: Sequence[Path], escaped: bool) -> None:
        for path in paths:
            document = read_json_with_comments(path)
            document = unescape_deployed_strings(document) if escaped else document
            self.by_kind[kind][str(document.get("name", path.stem)).lower()] = (path, document)

    def find(self, definition_id: str) -> Optional[tuple[Path, dict]]:
        parts = definition_id.strip("/").split("/")
        if len(parts) < 2 or parts[-2].lower() not in self.by_kind:
            return None
        return self.by_kind[parts[-2].lower()].get(parts[-1].lower())


def _assignments_in_file(policy_dir: Path, deployment: _Deployment, definitions: _Definitions) -> Iterator[Assignment]:
    document = read_json_with_comments(policy_dir / "alz" / "policyAssignments" / deployment.assignment_file)
    template = _Template(document, deployment.parameters)
    for resource in document["resources"]:
        if resource.get("type") != "Microsoft.Authorization/policyAssignments":
            continue
        properties = resource["properties"]
        definition_id = str(template.resolve(properties["policyDefinitionId"]))
        parameters, unresolved = {}, list(deployment.unresolved)
        for name, spec in (properties.get("parameters") or {}).items():
            value, error = _resolved_or_error(template, spec.get("value"))
            if error is None:
                parameters[name] = value
            else:
                unresolved.append(f"{name} ({error})")
        found = definitions.find(definition_id)
        yield Assignment(
            name=str(template.resolve(resource["name"])),
            management_group=deployment.management_group,
            enforcement_mode=str(template.resolve(properties.get("enforcementMode", "Default"))),
            definition_id=definition_id,
            definition_file=found[0] if found else None,
            parameters=parameters,
            source_file=deployment.assignment_file,
            unresolved_parameters=tuple(unresolved),
        )


def default_assignments(policy_dir: Path) -> tuple[Assignment, ...]:
    """Every assignment the portal's defaults make at the root, "Landing Zones" and "Corp"."""
    return load_landing_zone(policy_dir).assignments


# --- Rules --------------------------------------------------------------------------------------------------------

#: Effects Azure applies to the request itself when the assignment is enforced.
_ENFORCING_EFFECTS = frozenset({"deny", "append", "modify"})


@dataclass(frozen=True)
class Rule:
    """One policy definition as an assignment applies it, ready to evaluate."""

    assignment: str
    management_group: str
    enforcement_mode: str
    definition_id: str
    display_name: str
    file: Path
    mode: str
    policy_rule: Mapping[str, Any]
    #: The effect as resolved, lower case (``deny``, ``audit``, ``auditifnotexists``, ...).
    effect: str
    #: Azure acts on the request: a deny/append/modify effect under enforcement mode ``Default``.
    enforced: bool
    #: The definition's parameter values to evaluate with.
    parameters: Mapping[str, Any]
    #: The initiative the assignment applies (None when it assigns the definition itself) and the member's reference.
    initiative: Optional[str] = None
    reference_id: Optional[str] = None


@dataclass(frozen=True)
class MissingDefinition:
    """A policy an assignment applies whose definition ``shared/`` does not carry: it cannot be evaluated here."""

    assignment: str
    management_group: str
    definition_id: str
    reference_id: Optional[str] = None


@dataclass(frozen=True)
class LandingZone:
    deployment_inputs: Mapping[str, Any]
    assignments: tuple[Assignment, ...]
    rules: tuple[Rule, ...]
    missing: tuple[MissingDefinition, ...]


def _rule(assignment: Assignment, definition_id: str, path: Path, definition: Mapping, supplied: Mapping[str, Any], *,
          initiative: Optional[str] = None, reference_id: Optional[str] = None) -> Rule:
    properties = definition["properties"]
    parameters = azure_policy.definition_parameter_values(definition, supplied)
    effect = azure_policy.effect_of(definition, supplied)
    return Rule(
        assignment=assignment.name,
        management_group=assignment.management_group,
        enforcement_mode=assignment.enforcement_mode,
        definition_id=definition_id,
        display_name=str(properties.get("displayName", "")),
        file=path,
        mode=str(properties.get("mode", "All")),
        policy_rule=properties["policyRule"],
        effect=effect,
        enforced=effect in _ENFORCING_EFFECTS and assignment.enforcement_mode == "Default",
        parameters=parameters,
        initiative=initiative,
        reference_id=reference_id,
    )


def _initiative_rules(assignment: Assignment, initiative: Mapping, definitions: _Definitions,
                      missing: list[MissingDefinition]) -> Iterator[Rule]:
    """Each member with the parameter values the initiative passes it: its ``parameters`` mapping evaluated over the
    initiative's values (the assignment's, else the initiative's ``defaultValue``)."""
    values = azure_policy.definition_parameter_values(initiative, assignment.parameters)
    functions = {**azure_policy.STATELESS_FUNCTIONS, "parameters": lambda name: values[name]}
    for member in initiative["properties"]["policyDefinitions"]:
        found = definitions.find(member["policyDefinitionId"])
        reference_id = member.get("policyDefinitionReferenceId")
        if found is None:
            missing.append(MissingDefinition(assignment.name, assignment.management_group, member["policyDefinitionId"],
                                             reference_id))
            continue
        supplied = {name: azure_policy.resolve_template_value(spec.get("value"), functions)
                    for name, spec in (member.get("parameters") or {}).items()}
        yield _rule(assignment, member["policyDefinitionId"], *found, supplied, initiative=str(initiative.get("name")),
                    reference_id=reference_id)


@functools.lru_cache(maxsize=4)
def _load(policy_dir: str) -> LandingZone:
    root = Path(policy_dir)
    arm = read_json_with_comments(root / "alz" / "eslzArm.json")
    inputs = deployment_inputs(root, arm)
    definitions = _Definitions(root)
    assignments = tuple(
        assignment
        for deployment in _assignment_deployments(arm, inputs)
        for assignment in _assignments_in_file(root, deployment, definitions)
    )
    rules: list[Rule] = []
    missing: list[MissingDefinition] = []
    for assignment in assignments:
        found = definitions.find(assignment.definition_id)
        if found is None:
            missing.append(MissingDefinition(assignment.name, assignment.management_group, assignment.definition_id))
        elif "policyDefinitions" in found[1]["properties"]:
            rules.extend(_initiative_rules(assignment, found[1], definitions, missing))
        else:
            rules.append(_rule(assignment, assignment.definition_id, *found, assignment.parameters))
    return LandingZone(inputs, assignments, tuple(rules), tuple(missing))


def load_landing_zone(policy_dir: Path) -> LandingZone:
    """The assignments, rules and missing definitions of an ALZ deployed with the portal's defaults, read from
    ``policy_dir`` (``../shared/azure-policy``); read once per directory."""
    return _load(str(Path(policy_dir).resolve()))


def rules_reaching(rules: Sequence[Rule], archetype: str) -> list[Rule]:
    """The rules a subscription under ``archetype`` (:data:`LANDING_ZONES` or :data:`CORP`) inherits."""
    groups = INHERITED_MANAGEMENT_GROUPS[archetype]
    return [rule for rule in rules if rule.management_group in groups]


# --- Verdicts -----------------------------------------------------------------------------------------------------


class Outcome(str, Enum):
    #: An enforced deny: Azure refuses the request.
    REFUSED = "refused"
    #: Reported non-compliant, the request proceeds (an audit, or a deny/append/modify under ``DoNotEnforce``).
    AUDITED = "audited"
    #: Azure adds the definition's fields to the request (enforced append).
    APPENDED = "appended"
    #: Azure alters the request (enforced modify): expect drift on the next refresh.
    MODIFIED = "modified"
    #: The resource is in scope of an auditIfNotExists/deployIfNotExists: compliance depends on related resources.
    EXISTENCE_CHECK = "existence-check"
    #: The evaluation fails as Azure's would: an implicit deny when the assignment is enforced.
    ERROR = "error"
    #: This evaluator cannot read the rule: verdict unknown.
    UNREADABLE = "unreadable"


_OUTCOMES = {
    "deny": (Outcome.REFUSED, Outcome.AUDITED),
    "append": (Outcome.APPENDED, Outcome.AUDITED),
    "modify": (Outcome.MODIFIED, Outcome.AUDITED),
    "auditifnotexists": (Outcome.EXISTENCE_CHECK, Outcome.EXISTENCE_CHECK),
    "deployifnotexists": (Outcome.EXISTENCE_CHECK, Outcome.EXISTENCE_CHECK),
}
#: Effects that never judge a create or update request.
_SILENT_EFFECTS = frozenset({"disabled", "denyaction"})


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    resource_type: str
    resource_name: str
    outcome: Outcome
    #: Azure refuses the request (an enforced deny, or a failed evaluation under enforcement mode ``Default``).
    blocks: bool
    detail: str = ""


def view_for_mode(mode: str, resource: Mapping, now: datetime) -> Optional[Mapping]:
    """What a rule of ``mode`` evaluates for ``resource``, None when that mode does not evaluate it: ``All`` every
    resource; ``Indexed`` "only resource types that support tags and location" [rule docs, definition-structure-basics
    "Resource Manager modes"] (Inference: a template resource carrying ``location``: tracked types require it, child
    types have none); ``Microsoft.KeyVault.Data`` a secret in Key Vault's data-plane view."""
    lowered = mode.lower()
    if lowered == "all":
        return resource
    if lowered == "indexed":
        return resource if "location" in resource else None
    is_secret = str(resource.get("type", "")).lower() == "microsoft.keyvault/vaults/secrets"
    if lowered == "microsoft.keyvault.data" and is_secret:
        return azure_policy.key_vault_secret_data_view(resource, now)
    return None


def _verdict(rule: Rule, resource: Mapping, subject: Mapping, now: datetime,
             resource_group: Optional[Mapping[str, Any]]) -> Optional[Verdict]:
    def verdict(outcome: Outcome, blocks: bool, detail: str = "") -> Verdict:
        return Verdict(rule, str(resource.get("type", "")), str(resource.get("name", "")), outcome, blocks, detail)

    try:
        matched = azure_policy.evaluate(rule.policy_rule, subject, parameters=rule.parameters, now=now,
                                        api_version=str(resource.get("apiVersion", "")), resource_group=resource_group)
    except PolicyEvaluationError as error:
        return verdict(Outcome.ERROR, rule.enforcement_mode == "Default", str(error))
    except UnsupportedPolicyLanguage as error:
        return verdict(Outcome.UNREADABLE, False, str(error))
    if not matched:
        return None
    enforced_outcome, reported_outcome = _OUTCOMES.get(rule.effect, (Outcome.AUDITED, Outcome.AUDITED))
    outcome = enforced_outcome if rule.enforced else reported_outcome
    return verdict(outcome, outcome is Outcome.REFUSED, rule.effect)


def judge(resources: Sequence[Mapping], rules: Sequence[Rule], *, now: datetime,
          resource_group: Optional[Mapping[str, Any]] = None) -> list[Verdict]:
    """The verdict of each rule on each ARM template resource its mode evaluates and whose ``if`` holds (or whose
    evaluation fails): refused, audited, appended, modified, existence check, error or unreadable. Rules with a
    ``disabled`` or ``denyAction`` effect give none. Pass :func:`rules_reaching` to judge one archetype."""
    verdicts = []
    views: dict[tuple[str, int], Optional[Mapping]] = {}
    for rule in rules:
        if rule.effect in _SILENT_EFFECTS:
            continue
        types = _guarding_types(rule.policy_rule)
        for index, resource in enumerate(resources):
            key = (rule.mode, index)
            if key not in views:
                views[key] = view_for_mode(rule.mode, resource, now)
            subject = views[key]
            if subject is None or (types is not None and str(subject.get("type", "")).lower() not in types):
                continue  # the mode does not evaluate it, or the rule's own type condition is false for it
            found = _verdict(rule, resource, subject, now, resource_group)
            if found is not None:
                verdicts.append(found)
    return verdicts


def _guarding_types(policy_rule: Mapping) -> Optional[frozenset[str]]:
    """The resource types a rule's ``if`` can hold for, when its top level is an ``allOf`` with a literal
    ``{"field": "type", "equals"|"in": ...}`` first member (false for any other type, so the whole ``if`` is); None otherwise.
    Only a shortcut: judging every resource gives the same verdicts."""
    condition = policy_rule.get("if") if isinstance(policy_rule, Mapping) else None
    members = condition.get("allOf") if isinstance(condition, Mapping) else None
    # The first member only: allOf decides left to right, so nothing after a false first member is evaluated.
    first = members[0] if isinstance(members, list) and members else None
    if not isinstance(first, Mapping) or first.get("field") != "type" or len(first) != 2:
        return None
    value = first.get("equals", first.get("in"))
    values = [value] if isinstance(value, str) else value
    if isinstance(values, list) and values and all(isinstance(v, str) and not v.startswith("[") for v in values):
        return frozenset(v.lower() for v in values)
    return None
