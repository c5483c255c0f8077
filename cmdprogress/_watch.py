"""The polling engine: one scheduler per client, and the watcher streams.

The model
=========

- **One scheduler.** Each client keeps one heap of watched commands ordered
  by their next due time, and at most ``max_concurrency`` fetch workers
  (started on demand). A worker whose poll ends takes the next due command
  straight off the heap; while none is due, idle workers wait on futures and
  a single loop timer, set for the earliest due time, hands them what falls
  due (no hop through a queue, no task per command). A command is polled
  once per due time however many watchers it has; nothing is polled for a
  command nobody watches. Cost per poll: one heap push and pop (O(log n)); an
  answer whose body is identical to the previous one is not decoded again.
- **Cadence.** The first poll of a command is immediate; after each answer
  the command's :class:`~cmdprogress._cadence.Cadence` gives the delay to the
  next one (see that module): back-off from ``interval`` towards
  ``max_interval`` while the command is not moving; while it moves steadily,
  polls aimed just after the instant its next change is due, estimated from
  when the last few changes were seen; an early look for the end; jitter.
  Requests also pass the client's :class:`~cmdprogress._pacing.Pacer` (the
  rate limit learned from 429/503 answers, a ceiling); while the polls the
  cadences ask for exceed that limit, every delay is stretched by the same
  factor (up to ``max_interval``), so polls are what slows down.
- **Watchers.** Every watcher has a mailbox, bounded in bytes. A snapshot is
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
- **Errors** are per command: 404 (``UnknownCommandError``), a response that
  stays malformed (3 polls in a row), a stall (``PollPolicy.stall_timeout``),
  or transient failures (connection refused, timeouts, 5xx) lasting longer
  than ``PollPolicy.outage_grace`` after the transport's own retries end
  that command's watch; the others go on. A session expiry is handled by the
  transport and never reaches the engine. A watch of one command raises the
  error; a multi-command watch raises it after every other command ended: a
  :class:`~cmdprogress.exceptions.CommandErrorGroup`, even of one (with the others'
  terminal snapshots on ``.results``). ``wait_all(..., return_exceptions=True)``
  puts errors in the result instead.
- **Stopping.** Leaving ``async for`` (break, exception, cancellation,
  deadline), ``aclose()``, leaving ``async with`` or closing the client
  unregisters the watcher at once; a command nobody watches any more is
  dropped from the heap and its in-flight request, if any, is cancelled.
  Nothing is sent to the Manager to stop a watch.
- **Resume.** ``watch(cid, since=last)`` (and ``Watcher.resume(last)``) yields
  only snapshots that differ from ``last``; if ``last`` is already terminal
  nothing is yielded and no request is made.

Watcher objects are async iterators, not async generators, so they never
``yield`` from inside a task group or cancel scope, and leaving ``async for``
releases them synchronously.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import heapq
import itertools
import logging
import random
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeAlias, overload

import attrs

from ._cadence import Cadence
from ._checkpoint import make_checkpoint
from ._models import CommandProgress, CommandState
from .exceptions import (
    ClientClosedError,
    CommandErrorGroup,
    CommandFailed,
    CommandStalledError,
    ConnectError,
    HTTPStatusError,
    InvalidArgumentError,
    MalformedResponseError,
    RequestTimeoutError,
    ResponseTooLargeError,
    UnknownCommandError,
)

if TYPE_CHECKING:
    from types import TracebackType

    from ._client import Client
    from ._policy import PollPolicy

__all__ = ["Engine", "WatchEvent", "WatchStats", "Watcher"]

log = logging.getLogger("cmdprogress.watch")

MAX_PENDING_BYTES = 4 << 20
"""Estimated bytes of snapshots that may wait for one watcher beyond each command's first
and newest (see :class:`_Inbox` and ``docs/guarantees.md``)."""
_SNAPSHOT_BYTES: Final = 640
_ENTRY_BYTES: Final = 160
_ERROR_BYTES: Final = 4096
MAX_MALFORMED = 3
"""Malformed answers in a row after which a command's watch ends."""
KEEP_POLL_COUNTS = 1024
"""Commands no longer watched whose entry stays on ``client.stats.polls`` (the latest ones)."""
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_THROTTLE_STATUS = frozenset({429, 503})
_CANCELLED: Final = object()
"""``_Command.scope`` of a command whose poll in flight was cancelled by ``_drop``."""

