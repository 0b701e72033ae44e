"""Reading a policy as APIM reads it: which resources are policy documents, xml and rawxml parsing with references and
CDATA resolved, C# expressions lexed, constant values told from values read at run time.
"""

from __future__ import annotations

import re
from typing import Any, Optional


# ---- Policies: read as APIM reads them ---------------------------------------------------------------------
#
# Every rule that looks inside a policy works on the parsed document: a real XML parser (lxml) resolves character
# and entity references and CDATA sections, drops comments and processing instructions (APIM ignores them), and
# refuses a DTD. Expressions (``@(...)``, ``@{...}``) are read with a small C# lexer: string and char literals
# (regular, verbatim ``@"..."``, interpolated ``$"..."`` with their holes, raw ``"""..."""``; escapes such as
# ``\x78`` and ``\u0078`` decoded), comments and identifiers (``\u0063ontext`` is ``context``).

#: Every azure-native APIM resource whose ``value`` is a policy document (the SDK's classes, plus the workspace
#: GraphQL resolver policy that newer API versions add). ``format`` defaults to ``xml``.
POLICY_TYPES = frozenset({
    "Policy", "ApiPolicy", "ApiOperationPolicy", "ProductPolicy", "GraphQLApiResolverPolicy",
    "WorkspacePolicy", "WorkspaceApiPolicy", "WorkspaceApiOperationPolicy", "WorkspaceProductPolicy",
    "WorkspaceGraphQLApiResolverPolicy", "PolicyFragment", "WorkspacePolicyFragment",
})
#: APIM types whose name ends in Policy but which carry no policy document.
NOT_POLICY_DOCUMENTS = frozenset({"AuthorizationAccessPolicy", "WorkspaceAuthorizationAccessPolicy", "PolicyRestriction",
                                  "WorkspacePolicyRestriction"})
INLINE_FORMATS = ("xml", "rawxml")
LINK_FORMATS = ("xml-link", "rawxml-link")

_APIM_TYPE = re.compile(r"azure-native:apimanagement(?:/v[0-9a-z]+)?:(\w+)")


def policy_resource(resource_type: str) -> Optional[str]:
    """The class name if ``resource_type`` is an APIM resource that holds a policy document, in any API version."""
    match = _APIM_TYPE.fullmatch(resource_type)
    if not match:
        return None
    name = match.group(1)
    if name in POLICY_TYPES:
        return name
    if name not in NOT_POLICY_DOCUMENTS and (name.endswith("Policy") or name.endswith("PolicyFragment")):
        return name
    return None


class Unreadable(ValueError):
    """A policy the rules cannot inspect (a link format, an unknown format, a document that does not parse, a DTD)."""


# -- a small C# lexer (enough for literals, identifiers and nesting) ------------------------------------------

class _Tok:
    __slots__ = ("kind", "text", "end", "holes", "raw")

    def __init__(self, kind: str, text: str, end: int, holes: tuple = (), raw: str = ""):
        self.kind, self.text, self.end, self.holes, self.raw = kind, text, end, holes, raw

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.kind}:{self.text!r}"


_SIMPLE_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n",
                   "r": "\r", "t": "\t", "v": "\v"}
_IDENT_START = re.compile(r"[A-Za-z_\u00c0-\uffff]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}")
_IDENT_PART = re.compile(r"[A-Za-z0-9_\u00c0-\uffff]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}")


def _escape(src: str, i: int) -> tuple[str, int]:
    """A C# escape sequence at ``src[i] == '\\'``: (decoded text, index after it)."""
    c = src[i + 1] if i + 1 < len(src) else ""
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 2
    for letter, size in (("u", 4), ("U", 8)):
        if c == letter and re.fullmatch(r"[0-9A-Fa-f]{%d}" % size, src[i + 2:i + 2 + size]):
            code = int(src[i + 2:i + 2 + size], 16)
            return (chr(code) if code < 0x110000 else ""), i + 2 + size
    if c == "x":
        digits = re.match(r"[0-9A-Fa-f]{1,4}", src[i + 2:])
        if digits:
            return chr(int(digits.group(0), 16)), i + 2 + len(digits.group(0))
    return c, i + 2


