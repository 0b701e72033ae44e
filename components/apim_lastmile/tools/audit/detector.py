"""Which credentials a policy document makes the gateway send, where, and what can replace each one.

A finding is a credential the gateway holds (written in the policy, or in a named value) and sends to a backend or to
any service on the request path: a function key (``x-functions-key``, ``code=``), basic authentication, an
Authorization-like header built from a stored secret (a stored bearer token, a SharedKey, SAS or HMAC signature
computed from a stored key, a token bought with a client secret through ``send-request``), an API key in a header
or query parameter, a SAS token in a URL, a client certificate. A value is *stored* when it draws, directly or
through the variables it reads, on a named value or on a constant; values read from the caller's request, from a
managed-identity token (``authentication-managed-identity``), from a send-request response or from the credential
manager are not credentials the gateway holds. Headers being deleted and comments are not findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional
from urllib.parse import unquote, urlsplit

from .apim_reading import PolicyDocument
from .reading import is_expression, local, references, string_literals, text_of, without_comments

CREDENTIALS = ("function-key", "basic-auth", "authorization-header", "api-key", "sas-token", "client-certificate", "telemetry-key")
SOURCES = ("literal", "named-value", "secret-named-value", "key-vault-named-value", "unknown")
#: Header or parameter names (lower case, split on non-alphanumerics) that carry an API key.
_KEY_NAMES = {"api-key", "apikey", "x-api-key", "ocp-apim-subscription-key", "subscription-key", "key", "x-functions-key",
              "x-key", "access-key", "app-key", "client-key"}
_URL_PARAMS = {"sig": "sas-token", "code": "function-key", "api-key": "api-key", "apikey": "api-key", "key": "api-key",
               "subscription-key": "api-key", "subscription_key": "api-key"}
_SIGNATURE = re.compile(r"HMACSHA(?:1|256|384|512)|SharedKey|SharedAccessSignature|AWS4-HMAC-SHA256|ComputeHash", re.IGNORECASE)
_BASIC = re.compile(r"\bbasic\s", re.IGNORECASE)
_KEY_SIGNING = re.compile(r"GetRSAPrivateKey|GetECDsaPrivateKey|\.SignData\s*\(|\.SignHash\s*\(")
OAUTH_FLOW = re.compile(r"oauth|authorize|/token\b|response_type|redirect_?uri", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    credential: str
    source: str
    document: str
    line: int
    #: Where the credential goes: a host, a backend entity, or "the API's backend".
    target: str
    #: The passwordless component that replaces it (:func:`replacement`, filled in by the report).
    replacement: Optional[str] = None
    #: The service the document names, when the target's host is built at run time.
    service: Optional[str] = None
    #: The named values it draws on (for the policy pack's check that they come from Key Vault).
    named_values: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {"credential": self.credential, "source": self.source, "document": self.document, "line": self.line,
                "target": self.target, "replacement": self.replacement}


@dataclass
class _Taint:
    named: set[str] = field(default_factory=set)
    literal: bool = False

    @property
    def stored(self) -> bool:
        return bool(self.named) or self.literal


class _Document:
    """One document's elements and variable assignments (fragments it includes are read in place)."""

    def __init__(self, name: str, root, fragments: Mapping[str, object]) -> None:
        self.name = name
        walked = list(self._elements(root, fragments, set(), False))
        self.elements = [el for el, _ in walked]
        #: Elements of included fragments: read for the variables they set; their findings are the fragment's own.
        #: (lxml makes a new proxy per access, so identities hold only while ``self.elements`` keeps them.)
        self.inlined = {id(el) for el, inlined in walked if inlined}
        self.assigned: dict[str, list[str]] = {}
        responses = set()
        for el in self.elements:
            if local(el.tag) == "set-variable":
                self.assigned.setdefault(el.get("name", ""), []).append(el.get("value", ""))
            if local(el.tag) in ("send-request", "send-one-way-request") and el.get("response-variable-name"):
                responses.add(el.get("response-variable-name"))
        #: Reads a send-request response: a token the gateway bought (counted at the request that bought it).
        self.bought = re.compile("|".join(rf"Variables\s*\[\s*\"{re.escape(r)}\"" for r in sorted(responses)) or r"(?!)")

    def _elements(self, root, fragments, seen: set[str], inlined: bool):
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            yield el, inlined
            if local(el.tag) == "include-fragment":
                fragment_id = el.get("fragment-id", "")
                if fragment_id in fragments and fragment_id not in seen:
                    yield from self._elements(fragments[fragment_id], fragments, seen | {fragment_id}, True)

    def taint(self, value: Optional[str], seen: Optional[set[str]] = None) -> _Taint:
        """What stored things ``value`` draws on: named values, and constants (a plain value, or an expression that
        reads nothing at run time)."""
        seen = set() if seen is None else seen
        refs = references(value)
        found = _Taint(named=set(refs.named_values))
        if not is_expression(value or ""):
            found.literal = bool(refs.constant)
            return found
        for variable in refs.variables - seen:
            seen.add(variable)
            for assigned in self.assigned.get(variable, []):
                more = self.taint(assigned, seen)
                found.named |= more.named
                found.literal = found.literal or more.literal
        if not refs.variables and not refs.reads_request and not refs.named_values and "context." not in (value or ""):
            found.literal = any(s.strip() for s in string_literals(value or ""))
        return found

    def mentions(self, value: Optional[str], pattern: re.Pattern, seen: Optional[set[str]] = None) -> bool:
        """``value`` or a variable it reads matches ``pattern``."""
        seen = set() if seen is None else seen
        if pattern.search(value or ""):
            return True
        for variable in references(value).variables - seen:
            seen.add(variable)
            if any(self.mentions(v, pattern, seen) for v in self.assigned.get(variable, [])):
                return True
        return False


