"""The three displays of ``cmdprogress watch`` / ``demo`` and the final summary.

- :class:`JsonDisplay` (``--json``): one JSON object per line on standard
  output, nothing else; diagnostics go to standard error.
- :class:`RichDisplay` (standard output is a terminal and rich is installed,
  the ``cmdprogress[cli]`` extra): a live view redrawn at most four times a
  second; a bar per command for a handful of commands, one overall bar with
  counts per state and the latest failures for many.
- :class:`PlainDisplay` (output to a file or pipe, or rich not installed):
  plain lines, without colour codes; every change for a handful of commands,
  only the ends and a progress line every tenth for many.

rich is imported only by :class:`RichDisplay`, so the core library never
needs it.
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from .._models import CommandState
from ._track import Outcome, Record, Tracker

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console, RenderableType
    from rich.live import Live

__all__ = [
    "FEW",
    "Display",
    "JsonDisplay",
    "PlainDisplay",
    "RichDisplay",
    "format_duration",
    "make_display",
    "rich_available",
]

FEW = 12
"""Up to this many commands get a line (or a bar) each; more get the overall view."""
SUMMARY_ROWS = 20
"""Up to this many commands get a row each in the summary; more get counts plus failures."""
SUMMARY_FAILURES = 30
"""At most this many failures are listed in a compact summary."""
REFRESH_PER_SECOND = 4.0
"""The live view is redrawn at most this often."""

_ORDER = (
    Outcome.COMPLETE,
    Outcome.FAILED,
    Outcome.ERROR,
    Outcome.RUNNING,
    Outcome.NEW,
    Outcome.OTHER,
    Outcome.PENDING,
)


def format_duration(seconds: float) -> str:
    """A short human duration.

    >>> format_duration(4.26), format_duration(65), format_duration(3723)
    ('4.3s', '1m05s', '1h02m')
    """
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _percent(rec: Record) -> float:
    if rec.last is None:
        return 0.0
    if rec.last.state is CommandState.COMPLETE:
        return 100.0
    return max(0.0, min(100.0, rec.last.total_progress))


def _step(rec: Record) -> str:
    if rec.error is not None:
        return rec.error_text
    if rec.last is None:
        return ""
    if rec.last.state is CommandState.FAILED:
        return _failure_detail(rec)
    step = rec.last.current_step
    if step is None:
        return ""
    return step.name or step.description


def _failure_detail(rec: Record, *, limit: int = 3) -> str:
    """Error code, description and failed instances of a failed command, in one line."""
    if rec.error is not None:
        return rec.error_text
    p = rec.last
    if p is None:
        return ""
    parts = [f"{p.error_code}"]
    if p.error_description:
        parts.append(p.error_description)
    ents = [f.entity for f in p.failed_entities if f.entity]
    if ents:
        shown = ", ".join(ents[:limit])
        more = f" (+{len(ents) - limit} more)" if len(ents) > limit else ""
        parts.append(f"failed: {shown}{more}")
    return " ".join(parts[:1]) + (": " + "; ".join(parts[1:]) if parts[1:] else "")


def _counts_line(tracker: Tracker) -> str:
    counts = tracker.counts()
    return ", ".join(f"{o.value} {counts[o]}" for o in _ORDER if counts[o] or o.is_final)


class Display(Protocol):
    """What the watch loop tells a display."""

    def start(self, tracker: Tracker, title: str) -> None:
        """The watch begins."""

    def changed(self, rec: Record) -> None:
        """A command has a new snapshot (``rec.last``)."""

    def command_error(self, rec: Record) -> None:
        """A command's watch ended with an error (``rec.error``, ``rec.error_text``)."""

    def note(self, text: str) -> None:
        """A diagnostic for the user (standard error)."""

    def refresh(self) -> None:
        """Called a few times a second while watching."""

    def stop(self) -> None:
        """The watch ended (or was interrupted); leave the terminal tidy."""

    def summary(self, tracker: Tracker, extra: dict[str, Any]) -> None:
        """Print the final summary (``extra``: client counters worth showing)."""


