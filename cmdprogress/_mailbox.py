"""The mailbox of one watcher: what the engine delivers, waiting for the consumer.

Every watcher has one, bounded in bytes. A snapshot is
delivered when it differs from the last one that watcher got (value
equality). A lagging consumer gets the latest snapshot of a state instead
of each intermediate one (a new snapshot in the same state replaces the
pending one), but the first snapshot, every state transition and the
terminal snapshot are kept, in order; commands are served round-robin.
Snapshots waiting for one watcher are held to :data:`MAX_PENDING_BYTES`
(4 MiB, estimated) beyond each command's first and newest: only a consumer
that falls that far behind a flapping command loses snapshots, the oldest
after the head first, and the next snapshot it gets counts them in
``CommandProgress.missed`` (also in ``stats.overflowed``).

A pure data structure: the scheduler fills it, the
:class:`~cmdprogress._watcher.Watcher` drains it.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Final, TypeAlias

import attrs

from ._events import WatchStats
from ._models import CommandProgress, CommandState

if TYPE_CHECKING:
    import asyncio

    from .exceptions import ClientClosedError

__all__ = ["MAX_PENDING_BYTES", "TERMINAL", "_Inbox", "_footprint"]

MAX_PENDING_BYTES = 4 << 20
"""Estimated bytes of snapshots that may wait for one watcher beyond each command's first
and newest (see :class:`_Inbox` and ``docs/guarantees.md``)."""
_SNAPSHOT_BYTES: Final = 640
_ENTRY_BYTES: Final = 160
_ERROR_BYTES: Final = 4096
_Item: TypeAlias = CommandProgress | Exception
TERMINAL: Final = tuple(s for s in CommandState if s.is_terminal)
"""The terminal states (``CommandState.is_terminal``), for a quick ``p.state in TERMINAL``
(a tuple: members are found by identity, where a set would call ``Enum.__hash__``)."""


def _footprint(item: _Item) -> int:
    """A generous estimate of the bytes ``item`` keeps alive while it waits in a mailbox.

    An object header per value plus each text's length: 0.9 to 2.5 x what
    ``tracemalloc`` measures for a decoded snapshot (about 1 x with texts in its steps).
    """
    if item.__class__ is not CommandProgress:
        return _ERROR_BYTES  # an error: its message, context and traceback
    p: CommandProgress = item  # type: ignore[assignment,unused-ignore]  # checked above
    size = _SNAPSHOT_BYTES + len(p.error_description) + len(p.raw_state)
    steps = p.steps
    if steps:
        size += len(steps) * _ENTRY_BYTES
        for s in steps:
            size += len(s.name) + len(s.description)
    failed = p.failed_entities
    if failed:
        size += len(failed) * _ENTRY_BYTES
        for f in failed:
            size += len(f.entity) + len(f.operation_type)
    return size


class _Entry:
    """One item waiting in a mailbox: its footprint, the entries dropped just before it,
    and whether it is the command's first snapshot for this watcher (never coalesced)."""

    __slots__ = ("first", "item", "missed", "size")

    def __init__(self, item: _Item, size: int, first: bool = False) -> None:
        self.item = item
        self.size = size
        self.missed = 0
        self.first = first


