"""The final summary and the live view's edge cases (no server: built from snapshots)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich.console import Console

from cmdprogress import CommandProgress, CommandState, FailedEntity
from cmdprogress import exceptions as exc
from cmdprogress._cli._display import PlainDisplay, RichDisplay, make_display
from cmdprogress._cli._frame import live_view
from cmdprogress._cli._track import Tracker

if TYPE_CHECKING:
    import pytest


def _p(cid: int, state: CommandState, pct: float = 0.0, **kw: object) -> CommandProgress:
    return CommandProgress(command_id=cid, state=state, total_progress=pct, **kw)  # type: ignore[arg-type]


def _many_with_trouble() -> Tracker:
    """40 commands: 34 complete, 2 failed, 1 unknown id, 1 still running, 2 never answered."""
    t = Tracker(range(1, 41), clock=lambda: 0.0)
    for cid in range(1, 37):
        t.update(_p(cid, CommandState.IN_PROGRESS, 10))  # seen running: durations known
    for cid in range(1, 35):
        t.update(_p(cid, CommandState.COMPLETE, 100))
    t.update(_p(35, CommandState.FAILED, 40, error_code=-300))  # no description, no instances
    entities = tuple(FailedEntity(f"DataNode@node-{i}", "START") for i in range(5))
    t.update(_p(36, CommandState.FAILED, 60, error_code=-324, failed_entities=entities))
    t.fail(37, exc.UnknownCommandError("404", status=404, command_id=37), "command 37 is unknown")
    t.update(_p(38, CommandState.IN_PROGRESS, 50))
    return t


def test_plain_summary_of_many_lists_only_what_needs_attention() -> None:
    """Over 20 commands the summary lists failed, errored and unfinished ones, not the complete."""
    out = io.StringIO()
    d = PlainDisplay(out, io.StringIO())
    t = _many_with_trouble()
    d.start(t, "Watching 40")
    d.summary(t, {"requests": 99})
    text = out.getvalue()
    assert "40 commands in 0.0s" in text
    assert "requests 99" in text
    lines = text.splitlines()
    header = lines.index("Failed, errored and unfinished commands:")
    rows = {line.split()[0]: line for line in lines[header + 2 :]}
    assert list(rows) == ["35", "36", "37", "38", "39", "40"]  # the complete ones are left out
    assert rows["35"].endswith("-300")  # a failure with nothing but its code
    assert rows["36"].endswith("DataNode@node-0, DataNode@node-1, DataNode@node-2 (+2 more)")
    assert rows["37"].endswith("command 37 is unknown")
    assert "IN_PROGRESS (still running)" in rows["38"]
    assert "no answer" in rows["39"]


def test_plain_error_line_for_a_command_that_ended_with_an_error() -> None:
    """A command's error gets its own ERROR line with the message, in plain output."""
    out = io.StringIO()
    d = PlainDisplay(out, io.StringIO())
    t = Tracker([4242], clock=lambda: 0.0)
    d.start(t, "Watching 1")
    t.fail(4242, exc.UnknownCommandError("404", status=404, command_id=4242), "4242 is unknown")
    d.command_error(t.records[4242])
    assert "4242 ERROR" in " ".join(out.getvalue().split())
    assert out.getvalue().rstrip().endswith("4242 is unknown")


def test_rich_summary_of_many_has_a_titled_table_of_failures(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rich summary for many commands is a titled table of what needs attention."""
    monkeypatch.setenv("COLUMNS", "120")
    d = RichDisplay()
    d.summary(_many_with_trouble(), {})
    out = capsys.readouterr().out
    assert "Failed, errored and unfinished commands" in out
    assert "(+2 more)" in out
    assert "37 │ ERROR" in out
    assert "(still running)" in out
    assert "34 │" not in out  # the complete ones are left out


def test_rich_display_notes_go_to_stderr_and_stop_is_safe_twice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Notes go to stderr when it is not a terminal; stop() twice and refresh() after it
    do nothing."""
    d = RichDisplay()
    t = Tracker([1], clock=lambda: 0.0)
    d.start(t, "Watching 1")
    t.fail(1, exc.ConnectError("refused"), "cannot reach")
    d.command_error(t.records[1])
    d.note("login with pw-1 failed")
    d.stop()
    shown = capsys.readouterr()
    d.stop()
    d.refresh()
    assert "login with pw-1 failed" in shown.err
    assert "pw-1" not in shown.out
    assert capsys.readouterr().out == ""


def test_live_view_of_many_without_failures_has_no_failure_list() -> None:
    """The overall view of many commands lists no failures section while none failed."""
    t = Tracker(range(1, 31), clock=lambda: 0.0)
    for cid in range(1, 11):
        t.update(_p(cid, CommandState.COMPLETE, 100))
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(live_view(t, "Watching 30"))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "10/30 ended" in text
    assert "latest failures" not in text


class _Unknowable(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def test_output_that_cannot_say_if_it_is_a_terminal_gets_plain_lines() -> None:
    """An output whose isatty() fails is treated as a file: plain lines, no live view."""
    assert isinstance(make_display(json_lines=False, out=_Unknowable()), PlainDisplay)
