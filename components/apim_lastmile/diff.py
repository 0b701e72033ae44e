"""``lastmile diff BASE.json HEAD.json``: what a change does at the gateway, for the pull-request comment.

Both files are ``lastmile plan <stack> --json`` outputs (stable: sorted, secrets masked, nothing that changes from
run to run), so any difference is a difference in what the program declares.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from .errors import LastMileError

#: What can change for one URN (type and name are part of the URN itself).
_FIELDS = ("parent", "protect")


@dataclass
class PlanDiff:
    """Resources added, removed and changed (by URN, with the fields that changed) and each policy's diff."""

    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[tuple[dict, list[str]]] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.policies)


def load_plan(path: str) -> dict:
    """A plan JSON file, checked for the shape ``lastmile plan --json`` writes."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise LastMileError(path, f"line {exc.lineno}", "expected the JSON output of `lastmile plan <stack> --json`") from None
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list) or not isinstance(data.get("policies"), dict):
        raise LastMileError(path, type(data).__name__, "expected the JSON output of `lastmile plan <stack> --json` (resources, policies)")
    return data


def _changed_fields(before: dict, after: dict) -> list[str]:
    out = [f for f in _FIELDS if before.get(f) != after.get(f)]
    inputs_before, inputs_after = before.get("inputs") or {}, after.get("inputs") or {}
    out += [f"inputs.{k}" for k in sorted(set(inputs_before) | set(inputs_after)) if inputs_before.get(k) != inputs_after.get(k)]
    return out


def _policy_diff(name: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(),
        fromfile=f"base/{name}" if before else "/dev/null", tofile=f"head/{name}" if after else "/dev/null", lineterm="",
    )
    return "\n".join(lines)


def diff_plans(base: dict, head: dict) -> PlanDiff:
    """Compare two plans resource by resource (URN) and policy by policy (resource name)."""
    result = PlanDiff()
    before = {r["urn"]: r for r in base["resources"]}
    after = {r["urn"]: r for r in head["resources"]}
    result.added = [after[u] for u in sorted(set(after) - set(before))]
    result.removed = [before[u] for u in sorted(set(before) - set(after))]
    for urn in sorted(set(before) & set(after)):
        fields = _changed_fields(before[urn], after[urn])
        if fields:
            result.changed.append((after[urn], fields))
    old, new = base["policies"], head["policies"]
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            result.policies[name] = _policy_diff(name, old.get(name, ""), new.get(name, ""))
    return result


def render(diff: PlanDiff, base: dict, head: dict, markdown: bool = False) -> str:
    """Text for a terminal, or Markdown for a pull-request comment."""
    title = f"lastmile diff: {base.get('stack', '?')} (base) -> {head.get('stack', '?')} (head)"
    if diff.empty:
        return f"{title}\nNo changes.\n"
    lines = [f"### {title}" if markdown else title, ""]
    lines.append(f"Resources: {len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed; "
                 f"policies: {len(diff.policies)} changed")
    rows = [("+", r, "") for r in diff.added] + [("-", r, "") for r in diff.removed]
    rows += [("~", r, ", ".join(fields)) for r, fields in diff.changed]
    if rows:
        lines.append("")
        if markdown:
            lines.append("```")
        for mark, r, fields in rows:
            lines.append(f"{mark} {r['type']}  {r['name']}" + (f"  ({fields})" if fields else ""))
        if markdown:
            lines.append("```")
    for name, text in diff.policies.items():
        lines += ["", f"Policy {name}:"]
        lines += ["```diff", text, "```"] if markdown else [text]
    return "\n".join(lines) + "\n"

