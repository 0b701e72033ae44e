"""Checks of an argument's shape, before any of its values: known keys only, switches that are really booleans, enum
members read as their values, and the camelCase path the stack config and the package schema use for an argument."""

from __future__ import annotations

import enum
from typing import Any

from .errors import NOT_SHOWN, LastMileError, Shown


def camel_path(argument: str) -> str:
    """An argument path in camelCase, as stack config and the package schema name it (``role_assignments[0].scope``
    -> ``roleAssignments[0].scope``); header names under ``headers`` keep their case."""
    from pydantic.alias_generators import to_camel

    out: list[str] = []
    for segment in argument.split("."):
        head, bracket, rest = segment.partition("[")
        out.append((head if out and out[-1] == "headers" else to_camel(head)) + bracket + rest)
    return ".".join(out)


def plain(value: Any) -> Any:
    """An enum member's value (the component package hands enums over as members), anything else as it is."""
    return value.value if isinstance(value, enum.Enum) else value


def check_known_keys(args: dict, allowed: Any, key: str = "") -> None:
    """No key outside ``allowed`` (a TypedDict or names): a misspelt ``protect`` must not leave production unprotected."""
    import difflib

    names = list(getattr(allowed, "__annotations__", allowed))
    for name in args:
        if name not in names:
            close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise LastMileError(f"{key}{name}", Shown(NOT_SHOWN), f"unknown argument; {hint}known: {', '.join(sorted(names))}")


def check_bool(args: dict, key: str, prefix: str = "") -> None:
    """A switch given must be True or False: None or "false" would silently mean something else. ``prefix`` names
    where ``args`` sit (``telemetry.``)."""
    if key in args and not isinstance(args[key], bool):
        raise LastMileError(f"{prefix}{key}", args[key], "expected True or False")
