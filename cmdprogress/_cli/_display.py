"""The three displays of ``cmdprogress watch`` / ``demo`` and the final summary.

- :class:`JsonDisplay` (``--json``): one JSON object per line on standard
  output, nothing else; diagnostics go to standard error.
- :class:`RichDisplay` (standard output is a terminal that can redraw and
  rich is installed, the ``cmdprogress[cli]`` extra): a live view redrawn at
  most four times a second, laid out for the terminal's width; a bar per
  command for a handful of commands, one overall bar with counts per state
  and the latest failures for many.  Messages during the live view are
  printed above it, through the same console.
- :class:`PlainDisplay` (output to a file or pipe, ``TERM=dumb``, or rich not
  installed): plain lines, without colour codes; every change for a handful
  of commands, only the ends and a progress line every tenth for many.

rich is imported only by :class:`RichDisplay`, so the core library never
needs it.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from .._models import CommandState
from ._track import Outcome, Record, Tracker

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.text import Text

__all__ = [
    "FEW",
    "Display",
    "JsonDisplay",
    "PlainDisplay",
    "RichDisplay",
    "can_redraw",
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
WIDE = 90
"""From this many columns on, the summary is a boxed table; below, a line per command."""
BAR_WIDTH = 24
"""The widest per-command bar; it shrinks first when the terminal is narrow."""
STEP_MIN = 20
"""Columns kept for the step (or error) of a command before a bar gets any."""
UNKNOWN_DURATION = "unknown"
"""Shown for a command that had already ended when the watch began."""

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


def _duration(rec: Record, now: float) -> str:
    """The observed duration, or ``unknown`` when the command ended before the watch."""
    if rec.ended_before_watch:
        return UNKNOWN_DURATION
    return format_duration(rec.elapsed(now))


def _count_items(tracker: Tracker) -> list[tuple[str, Outcome]]:
    """``(label, outcome)`` per group, e.g. ``("complete 4", COMPLETE)``.

    The states the library does not know are counted under the Manager's own
    word for them (``waiting 6``), not under a vague ``other``.
    """
    counts = tracker.counts()
    items: list[tuple[str, Outcome]] = []
    for o in _ORDER:
        if o is Outcome.OTHER:
            raw: collections.Counter[str] = collections.Counter(
                r.state_text.lower() for r in tracker.records.values() if r.outcome is o
            )
            items += [(f"{state} {n}", o) for state, n in sorted(raw.items())]
        elif counts[o] or o.is_final:
            items.append((f"{o.value} {counts[o]}", o))
    return items


def _counts_line(tracker: Tracker) -> str:
    return ", ".join(label for label, _ in _count_items(tracker))


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


def can_redraw(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """False for terminals that cannot move the cursor (``TERM=dumb`` or ``unknown``).

    >>> can_redraw({"TERM": "dumb"}), can_redraw({"TERM": "xterm-256color"})
    (False, True)
    """
    return environ.get("TERM", "").lower() not in ("dumb", "unknown")


def make_display(
    *,
    json_lines: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> Display:
    """Choose the display: JSON lines, rich on a terminal that can redraw, else plain lines."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if json_lines:
        return JsonDisplay(out, err)
    tty = _isatty(out)
    if tty and can_redraw() and rich_available():
        return RichDisplay()
    display = PlainDisplay(out, err)
    if tty and can_redraw():
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

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        self._tracker: Tracker | None = None

    def note(self, text: str) -> None:
        self._err.write(text + "\n")
        self._err.flush()

    def refresh(self) -> None:
        return None

    def stop(self) -> None:
        return None


class JsonDisplay(_LineDisplay):
    """JSON lines on ``out``: ``progress`` and ``error`` events, then one ``summary``."""

    def _emit(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        self._out.write(line + "\n")
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

    def __init__(self, out: TextIO, err: TextIO) -> None:
        super().__init__(out, err)
        self._many = False
        self._next_tenth = 1

    def _print(self, text: str) -> None:
        self._out.write(text + "\n")
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
        _duration(rec, now),
        f"{_percent(rec):.0f}%",
        detail,
    )


def _headline_items(tracker: Tracker, extra: dict[str, Any]) -> list[str]:
    """The summary's first line in pieces that are never split across lines."""
    n = len(tracker)
    what = "command" if n == 1 else "commands"
    labels = [label for label, _ in _count_items(tracker)]
    items = [f"{n} {what} in {format_duration(tracker.elapsed())}:"]
    items += [f"{label}," for label in labels[:-1]] + labels[-1:]
    counters = [f"{k.replace('_', '-')} {v}" for k, v in extra.items()]
    if counters:
        counters[0] = "· " + counters[0]
        items += [f"{c}," for c in counters[:-1]] + counters[-1:]
    return items


def _headline(tracker: Tracker, extra: dict[str, Any]) -> str:
    return " ".join(_headline_items(tracker, extra))


def _unknown_note(rows: list[Record]) -> str | None:
    if any(r.ended_before_watch for r in rows):
        return f"{UNKNOWN_DURATION}: the command had already ended when the watch began"
    return None


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
    note = _unknown_note(rows)
    if note:
        lines.append(note)
    return lines


