"""Client-wide pacing: the request-rate ceiling and the slow-down after 429/503.

Every request to the Manager (progress, actions, login) calls
:meth:`Pacer.acquire` before it is sent; the transport reports throttling
answers (:meth:`Pacer.on_throttle`) and successes (:meth:`Pacer.on_success`)
so the whole client slows down and recovers together.

The rule, in a few lines:

- **Ceiling.** With ``max_requests_per_second=r`` requests are spaced at least
  ``1/r`` seconds apart (each ``acquire`` reserves the next free slot, so the
  ceiling holds however many tasks ask at once; no burst).
- **Throttled (429/503).** Every request waits until the pause ends: now plus
  ``Retry-After`` when the Manager sent one (capped at ``max_pause``), else
  ``throttle_pause``. The rate is also cut in half: half the configured ceiling,
  or, without one, half the rate actually measured over the last requests.
  Throttling answers that arrive while a pause is running extend the pause but
  do not cut again (they were sent before the first cut took effect).
- **Recovery.** Each success raises the rate by 5 %, so about fifteen good
  answers double it; and the rate doubles at least every second after the
  pause ended, so a deep cut (say from a rate measured while the client was
  nearly idle) is not stuck waiting for successes that its own low rate
  makes rare. Once the rate is back at the configured ceiling (or at the
  rate it was cut from) the cut is lifted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._policy import PollPolicy

__all__ = ["Pacer"]

log = logging.getLogger("cmdprogress.pacing")

_WINDOW = 32  # requests remembered to measure the actual rate
_RECOVERY = 1.05  # rate factor per success after a cut
_DOUBLING = 1.0  # seconds after the pause in which the cut rate at least doubles
_MIN_RATE = 0.5  # never cut below this many requests per second


def _loop_time() -> float:
    """The running event loop's clock (what ``anyio.current_time`` returns, minus its lookups)."""
    return asyncio.get_running_loop().time()


class Pacer:
    """The pace of every request of one client, shared by all its tasks.

    ``max_requests_per_second`` is the ceiling (``None``: none until the
    Manager pushes back); ``throttle_pause`` the pause after a 429/503 without
    ``Retry-After``; ``max_pause`` the longest pause a ``Retry-After`` may impose.
    ``clock`` returns seconds (the event loop's clock by default).

    Example::

        pacer = Pacer(max_requests_per_second=20)
        await pacer.acquire()  # returns at once, then 50 ms apart
        pacer.on_throttle(2.0)  # the Manager said 429, Retry-After: 2
        pacer.paused_for()  # about 2.0: every request of the client waits
    """

    __slots__ = (
        "_clock",
        "_cut_at",
        "_cut_from",
        "_limit",
        "_next_slot",
        "_own_clock",
        "_paused_until",
        "_recent",
        "max_pause",
        "max_requests_per_second",
        "throttle_pause",
        "throttles",
    )

    def __init__(
        self,
        max_requests_per_second: float | None = None,
        *,
        throttle_pause: float = 1.0,
        max_pause: float = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.max_requests_per_second = max_requests_per_second
        self.throttle_pause = throttle_pause
        self.max_pause = max_pause
        self.throttles = 0
        self._clock = clock or _loop_time
        self._own_clock = clock is not None
        self._limit: float | None = max_requests_per_second
        self._cut_from: float | None = None  # the rate the last cut started from
        self._cut_at = 0.0  # the rate the last cut set
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        self._recent: collections.deque[float] = collections.deque(maxlen=_WINDOW)

    @classmethod
    def from_policy(cls, policy: PollPolicy) -> Pacer:
        """Build the pacer a :class:`~cmdprogress.PollPolicy` describes.

        >>> from cmdprogress import PollPolicy
        >>> Pacer.from_policy(PollPolicy(max_requests_per_second=5)).current_limit
        5
        """
        return cls(policy.max_requests_per_second, throttle_pause=policy.throttle_pause)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read ``loop``'s clock directly (unless a ``clock`` was given).

        The client calls this when it opens: looking the running loop up on
        every request costs a system call (``getpid``) per lookup.
        """
        if not self._own_clock:
            self._clock = loop.time

    @property
    def current_limit(self) -> float | None:
        """The ceiling in force right now (requests per second), ``None`` if none."""
        return self._limit

    @property
    def slowed_down(self) -> bool:
        """True while a cut after 429/503 has not fully recovered."""
        return self._cut_from is not None

    def paused_for(self) -> float:
        """Seconds left in the pause after the last 429/503 (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def measured_rate(self) -> float | None:
        """Requests per second over the last few requests, ``None`` if unknown."""
        if len(self._recent) < 2:
            return None
        span = self._recent[-1] - self._recent[0]
        if span <= 0:
            return None
        return (len(self._recent) - 1) / span

    def reserve(self) -> float:
        """Take the next slot and return how long to wait for it (seconds).

        :meth:`acquire` is ``reserve`` plus the wait; this half is synchronous
        so the rule can be checked without an event loop.
        """
        now = self._clock()
        start = max(now, self._paused_until)
        if self._limit is not None:
            start = max(start, self._next_slot)
            self._next_slot = start + 1.0 / self._limit
        self._recent.append(start)
        return start - now

    async def acquire(self) -> None:
        """Wait until the next request may be sent."""
        delay = self.reserve()
        if delay > 0:
            await anyio.sleep(delay)

    def on_throttle(self, retry_after: float | None) -> None:
        """The Manager answered 429 or 503 (``retry_after`` in seconds if it said)."""
        now = self._clock()
        if retry_after is None or not math.isfinite(retry_after) or retry_after < 0:
            pause = self.throttle_pause
        else:
            pause = min(retry_after, self.max_pause)
        self.throttles += 1
        if now < self._paused_until:
            # Sent before the running pause began: extend it, cut only once.
            self._paused_until = max(self._paused_until, now + pause)
            return
        self._paused_until = now + pause
        base = self._limit if self._limit is not None else self.measured_rate()
        if base is None:
            base = 2 * _MIN_RATE
        if self._cut_from is None:
            self._cut_from = self.max_requests_per_second or base
        cut = max(_MIN_RATE, base / 2)
        self._limit = self._cut_at = cut
        log.debug(
            "throttled by the Manager: pausing %.3fs, rate cut to %.3g requests/s", pause, cut
        )

    def on_success(self) -> None:
        """A request succeeded: recover gradually towards full speed."""
        if self._cut_from is None or self._limit is None:
            return
        self._limit *= _RECOVERY
        since_pause = self._clock() - self._paused_until
        if since_pause > 0:
            by_time = self._cut_at * 2.0 ** min(64.0, since_pause / _DOUBLING)
            self._limit = max(self._limit, by_time)
        if self._limit >= self._cut_from:
            self._limit = self.max_requests_per_second
            self._cut_from = None
            log.debug("recovered from throttling: rate limit back to %s", self._limit)