def rich_available() -> bool:
    """True when rich (the ``cmdprogress[cli]`` extra) can be imported."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def make_display(
    *,
    json_lines: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    redact: Callable[[str], str] = str,
) -> Display:
    """Choose the display: JSON lines, rich on a terminal, else plain lines."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if json_lines:
        return JsonDisplay(out, err, redact)
    tty = _isatty(out)
    if tty and rich_available():
        return RichDisplay(redact)
    display = PlainDisplay(out, err, redact)
    if tty:
        display.note("tip: pip install 'cmdprogress[cli]' for a live progress display")
    return display


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class _LineDisplay:
    """What the two line-oriented displays share: notes on ``err``, nothing to redraw."""

    def __init__(self, out: TextIO, err: TextIO, redact: Callable[[str], str] = str) -> None:
        self._out = out
        self._err = err
        self._redact = redact
        self._tracker: Tracker | None = None

    def note(self, text: str) -> None:
        self._err.write(self._redact(text) + "\n")
        self._err.flush()

    def refresh(self) -> None:
        return None

    def stop(self) -> None:
        return None


class JsonDisplay(_LineDisplay):
    """JSON lines on ``out``: ``progress`` and ``error`` events, then one ``summary``."""

    def _emit(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        self._out.write(self._redact(line) + "\n")
        self._out.flush()

    def start(self, tracker: Tracker, title: str) -> None:
        self._tracker = tracker

    def changed(self, rec: Record) -> None:
        p = rec.last
        assert p is not None
        step = p.current_step
        self._emit(
            {
                "event": "progress",
                "command_id": p.command_id,
                "state": p.state.value,
                "raw_state": p.raw_state,
                "total_progress": p.total_progress,
                "step": step.name if step else None,
                "step_description": step.description if step else None,
                "steps": len(p.steps),
                "total_step_size": p.total_step_size,
                "error_code": p.error_code,
                "error_description": p.error_description,
                "failed_entities": [
                    {"entity": f.entity, "operation_type": f.operation_type}
                    for f in p.failed_entities
                ],
                "elapsed": round(rec.elapsed(self._clock()), 3),
                "time": _now_iso(),
            }
        )

    def _clock(self) -> float:
        assert self._tracker is not None
        return self._tracker.clock()

    def command_error(self, rec: Record) -> None:
        err = rec.error
        self._emit(
            {
                "event": "error",
                "command_id": rec.command_id,
                "error": type(err).__name__,
                "message": rec.error_text,
                "elapsed": round(rec.elapsed(self._clock()), 3),
                "time": _now_iso(),
            }
        )
        self.note(rec.error_text)

    def summary(self, tracker: Tracker, extra: dict[str, Any]) -> None:
        counts = tracker.counts()
        self._emit(
            {
                "event": "summary",
                "commands": len(tracker),
                **{o.value: counts[o] for o in _ORDER},
                "exit_code": int(tracker.exit_code()),
                "elapsed": round(tracker.elapsed(), 3),
                **extra,
                "time": _now_iso(),
            }
        )


class PlainDisplay(_LineDisplay):
    """Plain text lines, no colour: every change for few commands, ends only for many."""

    def __init__(self, out: TextIO, err: TextIO, redact: Callable[[str], str] = str) -> None:
        super().__init__(out, err, redact)
        self._many = False
        self._next_tenth = 1

    def _print(self, text: str) -> None:
        self._out.write(self._redact(text) + "\n")
        self._out.flush()

    def _stamp(self) -> str:
        assert self._tracker is not None
        return f"[{format_duration(self._tracker.elapsed()):>7}]"

    def start(self, tracker: Tracker, title: str) -> None:
        self._tracker = tracker
        self._many = len(tracker) > FEW
        self._print(title)

    def changed(self, rec: Record) -> None:
        if self._many and not rec.outcome.is_final:
            return
        detail = _step(rec)
        line = f"{self._stamp()} {rec.command_id:>8} {rec.state_text:<12} {_percent(rec):3.0f}%"
        self._print(f"{line}  {detail}".rstrip())
        self._overall()

    def _overall(self) -> None:
        tracker = self._tracker
        if not self._many or tracker is None:
            return
        done = tracker.done
        if done * 10 >= self._next_tenth * len(tracker):
            while done * 10 >= self._next_tenth * len(tracker):
                self._next_tenth += 1
            self._print(f"{self._stamp()} {done}/{len(tracker)} ended: {_counts_line(tracker)}")

    def command_error(self, rec: Record) -> None:
        self._print(f"{self._stamp()} {rec.command_id:>8} ERROR         {rec.error_text}")
        self._overall()

    def summary(self, tracker: Tracker, extra: dict[str, Any]) -> None:
        for line in _summary_lines(tracker, extra):
            self._print(line)


def _summary_rows(tracker: Tracker) -> tuple[list[Record], int]:
    """The records to list, and how many were left out."""
    recs = list(tracker.records.values())
    if len(recs) <= SUMMARY_ROWS:
        return recs, 0
    bad = [r for r in recs if r.outcome in (Outcome.FAILED, Outcome.ERROR)]
    bad += [r for r in recs if not r.outcome.is_final]
    return bad[:SUMMARY_FAILURES], max(0, len(bad) - SUMMARY_FAILURES)


def _row(rec: Record, now: float) -> tuple[str, str, str, str, str]:
    outcome = rec.outcome
    label = rec.state_text if outcome is not Outcome.PENDING else "no answer"
    if not outcome.is_final:
        label = f"{label} (still running)" if rec.last is not None else label
    detail = _failure_detail(rec) if outcome in (Outcome.FAILED, Outcome.ERROR) else ""
    return (
        str(rec.command_id),
        label,
        format_duration(rec.elapsed(now)),
        f"{_percent(rec):.0f}%",
        detail,
    )


def _headline(tracker: Tracker, extra: dict[str, Any]) -> str:
    n = len(tracker)
    what = "command" if n == 1 else "commands"
    tail = ""
    if extra:
        tail = " · " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in extra.items())
    return f"{n} {what} in {format_duration(tracker.elapsed())}: {_counts_line(tracker)}{tail}"


