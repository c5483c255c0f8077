"""Client-wide pacing: learn the Manager's pace from its 429/503 answers and keep just under it.

Every request to the Manager takes a ticket from :meth:`Pacer.reserve` before
it is sent (a poll that may not go yet waits its turn in :meth:`Pacer.wait`,
first come first served); the transport reports each
answer back with that ticket: :meth:`Pacer.on_answer` for a success,
:meth:`Pacer.on_throttle` for a 429/503. One pacer per client, shared by all
its tasks.

The rule
========

It starts from the AWS SDKs' adaptive retry mode (a token bucket whose rate
follows a CUBIC curve, cut by a factor on throttling), changed for many polls
that can wait and one server:

- **A throttle is a signal only among other throttles.** The pacer keeps the
  last :data:`WINDOW` answers; a 429/503 can cut the rate only when more than
  :data:`SIGNAL` of them (and at least two) were throttled, or more than
  :data:`PROBING_SIGNAL` while the client probes above the pace it found with
  polls waiting (there its own load is the likely cause). One stray 503
  among successes (a proxy, a load balancer) changes nothing: the request it
  came with is polled again after its ``Retry-After``, nothing else waits.
  Where stray throttles keep coming below the pace found (the round after a
  cut shows them), their share is learned as a background and the signal
  share rises above it (:meth:`Pacer.signal_share`).
- **At most one cut per round.** Tickets are numbered; a cut remembers the
  last ticket issued. Throttles of requests issued up to then (in flight or
  waiting for their slot: sent before anyone knew) never cut again, nor do
  those of the next round until :data:`ROUND` of its answers are in; that
  round is judged on its own answers (so the next cut is measured against
  what the last one did).
- **The cut aims at what the Manager served**, not at what was sent: the pace
  found is the rate of successful answers over the window (or the last
  second when the window is too short to time), no more than the limit in
  force; the new limit is :data:`BETA` of it.
- **Recovery** follows a curve in time, not in successes: back to the pace
  found in :data:`RECOVER` seconds (fast at first, flattening as it nears),
  then probing above it, slowly at first and faster the longer no throttle
  comes (``PROBE * t**3``: +1 % after half a second, +9 % after one, +72 %
  after two), so the rate sits just under the capacity and a Manager that
  recovers is found again within seconds.
- **Pause only when throttling persists.** A round after a cut that is
  throttled heavily again (more than twice :data:`SIGNAL`) makes the next
  cut aim at that round's share of successes; when that happens twice in a
  row (two cuts did not relieve the Manager), every poll of the client also
  pauses for the ``Retry-After`` of that answer (``throttle_pause`` without
  one, at most ``max_pause``). A pause ends the episode.
- **Polls give way.** Actions, logins and login checks (``priority=True``)
  skip the queue of polls and the pause; they still count against the rate.
  Polls are what gets slowed: :meth:`poll_stretch` tells the engine how much
  to stretch every command's cadence (up to ``max_interval``) so the polls
  it plans fit the limit; beyond that polls wait their turn at the limit.
- ``max_requests_per_second`` stays a hard ceiling on top of all this.

A DEBUG line on ``cmdprogress.pacing`` tells each cut ("rate cut to ...") and
each return to the pace found ("rate restored to ...").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._engine_inputs import Clock, Timer
    from ._policy import PollPolicy
    from ._stats import ClientStats

__all__ = ["BETA", "PROBE", "PROBING_SIGNAL", "RECOVER", "ROUND", "SIGNAL", "WINDOW", "Pacer"]

log = logging.getLogger("cmdprogress.pacing")

WINDOW = 32
"""Answers remembered to tell a throttling Manager from a stray 429/503."""
SIGNAL = 0.25
"""The share of throttled answers in the window above which a 429/503 is a signal."""
PROBING_SIGNAL = 0.07
"""The same while the client sends above the pace found (where its own load is the cause)."""
ROUND = 8
"""Answers to requests sent after a cut before a new throttle may cut again."""
BETA = 0.85
"""The limit after a cut, as a share of the pace found."""
RECOVER = 1.0
"""Seconds after a cut in which the limit climbs back to the pace found."""
PROBE = 0.09
"""Growth above the pace found: ``PROBE * t**3`` of it, ``t`` seconds after reaching it."""
MIN_RATE = 0.5
"""The limit is never cut below this many requests per second."""
_MAX_BACKGROUND = 0.5  # a round after a cut throttled more than this is load, not background
_RATE_SPAN = 1.0  # seconds over which the served rate is measured
_MIN_SPAN = 0.1  # no served rate from less than this
_SUCCESSES = 4096  # successes remembered for the served rate


def _loop_time() -> float:
    """The running event loop's clock (what ``anyio.current_time`` returns, minus its lookups)."""
    return asyncio.get_running_loop().time()


