"""The component package: the four components for every Pulumi language, with a schema inferred from their types.

`provider/__main__.py` hosts them (`pulumi package add` runs it); `schema()` is the schema that host serves, which
`schema.json` at the repository root records (a test fails when the two drift apart).
"""

from __future__ import annotations

import json
import re
from importlib import metadata

from ..entra_backend import EntraBackend
from ..function_backend import SecuredFunctionBackend
from ..gateway import Gateway
from ..keyvault_backend import KeyVaultSecretBackend

#: The package name: type tokens are apim-lastmile:index:<Component>.
NAME = "apim-lastmile"
COMPONENTS = [Gateway, SecuredFunctionBackend, KeyVaultSecretBackend, EntraBackend]


def version() -> str:
    """The package's version, as pyproject.toml sets it."""
    return metadata.version(NAME)


def provider():
    """The component provider that hosts :data:`COMPONENTS` (its schema inferred by Pulumi's analyzer). A refused
    argument comes back to the engine as an input-property error naming the property (and what is valid), not as a
    stack trace."""
    from pulumi.errors import InputPropertyError
    from pulumi.provider.experimental.component import ComponentProvider
    from pulumi.provider.server import ComponentInitError

    from ..errors import LastMileError, show
    from ..arguments import camel_path

    class LastMileProvider(ComponentProvider):
        def __init__(self, *args) -> None:
            super().__init__(*args)
            # Docstrings wrap at 120 columns with indentation; every SDK would keep those breaks in its docs.
            self.schema = json.dumps(_unwrapped(json.loads(self.schema)))

        def construct(self, name, resource_type, inputs, options=None):
            try:
                return super().construct(name, resource_type, inputs, options)
            except ComponentInitError as exc:
                inner = exc.inner
                if isinstance(inner, LastMileError):
                    raise InputPropertyError(camel_path(inner.key), f"got {show(inner.value)}; {inner.expected}") from None
                raise

    return LastMileProvider(COMPONENTS, NAME, None, version())


def _unwrapped(value):
    """Every ``description`` in a schema with its docstring's line wraps joined (paragraph breaks kept)."""
    if isinstance(value, dict):
        return {k: (_join_lines(v) if k == "description" and isinstance(v, str) else _unwrapped(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrapped(v) for v in value]
    return value


def _join_lines(text: str) -> str:
    paragraphs = [" ".join(line.strip() for line in block.splitlines()) for block in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


def schema() -> dict:
    """The package schema, as `pulumi package get-schema` would print it."""
    return json.loads(provider().schema)


def serve(args: list[str]) -> None:
    """Serve :func:`provider` to the engine at the address in ``args`` (what ``component_provider_host`` does, with our
    provider: it would build a plain ComponentProvider, whose refusals reach the engine as stack traces)."""
    from pulumi.provider import main as serve_provider

    serve_provider(provider(), args)


def main() -> None:  # pragma: no cover - the plugin's entry point, run by the Pulumi engine
    import sys

    from pulumi.provider.experimental import host

    if host.is_hosting:  # the analyzer imports the plugin's modules: never start a second server
        return
    host.is_hosting = True
    # The language runtime passes the plugin's folder, then the engine address and flags.
    serve(sys.argv[1:])
