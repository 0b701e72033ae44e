"""``lastmile verify <stack>``: after ``pulumi up``, prove the last mile instead of hoping.

For every secured function in the stack's outputs (``pulumi stack output --json``), a direct anonymous call from
this machine, by the backend's ``network`` mode (absent in stacks deployed before it existed: ``identity-only``):

- ``identity-only``: must get 401 (Easy Auth is on and refuses it).
- ``gateway-ip`` or ``private``: must not get through the network layer: no connection (connection refused or
  reset, TLS handshake failure, timeout) or 403 (App Service's access restriction or public-access-disabled
  answer). A 401 means Easy Auth answered, so the function is reachable from the internet: a failure. A refused
  call (a URL this module will not call) or a malformed answer proves nothing: a failure too, as is a TLS
  certificate that is not trusted (something answered; this module does not look past it). So is a name that does
  not resolve: a private app's public name (``<app>.azurewebsites.net``) still resolves, to its
  ``<app>.privatelink.azurewebsites.net`` alias, so a name that does not is a wrong outputs file (a mistyped or
  deleted host), not proof; nor is a DNS look-up that failed (no answer from the resolver).

And a call through the gateway must succeed (APIM got a token the function accepts). Redirects are not followed:
a 302 to a login page is a failure, not a pass.

Every input is checked before the first request: the outputs (JSON object, ``function_backends`` an object of
objects, URLs that are strings with no credentials in them, no IP literal but loopback, no link-local or metadata
address, ``network`` one of ``identity-only``, ``gateway-ip``, ``private`` when present), ``--path`` (starts with
``/``, no scheme or host, no ``..``, no CR/LF), ``--timeout`` (0 < t <= 120) and the subscription key (printable
ASCII). The key is masked in everything this module returns or raises.
"""

from __future__ import annotations

import http.client
import ipaddress
import math
import re
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterable, Optional
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

from .diff import Shown, display, load_json, printable, shown
from ..errors import LastMileError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
SUBSCRIPTION_HEADER = "Ocp-Apim-Subscription-Key"
#: What a masked secret looks like in any output.
MASK = "***"
#: Bounds on the inputs.
MAX_TIMEOUT = 120.0
MAX_URL_CHARS = 4096
MAX_PATH_CHARS = 2048
MAX_KEY_CHARS = 256
MAX_BACKENDS = 256
MAX_REASON_CHARS = 200
#: The backends' network modes (``function_backends.<name>.network``); absent means the first.
IDENTITY_ONLY = "identity-only"
NETWORK_MODES = (IDENTITY_ONLY, "gateway-ip", "private")

_OUTPUTS = "the JSON object `pulumi stack output --json` prints"
#: Addresses no check may call: link-local (169.254.0.0/16 holds the cloud metadata endpoint 169.254.169.254),
#: fe80::/10, "this network" and multicast; plus Azure's host endpoint (WireServer).
_FORBIDDEN_NETS = [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128", "224.0.0.0/4",
                                                     "ff00::/8", "168.63.129.16/32", "fd00:ec2::254/128")]
_URL_CHARS = re.compile(r"[\x21-\x7e]+")
_STACK = re.compile(r"[A-Za-z0-9_.\-/]{1,400}")


@dataclass
class Check:
    """One call and its verdict."""

    backend: str
    what: str
    url: str
    expected: str
    got: str = ""
    ok: bool = False
    why: str = ""


# --- secrets ------------------------------------------------------------------------------------------------

