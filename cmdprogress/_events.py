"""What the polling engine reports: its events (for listeners) and its counters."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Literal, TypeAlias

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._models import CommandProgress

__all__ = ["EventKind", "Listeners", "WatchEvent", "WatchStats"]

log = logging.getLogger("cmdprogress.watch")

EventKind: TypeAlias = Literal["watch", "poll", "change", "retry", "end", "unwatch"]


@attrs.frozen
class WatchEvent:
    """What the engine just did, for tracing and metrics hooks.

    ``kind`` is one of:

    - ``"watch"`` / ``"unwatch"``: a command entered / left the scheduler;
    - ``"poll"``: a poll answered (``progress`` set; ``elapsed`` its duration);
    - ``"change"``: that answer differs from the previous one;
    - ``"retry"``: a poll failed transiently and will be repeated (``error``);
    - ``"end"``: the command's watch ended: terminal ``progress``, or ``error``.

    Example::

        def on_event(event: WatchEvent) -> None:
            if event.kind == "poll":
                histogram.record(event.elapsed, {"command": event.command_id})

        client.add_listener(on_event)
    """

    kind: EventKind
    command_id: int
    progress: CommandProgress | None = None
    error: Exception | None = None
    elapsed: float = 0.0


@attrs.define
class WatchStats:
    """Counters of the polling engine (``client.watch_stats``); requests are on ``client.stats``.

    >>> s = WatchStats()
    >>> s.watched, s.polls, s.terminal, s.watch_errors
    (0, 0, 0, 0)
    """

    watched: int = 0
    """Commands in the scheduler right now."""
    peak_watched: int = 0
    """The most commands in the scheduler at once."""
    watchers: int = 0
    """Open watcher streams right now."""
    polls: int = 0
    """Polls made by the engine (one poll may be several requests after retries)."""
    changes: int = 0
    """Polls that found a snapshot different from the previous one."""
    delivered: int = 0
    """Snapshots put into watcher mailboxes."""
    coalesced: int = 0
    """Pending same-state snapshots replaced by a newer one for a lagging watcher."""
    overflowed: int = 0
    """Pending snapshots dropped because a watcher's mailbox was over its byte budget
    (each counted on the next snapshot that watcher got, ``CommandProgress.missed``)."""
    retried: int = 0
    """Polls that failed transiently and were repeated later (outages, malformed bodies)."""
    terminal: int = 0
    """Commands seen reaching a terminal state, COMPLETE or FAILED (a FAILED command is
    not an error of the watch: its terminal snapshot is delivered like any other)."""
    watch_errors: int = 0
    """Command watches that ended with an error instead of a terminal snapshot (404,
    malformed answers, stall, outage longer than ``outage_grace``)."""

    @property
    def ended(self) -> int:
        """Deprecated name of :attr:`terminal`."""
        warnings.warn(
            "WatchStats.ended is deprecated: use WatchStats.terminal",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.terminal

    @property
    def failed(self) -> int:
        """Deprecated name of :attr:`watch_errors` (it never counted FAILED commands)."""
        warnings.warn(
            "WatchStats.failed is deprecated: it counts watch errors, not FAILED commands; "
            "use WatchStats.watch_errors",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.watch_errors


class Listeners(list["Callable[[WatchEvent], object]"]):
    """The engine's listeners; empty (false) unless someone listens, so events cost nothing."""

    def add(self, listener: Callable[[WatchEvent], object]) -> Callable[[], None]:
        """Call ``listener(event)`` for every event from now on; returns a remover."""
        self.append(listener)

        def remove() -> None:
            if listener in self:
                self.remove(listener)

        return remove

    def emit(self, event: WatchEvent) -> None:
        """Call every listener; one that raises is logged and the others still run."""
        for listener in list(self):
            try:
                listener(event)
            except Exception:
                log.exception("watch listener %r failed on %s", listener, event.kind)
