"""What the command line knows about each watched command, and the exit status.

The displays read a :class:`Tracker`; the watch loop feeds it snapshots and
per-command errors.  Durations are observed ones: from the start of the watch
(or the first answer) to the first terminal snapshot seen.
"""

from __future__ import annotations

import collections
import enum
import time
from typing import TYPE_CHECKING

import attrs

from .._models import CommandProgress, CommandState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["ExitCode", "Outcome", "Record", "Tracker"]


class ExitCode(enum.IntEnum):
    """The exit statuses of ``cmdprogress``."""

    OK = 0
    """Every command completed."""
    FAILED = 1
    """At least one command ended FAILED (and no other error happened)."""
    ERROR = 2
    """Usage, connection, login, certificate or unknown-id error."""
    INTERRUPTED = 130
    """Stopped with Ctrl-C; nothing was sent to the Manager."""
    BROKEN_PIPE = 141
    """The reader of standard output went away (``... | head -1``); 128 + SIGPIPE, as a
    program ended by that signal reports."""


class Outcome(enum.Enum):
    """Where a watched command stands, as the displays group it."""

    PENDING = "unanswered"
    """No answer yet."""
    NEW = "new"
    RUNNING = "running"
    OTHER = "other"
    """A state the library does not know (e.g. ``WAITING``): not terminal."""
    COMPLETE = "complete"
    FAILED = "failed"
    ERROR = "error"
    """The watch of this command ended with an error (unknown id, bad answers, ...)."""

    @property
    def is_final(self) -> bool:
        """True for outcomes that end a command's watch."""
        return self in _FINAL


_FINAL = frozenset({Outcome.COMPLETE, Outcome.FAILED, Outcome.ERROR})

_BY_STATE = {
    CommandState.NEW: Outcome.NEW,
    CommandState.IN_PROGRESS: Outcome.RUNNING,
    CommandState.COMPLETE: Outcome.COMPLETE,
    CommandState.FAILED: Outcome.FAILED,
    CommandState.UNKNOWN: Outcome.OTHER,
}


@attrs.define
class Record:
    """One watched command: its last snapshot, its end, its error."""

    command_id: int
    started: float
    last: CommandProgress | None = None
    ended: float | None = None
    error: BaseException | None = None
    error_text: str = ""
    changes: int = 0
    ended_before_watch: bool = False
    """The first answer was already terminal: how long the command took is unknown."""

    @property
    def outcome(self) -> Outcome:
        """The display group of this command."""
        if self.error is not None:
            return Outcome.ERROR
        if self.last is None:
            return Outcome.PENDING
        return _BY_STATE[self.last.state]

    def elapsed(self, now: float) -> float:
        """Seconds watched so far, or until the end was seen."""
        return (self.ended if self.ended is not None else now) - self.started

    @property
    def state_text(self) -> str:
        """The state as the Manager spelled it (``WAITING`` stays ``WAITING``)."""
        if self.error is not None:
            return "ERROR"
        if self.last is None:
            return "-"
        return self.last.raw_state or self.last.state.value


@attrs.define(init=False)
class Tracker:
    """Every watched command by id, in the order given.

    >>> t = Tracker([7], clock=lambda: 0.0)
    >>> t.update(CommandProgress(command_id=7, state=CommandState.COMPLETE, total_progress=100))
    True
    >>> t.exit_code()
    <ExitCode.OK: 0>
    """

    records: dict[int, Record]
    clock: Callable[[], float]
    started: float
    failures: collections.deque[Record]
    """The latest commands that failed or ended with an error, newest last."""

    def __init__(
        self,
        ids: Iterable[int],
        *,
        clock: Callable[[], float] = time.monotonic,
        keep_failures: int = 5,
    ) -> None:
        now = clock()
        self.__attrs_init__(
            records={cid: Record(cid, now) for cid in ids},
            clock=clock,
            started=now,
            failures=collections.deque(maxlen=keep_failures),
        )

    def __len__(self) -> int:
        return len(self.records)

    def _record(self, command_id: int) -> Record:
        rec = self.records.get(command_id)
        if rec is None:
            rec = self.records[command_id] = Record(command_id, self.clock())
        return rec

    def update(self, progress: CommandProgress) -> bool:
        """Take a snapshot; True when it is news (differs from the last one kept)."""
        rec = self._record(progress.command_id)
        if rec.ended is not None or rec.last == progress:
            return False
        first = rec.last is None
        rec.last = progress
        rec.changes += 1
        if progress.is_terminal:
            rec.ended = self.clock()
            rec.ended_before_watch = first
            if progress.state is CommandState.FAILED:
                self.failures.append(rec)
        return True

    def fail(self, command_id: int, error: BaseException, text: str) -> None:
        """End a command's watch with an error (``text`` is the one-line message)."""
        rec = self._record(command_id)
        if rec.ended is not None:
            return
        rec.error = error
        rec.error_text = text
        rec.ended = self.clock()
        self.failures.append(rec)

    def counts(self) -> collections.Counter[Outcome]:
        """How many commands are in each outcome."""
        return collections.Counter(r.outcome for r in self.records.values())

    @property
    def done(self) -> int:
        """How many commands have ended (completed, failed or errored)."""
        return sum(1 for r in self.records.values() if r.ended is not None)

    @property
    def all_done(self) -> bool:
        """True once every command has ended."""
        return all(r.ended is not None for r in self.records.values())

    def elapsed(self) -> float:
        """Seconds since the watch began."""
        return self.clock() - self.started

    def exit_code(self) -> ExitCode:
        """2 if any command ended with an error, else 1 if any failed, else 0."""
        counts = self.counts()
        if counts[Outcome.ERROR]:
            return ExitCode.ERROR
        if counts[Outcome.FAILED]:
            return ExitCode.FAILED
        if not self.all_done:
            return ExitCode.ERROR
        return ExitCode.OK
