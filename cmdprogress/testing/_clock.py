"""The simulator's clocks: manual (tests move time) and real (scaled by a speed factor)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ManualClock", "RealClock", "SimClock"]


@attrs.define
class ManualClock:
    """Simulated time that moves only when told to.

    >>> clock = ManualClock()
    >>> clock.advance(5.0)
    >>> clock.now()
    5.0
    """

    _now: float = 0.0
    _listeners: list[Callable[[], None]] = attrs.field(factory=list, repr=False)

    def now(self) -> float:
        """Simulated seconds since the simulator started."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (not negative)."""
        if not seconds >= 0:
            raise ValueError(f"clock.advance() needs seconds >= 0, got {seconds!r}")
        self._now += seconds
        for listener in self._listeners:
            listener()

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
