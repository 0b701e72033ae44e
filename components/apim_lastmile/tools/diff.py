"""``lastmile diff BASE.json HEAD.json``: what a change does at the gateway, for the pull-request comment.

Both files are ``lastmile plan <stack> --json`` outputs (stable: sorted, secrets masked, nothing that changes from
run to run), so any difference is a difference in what the program declares.

The files come from a pull request, so they are read as hostile: :func:`load_plan` refuses, with a
:class:`LastMileError` naming the file and the place in it, anything that is not a plan (missing, a directory,
too large, not UTF-8, not JSON, nested too deeply, the wrong shape, a URN twice), and :func:`render` escapes control
and bidirectional characters so a plan cannot forge lines or hide text in the terminal or the PR comment.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import reprlib
import stat
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import LastMileError

#: What can change for one URN (type and name are part of the URN itself).
_FIELDS = ("parent", "protect", "options")

#: The largest JSON file read (a real plan is well under 1 MiB).
MAX_BYTES = 64 * 1024 * 1024
#: The deepest nesting of objects and arrays accepted (a real plan nests about 10 deep).
MAX_DEPTH = 64
#: The longest policy text diffed (APIM's own policy documents are far smaller).
MAX_POLICY_CHARS = 1024 * 1024
#: The longest stack name, URN, type or resource name.
MAX_NAME_CHARS = 4096
#: How much of a bad value an error message shows.
SHOWN_CHARS = 60

_PLAN = "the JSON output of `lastmile plan <stack> --json`"


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


class Shown:
    """A value as an error message shows it, verbatim (``repr`` is the text). For a bad value: :func:`shown`.

    A bad value as an error message shows it: a short repr, never the whole (possibly huge) value."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 2, SHOWN_CHARS, SHOWN_CHARS, 4, 4
_MISSING = Shown("nothing")


def shown(value: Any, limit: int = SHOWN_CHARS) -> Shown:
    """``value`` for an error message: its repr (bounded, escaped) cut to about ``limit`` characters."""
    if isinstance(value, Shown):
        return value
    if isinstance(value, str):
        value = value[: limit + 1]
    try:
        text = _repr.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still shown as something
        text = f"<{type(value).__name__}>"
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return Shown(text if len(text) <= limit else text[: limit - 3] + "...")


