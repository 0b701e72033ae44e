"""Values inside a policy: literals, policy expressions and named-value references.

APIM gives two pieces of syntax a meaning anywhere in a policy document: a value that begins with ``@``
is a C# policy expression, and ``{{name}}`` is replaced by the named value ``name`` before the policy
runs. A literal string that happens to contain either (a header value of ``@(...)``, a URL with ``{{``)
would therefore change meaning, or leak a named value. Plain ``str`` values are always literals: when a
literal contains such syntax, or characters XML cannot carry, it is rendered as a C# string expression
whose text has neither (``{``, ``}``, ``@`` and every non-printable character become ``\\uXXXX``
escapes), so APIM sees exactly the literal. Expressions and named-value references must be asked for
explicitly with :class:`Expression` and :class:`NamedValueRef`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from ..errors import PolicyError

#: APIM named value names: letters, digits, dots, dashes and underscores, up to 256 characters.
NAMED_VALUE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
# Printable ASCII that is safe verbatim inside a C# string literal and inert for APIM's substitution.
_CSHARP_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set('\\"{}@')


@dataclass(frozen=True)
class Expression:
    """A C# policy expression, rendered as ``@(code)`` (or ``@{code}`` when ``multi_statement``)."""

    code: str
    multi_statement: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code.strip():
            raise PolicyError("expression", self.code, "a policy expression needs non-empty C# code")
        if not _xml_safe(self.code):
            raise PolicyError("expression", self.code, "a policy expression may not hold control characters")

    def render(self) -> str:
        return f"@{{{self.code}}}" if self.multi_statement else f"@({self.code})"


@dataclass(frozen=True)
class NamedValueRef:
    """A reference to an APIM named value, rendered as ``{{name}}``."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAMED_VALUE_NAME.match(self.name):
            raise PolicyError(
                "named value",
                self.name,
                "named value names are 1-256 letters, digits, '.', '-' or '_'",
            )

    def render(self) -> str:
        return "{{" + self.name + "}}"


@dataclass(frozen=True)
class Template:
    """Literal text with named-value references spliced in, e.g. ``{{vault-url}}/secrets/{{secret}}``.

    APIM substitutes named values textually, so one value may combine several. Literal parts must be
    plain: no ``{{``/``}}``, no leading ``@``, only characters XML can carry.
    """

    parts: tuple

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        if not self.parts:
            raise PolicyError("template", self.parts, "a template needs at least one part")
        for index, part in enumerate(self.parts):
            if isinstance(part, NamedValueRef):
                continue
            if not isinstance(part, str) or "{" in part or "}" in part or not _xml_safe(part) or (index == 0 and part.startswith("@")):
                raise PolicyError(
                    f"template[{index}]", part,
                    "template parts are plain text (no '{', '}', leading '@' or control characters) or policy.named_value(...)",
                )

    def render(self) -> str:
        return "".join(p.render() if isinstance(p, NamedValueRef) else p for p in self.parts)


Value = Union[str, Expression, NamedValueRef, Template]


def template(*parts: Union[str, NamedValueRef]) -> Template:
    """Literal text and named-value references, concatenated by APIM's substitution."""
    return Template(parts)


def expr(code: str) -> Expression:
    """Shorthand for a single-statement policy expression ``@(code)``."""
    return Expression(code)


def named_value(name: str) -> NamedValueRef:
    """Shorthand for a named-value reference ``{{name}}``."""
    return NamedValueRef(name)


def _xml_safe(text: str) -> bool:
    for ch in text:
        code = ord(ch)
        if code in (0x9, 0xA, 0xD):
            continue
        if code < 0x20 or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            return False
    return True


def needs_expression(text: str) -> bool:
    """True when a literal cannot be written verbatim without APIM reading syntax into it."""
    return text.startswith("@") or "{{" in text or "}}" in text or not _xml_safe(text)


def csharp_string(text: str) -> str:
    """A C# regular string literal for ``text`` whose source is printable ASCII free of ``{ } @``."""
    out = ['"']
    for ch in text:
        if ch in _CSHARP_SAFE:
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ord(ch) > 0xFFFF:
            out.append(f"\\U{ord(ch):08X}")
        else:
            out.append(f"\\u{ord(ch):04X}")
    out.append('"')
    return "".join(out)


def render_value(value: Value, key: str) -> str:
    """The attribute or element text for ``value``; ``key`` names it in errors."""
    if isinstance(value, (Expression, NamedValueRef, Template)):
        return value.render()
    if not isinstance(value, str):
        raise PolicyError(key, value, "expected a string, policy.expr(...) or policy.named_value(...)")
    if needs_expression(value):
        return "@(" + csharp_string(value) + ")"
    return value


def require_value(value: Value, key: str, *, allow_empty: bool = False) -> Value:
    """Validate a value eagerly (type, and non-empty unless ``allow_empty``)."""
    render_value(value, key)
    if not allow_empty and isinstance(value, str) and value == "":
        raise PolicyError(key, value, "a non-empty value is required")
    return value
