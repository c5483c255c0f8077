"""Driving a client on the simulator's manual clock over real sockets (shared by engine tests).

``manual_client(sim)`` is a client whose engine and pacer read ``sim.clock``;
:class:`Drive` lets everything due at one instant happen, then moves the clock
to the next timer the engine or the pacer set. No wall-clock wait decides what
happens when, so counts are the same on every run.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cmdprogress import Client, RetryPolicy
from cmdprogress.testing import ManagerSimulator, ManualClock

if TYPE_CHECKING:
    from collections.abc import Callable

    from cmdprogress import WatchEvent


def manual_client(sim: ManagerSimulator, **kwargs: Any) -> Client:
    """A client on the simulator's clock whose transport never retries (its back-off would
    wait on the loop's clock): a throttled poll goes back to the engine, which polls it again
    after its ``Retry-After`` on the manual clock. The pacer sees each 429/503 either way."""
    assert isinstance(sim.clock, ManualClock)
    client = Client(sim.url, retry=RetryPolicy(attempts=1), **kwargs)
    client._clock = sim.clock
    return client


class Drive:
    """Moves the manual clock from one timer to the next, letting each instant play out."""

    def __init__(self, client: Client, clock: ManualClock) -> None:
        self.client = client
        self.clock = clock
        self._answered = asyncio.Event()
        client.add_listener(self._on_event)

    def _on_event(self, event: WatchEvent) -> None:
        if event.kind in ("poll", "retry", "end"):  # a poll's answer was taken in
            self._answered.set()

    def _polls_on_their_way(self) -> bool:
        """Some worker holds a poll that is neither answered nor waiting its turn at the pacer."""
        engine = self.client._engine
        assert engine is not None
        busy_workers = engine._workers - len(engine._idle)
        return busy_workers > len(self.client._pacer._queue)

    async def settle(self) -> None:
        """Return once everything due at the clock's time has happened.

        First the timers the clock made due run (loop callbacks run in order,
        so a callback set now runs after them); then each poll they started
        is answered or waits for its turn at the pacer.
        """
        ran = asyncio.Event()
        self.clock.call_at(self.clock.time(), ran.set)
        await ran.wait()
        while True:
            if self.client.stats.in_flight:
                # A request is on the wire: its answer arrives as an engine event.
                self._answered.clear()
                await self._answered.wait()
            elif self._polls_on_their_way():
                await asyncio.sleep(0)  # a worker is between two steps: no I/O left
            else:
                return

    async def until(self, done: Callable[[], bool]) -> None:
        """Settle, move to the next timer, and again, until ``done()``."""
        await self.settle()
        while not done():
            due = self.clock.next_timer()
            assert due is not None, "nothing left to happen"
            self.clock.advance(due - self.clock.now())
            await self.settle()