def _ident_at(src: str, i: int) -> Optional[tuple[str, int]]:
    match = _IDENT_START.match(src, i)
    if not match:
        return None
    out, j = [], i
    while match:
        piece = match.group(0)
        out.append(chr(int(piece[2:], 16)) if piece.startswith("\\") else piece)
        j = match.end()
        match = _IDENT_PART.match(src, j)
    return "".join(out), j


def _string_at(src: str, i: int) -> Optional[tuple[_Tok, int]]:
    """A string literal starting at ``i`` (any prefix), or None."""
    prefix = re.match(r'\$@|@\$|\$|@', src[i:i + 2])
    p = prefix.group(0) if prefix and src[i + len(prefix.group(0)):i + len(prefix.group(0)) + 1] == '"' else ""
    j = i + len(p)
    if src[j:j + 1] != '"':
        return None
    interpolated, verbatim = "$" in p, "@" in p
    quotes = len(re.match(r'"*', src[j:]).group(0))
    if quotes >= 3:  # raw string literal (C# 11): no escapes, ends at the same run of quotes
        close = src.find('"' * quotes, j + quotes)
        close = len(src) if close < 0 else close
        return _Tok("str", src[j + quotes:close], close + quotes), close + quotes
    k, parts, holes = j + 1, [], []
    while k < len(src):
        c = src[k]
        if c == '"':
            if verbatim and src[k + 1:k + 2] == '"':
                parts.append('"')
                k += 2
                continue
            k += 1
            break
        if c == "\\" and not verbatim:
            text, k = _escape(src, k)
            parts.append(text)
            continue
        if interpolated and c == "{":
            if src[k + 1:k + 2] == "{":
                parts.append("{")
                k += 2
                continue
            end = _balanced(src, k + 1, "{", "}")
            end = len(src) if end is None else end
            holes.append(src[k + 1:end - 1])
            k = end
            continue
        if interpolated and c == "}" and src[k + 1:k + 2] == "}":
            parts.append("}")
            k += 2
            continue
        if c == "\n" and not verbatim:
            break
        parts.append(c)
        k += 1
    return _Tok("str", "".join(parts), k, tuple(holes), raw=src[i:k]), k


def _tokens(src: str, i: int = 0):
    """Yield C# tokens of ``src`` from ``i``: str (decoded), char, ident (decoded), num, punct."""
    n = len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end + 1
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in '"$@' and (found := _string_at(src, i)):
            tok, i = found
            yield tok
        elif c == "'":
            j, chars = i + 1, []
            while j < n and src[j] != "'" and src[j] != "\n":
                if src[j] == "\\":
                    text, j = _escape(src, j)
                    chars.append(text)
                else:
                    chars.append(src[j])
                    j += 1
            i = j + 1
            yield _Tok("char", "".join(chars), i)
        elif (ident := _ident_at(src, i + 1 if c == "@" else i)) is not None:
            name, i = ident
            yield _Tok("ident", name, i)
        elif c.isdigit():
            match = re.match(r"[0-9A-Za-z_.]+", src[i:])
            i += len(match.group(0))
            yield _Tok("num", match.group(0), i)
        else:
            i += 1
            yield _Tok("punct", c, i)


def _balanced(src: str, i: int, open_: str, close: str) -> Optional[int]:
    """Index just after the ``close`` matching an ``open_`` already consumed before ``i``; None if unbalanced."""
    depth = 1
    for tok in _tokens(src, i):
        if tok.kind == "punct" and tok.text == open_:
            depth += 1
        elif tok.kind == "punct" and tok.text == close:
            depth -= 1
            if depth == 0:
                return tok.end
    return None


def expression_end(src: str, i: int) -> Optional[int]:
    """``src[i:]`` starts with ``@(`` or ``@{``: the index just after the expression, or None if it never closes."""
    open_ = src[i + 1]
    return _balanced(src, i + 2, open_, ")" if open_ == "(" else "}")


