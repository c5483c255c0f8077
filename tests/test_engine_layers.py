"""The modules of the cmdprogress package form no import circle, the engine never sees the
client, and no module is longer than 600 lines.

The whole package counts, subpackages included (``_cli``, ``testing``,
``instrumentation``), and every import does, wherever it is: at module level,
under ``if TYPE_CHECKING:`` and inside functions (an import moved into a
function to get round a circle is still a circle to read).
"""

from __future__ import annotations

from pathlib import Path

from _import_graph import find_cycle, package_graph, package_modules

import cmdprogress

_PACKAGE = Path(cmdprogress.__file__).parent
MAX_LINES = 600
"""The longest a module of the package may be (as a guide, one responsibility is ~400)."""
_ENGINE = tuple(
    f"cmdprogress.{m}"
    for m in (
        "_engine_inputs",
        "_events",
        "_ids",
        "_mailbox",
        "_poll_errors",
        "_scheduler",
        "_watcher",
    )
)


def _too_long(root: Path) -> dict[str, int]:
    lengths = {
        mod: len(path.read_text(encoding="utf-8").splitlines())
        for mod, path in package_modules(root).items()
    }
    return {mod: n for mod, n in lengths.items() if n > MAX_LINES}


def test_no_import_circle_in_the_package() -> None:
    """No import circle among all the modules of cmdprogress, subpackages included."""
    graph = package_graph(_PACKAGE)
    # The scan sees every kind of import the package uses:
    assert "cmdprogress._scheduler" in graph["cmdprogress._client"]  # module level
    assert "cmdprogress.instrumentation._hooks" in graph["cmdprogress._client"]  # TYPE_CHECKING
    assert "cmdprogress._client" in graph["cmdprogress._cli"]  # inside a function
    assert "cmdprogress" in graph["cmdprogress._cli._args"]  # `from .. import __version__`
    assert "cmdprogress._loop" in graph["cmdprogress.testing._server"]  # out of a subpackage
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_a_circle() -> None:
    """find_cycle names a circle's modules in order and finds none in a tree."""
    assert find_cycle({"_a": {"_b"}, "_b": {"_c"}, "_c": {"_a"}}) == ["_a", "_b", "_c", "_a"]
    assert find_cycle({"_a": {"_b"}, "_b": set()}) is None


def test_a_circle_hidden_in_a_function_or_type_checking_is_found(tmp_path: Path) -> None:
    """A planted circle through a function-level import in a subpackage is reported."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from ._a import A\n")
    (pkg / "_a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import _b\nA = 1\n"
    )
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "_b.py").write_text("def f():\n    from .. import _c\n")
    (pkg / "_c.py").write_text("import pkg.sub._b\n")
    graph = package_graph(pkg)
    assert graph["pkg"] == {"pkg._a"}
    assert find_cycle(graph) == ["pkg.sub._b", "pkg._c", "pkg.sub._b"]
    (pkg / "_c.py").write_text("import json\n")
    assert find_cycle(package_graph(pkg)) is None
    (pkg / "_c.py").write_text("from ._a import A\n")
    assert find_cycle(package_graph(pkg)) == ["pkg._a", "pkg.sub._b", "pkg._c", "pkg._a"]


def test_the_engine_never_sees_the_client() -> None:
    """No engine module imports the client: the client gives the engine values."""
    graph = package_graph(_PACKAGE)
    seen = {mod: sorted(graph[mod] & {"cmdprogress._client"}) for mod in _ENGINE}
    assert seen == {mod: [] for mod in _ENGINE}


def test_no_module_is_over_600_lines() -> None:
    """Every module of the package, subpackages included, stays within MAX_LINES."""
    assert len(package_modules(_PACKAGE)) > 60  # subpackages are counted
    assert _too_long(_PACKAGE) == {}


def test_a_long_module_is_reported(tmp_path: Path) -> None:
    """A planted module of MAX_LINES + 1 lines in a subpackage is named; MAX_LINES is not."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "_long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "pkg" / "_fits.py").write_text("x = 1\n" * MAX_LINES)
    assert _too_long(tmp_path / "pkg") == {"pkg.sub._long": MAX_LINES + 1}


def _mapped_modules(text: str) -> set[str]:
    """The module paths the module map of docs/architecture.md names (its first code block)."""
    block = text.split("```\ncmdprogress/\n", 1)[1].split("```", 1)[0]
    found: set[str] = set()
    folder = ""
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        word = line.split(maxsplit=1)[0] if line.strip() else ""
        if indent == 2 and word.endswith("/"):
            folder = word
        elif indent == 2 and word.endswith(".py"):
            found.add(word)
        elif indent == 4 and word.endswith(".py"):
            found.add(folder + word)
    return found


def test_the_architecture_map_lists_every_module() -> None:
    """docs/architecture.md's module map names every module of the package, and only those."""
    doc = (_PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    files = {p.relative_to(_PACKAGE).as_posix() for p in _PACKAGE.rglob("*.py")}
    assert {"_client.py", "_cli/_frame.py", "testing/_pages.py"} <= files
    assert _mapped_modules(doc) == files
