"""``lastmile verify <stack>``: after ``pulumi up``, prove the last mile instead of hoping.

For every secured function in the stack's outputs (``pulumi stack output --json``): a direct anonymous call must
get 401 (Easy Auth is on and refuses it), and a call through the gateway must succeed (APIM got a token the
function accepts). Redirects are not followed: a 302 to a login page is a failure, not a pass.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

from .errors import LastMileError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
SUBSCRIPTION_HEADER = "Ocp-Apim-Subscription-Key"


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: D401 - urllib's hook
        return None


def _opener() -> urllib.request.OpenerDirector:
    # No proxies either: the proof is about the direct path to each URL.
    return urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


def _status(url: str, headers: dict[str, str], timeout: float) -> tuple[Optional[int], str]:
    """The HTTP status of GET ``url`` (None and the reason when there is no answer)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return None, "refused: only https:// URLs are called (plain http only to 127.0.0.1 for local tests)"
    request = urllib.request.Request(url, headers={"User-Agent": "lastmile-verify", **headers}, method="GET")
    try:
        with _opener().open(request, timeout=timeout) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"no answer: {reason}"


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/") if path else base


def function_backends(outputs: Any) -> dict[str, dict]:
    """The ``function_backends`` output of the environment program, checked."""
    if not isinstance(outputs, dict):
        raise LastMileError("outputs", type(outputs).__name__, "expected the JSON object `pulumi stack output --json` prints")
    backends = outputs.get("function_backends")
    if not isinstance(backends, dict) or not backends:
        raise LastMileError("outputs.function_backends", backends, "expected the stack's function_backends output (is this an apim-lastmile stack?)")
    for name, entry in backends.items():
        for key in ("api_url", "function_url"):
            value = entry.get(key) if isinstance(entry, dict) else entry
            if not isinstance(value, str) or value == "[secret]":
                raise LastMileError(f"outputs.function_backends.{name}.{key}", value, "expected a URL")
    return backends


def verify(outputs: Any, path: str = "", subscription_key: Optional[str] = None, timeout: float = 15.0) -> list[Check]:
    """Run every check; the list says which passed, and why each failure failed."""
    checks: list[Check] = []
    gateway_headers = {SUBSCRIPTION_HEADER: subscription_key} if subscription_key else {}
    for name, entry in sorted(function_backends(outputs).items()):
        direct = Check(name, "function, anonymous", _join(entry["function_url"], path), "401")
        status, reason = _status(direct.url, {}, timeout)
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
        checks.append(direct)

        through = Check(name, "through the gateway", _join(entry["api_url"], path), "2xx")
        status, reason = _status(through.url, gateway_headers, timeout)
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
    return checks


def render(stack: str, checks: list[Check]) -> str:
    """A table of every check, then a line per failure with its reason."""
    header = ("backend", "check", "url", "expected", "got", "result")
    rows = [(c.backend, c.what, c.url, c.expected, c.got, "ok" if c.ok else "FAILED") for c in checks]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"lastmile verify: stack {stack}", ""]
    for row in [header, *rows]:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    failed = [c for c in checks if not c.ok]
    lines.append("")
    for c in failed:
        lines.append(f"FAILED {c.backend} / {c.what}: {c.why}")
    lines.append(f"{len(checks)} checks, {len(failed)} failed")
    return "\n".join(lines) + "\n"


def read_outputs(source: str, stdin: Any) -> Any:
    """``pulumi stack output --json`` from a file, or from stdin when ``source`` is ``-``."""
    text = stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise LastMileError("outputs", source, "expected the JSON that `pulumi stack output --json` prints") from None
