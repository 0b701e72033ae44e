"""A policy document read as APIM reads it, for the credential detector.

lxml with no DTD, no entity expansion beyond XML's own and no network: a document type declaration is refused (APIM
refuses them too), character references and CDATA sections are resolved, comments are not elements. Expressions
(``@(...)``, ``@{...}``) stay text; :func:`references` reads what they draw on: named values (``{{name}}``), the
variables they read (``context.Variables["x"]``, ``GetValueOrDefault<T>("x")``) and whether they read the caller's
request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional



class UnreadableDocument(ValueError):
    """A document ``lastmile audit`` (or the policy pack) cannot read: where, what, and why."""

    def __init__(self, where: str, value: object, why: str) -> None:
        super().__init__(f"{where}: got {value!r}; {why}")
        self.where, self.value, self.why = where, value, why

#: Larger documents are refused (APIM's own limit on a policy document is 256 KB).
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024

_NAMED = re.compile(r"\{\{\s*([A-Za-z0-9._~-]+)\s*\}\}")
_VARIABLE = re.compile(r"""Variables\s*(?:\[\s*|\.\s*(?:GetValueOrDefault|TryGetValue|ContainsKey)\s*(?:<[^>]*>)?\s*\(\s*)@?"([^"]+)\"""")
_REQUEST = re.compile(r"context\s*\.\s*(?:Request|Subscription|User|Product)\b")
_EXPRESSION = re.compile(r"^\s*@[({]")


def parse(text: bytes, where: str):
    """The document's root element, read as APIM reads it: as XML, else as ``rawxml`` (expressions not XML-escaped,
    the policy editor's form, :func:`apim_reading.rawxml_to_xml`). A DTD, an unreadable or oversized document is
    refused (:class:`UnreadableDocument`) naming ``where``."""
    from .apim_reading import Unreadable, parse_policy

    if len(text) > MAX_DOCUMENT_BYTES:
        raise UnreadableDocument(where, f"{len(text)} bytes", f"a policy document is at most {MAX_DOCUMENT_BYTES} bytes here")
    if re.search(rb"<!DOCTYPE|<!ENTITY", text[:65536], re.IGNORECASE):
        raise UnreadableDocument(where, "<!DOCTYPE ...>", "a policy document has no document type declaration (APIM refuses them)")
    try:
        source = text.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableDocument(where, "not UTF-8", "expected a UTF-8 policy document") from None
    try:
        return parse_policy(source, "xml")
    except Unreadable:
        try:
            return parse_policy(source, "rawxml")
        except Unreadable as exc:
            raise UnreadableDocument(where, "unreadable", str(exc)) from None


def local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def is_expression(value: str) -> bool:
    return bool(_EXPRESSION.match(value or ""))


def text_of(el) -> str:
    return "".join(el.itertext())


@dataclass
class References:
    """What a value draws on."""

    named_values: set[str] = field(default_factory=set)
    variables: set[str] = field(default_factory=set)
    reads_request: bool = False
    constant: str = ""  # the value's own text when it is no expression


def without_comments(code: str) -> str:
    """C# code without its ``//`` and ``/* */`` comments (string and char literals kept as they are)."""
    out, i, n = [], 0, len(code)
    while i < n:
        if code.startswith("//", i):
            end = code.find("\n", i)
            i = n if end < 0 else end
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif code[i] in "\"'":
            quote, verbatim = code[i], i > 0 and code[i - 1] == "@"
            j = i + 1
            while j < n and code[j] != quote:
                j += 2 if code[j] == "\\" and not verbatim else 1
            out.append(code[i:j + 1])
            i = j + 1
        else:
            out.append(code[i])
            i += 1
    return "".join(out)


def references(value: Optional[str]) -> References:
    value = value or ""
    if is_expression(value):
        value = without_comments(value)
    found = References(named_values=set(_NAMED.findall(value)))
    if is_expression(value):
        found.variables = set(_VARIABLE.findall(value))
        found.reads_request = bool(_REQUEST.search(value))
    else:
        found.constant = _NAMED.sub("", value).strip()
    return found


def string_literals(value: str) -> list[str]:
    """The string literals of an expression (what it writes as it stands)."""
    return [m.group(1) or m.group(2) or "" for m in re.finditer(r'@"((?:[^"]|"")*)"|"((?:[^"\\]|\\.)*)"', value or "")]