_Item: TypeAlias = CommandProgress | Exception
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

        client.engine.add_listener(on_event)
    """

    kind: EventKind
    command_id: int
    progress: CommandProgress | None = None
    error: Exception | None = None
    elapsed: float = 0.0


@attrs.define
class WatchStats:
    """Counters of the polling engine (``client.engine.stats``); requests are on ``client.stats``.

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


class _Command:
    """The scheduler's record of one watched command (a few hundred bytes)."""

    __slots__ = (
        "cadence",
        "changed_at",
        "cid",
        "delay",
        "demand",
        "digest",
        "failing_since",
        "last",
        "malformed",
        "scope",
        "seq",
        "watchers",
    )

    def __init__(self, cid: int) -> None:
        self.cid = cid
        self.watchers: dict[_Inbox, None] = {}
        self.last: CommandProgress | None = None
        self.changed_at = 0.0
        self.cadence = Cadence()
        self.delay = 0.0  # back-off after failed polls
        self.demand = 0.0  # polls per second its cadence asks for (1 / the last delay)
        self.seq = -1
        self.digest = b""  # of the body that gave ``last`` (identical body: no decoding)
        # While a poll is in flight: the worker task running it (_drop() cancels it),
        # then _CANCELLED once it was cancelled.
        self.scope: asyncio.Task[None] | object = None
        self.malformed = 0
        self.failing_since: float | None = None


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
        size += len(steps) * _ENTRY_BYTES + sum([len(s.name) + len(s.description) for s in steps])
    failed = p.failed_entities
    if failed:
        size += len(failed) * _ENTRY_BYTES + sum(
            [len(f.entity) + len(f.operation_type) for f in failed]
        )
    return size


class _Entry:
    """One item waiting in a mailbox, its footprint, and the entries dropped just before it."""

    __slots__ = ("item", "missed", "size")

    def __init__(self, item: _Item, size: int) -> None:
        self.item = item
        self.size = size
        self.missed = 0


class _Queue:
    """The entries of one command waiting for one watcher, oldest first.

    ``first``: the head is the command's first snapshot for this watcher (never coalesced).
    """

    __slots__ = ("bytes", "entries", "first")

    def __init__(self, entry: _Entry, first: bool) -> None:
        self.entries: collections.deque[_Entry] = collections.deque((entry,))
        self.bytes = entry.size
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
        self.pending: dict[int, _Queue] = {}
        self.bytes = 0  # the footprint of everything pending
        self.ready: collections.deque[int] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None  # the consumer waiting, if any
        self.closed_error: ClientClosedError | None = None
        self.stats = stats if stats is not None else WatchStats()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def deliver(self, cid: int, p: CommandProgress) -> None:
        """Queue ``p`` for command ``cid`` unless this watcher already has it."""
        last = self.last.get(cid)
        if last == p:
            return
        if p.is_terminal:
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
            self.pending[cid] = _Queue(_Entry(item, size), first)
            self.ready.append(cid)
            self._wake()
            return
        q.bytes += size
        entries = q.entries
        tail = entries[-1]
        previous = tail.item
        if (
            isinstance(item, CommandProgress)
            and isinstance(previous, CommandProgress)
            and not previous.is_terminal
            and previous.state is item.state
            and previous.raw_state == item.raw_state
            and not (q.first and len(entries) == 1)
        ):
            self.bytes -= tail.size
            q.bytes -= tail.size
            tail.item = item
            tail.size = size
            self.stats.coalesced += 1
        else:
            entries.append(_Entry(item, size))
            if (
                self.bytes > MAX_PENDING_BYTES
                and isinstance(item, CommandProgress)
                and not item.is_terminal
            ):
                self._shed(q)
        self._wake()

    def _shed(self, q: _Queue) -> None:
        """Drop ``q``'s oldest entries after its head until the mailbox fits its budget.

        Only non-terminal snapshots lie between the head and the newest entry, so
        the entry after a dropped one is a snapshot: it carries the gap.
        """
        entries = q.entries
        while self.bytes > MAX_PENDING_BYTES and len(entries) > 2:
            dropped = entries[1]
            del entries[1]
            entries[1].missed += dropped.missed + 1
            self.bytes -= dropped.size
            q.bytes -= dropped.size
            self.stats.overflowed += 1

    def pop(self) -> tuple[int, _Item] | None:
        """Take the next item, round-robin across commands; ``None`` if nothing waits."""
        while self.ready:
            cid = self.ready.popleft()
            q = self.pending.get(cid)
            if q is None:
                continue
            entry = q.entries.popleft()
            q.first = False
            q.bytes -= entry.size
            self.bytes -= entry.size
            if q.entries:
                self.ready.append(cid)
            else:
                del self.pending[cid]
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
            self.bytes -= q.bytes

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


