"""The pacer's rule on a manual clock: signals, one cut per round, the curve, pauses, priority."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cmdprogress import PollPolicy
from cmdprogress._pacing import (
    BETA,
    PROBE,
    PROBING_SIGNAL,
    RECOVER,
    ROUND,
    SIGNAL,
    WINDOW,
    Pacer,
)
from cmdprogress._stats import ClientStats
from cmdprogress.testing import Capacity


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(pacer: Pacer, clock: FakeClock, *, ok: bool, step: float, ra: float = 1.0) -> None:
    """Send one request (its slot free or not) and answer it ``step`` seconds later."""
    pacer.reserve()
    ticket = pacer.ticket
    clock.now += step
    if ok:
        pacer.on_answer(ticket)
    else:
        pacer.on_throttle(ra, ticket)


def overload(pacer: Pacer, clock: FakeClock, *, rate: float, served: float, n: int) -> None:
    """``n`` polls asked at ``rate`` per second of a Manager that can serve ``served`` a second.

    Each poll waits for its turn at the pacer's limit (as the transport does)
    and is answered at once; the Manager is the simulator's own accounting.
    """
    manager = Capacity(served, burst=5, clock=clock)
    for _ in range(n):
        clock.now += 1.0 / rate
        wait = pacer.reserve()
        ticket = pacer.ticket
        if wait > 0:  # what Pacer.wait() does: its turn comes one slot later
            clock.now += wait
            limit = pacer.current_limit
            assert limit is not None
            pacer._next_slot = clock.now + 1.0 / limit
        if manager.try_admit() is None:
            pacer.on_throttle(1.0, ticket)
        else:
            pacer.on_answer(ticket)


def throttle_until_cut(pacer: Pacer, clock: FakeClock, *, ok_first: int = 20) -> None:
    """``ok_first`` successes, then throttled answers until the pacer cuts (10 ms apart)."""
    cuts = pacer.cuts
    for _ in range(ok_first):
        answer(pacer, clock, ok=True, step=0.01)
    for _ in range(100):
        answer(pacer, clock, ok=False, step=0.01)
        if pacer.cuts > cuts:
            return
    raise AssertionError("no cut")


def test_no_limit_never_waits() -> None:
    """Without a ceiling and without throttling, every request may go at once."""
    pacer = Pacer(clock=FakeClock())
    assert [pacer.reserve() for _ in range(100)] == [0.0] * 100
    assert pacer.ticket == 100


def test_ceiling_spaces_polls() -> None:
    """With a ceiling of 10/s a poll asked right after another waits for the next slot."""
    clock = FakeClock()
    pacer = Pacer(10, clock=clock)
    assert pacer.reserve() == 0.0
    assert pacer.reserve() == pytest.approx(0.1)
    clock.now += 0.1
    assert pacer.reserve() == 0.0


def test_one_stray_throttle_among_successes_changes_nothing() -> None:
    """A single 503 among successes neither cuts the rate nor pauses anything."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    for _ in range(40):
        answer(pacer, clock, ok=True, step=0.01)
    answer(pacer, clock, ok=False, step=0.01, ra=5.0)
    assert pacer.throttles == 1
    assert pacer.cuts == 0
    assert pacer.current_limit is None
    assert pacer.paused_for() == 0.0
    assert pacer.reserve() == 0.0


def test_sporadic_throttles_below_the_signal_share_do_not_cut() -> None:
    """One throttle in twelve (8 %) never reaches the signal share of the window."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    for i in range(600):
        answer(pacer, clock, ok=i % 12 != 0, step=0.01)
    assert pacer.throttles == 50
    assert pacer.cuts == 0
    assert pacer.current_limit is None


def test_overload_cuts_to_the_rate_served_not_the_rate_sent() -> None:
    """Asking 120/s of a Manager serving 60/s: the pace found is near 60, not 120."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    overload(pacer, clock, rate=120, served=60, n=150)
    assert pacer.cuts >= 1
    found = pacer.pace_found
    assert found is not None
    assert 0.75 * 60 <= found <= 1.35 * 60
    assert pacer.slowed_down or pacer.current_limit is not None


