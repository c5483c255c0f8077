"""The command line's pieces that need no server: ids, exit codes, messages, views."""

from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from cmdprogress import CommandProgress, CommandState, FailedEntity, Step
from cmdprogress import exceptions as exc
from cmdprogress._cli._args import UsageError, parse_command_ids, resolve_password
from cmdprogress._cli._display import PlainDisplay, format_duration
from cmdprogress._cli._errors import describe
from cmdprogress._cli._frame import live_view
from cmdprogress._cli._track import ExitCode, Tracker


def _p(cid: int, state: CommandState, pct: float = 0.0, **kw: object) -> CommandProgress:
    return CommandProgress(command_id=cid, state=state, total_progress=pct, **kw)  # type: ignore[arg-type]


def _failed(cid: int) -> CommandProgress:
    return _p(
        cid,
        CommandState.FAILED,
        40.0,
        error_code=-324,
        error_description="Failed to start the instance.",
        failed_entities=(FailedEntity(f"DataNode@node-{cid}", "START"),),
    )


@given(st.text())
def test_only_plain_numbers_are_command_ids(text: str) -> None:
    """An id is accepted exactly when it is ASCII digits (spaces around allowed)."""
    token = text.strip()
    if not token:
        assert parse_command_ids([text]) == []
    elif token.isascii() and token.isdigit() and int(token) < 2**63:
        assert parse_command_ids([text]) == [int(token)]
    else:
        with pytest.raises(UsageError, match="is not a command id"):
            parse_command_ids([text])


def test_password_comes_from_environment_or_prompt() -> None:
    """The environment wins; otherwise the prompt; no terminal and no variable is a usage error."""
    env = {"CMDPROGRESS_PASSWORD": "from-env"}
    assert resolve_password("admin", "u", environ=env, prompt=lambda _: "x") == "from-env"
    typed = resolve_password(
        "admin", "u", environ={}, prompt=lambda _: "typed", terminal_available=lambda: True
    )
    assert typed == "typed"
    with pytest.raises(UsageError, match="CMDPROGRESS_PASSWORD"):
        resolve_password("admin", "u", environ={}, terminal_available=lambda: False)


def test_exit_code_precedence() -> None:
    """Errors give 2 even with failures; failures give 1; all complete gives 0."""
    t = Tracker([1, 2, 3], clock=lambda: 0.0)
    assert t.exit_code() is ExitCode.ERROR  # nothing ended yet
    t.update(_p(1, CommandState.COMPLETE, 100))
    t.update(_p(2, CommandState.COMPLETE, 100))
    t.update(_p(3, CommandState.COMPLETE, 100))
    assert t.exit_code() is ExitCode.OK
    t = Tracker([1, 2], clock=lambda: 0.0)
    t.update(_p(1, CommandState.COMPLETE, 100))
    t.update(_failed(2))
    assert t.exit_code() is ExitCode.FAILED
    t.fail(1, exc.ConnectError("x"), "x")  # already ended: ignored
    assert t.exit_code() is ExitCode.FAILED
    t = Tracker([1, 2], clock=lambda: 0.0)
    t.update(_failed(1))
    t.fail(2, exc.UnknownCommandError("404", status=404, command_id=2), "unknown")
    assert t.exit_code() is ExitCode.ERROR


