"""The request log and the waits on it: every request is counted here, and waiters wake here."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import anyio
import attrs

from ._stats import RequestRecord

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp import web

    from ._config import SimConfig
    from ._faults import Fault

__all__ = ["Activity"]


@attrs.define(eq=False)
class Activity:
    """Counts requests into ``cfg.stats`` and wakes the waiters whose condition came true.

    Every change a test can wait for (a request begun or ended, a command
    created or moved, the clock moved, an outage) calls :meth:`notify`.
    """

    _cfg: SimConfig
    _waiters: list[tuple[Callable[[], bool], anyio.Event]] = attrs.field(factory=list)

    def notify(self) -> None:
        """Set the event of every waiter whose predicate is now true."""
        for predicate, event in self._waiters:
            if not event.is_set() and predicate():
                event.set()

    def notify_if_waited(self) -> None:
        """:meth:`notify`, skipped cheaply when nobody waits (the request path calls it)."""
        if self._waiters:
            self.notify()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true; checked now and on every :meth:`notify`."""
        if predicate():
            return
        event = anyio.Event()
        entry = (predicate, event)
        self._waiters.append(entry)
        try:
            await event.wait()
        finally:
            self._waiters.remove(entry)

    def begin(self) -> None:
        """A request arrived: count it as in flight."""
        stats = self._cfg.stats
        stats.requests_total += 1
        stats.in_flight += 1
        if stats.in_flight > stats.peak_in_flight:
            stats.peak_in_flight = stats.in_flight
        if self._waiters:
            self.notify()

    def end(
        self,
        request: web.Request,
        status: int,
        command_id: int | None = None,
        fault: Fault | None = None,
    ) -> None:
        """A request was answered (``status``) or dropped (``status=0``): log it."""
        stats = self._cfg.stats
        stats.in_flight -= 1
        now = asyncio.get_running_loop().time()
        if command_id is not None:
            stats._record_poll(command_id, now)
        stats.log.append(
            RequestRecord(
                request.method,
                request.path,
                status,
                command_id,
                now,
                None if fault is None else fault.name,
            )
        )
        if self._waiters:
            self.notify()
