"""The passwordless-last-mile rules, as plain pulumi-policy ResourceValidationPolicy and StackValidationPolicy objects.

They look at any program's resources (not only apim-lastmile's), by type token in any API-version module, in
Pulumi's wire names (camelCase). Policies are read as APIM reads them: parsed (xml or rawxml, any case of the
format), references and CDATA resolved, expressions lexed as C#. This module only defines the rules: ``__main__.py``
puts them in a PolicyPack (constructing a PolicyPack starts a gRPC server, so tests import this module instead and
call each rule's ``validate``). No dependency on the apim-lastmile library, so the pack can guard any repository;
pure Python plus lxml.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy

ReportViolation = Callable[..., None]

#: Roles that reopen the last mile when a workload identity holds them (same ids as apim_lastmile.roles).
BROAD_ROLE_IDS = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
}
ANONYMOUS_REFUSED = ("Return401", "Return403")
TLS_OK = ("1.2", "1.3")


def is_type(resource_type: str, module: str, *names: str) -> bool:
    """``azure-native:<module>:<Name>``, an explicit API version of it (``<module>/v20240501:<Name>``), or the same from
    azure-native's parameterized package for one API version (``azure-native_keyvault_v20260201:keyvault:Vault``)."""
    match = re.fullmatch(r"azure-native(?:_([a-z]+)_v[0-9a-z]+)?:([a-z]+)(?:/v[0-9a-z]+)?:(\w+)", resource_type)
    return bool(match) and match.group(2) == module and match.group(1) in (None, module) and match.group(3) in names


def dig(props: Any, *path: str) -> Any:
    """``props[a][b]...``, or None where any step is missing."""
    for key in path:
        if not isinstance(props, Mapping):
            return None
        props = props.get(key)
    return props


