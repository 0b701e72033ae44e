"""The library's error types.

Every error is a ``ValueError`` so callers that already guard configuration with
``except ValueError`` keep working; the subclasses let tools tell them apart.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any


#: Values longer than this are cut in messages: an error names the value, it does not reprint a document.
MAX_SHOWN = 80


_BOUNDED = reprlib.Repr()
_BOUNDED.maxlevel, _BOUNDED.maxlist, _BOUNDED.maxdict, _BOUNDED.maxstring, _BOUNDED.maxother = 2, 4, 4, MAX_SHOWN, MAX_SHOWN


class Shown(str):
    """A value already cut for a message: its repr is itself."""

    def __repr__(self) -> str:
        return str(self)


#: What a credential looks like inside any value an error would show: ``name=value`` pairs of connection strings and
#: query strings (Redis ``password=``, storage ``AccountKey=``, Service Bus ``SharedAccessKey=``, SAS ``sig=``, ``code=``
#: of a function URL, ``api-key=``...), a JWT, a ``Bearer`` token, and user info in a URL.
_CREDENTIALS = (
    (re.compile(r"(?i)\b(password|pwd|passwd|accountkey|sharedaccesskey|sharedaccesssignature|sig|code|key|apikey|api-key|"
                r"api_key|secret|client_secret|token|access_token|subscription-key)(\s*[=:]\s*)([^;&,\s'\"]+)"), r"\1\2***"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "<JWT hidden>"),
    (re.compile(r"(?i)\b(bearer|basic|sharedkey|sharedaccesssignature)\s+[A-Za-z0-9._~+/=:-]{8,}"), r"\1 ***"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@'\"]+@"), r"\1***@"),
)


def mask_credentials(text: str) -> str:
    """``text`` with everything shaped like a credential replaced by ``***`` (errors never echo one)."""
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


#: Shown instead of a value that was not asked for: an unknown or misspelt key's value may be anything, a secret too.
NOT_SHOWN = "<value not shown: unknown key>"


def _text(value: Any) -> str:
    if type(value).__name__ == "Output" and type(value).__module__.startswith("pulumi"):
        return "<an Output: a value known only at deploy time>"
    if isinstance(value, Shown):
        return str(value)
    try:
        return repr(value) if isinstance(value, (str, bytes, int, float, bool, type(None))) else _BOUNDED.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still shown as something
        return f"<{type(value).__name__}>"


def show(value: Any) -> str:
    """How a value appears in an error: its repr, cut to :data:`MAX_SHOWN` characters (a string says its length; a
    list or mapping is shown bounded, never walked whole); an Output (known only at deploy time) as ``<an Output>``
    rather than ``<pulumi.output.Output object at 0x...>``."""
    text = mask_credentials(_text(value))
    if len(text) <= MAX_SHOWN:
        return text
    suffix = f"... ({len(text)} chars)"
    return text[: MAX_SHOWN - len(suffix)] + suffix


def cut(value: Any) -> Any:
    """``value`` itself when it shows whole, else its cut form: an error then keeps no long value (or secret) at all."""
    text = _text(value)
    return value if len(text) <= MAX_SHOWN and mask_credentials(text) == text else Shown(show(value))


class LastMileError(ValueError):
    """Bad input to apim-lastmile: names the argument or config key, the value and what is valid."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"{key}: got {show(value)}; {expected}")


class PolicyError(LastMileError):
    """A policy document that APIM would reject, or that would change meaning if rendered."""


class ConfigError(LastMileError):
    """A stack configuration value that does not validate."""
