"""Credential detection in what APIM sees: function keys, codes, literal passwords and key-carrying headers in any
policy document, and function keys in backend credentials.

``lastmile audit``'s detector (``lastmile_audit.detector``, the tools' ``audit`` package linked into the pack) finds
every credential a policy sends; the pack enforces on it: a literal one is a mandatory violation, and the named values
one draws on must be backed by Key Vault (``stack_rules``). The pack's own checks below stay on top of it for what an
author writes to hide a function key (names built in expressions, encodings); both read documents the same way.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from pulumi_policy import ResourceValidationArgs

from pack_base import dig, is_type, listed
from lastmile_audit.apim_reading import PolicyDocument, Unreadable, _CODE_IN_QUERY, _expression_code, _local, _views, carries_key, parse_policy, policy_resource
from lastmile_audit.detector import OAUTH_FLOW, backend_findings, detect

def inspect_policy(root) -> tuple[list[str], dict[str, set[str]]]:
    """(findings, named values used as credentials -> where) for one parsed policy document."""
    doc = PolicyDocument(root)
    found: list[str] = []
    credentials: dict[str, set[str]] = {}

    def add(message: str) -> None:
        if message not in found:
            found.append(message)

    def credential(value: str, what: str) -> None:
        # The named values a credential draws on come from lastmile audit's detector (below), which follows them
        # through variables; this check adds only what an author wrote as a constant.
        constant, _ = doc.classify(value)
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
            if "csrf" in lower:
                continue  # X-CSRF-Token: Fetch is a protocol value, not a credential (as lastmile audit reads it)
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
            if any(_CODE_IN_QUERY.search(v) and not OAUTH_FLOW.search(v) for v in views):
                add("the policy carries a code= query parameter (a function key); use authentication-managed-identity")
    # What lastmile audit finds: literal credentials are violations, named values go to the Key Vault check.
    for finding in detect("policy", root):
        for name in finding.named_values:
            credentials.setdefault(name, set()).add(f"the {finding.credential} at line {finding.line}")
        if finding.source == "literal":
            add(f"a {finding.credential} with a literal value (line {finding.line}) is sent to {finding.target}; use "
                "authentication-managed-identity, or a Key Vault named value")
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


def _backends(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "apimanagement", "Backend", "WorkspaceBackend"):
        return
    from urllib.parse import unquote

    headers = {str(k).strip().lower() for k in (dig(args.props, "credentials", "header") or {})}
    query = {unquote(str(k)).strip().lower() for k in (dig(args.props, "credentials", "query") or {})}
    if "x-functions-key" in headers or "code" in query:
        yield f"{args.name}: the backend sends a function key (credentials); use the gateway's managed identity"
    # Any other credential the entity stores as a literal (lastmile audit's reading of backend entities).
    credentials = dig(args.props, "credentials")
    for finding in backend_findings(args.name, str(dig(args.props, "url") or ""),
                                    credentials if isinstance(credentials, Mapping) else {}, 0):
        if finding.source == "literal" and finding.credential not in ("function-key", "client-certificate"):
            yield (f"{args.name}: the backend stores a {finding.credential} as a literal value; use the gateway's managed "
                   "identity, or a Key Vault named value")


#: Logger credentials that are keys: an Application Insights instrumentation key, or a connection string (Application
#: Insights, or an Event Hubs SAS) that the gateway's managed identity does not replace.
_LOGGER_TYPES = ("Logger", "WorkspaceLogger")


def _loggers(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "apimanagement", *_LOGGER_TYPES):
        return
    credentials = dig(args.props, "credentials")
    keys = {str(k).strip().lower(): v for k, v in credentials.items()} if isinstance(credentials, Mapping) else {}
    if "instrumentationkey" in keys:
        yield (f"{args.name}: the logger authenticates with an instrumentation key; log with the gateway's managed identity "
               "(credentials connectionString + identityClientId, Monitoring Metrics Publisher on the component)")
    elif "connectionstring" in keys and "identityclientid" not in keys:
        yield (f"{args.name}: the logger's connection string is its credential; add identityClientId (SystemAssigned or the "
               "user-assigned identity's client id) so the gateway logs with its managed identity")




#: Header names that carry a credential, or may (a part of the name, case-insensitive): the same list as the library's
#: ``telemetry.CREDENTIAL_HEADER_PARTS`` (a test keeps them equal; the pack does not import the library).
CREDENTIAL_HEADER_PARTS = ("auth", "key", "token", "secret", "cookie", "password", "credential", "signature", "sas", "session")
_DIAGNOSTIC_TYPES = ("Diagnostic", "ApiDiagnostic", "WorkspaceDiagnostic", "WorkspaceApiDiagnostic")


def _diagnostics(args: ResourceValidationArgs) -> Iterable[str]:
    """A diagnostic that logs a header carrying a credential (Authorization, the subscription key, a cookie...) writes it
    into Application Insights or Azure Monitor, where everyone who reads logs reads it too."""
    if not is_type(args.resource_type, "apimanagement", *_DIAGNOSTIC_TYPES):
        return
    for side in ("frontend", "backend"):
        for message in ("request", "response"):
            for header in listed(dig(args.props, side, message, "headers")):
                part = next((p for p in CREDENTIAL_HEADER_PARTS if p in str(header).lower()), None)
                if part is not None:
                    yield (f"{args.name}: the diagnostic logs the {side} {message} header {header!r}, which may carry a "
                           "credential; log no header named like a key, token, cookie or authorization")

#: App settings that hand an app's telemetry a key: the instrumentation key, or a connection string sent without
#: Microsoft Entra authentication (APPLICATIONINSIGHTS_AUTHENTICATION_STRING "Authorization=AAD", optionally with the
#: user-assigned identity's ClientId: learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication).
_KEYED_TELEMETRY = "appinsights_instrumentationkey"
_CONNECTION_STRING = "applicationinsights_connection_string"
_ENTRA_TELEMETRY = "applicationinsights_authentication_string"


def _app_telemetry(args: ResourceValidationArgs) -> Iterable[str]:
    if not is_type(args.resource_type, "web", "WebApp", "WebAppSlot", "WebAppApplicationSettings", "WebAppApplicationSettingsSlot"):
        return
    settings = listed(dig(args.props, "siteConfig", "appSettings"))
    pairs = {str(s.get("name", "")).strip().lower(): s.get("value") for s in settings if hasattr(s, "get")}
    properties = dig(args.props, "properties")
    if isinstance(properties, Mapping):  # WebAppApplicationSettings: a name -> value map
        pairs.update({str(k).strip().lower(): v for k, v in properties.items()})
    if _KEYED_TELEMETRY in pairs:
        yield (f"{args.name}: APPINSIGHTS_INSTRUMENTATIONKEY sends telemetry with a key; use APPLICATIONINSIGHTS_CONNECTION_STRING "
               "with APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD and the app's identity")
    elif _CONNECTION_STRING in pairs and "authorization=aad" not in str(pairs.get(_ENTRA_TELEMETRY) or "").replace(" ", "").lower():
        yield (f"{args.name}: APPLICATIONINSIGHTS_CONNECTION_STRING without APPLICATIONINSIGHTS_AUTHENTICATION_STRING="
               "Authorization=AAD sends telemetry without Microsoft Entra authentication")