def _pack(items: list[Text], width: int, sep: str) -> list[Text]:
    """Lay ``items`` out in lines of at most ``width`` cells; an item is never split."""
    from rich.text import Text

    lines: list[Text] = []
    line = Text()
    for item in items:
        if line and line.cell_len + len(sep) + item.cell_len > width:
            lines.append(line)
            line = Text()
        if line:
            line.append(sep)
        line.append_text(item)
    if line or not lines:
        lines.append(line)
    return lines


def _summary_renderables(
    tracker: Tracker, extra: dict[str, Any], width: int
) -> list[RenderableType]:
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    rows, left_out = _summary_rows(tracker)
    now = tracker.clock()
    head = [Text(item, style="bold") for item in _headline_items(tracker, extra)]
    out: list[RenderableType] = [Text(""), *_pack(head, width, " ")]
    if not rows:
        return out
    title = "Failed, errored and unfinished commands" if len(tracker) > SUMMARY_ROWS else None
    if width >= WIDE:
        table = Table(title=title, title_justify="left", header_style="bold")
        table.add_column(_HEAD[0], justify="right", no_wrap=True)
        table.add_column(_HEAD[1], no_wrap=True)
        table.add_column(_HEAD[2], justify="right", no_wrap=True)
        table.add_column(_HEAD[3], justify="right", no_wrap=True)
        table.add_column(_HEAD[4])
        for rec in rows:
            cells = _row(rec, now)
            table.add_row(*cells[:1], Text(cells[1], style=_STYLE[rec.outcome]), *cells[2:])
        out.append(table)
    else:
        # Too narrow for five columns: a line per command (the id and the outcome
        # whole), its failure below, wrapped between words.
        if title:
            out.append(Text(title + ":", style="bold"))
        texts = [_row(rec, now) for rec in rows]
        widths = [max(len(c[i]) for c in [_HEAD, *texts]) for i in range(4)]
        heading = Text(
            " ".join(
                [_HEAD[0].rjust(widths[0]), _HEAD[1].ljust(widths[1])]
                + [_HEAD[i].rjust(widths[i]) for i in (2, 3)]
            ),
            style="bold",
        )
        heading.no_wrap = True
        out.append(heading)
        for rec, c in zip(rows, texts, strict=True):
            line = Text(c[0].rjust(widths[0]), style="bold")
            line.append(" ")
            line.append(c[1].ljust(widths[1]), style=_STYLE[rec.outcome])
            line.append(f" {c[2].rjust(widths[2])} {c[3].rjust(widths[3])}")
            line.no_wrap = True
            line.overflow = "ellipsis"
            out.append(line)
            if c[4]:
                out.append(Padding(Text(c[4], style="red"), (0, 0, 0, widths[0] + 1)))
    if left_out:
        out.append(Text(f"... and {left_out} more (run with --json for every command)"))
    note = _unknown_note(rows)
    if note:
        out.append(Text(note, style="dim"))
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


def _in_foreground(fd: int) -> bool:
    """True when ``fd`` is a terminal whose foreground process group is ours.

    A background job that changes terminal settings is stopped (SIGTTOU).
    """
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


class _EchoCtl:
    """Turns off the terminal's ``^C`` echo while the live view is drawn.

    The echo lands after the last line of the live view; at full width it wraps
    to a new line that the view does not know about, and the next frame is
    drawn one line too low (the header shows twice).  With ``ECHOCTL`` off the
    terminal echoes the raw control character, which it does not draw.  Restored
    on ``stop``.
    """

    def __init__(self) -> None:
        self._saved: tuple[int, list[Any]] | None = None

    def off(self) -> None:
        try:
            import termios

            fd = sys.stdout.fileno()  # the terminal the view is drawn on (and typed into)
            if not _in_foreground(fd):
                return
            saved = termios.tcgetattr(fd)
            quiet = list(saved)
            quiet[3] &= ~termios.ECHOCTL
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
        except (ImportError, AttributeError, OSError, ValueError):
            return
        self._saved = (fd, saved)

    def restore(self) -> None:
        if self._saved is None:
            return
        import termios

        fd, saved = self._saved
        self._saved = None
        if not _in_foreground(fd):  # sent to the background since: the shell restores it
            return
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


class RichDisplay:
    """A live terminal view with rich, redrawn at most four times a second.

    While the view is live, messages (:meth:`note`) are printed above it through
    the same console, so they stay readable and no stale frame is left behind;
    when standard error is not the terminal (``2>errors.txt``) they go there.
    """

    def __init__(self) -> None:
        from rich.console import Console

        self._console: Console = Console()
        self._err: Console = Console(stderr=True, highlight=False)
        self._live: Live | None = None
        self._tracker: Tracker | None = None
        self._title = ""
        self._echo = _EchoCtl()

    def start(self, tracker: Tracker, title: str) -> None:
        from rich.live import Live

        self._tracker = tracker
        self._title = title
        self._live = Live(
            get_renderable=self._render,
            console=self._console,
            auto_refresh=False,
            transient=False,
            redirect_stderr=self._err.is_terminal,
            vertical_overflow="visible" if len(tracker) <= FEW else "ellipsis",
        )
        self._echo.off()
        self._live.start(refresh=True)

    def _render(self) -> RenderableType:
        assert self._tracker is not None
        return live_view(self._tracker, self._title, width=self._console.width)

    def changed(self, rec: Record) -> None:
        return None

    def command_error(self, rec: Record) -> None:
        return None

    def note(self, text: str) -> None:
        from rich.text import Text

        if self._live is not None and self._err.is_terminal:
            self._live.console.print(Text(text))
        else:
            self._err.print(Text(text))

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._echo.restore()

    def summary(self, tracker: Tracker, extra: dict[str, Any]) -> None:
        for r in _summary_renderables(tracker, extra, self._console.width):
            self._console.print(r)


