"""The rule that tests wait on events or on a manual clock, never on the wall clock, checked.

A test that lets time pass on the wall clock (``sleep(x)`` with ``x > 0``,
``move_on_after``, a simulator answering late with ``Fault.delay(x)``) or sets
a deadline it expects to expire (``fail_after``, ``wait_for``,
``asyncio.timeout``, a ``Timeouts(...)`` limit, under a second; a longer one is
a safety net against a hang) belongs to the thin layer of real-clock tests: it is
marked ``@pytest.mark.realclock("why only real time shows it")``, or its
module's ``pytestmark`` is. A helper (a function or class of the module, not
a test) may wait when every test that uses it, directly or through other
helpers, is marked.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
WAITS = {"sleep", "move_on_after", "move_on_at"}
"""Calls that let time pass: allowed with a literal 0 (a yield to the loop) only."""
DEADLINES = {"fail_after", "wait_for", "timeout", "timeout_at", "fail_at"}
"""Calls that set a deadline: under a second it is meant to expire, not a safety net."""
SAFETY_NET = 1.0


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _number(node: ast.expr | None) -> float | None:
    """The value of a literal number (``None``: not a literal, so not judged)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    return None


def _seconds_arg(node: ast.Call, name: str) -> ast.expr | None:
    position = 1 if name == "wait_for" else 0
    for kw in node.keywords:
        if kw.arg in ("delay", "seconds", "timeout", "deadline", "when"):
            return kw.value
    return node.args[position] if len(node.args) > position else None


def _is_wait(node: ast.Call) -> bool:
    name = _call_name(node)
    func = node.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and (func.value.id, func.attr) == ("Fault", "delay")
    ):
        # The simulator holds the answer: under a second it is meant to run out; longer,
        # it is a hold the test ends on an event (the validation of a bad value aside).
        seconds = _number(node.args[0] if node.args else None)
        return seconds is not None and 0 < seconds < SAFETY_NET
    if name == "Timeouts":  # a request timeout under a second is meant to expire
        limits = [_number(kw.value) for kw in node.keywords]
        return any(t is not None and 0 < t < SAFETY_NET for t in limits)
    if name in WAITS:
        seconds = _seconds_arg(node, name)
        return name != "sleep" or seconds is None or _number(seconds) != 0.0
    if name in DEADLINES:
        seconds = _number(_seconds_arg(node, name))
        return seconds is not None and seconds < SAFETY_NET
    return False


def _realclock_marks(decorators: list[ast.expr]) -> list[ast.Call]:
    marks = []
    for deco in decorators:
        if (
            isinstance(deco, ast.Call)
            and isinstance(deco.func, ast.Attribute)
            and deco.func.attr == "realclock"
        ):
            marks.append(deco)
    return marks


def _has_reason(mark: ast.Call) -> bool:
    values = [*mark.args, *(kw.value for kw in mark.keywords if kw.arg == "reason")]
    return any(
        isinstance(v, ast.Constant) and isinstance(v.value, str) and v.value.strip() for v in values
    )


def _module_marked(tree: ast.Module) -> bool:
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets
        ):
            value = stmt.value
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            if any(_has_reason(m) for m in _realclock_marks(items)):
                return True
    return False


def violations(source: str, filename: str = "<test>") -> list[str]:
    """The wall-clock waits in ``source`` outside the real-clock layer: ``file:line: call``."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    defs = {
        stmt.name: stmt
        for stmt in tree.body
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    for d in defs.values():
        for mark in _realclock_marks(d.decorator_list):
            if not _has_reason(mark):
                found.append(f"{filename}:{mark.lineno}: realclock without a reason")
    marked = {
        name
        for name, d in defs.items()
        if name.startswith("test")
        and any(_has_reason(m) for m in _realclock_marks(d.decorator_list))
    }
    # Who uses each top-level name: the definitions whose body mentions it.
    users: dict[str, set[str]] = {name: set() for name in defs}
    for name, d in defs.items():
        for node in ast.walk(d):
            used = node.id if isinstance(node, ast.Name) else None
            if used in users and used != name:
                users[used].add(name)
    # A helper is in the real-clock layer when all who use it are (computed to a fixed point).
    allowed = set(marked)
    changed = True
    while changed:
        changed = False
        for name in defs:
            if name in allowed or name.startswith("test"):
                continue
            if users[name] and users[name] <= allowed:
                allowed.add(name)
                changed = True
    if _module_marked(tree):
        return found
    for name, d in defs.items():
        if name in allowed:
            continue
        for node in ast.walk(d):
            if isinstance(node, ast.Call) and _is_wait(node):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:70]} in {name}")
    # Module-level code outside any definition.
    for stmt in tree.body:
        if stmt.__class__ in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and _is_wait(node):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:70]}")
    return found


def test_no_test_waits_on_the_wall_clock_outside_the_realclock_layer() -> None:
    """Every wall-clock wait in tests/ is in a test marked realclock (with a reason)."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        found += violations(path.read_text(encoding="utf-8"), str(path.relative_to(TESTS)))
    assert not found, "wait on an event or a ManualClock, or mark realclock:\n" + "\n".join(found)