_HEAD = ("Command", "Outcome", "Duration", "Progress", "Failed instances / error")


def _summary_lines(tracker: Tracker, extra: dict[str, Any]) -> list[str]:
    rows, left_out = _summary_rows(tracker)
    now = tracker.clock()
    table = [_HEAD, *(_row(r, now) for r in rows)]
    widths = [max(len(t[i]) for t in table) for i in range(4)]
    lines = ["", _headline(tracker, extra)]
    if rows:
        if len(tracker) > SUMMARY_ROWS:
            lines.append("Failed, errored and unfinished commands:")
        for t in table:
            cells = [t[i].ljust(widths[i]) for i in range(4)]
            lines.append("  ".join([*cells, t[4]]).rstrip())
    if left_out:
        lines.append(f"... and {left_out} more (run with --json for every command)")
    return lines


def _summary_renderables(tracker: Tracker, extra: dict[str, Any]) -> list[RenderableType]:
    from rich.table import Table
    from rich.text import Text

    rows, left_out = _summary_rows(tracker)
    now = tracker.clock()
    out: list[RenderableType] = [Text(""), Text(_headline(tracker, extra), style="bold")]
    if not rows:
        return out
    title = "Failed, errored and unfinished commands" if len(tracker) > SUMMARY_ROWS else None
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column(_HEAD[0], justify="right", no_wrap=True)
    table.add_column(_HEAD[1], no_wrap=True)
    table.add_column(_HEAD[2], justify="right", no_wrap=True)
    table.add_column(_HEAD[3], justify="right", no_wrap=True)
    table.add_column(_HEAD[4], overflow="fold")
    for rec in rows:
        cells = _row(rec, now)
        table.add_row(*cells[:1], Text(cells[1], style=_STYLE[rec.outcome]), *cells[2:])
    out.append(table)
    if left_out:
        out.append(Text(f"... and {left_out} more (run with --json for every command)"))
    return out