class Pacer:
    """The pace of every request of one client, shared by all its tasks.

    ``max_requests_per_second`` is a hard ceiling (``None``: none);
    ``throttle_pause`` the pause when throttling persists and the answer
    carries no ``Retry-After``; ``max_pause`` the longest pause a
    ``Retry-After`` may impose. ``clock`` returns seconds (the event loop's
    clock by default); ``stats`` (the client's) gets ``rate_limit``,
    ``rate_cuts``, ``paused_seconds`` and ``poll_stretch`` kept current.

    Example (what the transport does for each request)::

        pacer = Pacer(max_requests_per_second=20)
        if pacer.reserve() > 0:  # 0 at once, then polls go 50 ms apart
            await pacer.wait()  # this poll's turn, first come first served
        ticket = pacer.ticket  # the number of the request just let through
        pacer.on_answer(ticket)  # it succeeded
        pacer.current_limit  # 20 until the Manager throttles
    """

    __slots__ = (
        "_background",
        "_clock",
        "_curve_from",
        "_cut_probing",
        "_cut_ticket",
        "_first_answer",
        "_found",
        "_heavy",
        "_learned",
        "_limit",
        "_loop",
        "_next_slot",
        "_own_clock",
        "_paused_until",
        "_probe_answers",
        "_probe_throttled",
        "_queue",
        "_quiet",
        "_restored",
        "_round_answers",
        "_round_ok",
        "_round_throttled",
        "_successes",
        "_timer",
        "_timers",
        "_window",
        "_window_throttled",
        "cuts",
        "max_pause",
        "max_requests_per_second",
        "paused_seconds",
        "stats",
        "throttle_pause",
        "throttles",
        "ticket",
    )

    def __init__(
        self,
        max_requests_per_second: float | None = None,
        *,
        throttle_pause: float = 1.0,
        max_pause: float = 60.0,
        clock: Callable[[], float] | None = None,
        stats: ClientStats | None = None,
    ) -> None:
        self.max_requests_per_second = max_requests_per_second
        self.throttle_pause = throttle_pause
        self.max_pause = max_pause
        self.stats = stats
        self.throttles = 0
        """429/503 answers seen."""
        self.cuts = 0
        """Times the limit was cut."""
        self.paused_seconds = 0.0
        """Seconds the polls were paused in all."""
        self.ticket = 0
        """The number of the last request let through (see :meth:`reserve`)."""
        self._clock = clock or _loop_time
        self._own_clock = clock is not None
        self._limit: float | None = max_requests_per_second
        self._found: float | None = None  # the pace found at the last cut (req/s)
        self._curve_from = 0.0  # when the curve after the last cut started
        self._cut_ticket = 0  # tickets up to this one were issued before the last cut
        self._cut_probing = False  # the last cut came while probing above the pace found
        self._round_answers = ROUND  # answers to requests issued after the last cut...
        self._round_ok = 0  # ...how many of them succeeded, how many were throttled
        self._round_throttled = 0
        self._heavy = 0  # cuts in a row after a heavily throttled round
        self._background = 0.0  # the share of 429/503 that come whatever the rate
        self._learned = True  # the round after the last cut was folded into _background
        self._restored = True  # the curve is back at the pace found
        self._probe_answers = self._probe_throttled = 0  # answers since, and throttled
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        # Polls waiting for their turn (FIFO), and the loop timer that lets the first go.
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self._timer: Timer | None = None
        self._timers: Clock | None = None  # where that timer is set, if not on the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        # The last WINDOW answers: throttled or not, and how many were.
        self._window: collections.deque[tuple[float, bool]] = collections.deque(maxlen=WINDOW)
        self._window_throttled = 0
        # When the last successes were answered (the served rate), and the first answer.
        self._successes: collections.deque[float] = collections.deque(maxlen=_SUCCESSES)
        self._first_answer = math.inf
        # Never cut, and no throttle among the answers in the window (after the first
        # answer): a success then only adds to the window and the served rate, since
        # the rounds and probes counted after a cut do not exist yet.
        self._quiet = False
        self._publish()

    @classmethod
    def from_policy(cls, policy: PollPolicy, stats: ClientStats | None = None) -> Pacer:
        """Build the pacer a :class:`~cmdprogress.PollPolicy` describes.

        >>> from cmdprogress import PollPolicy
        >>> Pacer.from_policy(PollPolicy(max_requests_per_second=5)).current_limit
        5
        """
        return cls(
            policy.max_requests_per_second, throttle_pause=policy.throttle_pause, stats=stats
        )

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read ``loop``'s clock directly (unless a ``clock`` was given).

        The client calls this when it opens, so that a request reads the
        clock of the loop it runs on without looking that loop up.
        """
        self._loop = loop
        if not self._own_clock:
            self._clock = loop.time

    def use_clock(self, clock: Clock) -> None:
        """Read time from ``clock`` and set the turns' timer on it (a test's manual clock)."""
        self._clock = clock.time
        self._own_clock = True
        self._timers = clock

    # -- reading ------------------------------------------------------------------

    @property
    def current_limit(self) -> float | None:
        """The limit in force right now (requests per second), ``None`` if none."""
        if self._found is not None:
            self._follow_curve(self._clock())
        return self._limit

    @property
    def pace_found(self) -> float | None:
        """The answers per second the Manager served when it last throttled (``None``: never)."""
        return self._found

    @property
    def slowed_down(self) -> bool:
        """True while the limit is still climbing back to the pace found after a cut."""
        if self._found is not None:
            self._follow_curve(self._clock())
        return not self._restored

    def paused_for(self) -> float:
        """Seconds left in the pause of the polls (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    @property
    def background_share(self) -> float:
        """The share of 429/503 answers that went on below the pace found (stray ones)."""
        return self._background

    def signal_share(self, *, probing: bool = False) -> float:
        """The share of throttled answers in the window above which a 429/503 is a signal.

        :data:`SIGNAL` (:data:`PROBING_SIGNAL` while ``probing``: sending
        above the pace found), or more where stray throttles were seen: the
        background share plus two standard deviations of a window's share.
        """
        p = self._background
        floor = PROBING_SIGNAL if probing else SIGNAL
        return max(floor, p + 2.0 * math.sqrt(p * (1.0 - p) / WINDOW) + 1.0 / WINDOW)

    def throttled_share(self) -> float:
        """The share of 429/503 answers among the last :data:`WINDOW` answers."""
        n = len(self._window)
        return self._window_throttled / n if n else 0.0

    def poll_stretch(self, demand: float) -> float:
        """How much to stretch the polls' cadence when they ask for ``demand`` polls a second.

        1 while the polls fit the limit (or there is none); else the factor
        that brings them down to it.

        >>> Pacer(10).poll_stretch(40.0)
        4.0
        """
        limit = self.current_limit
        stretch = 1.0 if limit is None or demand <= limit else demand / limit
        if self.stats is not None:
            self.stats.poll_stretch = stretch
        return stretch

    # -- sending ------------------------------------------------------------------

    def reserve(self, priority: bool = False) -> float:
        """Take a ticket (:attr:`ticket`); 0 if the request may go now, else the wait ahead.

        A poll goes now when its slot at the current limit is free, no pause
        runs and no poll waits before it (the slot is then taken); else it
        must :meth:`wait` for its turn (the value returned is the time to the
        next free slot, a lower bound). ``priority`` requests (actions,
        logins) always go now, pushing the polls' next slot back by one.
        Synchronous, so the rule can be checked without an event loop.
        """
        self.ticket += 1
        limit = self._limit
        if limit is None and self._paused_until == -math.inf:
            return 0.0
        now = self._clock()
        if self._found is not None:
            self._follow_curve(now)
            limit = self._limit
        if priority:
            if limit is not None:
                self._next_slot = max(self._next_slot, now) + 1.0 / limit
            return 0.0
        start = max(now, self._paused_until)
        if limit is not None:
            start = max(start, self._next_slot)
        if start <= now and not self._queue:
            if limit is not None:
                self._next_slot = now + 1.0 / limit
            return 0.0
        return max(start - now, 1e-9)

    async def acquire(self, priority: bool = False) -> None:
        """:meth:`reserve`, then :meth:`wait` if the request may not go yet.

        A shorthand for callers outside the transport (tests, benchmarks): the
        transport calls :meth:`reserve` itself, so that a request that may go
        at once awaits nothing.
        """
        if self.reserve(priority) > 0:
            await self.wait()

    async def wait(self) -> None:
        """Wait for this poll's turn: first come, first served, one slot at the limit apart.

        The spacing is taken at the limit in force when each poll goes, so a
        cut or a recovery applies to the polls already waiting.
        """
        loop = self._loop or asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._queue.append(turn)
        self._arm(loop)
        try:
            await turn
        except BaseException:
            if not turn.done() or turn.cancelled():
                with contextlib.suppress(ValueError):  # taken off by _release already
                    self._queue.remove(turn)
            raise

    def wake_all(self) -> None:
        """Let every waiting poll go at once (the client is closing: each checks and ends)."""
        queue, self._queue = self._queue, collections.deque()
        for turn in queue:
            if not turn.done():
                turn.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Set the timer for the next turn (plain loop API: it runs outside any task)."""
        if self._timer is not None or not self._queue:
            return
        now = self._clock()
        start = self._paused_until
        if self._limit is not None:
            start = max(start, self._next_slot)
        delay = max(0.0, start - now)
        if self._timers is None:
            self._timer = loop.call_later(delay, self._release, loop)
        else:
            self._timer = self._timers.call_at(now + delay, lambda: self._release(loop))

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let the first waiting poll go if its turn has come; set the timer for the next."""
        self._timer = None
        now = self._clock()
        limit = self.current_limit
        start = self._paused_until
        if limit is not None:
            start = max(start, self._next_slot)
        queue = self._queue
        if start <= now + 1e-6:
            while queue:
                turn = queue.popleft()
                if turn.done():
                    continue
                turn.set_result(None)
                if limit is not None:
                    self._next_slot = now + 1.0 / limit
                    break
        self._arm(loop)

    # -- answers ------------------------------------------------------------------

    def _record(self, now: float, throttled: bool, ticket: int) -> None:
        if now < self._first_answer:
            self._first_answer = now
        window = self._window
        if len(window) == WINDOW and window[0][1]:
            self._window_throttled -= 1
        window.append((now, throttled))
        if throttled:
            self._window_throttled += 1
        if self._restored:
            self._probe_answers += 1
            self._probe_throttled += throttled
        if ticket > self._cut_ticket:
            self._round_answers += 1
            if throttled:
                self._round_throttled += 1
            else:
                self._round_ok += 1
            if not self._learned and self._round_answers >= WINDOW:
                # The experiment a cut makes: below the pace found, throttles of
                # our own load stop; what goes on is the background.
                self._learned = True
                share = self._round_throttled / self._round_answers
                if share < _MAX_BACKGROUND:
                    self._background = 0.5 * (self._background + share)
        self._quiet = self._window_throttled == 0 and self.cuts == 0

    def on_answer(self, ticket: int = 0) -> None:
        """The request with ``ticket`` got a successful answer."""
        now = self._clock()
        self._successes.append(now)
        if self._quiet:
            self._window.append((now, False))
        else:
            self._record(now, False, ticket)

    def on_throttle(self, retry_after: float | None, ticket: int | None = None) -> None:
        """The request with ``ticket`` got a 429/503 (``retry_after`` in seconds if given).

        ``ticket=None`` means the request sent last.
        """
        now = self._clock()
        if ticket is None:
            ticket = self.ticket
        self.throttles += 1
        self._record(now, True, ticket)
        if ticket <= self._cut_ticket or self._round_answers < ROUND:
            return  # the round of the last cut: it cannot tell more yet
        limit = self.current_limit
        # Probing: above the pace found, with polls waiting for their turn (the limit binds).
        probing = self._restored and self._found is not None and bool(self._queue)
        if probing and self._probe_answers < WINDOW:
            # Judged on the answers since the probe began: at a low rate the
            # window reaches back to before it.
            throttled, answers = self._probe_throttled, self._probe_answers
        elif self.cuts and self._round_answers < WINDOW:
            # The window still holds answers from before the last cut: the new
            # round is judged on its own answers.
            throttled, answers = self._round_throttled, self._round_answers
        else:
            throttled, answers = self._window_throttled, len(self._window)
        if throttled < 2:
            return  # a stray throttle among successes
        # The round after a cut made while probing is judged as strictly: a
        # pace found by overshooting may still be a little above the capacity.
        threshold = self.signal_share(probing=probing or (self._cut_probing and not self._restored))
        if throttled <= threshold * answers:
            return  # stray throttles among successes
        served = self._served_rate(now)
        if not served:
            if limit is None:
                return  # nothing served yet to tell a pace from: nothing to cut from
            found = limit
        else:
            found = served if limit is None else min(limit, served)
        # Heavy: the round since the last cut was throttled as much or more.
        in_round = self._round_answers
        heavy = (
            self.cuts > 0
            and in_round >= ROUND
            and self._round_throttled > max(2 * SIGNAL, threshold) * in_round
        )
        if heavy and limit is not None:
            # That round went at the limit: the Manager served its share of successes.
            found = min(found, limit * self._round_ok / in_round)
        self._heavy = self._heavy + 1 if heavy else 0
        persisting = self._heavy >= 2  # two cuts in a row did not relieve the Manager
        found = max(found, MIN_RATE)
        new = max(MIN_RATE, BETA * found)
        ceiling = self.max_requests_per_second
        if ceiling is not None:
            new = min(new, ceiling)
        self._found = found
        self._limit = new
        self._curve_from = now
        self._cut_ticket = self.ticket
        self._round_answers = self._round_ok = self._round_throttled = 0
        # The next round is judged on its own answers.
        self._window.clear()
        self._window_throttled = 0
        self._learned = False
        self._restored = False
        self._cut_probing = probing
        self._next_slot = max(self._next_slot, now + 1.0 / new)
        self.cuts += 1
        if persisting:
            if retry_after is None or not math.isfinite(retry_after) or retry_after < 0:
                pause = self.throttle_pause
            else:
                pause = min(retry_after, self.max_pause)
            until = now + pause
            if until > self._paused_until:
                self.paused_seconds += until - max(now, self._paused_until)
                self._paused_until = until
            self._heavy = 0  # a pause ends the episode
        self._publish()
        log.debug(
            "rate cut to %.3g requests/s: %d of the last %d answers throttled, "
            "the Manager served %.3g/s%s",
            new,
            throttled,
            answers,
            found,
            f"; polls paused {pause:.2f}s (throttling persists)" if persisting else "",
        )

    def _served_rate(self, now: float) -> float | None:
        """Successful answers per second: the lower of the window's and the last second's.

        Not counting a pause (no answers are expected then), nor the time
        before the first answer; ``None`` when nothing was served. The lower
        of the two, as a Manager's slack (answers it gives at once above its
        rate) inflates a short count.
        """
        paused_until = self._paused_until
        rates = []
        start = max(self._window[0][0], paused_until)
        ok = sum(1 for t, throttled in self._window if t > start and not throttled)
        if now - start >= _MIN_SPAN:
            rates.append(ok / (now - start))
        start = max(now - _RATE_SPAN, self._first_answer, paused_until)
        successes = self._successes
        while successes and successes[0] < start:
            successes.popleft()
        if len(successes) == successes.maxlen:
            start = successes[0]
        if now - start >= _MIN_SPAN:
            rates.append(len(successes) / (now - start))
        if not rates and ok:
            # Everything came within _MIN_SPAN (a first burst): a low estimate.
            rates.append(ok / _MIN_SPAN)
        return min(rates) if rates else None

    def _follow_curve(self, now: float) -> None:
        """Move the limit along the recovery curve (called once a pace was found)."""
        found = self._found
        assert found is not None
        t = now - self._curve_from
        if t < RECOVER:
            x = 1.0 - t / RECOVER
            limit = found * (1.0 - (1.0 - BETA) * x * x * x)
        else:
            x = min(t - RECOVER, 60.0)
            limit = found * (1.0 + PROBE * x * x * x)
            if not self._restored:
                self._restored = True
                self._probe_answers = self._probe_throttled = 0
                log.debug("rate restored to %.3g requests/s, the Manager's pace found", found)
        ceiling = self.max_requests_per_second
        if ceiling is not None and limit > ceiling:
            limit = ceiling
        self._limit = limit
        if self.stats is not None:
            self.stats.rate_limit = limit

    def _publish(self) -> None:
        stats = self.stats
        if stats is not None:
            stats.rate_limit = self._limit
            stats.rate_cuts = self.cuts
            stats.paused_seconds = self.paused_seconds