def _source(taint: _Taint, named_values: Mapping[str, Optional[str]]) -> str:
    if taint.named:
        kinds = {named_values.get(n) for n in taint.named}
        for kind in ("key-vault-named-value", "secret-named-value", "named-value"):
            if kind in kinds:
                return kind
        return "unknown"
    return "literal"


def _is_key_name(name: str) -> bool:
    """api-key, x-api-key, Ocp-Apim-Subscription-Key, X-Stackify-Key, ...: a name whose last word is "key"."""
    lower = name.strip().lower()
    words = [w for w in re.split(r"[^a-z0-9]+", lower) if w]
    return lower in _KEY_NAMES or "apikey" in lower or (len(words) > 1 and words[-1] == "key")


def _is_authorization_name(name: str) -> bool:
    lower = name.strip().lower()
    return "authorization" in lower or lower in ("x-auth-token", "x-access-token", "access-token", "x-api-token")


def _host(url: str) -> Optional[str]:
    text = references(url).constant if not is_expression(url) else " ".join(string_literals(url))
    match = re.search(r"https?://([^/\s\"'?{}]+)", text)
    if match:
        return match.group(1).lower()
    try:
        return urlsplit(text).hostname
    except ValueError:
        return None


def _enclosing(el, tag: str):
    parent = el.getparent()
    while parent is not None:
        if local(parent.tag) == tag:
            return parent
        parent = parent.getparent()
    return None


def _url_of_send_request(el) -> str:
    for child in el:
        if local(child.tag) == "set-url":
            return text_of(child)
    return ""


