"""URL checks for the fragments that send a request somewhere (``send-request``, ``set-backend-service``)
or shape where it goes (``rewrite-uri``).

The gateway attaches its managed-identity token or a basic-auth password to these requests, so a URL
must not be able to send them somewhere unintended or in clear: HTTPS only, no user info, no IP-literal
hosts (which include the instance-metadata endpoint 169.254.169.254 and loopback), no ``localhost``, and
no credential in the query string (the function key ``code=`` and SAS ``sig=`` are exactly what the
library replaces). Expressions stay allowed: they are explicit. A whole URL from one named value is the
deployer's own value; in a template the literal text the library can see is checked.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote_plus, urlsplit

from .values import (
    Expression,
    NamedValueRef,
    Value,
    needs_expression,
    refuse,
    render_value,
    single_line_problem,
)

#: Query parameter names that carry a credential, compared lower-case without '-', '_' and '.'.
CREDENTIAL_PARAMS = frozenset({
    "code", "sig", "key", "apikey", "subscriptionkey", "accesstoken", "token", "password", "clientsecret", "secret",
    "xfunctionskey", "pwd", "passwd", "refreshtoken", "idtoken", "sastoken",
})
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
_WHITESPACE = re.compile(r"\s")
#: Instance metadata services by name (by address they are IP literals, refused anyway). Private names in general
#: stay allowed: a gateway in a virtual network reaches its backends by them.
_METADATA_HOSTS = frozenset({"metadata.azure.internal", "metadata.google.internal", "metadata"})


def _hidden_query(text: str) -> str:
    head, sep, _ = text.partition("?")
    return head + ("?<query hidden>" if sep else "")


def _check_query(key: str, text: str, query: str) -> None:
    """Refuse a credential parameter name (percent-decoded, any case) in ``query``."""
    for piece in re.split(r"[&;]", query):
        raw = piece.split("=", 1)[0]
        name = unquote_plus(unquote_plus(_PLACEHOLDER.sub("", raw)))  # twice: %2563ode is code to a server that decodes twice
        norm = re.sub(r"[-_.\s]", "", name.lower())
        if norm in CREDENTIAL_PARAMS:
            raise refuse(
                key, _hidden_query(text),
                f"expected no credential in the query string: {name.strip()!r} carries a key, signature or token; "
                "the gateway's managed identity replaces it",
            )


def _check_authority(key: str, text: str, authority: str) -> None:
    if "@" in authority:
        raise refuse(key, "https://<user info hidden>@" + _hidden_query(text).split("@")[-1], "expected no user info (user:password@) in the URL: credentials travel in policies only as named values")
    if not authority:
        raise refuse(key, text, "expected a host after https://")
    if authority.startswith("["):
        raise refuse(key, text, "expected a DNS host name, not an IP literal")
    host, sep, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if sep and not (port.isdigit() and port.isascii() and 0 < int(port) <= 65535):
        raise refuse(key, text, "expected a port from 1 to 65535 after ':'")
    host = host.lower().removesuffix(".")
    if not host.isascii():
        raise refuse(key, text, "expected an ASCII host name: write an international name in punycode (xn--...)")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise refuse(key, text, "expected a DNS host name, not an IP address (loopback, link-local 169.254.x.x and "
                                "the metadata endpoint are all reached this way)")
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise refuse(key, text, "expected a DNS host name: a numeric last label is read as an IPv4 address")
    if host == "localhost" or host.endswith(".localhost"):
        raise refuse(key, text, "expected a remote host, not localhost")
    if host in _METADATA_HOSTS:
        raise refuse(key, text, "expected a backend, not an instance metadata service: a token or password never goes there")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise refuse(key, text, "expected a DNS host name: labels of letters, digits and '-', separated by '.'")


def _check_literal_text(key: str, text: str, what: str) -> None:
    bad = single_line_problem(text)
    if bad:
        raise refuse(key, text, f"expected {what} on a single line: {bad}")
    if _WHITESPACE.search(text):
        raise refuse(key, text, f"expected {what} without spaces (percent-encode them as %20)")
    if "\\" in text:
        raise refuse(key, text, f"expected {what} without '\\' (some parsers read it as '/', moving the host)")
    if needs_expression(text) and "{{" not in text and "}}" not in text:
        raise refuse(key, text, f"expected {what} without characters XML cannot carry (U+FFFE, U+FFFF)")


def check_https_url(value: Value, key: str) -> Value:
    """Validate an absolute URL the gateway sends a request (and its credentials) to."""
    if isinstance(value, (Expression, NamedValueRef)):
        return value
    render_value(value, key)  # type check
    if isinstance(value, str):
        if value == "":
            raise refuse(key, value, "expected an https:// URL")
        if value.strip().lower().startswith("http://"):
            raise refuse(key, _hidden_query(value), "expected https://: the last mile is HTTPS only (a token or password would travel in clear)")
        _check_literal_text(key, value, "a URL")
        if not value.lower().startswith("https://"):
            raise refuse(key, _hidden_query(value), "expected an absolute https:// URL: the last mile is HTTPS only")
        if "{" in value or "}" in value:
            raise refuse(key, value, "expected a URL without '{' or '}': use policy.template(...) with policy.named_value(...)")
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise refuse(key, _hidden_query(value), f"expected a well-formed URL ({exc})") from None
        _check_authority(key, value, parts.netloc)
        _check_query(key, value, parts.query)
        return value
    # A template: check the literal text the library can see; named values stay {{name}}.
    text = value.render()
    first = value.parts[0]
    if isinstance(first, str):
        if first.strip().lower().startswith("http:"):
            raise refuse(key, _hidden_query(text), "expected https://: the last mile is HTTPS only (a token or password would travel in clear)")
        if not first.lower().startswith("https://"):
            raise refuse(key, _hidden_query(text), "expected a template whose first part is https://... or a policy.named_value(...) holding the base URL")
    for part in value.parts:
        if isinstance(part, str):
            _check_literal_text(key, part, "URL text")
    before_query = text.split("?", 1)[0].split("#", 1)[0]
    if "@" in _PLACEHOLDER.sub("", before_query):
        raise refuse(key, _hidden_query(text), "expected no '@' before the query (user info); percent-encode it as %40 in a path")
    if isinstance(first, str):
        rest = text[len("https://"):]
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        if "{{" not in authority and (len(rest) > len(authority) or len(value.parts) == 1):
            _check_authority(key, text, authority)
    if "?" in text:
        _check_query(key, text, text.split("?", 1)[1].split("#", 1)[0])
    return value


def check_path_template(value: Value, key: str) -> Value:
    """Validate a ``rewrite-uri`` template: a path (and query) on the backend, never a new host."""
    if isinstance(value, (Expression, NamedValueRef)):
        return value
    render_value(value, key)
    literals = [value] if isinstance(value, str) else [p for p in value.parts if isinstance(p, str)]
    text = value if isinstance(value, str) else value.render()
    for part in literals:
        _check_literal_text(key, part, "a path template")
    if isinstance(value, str):
        if value == "":
            raise refuse(key, value, "expected a path such as /orders/{id}")
        if "{{" in value or "}}" in value:
            raise refuse(key, value, "expected no '{{' or '}}': use policy.template(...) with policy.named_value(...)")
    first = value if isinstance(value, str) else value.parts[0]
    if isinstance(first, str) and (not first.startswith("/") or first.startswith("//")):
        raise refuse(key, text, "expected a path starting with a single '/': the template may not name another host")
    path = text.split("?", 1)[0]
    for segment in _PLACEHOLDER.sub("x", path).split("/"):
        if unquote_plus(segment) in ("..", "."):
            raise refuse(key, text, "expected no '.' or '..' path segments: they climb out of the API's backend path")
    if "?" in text:
        _check_query(key, text, text.split("?", 1)[1])
    return value