def live_view(tracker: Tracker, title: str, *, width: int = 100) -> RenderableType:
    """The live view for a terminal ``width`` columns wide.

    A bar per command for a few, an overall bar and counts for many.  The id
    and the state are never cut: the bars shrink first, then the step text.
    """
    if len(tracker) <= FEW:
        return _render_few(tracker, title, width)
    return _render_many(tracker, title, width)


def _render_few(tracker: Tracker, title: str, width: int) -> RenderableType:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    now = tracker.clock()
    recs = list(tracker.records.values())
    ids = [str(r.command_id) for r in recs]
    states = [r.state_text for r in recs]
    times = [_duration(r, now) for r in recs]
    id_w = max(map(len, ids))
    state_w = max(11, *map(len, states))
    pct_w = 4
    time_w = max(6, *map(len, times))
    # The id and the state always; then the percent, the time, the step; the bar
    # takes only what is left beyond STEP_MIN columns of step.
    rest = width - (id_w + 1 + state_w)
    show_pct = rest >= pct_w + 1
    rest -= pct_w + 1 if show_pct else 0
    show_time = rest >= time_w + 1
    rest -= time_w + 1 if show_time else 0
    bar_w = min(BAR_WIDTH, rest - 1 - STEP_MIN - 1)
    if bar_w < 6:
        bar_w = 0
    step_w = rest - 1 - (bar_w + 1 if bar_w else 0)

    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True, width=id_w)
    grid.add_column(no_wrap=True, width=state_w)
    if bar_w:
        grid.add_column(no_wrap=True, width=bar_w)
    if show_pct:
        grid.add_column(justify="right", no_wrap=True, width=pct_w)
    if show_time:
        grid.add_column(justify="right", no_wrap=True, width=time_w)
    if step_w > 0:
        grid.add_column(no_wrap=True, overflow="ellipsis", width=step_w)
    for rec, cid, state, took in zip(recs, ids, states, times, strict=True):
        outcome = rec.outcome
        bad = outcome in (Outcome.FAILED, Outcome.ERROR)
        cells: list[RenderableType] = [
            Text(cid, style="bold"),
            Text(state, style=_STYLE[outcome]),
        ]
        if bar_w:
            cells.append(
                ProgressBar(
                    total=100,
                    completed=_percent(rec),
                    width=bar_w,
                    pulse=outcome is Outcome.PENDING,
                    complete_style="red" if bad else "bar.complete",
                    finished_style="green",
                )
            )
        if show_pct:
            cells.append(f"{_percent(rec):.0f}%")
        if show_time:
            cells.append(took)
        if step_w > 0:
            cells.append(Text(_step(rec), style="red" if bad else "dim"))
        grid.add_row(*cells)
    return Group(Text(title, style="bold"), grid)


def _render_many(tracker: Tracker, title: str, width: int) -> RenderableType:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    n = len(tracker)
    done = tracker.done
    ended = f"{done}/{n} ended"
    took = format_duration(tracker.elapsed())
    bar_w = min(40, width - len(ended) - len(took) - 2)
    head = Table.grid(padding=(0, 1))
    cells: list[RenderableType] = []
    if bar_w >= 6:
        head.add_column(no_wrap=True, width=bar_w)
        cells.append(ProgressBar(total=n, completed=done, width=bar_w))
    head.add_column(justify="right", no_wrap=True)
    head.add_column(justify="right", no_wrap=True)
    head.add_row(*cells, ended, took)
    items = [Text(label, style=_STYLE[o]) for label, o in _count_items(tracker)]
    parts: list[RenderableType] = [Text(title, style="bold"), head, *_pack(items, width, " · ")]
    failures = list(tracker.failures)
    if failures:
        id_w = max(len(str(r.command_id)) for r in failures)
        state_w = max(len(r.state_text) for r in failures)
        parts.append(Text("latest failures:", style="bold red"))
        for rec in reversed(failures):
            line = Text(str(rec.command_id).rjust(id_w))
            line.append(" ")
            line.append(rec.state_text.ljust(state_w), style=_STYLE[rec.outcome])
            detail = Text(" " + _failure_detail(rec))
            detail.truncate(max(0, width - line.cell_len), overflow="ellipsis")
            line.append_text(detail)
            line.no_wrap = True
            line.overflow = "ellipsis"
            parts.append(line)
    return Group(*parts)
