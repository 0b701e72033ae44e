"""Azure Policy's rule language, evaluated offline against ARM template resources.

Scope: the part of the language used by the definitions that the Azure landing zone (ALZ) assigns to the "Landing
Zones" and "Corp" management groups and to their root, and by the Microsoft cloud security benchmark (MCSB) members
that reach our resource types (docs/research/landing-zone.md, sections 1 and 2): ``allOf``/``anyOf``/``not``;
``field``, ``value`` and ``count`` conditions; the documented operators; the ARM template functions those rules call,
evaluated by a small expression parser; aliases resolved to ARM template paths; Key Vault's data-plane mode for
secrets. :func:`evaluate` says whether a rule's ``if`` holds for a resource, :func:`effect_of` which effect a
definition has with given parameters.

Sources (cited in the code by the bracketed name):

- [rule] learn.microsoft.com/azure/governance/policy/concepts/definition-structure-policy-rule (MicrosoftDocs/azure-docs
  ``articles/governance/policy/concepts/definition-structure-policy-rule.md``, ms.date 03/19/2025): conditions and
  their case-insensitivity, ``match`` patterns, ``less``/``greater`` ("if the property type doesn't match the
  condition type, an error is thrown"), fields, ``value``, ``count``, ``current()``, policy functions, and "If the
  result of a template function is an error, policy evaluation fails. A failed evaluation is an implicit deny."
- [arrays] learn.microsoft.com/azure/governance/policy/how-to/author-policies-for-arrays, "Referencing array resource
  properties" and "Count expressions": a ``field`` condition on a ``[*]`` alias "checks whether all individual values
  meet the condition"; a missing array selects "an empty collection of values"; ``field()`` returns ``""`` for a
  missing alias and an array for a ``[*]`` alias; inside ``where`` the counted alias selects the current member only.
- [alias] learn.microsoft.com/azure/governance/policy/concepts/definition-structure-alias.
- [arm-functions] learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-* (logical: "if"
  evaluates only the branch its condition selects; string: ``contains`` is case-sensitive on strings, ``indexOf`` is
  not).
- [types] ``../shared/azure-types/<namespace>/<api-version>/types.md``: the ARM shapes of the resources we deploy.
- [regorus] microsoft/regorus ``src/languages/azure_policy`` (MIT; Microsoft's own evaluator of the language), for
  behaviour the documents leave implicit: its root fields, its sub-resource flattening, its ``Every`` loop for ``[*]``.

Where the code implements a reading that no document states, its comment says "Inference:" and gives the reason.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

__all__ = [
    "ALIAS_PATH_EXCEPTIONS",
    "EACH",
    "KEY_VAULT_SECRET_DATA_FIELDS",
    "POLICY_FUNCTIONS",
    "PolicyEvaluationError",
    "ROOT_FIELDS",
    "SUB_RESOURCE_ARRAYS",
    "UnsupportedPolicyLanguage",
    "arm_path",
    "definition_parameter_values",
    "effect_of",
    "evaluate",
    "evaluate_expression",
    "format_policy_datetime",
    "is_template_expression",
    "key_vault_secret_data_view",
    "parse_expression",
    "resolve_template_value",
    "unsupported_features",
]


class PolicyEvaluationError(Exception):
    """Evaluating the rule failed as Azure's evaluation fails (a template function's error, a comparison of values of
    different types): Azure treats that as an implicit deny [rule, "Avoiding template failures"]."""


class UnsupportedPolicyLanguage(ValueError):
    """The rule uses a part of the language this evaluator does not implement: its verdict is unknown, not a deny."""


# --- Template expressions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple


@dataclass(frozen=True)
class Member:
    target: Any
    key: str


@dataclass(frozen=True)
class Index:
    target: Any
    index: Any


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[()\[\],.]))"
)
_LITERAL_NAMES = {"true": True, "false": False, "null": None}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise UnsupportedPolicyLanguage(f"cannot read the expression at {text[position:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _ExpressionParser:
    """A recursive-descent parser of ARM template expressions: single-quoted strings (``''`` escapes a quote), numbers,
    ``true``/``false``/``null``, function calls, ``.property`` and ``[index]`` access, parenthesised expressions."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    def parse(self):
        node = self._expression()
        if self.position != len(self.tokens):
            raise UnsupportedPolicyLanguage(f"unexpected {self.tokens[self.position][1]!r} in [{self.text}]")
        return node

    def _peek(self) -> Optional[tuple[str, str]]:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, expected: Optional[str] = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (expected is not None and token[1] != expected):
            raise UnsupportedPolicyLanguage(f"expected {expected or 'more'} in [{self.text}]")
        self.position += 1
        return token

    def _expression(self):
        node = self._primary()
        while self._peek() and self._peek()[1] in (".", "["):
            if self._take()[1] == ".":
                node = Member(node, self._take()[1])
            else:
                node = Index(node, self._expression())
                self._take("]")
        return node

    def _primary(self):
        kind, text = self._take()
        if kind == "string":
            return Literal(text[1:-1].replace("''", "'"))
        if kind == "number":
            return Literal(float(text) if "." in text else int(text))
        if kind == "punct" and text == "(":
            node = self._expression()
            self._take(")")
            return node
        if kind != "name":
            raise UnsupportedPolicyLanguage(f"unexpected {text!r} in [{self.text}]")
        if self._peek() is None or self._peek()[1] != "(":
            if text.lower() in _LITERAL_NAMES:
                return Literal(_LITERAL_NAMES[text.lower()])
            raise UnsupportedPolicyLanguage(f"bare name {text!r} in [{self.text}]")
        self._take("(")
        args = []
        if self._peek() and self._peek()[1] == ")":
            self._take(")")
            return Call(text, ())
        while True:
            args.append(self._expression())
            if self._take()[1] == ")":
                return Call(text, tuple(args))
            if self.tokens[self.position - 1][1] != ",":
                raise UnsupportedPolicyLanguage(f"expected ',' or ')' in [{self.text}]")


