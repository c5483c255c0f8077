"""The client-wide pacer: rate ceiling, pause and cut after 429/503, gradual recovery."""

from __future__ import annotations

import anyio
import pytest

from cmdprogress import PollPolicy
from cmdprogress._pacing import Pacer


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_ceiling_never_waits() -> None:
    """Without a ceiling and without throttling, every request may go at once."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    assert [pacer.reserve() for _ in range(100)] == [0.0] * 100


def test_ceiling_spaces_concurrent_requests() -> None:
    """With a ceiling of 10/s, ten requests asked at once are spread over 0.9 s."""
    clock = FakeClock()
    pacer = Pacer(10, clock=clock)
    delays = [pacer.reserve() for _ in range(10)]
    assert delays == pytest.approx([i / 10 for i in range(10)])


def test_ceiling_allows_no_burst_after_idle() -> None:
    """After an idle period the ceiling still holds: no burst of saved-up requests."""
    clock = FakeClock()
    pacer = Pacer(4, clock=clock)
    pacer.reserve()
    clock.now += 60
    assert [pacer.reserve() for _ in range(3)] == pytest.approx([0.0, 0.25, 0.5])


def test_throttle_pauses_every_request_for_retry_after() -> None:
    """A 429 with Retry-After: 2 makes every following request wait until the pause ends."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.on_throttle(2.0)
    assert pacer.paused_for() == pytest.approx(2.0)
    assert pacer.reserve() >= 2.0
    assert pacer.throttles == 1


def test_throttle_without_retry_after_uses_throttle_pause() -> None:
    """A 503 without Retry-After pauses for throttle_pause."""
    clock = FakeClock()
    pacer = Pacer(throttle_pause=0.25, clock=clock)
    pacer.on_throttle(None)
    assert pacer.paused_for() == pytest.approx(0.25)


def test_retry_after_is_capped() -> None:
    """An absurd Retry-After cannot stall the client for more than max_pause."""
    clock = FakeClock()
    pacer = Pacer(clock=clock, max_pause=30)
    pacer.on_throttle(86400)
    assert pacer.paused_for() == pytest.approx(30)


def test_throttle_halves_configured_ceiling_and_recovers_gradually() -> None:
    """A throttle halves the ceiling; about fifteen successes bring it back, not one."""
    clock = FakeClock()
    pacer = Pacer(10, clock=clock)
    pacer.on_throttle(0)
    assert pacer.current_limit == pytest.approx(5)
    assert pacer.slowed_down
    pacer.on_success()
    assert 5 < pacer.current_limit < 5.5  # type: ignore[operator]
    for _ in range(30):
        pacer.on_success()
    assert pacer.current_limit == 10
    assert not pacer.slowed_down


def test_throttle_without_ceiling_cuts_measured_rate() -> None:
    """Without a ceiling the cut is half the rate measured over the last requests."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    for _ in range(20):
        pacer.reserve()
        clock.now += 0.01  # 100 requests per second
    pacer.on_throttle(0)
    assert pacer.current_limit == pytest.approx(50, rel=0.1)
    for _ in range(100):
        pacer.on_success()
    assert pacer.current_limit is None


def test_deep_cut_recovers_with_time_not_only_successes() -> None:
    """A cut from a nearly idle rate is lifted within seconds of the pause ending."""
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    for _ in range(5):  # one request a second: the measured rate is 1/s
        pacer.reserve()
        clock.now += 1.0
    pacer.on_throttle(0.5)
    assert pacer.current_limit == pytest.approx(0.5)
    clock.now += 0.5 + 0.5  # the pause, then half a second
    pacer.on_success()
    assert pacer.slowed_down  # 0.5 * 2**0.5 ~ 0.71/s: still recovering
    clock.now += 1.0
    pacer.on_success()
    assert not pacer.slowed_down  # 0.5 * 2**1.5 > 1/s: back where it was cut from
    assert pacer.current_limit is None


def test_throttles_during_a_pause_cut_only_once() -> None:
    """Many 429 answers to requests sent together cut the rate once, not once each."""
    clock = FakeClock()
    pacer = Pacer(16, clock=clock)
    for _ in range(50):
        pacer.on_throttle(1.0)
    assert pacer.current_limit == pytest.approx(8)
    assert pacer.throttles == 50
    clock.now += 1.5  # the pause is over; a new 429 is a new signal
    pacer.on_throttle(1.0)
    assert pacer.current_limit == pytest.approx(4)


def test_cut_never_goes_below_floor() -> None:
    """Repeated throttling never drives the rate to zero."""
    clock = FakeClock()
    pacer = Pacer(1, clock=clock)
    for _ in range(20):
        pacer.on_throttle(0.1)
        clock.now += 1
    assert pacer.current_limit is not None
    assert pacer.current_limit >= 0.5


def test_from_policy() -> None:
    """The pacer takes the ceiling and the pause from the PollPolicy."""
    pacer = Pacer.from_policy(PollPolicy(max_requests_per_second=3, throttle_pause=0.5))
    assert pacer.current_limit == 3
    assert pacer.throttle_pause == 0.5


@pytest.mark.anyio
async def test_acquire_waits_on_the_event_loop_clock() -> None:
    """acquire() really holds the caller until its slot (20/s: 3 calls take >= 0.1 s)."""
    pacer = Pacer(20)
    start = anyio.current_time()
    for _ in range(3):
        await pacer.acquire()
    assert anyio.current_time() - start >= 0.099
