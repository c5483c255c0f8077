"""What every display says about a command and about all of them: durations, the
percent, the step or failure, the counts per state, and the colour of each outcome."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from .._models import CommandState
from ._track import Outcome

if TYPE_CHECKING:
    from ._track import Record, Tracker

__all__ = [
    "FEW",
    "ORDER",
    "STYLE",
    "UNKNOWN_DURATION",
    "count_items",
    "counts_line",
    "duration_text",
    "failure_detail",
    "format_duration",
    "percent",
    "step_text",
]

FEW = 12
"""Up to this many commands get a line (or a bar) each; more get the overall view."""
UNKNOWN_DURATION = "unknown"
"""Shown for a command that had already ended when the watch began."""

ORDER = (
    Outcome.COMPLETE,
    Outcome.FAILED,
    Outcome.ERROR,
    Outcome.RUNNING,
    Outcome.NEW,
    Outcome.OTHER,
    Outcome.PENDING,
)

STYLE = {
    Outcome.PENDING: "dim",
    Outcome.NEW: "cyan",
    Outcome.RUNNING: "blue",
    Outcome.OTHER: "magenta",
    Outcome.COMPLETE: "green",
    Outcome.FAILED: "bold red",
    Outcome.ERROR: "red",
}


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


def percent(rec: Record) -> float:
    if rec.last is None:
        return 0.0
    if rec.last.state is CommandState.COMPLETE:
        return 100.0
    return max(0.0, min(100.0, rec.last.total_progress))


def step_text(rec: Record) -> str:
    if rec.error is not None:
        return rec.error_text
    if rec.last is None:
        return ""
    if rec.last.state is CommandState.FAILED:
        return failure_detail(rec)
    step = rec.last.current_step
    if step is None:
        return ""
    return step.name or step.description


def failure_detail(rec: Record, *, limit: int = 3) -> str:
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


def duration_text(rec: Record, now: float) -> str:
    """The observed duration, or ``unknown`` when the command ended before the watch."""
    if rec.ended_before_watch:
        return UNKNOWN_DURATION
    return format_duration(rec.elapsed(now))


def count_items(tracker: Tracker) -> list[tuple[str, Outcome]]:
    """``(label, outcome)`` per group, e.g. ``("complete 4", COMPLETE)``.

    The states the library does not know are counted under the Manager's own
    word for them (``waiting 6``), not under a vague ``other``.
    """
    counts = tracker.counts()
    items: list[tuple[str, Outcome]] = []
    for o in ORDER:
        if o is Outcome.OTHER:
            raw: collections.Counter[str] = collections.Counter(
                r.state_text.lower() for r in tracker.records.values() if r.outcome is o
            )
            items += [(f"{state} {n}", o) for state, n in sorted(raw.items())]
        elif counts[o] or o.is_final:
            items.append((f"{o.value} {counts[o]}", o))
    return items


def counts_line(tracker: Tracker) -> str:
    return ", ".join(label for label, _ in count_items(tracker))