def mask(text: str, secrets: Iterable[Optional[str]]) -> str:
    """``text`` with every secret (also URL-encoded or escaped as in a repr) replaced by ``***``."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= {secret, quote(secret, safe=""), quote_plus(secret), repr(secret)[1:-1],
                      secret.encode("unicode_escape").decode("ascii", "replace")}
    for form in sorted((f for f in forms if f), key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def check_subscription_key(key: Optional[str], source: str = "--subscription-key") -> Optional[str]:
    """The key if it can be sent as a header value; never shown in the error."""
    if key is None or key == "":
        return None
    if not isinstance(key, str):
        raise LastMileError(source, shown(type(key).__name__), "expected the APIM subscription key as a string")
    if len(key) > MAX_KEY_CHARS:
        raise LastMileError(source, Shown(f"a value of {len(key)} characters (not shown)"), f"expected at most {MAX_KEY_CHARS} characters")
    if not _URL_CHARS.fullmatch(key):
        what = "a line break (CR/LF)" if ("\r" in key or "\n" in key) else "a space, control or non-ASCII character"
        raise LastMileError(source, Shown(f"a value with {what} (not shown)"),
                            "expected the APIM subscription key: printable ASCII, no spaces, no CR/LF")
    return key


# --- the other options --------------------------------------------------------------------------------------

def check_stack(stack: Any) -> str:
    if not isinstance(stack, str) or not _STACK.fullmatch(stack):
        raise LastMileError("stack", shown(stack), "expected a stack name: letters, digits, '-', '_', '.', '/' (at most 400)")
    return stack


def check_path(path: Any) -> str:
    """``--path``: empty, or an absolute path (with an optional query) under each URL; nothing that leaves it."""
    if path is None or path == "":
        return ""
    if not isinstance(path, str):
        raise LastMileError("--path", shown(path), "expected a path such as /health")
    if len(path) > MAX_PATH_CHARS:
        raise LastMileError("--path", shown(path), f"expected a path of at most {MAX_PATH_CHARS} characters")
    decoded = unquote(path)
    if any(c in path or c in decoded for c in "\r\n"):
        raise LastMileError("--path", shown(path), "expected a path without CR/LF")
    if not _URL_CHARS.fullmatch(path) or "\\" in path or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
        raise LastMileError("--path", shown(path), "expected a path of printable ASCII without spaces, backslashes or control characters (percent-encode the rest)")
    if not path.startswith("/") or path.startswith("//") or "://" in path:
        raise LastMileError("--path", shown(path), "expected a path starting with / and no scheme or host, such as /health")
    if ".." in path or ".." in decoded:
        raise LastMileError("--path", shown(path), "expected a path without '..'")
    return path


def check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or not 0 < timeout <= MAX_TIMEOUT:
        raise LastMileError("--timeout", shown(timeout), f"expected seconds per call, more than 0 and at most {MAX_TIMEOUT:g}")
    return float(timeout)


# --- URLs ---------------------------------------------------------------------------------------------------

def _ip_literal(host: str) -> Optional[ipaddress._BaseAddress]:
    """The address when ``host`` is an IP literal in any form the resolver accepts (``2852039166``, ``0x7f.1``...)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except (OSError, ValueError):
        return None


def _forbidden(address: ipaddress._BaseAddress) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_link_local or any(address in net for net in _FORBIDDEN_NETS if net.version == address.version)


def safe_url(url: str) -> str:
    """``url`` for a report: any userinfo and every query value replaced by ``***``, no fragment."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
        query = "&".join(p.split("=", 1)[0] + ("=" + MASK if "=" in p else "") for p in parts.query.split("&")) if parts.query else ""
        return printable(urlunsplit((parts.scheme, netloc, parts.path, query, "")))
    except ValueError:
        return printable(url)


def url_problem(url: Any) -> Optional[str]:
    """Why ``url`` must not be called (before any request or DNS lookup), or None."""
    if not isinstance(url, str) or not url or url == "[secret]":
        return "expected a URL (a string; run `pulumi stack output --json --show-secrets` if it is a secret)"
    if len(url) > MAX_URL_CHARS:
        return f"expected a URL of at most {MAX_URL_CHARS} characters"
    if not _URL_CHARS.fullmatch(url) or "\\" in url:
        return "expected a URL of printable ASCII without spaces, backslashes or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        return f"expected a well-formed URL ({exc})"
    if parts.scheme not in ("https", "http"):
        return "expected an https:// URL"
    if "@" in parts.netloc:
        return "expected a URL without credentials (user:password@host)"
    host = parts.hostname
    if not host:
        return "expected a URL with a host"
    address = _ip_literal(host)
    if address is not None:
        if _forbidden(address):
            return "expected a host name, not a link-local or metadata address"
        if not address.is_loopback:
            return "expected a host name, not an IP address (only loopback may be called by address)"
    return None


#: :func:`_no_connection`'s kinds for a name that does not resolve (the resolver says there is no such name, or no
#: address for it) and for a look-up that failed (no answer from the resolver, or a refusal): neither is proof that
#: a network layer keeps an outside caller out (:data:`NOT_PROOF`).
UNRESOLVED = "the name does not resolve"
LOOKUP_FAILED = "the DNS look-up failed"
NOT_PROOF = {
    UNRESOLVED: "the name does not resolve: check the outputs file; a private app's public name still resolves, to "
                "its privatelink alias",
    LOOKUP_FAILED: "the DNS look-up failed (no answer from the resolver): nothing was proved; check this machine's DNS "
                   "and run again",
}
_NO_SUCH_NAME = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY") if hasattr(socket, n)}


def _no_connection(exc: BaseException) -> Optional[str]:
    """The kind of failed connection ``exc`` is: the name does not resolve (:data:`UNRESOLVED`), its look-up failed
    (:data:`LOOKUP_FAILED`), or one a network layer gives an outside caller (refused, reset, TLS handshake failure,
    timeout); None for anything else. A certificate that is not trusted is not one: something answered the
    handshake. Which kinds prove a network layer is :func:`_direct`'s call (:data:`NOT_PROOF`)."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, socket.gaierror):
        return UNRESOLVED if exc.errno in _NO_SUCH_NAME else LOOKUP_FAILED
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError)):  # http.client.RemoteDisconnected too
        return "connection reset"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return None
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError (Python >= 3.10)
        return "timed out"
    return None


