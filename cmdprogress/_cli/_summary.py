"""The summary printed when the watch ends: a headline with the counts, then a row per
command (or, for many, only the failed, errored and unfinished ones), as plain lines
or as rich renderables fitted to the terminal's width."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._frame import pack
from ._texts import (
    STYLE,
    UNKNOWN_DURATION,
    count_items,
    duration_text,
    failure_detail,
    format_duration,
    percent,
)
from ._track import Outcome

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ._track import Record, Tracker

__all__ = ["SUMMARY_FAILURES", "SUMMARY_ROWS", "WIDE", "summary_lines", "summary_renderables"]

SUMMARY_ROWS = 20
"""Up to this many commands get a row each in the summary; more get counts plus failures."""
SUMMARY_FAILURES = 30
"""At most this many failures are listed in a compact summary."""
WIDE = 90
"""From this many columns on, the summary is a boxed table; below, a line per command."""


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
    detail = failure_detail(rec) if outcome in (Outcome.FAILED, Outcome.ERROR) else ""
    return (
        str(rec.command_id),
        label,
        duration_text(rec, now),
        f"{percent(rec):.0f}%",
        detail,
    )


def _headline_items(tracker: Tracker, extra: dict[str, Any]) -> list[str]:
    """The summary's first line in pieces that are never split across lines."""
    n = len(tracker)
    what = "command" if n == 1 else "commands"
    labels = [label for label, _ in count_items(tracker)]
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


def summary_lines(tracker: Tracker, extra: dict[str, Any]) -> list[str]:
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


def summary_renderables(
    tracker: Tracker, extra: dict[str, Any], width: int
) -> list[RenderableType]:
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    rows, left_out = _summary_rows(tracker)
    now = tracker.clock()
    head = [Text(item, style="bold") for item in _headline_items(tracker, extra)]
    out: list[RenderableType] = [Text(""), *pack(head, width, " ")]
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
            table.add_row(*cells[:1], Text(cells[1], style=STYLE[rec.outcome]), *cells[2:])
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
            line.append(c[1].ljust(widths[1]), style=STYLE[rec.outcome])
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
