"""The live view laid out for the width there is, the words of the help and of the
messages (no server: views rendered from snapshots, the parser called directly)."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from cmdprogress import CommandProgress, CommandState, FailedEntity, Step
from cmdprogress import exceptions as exc
from cmdprogress._cli import main
from cmdprogress._cli._display import PlainDisplay, RichDisplay, can_redraw, make_display
from cmdprogress._cli._errors import cli_words, describe
from cmdprogress._cli._frame import live_view
from cmdprogress._cli._texts import counts_line
from cmdprogress._cli._track import Tracker


def _p(cid: int, state: CommandState, pct: float = 0.0, **kw: object) -> CommandProgress:
    return CommandProgress(command_id=cid, state=state, total_progress=pct, **kw)  # type: ignore[arg-type]


def _failed(cid: int) -> CommandProgress:
    return _p(
        cid,
        CommandState.FAILED,
        40.0,
        error_code=-324,
        error_description="Failed to start the instance because the host did not answer.",
        failed_entities=(FailedEntity("DataNode@node-2", "START"),),
    )


def _lines(renderable: object, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, legacy_windows=False).print(renderable)
    return out.getvalue().splitlines()


def _tracker(ids: list[int], failing: set[int]) -> Tracker:
    t = Tracker(ids, clock=lambda: 0.0)
    for cid in ids:
        t.update(_p(cid, CommandState.IN_PROGRESS, 30.0, steps=(Step("Start HDFS instances"),)))
        if cid in failing:
            t.update(_failed(cid))
    return t


ids_strategy = st.lists(
    st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=40, unique=True
)


@settings(max_examples=60, deadline=None)
@given(ids=ids_strategy, width=st.integers(min_value=40, max_value=200), data=st.data())
def test_ids_and_states_are_never_cut_at_any_width(
    ids: list[int], width: int, data: st.DataObject
) -> None:
    """Whatever the width from 40 columns and the ids' lengths, every row of the live view
    (a bar per command, or the latest failures) shows the whole id and state, and no line
    is wider than the terminal."""
    failing = set(data.draw(st.lists(st.sampled_from(ids), max_size=6)))
    t = _tracker(ids, failing)
    lines = _lines(live_view(t, "Watching", width=width), width)
    assert all(len(line) <= width for line in lines)
    if len(ids) <= 12:
        for cid in ids:
            state = "FAILED" if cid in failing else "IN_PROGRESS"
            assert sum(1 for line in lines if re.match(rf"^ *{cid} {state} ", line)) == 1, lines
    else:
        shown = lines[lines.index("latest failures:") + 1 :] if failing else []
        for line in shown:
            assert re.match(r"^ *(\d+) FAILED -324:", line), line
            assert int(line.split()[0]) in failing
        assert len(shown) == min(5, len(failing))


def test_the_bar_shrinks_first_and_the_step_keeps_its_room() -> None:
    """A bar of 24 at 120 columns; at 60 a shorter bar and at least 20 columns of step."""
    t = _tracker([1, 2], set())
    wide = _lines(live_view(t, "Watching", width=120), 120)
    narrow = _lines(live_view(t, "Watching", width=60), 60)
    # id, state (11), bar, percent: where the percent starts tells the bar's width
    assert wide[1].index("30%") == len("1 IN_PROGRESS ") + 24 + 2
    assert narrow[1].index("30%") == len("1 IN_PROGRESS ") + 13 + 2
    assert narrow[1].endswith("Start HDFS instances")
    assert len(narrow[1]) - narrow[1].index("Start") >= 20
    tiny = _lines(live_view(t, "Watching", width=40), 40)
    assert "━" not in tiny[1]  # no room for a bar: id, state, percent, time, step
    assert tiny[1].startswith("1 IN_PROGRESS  30%")


def test_counts_are_never_split_across_lines() -> None:
    """The counts line of the overall view wraps between items, never inside one."""
    t = Tracker(range(1, 31), clock=lambda: 0.0)
    for cid in range(1, 11):
        t.update(_p(cid, CommandState.IN_PROGRESS, 10))
    for cid in range(11, 15):
        t.update(CommandProgress(command_id=cid, state=CommandState.UNKNOWN, raw_state="WAITING"))
    lines = _lines(live_view(t, "Watching", width=40), 40)
    items = [item for line in lines[2:] for item in line.split(" · ")]
    assert items[:5] == ["complete 0", "failed 0", "error 0", "running 10", "waiting 4"]


def test_unknown_states_are_counted_by_their_own_name() -> None:
    """A state the library does not know counts under the Manager's word, not 'other'."""
    t = Tracker([1, 2, 3], clock=lambda: 0.0)
    t.update(CommandProgress(command_id=1, state=CommandState.UNKNOWN, raw_state="WAITING"))
    t.update(CommandProgress(command_id=2, state=CommandState.UNKNOWN, raw_state="SUSPENDED"))
    t.update(_p(3, CommandState.IN_PROGRESS, 10))
    line = counts_line(t)
    assert line == "complete 0, failed 0, error 0, running 1, suspended 1, waiting 1"
    assert "other" not in line


