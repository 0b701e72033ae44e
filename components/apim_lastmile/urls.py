"""URLs a token or a password travels to: https, a public DNS name, no credentials in them.

Whoever can edit a stack file names these URLs, and the gateway attaches its managed identity's token (or a basic-auth
password) to every request it sends there. So a URL is refused when it is not plain ``https://`` to a DNS name: no
user info (``user:pass@``), no IP literal (IPv4 in any notation, IPv6), no ``localhost``, no single-label or
``.internal``/``.local`` host (the instance metadata service is ``169.254.169.254`` / ``metadata.azure.internal``), no
control characters or spaces, and no credential in the query string, also when percent-encoded. Pure Python, no
Pulumi: the policy fragments use it too.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterable, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import LastMileError

#: Query parameters that carry a credential: function keys, SAS signatures, API keys, tokens, passwords.
CREDENTIAL_PARAMS = frozenset({
    "code", "sig", "key", "api-key", "apikey", "api_key", "subscription-key", "subscription_key", "access_token", "token",
    "id_token", "password", "pwd", "passwd", "secret", "client_secret", "x-functions-key", "sas",
})
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*$")
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


def _fail(key: str, value: Any, why: str) -> None:
    raise LastMileError(key, value, why)


def credential_params(query: str) -> list[str]:
    """Credential parameter names in ``query``, after percent-decoding (twice: ``%2563ode`` is ``code`` too)."""
    found = []
    for name, _ in parse_qsl(query, keep_blank_values=True):
        decoded = unquote(unquote(name)).strip().lower()
        if decoded in CREDENTIAL_PARAMS:
            found.append(decoded)
    return found


def check_host(key: str, url: str, host: Optional[str]) -> str:
    """``host`` (already lower-case) is a public DNS name, not an address, loopback, link-local or internal name."""
    if not host:
        _fail(key, url, "expected https://<host>/...: the URL has no host")
    if host.startswith("[") or ":" in host:
        _fail(key, url, "an IP address is not allowed where a token or password travels: use the service's DNS name")
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = bool(_NUMERIC_HOST.match(host))
    if is_ip:
        _fail(key, url, "an IP address is not allowed where a token or password travels: use the service's DNS name")
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(_PRIVATE_SUFFIXES) or "." not in name:
        _fail(key, url, "a local, internal or single-label host is not allowed where a token or password travels")
    if not all(_LABEL.match(label) for label in name.split(".")):
        _fail(key, url, "expected a DNS host name (letters, digits and hyphens between dots)")
    return name


def check_https_url(key: str, value: Any, *, hosts: Optional[Iterable[str]] = None, service: str = "") -> str:
    """``value`` if it is an https:// URL that may carry a token or password (see the module); with ``hosts`` (DNS
    suffixes such as ``.blob.core.windows.net``, or exact host names) the host must also be one of them."""
    if not isinstance(value, str):
        _fail(key, value, "expected an https:// URL (a plain string)")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value) or len(value) > 2000:
        _fail(key, value, "expected an https:// URL on one line, without spaces or control characters, at most 2000 characters")
    if not value.lower().startswith("https://"):
        _fail(key, value, "expected an https:// URL: the last mile never travels over plain http")
    parts = urlsplit(value)
    if "@" in parts.netloc:
        _fail(key, "<url with user info hidden>", "remove the user:password@ part: credentials never sit in a URL")
    if parts.fragment:
        _fail(key, value, "a URL with a #fragment is not a backend address")
    try:
        parts.port
    except ValueError:
        _fail(key, value, "expected a port number from 1 to 65535 after the host")
    host = check_host(key, value, parts.hostname)
    found = credential_params(parts.query)
    if found:
        _fail(key, "<url with a credential hidden>",
              f"remove the {', '.join(sorted(set(found)))} parameter from the URL: the gateway's identity replaces keys, SAS and passwords")
    if hosts is not None:
        allowed = tuple(hosts)
        if not any(host == h or (h.startswith(".") and host.endswith(h)) for h in allowed):
            _fail(key, value,
                  f"{service or 'this service'}'s token may only travel to {', '.join('*' + h if h.startswith('.') else h for h in allowed)}")
    return value
