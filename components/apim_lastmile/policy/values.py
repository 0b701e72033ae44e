"""Values inside a policy: literals, policy expressions and named-value references.

APIM gives two pieces of syntax a meaning anywhere in a policy document: a value that begins with ``@``
is a C# policy expression, and ``{{name}}`` is replaced by the named value ``name`` before the policy
runs. A literal string that happens to contain either (a header value of ``@(...)``, a URL with ``{{``)
would therefore change meaning, or leak a named value. Plain ``str`` values are always literals: when a
literal contains such syntax, or characters XML cannot carry, it is rendered as a C# string expression
whose text has neither (``{``, ``}``, ``@`` and every non-printable character become ``\\uXXXX``
escapes), so APIM sees exactly the literal. Expressions and named-value references must be asked for
explicitly with :class:`Expression` and :class:`NamedValueRef`.

Where APIM needs a single line (header names and values, URLs, user names, cache keys, reason phrases)
control characters are refused rather than escaped: CR/LF in a header value is header injection once the
expression has been evaluated, whatever the escaping on the way in.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Union

from ..errors import PolicyError, cut

#: APIM named value names: letters, digits, dots, dashes and underscores, up to 256 characters.
NAMED_VALUE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
# Printable ASCII that is safe verbatim inside a C# string literal and inert for APIM's substitution.
_CSHARP_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set('\\"{}@')
# Bidi overrides and isolates: invisible, they make a reviewed policy read differently from what runs.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Longest single-line literal accepted (front ends refuse header lines and URLs beyond ~8 KB).
MAX_LINE = 8192
def refuse(key: str, value: Any, expected: str) -> PolicyError:
    """A :class:`PolicyError` that keeps ``value`` only cut (errors.cut, as every message shows values)."""
    return PolicyError(key, cut(value), expected)


@dataclass(frozen=True)
class Expression:
    """A C# policy expression, rendered as ``@(code)`` (or ``@{code}`` when ``multi_statement``)."""

    code: str
    multi_statement: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code.strip():
            raise refuse("expression", self.code, "expected non-empty C# code for a policy expression")
        if not _xml_safe(self.code):
            raise refuse("expression", self.code, "expected C# code without control characters other than tab and newlines")
        if not isinstance(self.multi_statement, bool):
            raise refuse("expression.multi_statement", self.multi_statement, "expected True or False")

    def render(self) -> str:
        return f"@{{{self.code}}}" if self.multi_statement else f"@({self.code})"


@dataclass(frozen=True)
class NamedValueRef:
    """A reference to an APIM named value, rendered as ``{{name}}``."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAMED_VALUE_NAME.match(self.name):
            raise refuse("named value", self.name, "expected a named value name: 1-256 letters, digits, '.', '-' or '_'")

    def render(self) -> str:
        return "{{" + self.name + "}}"


@dataclass(frozen=True)
class Template:
    """Literal text with named-value references spliced in, e.g. ``{{vault-url}}/secrets/{{secret}}``.

    APIM substitutes named values textually *before* it looks for expressions, and a named value may
    itself hold an expression. So:

    - no literal part may begin with ``@`` (after spaces), at any index: ``{{x}}@(...)`` becomes an
      expression when ``x`` resolves to an empty string;
    - no literal part may hold ``{`` or ``}`` (it could complete a ``{{...}}`` with its neighbour);
    - no literal part may be empty, and two references may not be adjacent: with no literal text between
      them, whether the value is an expression, and where one value ends and the next begins, depends on
      the contents of both named values together (``{{a}}{{b}}`` with ``a`` = ``@`` and ``b`` = ``(code)``
      is code that neither value holds alone), so a literal separator is required;
    - no literal part may hold control characters (templates build single-line values: URLs, headers).
    """

    parts: tuple

    def __post_init__(self) -> None:
        if isinstance(self.parts, (str, bytes, NamedValueRef)):
            raise refuse("template", self.parts, "expected a sequence of parts; use policy.template(part, part, ...)")
        try:
            object.__setattr__(self, "parts", tuple(self.parts))
        except TypeError:
            raise refuse("template", self.parts, "expected a sequence of text and policy.named_value(...) parts") from None
        if not self.parts:
            raise refuse("template", self.parts, "expected at least one part")
        previous = None
        for index, part in enumerate(self.parts):
            key = f"template[{index}]"
            if isinstance(part, NamedValueRef):
                if isinstance(previous, NamedValueRef):
                    raise refuse(
                        key, part,
                        "expected literal text between two named values: adjacent references join into one value "
                        "whose meaning (text or expression, where a host ends) depends on both contents together",
                    )
            elif not isinstance(part, str):
                raise refuse(key, part, "expected plain text or policy.named_value(...)")
            elif part == "":
                raise refuse(key, part, "expected non-empty text (an empty part would hide two adjacent named values)")
            elif part.lstrip().startswith("@"):
                raise refuse(
                    key, part,
                    "expected text not starting with '@': APIM substitutes named values first, so a part that "
                    "starts with '@' becomes an expression when what precedes it is empty; use policy.expr(...)",
                )
            elif "{" in part or "}" in part:
                raise refuse(key, part, "expected text without '{' or '}': use policy.named_value(...) for a named value")
            else:
                bad = single_line_problem(part)
                if bad:
                    raise refuse(key, part, f"expected a single line of text: {bad}")
                if not _xml_safe(part):
                    raise refuse(key, part, "expected text XML can carry (no U+FFFE or U+FFFF): template parts are written verbatim")
            previous = part

    def render(self) -> str:
        return "".join(p.render() if isinstance(p, NamedValueRef) else p for p in self.parts)

    def literal_text(self) -> str:
        """The literal parts only, concatenated (what the library itself wrote)."""
        return "".join(p for p in self.parts if isinstance(p, str))

    def has_reference(self) -> bool:
        return any(isinstance(p, NamedValueRef) for p in self.parts)


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


def single_line_problem(text: str) -> str:
    """Why ``text`` cannot stand where APIM needs one line ('' when it can)."""
    if len(text) > MAX_LINE:
        return f"{len(text)} characters is more than {MAX_LINE}"
    for index, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp", "Cs") or ch in _BIDI_CONTROLS:
            name = {"\r": "CR", "\n": "LF", "\t": "tab"}.get(ch, f"U+{ord(ch):04X}")
            return f"{name} at index {index} (line breaks and control characters are refused here)"
    return ""


def needs_expression(text: str) -> bool:
    """True when a literal cannot be written verbatim without APIM reading syntax into it.

    A leading ``@`` after spaces counts too: whether APIM trims an attribute before looking for ``@`` is
    not documented, so such a literal is written as a string expression either way.
    """
    return text.lstrip().startswith("@") or "{{" in text or "}}" in text or not _xml_safe(text)


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
        raise refuse(key, value, "expected a string, policy.expr(...), policy.named_value(...) or policy.template(...)")
    if needs_expression(value):
        return "@(" + csharp_string(value) + ")"
    return value


def require_value(value: Value, key: str, *, allow_empty: bool = False, single_line: bool = False) -> Value:
    """Validate a value eagerly: its type, non-empty unless ``allow_empty``, one line when ``single_line``.

    ``single_line`` refuses control characters in literals (templates refuse them always); multi-line text
    stays allowed, escaped, where it is legitimate (bodies, variable values).
    """
    render_value(value, key)
    if isinstance(value, str):
        if not allow_empty and value == "":
            raise refuse(key, value, "expected a non-empty value")
        if single_line:
            bad = single_line_problem(value)
            if bad:
                raise refuse(key, value, f"expected a single line of text: {bad}")
    return value