class _Inbox:
    """The mailbox of one watcher: per command, coalescing, bounded in bytes, round-robin.

    The rule (``docs/guarantees.md``, "A consumer that lags behind"):

    - every state transition is queued; a snapshot in the same state as the one
      queued before it replaces it (coalescing), except the command's first one;
    - the first snapshot, the newest item, terminal snapshots and errors are always kept;
    - while the watcher's queued snapshots estimate over :data:`MAX_PENDING_BYTES`,
      queuing one more drops that command's oldest queued ones after the head
      (counted in ``stats.overflowed``); the next one handed out says how many
      were dropped just before it in ``CommandProgress.missed``.

    Pure data structure; the engine fills it, the :class:`Watcher` drains it.
    """

    __slots__ = (
        "__weakref__",
        "active",
        "bytes",
        "closed_error",
        "last",
        "pending",
        "ready",
        "stats",
        "waiter",
    )

    def __init__(self, stats: WatchStats | None = None) -> None:
        self.active: set[int] = set()  # ids registered with the engine
        self.last: dict[int, CommandProgress | None] = {}  # last delivered (or since)
        # Per command, its entries oldest first.
        self.pending: dict[int, collections.deque[_Entry]] = {}
        self.bytes = 0  # the footprint of everything pending
        self.ready: collections.deque[int] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None  # the consumer waiting, if any
        self.closed_error: ClientClosedError | None = None
        self.stats = stats if stats is not None else WatchStats()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def deliver(self, cid: int, p: CommandProgress, unlike: CommandProgress | None = None) -> None:
        """Queue ``p`` for command ``cid`` unless this watcher already has it.

        ``unlike``: a snapshot the caller knows differs from ``p`` (the
        engine's previous one); a watcher whose last is that very object gets
        ``p`` without comparing the two again.
        """
        last = self.last.get(cid)
        if last is not unlike and last == p:
            return
        if p.state in TERMINAL:
            self.last.pop(cid, None)
            self.active.discard(cid)
        else:
            self.last[cid] = p
        self.stats.delivered += 1
        self._append(cid, p, first=last is None)

    def fail(self, cid: int, error: Exception) -> None:
        """Queue the error that ends command ``cid`` for this watcher."""
        self.last.pop(cid, None)
        self.active.discard(cid)
        self._append(cid, error)

    def _append(self, cid: int, item: _Item, *, first: bool = False) -> None:
        size = _footprint(item)
        self.bytes += size
        q = self.pending.get(cid)
        if q is None:
            self.pending[cid] = collections.deque((_Entry(item, size, first),))
            self.ready.append(cid)
            self._wake()
            return
        tail = q[-1]
        previous = tail.item
        if (
            isinstance(item, CommandProgress)
            and isinstance(previous, CommandProgress)
            and not tail.first
            and previous.state is item.state
            and previous.state not in TERMINAL
            and previous.raw_state == item.raw_state
        ):
            self.bytes -= tail.size
            tail.item = item
            tail.size = size
            self.stats.coalesced += 1
        else:
            q.append(_Entry(item, size))
            if (
                self.bytes > MAX_PENDING_BYTES
                and isinstance(item, CommandProgress)
                and item.state not in TERMINAL
            ):
                self._shed(q)
        self._wake()

    def _shed(self, q: collections.deque[_Entry]) -> None:
        """Drop ``q``'s oldest entries after its head until the mailbox fits its budget.

        Only non-terminal snapshots lie between the head and the newest entry, so
        the entry after a dropped one is a snapshot: it carries the gap.
        """
        while self.bytes > MAX_PENDING_BYTES and len(q) > 2:
            dropped = q[1]
            del q[1]
            q[1].missed += dropped.missed + 1
            self.bytes -= dropped.size
            self.stats.overflowed += 1

    def pop(self) -> tuple[int, _Item] | None:
        """Take the next item, round-robin across commands; ``None`` if nothing waits."""
        ready = self.ready
        pending = self.pending
        while ready:
            cid = ready.popleft()
            q = pending.get(cid)
            if q is None:
                continue
            entry = q.popleft()
            self.bytes -= entry.size
            if q:
                ready.append(cid)
            else:
                del pending[cid]
            item = entry.item
            if entry.missed and isinstance(item, CommandProgress):
                item = attrs.evolve(item, missed=entry.missed)
            return cid, item
        return None

    def drop(self, cid: int) -> None:
        """Forget command ``cid`` entirely (pending items included)."""
        self.active.discard(cid)
        self.last.pop(cid, None)
        q = self.pending.pop(cid, None)
        if q is not None:
            self.bytes -= sum([entry.size for entry in q])

    def clear(self) -> None:
        """Forget every pending item."""
        self.pending.clear()
        self.ready.clear()
        self.bytes = 0

    def close(self, error: ClientClosedError) -> None:
        """The engine is gone: wake the consumer with ``error`` once the pending items are read."""
        self.closed_error = error
        self.active.clear()
        self._wake()