def test_narrow_summary_is_a_line_per_command_with_its_failure_below() -> None:
    """Below 90 columns the summary lists a line per command (id and outcome whole) and the
    failure wrapped between words on the lines below."""
    t = _tracker([7, 123456789], {123456789})
    out = io.StringIO()
    d = RichDisplay()
    d._console = Console(file=out, width=60, color_system=None)
    d.summary(t, {"requests": 3})
    lines = out.getvalue().splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Command"])
    assert " ".join(lines[1:head]) == (
        "2 commands in 0.0s: complete 0, failed 1, error 0, running 1 · requests 3"
    )
    assert lines[head].split() == ["Command", "Outcome", "Duration", "Progress"]
    assert lines[head + 2].split() == ["123456789", "FAILED", "0.0s", "40%"]
    wrapped = " ".join(line.strip() for line in lines[head + 3 :])
    assert wrapped == (
        "-324: Failed to start the instance because the host did not answer.; "
        "failed: DataNode@node-2"
    )
    assert all(len(line) <= 60 for line in lines)
    assert "DataNode@node-2" in out.getvalue()  # not broken inside the word


def test_dumb_terminals_get_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """TERM=dumb (or unknown) on a terminal: the plain display, and no tip about rich."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = io.StringIO()
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(make_display(json_lines=False, out=Tty(), err=err), PlainDisplay)
    assert err.getvalue() == ""
    assert not can_redraw({"TERM": "unknown"})
    assert can_redraw({"TERM": "xterm-256color"})


@pytest.mark.parametrize("sub", ["watch", "demo"])
def test_help_has_examples_and_the_exit_statuses(
    sub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watch --help` and `demo --help` show examples and every exit status, 141 included."""
    assert main([sub, "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert f"cmdprogress {sub} " in text.split("examples:")[1]
    for status in ("0", "2", "130", "141"):
        assert re.search(rf"\b{status}\b", text.split("examples:")[1])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--url", "https://h:28443/?a=1"], "--url must not have a query string or fragment"),
        (["--url", "https://h:28443/web#x"], "--url must not have a query string or fragment"),
        (["--url", "https://admin:S3cret-pw@h:28443"], "--url must not contain a user name"),
        (["--url", "admin:S3cret-pw@h"], "--url must not contain a user name"),
        (
            ["--url", "https://h:28443", "--user", "u", "--cas-url", "https://c:20009/cas?x"],
            "--cas-url must not have a query string",
        ),
    ],
)
def test_url_mistakes_name_the_option_and_never_show_a_password(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --url or --cas-url: a usage error naming the option, before any prompt."""
    assert main(["watch", *args, "1"]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "S3cret-pw" not in err
    assert "base_url" not in err


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            exc.InvalidArgumentError("username", "must not contain ':' for Basic authentication"),
            "--user: must not contain ':' for Basic authentication",
        ),
        (
            exc.InvalidArgumentError(
                "cas_url", "must not contain credentials; pass auth=BasicAuth(...) or CASAuth(...)"
            ),
            "--cas-url: must not contain credentials; pass --auth basic --user NAME or --auth cas",
        ),
        (
            exc.AuthenticationError(
                "Basic login at https://h:28443 answered HTTP 200; this Manager may need "
                "CASAuth instead",
                url="https://h:28443/web",
                username="admin",
            ),
            "login failed at h:28443: Basic login at https://h:28443 answered HTTP 200; this "
            "Manager may need --auth cas instead",
        ),
    ],
)
def test_library_words_become_cli_options(error: BaseException, expected: str) -> None:
    """The library's Python names in a message are replaced by the options that set them."""
    assert describe(error, user="admin") == expected


def test_cli_words_leave_other_text_alone() -> None:
    """Only whole names are replaced: 'base_urls' or 'my_cas_url_x' stay as they are."""
    assert cli_words("base_urls and my_cas_url_x") == "base_urls and my_cas_url_x"
    assert cli_words("ssl=False turns it off") == "--insecure turns it off"