def _expression_code(value: str) -> Optional[str]:
    """The C# code of a value that is a policy expression (the whole value is ``@(...)`` or ``@{...}``)."""
    text = value.strip()
    if len(text) >= 3 and text[0] == "@" and text[1] in "({":
        end = expression_end(text, 0)
        if end is not None and text[end:].strip() == "":
            return text[2:end - 1]
    return None


def _all_tokens(code: str) -> list[_Tok]:
    """Every token of ``code``, the holes of interpolated strings included (after their string)."""
    out = []
    for tok in _tokens(code):
        out.append(tok)
        for hole in tok.holes:
            out.extend(_all_tokens(hole))
    return out


def literal_text(code: str) -> str:
    """The string and char literals of an expression, in order (base64 literals decoded where they are decoded).

    This is what a constant expression made of concatenations, ``string.Concat``, ``ToUpper``/``ToLower`` (compare
    case-insensitively), ``new string(new[] {'x', ...})`` or ``Encoding.UTF8.GetString(Convert.FromBase64String(...))``
    over literals evaluates to, closely enough to find a header name, ``code=`` or ``x-functions-key`` in it.
    """
    import base64
    import binascii

    toks, out, k = _all_tokens(code), [], 0
    while k < len(toks):
        tok = toks[k]
        if tok.kind == "ident" and tok.text == "FromBase64String" and k + 1 < len(toks) and toks[k + 1].text == "(":
            depth, j, pieces = 0, k + 1, []
            while j < len(toks):
                if toks[j].kind == "punct" and toks[j].text == "(":
                    depth += 1
                elif toks[j].kind == "punct" and toks[j].text == ")":
                    depth -= 1
                    if depth == 0:
                        break
                elif toks[j].kind in ("str", "char"):
                    pieces.append(toks[j].text)
                j += 1
            joined = "".join(pieces)
            try:
                out.append(base64.b64decode(joined + "=" * (-len(joined) % 4), validate=True).decode("utf-8"))
            except (binascii.Error, ValueError):
                out.append(joined)
            k = j + 1
            continue
        if tok.kind in ("str", "char"):
            out.append(tok.text)
        k += 1
    return "".join(out)


_NOT_A_TYPE = frozenset({"return", "out", "ref", "in", "is", "as", "await", "throw", "case", "else", "yield", "when",
                         "select", "where", "from", "not", "and", "or", "new", "typeof", "nameof", "sizeof"})
_VARIABLE_READERS = frozenset({"GetValueOrDefault", "ContainsKey", "TryGetValue"})


def context_reads(code: str) -> tuple[bool, set[str]]:
    """What an expression reads from the request context: (reads anything but variables, variable names read).

    ``context`` is APIM's only implicit variable, so an expression that never names it (and holds no named value)
    can only compute from its own literals. A local declared as ``context`` (``var context = "x";``) shadows it.
    ``context.Variables["n"]``, ``.GetValueOrDefault<T>("n")``, ``.ContainsKey("n")`` and ``.TryGetValue("n", ...)``
    with a literal name are variable reads; any other use of ``context`` (Request, Response, User, Deployment, a
    variable named by a computed string, ...) is a read of the request.
    """
    toks = _all_tokens(code)
    for k, tok in enumerate(toks):
        if tok.kind == "ident" and tok.text == "context" and k > 0:
            before, after = toks[k - 1], toks[k + 1] if k + 1 < len(toks) else None
            declared = (before.kind == "ident" and before.text not in _NOT_A_TYPE) or before.text in (">", "]", "?")
            lambda_ = after is not None and after.text == "=" and k + 2 < len(toks) and toks[k + 2].text == ">"
            if (declared and not (k > 1 and toks[k - 2].text == ".")) or lambda_:
                return False, set()  # a local named context: nothing here reads the request
    request, variables = False, set()
    for k, tok in enumerate(toks):
        if tok.kind != "ident" or tok.text != "context" or (k > 0 and toks[k - 1].text == "."):
            continue
        rest = toks[k + 1:k + 12]
        texts = [t.text for t in rest]
        if texts[:2] != [".", "Variables"]:
            request = True
            continue
        j = 2
        if texts[j:j + 1] == ["["]:
            j += 1
        elif len(texts) > j + 1 and texts[j] == "." and texts[j + 1] in _VARIABLE_READERS:
            j += 2
            if texts[j:j + 1] == ["<"]:  # generic argument: skip to the matching '>'
                depth = 0
                while j < len(texts):
                    depth += {"<": 1, ">": -1}.get(texts[j], 0)
                    j += 1
                    if depth == 0:
                        break
            if texts[j:j + 1] != ["("]:
                request = True
                continue
            j += 1
        else:
            request = True
            continue
        if j < len(rest) and rest[j].kind == "str" and not rest[j].holes:
            variables.add(rest[j].text)
        else:
            request = True
    return request, variables


