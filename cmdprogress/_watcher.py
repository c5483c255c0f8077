"""The watcher: a stream of one consumer over a changing set of commands.

A watcher holds a mailbox (:mod:`cmdprogress._mailbox`) that the scheduler
fills and ``__anext__`` drains. Watchers are async iterators, not async
generators, so they never ``yield`` from inside a task group or cancel scope,
and leaving ``async for`` releases them synchronously. :func:`wait_one` and
:func:`wait_every` are the client's ``wait`` and ``wait_all`` over a watcher.

Leaving ``async for`` (break, exception, cancellation, deadline),
``aclose()``, leaving ``async with`` or closing the client unregisters the
watcher at once; a command nobody watches any more is dropped from the heap
and its in-flight request, if any, is cancelled. Nothing is sent to the
Manager to stop a watch.

To resume, ``watch(cid, since=last)`` (and ``Watcher.resume(last)``) yields
only snapshots that differ from ``last``; if ``last`` is already terminal
nothing is yielded and no request is made.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, Self

from ._checkpoint import make_checkpoint
from ._ids import validate_command_id, validate_since
from ._mailbox import TERMINAL, _Inbox
from ._models import CommandProgress, CommandState
from .exceptions import ClientClosedError, CommandErrorGroup, CommandFailed

if TYPE_CHECKING:
    from types import TracebackType

    from ._scheduler import Engine

__all__ = ["Watcher", "wait_every", "wait_one"]


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
        self._add(validate_since(last).command_id, last)

    def _add(self, cid: int, since: CommandProgress | None) -> None:
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
        if not self._started:
            self._start()
        inbox = self._inbox
        while True:
            nxt = inbox.pop()
            if nxt is not None:
                cid, item = nxt
                if isinstance(item, CommandProgress):
                    if item.state in TERMINAL:
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
        errors = self.errors
        if not self._group:
            # A watch of one command (watch, wait): its error as itself.
            raise next(iter(errors.values()))
        # A multi-command watch raises a group, even of one: the group carries the other
        # commands' terminal snapshots (.results), which a bare error would lose.
        shown = ", ".join(f"{cid} ({type(e).__name__})" for cid, e in list(errors.items())[:10])
        more = ", ..." if len(errors) > 10 else ""
        raise CommandErrorGroup(
            f"{len(errors)} watched command(s) ended with errors: {shown}{more}; "
            "the terminal snapshots of the others are on .results",
            list(errors.values()),
            self.results,
            errors=errors,
        )


async def wait_one(engine: Engine, command_id: int) -> CommandProgress:
    """Wait for the terminal snapshot; raise :class:`CommandFailed` if it is FAILED."""
    last: CommandProgress | None = None
    async with Watcher(engine, (command_id,), group_errors=False) as w:
        async for p in w:
            last = p
    assert last is not None
    if last.state is CommandState.FAILED:
        raise CommandFailed(last)
    return last


async def wait_every(
    engine: Engine, command_ids: Iterable[int], *, return_exceptions: bool
) -> dict[int, CommandProgress] | dict[int, CommandProgress | Exception]:
    """Terminal snapshots of every command, FAILED ones included, in the order given."""
    ids = list(dict.fromkeys(command_ids))
    async with Watcher(engine, ids, raise_errors=not return_exceptions) as w:
        async for _ in w:
            pass
    if return_exceptions:
        merged: dict[int, CommandProgress | Exception] = {}
        for cid in ids:
            merged[cid] = w.errors[cid] if cid in w.errors else w.results[cid]
        return merged
    return {cid: w.results[cid] for cid in ids}