def display(text: str, limit: int = SHOWN_CHARS, tail: bool = False) -> str:
    """A file name or label for a message: escaped (no control characters) and cut to about ``limit`` characters,
    keeping the end when ``tail`` (a file's name says more than its directories)."""
    text = str(text)
    text = text[-(limit + 1):] if tail else text[: limit + 1]
    text = repr(text)[1:-1].encode("ascii", "backslashreplace").decode("ascii")
    if len(text) <= limit:
        return text
    return "..." + text[-(limit - 3):] if tail else text[: limit - 3] + "..."


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(source: str, label: str, expected: str, stdin: Any = None, limit: int = MAX_BYTES) -> Any:
    """The JSON value in file ``source`` (or ``stdin`` when it is given and ``source`` is ``-``), read defensively.

    Every failure is a :class:`LastMileError` whose key is ``label`` and whose message says what is wrong
    (missing, a directory, too large, not UTF-8, not JSON with line and column, nested too deeply).
    """
    if stdin is not None and source == "-":
        reader = getattr(stdin, "buffer", None) or stdin
        data = reader.read(limit + 1)
    else:
        try:
            info = os.stat(source)
        except (OSError, ValueError) as exc:
            raise LastMileError(label, shown(_os_reason(exc)), f"expected a readable file with {expected}") from None
        if stat.S_ISDIR(info.st_mode):
            raise LastMileError(label, Shown("a directory"), f"expected a file with {expected}")
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise LastMileError(label, Shown(f"{info.st_size} bytes"), f"expected at most {limit} bytes of {expected}")
        try:
            with open(source, "rb") as handle:
                data = handle.read(limit + 1)
        except (OSError, ValueError) as exc:
            raise LastMileError(label, shown(_os_reason(exc)), f"expected a readable file with {expected}") from None
    if len(data) > limit:
        raise LastMileError(label, Shown(f"more than {limit} bytes"), f"expected at most {limit} bytes of {expected}")
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LastMileError(label, Shown(f"byte {exc.start}: not UTF-8"), f"expected UTF-8 text with {expected}") from None
    elif isinstance(data, str):
        text = data
    else:
        raise LastMileError(label, Shown(type(data).__name__), f"expected text with {expected}")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise LastMileError(label, shown(f"line {exc.lineno} column {exc.colno}: {exc.msg}"), f"expected {expected}") from None
    except RecursionError:
        raise LastMileError(label, Shown("JSON nested too deeply"), f"expected {expected} (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # NaN, Infinity
        raise LastMileError(label, shown(str(exc)), f"expected {expected}") from None
    where = _check_tree(value)
    if where is not None:
        place, problem = where
        raise LastMileError(f"{label}: {place}" if place else label, problem, f"expected {expected}")
    return value


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _check_tree(value: Any) -> Optional[tuple[str, Shown]]:
    """The first place where ``value`` nests deeper than :data:`MAX_DEPTH` or holds a string that is not Unicode text."""
    stack: list[tuple[Any, int, Any]] = [(value, 0, None)]
    while stack:
        item, depth, path = stack.pop()
        problem = None
        if isinstance(item, str):
            if not _is_text(item):
                problem = "a string with a lone surrogate (not Unicode text)"
        elif isinstance(item, dict):
            if depth >= MAX_DEPTH:
                problem = f"JSON nested more than {MAX_DEPTH} levels deep"
            else:
                for key, child in item.items():
                    if not _is_text(key):
                        problem = "a key with a lone surrogate (not Unicode text)"
                        break
                    stack.append((child, depth + 1, (path, key)))
        elif isinstance(item, list):
            if depth >= MAX_DEPTH:
                problem = f"JSON nested more than {MAX_DEPTH} levels deep"
            else:
                stack.extend((child, depth + 1, (path, i)) for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            problem = repr(item)
        if problem:
            return _place(path), Shown(problem)
    return None


def _place(path: Any) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{display(key, 30)}")
    text = "".join(reversed(parts)).lstrip(".")
    return text if len(text) <= SHOWN_CHARS else "..." + text[-(SHOWN_CHARS - 3):]


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_control(text: str) -> bool:
    return any(ch in _ESCAPES for ch in text)


def _name(value: Any, key: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise LastMileError(key, _MISSING if value is None else shown(value), f"expected {what}: a non-empty string ({_PLAN})")
    if len(value) > MAX_NAME_CHARS:
        raise LastMileError(key, Shown(f"{len(value)} characters"), f"expected {what} of at most {MAX_NAME_CHARS} characters")
    if _has_control(value):
        raise LastMileError(key, shown(value), f"expected {what} without control or bidirectional characters")
    return value


def load_plan(path: str) -> dict:
    """A plan JSON file, checked for the shape ``lastmile plan --json`` writes; :class:`LastMileError` otherwise."""
    label = display(path, 2 * SHOWN_CHARS, tail=True)
    data = load_json(path, label, _PLAN)
    if not isinstance(data, dict):
        raise LastMileError(label, Shown(f"a JSON {_json_type(data)}"), f"expected {_PLAN} (an object with stack, resources, policies, outputs)")
    _name(data.get("stack"), f"{label}: stack", "the stack name")
    resources = data.get("resources")
    if not isinstance(resources, list):
        raise LastMileError(f"{label}: resources", _MISSING if resources is None else shown(resources), f"expected a list of resources ({_PLAN})")
    seen: dict[str, int] = {}
    for i, resource in enumerate(resources):
        key = f"{label}: resources[{i}]"
        if not isinstance(resource, dict):
            raise LastMileError(key, shown(resource), f"expected a resource object with urn, type, name and inputs ({_PLAN})")
        urn = _name(resource.get("urn"), f"{key}.urn", "the resource's URN")
        _name(resource.get("type"), f"{key}.type", "the resource's type")
        _name(resource.get("name"), f"{key}.name", "the resource's name")
        if not isinstance(resource.get("inputs"), dict):
            raise LastMileError(f"{key}.inputs", shown(resource.get("inputs", _MISSING)), f"expected an object of the resource's inputs ({_PLAN})")
        if resource.get("parent") is not None and not isinstance(resource["parent"], str):
            raise LastMileError(f"{key}.parent", shown(resource["parent"]), "expected the parent's URN (a string) or null")
        if "protect" in resource and not isinstance(resource["protect"], bool):
            raise LastMileError(f"{key}.protect", shown(resource["protect"]), "expected true or false")
        if "options" in resource and not isinstance(resource["options"], dict):
            raise LastMileError(f"{key}.options", shown(resource["options"]), "expected the resource's lifecycle options (an object)")
        if urn in seen:
            raise LastMileError(f"{key}.urn", shown(urn), f"expected each URN once (also at resources[{seen[urn]}])")
        seen[urn] = i
    policies = data.get("policies")
    if not isinstance(policies, dict):
        raise LastMileError(f"{label}: policies", _MISSING if policies is None else shown(policies), f"expected an object of policy name to policy XML ({_PLAN})")
    for name, text in policies.items():
        _name(name, f"{label}: policies", "a policy name")
        if not isinstance(text, str):
            raise LastMileError(f"{label}: policies.{display(name, 30)}", shown(text), f"expected the policy XML as a string ({_PLAN})")
        if len(text) > MAX_POLICY_CHARS:
            raise LastMileError(f"{label}: policies.{display(name, 30)}", Shown(f"{len(text)} characters"), f"expected a policy of at most {MAX_POLICY_CHARS} characters")
    if not isinstance(data.get("outputs"), dict):
        raise LastMileError(f"{label}: outputs", shown(data.get("outputs", _MISSING)), f"expected an object of the stack's outputs ({_PLAN})")
    return data


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {list: "array", str: "string", int: "number", float: "number", type(None): "null"}.get(type(value), type(value).__name__)


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


#: Characters a plan must not smuggle into a terminal or a PR comment: C0/C1 controls (escape sequences, carriage
#: returns that overwrite a line, newlines that forge one) and the bidirectional overrides of "Trojan Source".
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}
_ESCAPES.update({c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C, 0x2028, 0x2029]})
_ESCAPES = {chr(c): text for c, text in _ESCAPES.items()}
_TABLE = str.maketrans(_ESCAPES)
_TABLE_KEEP_TAB = str.maketrans({c: t for c, t in _ESCAPES.items() if c != "\t"})


def printable(text: Any, keep_tab: bool = False) -> str:
    """``text`` safe to print: control and bidi characters escaped, lone surrogates escaped."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return text.translate(_TABLE_KEEP_TAB if keep_tab else _TABLE)


def _fence(text: str, info: str = "") -> tuple[str, str]:
    """A Markdown code fence longer than any run of backticks in ``text``, so the text cannot close it."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return ticks + info, ticks


def render(diff: PlanDiff, base: dict, head: dict, markdown: bool = False) -> str:
    """Text for a terminal, or Markdown for a pull-request comment."""
    title = f"lastmile diff: {printable(base.get('stack', '?'))} (base) -> {printable(head.get('stack', '?'))} (head)"
    if diff.empty:
        return f"{title}\nNo changes.\n"
    lines = [f"### {title}" if markdown else title, ""]
    lines.append(f"Resources: {len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed; "
                 f"policies: {len(diff.policies)} changed")
    rows = [("+", r, "") for r in diff.added] + [("-", r, "") for r in diff.removed]
    rows += [("~", r, ", ".join(fields)) for r, fields in diff.changed]
    if rows:
        body = [f"{mark} {printable(r['type'])}  {printable(r['name'])}" + (f"  ({printable(fields)})" if fields else "")
                for mark, r, fields in rows]
        lines.append("")
        if markdown:
            opening, closing = _fence("\n".join(body))
            body = [opening, *body, closing]
        lines += body
    for name, text in diff.policies.items():
        text = "\n".join(printable(line, keep_tab=True) for line in text.split("\n"))
        lines += ["", f"Policy {printable(name)}:"]
        if markdown:
            opening, closing = _fence(text, "diff")
            lines += [opening, text, closing]
        else:
            lines.append(text)
    return "\n".join(lines) + "\n"