class Watcher(AsyncIterator[CommandProgress]):
    """A live stream of snapshots of a changing set of commands.

    Get one from ``client.watch(cid)``, ``client.watch_many(ids)`` or
    ``client.watcher(ids)``. Iterate it with ``async for``: each snapshot that
    differs from the last one of its command, ending when every command has
    ended (or, with ``close_when_done=False``, when :meth:`close` is called).
    Commands can be added and dropped while it runs. Leaving the loop, the
    ``async with`` block or calling :meth:`aclose` stops polling at once for
    the commands nobody else watches.

    Example::

        async with client.watcher([11, 12]) as w:
            async for p in w:
                print(p.command_id, p.state, p.total_progress)
                if p.command_id == 11 and p.total_progress > 50:
                    w.add(13)  # watch one more
                    w.discard(12)  # no longer interested in this one
        w.results  # {11: <terminal snapshot>, 13: <terminal snapshot>}

    Errors of single commands are raised when the stream ends (see
    :mod:`cmdprogress` docs: a ``CommandErrorGroup``, even of one), and are
    also kept on :attr:`errors`.
    """

    __slots__ = (
        "_closed",
        "_engine",
        "_group",
        "_inbox",
        "_initial",
        "_keep",
        "_owed",
        "_raise",
        "_started",
        "_until_done",
        "errors",
        "results",
    )

    def __init__(
        self,
        engine: Engine,
        command_ids: Iterable[int] = (),
        *,
        since: Iterable[CommandProgress] = (),
        close_when_done: bool = True,
        raise_errors: bool = True,
        group_errors: bool = True,
        keep_results: bool = True,
    ) -> None:
        self._engine = engine
        from ._client import validate_since  # here: the client module imports this one

        self._inbox = _Inbox(engine.stats)
        # A snapshot's id reaches a URL like any other: checked (ints, >= 0, < 2**63).
        since_by_id = {p.command_id: p for p in map(validate_since, since)}
        self._initial: dict[int, CommandProgress | None] = {}
        for cid in command_ids:
            self._initial[cid] = since_by_id.get(cid)
        for cid, p in since_by_id.items():
            self._initial.setdefault(cid, p)
        self._until_done = close_when_done
        self._raise = raise_errors
        self._group = group_errors
        self._keep = keep_results
        self._started = False
        self._closed = False
        # What the consumer is owed, with the last snapshot it got: the checkpoint.
        self._owed: dict[int, CommandProgress | None] = {}
        self.results: dict[int, CommandProgress] = {}
        """Terminal snapshots handed out so far, by command id (empty with
        ``keep_results=False``, for watchers that run for ever)."""
        self.errors: dict[int, Exception] = {}
        """Errors that ended a command's watch, by command id."""

    # -- the set of commands ---------------------------------------------------------

    @property
    def command_ids(self) -> frozenset[int]:
        """The commands still being polled for this watcher."""
        if not self._started:
            return frozenset(self._initial)
        return frozenset(self._inbox.active)

    def add(self, *command_ids: int) -> None:
        """Watch more commands (already watched ones are left as they are)."""
        for cid in command_ids:
            self._add(cid, None)

    def resume(self, last: CommandProgress) -> None:
        """Watch ``last.command_id`` again, yielding only snapshots different from ``last``.

        Nothing is yielded (and nothing polled) when ``last`` is terminal.
        """
        from ._client import validate_since  # here: the client module imports this one

        self._add(validate_since(last).command_id, last)

    def _add(self, cid: int, since: CommandProgress | None) -> None:
        from ._client import validate_command_id  # here: the client module imports this one

        cid = validate_command_id(cid)
        if self._closed:
            raise ClientClosedError("this watcher is closed; open a new one to watch more commands")
        if not self._started:
            self._initial.setdefault(cid, since)
            return
        self._register(cid, since)

    def _register(self, cid: int, since: CommandProgress | None) -> None:
        if cid in self._inbox.active:
            return
        self.errors.pop(cid, None)
        if since is not None and since.is_terminal:
            if self._keep:
                self.results[cid] = since
            return
        self._engine.register(self._inbox, cid, since)
        self._owed.setdefault(cid, since)

    def discard(self, command_id: int) -> None:
        """Stop watching ``command_id``; snapshots not yet read for it are dropped."""
        if not self._started:
            self._initial.pop(command_id, None)
            return
        if command_id in self._inbox.active:
            self._engine.unregister(self._inbox, command_id)
        self._inbox.drop(command_id)
        self._owed.pop(command_id, None)

    def checkpoint(self) -> dict[str, Any]:
        """Where this watch stands, as plain JSON-able data, to resume from in a new process.

        The ids it watches, each with the last snapshot handed out (see
        :mod:`cmdprogress._checkpoint` and ``docs/engine.md``). Store it after
        handling a snapshot; pass it back as ``client.watcher(resume_from=...)``:
        nothing handed out before comes again, and nothing that changed since is missed.

        Example::

            async for p in w:
                handle(p)
                store.write(json.dumps(w.checkpoint()))
        """
        if not self._started:
            return make_checkpoint(
                {c: p for c, p in self._initial.items() if p is None or not p.is_terminal}
            )
        return make_checkpoint(self._owed)

    def _start(self) -> None:
        if self._started:
            return
        if self._closed:
            raise ClientClosedError("this watcher is closed; open a new one")
        self._engine.check_open()
        self._started = True
        self._engine.stats.watchers += 1
        initial, self._initial = self._initial, {}
        try:
            for cid, since in initial.items():
                self._register(cid, since)
        except BaseException:
            self.close()
            raise

    # -- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Stop at once: unregister every command; iteration ends. Sends nothing."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._engine.stats.watchers -= 1
            for cid in list(self._inbox.active):
                self._engine.unregister(self._inbox, cid)
            self._inbox.active.clear()
        self._inbox.clear()
        self._inbox._wake()

    async def aclose(self) -> None:
        """Same as :meth:`close`, for ``contextlib.aclosing`` and async-generator habits."""
        self.close()

    def __del__(self) -> None:
        # Leaving ``async for`` drops the last reference: stop polling right away.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):  # interpreter shutdown
                self.close()

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- iteration -------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> CommandProgress:
        self._start()
        inbox = self._inbox
        while True:
            nxt = inbox.pop()
            if nxt is not None:
                cid, item = nxt
                if isinstance(item, CommandProgress):
                    if item.is_terminal:
                        self._owed.pop(cid, None)
                        if self._keep:
                            self.results[cid] = item
                    else:
                        self._owed[cid] = item
                    return item
                self.errors[cid] = item
                continue
            if self._closed:
                raise StopAsyncIteration
            if inbox.closed_error is not None:
                self.close()
                raise inbox.closed_error
            if not inbox.active and self._until_done:
                self.close()
                self._raise_errors()
                raise StopAsyncIteration
            # A bare future: anyio.Event looks the backend up on every creation.
            loop = self._engine._loop
            inbox.waiter = waiter = (loop or asyncio.get_running_loop()).create_future()
            try:
                await waiter
            except BaseException:
                # Like an async generator: an exception (cancellation, a deadline)
                # thrown into the wait ends the stream, and polling stops now.
                self.close()
                raise
            finally:
                inbox.waiter = None

    def _raise_errors(self) -> None:
        if not self._raise or not self.errors:
            return
        # Always a group, even of one: the group carries the other commands'
        # terminal snapshots (.results), which a bare error would lose.
        errors = self.errors
        if not self._group:
            # A watch of one command (watch, wait): its error as itself.
            raise next(iter(errors.values()))
        shown = ", ".join(f"{cid} ({type(e).__name__})" for cid, e in list(errors.items())[:10])
        more = ", ..." if len(errors) > 10 else ""
        raise CommandErrorGroup(
            f"{len(errors)} watched command(s) ended with errors: {shown}{more}; "
            "the terminal snapshots of the others are on .results",
            list(errors.values()),
            self.results,
            errors=errors,
        )