def test_tracker_news_and_observed_duration() -> None:
    """Repeated snapshots are not news; the duration stops at the first terminal snapshot."""
    now = itertools.count(0.0, 1.0)
    t = Tracker([7], clock=lambda: next(now))  # started at 0
    assert t.update(_p(7, CommandState.IN_PROGRESS, 10))
    assert not t.update(_p(7, CommandState.IN_PROGRESS, 10))
    assert t.update(_p(7, CommandState.COMPLETE, 100))  # the clock's next tick: 1.0
    assert not t.update(_p(7, CommandState.COMPLETE, 100))
    assert t.records[7].elapsed(99.0) == 1.0
    assert t.records[7].changes == 2


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        (exc.LoginRejectedError("no", username="admin"), "login rejected for user 'admin'"),
        (exc.AccountLockedError("locked"), "locked"),
        (exc.PasswordChangeRequiredError("change"), "new password"),
        (exc.TLSError("CERTIFICATE_VERIFY_FAILED", url="https://h:28443/x"), "--ca-file"),
        (
            exc.ConnectError("refused", url="https://h:28443/x"),
            "cannot reach the Manager at h:28443",
        ),
        (exc.RequestTimeoutError("slow"), "no answer"),
        (exc.UnknownCommandError("404", status=404, command_id=5), "command 5 is unknown"),
        (exc.HTTPStatusError("x", status=403, body="<html>no</html>"), "HTTP 403"),
        (exc.MalformedResponseError("x", command_id=5, errors=["bad @ $.state"]), "bad @ $.state"),
        (ZeroDivisionError("boom"), "internal error"),
    ],
)
def test_messages_are_one_line_and_say_what_to_do(error: BaseException, needle: str) -> None:
    """Each usual mistake has a one-line message naming the problem."""
    text = describe(error, url="https://h:28443")
    assert needle in text
    assert "\n" not in text


def test_format_duration() -> None:
    """Durations read naturally at every scale."""
    assert [format_duration(s) for s in (0.04, 59.94, 60, 3599, 7200)] == [
        "0.0s",
        "59.9s",
        "1m00s",
        "59m59s",
        "2h00m",
    ]


def _render(tracker: Tracker, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(live_view(tracker, "Watching"))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_live_view_for_a_few_has_a_line_per_command() -> None:
    """Few commands: one line each with state, percent and the current step's name."""
    t = Tracker([1, 2], clock=lambda: 0.0)
    t.update(_p(1, CommandState.IN_PROGRESS, 42, steps=(Step("Start NameNode", ""),)))
    out = _render(t)
    lines = out.splitlines()
    assert len(lines) == 3
    assert "IN_PROGRESS" in lines[1]
    assert "42%" in lines[1]
    assert "Start NameNode" in lines[1]


def test_live_view_for_hundreds_stays_short() -> None:
    """300 commands with 40 failures: an overall bar, counts, the latest 5 failures; no flood."""
    t = Tracker(range(1, 301), clock=lambda: 0.0)
    for cid in range(1, 201):
        t.update(_p(cid, CommandState.COMPLETE, 100))
    for cid in range(201, 241):
        t.update(_failed(cid))
    for cid in range(241, 261):
        t.update(_p(cid, CommandState.IN_PROGRESS, 50))
    out = _render(t)
    assert len(out.splitlines()) <= 10
    assert "240/300 ended" in out
    assert "complete 200" in out
    assert "failed 40" in out
    assert "running 20" in out
    assert "DataNode@node-240" in out  # the latest failure
    assert "DataNode@node-201" not in out  # older ones scrolled away


def test_plain_output_for_hundreds_prints_ends_and_tenths() -> None:
    """Plain lines for many commands: no line per progress change, ends and a line per tenth."""
    out = io.StringIO()
    t = Tracker(range(1, 101), clock=lambda: 0.0)
    d = PlainDisplay(out, io.StringIO())
    d.start(t, "Watching 100")
    for cid in range(1, 101):
        for pct in (10, 50):
            if t.update(_p(cid, CommandState.IN_PROGRESS, pct)):
                d.changed(t.records[cid])
        if t.update(_p(cid, CommandState.COMPLETE, 100)):
            d.changed(t.records[cid])
    d.summary(t, {})
    lines = out.getvalue().splitlines()
    assert sum("ended:" in line for line in lines) == 10
    assert sum("COMPLETE" in line for line in lines) == 100
    assert len(lines) < 120
    assert "100 commands in" in out.getvalue()