_NAMED_VALUE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


def named_value_refs(value: str) -> set[str]:
    """The named values a value references (``{{name}}``; APIM substitutes them before anything else)."""
    return {m.group(1) for m in _NAMED_VALUE.finditer(value)}


# -- reading the document ------------------------------------------------------------------------------------

_REFERENCE = re.compile(r"&(?:#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z_][\w.-]*);")


def _escape_raw(code: str) -> str:
    """XML-escape a raw (rawxml) expression; references already written as such are kept."""
    out, i = [], 0
    while i < len(code):
        c = code[i]
        if c == "&":
            ref = _REFERENCE.match(code, i)
            if ref:
                out.append(ref.group(0))
                i = ref.end()
                continue
            out.append("&amp;")
        else:
            out.append({"<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}.get(c, c))
        i += 1
    return "".join(out)


def rawxml_to_xml(src: str) -> str:
    """APIM's ``rawxml``: the same XML, except that policy expressions are not XML-escaped (``"``, ``<``, ``>``, ``&``
    appear raw inside ``@(...)``/``@{...}`` in attribute values and text). Escape each expression so that an XML
    parser reads the document APIM reads; comments, CDATA and processing instructions are left as they are."""
    out, i, n = [], 0, len(src)

    def expression(at: int) -> Optional[int]:
        if src.startswith("@(", at) or src.startswith("@{", at):
            end = expression_end(src, at)
            if end is not None:
                out.append(_escape_raw(src[at:end]))
                return end
        return None

    while i < n:
        for opener, closer in (("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")):
            if src.startswith(opener, i):
                end = src.find(closer, i + len(opener))
                end = n if end < 0 else end + len(closer)
                out.append(src[i:end])
                i = end
                break
        else:
            if src[i] == "<":  # a tag: copy it, escaping an expression that opens an attribute value
                j = i
                while j < n and src[j] != ">":
                    if src[j] in "\"'":
                        quote, k = src[j], j + 1
                        out.append(src[j])
                        while k < n and src[k].isspace():
                            out.append(src[k])
                            k += 1
                        end = expression(k)
                        k = end if end is not None else k
                        close = src.find(quote, k)
                        close = n - 1 if close < 0 else close
                        out.append(src[k:close + 1])
                        j = close + 1
                        continue
                    out.append(src[j])
                    j += 1
                out.append(src[j:j + 1])
                i = j + 1
            else:
                end = expression(i)
                if end is None:
                    out.append(src[i])
                    i += 1
                else:
                    i = end
    return "".join(out)


def parse_policy(value: Any, fmt: Any = None):
    """The policy document as APIM reads it (an lxml element), or :class:`Unreadable` saying why it cannot be read."""
    from lxml import etree

    form = "xml" if fmt is None else str(getattr(fmt, "value", fmt)).strip().lower()
    if form in LINK_FORMATS:
        raise Unreadable(f"format {fmt!r}: the document lives at a URL ({str(value)[:120]}) that the pack cannot "
                         "read; put the policy inline (format xml or rawxml)")
    if form not in INLINE_FORMATS:
        raise Unreadable(f"format {fmt!r} is not one the pack can read (xml, rawxml)")
    if not isinstance(value, str):
        raise Unreadable(f"the policy value is {type(value).__name__}, not a document")
    text = rawxml_to_xml(value) if form == "rawxml" else value
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=True, remove_pis=True, recover=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except (etree.XMLSyntaxError, ValueError) as err:
        if "<!DOCTYPE" in text:
            raise Unreadable("the document declares a DTD (entities); APIM policies have none and the pack refuses to "
                             "read one") from None
        raise Unreadable(f"the {form} document does not parse ({err}); APIM refuses it too, and the pack cannot "
                         "check it") from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise Unreadable("the document declares a DTD (entities); APIM policies have none and the pack refuses to read one")
    return root


def _local(name: Any) -> str:
    return name.rsplit("}", 1)[-1] if isinstance(name, str) else ""


_KEY_WORDS = frozenset({"key", "apikey", "secret", "password", "passwd", "pwd", "token", "sig", "signature", "code",
                        "authorization", "credential", "credentials", "subscriptionkey", "accesstoken",
                        "clientsecret", "sas"})


def carries_key(name: str) -> bool:
    """A header or query parameter name that carries a credential (x-functions-key, code, api-key,
    Ocp-Apim-Subscription-Key, Authorization, sig, access_token, ...), compared case-insensitively."""
    return any(part in _KEY_WORDS for part in re.split(r"[^a-z0-9]+", name.strip().lower()) if part)


class PolicyDocument:
    """A parsed policy with what the rules need: constant texts, variable assignments, value classification."""

    def __init__(self, root) -> None:
        self.root = root
        self.elements = [el for el in root.iter() if isinstance(el.tag, str)]
        self.assignments: dict[str, list[str]] = {}
        self.dynamic_variables: set[str] = set()
        for el in self.elements:
            for attr, value in el.attrib.items():
                # response-variable-name, variable-name (cache-lookup-value), output-token-variable-name, ...
                if _local(attr).endswith("variable-name"):
                    self.dynamic_variables.add(self.constant_text(value))
            if _local(el.tag) == "set-variable":
                self.assignments.setdefault(self.constant_text(el.get("name", "")), []).append(el.get("value", ""))

    @staticmethod
    def constant_text(value: str) -> str:
        """The text a value stands for: itself, or the literals of an expression (see :func:`literal_text`)."""
        code = _expression_code(value)
        return value if code is None else literal_text(code)

    @staticmethod
    def text_of(el) -> str:
        return "".join(el.itertext())

    def classify(self, value: str, seen: Optional[set] = None) -> tuple[bool, set[str]]:
        """(is the value a constant, named values it draws on).

        A constant is a plain value, or an expression that reads nothing from ``context`` (see
        :func:`context_reads`) and no named value, or that reads only variables this document sets to constants
        (``<set-variable name="p" value="hunter2"/>`` then ``context.Variables["p"]``). Anything read from the
        request, a send-request response, a cache lookup or a variable set elsewhere is dynamic.
        """
        seen = set() if seen is None else seen
        named = named_value_refs(value)
        code = _expression_code(value)
        if code is None:
            return not named, named
        request, variables = context_reads(code)
        constant = not request and not named
        for name in variables:
            if name in seen:
                continue
            seen.add(name)
            values = self.assignments.get(name)
            if not values or name in self.dynamic_variables:
                constant = False
                continue
            for assigned in values:
                is_constant, more = self.classify(assigned, seen)
                named |= more
                constant = constant and is_constant and not more
        return constant, named

    def exists_action(self, el) -> str:
        return self.constant_text(el.get("exists-action", "")).strip().lower()


def _views(value: str) -> list[str]:
    """A value as the rules compare it: itself and its constant text, each also percent-decoded, case-folded."""
    from urllib.parse import unquote

    texts = {value, PolicyDocument.constant_text(value)}
    return [v.casefold() for t in texts for v in {t, unquote(t)}]


_CODE_IN_QUERY = re.compile(r"[?&]\s*code\s*=")