def detect(name: str, root, *, named_values: Optional[Mapping[str, Optional[str]]] = None,
           fragments: Optional[Mapping[str, object]] = None, backend: Optional[str] = None,
           backend_urls: Optional[Mapping[str, str]] = None) -> list[Finding]:
    """Every credential the document ``root`` (its display name ``name``) makes the gateway send. ``named_values``:
    name -> source kind (named-value, secret-named-value, key-vault-named-value) where known; ``fragments``: policy
    fragment roots by id; ``backend``: where the API sends requests (from the API's definition), if known;
    ``backend_urls``: backend entity id -> its URL, to name the service behind ``set-backend-service backend-id``."""
    named_values = named_values or {}
    backend_urls = backend_urls or {}
    doc = _Document(name, root, fragments or {})
    default_target = (_host(backend) if backend else None) or "the API's backend"
    for el in doc.elements:
        if local(el.tag) == "set-backend-service":
            backend_id = el.get("backend-id")
            default_target = (_host(backend_urls[backend_id]) if backend_id in backend_urls else None) or backend_id \
                or _host(el.get("base-url", "")) or default_target
            break
    found: dict[tuple, Finding] = {}
    hint = _service_named_in(doc)

    def add(credential: str, taint: _Taint, el, target: Optional[str] = None) -> None:
        request = _enclosing(el, "send-request") if local(el.tag) != "send-request" else el
        where = target or (_host(_url_of_send_request(request)) if request is not None else None) or default_target
        # A host built at run time ({{account}}.blob.core.windows.net): the service the document names stands in.
        service = where if "." in where else hint or where
        finding = Finding(credential, _source(taint, named_values), name, el.sourceline or 0, where, None, service,
                          tuple(sorted(n for n in taint.named if not n.startswith("<"))))
        found.setdefault((credential, finding.line, where), finding)

    for el in doc.elements:
        if id(el) in doc.inlined:
            continue
        tag = local(el.tag)
        if tag in ("set-header", "set-query-parameter"):
            if el.get("exists-action", "").strip().lower() == "delete":
                continue
            # A name written as an expression (@("x-functions" + "-key")) is the text it evaluates to.
            header = PolicyDocument.constant_text(el.get("name", ""))
            if "csrf" in header.lower():
                continue  # X-CSRF-Token: Fetch and the like are protocol values
            values = [text_of(v) for v in el if local(v.tag) == "value"]
            taint = _Taint()
            for value in values:
                more = doc.taint(value)
                taint.named |= more.named
                taint.literal = taint.literal or more.literal
            if not taint.stored:
                continue
            lower = header.strip().lower()
            if tag == "set-header" and lower == "x-functions-key":
                add("function-key", taint, el)
            elif tag == "set-query-parameter" and lower in _URL_PARAMS:
                add(_URL_PARAMS[lower], taint, el)
            elif tag == "set-header" and _is_authorization_name(header):
                basic = any(doc.mentions(v, _BASIC) for v in values)
                if any(doc.mentions(v, doc.bought) for v in values):
                    continue  # a token bought by a send-request: the finding is the secret that bought it
                request = _enclosing(el, "send-request")
                # Basic credentials sent to a token endpoint are a client id and secret buying a token.
                to_token_endpoint = request is not None and OAUTH_FLOW.search(_url_of_send_request(request) or "")
                add("basic-auth" if basic and not to_token_endpoint else "authorization-header", taint, el)
            elif _is_key_name(header):
                add("api-key", taint, el)
        elif tag in ("authentication-basic", "proxy") and el.get("password") is not None:
            # A password taken from the caller (context.Subscription.Key, a request header) is the caller's own.
            taint = doc.taint(el.get("password"))
            if taint.stored:
                add("basic-auth", taint, el)
        elif tag == "authentication-certificate":
            # The certificate's bytes written in the policy are a literal; a thumbprint or certificate id names one
            # stored in APIM (uploaded or from Key Vault), which the document does not show.
            body = doc.taint(el.get("body")) if el.get("body") else _Taint()
            add("client-certificate", body if body.stored else _Taint(named={"<certificate>"}), el)
        elif tag == "set-body" and _enclosing(el, "send-request") is not None:
            body = text_of(el)
            secret = _client_secret(doc, body)
            if secret is None and "client_assertion" in without_comments(body) and doc.mentions(body, _KEY_SIGNING):
                # A client assertion the gateway signs with a certificate's private key it holds (private_key_jwt).
                secret = doc.taint(body)
                if not secret.named:
                    secret.named.add("<certificate>")
            if secret is not None and secret.stored:
                add("authorization-header", secret, el, target=_host(_url_of_send_request(_enclosing(el, "send-request"))))
        for url in _urls(el, tag):
            _url_findings(doc, el, url, add)
    return sorted(found.values(), key=lambda f: (f.document, f.line, f.credential))


_CLIENT_SECRET = re.compile(r"client_secret\s*=\s*([^&]*)", re.IGNORECASE)


def _client_secret(doc: _Document, body: str, seen: Optional[set[str]] = None) -> Optional[_Taint]:
    """What the ``client_secret=`` of a token request body draws on (through the variables the body reads), or None
    when the body sends no client secret."""
    seen = set() if seen is None else seen
    code = references(body)  # comments of an expression are gone from what it reads
    text = body if not is_expression(body) else without_comments(body)
    match = _CLIENT_SECRET.search(text)
    if match:
        return doc.taint("@(" + match.group(1) + ")" if is_expression(body) else match.group(1))
    for variable in code.variables - seen:
        seen.add(variable)
        for assigned in doc.assigned.get(variable, []):
            found = _client_secret(doc, assigned, seen)
            if found is not None:
                return found
    return None


#: What a document that builds its URL at run time says of the service it calls: a host suffix it names, or the
#: signature scheme only that service takes.
_SERVICE_HINTS = ((re.compile(r"\.(blob|dfs|queue|table|file)\.core\.windows\.net|SharedKey(Lite)?\b|x-ms-blob-type", re.I), "x.blob.core.windows.net"),
                  (re.compile(r"servicebus\.windows\.net|SharedAccessSignature", re.I), "x.servicebus.windows.net"),
                  (re.compile(r"openai\.azure\.com", re.I), "x.openai.azure.com"),
                  (re.compile(r"cognitiveservices\.azure\.com", re.I), "x.cognitiveservices.azure.com"))