class Engine:
    """The one scheduler of a client (``client.engine``): counters and a tracing hook.

    The client enters it on ``async with`` and leaves it first on exit; use
    the client's ``watch``/``watch_many``/``wait``/``wait_all``/``watcher``
    methods, and this object for :attr:`stats` and :meth:`add_listener`.

    Example::

        async with Client(url) as client:
            remove = client.engine.add_listener(lambda e: print(e.kind, e.command_id))
            await client.wait(1234)
            client.engine.stats.polls  # polls made so far
            remove()
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self.stats = WatchStats()
        self._pacer = client._pacer
        self._max_retry_after = client._retry.max_retry_after
        self._demand = 0.0  # polls per second all the cadences ask for (see _paced)
        self._commands: dict[int, _Command] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._seq = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        # The engine's own context, for the timer and the workers it starts.
        self._context: contextvars.Context | None = None
        # One loop timer, armed for the earliest due command while a worker could take it,
        # and the loop time it is set for (handles of other loops, uvloop's, have no when()).
        self._timer: asyncio.Handle | None = None
        self._timer_due = 0.0
        # The fetch workers: started with loop.create_task only (nothing but the public
        # AbstractEventLoop API runs in loop callbacks), cancelled and awaited on exit.
        self._tasks: set[asyncio.Task[None]] = set()
        # The first error a worker died of: raised when the client's block ends.
        self._crash: BaseException | None = None
        self._workers = 0
        # Idle workers, each waiting on a future that the timer resolves with a due command.
        self._idle: list[asyncio.Future[_Command]] = []
        self._max_workers = client._max_concurrency
        self._open = False
        self._inboxes: weakref.WeakSet[_Inbox] = weakref.WeakSet()
        self._listeners: list[Callable[[WatchEvent], object]] = []
        self._random = random.Random()
        # Commands no longer watched (or only fetched) whose poll count is still on
        # client.stats.polls, oldest first: beyond KEEP_POLL_COUNTS their entry goes.
        self._retired: collections.OrderedDict[int, None] = collections.OrderedDict()

    @property
    def _policy(self) -> PollPolicy:
        return self._client.poll

    # -- lifetime ----------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        self._crash = None
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        closed = ClientClosedError(
            "the client was closed while this watch was running; "
            "watch inside the client's `async with` block"
        )
        self._shut(closed)
        tasks = self._tasks
        for task in tasks:
            task.cancel()
        try:
            while tasks:
                await asyncio.wait(list(tasks))  # done callbacks empty the set
        finally:
            self._idle.clear()
            crash, self._crash = self._crash, None
        # A worker's error is not swallowed: it leaves the block, unless the block
        # already raises (then it was logged, and the block's exception goes on as raised).
        if crash is not None and exc is None:
            raise crash

    def _shut(self, error: ClientClosedError) -> None:
        """Stop scheduling; wake every watcher with ``error``."""
        self._open = False
        for inbox in list(self._inboxes):
            inbox.close(error)
        self._commands.clear()
        self._heap.clear()
        self.stats.watched = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None or self._crash is not None:
            return
        # A bug, or a BaseException out of a listener: never hide it. The watches
        # cannot go on without their worker, so they end now, and the error leaves
        # the client's `async with` block.
        self._crash = error
        log.error("a polling worker failed; every watch of this client ends", exc_info=error)
        closed = ClientClosedError(
            f"the polling engine failed ({type(error).__name__}: {error}); "
            "the error is raised when the client's `async with` block ends"
        )
        closed.__cause__ = error
        self._shut(closed)

    def check_open(self) -> None:
        """Raise :class:`ClientClosedError` unless the client is open."""
        if not self._open:
            raise ClientClosedError(
                "the client is not open; use it inside `async with Client(...) as client:`"
            )

    # -- hooks -------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[WatchEvent], object]) -> Callable[[], None]:
        """Call ``listener(event)`` for every :class:`WatchEvent`; returns a remover.

        Listeners run synchronously in the scheduler: keep them quick. An
        exception in a listener is logged and otherwise ignored.
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _emit(self, event: WatchEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("watch listener %r failed on %s", listener, event.kind)

    def polls(self, command_id: int) -> int:
        """Progress requests sent for ``command_id`` so far (``client.stats.polls``)."""
        return int(self._client.stats.polls[command_id])

    # -- registration (called by watchers) -----------------------------------------------

    def register(self, inbox: _Inbox, cid: int, since: CommandProgress | None) -> None:
        """Add ``inbox`` as a watcher of ``cid``, starting to poll it if needed."""
        self.check_open()
        cmd = self._commands.get(cid)
        if cmd is None:
            limit = self._policy.max_commands
            if len(self._commands) >= limit:
                raise InvalidArgumentError(
                    "command_ids",
                    f"cannot watch command {cid}: this client already watches {limit} commands, "
                    "the PollPolicy(max_commands=...) limit; wait for some to end or raise it",
                )
            cmd = _Command(cid)
            self._commands[cid] = cmd
            self._retired.pop(cid, None)
            self.stats.watched = len(self._commands)
            self.stats.peak_watched = max(self.stats.peak_watched, self.stats.watched)
            assert self._loop is not None
            self._schedule(cmd, self._loop.time())
            log.debug("command %d: watching", cid)
            if self._listeners:
                self._emit(WatchEvent("watch", cid))
        self._inboxes.add(inbox)
        inbox.active.add(cid)
        inbox.last[cid] = since
        cmd.watchers[inbox] = None
        if cmd.last is not None:
            inbox.deliver(cid, cmd.last)

    def unregister(self, inbox: _Inbox, cid: int) -> None:
        """Remove ``inbox`` from ``cid``'s watchers; drop the command if none is left."""
        inbox.active.discard(cid)
        cmd = self._commands.get(cid)
        if cmd is None:
            return
        cmd.watchers.pop(inbox, None)
        if not cmd.watchers:
            self._drop(cmd)
            log.debug("command %d: nobody watches it any more, polling stopped", cid)
            if self._listeners:
                self._emit(WatchEvent("unwatch", cid))

    def retire(self, cid: int) -> None:
        """``cid`` is not watched (any more): its poll count may go once it is old enough.

        Keeps ``client.stats.polls`` bounded for a client that runs for ever.
        """
        if cid in self._commands:
            return
        retired = self._retired
        retired.pop(cid, None)
        retired[cid] = None
        if len(retired) > KEEP_POLL_COUNTS:
            old, _ = retired.popitem(last=False)
            self._client.stats.polls.pop(old, None)

    def _drop(self, cmd: _Command) -> None:
        if self._commands.get(cmd.cid) is cmd:
            del self._commands[cmd.cid]
            self.stats.watched = len(self._commands)
            self.retire(cmd.cid)
        cmd.seq = -1  # its heap entry, if any, is now stale
        self._demand = self._demand - cmd.demand if self._commands else 0.0
        cmd.demand = 0.0
        task = cmd.scope
        if isinstance(task, asyncio.Task):
            cmd.scope = _CANCELLED
            task.cancel()  # the poll in flight; its worker takes that as its own (see _poll)

    # -- the scheduler -------------------------------------------------------------------

    def _schedule(self, cmd: _Command, due: float) -> None:
        cmd.seq = seq = next(self._seq)
        entry = (due, seq, cmd.cid)
        heap = self._heap
        heapq.heappush(heap, entry)
        if heap[0] is entry:
            self._arm()

    def _pop_due(self, now: float) -> _Command | None:
        """Take the first command due by ``now`` off the heap (stale entries are discarded)."""
        heap = self._heap
        commands = self._commands
        while heap:
            due, seq, cid = heap[0]
            cmd = commands.get(cid)
            if cmd is None or cmd.seq != seq:
                heapq.heappop(heap)
            elif due > now:
                return None
            else:
                heapq.heappop(heap)
                cmd.seq = -1
                return cmd
        return None

    def _arm(self) -> None:
        """Set the timer for the earliest due command, if a worker could take it then.

        While every worker is busy no timer is needed: a worker takes the next
        due command itself when its poll ends.
        """
        if not self._open or (not self._idle and self._workers >= self._max_workers):
            return
        heap = self._heap
        commands = self._commands
        while heap:
            due, seq, cid = heap[0]
            cmd = commands.get(cid)
            if cmd is not None and cmd.seq == seq:
                break
            heapq.heappop(heap)
        else:
            return
        timer = self._timer
        if timer is not None:
            if self._timer_due <= due:
                return  # fires in time; it re-arms for what is due next
            timer.cancel()
        assert self._loop is not None
        self._timer_due = due
        self._timer = self._loop.call_at(due, self._on_timer, context=self._context)

    def _on_timer(self) -> None:
        """Hand the due commands to idle workers (starting workers up to the limit)."""
        self._timer = None
        if not self._open:
            return
        loop = self._loop
        assert loop is not None
        # The loop runs a timer up to its clock resolution early: count it as due.
        now = max(loop.time(), self._timer_due)
        idle = self._idle
        while True:
            while idle and idle[-1].done():  # cancelled: its worker is ending
                idle.pop()
            if not idle and self._workers >= self._max_workers:
                break
            cmd = self._pop_due(now)
            if cmd is None:
                break
            if idle:
                idle.pop().set_result(cmd)  # the worker idle the shortest time
            else:
                self._workers += 1
                assert self._context is not None
                # A loop callback has no current task: only the loop's own API here.
                task = loop.create_task(
                    self._worker(cmd),
                    name="cmdprogress fetch worker",
                    context=self._context.copy(),
                )
                self._tasks.add(task)
                task.add_done_callback(self._worker_done)
        self._arm()

    async def _worker(self, cmd: _Command | None) -> None:
        """Poll due commands one after the other; wait on a future while none is due.

        One poll is inlined here (no coroutine per poll: this is the engine's hot loop).
        """
        assert self._loop is not None
        loop = self._loop
        task = asyncio.current_task(loop)
        assert task is not None
        idle = self._idle
        commands = self._commands
        poll_progress = self._client._poll_progress
        stats = self.stats
        # Cleared after each poll: a snapshot or an error (its traceback holding the
        # frames of the request) must not stay alive while this worker idles.
        outcome: CommandProgress | Exception | None = None
        while True:
            if cmd is None:
                cmd = self._pop_due(loop.time())
                if cmd is None:
                    waiter: asyncio.Future[_Command] = loop.create_future()
                    idle.append(waiter)
                    self._arm()
                    try:
                        cmd = await waiter
                    except BaseException:
                        with contextlib.suppress(ValueError):
                            idle.remove(waiter)
                        if waiter.done() and not waiter.cancelled() and self._open:
                            # Cancelled right after being handed a command: give it back.
                            self._schedule(waiter.result(), loop.time())
                        raise
            # -- one poll of cmd --
            cid = cmd.cid
            if commands.get(cid) is not cmd:
                cmd = None
                continue
            start = loop.time()
            # _drop() cancels this task while cmd.scope is it, and marks the command
            # _CANCELLED: that one cancellation is taken back here (uncancel), any
            # other (the client closing, a deadline around it) goes on.
            cmd.scope = task
            try:
                outcome, digest = await poll_progress(cid, cmd.last, cmd.digest)
            except Exception as e:
                outcome, digest = e, cmd.digest
            except asyncio.CancelledError:
                if cmd.scope is not _CANCELLED or task.uncancel() > 0:
                    cmd.scope = None
                    raise
                cmd = None  # dropped while in flight: nobody wants the answer
                continue
            if cmd.scope is _CANCELLED:
                task.uncancel()  # cancelled too late to interrupt: the answer is dropped
                cmd = outcome = None
                continue
            cmd.scope = None
            if commands.get(cid) is cmd:
                now = loop.time()
                stats.polls += 1
                if isinstance(outcome, CommandProgress):
                    cmd.digest = digest
                    self._on_snapshot(cmd, outcome, now, now - start)
                else:
                    self._on_error(cmd, outcome, now)
            cmd = outcome = None

    def _on_snapshot(self, cmd: _Command, p: CommandProgress, now: float, elapsed: float) -> None:
        cmd.failing_since = None
        cmd.malformed = 0
        cmd.delay = 0.0
        changed = p is not cmd.last and p != cmd.last  # `is`: a repeated body, not decoded
        delay = cmd.cadence.next_delay(self._policy, now - elapsed, now, cmd.last, p, self._random)
        delay = self._paced(cmd, delay)
        if self._listeners:
            self._emit(WatchEvent("poll", cmd.cid, progress=p, elapsed=elapsed))
        if changed:
            cmd.last = p
            cmd.changed_at = now
            self.stats.changes += 1
            if self._listeners:
                self._emit(WatchEvent("change", cmd.cid, progress=p))
            for inbox in list(cmd.watchers):
                inbox.deliver(cmd.cid, p)
            if p.is_terminal:
                log.debug("command %d: %s, watch ends", cmd.cid, p.state.value)
                self.stats.terminal += 1
                self._drop(cmd)
                if self._listeners:
                    self._emit(WatchEvent("end", cmd.cid, progress=p))
                return
        else:
            stall = self._policy.stall_timeout
            if stall is not None and now - cmd.changed_at >= stall:
                self._end_with(cmd, CommandStalledError(p, now - cmd.changed_at))
                return
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "command %d: %s %.1f%%%s, next poll in %.3fs",
                cmd.cid,
                p.raw_state,
                p.total_progress,
                " (changed)" if changed else "",
                delay,
            )
        self._schedule(cmd, now + delay)

    def _paced(self, cmd: _Command, delay: float) -> float:
        """``delay`` stretched while the polls all cadences ask for exceed the pacer's limit.

        Polls are what gets slowed under pressure: every command's cadence
        stretches by the same factor, up to ``max_interval`` (beyond that the
        polls wait their turn at the pacer's limit, so the cadence comes back
        as soon as the limit does), and comes back as the limit recovers.
        """
        demand = 1.0 / delay
        self._demand += demand - cmd.demand
        cmd.demand = demand
        stretch = self._pacer.poll_stretch(self._demand)
        if stretch > 1.0:
            delay = max(delay, min(delay * stretch, self._policy.max_interval))
        return delay

    def _on_error(self, cmd: _Command, error: Exception, now: float) -> None:
        policy = self._policy
        keep = False
        if isinstance(error, MalformedResponseError) and not isinstance(
            error, ResponseTooLargeError
        ):
            cmd.malformed += 1
            keep = cmd.malformed < MAX_MALFORMED
        elif _is_transient(error):
            if cmd.failing_since is None:
                cmd.failing_since = now
            grace = policy.outage_grace
            keep = grace is None or now - cmd.failing_since < grace
        if not keep:
            self._end_with(cmd, error)
            return
        self.stats.retried += 1
        cmd.delay = min(policy.max_interval, max(cmd.delay, policy.interval) * policy.backoff)
        wait = cmd.delay
        if isinstance(error, HTTPStatusError) and error.status in _THROTTLE_STATUS:
            # The poll the Manager throttled waits its Retry-After; the others go on.
            after = error.retry_after
            wait = policy.throttle_pause if after is None else min(after, self._max_retry_after)
        log.debug(
            "command %d: poll failed (%s: %s), trying again in %.3fs",
            cmd.cid,
            type(error).__name__,
            error,
            wait,
        )
        if self._listeners:
            self._emit(WatchEvent("retry", cmd.cid, error=error))
        self._schedule(cmd, now + wait)

    def _end_with(self, cmd: _Command, error: Exception) -> None:
        log.debug("command %d: watch ends with %s: %s", cmd.cid, type(error).__name__, error)
        self.stats.watch_errors += 1
        for inbox in list(cmd.watchers):
            inbox.fail(cmd.cid, error)
        self._drop(cmd)
        if self._listeners:
            self._emit(WatchEvent("end", cmd.cid, error=error))

    # -- the public operations (the client's methods delegate here) -----------------------

    def watcher(
        self,
        command_ids: Iterable[int] = (),
        *,
        since: Iterable[CommandProgress] = (),
        close_when_done: bool = True,
        group_errors: bool = True,
        keep_results: bool = True,
    ) -> Watcher:
        """A :class:`Watcher` over ``command_ids`` (validated by the caller).

        ``group_errors=False`` (a watch of one command) raises a command's
        error as itself instead of in a :class:`CommandErrorGroup`;
        ``keep_results=False`` keeps no terminal snapshots on ``.results``.
        """
        return Watcher(
            self,
            command_ids,
            since=since,
            close_when_done=close_when_done,
            group_errors=group_errors,
            keep_results=keep_results,
        )

    async def wait(self, command_id: int) -> CommandProgress:
        """Wait for the terminal snapshot; raise :class:`CommandFailed` if it is FAILED."""
        last: CommandProgress | None = None
        async with Watcher(self, (command_id,), group_errors=False) as w:
            async for p in w:
                last = p
        assert last is not None
        if last.state is CommandState.FAILED:
            raise CommandFailed(last)
        return last

    @overload
    async def wait_all(
        self, command_ids: Iterable[int], *, return_exceptions: Literal[False] = False
    ) -> dict[int, CommandProgress]: ...
    @overload
    async def wait_all(
        self, command_ids: Iterable[int], *, return_exceptions: Literal[True]
    ) -> dict[int, CommandProgress | Exception]: ...
    @overload
    async def wait_all(
        self, command_ids: Iterable[int], *, return_exceptions: bool
    ) -> dict[int, CommandProgress] | dict[int, CommandProgress | Exception]: ...

    async def wait_all(
        self, command_ids: Iterable[int], *, return_exceptions: bool = False
    ) -> dict[int, CommandProgress] | dict[int, CommandProgress | Exception]:
        """Terminal snapshots of every command, FAILED ones included, in the order given."""
        ids = list(dict.fromkeys(command_ids))
        async with Watcher(self, ids, raise_errors=not return_exceptions) as w:
            async for _ in w:
                pass
        if return_exceptions:
            merged: dict[int, CommandProgress | Exception] = {}
            for cid in ids:
                merged[cid] = w.errors[cid] if cid in w.errors else w.results[cid]
            return merged
        return {cid: w.results[cid] for cid in ids}


def _is_transient(error: Exception) -> bool:
    """Errors an outage produces: worth polling again later (within ``outage_grace``)."""
    if isinstance(error, UnknownCommandError):
        return False
    if isinstance(error, HTTPStatusError):
        return error.status in _TRANSIENT_STATUS
    if isinstance(error, RequestTimeoutError):
        return True
    # Connection refused or reset; TLS and redirect errors are configuration, not outages.
    return isinstance(error, ConnectError)
