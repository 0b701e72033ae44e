"""The library's error types.

Every error is a ``ValueError`` so callers that already guard configuration with
``except ValueError`` keep working; the subclasses let tools tell them apart.
"""

from __future__ import annotations

from typing import Any


class LastMileError(ValueError):
    """Bad input to apim-lastmile: names the argument or config key, the value and what is valid."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"{key}: got {value!r}; {expected}")


class PolicyError(LastMileError):
    """A policy document that APIM would reject, or that would change meaning if rendered."""


class ConfigError(LastMileError):
    """A stack configuration value that does not validate."""
