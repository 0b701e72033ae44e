"""The package's shape: the library never imports the tools, and no two modules import each other, even late."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "components" / "apim_lastmile"
#: The tools around the library live in apim_lastmile.tools: they import the library, never the other way.
TOOLS_PACKAGE = "tools"


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, at the top or inside a function."""
    modules = {(f"{p.parent.name}." if p.parent != PACKAGE else "") + p.stem: p
               for p in [*PACKAGE.glob("*.py"), *(PACKAGE / "policy").glob("*.py"), *(PACKAGE / TOOLS_PACKAGE).glob("*.py")]}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        sub = f"{path.parent.name}." if path.parent != PACKAGE else ""
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                prefix = sub if node.level == 1 else ""
                if node.module:
                    deps.add(prefix + node.module)
                else:
                    deps |= {prefix + alias.name for alias in node.names}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_the_library_never_imports_a_tool():
    graph = import_graph()
    tools = {m for m in graph if m.startswith(f"{TOOLS_PACKAGE}.")}
    assert {"tools.cli", "tools.plan", "tools.config", "tools.contract"} <= tools
    for module, deps in graph.items():
        if module not in tools and module != "__main__":  # `python -m apim_lastmile` is the command's entry point
            assert not deps & tools and TOOLS_PACKAGE not in deps, (module, deps & tools)


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
    assert "gateway" in library and not {m for m in library if m.split(".")[0] == TOOLS_PACKAGE}, library