def _service_named_in(doc: _Document) -> Optional[str]:
    text = " ".join([*(v for el in doc.elements for v in el.attrib.values()), *(el.text or "" for el in doc.elements)])
    for pattern, host in _SERVICE_HINTS:
        if pattern.search(text):
            return host
    return None


def _urls(el, tag: str) -> Iterable[str]:
    if tag == "set-backend-service" and el.get("base-url"):
        yield el.get("base-url")
    elif tag == "rewrite-uri" and el.get("template"):
        yield el.get("template")
    elif tag == "set-url" and _enclosing(el, "send-request") is not None:
        yield text_of(el)


def _url_findings(doc: _Document, el, url: str, add) -> None:
    """Credentials in the query of a URL the gateway calls, written in it or in a variable it is built from."""
    texts = [(url, None)] + [(v, v) for var in references(url).variables for v in doc.assigned.get(var, [])]
    for raw, whole in texts:
        text = unquote(raw)  # %63ode= is code= to the server
        for match in re.finditer(r"[?&]\s*([A-Za-z_-]+)\s*=\s*([^&\"'\s]*)", text):
            param, value = match.group(1).lower(), match.group(2)
            credential = _URL_PARAMS.get(param)
            if credential is None or not value or "context." in value:
                continue
            if credential == "function-key" and OAUTH_FLOW.search(text):
                continue  # an OAuth authorization code, not a function key
            # A value built in an expression draws on what the whole expression draws on.
            taint = doc.taint(whole if whole is not None and is_expression(whole) else value)
            if taint.stored:
                add(credential, taint, el, target=_host(url) if local(el.tag) != "set-url" else None)


def backend_findings(document: str, url: str, credentials: Mapping, line: int,
                     named_values: Optional[Mapping[str, Optional[str]]] = None) -> list[Finding]:
    """The credentials a backend entity stores and sends (its ``credentials``: header and query values, an
    Authorization scheme and parameter, certificates), and a SAS or function key in its URL."""
    from .reading import references

    named_values = named_values or {}
    target = _host(url) or "the backend"
    found = []

    def add(credential: str, values: Iterable) -> None:
        named = {n for v in values for n in references(str(v)).named_values}
        taint = _Taint(named=named, literal=not named)
        found.append(Finding(credential, _source(taint, named_values), document, line, target, None))

    for header, values in sorted((credentials.get("header") or {}).items()):
        lower = header.lower()
        kind = ("function-key" if lower == "x-functions-key" else "authorization-header" if _is_authorization_name(header)
                else "api-key" if _is_key_name(header) else None)
        if kind:
            add(kind, values if isinstance(values, list) else [values])
    for param, values in sorted((credentials.get("query") or {}).items()):
        kind = _URL_PARAMS.get(param.lower())
        if kind:
            add(kind, values if isinstance(values, list) else [values])
    authorization = credentials.get("authorization") or {}
    if authorization.get("scheme"):
        add("basic-auth" if str(authorization["scheme"]).lower() == "basic" else "authorization-header",
            [authorization.get("parameter", "")])
    if credentials.get("certificate") or credentials.get("certificateIds"):
        found.append(Finding("client-certificate", "unknown", document, line, target, None))
    for match in re.finditer(r"[?&](sig|code)=([^&]+)", url or ""):
        add(_URL_PARAMS[match.group(1)], [match.group(2)])
    return found


def logger_findings(document: str, credentials: Mapping, line: int,
                    named_values: Optional[Mapping[str, Optional[str]]] = None) -> list[Finding]:
    """The key a logger sends its telemetry with: an Application Insights instrumentation key, or a connection string
    (Application Insights, or an Event Hubs SAS) that the gateway's managed identity does not replace (no
    ``identityClientId``). APIOps extracts such a credential as a ``{{Logger-Credentials--...}}`` named value."""
    from .reading import references

    keys = {str(k).lower(): v for k, v in (credentials or {}).items()}
    value = keys.get("instrumentationkey", keys.get("connectionstring"))
    if "identityclientid" in keys or value is None:
        return []
    text = str(value)
    endpoint = re.search(r"Endpoint=sb://([^/;]+)", text, re.IGNORECASE)
    target = endpoint.group(1).lower() if endpoint else "Application Insights"
    named = set(references(text).named_values)
    taint = _Taint(named=named, literal=not named)
    return [Finding("telemetry-key", _source(taint, named_values or {}), document, line, target, None)]
