"""The polling engine: one scheduler per client.

The model
=========

- **One scheduler.** Each client keeps one heap of watched commands ordered
  by their next due time, and at most ``max_concurrency`` fetch workers
  (started on demand). A worker whose poll ends takes the next due command
  straight off the heap; while none is due, idle workers wait on futures and
  a single loop timer, set for the earliest due time, hands them what falls
  due (no hop through a queue, no task per command). A command is polled
  once per due time however many watchers it has; nothing is polled for a
  command nobody watches. Cost per poll: one heap push-pop (O(log n)); an
  answer whose body is identical to the previous one is not decoded again.
- **Cadence.** The first poll of a command is immediate; after each answer
  the command's :class:`~cmdprogress._cadence.Cadence` gives the delay to the
  next one (that module states the rule). While the polls the cadences ask
  for exceed the limit of the client's :class:`~cmdprogress._pacing.Pacer`
  (learned from 429/503 answers), every delay is stretched by the same factor
  (up to ``max_interval``), so polls are what slows down.
- **Stopping.** A command nobody watches any more is dropped from the heap
  and its poll in flight, if any, is cancelled.
- **Errors** are per command (:mod:`cmdprogress._poll_errors` decides which
  end the command's watch); the others go on.

The engine is given what it needs as values (the poll to call, the policy,
its limits, the pacer's stretch, a clock) and never sees the client. Its
parts: this scheduler; the mailboxes it fills (:mod:`cmdprogress._mailbox`);
the watchers that drain them (:mod:`cmdprogress._watcher`); the per-command
error policy (:mod:`cmdprogress._poll_errors`); its events and counters
(:mod:`cmdprogress._events`).
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
from typing import TYPE_CHECKING, Final

from ._cadence import Cadence
from ._events import Listeners, WatchEvent, WatchStats
from ._mailbox import TERMINAL
from ._models import CommandProgress
from ._poll_errors import PollFailures
from .exceptions import ClientClosedError, CommandStalledError, InvalidArgumentError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from ._engine_inputs import Clock, PollFn, Timer
    from ._mailbox import _Inbox
    from ._policy import PollPolicy

__all__ = ["KEEP_POLL_COUNTS", "Engine"]

log = logging.getLogger("cmdprogress.watch")

KEEP_POLL_COUNTS = 1024
"""Commands no longer watched whose entry stays on ``client.stats.requests_by_command``."""
_CANCELLED: Final = object()
"""``_Command.poller`` of a command whose poll in flight was cancelled by ``_drop``."""


class _Command:
    """The scheduler's record of one watched command (a few hundred bytes)."""

    __slots__ = (
        "cadence",
        "changed_at",
        "cid",
        "demand",
        "digest",
        "failures",
        "last",
        "poller",
        "seq",
        "watchers",
    )

    def __init__(self, cid: int) -> None:
        self.cid = cid
        self.watchers: dict[_Inbox, None] = {}
        self.last: CommandProgress | None = None
        self.changed_at = 0.0
        self.cadence = Cadence()
        self.demand = 0.0  # polls per second its cadence asks for (1 / the last delay)
        self.seq = -1
        self.digest = b""  # of the body that gave ``last`` (identical body: no decoding)
        # While a poll is in flight: the worker task running it (_drop() cancels it),
        # then _CANCELLED once it was cancelled.
        self.poller: asyncio.Task[None] | object = None
        self.failures: PollFailures | None = None  # from a failed poll until one answers