def _resolution_problem(host: str, port: Optional[int]) -> tuple[Optional[str], Optional[str]]:
    """Why the addresses ``host`` resolves to must not be called (a name for the metadata endpoint), or None; and
    :func:`_no_connection`'s kind when the name does not resolve."""
    if _ip_literal(host) is not None:
        return None, None
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"no answer: cannot resolve the host ({exc})", _no_connection(exc)
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        except ValueError:
            continue
        if _forbidden(address):
            return f"refused: the host resolves to a link-local or metadata address ({address})", None
    return None, None


def _check_url(url: Any, key: str) -> str:
    problem = url_problem(url)
    if problem:
        raise LastMileError(key, shown(safe_url(url)) if isinstance(url, str) else shown(url), problem)
    return url


# --- the calls ----------------------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: D401 - urllib's hook
        return None


def _opener() -> urllib.request.OpenerDirector:
    # No proxies either: the proof is about the direct path to each URL.
    return urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


def _status(url: str, headers: dict[str, str], timeout: float) -> tuple[Optional[int], str, Optional[str]]:
    """The HTTP status of GET ``url``; or None, the reason when there is no answer or it must not be called, and
    :func:`_no_connection`'s kind when the call failed to connect (None when it was refused or got a malformed answer)."""
    problem = url_problem(url)
    if problem:
        return None, f"refused: {problem}", None
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return None, "refused: only https:// URLs are called (plain http only to 127.0.0.1 for local tests)", None
    problem, kind = _resolution_problem(parts.hostname, parts.port)
    if problem:
        return None, problem, kind
    request = urllib.request.Request(url, headers={"User-Agent": "lastmile-verify", **headers}, method="GET")
    try:
        with _opener().open(request, timeout=timeout) as response:
            return response.status, "", None
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, "", None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        if isinstance(exc, urllib.error.URLError):
            return None, f"no answer: {exc.reason}", _no_connection(exc)
        return None, f"no answer: {type(exc).__name__}: {exc}", _no_connection(exc)


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/") if path else base


#: At most as many replicas as an APIM pool has further members.
MAX_REPLICAS = 29


def function_backends(outputs: Any) -> dict[str, dict]:
    """The ``function_backends`` output of the environment program, checked (URLs included) before any call."""
    if not isinstance(outputs, dict):
        raise LastMileError("outputs", shown(outputs), f"expected {_OUTPUTS}")
    backends = outputs.get("function_backends")
    if not isinstance(backends, dict) or not backends:
        raise LastMileError("outputs.function_backends", shown(backends), "expected the stack's function_backends output, an object of objects (is this an apim-lastmile stack?)")
    if len(backends) > MAX_BACKENDS:
        raise LastMileError("outputs.function_backends", Shown(f"{len(backends)} backends"), f"expected at most {MAX_BACKENDS}")
    for name, entry in backends.items():
        key = f"outputs.function_backends.{display(name, 40)}"
        if not isinstance(name, str) or not name or len(name) > 200 or printable(name) != name:
            raise LastMileError(key, shown(name), "expected a backend name of at most 200 printable characters")
        if not isinstance(entry, dict):
            raise LastMileError(key, shown(entry), "expected an object with function_url and api_url")
        for field in ("api_url", "function_url"):
            _check_url(entry.get(field), f"{key}.{field}")
        replicas = entry.get("replica_function_urls")
        if replicas is not None:
            if not isinstance(replicas, list) or len(replicas) > MAX_REPLICAS:
                raise LastMileError(f"{key}.replica_function_urls", shown(replicas),
                                    f"expected a list of at most {MAX_REPLICAS} URLs (the backend's replicas)")
            for index, url in enumerate(replicas):
                _check_url(url, f"{key}.replica_function_urls[{index}]")
        if "network" in entry and not (isinstance(entry["network"], str) and entry["network"] in NETWORK_MODES):
            raise LastMileError(f"{key}.network", shown(entry["network"]),
                                'expected the network mode: "identity-only", "gateway-ip" or "private" '
                                "(no network field, as in stacks deployed before it existed: identity-only)")
    return backends


def network_mode(entry: dict) -> str:
    """The backend's network mode (``function_backends`` checked it); identity-only when the output predates it."""
    return entry.get("network", IDENTITY_ONLY)