_STYLE = {
    Outcome.PENDING: "dim",
    Outcome.NEW: "cyan",
    Outcome.RUNNING: "blue",
    Outcome.OTHER: "magenta",
    Outcome.COMPLETE: "green",
    Outcome.FAILED: "bold red",
    Outcome.ERROR: "red",
}


class RichDisplay:
    """A live terminal view with rich, redrawn at most four times a second."""

    def __init__(self, redact: Callable[[str], str] = str) -> None:
        from rich.console import Console

        self._redact = redact
        self._console: Console = Console()
        self._err: Console = Console(stderr=True, highlight=False)
        self._live: Live | None = None
        self._tracker: Tracker | None = None
        self._title = ""

    def start(self, tracker: Tracker, title: str) -> None:
        from rich.live import Live

        self._tracker = tracker
        self._title = title
        self._live = Live(
            get_renderable=self._render,
            console=self._console,
            auto_refresh=False,
            transient=False,
            vertical_overflow="visible" if len(tracker) <= FEW else "ellipsis",
        )
        self._live.start(refresh=True)

    def _render(self) -> RenderableType:
        assert self._tracker is not None
        return live_view(self._tracker, self._title, self._redact)

    def changed(self, rec: Record) -> None:
        return None

    def command_error(self, rec: Record) -> None:
        return None

    def note(self, text: str) -> None:
        self._err.print(self._redact(text), markup=False)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def summary(self, tracker: Tracker, extra: dict[str, Any]) -> None:
        for r in _summary_renderables(tracker, extra):
            self._console.print(r)


def live_view(tracker: Tracker, title: str, redact: Callable[[str], str] = str) -> RenderableType:
    """The live view: a bar per command for a few, an overall bar and counts for many."""
    if len(tracker) <= FEW:
        return _render_few(tracker, title, redact)
    return _render_many(tracker, title, redact)


def _render_few(tracker: Tracker, title: str, redact: Callable[[str], str]) -> RenderableType:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    now = tracker.clock()
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(no_wrap=True, min_width=11)
    grid.add_column(no_wrap=True, width=24)
    grid.add_column(justify="right", no_wrap=True, min_width=4)
    grid.add_column(justify="right", no_wrap=True, min_width=6)
    grid.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    for rec in tracker.records.values():
        outcome = rec.outcome
        bad = outcome in (Outcome.FAILED, Outcome.ERROR)
        bar = ProgressBar(
            total=100,
            completed=_percent(rec),
            width=24,
            pulse=outcome is Outcome.PENDING,
            complete_style="red" if bad else "bar.complete",
            finished_style="green",
        )
        grid.add_row(
            Text(str(rec.command_id), style="bold"),
            Text(rec.state_text, style=_STYLE[outcome]),
            bar,
            f"{_percent(rec):.0f}%",
            format_duration(rec.elapsed(now)),
            Text(redact(_step(rec)), style="red" if bad else "dim"),
        )
    return Group(Text(title, style="bold"), grid)


def _render_many(tracker: Tracker, title: str, redact: Callable[[str], str]) -> RenderableType:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    n = len(tracker)
    done = tracker.done
    head = Table.grid(padding=(0, 1))
    head.add_column(no_wrap=True, width=40)
    head.add_column(justify="right", no_wrap=True)
    head.add_column(justify="right", no_wrap=True)
    head.add_row(
        ProgressBar(total=n, completed=done, width=40),
        f"{done}/{n} ended",
        format_duration(tracker.elapsed()),
    )
    counts = tracker.counts()
    line = Text()
    for o in _ORDER:
        if counts[o] or o.is_final:
            if line:
                line.append(" · ")
            line.append(f"{o.value} {counts[o]}", style=_STYLE[o])
    parts: list[RenderableType] = [Text(title, style="bold"), head, line]
    failures = list(tracker.failures)
    if failures:
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis")
        for rec in reversed(failures):
            table.add_row(
                str(rec.command_id),
                Text(rec.state_text, style=_STYLE[rec.outcome]),
                redact(_failure_detail(rec)),
            )
        parts += [Text("latest failures:", style="bold red"), table]
    return Group(*parts)
