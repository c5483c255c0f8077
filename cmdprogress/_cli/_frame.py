"""The live view of the rich display, laid out for the terminal's width.

A bar per command for a few commands, one overall bar with counts per state and
the latest failures for many.  The id and the state are never cut: the bars
shrink first, then the step text.  rich is imported only when a frame is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._texts import (
    FEW,
    STYLE,
    count_items,
    duration_text,
    failure_detail,
    format_duration,
    percent,
    step_text,
)
from ._track import Outcome

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

    from ._track import Tracker

__all__ = ["BAR_WIDTH", "STEP_MIN", "live_view", "pack"]

BAR_WIDTH = 24
"""The widest per-command bar; it shrinks first when the terminal is narrow."""
STEP_MIN = 20
"""Columns kept for the step (or error) of a command before a bar gets any."""


def pack(items: list[Text], width: int, sep: str) -> list[Text]:
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
    times = [duration_text(r, now) for r in recs]
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
            Text(state, style=STYLE[outcome]),
        ]
        if bar_w:
            cells.append(
                ProgressBar(
                    total=100,
                    completed=percent(rec),
                    width=bar_w,
                    pulse=outcome is Outcome.PENDING,
                    complete_style="red" if bad else "bar.complete",
                    finished_style="green",
                )
            )
        if show_pct:
            cells.append(f"{percent(rec):.0f}%")
        if show_time:
            cells.append(took)
        if step_w > 0:
            cells.append(Text(step_text(rec), style="red" if bad else "dim"))
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
    items = [Text(label, style=STYLE[o]) for label, o in count_items(tracker)]
    parts: list[RenderableType] = [Text(title, style="bold"), head, *pack(items, width, " · ")]
    failures = list(tracker.failures)
    if failures:
        id_w = max(len(str(r.command_id)) for r in failures)
        state_w = max(len(r.state_text) for r in failures)
        parts.append(Text("latest failures:", style="bold red"))
        for rec in reversed(failures):
            line = Text(str(rec.command_id).rjust(id_w))
            line.append(" ")
            line.append(rec.state_text.ljust(state_w), style=STYLE[rec.outcome])
            detail = Text(" " + failure_detail(rec))
            detail.truncate(max(0, width - line.cell_len), overflow="ellipsis")
            line.append_text(detail)
            line.no_wrap = True
            line.overflow = "ellipsis"
            parts.append(line)
    return Group(*parts)
