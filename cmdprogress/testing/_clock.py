"""The simulator's clocks: manual (tests move time) and real (scaled by a speed factor)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Callable

__all__ = ["ManualClock", "RealClock", "SimClock"]


class _Timer:
    """A callback set for a time of a :class:`ManualClock`; :meth:`cancel` unsets it."""

    __slots__ = ("args", "callback", "context", "handle", "when")

    def __init__(
        self,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: contextvars.Context | None,
    ) -> None:
        self.when = when
        self.callback: Callable[..., object] | None = callback
        self.args = args
        self.context = context
        self.handle: asyncio.Handle | None = None  # once due: the loop callback that runs it

    def cancel(self) -> None:
        """Do not run the callback (if it has not run yet)."""
        self.callback = None
        if self.handle is not None:
            self.handle.cancel()

    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self.callback is None


@attrs.define
class ManualClock:
    """Simulated time that moves only when told to.

    It can also be the polling engine's clock (``client._clock = sim.clock``
    before ``async with client``): :meth:`time` and :meth:`call_at` are the
    subset of the event loop's API the engine uses for time, so the commands
    and the engine's timers move together, at each :meth:`advance`, and an
    engine test runs without waiting on the wall clock. A timer that falls due
    runs as a callback of the running loop, soon after.

    >>> clock = ManualClock()
    >>> clock.advance(5.0)
    >>> clock.now()
    5.0
    """

    _now: float = 0.0
    _listeners: list[Callable[[], None]] = attrs.field(factory=list, repr=False)
    _timers: list[tuple[float, int, _Timer]] = attrs.field(factory=list, init=False, repr=False)
    _seq: itertools.count[int] = attrs.field(factory=itertools.count, init=False, repr=False)

    def now(self) -> float:
        """Simulated seconds since the simulator started."""
        return self._now

    def time(self) -> float:
        """The same as :meth:`now`: the engine's clock reads it under the loop's name."""
        return self._now

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> _Timer:
        """Run ``callback(*args)`` on the running loop once the clock reaches ``when``.

        Like ``loop.call_at``: a time already reached runs soon; returns a cancellable timer.
        """
        timer = _Timer(when, callback, args, context)
        if when <= self._now:
            self._run(timer)
        else:
            heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def next_timer(self) -> float | None:
        """When the earliest timer set (and not cancelled) falls due; ``None``: no timer."""
        timers = self._timers
        while timers and timers[0][2].cancelled():
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def _run(self, timer: _Timer) -> None:
        callback = timer.callback
        if callback is not None:
            loop = asyncio.get_running_loop()
            timer.handle = loop.call_soon(callback, *timer.args, context=timer.context)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (not negative); timers now due run soon, in order."""
        if not seconds >= 0:
            raise ValueError(f"clock.advance() needs seconds >= 0, got {seconds!r}")
        self._now += seconds
        for listener in self._listeners:
            listener()
        timers = self._timers
        while timers and timers[0][0] <= self._now:
            self._run(heapq.heappop(timers)[2])

    def set(self, now: float) -> None:
        """Move time forward to ``now`` (never backwards)."""
        self.advance(now - self._now)

    def _subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)


@attrs.define
class RealClock:
    """Simulated time that follows the monotonic clock, ``speed`` times faster.

    ``advance()`` jumps ahead on top of that.

    >>> clock = RealClock(speed=60.0)
    >>> clock.now() >= 0.0
    True
    """

    speed: float = 1.0
    _start: float = attrs.field(factory=time.monotonic, repr=False)
    _offset: float = 0.0
    _listeners: list[Callable[[], None]] = attrs.field(factory=list, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0, got {self.speed!r}")

    def now(self) -> float:
        """Simulated seconds since the simulator started."""
        return (time.monotonic() - self._start) * self.speed + self._offset

    def advance(self, seconds: float) -> None:
        """Jump forward by ``seconds`` of simulated time."""
        if not seconds >= 0:
            raise ValueError(f"clock.advance() needs seconds >= 0, got {seconds!r}")
        self._offset += seconds
        for listener in self._listeners:
            listener()

    def _subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)


SimClock = ManualClock | RealClock
