"""The two line-oriented displays: :class:`JsonDisplay` (``--json``) and
:class:`PlainDisplay` (a file, a pipe, ``TERM=dumb`` or no rich)."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any, TextIO

from ._summary import summary_lines
from ._texts import FEW, ORDER, counts_line, format_duration, percent, step_text

if TYPE_CHECKING:
    from ._track import Record, Tracker

__all__ = ["JsonDisplay", "PlainDisplay"]


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
                **{o.value: counts[o] for o in ORDER},
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
        detail = step_text(rec)
        line = f"{self._stamp()} {rec.command_id:>8} {rec.state_text:<12} {percent(rec):3.0f}%"
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
            self._print(f"{self._stamp()} {done}/{len(tracker)} ended: {counts_line(tracker)}")

    def command_error(self, rec: Record) -> None:
        self._print(f"{self._stamp()} {rec.command_id:>8} ERROR         {rec.error_text}")
        self._overall()

    def summary(self, tracker: Tracker, extra: dict[str, Any]) -> None:
        for line in summary_lines(tracker, extra):
            self._print(line)