def is_template_expression(value: Any) -> bool:
    """A JSON string ARM evaluates: ``[...]``, but not ``[[...`` (an escaped literal starting with ``[``)."""
    return isinstance(value, str) and value.startswith("[") and not value.startswith("[[") and value.endswith("]")


def parse_expression(value: str):
    """The syntax tree of a template expression string ``[...]``."""
    if not is_template_expression(value):
        raise UnsupportedPolicyLanguage(f"not a template expression: {value!r}")
    return _parsed(value[1:-1])


@functools.lru_cache(maxsize=4096)
def _parsed(text: str):
    return _ExpressionParser(text).parse()


#: A function of the template language: takes the evaluated arguments, returns the value.
TemplateFunction = Callable[..., Any]


def evaluate_expression(node, functions: Mapping[str, TemplateFunction]) -> Any:
    """The value of a parsed expression, calling ``functions`` (keyed by lower-case name). ``if`` evaluates only the
    branch its condition selects [arm-functions, logical: "if"]; every other function gets evaluated arguments."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Member):
        return _member(evaluate_expression(node.target, functions), node.key)
    if isinstance(node, Index):
        return _indexed(evaluate_expression(node.target, functions), evaluate_expression(node.index, functions))
    name = node.name.lower()
    if name == "if":
        return _lazy_if(node, functions)
    if name not in functions:
        raise UnsupportedPolicyLanguage(f"template function {node.name}() is not implemented")
    return functions[name](*(evaluate_expression(arg, functions) for arg in node.args))


def _lazy_if(node: Call, functions: Mapping[str, TemplateFunction]) -> Any:
    if len(node.args) != 3:
        raise PolicyEvaluationError("if() takes a condition and two values")
    condition = evaluate_expression(node.args[0], functions)
    if not isinstance(condition, bool):
        raise PolicyEvaluationError(f"if() needs a boolean condition, got {condition!r}")
    return evaluate_expression(node.args[1 if condition else 2], functions)


def _member(target: Any, key: str) -> Any:
    if isinstance(target, Mapping):
        found = _key_of(target, key)
        if found is not None:
            return target[found]
    raise PolicyEvaluationError(f"the language expression property {key!r} doesn't exist on {target!r}")


def _indexed(target: Any, index: Any) -> Any:
    if isinstance(target, list) and isinstance(index, int) and not isinstance(index, bool):
        if -len(target) <= index < len(target):
            return target[index]
        raise PolicyEvaluationError(f"index {index} is out of range of {target!r}")
    if isinstance(index, str):
        return _member(target, index)
    raise PolicyEvaluationError(f"cannot index {target!r} with {index!r}")


def resolve_template_value(value: Any, functions: Mapping[str, TemplateFunction]) -> Any:
    """A JSON value with its template expressions evaluated and its ``[[`` escapes turned into a literal ``[``
    (ARM's escape for a string that starts with a bracket), in strings, lists and objects alike."""
    if isinstance(value, str):
        if is_template_expression(value):
            return evaluate_expression(parse_expression(value), functions)
        return value[1:] if value.startswith("[[") else value
    if isinstance(value, list):
        return [resolve_template_value(item, functions) for item in value]
    if isinstance(value, Mapping):
        return {key: resolve_template_value(item, functions) for key, item in value.items()}
    return value


# --- Values: text, dates, comparisons -----------------------------------------------------------------------------

_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def parse_policy_datetime(text: str) -> Optional[datetime]:
    """An ISO 8601 date or date-time (any number of fraction digits, ``Z`` or an offset, UTC when none), else None."""
    match = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tz)
    except ValueError:
        return None


def format_policy_datetime(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ss.fffffffZ``, the format of ``utcNow()`` and ``addDays()`` [rule, "Policy functions"]."""
    utc = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def _scalar_text(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        return value
    return None


def _loosely_equal(actual: Any, expected: Any) -> bool:
    """``equals``: strings compare case-insensitively [rule, "Conditions"]. Inference: a boolean or number equals its
    text (``"equals": "false"`` on a boolean property): built-ins such as 1e66c121 (soft delete) compare booleans to
    ``"false"`` and rely on it to deny."""
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(actual, list) or isinstance(expected, list):
        return (
            isinstance(actual, list)
            and isinstance(expected, list)
            and len(actual) == len(expected)
            and all(_loosely_equal(a, b) for a, b in zip(actual, expected))
        )
    if isinstance(actual, Mapping) or isinstance(expected, Mapping):
        if not (isinstance(actual, Mapping) and isinstance(expected, Mapping)) or len(actual) != len(expected):
            return False
        return all(_key_of(expected, key) is not None and _loosely_equal(value, expected[_key_of(expected, key)])
                   for key, value in actual.items())
    left, right = _scalar_text(actual), _scalar_text(expected)
    return left is not None and right is not None and left.casefold() == right.casefold()


def _ordered(actual: Any, expected: Any) -> Optional[int]:
    """-1, 0 or 1 for ``less``/``greater``: dates as dates, strings case-insensitively (``InvariantCultureIgnoreCase``),
    numbers as numbers; mismatched types are an error [rule, "Conditions"]. Inference: an absent property (null) makes
    the condition false rather than an error, returned as None: the in-scope rules guard such comparisons with
    ``exists`` (Append-AppService-latestTLS, b0eb591a, 342e8053), so either reading gives the same verdicts on them."""
    if actual is None or expected is None:
        return None
    if isinstance(actual, bool) or isinstance(expected, bool):
        raise PolicyEvaluationError(f"cannot order {actual!r} and {expected!r}")
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return (actual > expected) - (actual < expected)
    if isinstance(actual, str) and isinstance(expected, str):
        left, right = parse_policy_datetime(actual), parse_policy_datetime(expected)
        if left is not None and right is not None:
            return (left > right) - (left < right)
        left_text, right_text = actual.casefold(), expected.casefold()
        return (left_text > right_text) - (left_text < right_text)
    raise PolicyEvaluationError(f"the types of {actual!r} and {expected!r} don't match")


def _like(actual: Any, pattern: Any) -> bool:
    text, wanted = _scalar_text(actual), _scalar_text(pattern)
    if text is None or wanted is None:
        return False
    regex = ".*".join(re.escape(part) for part in wanted.split("*"))
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL) is not None


def _match(actual: Any, pattern: Any, *, ignore_case: bool) -> bool:
    """``#`` a digit, ``?`` a letter, ``.`` any character, anything else itself [rule, "Conditions"]."""
    text, wanted = _scalar_text(actual), _scalar_text(pattern)
    if text is None or wanted is None:
        return False
    special = {"#": "[0-9]", "?": "[A-Za-z]", ".": "."}
    regex = "".join(special.get(char, re.escape(char)) for char in wanted)
    return re.fullmatch(regex, text, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _contains(actual: Any, expected: Any) -> bool:
    """Inference: on an array-valued property (an alias without ``[*]``) ``contains`` tests membership."""
    if actual is None:
        return False
    if isinstance(actual, list):
        return any(_loosely_equal(item, expected) for item in actual)
    text, wanted = _scalar_text(actual), _scalar_text(expected)
    return text is not None and wanted is not None and wanted.casefold() in text.casefold()


def _in(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, list):
        raise PolicyEvaluationError(f"'in' and 'notIn' need an array, got {expected!r}")
    return actual is not None and any(_loosely_equal(actual, item) for item in expected)


def _contains_key(actual: Any, key: Any) -> bool:
    return isinstance(actual, Mapping) and _key_of(actual, _scalar_text(key) or "") is not None


def _exists_wanted(expected: Any) -> bool:
    """``exists`` takes a boolean or the strings ``"true"``/``"false"`` (both appear in ALZ and built-ins)."""
    if isinstance(expected, bool):
        return expected
    if isinstance(expected, str) and expected.lower() in ("true", "false"):
        return expected.lower() == "true"
    raise PolicyEvaluationError(f"'exists' needs true or false, got {expected!r}")


def _compare(comparison: Callable[[int], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, expected: Any) -> bool:
        order = _ordered(actual, expected)
        return order is not None and comparison(order)

    return check


#: The condition operators [rule, "Conditions"], keyed by lower-case name (ALZ spells one ``notequals``).
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": _loosely_equal,
    "notequals": lambda a, e: not _loosely_equal(a, e),
    "in": _in,
    "notin": lambda a, e: not _in(a, e),
    "contains": _contains,
    "notcontains": lambda a, e: not _contains(a, e),
    "like": _like,
    "notlike": lambda a, e: not _like(a, e),
    "match": lambda a, e: _match(a, e, ignore_case=False),
    "notmatch": lambda a, e: not _match(a, e, ignore_case=False),
    "matchinsensitively": lambda a, e: _match(a, e, ignore_case=True),
    "notmatchinsensitively": lambda a, e: not _match(a, e, ignore_case=True),
    "containskey": _contains_key,
    "notcontainskey": lambda a, e: not _contains_key(a, e),
    "less": _compare(lambda order: order < 0),
    "lessorequals": _compare(lambda order: order <= 0),
    "greater": _compare(lambda order: order > 0),
    "greaterorequals": _compare(lambda order: order >= 0),
    "exists": lambda a, e: (a is not None) == _exists_wanted(e),
}


# --- Template functions -------------------------------------------------------------------------------------------


def _text_argument(function: str, value: Any) -> str:
    if not isinstance(value, str):
        raise PolicyEvaluationError(f"{function}() needs a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise PolicyEvaluationError(f"int() cannot convert {value!r}")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, (list, Mapping)):
        return json.dumps(value, separators=(",", ":"))
    return _scalar_text(value) or str(value)


def _split(value: Any, delimiters: Any) -> list[str]:
    text = _text_argument("split", value)
    separators = delimiters if isinstance(delimiters, list) else [delimiters]
    return re.split("|".join(re.escape(_text_argument("split", item)) for item in separators), text)


def _first(value: Any) -> Any:
    if isinstance(value, (str, list)):
        return value[0] if value else ("" if isinstance(value, str) else None)
    raise PolicyEvaluationError(f"first() needs an array or a string, got {value!r}")


def _last(value: Any) -> Any:
    if isinstance(value, (str, list)):
        return value[-1] if value else ("" if isinstance(value, str) else None)
    raise PolicyEvaluationError(f"last() needs an array or a string, got {value!r}")


def _booleans(function: str, values: Sequence[Any]) -> list[bool]:
    if not values or not all(isinstance(value, bool) for value in values):
        raise PolicyEvaluationError(f"{function}() needs boolean arguments, got {list(values)!r}")
    return list(values)


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, list, Mapping)):
        return len(value) == 0
    raise PolicyEvaluationError(f"empty() needs an array, an object or a string, got {value!r}")


def _template_contains(container: Any, item: Any) -> bool:
    """Case-sensitive for strings and arrays, case-insensitive for object keys [arm-functions, array: "contains"]."""
    if isinstance(container, str):
        return _string(item) in container
    if isinstance(container, list):
        return item in container
    if isinstance(container, Mapping):
        return _key_of(container, _string(item)) is not None
    raise PolicyEvaluationError(f"contains() needs an array, an object or a string, got {container!r}")


def _template_equals(left: Any, right: Any) -> bool:
    """ARM's ``equals()`` compares exactly (Bicep compiles its case-sensitive ``==`` to it)."""
    if _is_number(left) and _is_number(right):
        return left == right
    return type(left) is type(right) and left == right


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return _int(value) != 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _template_order(function: str, left: Any, right: Any) -> int:
    if _is_number(left) and _is_number(right) or isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    raise PolicyEvaluationError(f"{function}() needs two numbers or two strings, got {left!r} and {right!r}")


def _add_days(moment: Any, days: Any) -> str:
    parsed = parse_policy_datetime(moment) if isinstance(moment, str) else None
    if parsed is None:
        raise PolicyEvaluationError(f"addDays() needs an ISO 8601 date-time, got {moment!r}")
    return format_policy_datetime(parsed + timedelta(days=_int(days)))


def _concat(*values: Any) -> Any:
    if values and all(isinstance(value, list) for value in values):
        return [item for value in values for item in value]
    return "".join(_string(value) for value in values)


def _length(value: Any) -> int:
    if isinstance(value, (str, list, Mapping)):
        return len(value)
    raise PolicyEvaluationError(f"length() needs an array, an object or a string, got {value!r}")


def _index_of(container: Any, item: Any) -> int:
    """Case-insensitive on strings [arm-functions, string: "indexOf"]."""
    if isinstance(container, list):
        return next((position for position, value in enumerate(container) if value == item), -1)
    return _text_argument("indexOf", container).casefold().find(_text_argument("indexOf", item).casefold())


def _network(text: Any) -> tuple:
    value = _text_argument("ipRangeContains", text).strip()
    try:
        if "-" in value:
            start, end = (ipaddress.ip_address(part.strip()) for part in value.split("-", 1))
        else:
            network = ipaddress.ip_network(value, strict=False)
            start, end = network[0], network[-1]
    except ValueError as error:
        raise PolicyEvaluationError(f"ipRangeContains(): {error}") from error
    if start.version != end.version or start > end:
        raise PolicyEvaluationError(f"ipRangeContains(): {value!r} is not a range")
    return start, end


def _ip_range_contains(outer: Any, inner: Any) -> bool:
    """[rule, "Policy functions"]: a single address, a CIDR or ``start-end``; mixing IP families is an error."""
    (outer_start, outer_end), (inner_start, inner_end) = _network(outer), _network(inner)
    if outer_start.version != inner_start.version:
        raise PolicyEvaluationError("ipRangeContains() cannot mix IP families")
    return outer_start <= inner_start and inner_end <= outer_end


#: The template functions every evaluation offers; ``parameters``, ``field``, ``current``, ``requestContext``,
#: ``utcNow``, ``resourceGroup`` and ``subscription`` depend on the evaluation and are added per evaluation.
STATELESS_FUNCTIONS: dict[str, TemplateFunction] = {
    "int": _int,
    "string": _string,
    "bool": _bool,
    "split": _split,
    "first": _first,
    "last": _last,
    "and": lambda *values: all(_booleans("and", values)),
    "or": lambda *values: any(_booleans("or", values)),
    "not": lambda value: not _booleans("not", [value])[0],
    "empty": _empty,
    "contains": _template_contains,
    "equals": _template_equals,
    "less": lambda a, b: _template_order("less", a, b) < 0,
    "lessorequals": lambda a, b: _template_order("lessOrEquals", a, b) <= 0,
    "greater": lambda a, b: _template_order("greater", a, b) > 0,
    "greaterorequals": lambda a, b: _template_order("greaterOrEquals", a, b) >= 0,
    "adddays": _add_days,
    "tolower": lambda value: _text_argument("toLower", value).lower(),
    "toupper": lambda value: _text_argument("toUpper", value).upper(),
    "concat": _concat,
    "length": _length,
    "indexof": _index_of,
    "coalesce": lambda *values: next((value for value in values if value is not None), None),
    "replace": lambda text, old, new: _text_argument("replace", text).replace(_string(old), _string(new)),
    "iprangecontains": _ip_range_contains,
    "true": lambda: True,
    "false": lambda: False,
    "null": lambda: None,
}

#: Every template function a policy rule may call here (lower-case names).
POLICY_FUNCTIONS = frozenset(STATELESS_FUNCTIONS) | {
    "parameters", "field", "current", "requestcontext", "utcnow", "resourcegroup", "subscription", "if",
}


# --- Aliases and ARM paths ----------------------------------------------------------------------------------------

#: Marks a ``[*]`` step in an ARM path: every element of the array.
EACH = "[*]"

#: ARM's root-level resource properties: an alias whose property path starts with one of these reads it at the
#: resource root (``Microsoft.Storage/storageAccounts/sku.name`` -> ``sku.name``), any other under ``properties``
#: [regorus ``aliases/obj_map.rs`` ``ROOT_FIELDS``; research doc section 3 quotes the alias dump's
#: ``defaultPath: "sku.name"``].
ROOT_FIELDS = frozenset({
    "name", "type", "location", "kind", "id", "tags", "identity", "sku", "plan", "zones", "managedby", "etag",
    "extendedlocation", "systemdata",
})

#: Arrays whose elements are ARM sub-resources (``{name, id, etag, type, properties}``): an alias reads an element's
#: own properties through its ``properties`` wrapper (``securityRules[*].access`` ->
#: ``properties.securityRules[*].properties.access``) but ``name``/``id``/``etag``/``type`` at the element's root
#: (research doc section 3, from the alias dump quoted in microsoft/regorus ``benches``; regorus flattens exactly the
#: arrays its alias metadata lists as sub-resource arrays). No alias metadata is in ``shared/``, so this table lists
#: the arrays the in-scope definitions read whose element type has a ``properties`` member in [types]:
#: ``microsoft.network/2024-05-01`` Subnet, IPConfiguration, VirtualNetworkPeering, FlowLog, SecurityRule,
#: PrivateLinkServiceConnection; ``microsoft.keyvault/2026-02-01`` (Mhsm)PrivateEndpointConnectionItem;
#: ``microsoft.storage/2024-01-01`` PrivateEndpointConnection. Arrays of plain objects (``networkAcls.ipRules``,
#: ``cors.corsRules``) are read as they are.
SUB_RESOURCE_ARRAYS = frozenset(alias.lower() for alias in (
    "Microsoft.Network/virtualNetworks/subnets[*]",
    "Microsoft.Network/virtualNetworks/subnets[*].ipConfigurations[*]",
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings[*]",
    "Microsoft.Network/virtualNetworks/flowLogs[*]",
    "Microsoft.Network/networkSecurityGroups/securityRules[*]",
    "Microsoft.Network/networkSecurityGroups/defaultSecurityRules[*]",
    "Microsoft.Network/networkSecurityGroups/flowLogs[*]",
    "Microsoft.Network/privateEndpoints/privateLinkServiceConnections[*]",
    "Microsoft.Network/privateEndpoints/manualPrivateLinkServiceConnections[*]",
    "Microsoft.KeyVault/vaults/privateEndpointConnections[*]",
    "Microsoft.KeyVault/managedHSMs/privateEndpointConnections[*]",
    "Microsoft.Storage/storageAccounts/privateEndpointConnections[*]",
))

#: The element keys of a sub-resource that sit beside its ``properties`` wrapper.
SUB_RESOURCE_ENVELOPE = frozenset({"name", "id", "etag", "type"})


@dataclass(frozen=True)
class AliasPathException:
    arm_path: str
    source: str


#: The aliases in scope whose ARM path does not follow the rules above, each with its source.
ALIAS_PATH_EXCEPTIONS: dict[str, AliasPathException] = {
    alias.lower(): exception for alias, exception in {
        "Microsoft.Web/sites/sku": AliasPathException(
            "properties.sku",
            "[types] microsoft.web/2025-03-01: the sites resource has no root sku; SiteProperties.sku is the read-only "
            "SKU name (read by built-in WebApp_Audit_AutoGeneratedDomainNameLabelScope)",
        ),
        "Microsoft.Web/sites/slots/sku": AliasPathException(
            "properties.sku", "[types] microsoft.web/2025-03-01: sites/slots has no root sku; SiteProperties.sku",
        ),
    }.items()
}

#: Key Vault's data-plane view of a secret (policy mode ``Microsoft.KeyVault.Data``): which ARM template input each
#: ``Microsoft.KeyVault.Data/vaults/secrets/<field>`` reads. A template's ``Microsoft.KeyVault/vaults/secrets``
#: resource is evaluated as that type: Key Vault evaluates Data-mode rules on the secret versions it writes
#: (learn.microsoft.com/azure/key-vault/general/azure-policy), and the control-plane PUT writes one. The ARM body is
#: [types] microsoft.keyvault/2026-02-01 SecretProperties/SecretAttributes (``exp``, ``nbf``: int seconds since
#: 1970-01-01T00:00:00Z; ``created`` read-only).
KEY_VAULT_SECRET_DATA_FIELDS: dict[str, str] = {
    "attributes.expiresOn": "properties.attributes.exp as an ISO 8601 date-time. Inference: the same instant in the "
                            "data-plane's date-time form (research doc section 3; Azure/azure-policy#139 shows the "
                            "control-plane alias was attributes.exp)",
    "attributes.notBefore": "properties.attributes.nbf as an ISO 8601 date-time. Inference: as expiresOn",
    "attributes.createdOn": "the evaluation time (now). Inference: the secret version is created by the request "
                            "being judged; ARM's attributes.created is read-only",
    "attributes.enabled": "properties.attributes.enabled",
    "contentType": "properties.contentType",
}

KEY_VAULT_SECRET_DATA_TYPE = "Microsoft.KeyVault.Data/vaults/secrets"


def _alias_segments(remainder: str) -> list[tuple[str, bool]]:
    segments = []
    for part in remainder.split("."):
        star = part.endswith("[*]")
        segments.append((part[:-3] if star else part, star))
    return segments


def _plain_path(path: str) -> tuple:
    steps: list[str] = []
    for base, star in _alias_segments(path):
        steps.append(base)
        if star:
            steps.append(EACH)
    return tuple(steps)


def arm_path(alias: str, resource_type: str) -> Optional[tuple]:
    """The ARM template path (keys and :data:`EACH`) an alias reads on a resource of ``resource_type``, or None when
    the alias belongs to another type (its value is then absent). ``<Namespace>/<type>/<path>`` applies to resources
    of exactly ``<Namespace>/<type>``: a child type's alias (``Microsoft.Web/sites/config/minTlsVersion``) applies to
    the child resource, not to its parent [alias]."""
    type_prefix = resource_type.lower() + "/"
    if not alias.lower().startswith(type_prefix):
        return None
    remainder = alias[len(type_prefix):]
    if "/" in remainder or not remainder:
        return None
    exception = ALIAS_PATH_EXCEPTIONS.get(alias.lower())
    if exception:
        return _plain_path(exception.arm_path)
    return _property_steps(resource_type, remainder)


def _property_steps(resource_type: str, remainder: str) -> tuple:
    segments = _alias_segments(remainder)
    steps: list[str] = [] if segments[0][0].lower() in ROOT_FIELDS else ["properties"]
    array_alias, element_is_sub_resource = resource_type, False
    for position, (base, star) in enumerate(segments):
        if element_is_sub_resource and base.lower() not in SUB_RESOURCE_ENVELOPE:
            steps.append("properties")
        steps.append(base)
        array_alias += ("/" if position == 0 else ".") + base + ("[*]" if star else "")
        element_is_sub_resource = star and array_alias.lower() in SUB_RESOURCE_ARRAYS
        if star:
            steps.append(EACH)
    return tuple(steps)


def _key_of(mapping: Mapping, key: str) -> Optional[str]:
    """The key of ``mapping`` equal to ``key`` ignoring case (ARM property names are case-insensitive)."""
    if key in mapping:
        return key
    lowered = key.lower()
    matching = (candidate for candidate in mapping if isinstance(candidate, str) and candidate.lower() == lowered)
    return next(matching, None)


def _child(value: Any, key: str) -> Any:
    if not isinstance(value, Mapping):
        return None
    found = _key_of(value, key)
    return value[found] if found is not None else None


def _select(value: Any, steps: Iterable[str]) -> list[Any]:
    """The values a path selects: one value (None if absent) for a path without ``[*]``, else every element's (a
    missing array contributes no element [arrays])."""
    selected = [value]
    for step in steps:
        if step == EACH:
            selected = [item for current in selected if isinstance(current, list) for item in current]
        else:
            selected = [_child(current, step) for current in selected]
    return selected


# --- Key Vault's data-plane view ----------------------------------------------------------------------------------


def _epoch_as_datetime(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_policy_datetime(datetime.fromtimestamp(value, tz=timezone.utc))
    return value


def key_vault_secret_data_view(resource: Mapping, now: datetime) -> dict:
    """A template's ``Microsoft.KeyVault/vaults/secrets`` resource as the ``Microsoft.KeyVault.Data/vaults/secrets``
    item Key Vault evaluates (:data:`KEY_VAULT_SECRET_DATA_FIELDS`); absent inputs stay absent."""
    properties = _child(resource, "properties") or {}
    attributes = _child(properties, "attributes") or {}
    data_attributes: dict[str, Any] = {"createdOn": format_policy_datetime(now)}
    for arm_name, data_name in (("exp", "expiresOn"), ("nbf", "notBefore"), ("enabled", "enabled")):
        if _child(attributes, arm_name) is not None:
            data_attributes[data_name] = _epoch_as_datetime(_child(attributes, arm_name))
    data_properties: dict[str, Any] = {"attributes": data_attributes}
    if _child(properties, "contentType") is not None:
        data_properties["contentType"] = _child(properties, "contentType")
    return {"type": KEY_VAULT_SECRET_DATA_TYPE, "name": resource.get("name", ""), "tags": resource.get("tags"),
            "properties": data_properties}


# --- Evaluating a rule --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Binding:
    """The array member a ``count`` is enumerating: an alias prefix (field count) or an index name (value count)."""

    name: str
    value: Any
    is_field: bool


@dataclass(frozen=True)
class _Request:
    resource: Mapping
    parameters: Mapping[str, Any]
    now: datetime
    api_version: str
    resource_group: Mapping[str, Any]
    subscription_id: str


_LOGICAL = ("allof", "anyof", "not")
_TAG = re.compile(r"^tags(?:\.(?P<dotted>.+)|\[(?P<bracketed>.+)\])$", re.IGNORECASE)


class _RuleEvaluation:
    """One resource against one ``if``, with the array members the enclosing ``count`` expressions enumerate."""

    def __init__(self, request: _Request, bindings: tuple = ()):
        self.request = request
        self.bindings = bindings
        self.functions = {**STATELESS_FUNCTIONS, **self._request_functions()}

    def _request_functions(self) -> dict[str, TemplateFunction]:
        request = self.request
        return {
            "parameters": self._parameter,
            "field": self._field_function,
            "current": self._current,
            "requestcontext": lambda: {"apiVersion": request.api_version},
            "utcnow": self._utc_now,
            "resourcegroup": lambda: dict(request.resource_group),
            "subscription": lambda: {"subscriptionId": request.subscription_id,
                                     "id": f"/subscriptions/{request.subscription_id}"},
        }

    def within(self, binding: _Binding) -> "_RuleEvaluation":
        return _RuleEvaluation(self.request, self.bindings + (binding,))

    # conditions

    def condition(self, node: Any) -> bool:
        if not isinstance(node, Mapping):
            raise UnsupportedPolicyLanguage(f"a condition must be an object, got {node!r}")
        keys = {key.lower(): key for key in node}
        # Inference: allOf/anyOf stop at the first condition that decides them, left to right, so a guard such as
        # 342e8053's "expiresOn exists false" keeps the comparison after it from being evaluated (and failing).
        if "allof" in keys:
            return all(self.condition(item) for item in node[keys["allof"]])
        if "anyof" in keys:
            return any(self.condition(item) for item in node[keys["anyof"]])
        if "not" in keys:
            return not self.condition(node[keys["not"]])
        return self._leaf(node, keys)

    def _leaf(self, node: Mapping, keys: Mapping[str, str]) -> bool:
        operator_name = _operator_of(keys)
        check = OPERATORS[operator_name]
        expected = self.value(node[keys[operator_name]])
        if "field" in keys:
            name = _text_argument("field", self.value(node[keys["field"]]))
            values, is_collection = self.field_values(name)
            if name.lower() == "location":
                values, expected = [_location(value) for value in values], _location(expected)
            if is_collection:
                return all(check(value, expected) for value in values)
            return check(values[0], expected)
        if "value" in keys:
            return check(self.value(node[keys["value"]]), expected)
        if "count" in keys:
            return check(self._count(node[keys["count"]]), expected)
        raise UnsupportedPolicyLanguage(f"a condition needs field, value or count: {dict(node)!r}")

    def value(self, raw: Any) -> Any:
        return resolve_template_value(raw, self.functions)

    # count

    def _count(self, spec: Mapping) -> int:
        keys = {key.lower(): key for key in spec}
        where = spec.get(keys["where"]) if "where" in keys else None
        if "field" in keys:
            alias = self.value(spec[keys["field"]])
            members = self.field_values(alias)[0] if "[*]" in alias else []
            bindings = [_Binding(alias.lower(), member, True) for member in members]
        elif "value" in keys:
            members = self.value(spec[keys["value"]])
            if not isinstance(members, list):
                raise PolicyEvaluationError(f"a value count needs an array, got {members!r}")
            name = spec.get(keys["name"], "default") if "name" in keys else "default"
            bindings = [_Binding(str(name).lower(), member, False) for member in members]
        else:
            raise UnsupportedPolicyLanguage(f"a count needs field or value: {dict(spec)!r}")
        if where is None:
            return len(bindings)
        return sum(1 for binding in bindings if self.within(binding).condition(where))

    # fields

    def field_values(self, name: str) -> tuple[list[Any], bool]:
        """The values a ``field`` selects and whether they are a collection (a ``[*]`` alias: every value must meet the
        condition [arrays]); a scalar field gives one value, None when absent [rule, "Fields"]."""
        if "/" not in name:
            return [self._root_field(name)], False
        binding = self._binding_for(name)
        resource_type = self._resource_type()
        steps = arm_path(name, resource_type)
        if steps is None:
            return ([], True) if "[*]" in name else ([None], False)
        if binding is None:
            return _select(self.request.resource, steps), EACH in steps
        rest = steps[len(arm_path(binding.name, resource_type) or ()):]
        return _select(binding.value, rest), EACH in rest

    def _binding_for(self, alias: str) -> Optional[_Binding]:
        lowered = alias.lower()
        candidates = [binding for binding in self.bindings
                      if binding.is_field and (lowered == binding.name or lowered.startswith(binding.name + "."))]
        return max(candidates, key=lambda binding: len(binding.name), default=None)

    def _resource_type(self) -> str:
        return str(self.request.resource.get("type", ""))

    def _root_field(self, name: str) -> Any:
        resource, lowered = self.request.resource, name.lower()
        full_name = str(resource.get("name", ""))
        if lowered == "name":
            return full_name.rsplit("/", 1)[-1]
        if lowered == "fullname":
            return full_name
        if lowered == "id":
            return self._resource_id()
        tag = _TAG.match(name)
        if tag:
            return _child(_child(resource, "tags"), _tag_name(tag.group("dotted") or tag.group("bracketed")))
        return _select(resource, _plain_path(name))[0]

    def _resource_id(self) -> str:
        """``/subscriptions/<id>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>[/<child type>/<name>]``."""
        namespace, *types = self._resource_type().split("/")
        names = str(self.request.resource.get("name", "")).split("/")
        segments = "/".join(f"{kind}/{name}" for kind, name in zip(types, names))
        group = self.request.resource_group.get("name", "")
        return f"/subscriptions/{self.request.subscription_id}/resourceGroups/{group}/providers/{namespace}/{segments}"

    # functions that read the request

    def _utc_now(self, *text_format: Any) -> str:
        if text_format:
            raise UnsupportedPolicyLanguage("utcNow() with a format is not implemented")
        return format_policy_datetime(self.request.now)

    def _parameter(self, name: str) -> Any:
        found = _key_of(self.request.parameters, name) if isinstance(name, str) else None
        if found is None:
            raise PolicyEvaluationError(f"the parameter {name!r} has no value")
        return self.request.parameters[found]

    def _field_function(self, name: str) -> Any:
        """``field()``: the value as-is, ``""`` when absent, an array for a ``[*]`` alias [arrays]."""
        values, is_collection = self.field_values(_text_argument("field", name))
        if is_collection or "[*]" in name:  # the counted member alone is still "an array with a single member"
            return values
        return "" if values[0] is None else values[0]

    def _current(self, name: Optional[str] = None) -> Any:
        if not self.bindings:
            raise PolicyEvaluationError("current() is only available inside a count's where")
        if name is None:
            return self.bindings[-1].value
        lowered = _text_argument("current", name).lower()
        for binding in reversed(self.bindings):
            if binding.name == lowered:
                return binding.value
        if "/" in lowered and self._binding_for(name) is not None:
            # A property of the counted member [rule, "The current function"]. Inference: absent reads as "" like
            # field() does, so Deny-MgmtPorts-From-Internet's and(not(empty(x)), contains(x, '-')) does not fail on
            # a rule that sets destinationPortRanges instead of destinationPortRange.
            values, is_collection = self.field_values(name)
            return values if is_collection else ("" if values[0] is None else values[0])
        raise PolicyEvaluationError(f"current({name!r}) names no enclosing count")


def _operator_of(keys: Mapping[str, str]) -> str:
    operators = [key for key in keys if key in OPERATORS]
    if len(operators) != 1:
        raise UnsupportedPolicyLanguage(f"a condition needs exactly one known operator, got {sorted(keys.values())}")
    return operators[0]


def _location(value: Any) -> Any:
    """``East US 2`` equals ``eastus2`` [rule, "Fields": location]."""
    if isinstance(value, str):
        return value.replace(" ", "").lower()
    if isinstance(value, list):
        return [_location(item) for item in value]
    return value


def _tag_name(text: str) -> str:
    if len(text) >= 2 and text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    return text


def evaluate(
    rule: Mapping,
    resource: Mapping,
    *,
    parameters: Mapping[str, Any],
    now: datetime,
    api_version: str,
    resource_group: Optional[Mapping[str, Any]] = None,
    subscription_id: str = "00000000-0000-0000-0000-000000000000",
) -> bool:
    """Whether the ``if`` of ``rule`` (a ``policyRule`` or its ``if`` condition) holds for ``resource``, an ARM template
    resource ``{type, apiVersion, name, location, kind, sku, identity, tags, zones, properties}`` (a child is named
    ``parent/child``). ``parameters`` are the definition's parameter values, ``now`` feeds ``utcNow()``, ``api_version``
    ``requestContext().apiVersion``. Raises :class:`PolicyEvaluationError` where Azure's evaluation fails (an implicit
    deny) and :class:`UnsupportedPolicyLanguage` where this evaluator cannot read the rule."""
    condition = rule["if"] if "if" in rule else rule
    request = _Request(resource, parameters, now, api_version, _resource_group_object(resource_group, subscription_id),
                       subscription_id)
    return _RuleEvaluation(request).condition(condition)


def _resource_group_object(given: Optional[Mapping[str, Any]], subscription_id: str) -> dict[str, Any]:
    """``resourceGroup()``: ARM's resource group object, ``given`` over defaults. Inference: ``managedBy`` is ``""``
    for a group no service manages; MCSB members read ``[resourcegroup().managedBy]`` unguarded (the storage rules
    that exclude Databricks-managed groups) and do not fail on ordinary groups."""
    name = str((given or {}).get("name", ""))
    defaults = {"id": f"/subscriptions/{subscription_id}/resourceGroups/{name}", "name": name, "location": "",
                "type": "Microsoft.Resources/resourceGroups", "managedBy": "", "tags": {}}
    return {**defaults, **(given or {})}


def definition_parameter_values(definition: Mapping, supplied: Mapping[str, Any]) -> dict[str, Any]:
    """The definition's parameters: the supplied value (names compare ignoring case), else the ``defaultValue``;
    a parameter with neither is left out (reading it is then an evaluation error)."""
    declared = _properties_of(definition).get("parameters") or {}
    values = {}
    for name, spec in declared.items():
        found = _key_of(supplied, name)
        if found is not None:
            values[name] = supplied[found]
        elif isinstance(spec, Mapping) and "defaultValue" in spec:
            values[name] = spec["defaultValue"]
    return values


def effect_of(definition: Mapping, assignment_parameters: Mapping[str, Any]) -> str:
    """The effect of ``definition`` (a definition document or its ``properties``) given the parameter values assigned
    to it, in lower case (``deny``, ``audit``, ``auditifnotexists``, ...). A definition written for deployment through
    a template (ALZ's ``"[[parameters('effect')]"``) must be unescaped first, as ARM does when it deploys it
    (:func:`apim_lastmile.tools.landing_zone.unescape_deployed_strings`)."""
    values = definition_parameter_values(definition, assignment_parameters)
    functions = {**STATELESS_FUNCTIONS, "parameters": lambda name: _parameter_value(values, name)}
    effect = resolve_template_value(_properties_of(definition)["policyRule"]["then"]["effect"], functions)
    return str(effect).lower()


def _parameter_value(values: Mapping[str, Any], name: str) -> Any:
    found = _key_of(values, name)
    if found is None:
        raise PolicyEvaluationError(f"the parameter {name!r} has no value")
    return values[found]


def _properties_of(definition: Mapping) -> Mapping:
    return definition["properties"] if "properties" in definition and "policyRule" not in definition else definition


# --- Static check: can this evaluator read a rule? ------------------------------------------------------------------


def unsupported_features(rule: Mapping) -> list[str]:
    """What in the ``if`` of ``rule`` this evaluator cannot read (unknown operators or functions, malformed
    expressions); empty when it reads the whole rule."""
    problems: list[str] = []
    _scan_condition(rule["if"] if "if" in rule else rule, problems)
    return sorted(set(problems))


def _scan_condition(node: Any, problems: list[str]) -> None:
    if not isinstance(node, Mapping):
        problems.append(f"condition {node!r} is not an object")
        return
    keys = {key.lower(): key for key in node}
    logical = [key for key in _LOGICAL if key in keys]
    if logical:
        children = node[keys[logical[0]]]
        for child in children if isinstance(children, list) else [children]:
            _scan_condition(child, problems)
        return
    try:
        _operator_of(keys)
    except UnsupportedPolicyLanguage as error:
        problems.append(str(error))
    for key, value in node.items():
        if key.lower() == "count" and isinstance(value, Mapping):
            _scan_count(value, problems)
        else:
            _scan_strings(value, problems)


def _scan_count(spec: Mapping, problems: list[str]) -> None:
    for key, value in spec.items():
        if key.lower() == "where":
            _scan_condition(value, problems)
        else:
            _scan_strings(value, problems)


def _scan_strings(value: Any, problems: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _scan_strings(item, problems)
    elif is_template_expression(value):
        try:
            _scan_functions(parse_expression(value), problems)
        except UnsupportedPolicyLanguage as error:
            problems.append(str(error))


def _scan_functions(node: Any, problems: list[str]) -> None:
    if isinstance(node, Call):
        if node.name.lower() not in POLICY_FUNCTIONS:
            problems.append(f"template function {node.name}() is not implemented")
        for arg in node.args:
            _scan_functions(arg, problems)
    elif isinstance(node, Member):
        _scan_functions(node.target, problems)
    elif isinstance(node, Index):
        _scan_functions(node.target, problems)
        _scan_functions(node.index, problems)
