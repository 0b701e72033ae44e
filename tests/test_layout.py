"""The package's shape: the library never imports the tools, and no two modules import each other, even late."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "components" / "apim_lastmile"
#: The tools around the library (docs/design.md, "the current map"): they import the library, never the other way.
TOOLS = {"cli", "__main__", "config", "loader", "plan", "contract", "api_versions", "diff", "verify", "permissions", "package"}


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, at the top or inside a function."""
    modules = {("policy." if p.parent.name == "policy" else "") + p.stem: p
               for p in [*PACKAGE.glob("*.py"), *(PACKAGE / "policy").glob("*.py")]}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        inside_policy = path.parent.name == "policy"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                prefix = "policy." if inside_policy and node.level == 1 else ""
                if node.module:
                    deps.add(prefix + node.module)
                else:
                    deps |= {prefix + alias.name for alias in node.names}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_the_library_never_imports_a_tool():
    for module, deps in import_graph().items():
        if module.split(".")[-1] not in TOOLS:
            assert not {d for d in deps if d in TOOLS}, (module, deps & TOOLS)


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            assert state.get(dep) != 1, " -> ".join([*path, dep])
            if dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_importing_the_library_loads_no_tool():
    import subprocess
    import sys

    loaded = subprocess.run([sys.executable, "-c", "import sys, apim_lastmile; print(' '.join(sorted(sys.modules)))"],
                            capture_output=True, text=True, check=True).stdout.split()
    library = {m.split(".", 1)[1] for m in loaded if m.startswith("apim_lastmile.")}
    assert "gateway" in library and not library & TOOLS, library & TOOLS