def test_cut_is_beta_of_the_successes_in_the_window() -> None:
    """20 successes and 7 throttles 10 ms apart: the Manager served 20 in 0.26 s."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    throttle_until_cut(pacer, clock)
    assert pacer.throttles == 7  # 7 of 27 > 25 %: the first signal
    # 19 successes after the first answer of the window, in 0.26 s.
    assert pacer.pace_found == pytest.approx(19 / 0.26)
    assert pacer.current_limit == pytest.approx(BETA * 19 / 0.26)


def test_throttles_of_the_round_in_flight_cut_once() -> None:
    """Answers to requests issued before the cut (in flight, queued) never cut again."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    for _ in range(20):
        answer(pacer, clock, ok=True, step=0.01)
    tickets = []
    for _ in range(40):  # forty requests sent together, before any answer
        pacer.reserve()
        tickets.append(pacer.ticket)
    clock.now += 0.01
    for t in tickets:
        pacer.on_throttle(1.0, t)
    assert pacer.throttles == 40
    assert pacer.cuts == 1


def test_the_next_round_cuts_only_after_enough_of_its_answers() -> None:
    """After a cut, the next one needs ROUND answers to requests sent after it."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    throttle_until_cut(pacer, clock)
    for _ in range(ROUND - 1):
        answer(pacer, clock, ok=False, step=0.01)
    assert pacer.cuts == 1
    answer(pacer, clock, ok=False, step=0.01)
    assert pacer.cuts == 2


def test_recovery_reaches_the_pace_found_then_probes_gently() -> None:
    """The limit climbs back to the pace found in RECOVER seconds, then grows as PROBE t^3."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    throttle_until_cut(pacer, clock)
    found = pacer.pace_found
    assert found is not None
    assert pacer.current_limit == pytest.approx(BETA * found)
    clock.now += RECOVER / 2
    half = pacer.current_limit
    assert half is not None
    assert BETA * found < half < found
    assert pacer.slowed_down
    clock.now += RECOVER / 2
    assert pacer.current_limit == pytest.approx(found)
    assert not pacer.slowed_down
    clock.now += 0.5
    assert pacer.current_limit == pytest.approx(found * (1 + PROBE * 0.125))  # about +1 %
    clock.now += 0.5
    assert pacer.current_limit == pytest.approx(found * (1 + PROBE))  # +9 % after a second