def _direct(name: str, entry: dict, url: str, timeout: float) -> Check:
    """The anonymous call from this machine straight to the function, judged by the backend's network mode."""
    network = network_mode(entry)
    status, reason, kind = _status(url, {}, timeout)
    if network == IDENTITY_ONLY:
        direct = Check(name, "function, anonymous", url, f"401 (network: {network})")
        direct.got = str(status) if status is not None else "-"
        direct.ok = status == 401
        if status is None:
            direct.why = reason
        elif 200 <= status < 300:
            direct.why = f"the function answered {status} to an anonymous call: Easy Auth is not enforcing authentication"
        elif 300 <= status < 400:
            direct.why = f"{status} redirect: Easy Auth sends anonymous callers to a login page instead of answering 401"
        elif status != 401:
            direct.why = f"expected Easy Auth's 401, got {status}"
        return direct
    wanted = f"no connection or 403 (network: {network})"
    direct = Check(name, "function, anonymous", url, wanted)
    if status is None and kind in NOT_PROOF:
        direct.got = "does not resolve" if kind == UNRESOLVED else "DNS look-up failed"
        direct.why = NOT_PROOF[kind]
        return direct
    if status is None:
        direct.got = f"no connection ({kind})" if kind else "-"
        direct.ok = kind is not None
        if not direct.ok:
            direct.why = f"{reason}; expected {wanted}"
        return direct
    direct.got = str(status)
    direct.ok = status == 403
    if status == 401:
        direct.why = (f"401: the function is reachable from the internet (Easy Auth answered), so the network layer "
                      f"is not in place; expected {wanted}")
    elif 200 <= status < 300:
        direct.why = (f"the function answered {status} to an anonymous call from the internet: neither the network "
                      f"layer (network: {network}) nor Easy Auth refuses it")
    elif 300 <= status < 400:
        direct.why = (f"{status} redirect: the function is reachable from the internet, so the network layer is not "
                      f"in place; expected {wanted}")
    elif status != 403:
        direct.why = f"expected {wanted}, got {status}"
    return direct


def verify(outputs: Any, path: str = "", subscription_key: Optional[str] = None, timeout: float = 15.0) -> list[Check]:
    """Run every check; the list says which passed, and why each failure failed. The key never appears in it."""
    path, timeout = check_path(path), check_timeout(timeout)
    subscription_key = check_subscription_key(subscription_key)
    backends = function_backends(outputs)
    secrets = [subscription_key]
    checks: list[Check] = []
    gateway_headers = {SUBSCRIPTION_HEADER: subscription_key} if subscription_key else {}
    for name, entry in sorted(backends.items()):
        checks.append(_direct(name, entry, _join(entry["function_url"], path), timeout))
        # Each replica is an app of its own, behind the same Easy Auth rules: the same anonymous call, the same verdict.
        for index, url in enumerate(entry.get("replica_function_urls") or ()):
            checks.append(_direct(f"{name} (replica {index + 1})", entry, _join(url, path), timeout))

        through_url = _join(entry["api_url"], path)
        through = Check(name, "through the gateway", through_url, "2xx")
        status, reason, _ = _status(through_url, gateway_headers, timeout)
        through.got = str(status) if status is not None else "-"
        through.ok = status is not None and 200 <= status < 300
        if status is None:
            through.why = reason
        elif status == 401 and not subscription_key:
            through.why = "401 from the gateway: no subscription key was sent (--subscription-key or LASTMILE_SUBSCRIPTION_KEY)"
        elif status in (401, 403):
            through.why = (f"{status}: the function refused the gateway's token (wrong audience or identity not allowed), "
                           "or APIM refused the subscription key")
        elif not through.ok:
            through.why = f"expected a 2xx answer through the gateway, got {status}"
        checks.append(through)
    for check in checks:
        check.url = mask(safe_url(check.url), secrets)
        why = mask(printable(check.why), secrets)
        check.why = why if len(why) <= MAX_REASON_CHARS else why[: MAX_REASON_CHARS - 3] + "..."
    return checks


def render(stack: str, checks: list[Check]) -> str:
    """A table of every check, then a line per failure with its reason."""
    header = ("backend", "check", "url", "expected", "got", "result")
    rows = [tuple(printable(v) for v in (c.backend, c.what, c.url, c.expected, c.got, "ok" if c.ok else "FAILED")) for c in checks]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"lastmile verify: stack {printable(stack)}", ""]
    for row in [header, *rows]:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    failed = [c for c in checks if not c.ok]
    lines.append("")
    for c in failed:
        lines.append(f"FAILED {printable(c.backend)} / {c.what}: {printable(c.why)}")
    lines.append(f"{len(checks)} checks, {len(failed)} failed")
    return "\n".join(lines) + "\n"


def read_outputs(source: str, stdin: Any) -> Any:
    """``pulumi stack output --json`` from a file, or from stdin when ``source`` is ``-``; checked before use."""
    label = "outputs" if source == "-" else f"--outputs {display(source, 120, tail=True)}"
    data = load_json(source, label, "the JSON that `pulumi stack output --json` prints", stdin=stdin)
    function_backends(data)
    return data