def test_the_rule_sees_the_realclock_layer_at_all() -> None:
    """The scan reads real files: the known real-clock tests are found marked."""
    source = (TESTS / "test_security.py").read_text(encoding="utf-8")
    assert "anyio.sleep(0.02)" in source
    assert "@pytest.mark.realclock(" in source


PLANTED = """
import anyio, asyncio, pytest

async def test_sleeps() -> None:
    await anyio.sleep(0.01)

async def test_yields() -> None:
    await asyncio.sleep(0)

async def test_guarded() -> None:
    with anyio.fail_after(10):
        pass

async def test_deadline_meant_to_expire() -> None:
    with anyio.fail_after(0.05):
        pass

async def test_waits_for() -> None:
    await asyncio.wait_for(asyncio.sleep(0), 0.1)

async def test_moves_on() -> None:
    with anyio.move_on_after(2.0):
        pass

@pytest.mark.realclock("a socket's read timeout runs on the loop's clock")
async def test_marked() -> None:
    await anyio.sleep(0.01)

@pytest.mark.realclock()
async def test_marked_without_reason() -> None:
    pass

class SlowServer:
    async def handle(self) -> None:
        await anyio.sleep(0.02)

async def slow_helper() -> None:
    await anyio.sleep(0.5)

@pytest.mark.realclock("the server's pace")
async def test_uses_slow_server() -> None:
    SlowServer()

async def test_uses_slow_helper() -> None:
    await slow_helper()

async def test_late_answer() -> None:
    sim.faults.inject(Fault.delay(0.3))
    sim.faults.inject(Fault.delay(30.0))  # a hold the test ends on an event

def test_bad_values() -> None:
    Fault.delay(-1)
    Timeouts(total=0)

async def test_request_timeout() -> None:
    Client(url, timeout=Timeouts(read=0.1))
    Client(url, timeout=Timeouts(total=30.0))
"""


def test_a_planted_wait_is_found() -> None:
    """Sleeps, move_on_after, short deadlines and delays are flagged unless marked.

    Yields (``sleep(0)``), safety nets (a second or more) and bad values are not waits.
    """
    found = violations(textwrap.dedent(PLANTED), "planted.py")
    where = sorted(line.split(": ", 1)[1] for line in found)
    assert where == sorted(
        [
            "anyio.sleep(0.01) in test_sleeps",
            "anyio.fail_after(0.05) in test_deadline_meant_to_expire",
            "asyncio.wait_for(asyncio.sleep(0), 0.1) in test_waits_for",
            "anyio.move_on_after(2.0) in test_moves_on",
            "realclock without a reason",
            "anyio.sleep(0.5) in slow_helper",  # one of its users is not marked
            "Fault.delay(0.3) in test_late_answer",
            "Timeouts(read=0.1) in test_request_timeout",
        ]
    )


def test_a_module_marked_realclock_may_wait() -> None:
    """``pytestmark = pytest.mark.realclock("...")`` puts the whole module in the layer."""
    source = 'import anyio, pytest\npytestmark = [pytest.mark.realclock("soak")]\n'
    source += "async def test_x() -> None:\n    await anyio.sleep(1)\n"
    assert violations(source) == []
    assert violations(source.replace('("soak")', "()")) != []


@pytest.mark.parametrize("call", ["time.sleep(0.1)", "trio.sleep(1)", "anyio.sleep(delay)"])
def test_every_sleep_is_a_wait(call: str) -> None:
    """Any sleep that is not a literal 0 counts, whatever library it comes from."""
    assert violations(f"def test_x():\n    {call}\n")
