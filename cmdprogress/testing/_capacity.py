"""A loaded Manager: a capacity in answers per second, and what happens above it.

A real Manager does not refuse requests at random: it refuses (or answers
slowly) because too many arrive. :class:`Capacity` models that for the web
listener of a :class:`~cmdprogress.testing.ManagerSimulator` (progress
polls, actions and the login check alike; the CAS server is not limited):

- It can give ``rate`` answers per second, with ``burst`` answers of slack
  (requests arriving together are not refused just for arriving together;
  0.1 s worth by default).
- A request that finds the capacity used up waits for its turn up to
  ``queue`` seconds (a servlet container's request queue: answers come
  slower as the queue grows); beyond that it is refused at once with
  ``status`` (429 or 503) and ``Retry-After: retry_after``.
- ``rate`` can change while the simulator runs (:meth:`set_rate`): a Manager
  that gets busy, then recovers.

This is the *load* model. Random throttles that come whatever the load (a
proxy or load balancer answering 503 now and then) are a separate mode: a
fault rate, ``sim.faults.set_rate(Fault.status(503, retry_after=1), rate=0.08)``.

The accounting is the generic cell rate algorithm (a token bucket that
needs no timer): a theoretical time at which the capacity is next free moves
on by ``1 / rate`` per answer given. It reads the event loop's clock (real
time, whatever the simulator's command clock says) unless ``clock`` is given.

>>> cap = Capacity(10, burst=1, clock=lambda: 0.0)  # no slack at all
>>> cap.try_admit(), cap.try_admit()  # the first goes; the second would be too early
(0.0, None)
>>> cap.served, cap.refused
(1, 1)
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

import attrs
from aiohttp import web

from . import _pages

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Capacity"]

_REASONS = {429: "Too Many Requests", 503: "Service Unavailable"}
_BURST_SECONDS = 0.1  # the default burst: this much of the rate at once


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _check_rate(_inst: object, _attr: object, value: float) -> None:
    _positive("rate", value)


def _check_status(_inst: object, _attr: object, value: int) -> None:
    if value not in _REASONS:
        raise ValueError(f"status must be 429 or 503, got {value!r}")


def _check_non_negative(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attr.name} must be >= 0 and finite, got {value!r}")


def _check_retry_after(_inst: object, _attr: object, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise ValueError(f"retry_after must be >= 0 seconds or None, got {value!r}")


@attrs.define(eq=False)
class Capacity:
    """The answers per second a simulated Manager can give; pass it as ``capacity=``.

    - ``rate``: answers per second it can give (change it with :meth:`set_rate`);
    - ``burst``: answers it may give at once above the steady rate (at least 1;
      by default a tenth of a second's worth, as a few request threads would);
    - ``queue``: seconds a request may wait for capacity before it is refused
      (``0``: refused at once; more: answers slow down as load grows);
    - ``status``: 429 or 503 for a refused request, with ``Retry-After:
      retry_after`` seconds (rounded up; ``None``: no header).

    ``served``, ``refused`` and ``queued`` count what happened (``queued``:
    served after waiting).

    Example::

        cap = Capacity(60, status=429, retry_after=1)
        async with ManagerSimulator(capacity=cap) as sim:
            ...
            cap.set_rate(30)  # the Manager gets busy
            ...
            cap.set_rate(60)  # and recovers
        cap.served, cap.refused
    """

    rate: float = attrs.field(validator=_check_rate)
    status: int = attrs.field(default=429, validator=_check_status)
    retry_after: float | None = attrs.field(default=1.0, validator=_check_retry_after)
    burst: float | None = attrs.field(default=None)
    queue: float = attrs.field(default=0.0, validator=_check_non_negative)
    clock: Callable[[], float] | None = attrs.field(default=None, repr=False)
    served: int = attrs.field(init=False, default=0)
    refused: int = attrs.field(init=False, default=0)
    queued: int = attrs.field(init=False, default=0)
    _free_at: float = attrs.field(init=False, default=-math.inf, repr=False)
    _headers: dict[str, str] = attrs.field(init=False, factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.burst is None:
            self.burst = max(1.0, self.rate * _BURST_SECONDS)
        elif not (math.isfinite(self.burst) and self.burst >= 1):
            raise ValueError(f"burst must be >= 1 answer, got {self.burst!r}")
        if self.retry_after is not None:
            self._headers = {"Retry-After": str(math.ceil(self.retry_after))}

    def _now(self) -> float:
        return self.clock() if self.clock is not None else asyncio.get_running_loop().time()

    def set_rate(self, rate: float) -> None:
        """Change the capacity now; answers already booked are re-spaced at the new rate.

        >>> cap = Capacity(100, clock=lambda: 0.0)
        >>> cap.set_rate(30)
        >>> cap.rate
        30
        """
        _positive("rate", rate)
        now = self._now()
        backlog = max(0.0, self._free_at - now) * self.rate  # answers booked ahead
        self.rate = rate
        if backlog > 0:
            self._free_at = now + backlog / rate

    def try_admit(self) -> float | None:
        """Book one answer: the seconds to wait before giving it, or ``None`` (refused).

        Synchronous, so the accounting can be checked without a server.
        """
        now = self._now()
        step = 1.0 / self.rate
        free_at = max(self._free_at, now)
        assert self.burst is not None
        wait = free_at - now - (self.burst - 1.0) * step
        if wait <= 1e-9:
            self._free_at = free_at + step
            self.served += 1
            return 0.0
        if wait <= self.queue:
            self._free_at = free_at + step
            self.served += 1
            self.queued += 1
            return wait
        self.refused += 1
        return None

    async def admit(self) -> web.Response | None:
        """Wait for a turn (``None``: go on and answer) or return the refusal to send."""
        wait = self.try_admit()
        if wait is None:
            reason = _REASONS[self.status]
            page = _pages.error_page(self.status, reason, "The Manager is busy; try again later.")
            return web.Response(
                status=self.status,
                body=page,
                content_type="text/html",
                charset="UTF-8",
                headers=self._headers,
            )
        if wait > 0:
            await asyncio.sleep(wait)
        return None
