"""The import graph of a package and finding a circle in it (shared by the layering tests)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in ``graph`` (module -> modules it imports) as a list, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(mod: str) -> list[str] | None:
        state[mod] = 1
        path.append(mod)
        for dep in sorted(graph.get(mod, set())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)) is not None:
                return found
        path.pop()
        state[mod] = 2
        return None

    for mod in sorted(graph):
        if mod not in state and (found := visit(mod)) is not None:
            return found
    return None


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package in directory ``root``, subpackages included, by dotted name.

    A package is named by its directory (``pkg.sub``, from ``pkg/sub/__init__.py``).
    """
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def package_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports, for the package in ``root``.

    Every import statement counts, wherever it is: at module level, under
    ``if TYPE_CHECKING:`` and inside functions (an import moved into a function
    to get round a circle is still a circle to read). ``from X import name``
    imports the module ``X.name`` when there is one, else ``X``. The implicit
    import of a module's parent packages is not counted: Python runs a
    package's ``__init__`` before any of its modules, whatever they import.
    """
    modules = package_modules(root)

    def nearest(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                found.update(
                    t for a in node.names if (t := nearest(f"{source}.{a.name}")) is not None
                )
            elif isinstance(node, ast.Import):
                found.update(t for a in node.names if (t := nearest(a.name)) is not None)
        graph[mod] = found - {mod}
    return graph