class Engine:
    """The one scheduler of a client; private (the client's methods are the way in).

    The client enters it on ``async with`` and leaves it first on exit.

    - ``poll``: the poll of one command (see :data:`~cmdprogress._engine_inputs.PollFn`);
    - ``policy``: the cadence and error limits (:attr:`policy` may be replaced while it runs);
    - ``max_workers``: the most polls in flight at once;
    - ``poll_stretch``: the pacer's factor for a total demand in polls per second;
    - ``max_retry_after``: the longest ``Retry-After`` a throttled poll waits;
    - ``request_counts``: ``client.stats.requests_by_command``, kept bounded;
    - ``clock``: time and timer (default: the running loop).
    """

    def __init__(
        self,
        poll: PollFn,
        *,
        policy: PollPolicy,
        max_workers: int,
        poll_stretch: Callable[[float], float],
        max_retry_after: float,
        request_counts: collections.Counter[int],
        clock: Clock | None = None,
    ) -> None:
        self._poll = poll
        self.policy = policy
        self.stats = WatchStats()
        self._poll_stretch = poll_stretch
        self._request_counts = request_counts
        self._max_retry_after = max_retry_after
        self._given_clock = clock
        self._clock: Clock | None = None
        self._demand = 0.0  # polls per second all the cadences ask for (see _paced)
        self._commands: dict[int, _Command] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._seq = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        # The engine's own context, for the timer and the workers it starts.
        self._context: contextvars.Context | None = None
        # One loop timer, armed for the earliest due command while a worker could take it,
        # and the loop time it is set for (handles of other loops, uvloop's, have no when()).
        self._timer: Timer | None = None
        self._timer_due = 0.0
        # The fetch workers: started with loop.create_task only (nothing but the public
        # AbstractEventLoop API runs in loop callbacks), cancelled and awaited on exit.
        self._tasks: set[asyncio.Task[None]] = set()
        # The first error a worker died of: raised when the client's block ends.
        self._crash: BaseException | None = None
        self._workers = 0
        # Idle workers, each waiting on a future that the timer resolves with a due command.
        self._idle: list[asyncio.Future[_Command]] = []
        self._max_workers = max_workers
        self._open = False
        self._inboxes: weakref.WeakSet[_Inbox] = weakref.WeakSet()
        self._listeners = Listeners()
        self._random = random.Random()
        # Commands no longer watched (or only fetched) whose poll count is still on
        # client.stats.requests_by_command, oldest first: beyond KEEP_POLL_COUNTS their entry goes.
        self._retired: collections.OrderedDict[int, None] = collections.OrderedDict()

    # -- lifetime ----------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        self._loop = loop = asyncio.get_running_loop()
        self._clock = loop if self._given_clock is None else self._given_clock
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
        return self._listeners.add(listener)

    def requests_for(self, command_id: int) -> int:
        """Progress requests sent for ``command_id`` so far (``stats.requests_by_command``)."""
        return int(self._request_counts[command_id])

    def polls(self, command_id: int) -> int:
        """Deprecated name of :meth:`requests_for` (it counts requests, not engine polls)."""
        warnings.warn(
            "Engine.polls(id) is deprecated: use client.requests_for(id)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.requests_for(command_id)

    # -- registration (called by watchers) -----------------------------------------------

    def register(self, inbox: _Inbox, cid: int, since: CommandProgress | None) -> None:
        """Add ``inbox`` as a watcher of ``cid``, starting to poll it if needed."""
        self.check_open()
        cmd = self._commands.get(cid)
        if cmd is None:
            limit = self.policy.max_commands
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
            assert self._clock is not None
            self._schedule(cmd, self._clock.time())
            log.debug("command %d: watching", cid)
            if self._listeners:
                self._listeners.emit(WatchEvent("watch", cid))
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
                self._listeners.emit(WatchEvent("unwatch", cid))

    def retire(self, cid: int) -> None:
        """``cid`` is not watched (any more): its poll count may go once it is old enough.

        Keeps ``client.stats.requests_by_command`` bounded for a client that runs for ever.
        """
        if cid in self._commands:
            return
        retired = self._retired
        retired.pop(cid, None)
        retired[cid] = None
        if len(retired) > KEEP_POLL_COUNTS:
            old, _ = retired.popitem(last=False)
            self._request_counts.pop(old, None)

    def _drop(self, cmd: _Command) -> None:
        if self._commands.get(cmd.cid) is cmd:
            del self._commands[cmd.cid]
            self.stats.watched = len(self._commands)
            self.retire(cmd.cid)
        cmd.seq = -1  # its heap entry, if any, is now stale
        self._demand = self._demand - cmd.demand if self._commands else 0.0
        cmd.demand = 0.0
        task = cmd.poller
        if isinstance(task, asyncio.Task):
            cmd.poller = _CANCELLED
            task.cancel()  # the poll in flight; its worker takes that as its own (see _poll)

    # -- the scheduler -------------------------------------------------------------------

    def _schedule(self, cmd: _Command, due: float) -> None:
        cmd.seq = seq = next(self._seq)
        entry = (due, seq, cmd.cid)
        heap = self._heap
        heapq.heappush(heap, entry)
        if heap[0] is entry:
            self._arm()

    def _requeue(self, cmd: _Command, due: float, now: float) -> _Command | None:
        """Put ``cmd`` back on the heap for ``due`` and take the first command due by ``now``,
        in one push-pop; ``None``: none was due, or the entry taken off was stale."""
        cmd.seq = seq = next(self._seq)
        entry = (due, seq, cmd.cid)
        heap = self._heap
        top = heapq.heappushpop(heap, entry)
        top_due, top_seq, top_cid = top
        taken = self._commands.get(top_cid)
        if taken is None or taken.seq != top_seq:
            taken = None  # stale: dropped
        elif top_due <= now:
            taken.seq = -1
        else:
            heapq.heappush(heap, top)
            taken = None
        if heap and heap[0] is entry:
            self._arm()
        return taken

    def _earliest(self) -> tuple[float, _Command] | None:
        """The earliest due time and its command (stale heap entries are discarded)."""
        heap = self._heap
        commands = self._commands
        while heap:
            due, seq, cid = heap[0]
            cmd = commands.get(cid)
            if cmd is not None and cmd.seq == seq:
                return due, cmd
            heapq.heappop(heap)
        return None

    def _pop_due(self, now: float) -> _Command | None:
        """Take the first command due by ``now`` off the heap."""
        first = self._earliest()
        if first is None or first[0] > now:
            return None
        heapq.heappop(self._heap)
        cmd = first[1]
        cmd.seq = -1
        return cmd

    def _arm(self) -> None:
        """Set the timer for the earliest due command, if a worker could take it then.

        While every worker is busy no timer is needed: a worker takes the next
        due command itself when its poll ends.
        """
        if not self._open or (not self._idle and self._workers >= self._max_workers):
            return
        first = self._earliest()
        if first is None:
            return
        due = first[0]
        timer = self._timer
        if timer is not None:
            if self._timer_due <= due:
                return  # fires in time; it re-arms for what is due next
            timer.cancel()
        assert self._clock is not None
        self._timer_due = due
        self._timer = self._clock.call_at(due, self._on_timer, context=self._context)

    def _on_timer(self) -> None:
        """Hand the due commands to idle workers (starting workers up to the limit)."""
        self._timer = None
        if not self._open:
            return
        loop = self._loop
        assert loop is not None
        assert self._clock is not None
        # The loop runs a timer up to its clock resolution early: count it as due.
        now = max(self._clock.time(), self._timer_due)
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
        """Poll due commands one after the other, each poll inlined (the engine's hot loop);
        wait on a future while none is due."""
        assert self._loop is not None
        assert self._clock is not None
        loop = self._loop
        clock = self._clock
        task = asyncio.current_task(loop)
        assert task is not None
        idle = self._idle
        commands = self._commands
        poll = self._poll
        stats = self.stats
        # Cleared after each poll: a snapshot or an error (its traceback holding the
        # frames of the request) must not stay alive while this worker idles.
        outcome: CommandProgress | Exception | None = None
        while True:
            if cmd is None:
                cmd = self._pop_due(clock.time())
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
                            self._schedule(waiter.result(), clock.time())
                        raise
            # -- one poll of cmd --
            cid = cmd.cid
            if commands.get(cid) is not cmd:
                cmd = None
                continue
            start = clock.time()
            # _drop() cancels this task while cmd.poller is it, and marks the command
            # _CANCELLED: that one cancellation is taken back here (uncancel), any
            # other (the client closing, a deadline around it) goes on.
            cmd.poller = task
            try:
                outcome, digest = await poll(cid, cmd.last, cmd.digest)
            except Exception as e:
                outcome, digest = e, cmd.digest
            except asyncio.CancelledError:
                if cmd.poller is not _CANCELLED or task.uncancel() > 0:
                    cmd.poller = None
                    raise
                cmd = None  # dropped while in flight: nobody wants the answer
                continue
            if cmd.poller is _CANCELLED:
                task.uncancel()  # cancelled too late to interrupt: the answer is dropped
                cmd = outcome = None
                continue
            cmd.poller = None
            polled, cmd = cmd, None
            if commands.get(cid) is polled:
                now = clock.time()
                stats.polls += 1
                if isinstance(outcome, CommandProgress):
                    polled.digest = digest
                    due = self._on_snapshot(polled, outcome, now, now - start)
                else:
                    due = self._on_error(polled, outcome, now)
                if due is not None:
                    cmd = self._requeue(polled, due, now)
            outcome = None

    def _on_snapshot(
        self, cmd: _Command, p: CommandProgress, now: float, elapsed: float
    ) -> float | None:
        """Handle an answer; the time ``cmd`` is due again, ``None`` if its watch ended."""
        cmd.failures = None
        last = cmd.last
        changed = p is not last and p != last  # `is`: a repeated body, not decoded
        delay = cmd.cadence.next_delay(
            self.policy, now - elapsed, now, last, p, self._random, changed=changed
        )
        delay = self._paced(cmd, delay)
        if self._listeners:
            self._listeners.emit(WatchEvent("poll", cmd.cid, progress=p, elapsed=elapsed))
        if changed:
            cmd.last = p
            cmd.changed_at = now
            self.stats.changes += 1
            if self._listeners:
                self._listeners.emit(WatchEvent("change", cmd.cid, progress=p))
            # Delivering never changes cmd.watchers (it only queues and wakes: the
            # consumer runs later), so the dict is iterated as it is.
            for inbox in cmd.watchers:
                inbox.deliver(cmd.cid, p, last)
            if p.state in TERMINAL:
                log.debug("command %d: %s, watch ends", cmd.cid, p.state.value)
                self.stats.terminal += 1
                self._drop(cmd)
                if self._listeners:
                    self._listeners.emit(WatchEvent("end", cmd.cid, progress=p))
                return None
        else:
            stall = self.policy.stall_timeout
            if stall is not None and now - cmd.changed_at >= stall:
                self._end_with(cmd, CommandStalledError(p, now - cmd.changed_at))
                return None
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "command %d: %s %.1f%%%s, next poll in %.3fs",
                cmd.cid,
                p.raw_state,
                p.total_progress,
                " (changed)" if changed else "",
                delay,
            )
        return now + delay

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
        stretch = self._poll_stretch(self._demand)
        if stretch > 1.0:
            delay = max(delay, min(delay * stretch, self.policy.max_interval))
        return delay

    def _on_error(self, cmd: _Command, error: Exception, now: float) -> float | None:
        """Handle a failed poll; the time ``cmd`` is due again, ``None`` if its watch ended."""
        failures = cmd.failures
        if failures is None:
            cmd.failures = failures = PollFailures()
        wait = failures.retry_in(error, now, self.policy, self._max_retry_after)
        if wait is None:
            self._end_with(cmd, error)
            return None
        self.stats.retried += 1
        log.debug(
            "command %d: poll failed (%s: %s), trying again in %.3fs",
            cmd.cid,
            type(error).__name__,
            error,
            wait,
        )
        if self._listeners:
            self._listeners.emit(WatchEvent("retry", cmd.cid, error=error))
        return now + wait

    def _end_with(self, cmd: _Command, error: Exception) -> None:
        log.debug("command %d: watch ends with %s: %s", cmd.cid, type(error).__name__, error)
        self.stats.watch_errors += 1
        for inbox in list(cmd.watchers):
            inbox.fail(cmd.cid, error)
        self._drop(cmd)
        if self._listeners:
            self._listeners.emit(WatchEvent("end", cmd.cid, error=error))
