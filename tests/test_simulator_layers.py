"""The simulator's modules import downwards only and never the client side of cmdprogress."""

from __future__ import annotations

import ast
from pathlib import Path

from _import_graph import find_cycle

import cmdprogress.testing

_TESTING = Path(cmdprogress.testing.__file__).parent

# What the simulator may use of the rest of the package: only the loop check. Everything
# else is the client side (every module and subpackage, whatever is added later): the
# simulator builds its answers from its own data.
_SHARED = {"_loop"}
_CLIENT_SIDE = {
    p.stem for p in _TESTING.parent.iterdir() if (p.suffix == ".py" or p.is_dir()) and p.stem
} - {"testing", "__pycache__", "__init__", *_SHARED}


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(sibling modules in testing/, modules of cmdprogress/ outside it) that ``path`` imports.

    Imports under ``if TYPE_CHECKING:`` count too: a circle there is a circle to read.
    An import of the package root itself shows as ``"cmdprogress"``.
    """
    siblings: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level == 1:
                siblings.update([node.module] if node.module else names)
            elif node.level == 2:
                outside.update([node.module.split(".")[0]] if node.module else names)
            elif node.module is not None and node.module.split(".")[0] == "cmdprogress":
                parts = node.module.split(".")
                if parts[1:2] == ["testing"]:
                    siblings.update(parts[2:3] or names)
                else:
                    outside.update(parts[1:2] or ["cmdprogress"])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "cmdprogress" and parts[1:2] != ["testing"]:
                    outside.update(parts[1:2] or ["cmdprogress"])
    return siblings, outside


def _graph() -> dict[str, tuple[set[str], set[str]]]:
    return {p.stem: _imports(p) for p in sorted(_TESTING.glob("*.py"))}


def test_no_import_circle_in_the_simulator() -> None:
    graph = {mod: deps - {"__init__"} for mod, (deps, _) in _graph().items() if mod != "__init__"}
    assert {"_manager_app", "_cas_app", "_gate"} <= graph["_server"]  # the scan sees imports
    assert find_cycle(graph) is None


def test_the_simulator_never_imports_the_client_side() -> None:
    assert {"_client", "_convert", "_converter", "_scheduler", "_cli"} <= _CLIENT_SIDE
    leaks = {mod: sorted(out & _CLIENT_SIDE) for mod, (_, out) in _graph().items()}
    assert {mod: names for mod, names in leaks.items() if names} == {}
    # The package root re-exports the client: importing it would be a leak too.
    assert [mod for mod, (_, out) in _graph().items() if "cmdprogress" in out] == []
