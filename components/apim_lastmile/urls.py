"""URLs a token or a password travels to, as component arguments and stack config name them.

The rules themselves live with the policy fragments that send requests (:mod:`apim_lastmile.policy.urls`: https to a
public DNS name, no user info, IP literal, localhost or internal host, no control characters or spaces, no
credential in the query, also percent-encoded); this adds what only a component knows: a length bound, no
``#fragment``, and for a catalogue service the hosts its token may go to.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional
from urllib.parse import urlsplit

from .errors import LastMileError
from .policy.urls import check_https_url as check_policy_url


def check_https_url(key: str, value: Any, *, hosts: Optional[Iterable[str]] = None, service: str = "") -> str:
    """``value`` if a token or password may travel to it; with ``hosts`` (DNS suffixes such as
    ``.blob.core.windows.net``, or exact host names) the host must also be one of them."""
    if not isinstance(value, str):
        raise LastMileError(key, value, "expected an https:// URL (a plain string)")
    if len(value) > 2000:
        raise LastMileError(key, value, "expected an https:// URL of at most 2000 characters")
    check_policy_url(value, key)
    parts = urlsplit(value)
    if parts.fragment or value.endswith("#"):
        raise LastMileError(key, value, "a URL with a #fragment is not a backend address")
    if hosts is not None:
        allowed = tuple(hosts)
        host = (parts.hostname or "").rstrip(".")
        if not any(host == h or (h.startswith(".") and host.endswith(h)) for h in allowed):
            raise LastMileError(key, value, f"{service or 'this service'}'s token may only travel to "
                                            f"{', '.join('*' + h if h.startswith('.') else h for h in allowed)}")
    return value
