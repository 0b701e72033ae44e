"""The library's error types.

Every error is a ``ValueError`` so callers that already guard configuration with
``except ValueError`` keep working; the subclasses let tools tell them apart.
"""

from __future__ import annotations

from typing import Any


#: Values longer than this are cut in messages: an error names the value, it does not reprint a document.
MAX_SHOWN = 80


def show(value: Any) -> str:
    """How a value appears in an error: its repr, cut to :data:`MAX_SHOWN` characters; an Output (known only at
    deploy time) as ``<an Output>`` rather than ``<pulumi.output.Output object at 0x...>``."""
    if type(value).__name__ == "Output" and type(value).__module__.startswith("pulumi"):
        return "<an Output: a value known only at deploy time>"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 14] + f"... ({len(text)} chars)"


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