def test_recovery_needs_no_successes() -> None:
    """The curve follows time: a deep cut is lifted even if few answers come back."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    overload(pacer, clock, rate=100, served=20, n=200)
    low = pacer.current_limit
    clock.now += RECOVER + 3.0
    assert low is not None
    assert pacer.current_limit is not None
    assert pacer.current_limit > 3 * low


def test_throttling_that_persists_pauses_the_polls_for_retry_after() -> None:
    """Two cuts in a row that did not relieve the Manager pause the polls for Retry-After."""
    clock = FakeClock()
    stats = ClientStats()
    pacer = Pacer(clock=clock, stats=stats)
    for _ in range(20):
        answer(pacer, clock, ok=True, step=0.01)
    paused_at = None
    for _ in range(200):  # the Manager refuses (nearly) everything
        answer(pacer, clock, ok=False, step=0.01, ra=2.0)
        if pacer.paused_for() > 0:
            paused_at = clock.now
            break
    assert paused_at is not None
    assert pacer.cuts >= 3
    assert pacer.paused_for() == pytest.approx(2.0)
    assert pacer.reserve() >= 2.0 - 1e-9  # a poll waits for the pause
    assert pacer.reserve(priority=True) == 0.0  # an action does not
    assert stats.paused_seconds == pytest.approx(2.0)
    assert stats.rate_cuts == pacer.cuts


def test_pause_without_retry_after_uses_throttle_pause_and_is_capped() -> None:
    """Persistent throttling without Retry-After pauses throttle_pause; a huge one max_pause."""
    for ra, pause, expected in ((None, 0.25, 0.25), (86400.0, 1.0, 30.0)):
        clock = FakeClock()
        pacer = Pacer(clock=clock, throttle_pause=pause, max_pause=30.0)
        for _ in range(20):
            answer(pacer, clock, ok=True, step=0.01)
        for _ in range(200):
            pacer.reserve()
            ticket = pacer.ticket
            clock.now += 0.01
            pacer.on_throttle(ra, ticket)
            if pacer.paused_for() > 0:
                break
        assert pacer.paused_for() == pytest.approx(expected)


def test_background_throttles_are_learned_after_a_cut() -> None:
    """Throttles that go on below the pace found (a proxy's) are learned as background."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    throttle_until_cut(pacer, clock)
    assert pacer.background_share == 0.0
    for i in range(WINDOW):  # one in eight still throttled, below the pace found
        answer(pacer, clock, ok=i % 8 != 7, step=0.02)
    assert pacer.cuts == 1
    assert pacer.background_share == pytest.approx(0.5 * 4 / WINDOW)


def test_signal_share_rises_with_the_background() -> None:
    """The signal share is SIGNAL (PROBING_SIGNAL while probing) or background + 2 sigma."""
    pacer = Pacer(clock=FakeClock())
    assert pacer.signal_share() == SIGNAL
    assert pacer.signal_share(probing=True) == PROBING_SIGNAL
    pacer._background = 0.2
    assert pacer.signal_share() == pytest.approx(0.2 + 2 * (0.2 * 0.8 / WINDOW) ** 0.5 + 1 / WINDOW)


def test_priority_requests_skip_the_queue_of_polls() -> None:
    """Actions and logins go now while polls wait for their slot, and count against the rate."""
    clock = FakeClock()
    pacer = Pacer(10, clock=clock)
    assert pacer.reserve() == 0.0
    assert pacer.reserve(priority=True) == 0.0
    assert pacer.reserve() == pytest.approx(0.2)  # pushed back by the action's slot


def test_ceiling_caps_the_learned_limit() -> None:
    """max_requests_per_second stays a ceiling while the limit probes above the pace found."""
    clock = FakeClock()
    pacer = Pacer(70, clock=clock)
    overload(pacer, clock, rate=70, served=40, n=150)
    assert pacer.cuts >= 1
    clock.now += 30
    assert pacer.current_limit == 70


def test_poll_stretch_brings_the_polls_to_the_limit() -> None:
    """The engine stretches the cadence by demand / limit, 1 while the polls fit."""
    stats = ClientStats()
    pacer = Pacer(20, stats=stats, clock=FakeClock())
    assert pacer.poll_stretch(10.0) == 1.0
    assert pacer.poll_stretch(50.0) == pytest.approx(2.5)
    assert stats.poll_stretch == pytest.approx(2.5)
    assert Pacer(clock=FakeClock()).poll_stretch(1e6) == 1.0


def test_stats_show_the_limit_and_the_cuts() -> None:
    """client.stats carries the current limit, the cuts and the pause time."""
    clock = FakeClock()
    stats = ClientStats()
    pacer = Pacer(clock=clock, stats=stats)
    assert stats.rate_limit is None
    overload(pacer, clock, rate=120, served=60, n=150)
    assert stats.rate_cuts == pacer.cuts >= 1
    assert stats.rate_limit == pytest.approx(pacer.current_limit)
    assert stats.paused_seconds == 0.0


def test_cut_and_restore_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A DEBUG line says when the rate is cut and when it is back at the pace found."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    with caplog.at_level(logging.DEBUG, logger="cmdprogress.pacing"):
        overload(pacer, clock, rate=120, served=60, n=150)
        clock.now += RECOVER
        pacer.current_limit  # noqa: B018 - moves along the curve
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("rate cut to ") for m in messages)
    assert any(m.startswith("rate restored to ") for m in messages)


def test_from_policy() -> None:
    """The pacer takes the ceiling and the pause from the PollPolicy."""
    pacer = Pacer.from_policy(PollPolicy(max_requests_per_second=3, throttle_pause=0.5))
    assert pacer.current_limit == 3
    assert pacer.throttle_pause == 0.5


@pytest.mark.anyio
async def test_waiting_polls_go_first_come_first_served() -> None:
    """Polls that wait for a turn go in order; a cancelled one gives its turn on."""
    pacer = Pacer(2000)
    pacer.bind_loop(asyncio.get_running_loop())
    order: list[int] = []

    async def poll(i: int) -> None:
        await pacer.acquire()
        order.append(i)

    assert pacer.reserve() == 0.0  # the slot now is taken
    tasks = [asyncio.create_task(poll(i)) for i in range(6)]
    await asyncio.sleep(0)
    tasks[2].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert order == [0, 1, 3, 4, 5]
    assert isinstance(results[2], asyncio.CancelledError)
    assert not pacer._queue