def _rule(name: str, description: str, check: Callable[[ResourceValidationArgs], Iterable[str]]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


# ---- APIM has a managed identity -----------------------------------------------------------------------

def _apim_identity(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "apimanagement", "ApiManagementService"):
        return
    kind = str(dig(args.props, "identity", "type") or "None")
    if "Assigned" not in kind:
        yield f"API Management service {args.name} has no managed identity (identity.type={kind}): the last mile needs one"
    elif kind == "UserAssigned" and not dig(args.props, "identity", "userAssignedIdentities"):
        yield f"API Management service {args.name} is UserAssigned but names no identity in identity.userAssignedIdentities"


# ---- Easy Auth: authentication required, 401/403 for anonymous callers, callers restricted ---------------

def _easy_auth(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "web", "WebAppAuthSettingsV2", "WebAppAuthSettingsV2Slot"):
        return
    props = args.props
    if dig(props, "platform", "enabled") is not True:
        yield f"{args.name}: App Service Authentication is off (platform.enabled must be true)"
    if dig(props, "globalValidation", "requireAuthentication") is not True:
        yield f"{args.name}: globalValidation.requireAuthentication must be true"
    action = dig(props, "globalValidation", "unauthenticatedClientAction")
    if action not in ANONYMOUS_REFUSED:
        yield f"{args.name}: anonymous callers must get 401 or 403 (globalValidation.unauthenticatedClientAction={action})"
    entra = dig(props, "identityProviders", "azureActiveDirectory") or {}
    validation = dig(entra, "validation") or {}
    allowed = [
        dig(validation, "defaultAuthorizationPolicy", "allowedPrincipals", "identities"),
        dig(validation, "defaultAuthorizationPolicy", "allowedApplications"),
        dig(validation, "jwtClaimChecks", "allowedClientApplications"),
    ]
    if dig(entra, "enabled") is False or not any(allowed):
        yield (f"{args.name}: Entra ID must restrict callers (validation.defaultAuthorizationPolicy.allowedPrincipals."
               "identities or allowedApplications): otherwise any identity in the tenant can call the app")


# ---- Function apps: HTTPS only, TLS 1.2+, FTP off -----------------------------------------------------

def _function_app(args: ResourceValidationArgs) -> Iterable[str]:
    props = args.props
    if is_type(args.resource_type, "web", "WebAppFtpAllowed", "WebAppFtpAllowedSlot"):
        if dig(props, "allow") is not False:
            yield f"{args.name}: FTP basic-auth publishing credentials must be off (allow: false)"
        return
    if not is_type(args.resource_type, "web", "WebApp", "WebAppSlot") or "functionapp" not in str(dig(props, "kind") or "").lower():
        return
    if dig(props, "httpsOnly") is not True:
        yield f"{args.name}: a function app must be HTTPS only (httpsOnly: true)"
    tls = dig(props, "siteConfig", "minTlsVersion")
    if str(tls) not in TLS_OK:
        yield f"{args.name}: siteConfig.minTlsVersion must be 1.2 or later (got {tls})"
    ftps = dig(props, "siteConfig", "ftpsState")
    # Flex Consumption (functionAppConfig) has no FTP(S) at all and refuses ftpsState; elsewhere it must be off.
    if ftps != "Disabled" and not (dig(props, "functionAppConfig") and ftps is None):
        yield f"{args.name}: FTP must be off (siteConfig.ftpsState: Disabled, got {ftps})"


# ---- Key Vault: RBAC and purge protection ---------------------------------------------------------------

def _key_vault(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "keyvault", "Vault"):
        return
    if dig(args.props, "properties", "enableRbacAuthorization") is not True:
        yield f"{args.name}: Key Vault must use RBAC authorization (properties.enableRbacAuthorization: true), not access policies"
    if dig(args.props, "properties", "enablePurgeProtection") is not True:
        yield f"{args.name}: Key Vault must have purge protection (properties.enablePurgeProtection: true)"
    if dig(args.props, "properties", "enableSoftDelete") is False:
        yield f"{args.name}: Key Vault soft delete cannot be turned off"


# ---- No broad role for a service principal ---------------------------------------------------------------

def _broad_roles(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "authorization", "RoleAssignment"):
        return
    role = str(dig(args.props, "roleDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1].lower()
    principal_type = dig(args.props, "principalType")
    if role in BROAD_ROLE_IDS and principal_type in (None, "ServicePrincipal"):
        yield (f"{args.name}: {BROAD_ROLE_IDS[role]} for a service principal (principalType={principal_type}) reopens the "
               "last mile; grant the narrowest data-plane role on the narrowest scope")


# ---- Secret named values come from Key Vault ------------------------------------------------------------

def _named_values(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "apimanagement", "NamedValue", "WorkspaceNamedValue"):
        return
    if dig(args.props, "secret") is True:
        if not dig(args.props, "keyVault", "secretIdentifier"):
            yield f"{args.name}: a secret named value must reference Key Vault (keyVault.secretIdentifier), not hold a literal value"
        elif dig(args.props, "value") not in (None, ""):
            yield f"{args.name}: a Key Vault named value must not also carry a literal value"


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


def inspect_policy(root) -> tuple[list[str], dict[str, set[str]]]:
    """(findings, named values used as credentials -> where) for one parsed policy document."""
    doc = PolicyDocument(root)
    found: list[str] = []
    credentials: dict[str, set[str]] = {}

    def add(message: str) -> None:
        if message not in found:
            found.append(message)

    def credential(value: str, what: str) -> None:
        constant, named = doc.classify(value)
        for name in named:
            credentials.setdefault(name, set()).add(what)
        if constant:
            add(f"{what} is a literal (a constant{' expression' if _expression_code(value) else ''}); take it from a "
                "Key Vault named value or use authentication-managed-identity")

    stripped = set()
    for el in doc.elements:
        tag = _local(el.tag)
        if tag in ("set-header", "set-query-parameter"):
            kind = "header" if tag == "set-header" else "query parameter"
            name = doc.constant_text(el.get("name", "")).strip()
            if doc.exists_action(el) == "delete":
                stripped.add(el)  # removing a caller's key is what a gateway should do
                continue
            lower = name.lower()
            if tag == "set-header" and lower == "x-functions-key":
                add("the policy sends a function key (x-functions-key header); use authentication-managed-identity")
            elif tag == "set-query-parameter" and lower == "code":
                add("the policy sets a code query parameter (a function key); use authentication-managed-identity")
            elif carries_key(name):
                for value_el in [v for v in el if _local(v.tag) == "value"]:
                    credential(doc.text_of(value_el), f"the {kind} {name!r}")
        if tag in ("authentication-basic", "authentication-certificate", "proxy") and el.get("password") is not None:
            credential(el.get("password"), f"the {tag} password")
    for el in doc.elements:
        if el in stripped:
            continue
        values = list(el.attrib.values()) + ([el.text] if el.text and el.text.strip() else [])
        for value in values:
            views = _views(value)
            if any("x-functions-key" in v for v in views) and not any("x-functions-key" in f for f in found):
                add("the policy names x-functions-key (a function key); use authentication-managed-identity")
            if any(_CODE_IN_QUERY.search(v) for v in views):
                add("the policy carries a code= query parameter (a function key); use authentication-managed-identity")
    return found, credentials


def policy_findings(text: Any, where: str, fmt: Any = "xml") -> list[str]:
    """What is wrong with one APIM policy document in ``fmt`` (xml, rawxml, any case; links are not inspectable)."""
    try:
        root = parse_policy(text, fmt)
    except Unreadable as err:
        return [f"{where}: the policy cannot be inspected: {err}"]
    return [f"{where}: {message}" for message in inspect_policy(root)[0]]


def _policies(args: ResourceValidationArgs) -> Iterable[str]:
    if not policy_resource(args.resource_type):
        return
    props = args.props
    value = props.get("value") if isinstance(props, Mapping) else None
    fmt = props.get("format") if isinstance(props, Mapping) else None
    yield from policy_findings(value, args.name, fmt)


# ---- Across the stack: a named value used as a credential is backed by Key Vault ----------------------------

_NAMED_VALUE_TYPES = ("NamedValue", "WorkspaceNamedValue")


def _named_value_backing(resources: Iterable[Any]) -> Iterable[tuple[str, Optional[str]]]:
    """(message, urn) for every policy that uses a named value as a credential when that named value (matched by
    display name, which is what ``{{...}}`` names, case-insensitively; the id where no display name is given) holds
    its value in APIM instead of referencing Key Vault."""
    resources = list(resources)
    values: dict[str, list[Any]] = {}
    for res in resources:
        if is_type(res.resource_type, "apimanagement", *_NAMED_VALUE_TYPES):
            key = dig(res.props, "displayName") or dig(res.props, "namedValueId") or res.name
            values.setdefault(str(key).strip().lower(), []).append(res)
    for res in resources:
        if not policy_resource(res.resource_type):
            continue
        try:
            root = parse_policy(dig(res.props, "value"), dig(res.props, "format"))
        except Unreadable:
            continue  # policies-use-managed-identity reports it
        for name, uses in sorted(inspect_policy(root)[1].items()):
            for nv in values.get(name.strip().lower(), []):
                if not dig(nv.props, "keyVault", "secretIdentifier"):
                    secret = "a secret" if dig(nv.props, "secret") is True else "a plain"
                    yield (f"{res.name}: {', '.join(sorted(uses))} is {{{{{name}}}}}, {secret} named value ({nv.name}) "
                           "that holds the value itself: a literal one step removed; back it by Key Vault "
                           "(keyVault.secretIdentifier)", res.urn)


def _stack_rule(name: str, description: str, check: Callable[[Iterable[Any]], Iterable[tuple[str, Optional[str]]]],
                level: EnforcementLevel = EnforcementLevel.MANDATORY):
    from pulumi_policy import StackValidationPolicy

    def validate(args, report_violation: ReportViolation) -> None:
        for message, urn in check(args.resources):
            report_violation(message, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


#: APIM tiers whose gateway has public addresses of its own, so a backend app can admit only them
#: (learn.microsoft.com/azure/api-management/api-management-howto-ip-addresses; Isolated per the REST spec).
_DEDICATED_IP_TIERS = {"developer", "basic", "standard", "premium", "isolated"}
#: APIM tiers that send backend traffic into a virtual network: injection (Developer, Premium) or outbound
#: integration (StandardV2, PremiumV2), both declared as virtualNetworkType External/Internal plus
#: virtualNetworkConfiguration.subnetResourceId (learn.microsoft.com/azure/api-management/virtual-network-concepts).
_VIRTUAL_NETWORK_TIERS = {"developer", "premium", "standardv2", "premiumv2"}
#: The private DNS zone a ``sites`` private endpoint's name resolves in (public cloud;
#: learn.microsoft.com/azure/private-link/private-endpoint-dns).
_SITES_ZONE = "privatelink.azurewebsites.net"


class _Unknown:
    """A value not known during preview (see :func:`_peek`)."""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<unknown>"


_UNKNOWN = _Unknown()


def _peek(props: Any, *path: str) -> Any:
    """:func:`dig`, but a value unknown during preview is ``_UNKNOWN`` instead of an error: for facts a rule can do
    without (an app's id, its host names) or must read as "maybe" (a subnet created in the same update)."""
    from pulumi_policy.proxy import UnknownValueError

    try:
        return dig(props, *path)
    except UnknownValueError:
        return _UNKNOWN


def _fold(value: Any) -> Optional[str]:
    """A string value case-folded as ARM compares names and enum values; None for anything else."""
    return value.casefold() if isinstance(value, str) else None


def _arm_id(text: Any) -> Optional[tuple[str, str, str, tuple[tuple[str, str], ...]]]:
    """A resource id (also the ``https://management.azure.com/...`` form APIM backends use) as
    (subscription, resource group, provider namespace, ((type, name), ...)), case-folded; None if it is not one."""
    from urllib.parse import urlsplit

    if not isinstance(text, str):
        return None
    text = text.strip()
    if re.match(r"https?://", text, re.IGNORECASE):
        text = urlsplit(text).path
    parts = text.split("/")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if len(parts) < 9 or parts[0] != "" or (len(parts) - 7) % 2 or "" in parts[1:]:
        return None
    parts = [p.casefold() for p in parts]
    if parts[1] != "subscriptions" or parts[3] != "resourcegroups" or parts[5] != "providers":
        return None
    rest = parts[7:]
    return parts[2], parts[4], parts[6], tuple(zip(rest[::2], rest[1::2]))


def _host(url: Any) -> Optional[str]:
    """The host a backend URL sends to, as DNS compares it (case-folded, no port, user info or final dot)."""
    from urllib.parse import unquote, urlsplit

    if not isinstance(url, str):
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return unquote(host).casefold().rstrip(".") if host else None


class _App:
    """A web/function app of the stack as the network rules see it: its site name, resource group, id (when known)
    and the host names it answers on."""

    def __init__(self, res: Any):
        from pulumi_policy.proxy import UnknownValueError

        self.res = res
        name = dig(res.props, "name")
        self.name = (name if isinstance(name, str) and name else res.name).casefold()
        self.group = _fold(_peek(res.props, "resourceGroupName"))
        self.id = _arm_id(_peek(res.props, "id"))
        hosts = {f"{self.name}.azurewebsites.net", f"{self.name}.privatelink.azurewebsites.net"}
        for field in ("defaultHostName", "hostNames", "enabledHostNames"):  # outputs, once deployed
            value = _peek(res.props, field)
            values = [value] if isinstance(value, str) else value if isinstance(value, Sequence) else []
            for i in range(len(values)):
                try:
                    host = values[i]
                except UnknownValueError:
                    continue
                if isinstance(host, str) and host.strip():
                    hosts.add(host.strip().casefold().rstrip("."))
        self.hosts = hosts

    def is_site(self, resource_id: Any) -> bool:
        """Whether ``resource_id`` names this app (by id where the app's is known, else by name and group)."""
        parsed = _arm_id(resource_id)
        if parsed is None:
            return False
        if self.id is not None:
            return parsed == self.id
        _, group, namespace, pairs = parsed
        return namespace == "microsoft.web" and pairs == (("sites", self.name),) and self.group in (None, group)

    def behind(self, backend: Any) -> bool:
        """Whether an APIM backend sends to this app (its URL's host, or the site its resourceId names)."""
        if _host(dig(backend.props, "url")) in self.hosts:
            return True
        parsed = _arm_id(dig(backend.props, "resourceId"))
        return bool(parsed) and parsed[2] == "microsoft.web" and parsed[3][:1] == (("sites", self.name),)

    def public_access(self) -> tuple[bool, bool]:
        """(surely private, maybe private): public network access disabled (``publicNetworkAccess``, compared as ARM
        compares enum values) and ``siteConfig.publicNetworkAccess`` not saying otherwise; maybe private when
        either says disabled (an app that may refuse public traffic needs its private endpoint)."""
        site = _fold(dig(self.res.props, "publicNetworkAccess"))
        config = dig(self.res.props, "siteConfig", "publicNetworkAccess")
        config = "" if config is None else _fold(config)  # a non-string siteConfig value counts as enabled (None)
        surely = site == "disabled" and config in ("", "disabled")
        maybe = "disabled" in ((site or "").strip(), (config or "").strip())
        return surely, surely or maybe

    def restricted(self) -> bool:
        """Access restrictions deny by default and allow some addresses, none of them every address."""
        config = dig(self.res.props, "siteConfig") or {}
        entries = dig(config, "ipSecurityRestrictions") or []
        if _fold(dig(config, "ipSecurityRestrictionsDefaultAction")) != "deny" or not entries:
            return False
        return not any(str(dig(e, "action") or "Allow").lower() == "allow"
                       and str(dig(e, "ipAddress") or "").strip().lower() in _OPEN_RANGES for e in entries)


class _Gateways:
    """The stack's APIM services and backends, and which services an app's backends belong to."""

    def __init__(self, resources: list[Any]):
        self.services = [r for r in resources if is_type(r.resource_type, "apimanagement", "ApiManagementService")]
        self.backends = [r for r in resources if is_type(r.resource_type, "apimanagement", "Backend", "WorkspaceBackend")]

    def of(self, app: _App) -> Optional[list[Any]]:
        """The services whose backends send to ``app`` (every service of the stack where a backend's service is not
        known or not in the stack); None if no backend of the stack sends to it."""
        behind = [b for b in self.backends if app.behind(b)]
        if not behind:
            return None
        names = {_fold(_peek(b.props, "serviceName")) for b in behind}
        own = [s for s in self.services if _fold(_peek(s.props, "serviceName")) in names]
        return own if own and None not in names else self.services

    @staticmethod
    def tier(service: Any) -> str:
        return str(dig(service.props, "sku", "name") or "").casefold()

    @classmethod
    def has_network(cls, service: Any) -> bool:
        """The service sends backend traffic into a virtual network (a subnet not yet known counts)."""
        kind = _fold(dig(service.props, "virtualNetworkType"))
        subnet = _peek(service.props, "virtualNetworkConfiguration", "subnetResourceId")
        return cls.tier(service) in _VIRTUAL_NETWORK_TIERS and kind in ("external", "internal") and bool(subnet)


def _web_apps(resources: list[Any]) -> Iterable[_App]:
    return (_App(r) for r in resources if is_type(r.resource_type, "web", "WebApp"))


def _open_backend_apps(resources: Iterable[Any]) -> Iterable[tuple[str, Optional[str]]]:
    """(message, urn) for every web/function app behind an APIM backend of the stack that is reachable from more
    than the gateway although the gateway could do better (advisory): where the gateway sends backend traffic into a
    virtual network, an app whose public network access is not disabled; where the tier has public addresses of its
    own, an app that every address can reach (neither restricted to addresses nor private)."""
    resources = list(resources)
    gateways = _Gateways(resources)
    if not gateways.services:
        return
    for app in _web_apps(resources):
        services = gateways.of(app)
        if not services:
            continue
        private = app.public_access()[0]
        if any(gateways.has_network(s) for s in services):
            if not private:
                access = dig(app.res.props, "publicNetworkAccess")
                yield (f"{app.res.name}: this app behind API Management is publicly reachable (publicNetworkAccess="
                       f"{access if access is not None else 'unset, so Enabled'}), while the stack's gateway sends its "
                       "backend traffic into a virtual network: disable public access and reach it through a private "
                       "endpoint (network: private)", app.res.urn)
        elif {gateways.tier(s) for s in services} & _DEDICATED_IP_TIERS and not (private or app.restricted()):
            yield (f"{app.res.name}: every address can reach this app behind API Management, while the stack's gateway has "
                   "addresses of its own: allow only those (network: gateway-ip)", app.res.urn)


def _private_backend_endpoints(resources: Iterable[Any]) -> Iterable[tuple[str, Optional[str]]]:
    """(message, urn) for every web/function app behind an APIM backend of the stack whose public network access is
    disabled but which the gateway cannot resolve or reach (advisory): no private endpoint of the stack connects to it
    (group ``sites``) with a DNS zone group naming ``privatelink.azurewebsites.net``, or its gateway (in the stack)
    has no virtual network. A value this needs that is unknown during preview is left to the engine."""
    from pulumi_policy.proxy import UnknownValueError

    resources = list(resources)
    gateways = _Gateways(resources)
    endpoints = [r for r in resources if is_type(r.resource_type, "network", "PrivateEndpoint")]
    zone_groups = [r for r in resources if is_type(r.resource_type, "network", "PrivateDnsZoneGroup")]

    def resolves(endpoint: Any) -> bool:
        """A zone group of the stack on ``endpoint`` names the sites zone (raises if only an unknown value could)."""
        name = _fold(dig(endpoint.props, "privateEndpointName"))
        group = _fold(_peek(endpoint.props, "resourceGroupName"))
        unknown: Optional[UnknownValueError] = None
        for zone_group in zone_groups:
            try:
                zg_group = _fold(_peek(zone_group.props, "resourceGroupName"))
                if name is None or _fold(dig(zone_group.props, "privateEndpointName")) != name or \
                        (group and zg_group and group != zg_group):
                    continue
                for config in dig(zone_group.props, "privateDnsZoneConfigs") or []:
                    zone = _arm_id(dig(config, "privateDnsZoneId"))
                    if zone and zone[2] == "microsoft.network" and zone[3] == (("privatednszones", _SITES_ZONE),):
                        return True
            except UnknownValueError as err:
                unknown = unknown or err
        if unknown is not None:
            raise unknown
        return False

    for app in _web_apps(resources):
        services = gateways.of(app)
        if services is None or not app.public_access()[1]:
            continue
        if services and not any(gateways.has_network(s) for s in services):
            yield (f"{app.res.name}: public network access is disabled, but the stack's gateway ("
                   f"{', '.join(sorted({str(dig(s.props, 'sku', 'name')) for s in services}))}) sends no backend traffic "
                   "into a virtual network: it cannot reach this app (network: private needs the gateway's network)",
                   app.res.urn)
        unknown: Optional[UnknownValueError] = None
        connected = resolved = False
        for endpoint in endpoints:
            try:
                connections = [*(dig(endpoint.props, "privateLinkServiceConnections") or []),
                               *(dig(endpoint.props, "manualPrivateLinkServiceConnections") or [])]
                if not any(app.is_site(dig(c, "privateLinkServiceId"))
                           and "sites" in {_fold(g) for g in dig(c, "groupIds") or []} for c in connections):
                    continue
                connected = True
                if resolves(endpoint):
                    resolved = True
                    break
            except UnknownValueError as err:
                unknown = unknown or err
        if resolved:
            continue
        if unknown is not None:
            raise unknown  # the engine reports that the rule cannot run during preview
        if not connected:
            yield (f"{app.res.name}: public network access is disabled, but no private endpoint of the stack connects "
                   "to this app (privateLinkServiceConnections with groupIds [sites]): the gateway cannot reach it",
                   app.res.urn)
        else:
            yield (f"{app.res.name}: public network access is disabled, but its private endpoint has no DNS zone group "
                   f"naming the {_SITES_ZONE} private DNS zone: the gateway cannot resolve the app's name to it",
                   app.res.urn)


def _backends(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "apimanagement", "Backend", "WorkspaceBackend"):
        return
    from urllib.parse import unquote

    headers = {str(k).strip().lower() for k in (dig(args.props, "credentials", "header") or {})}
    query = {unquote(str(k)).strip().lower() for k in (dig(args.props, "credentials", "query") or {})}
    if "x-functions-key" in headers or "code" in query:
        yield f"{args.name}: the backend sends a function key (credentials); use the gateway's managed identity"


_OPEN_RANGES = {"any", "0.0.0.0/0", "::/0", "*", "internet"}


def _access_restrictions(args: ResourceValidationArgs) -> Iterable[str]:
    """An allow entry for every address restricts nothing, on the site or its SCM (deployment) site."""
    if not is_type(args.resource_type, "web", "WebApp", "WebAppSlot"):
        return
    config = dig(args.props, "siteConfig")
    for field in ("ipSecurityRestrictions", "scmIpSecurityRestrictions"):
        for entry in dig(config, field) or []:
            address = str(dig(entry, "ipAddress") or "").strip().lower()
            if str(dig(entry, "action") or "Allow").lower() == "allow" and address in _OPEN_RANGES:
                yield f"{args.name}: {field} allows every address ({dig(entry, 'ipAddress')}); allow the gateway's addresses only"


RULES: list[ResourceValidationPolicy] = [
    _rule("apim-has-managed-identity", "API Management services have a managed identity for the last mile.", _apim_identity),
    _rule("easy-auth-refuses-anonymous", "App Service Authentication requires authentication, answers 401/403 to "
          "anonymous callers and restricts allowed principals or applications.", _easy_auth),
    _rule("function-app-hardened", "Function apps are HTTPS only with TLS 1.2+, and FTP is off.", _function_app),
    _rule("key-vault-rbac-purge-protection", "Key Vaults use RBAC authorization and purge protection.", _key_vault),
    _rule("no-broad-role-for-service-principals", "No Owner, Contributor, User Access Administrator or Key Vault "
          "Administrator role assignment to a service principal.", _broad_roles),
    _rule("secret-named-values-from-key-vault", "Secret APIM named values reference Key Vault instead of holding a "
          "literal value.", _named_values),
    _rule("policies-use-managed-identity", "APIM policies (every policy and policy-fragment type, xml or rawxml, "
          "read by an XML parser) carry no x-functions-key, no code= and no literal or constant password or key; a "
          "policy the pack cannot read is reported.", _policies),
    _rule("backends-carry-no-function-keys", "APIM backends send no function key in their credentials.", _backends),
    _rule("access-restrictions-not-open", "App access restrictions (site and SCM) have no allow-all entry.", _access_restrictions),
]


STACK_RULES = [
    _stack_rule("credential-named-values-from-key-vault", "A named value used as a password or key in a policy "
                "references Key Vault instead of holding the value.", _named_value_backing),
    _stack_rule("backend-apps-reachable-only-from-the-gateway", "An app behind an APIM backend is no more reachable than "
                "the gateway needs: where the stack's APIM sends backend traffic into a virtual network (Developer, "
                "Premium, StandardV2, PremiumV2 with virtualNetworkType External/Internal and a subnet), its public "
                "network access is disabled (network: private); where the tier has addresses of its own, it admits only "
                "them or is private (advisory).", _open_backend_apps, level=EnforcementLevel.ADVISORY),
    _stack_rule("private-backend-apps-have-an-endpoint", "An app behind an APIM backend whose public network access is "
                "disabled has, in the stack, a private endpoint to it (groupIds sites) with a DNS zone group naming "
                "privatelink.azurewebsites.net, behind a gateway with a virtual network: otherwise the gateway cannot "
                "resolve or reach it (advisory).", _private_backend_endpoints, level=EnforcementLevel.ADVISORY),
]
#: What the pack enforces (``__main__.py``): the per-resource rules and the stack rules.
ALL_RULES = [*RULES, *STACK_RULES]


def _policy_resource(resource_type: str, props: Mapping[str, Any], name: str, urn: Optional[str]):
    from pulumi_policy import PolicyResource
    from pulumi_policy.policy import PolicyResourceOptions
    from pulumi_policy.proxy import unknown_checking_proxy

    opts = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=None, additional_secret_outputs=[])
    return PolicyResource(resource_type, unknown_checking_proxy(dict(props)),
                          urn or f"urn:pulumi:stack::project::{resource_type}::{name}", name, opts, None, None, [], {})


def stack_violations(resources: Iterable[tuple[str, Mapping[str, Any], str]]) -> list[tuple[str, str, Optional[str]]]:
    """Run every stack rule on ``[(type, props, name), ...]``; ``[(rule name, message, urn), ...]``."""
    from pulumi_policy import StackValidationArgs

    args = StackValidationArgs([_policy_resource(t, p, n, None) for t, p, n in resources])
    found: list[tuple[str, str, Optional[str]]] = []
    for rule in STACK_RULES:
        rule.validate(args, lambda message, urn=None, rule=rule: found.append((rule.name, message, urn)))
    return found


def violations(resource_type: str, props: Mapping[str, Any], name: str = "resource",
               urn: Optional[str] = None) -> list[tuple[str, str]]:
    """Run every rule on one resource; ``[(rule name, message), ...]`` (what the engine would report)."""
    from pulumi_policy.policy import PolicyResourceOptions
    from pulumi_policy.proxy import unknown_checking_proxy

    # As the engine does: props behind the proxy that raises on values unknown during preview.
    opts = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=None, additional_secret_outputs=[])
    args = ResourceValidationArgs(resource_type, unknown_checking_proxy(dict(props)),
                                  urn or f"urn:pulumi:stack::project::{resource_type}::{name}", name, opts, None)
    found: list[tuple[str, str]] = []
    for rule in RULES:
        rule.validate(args, lambda message, urn=None, rule=rule: found.append((rule.name, message)))
    return found
