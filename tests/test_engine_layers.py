"""The modules of cmdprogress/ form no import circle; the engine's stay short.

Imports under ``if TYPE_CHECKING:`` and inside functions count too: an import
moved into a function to get round a circle is still a circle to read.
"""

from __future__ import annotations

import ast
from pathlib import Path

from _import_graph import find_cycle

import cmdprogress

_PACKAGE = Path(cmdprogress.__file__).parent
_ENGINE = (
    "_engine_inputs",
    "_events",
    "_ids",
    "_mailbox",
    "_poll_errors",
    "_scheduler",
    "_watch",
    "_watcher",
)


def _siblings(path: Path) -> set[str]:
    """The modules of cmdprogress/ (top level, not the package root) that ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update(
                [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            )
    return found


def _graph() -> dict[str, set[str]]:
    modules = {p.stem for p in _PACKAGE.glob("*.py")} - {"__init__"}
    return {mod: _siblings(_PACKAGE / f"{mod}.py") & modules - {mod} for mod in sorted(modules)}


def test_no_import_circle_in_the_package() -> None:
    graph = _graph()
    assert {"_scheduler", "_watcher", "_ids"} <= graph["_client"]  # the scan sees imports
    assert "_ids" in graph["_checkpoint"]  # a function-level import would be seen too
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"_a": {"_b"}, "_b": {"_c"}, "_c": {"_a"}}) == ["_a", "_b", "_c", "_a"]
    assert find_cycle({"_a": {"_b"}, "_b": set()}) is None


def test_the_engine_never_sees_the_client() -> None:
    graph = _graph()
    assert {mod: sorted(graph[mod] & {"_client"}) for mod in _ENGINE} == {m: [] for m in _ENGINE}


def test_the_engine_modules_stay_short() -> None:
    lengths = {
        mod: len((_PACKAGE / f"{mod}.py").read_text(encoding="utf-8").splitlines())
        for mod in _ENGINE
    }
    assert {mod: n for mod, n in lengths.items() if n > 600} == {}
