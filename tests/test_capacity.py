"""The simulator's loaded-Manager model: a capacity in answers/s, refusals or a queue above it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import pytest

from cmdprogress.testing import Capacity, ManagerSimulator, Timeline
from cmdprogress.testing._serve import _capacity, _follow_schedule, parse_args

if TYPE_CHECKING:
    from cmdprogress.testing.pytest_plugin import ManagerSimFactory

pytest_plugins = ["cmdprogress.testing.pytest_plugin"]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_answers_within_the_rate_are_served_above_it_refused() -> None:
    """At 10/s with no slack, one answer per 0.1 s is served and the rest refused."""
    clock = FakeClock()
    cap = Capacity(10, burst=1, clock=clock)
    results = []
    for _ in range(20):  # 200 requests/s for 0.1 s
        results.append(cap.try_admit())
        clock.now += 0.005
    assert results.count(0.0) == 1
    assert results.count(None) == 19
    clock.now += 0.1
    assert cap.try_admit() == 0.0
    assert (cap.served, cap.refused) == (2, 19)


def test_burst_lets_requests_arriving_together_through() -> None:
    """The default burst is a tenth of a second's worth: 6 of 10 at once at 60/s."""
    clock = FakeClock()
    cap = Capacity(60, clock=clock)
    assert cap.burst == pytest.approx(6)
    assert [cap.try_admit() for _ in range(10)].count(0.0) == 6


def test_queue_answers_slower_instead_of_refusing() -> None:
    """With a queue, a request over the rate waits its turn, up to ``queue`` seconds."""
    clock = FakeClock()
    cap = Capacity(10, burst=1, queue=0.25, clock=clock)
    waits = [cap.try_admit() for _ in range(5)]
    assert waits == [0.0, pytest.approx(0.1), pytest.approx(0.2), None, None]
    assert (cap.served, cap.queued, cap.refused) == (3, 2, 2)


def test_set_rate_respaces_what_is_booked() -> None:
    """A Manager that recovers gives the answers already queued sooner."""
    clock = FakeClock()
    cap = Capacity(10, burst=1, queue=10.0, clock=clock)
    for _ in range(5):
        cap.try_admit()
    assert cap.try_admit() == pytest.approx(0.5)
    cap.set_rate(100)
    assert cap.try_admit() == pytest.approx(0.06)  # six answers booked, at 100/s
    with pytest.raises(ValueError, match="rate must be a positive"):
        cap.set_rate(0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "rate must be a positive finite number"),
        ({"rate": 10, "status": 500}, "status must be 429 or 503"),
        ({"rate": 10, "burst": 0.5}, "burst must be >= 1"),
        ({"rate": 10, "queue": -1.0}, "queue must be >= 0"),
        ({"rate": 10, "retry_after": -1.0}, "retry_after must be >= 0"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, float], message: str) -> None:
    """Each invalid setting raises ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        Capacity(**kwargs)


@pytest.mark.anyio
async def test_refusal_over_the_wire_is_429_with_retry_after() -> None:
    """Over a socket: above the capacity the Manager answers 429, Retry-After, an HTML page."""
    async with (
        ManagerSimulator(capacity=Capacity(0.01, burst=1, retry_after=2)) as sim,
        aiohttp.ClientSession() as session,
    ):
        cid = sim.add_command(Timeline.build())
        url = f"{sim.url}/web/v1/common/command/{cid}/progress"
        async with session.get(url) as first:
            assert first.status == 200
        async with session.get(url) as second:
            assert second.status == 429
            assert second.headers["Retry-After"] == "2"
            assert "Too Many Requests" in await second.text()
        assert sim.capacity is not None
        assert (sim.capacity.served, sim.capacity.refused) == (1, 1)
        assert [r.status for r in sim.stats.log] == [200, 429]


@pytest.mark.anyio
async def test_queue_over_the_wire_serves_everyone(
    manager_sim_factory: ManagerSimFactory,
) -> None:
    """The fixture takes ``capacity=``; with a queue, concurrent requests all get 200."""
    sim = await manager_sim_factory(capacity=Capacity(100, burst=1, queue=1.0))
    cid = sim.add_command(Timeline.build())
    url = f"{sim.url}/web/v1/common/command/{cid}/progress"
    async with aiohttp.ClientSession() as session:

        async def get() -> int:
            async with session.get(url) as r:
                return r.status

        statuses = await asyncio.gather(*(get() for _ in range(5)))
    assert statuses == [200] * 5
    assert sim.capacity is not None
    assert sim.capacity.queued >= 1
    assert sim.capacity.refused == 0


@pytest.mark.anyio
async def test_capacity_as_a_number() -> None:
    """``ManagerSimulator(capacity=60)`` is short for ``Capacity(60)``."""
    sim = ManagerSimulator(capacity=60)
    assert isinstance(sim.capacity, Capacity)
    assert sim.capacity.rate == 60


def test_serve_options_build_a_capacity() -> None:
    """``serve --capacity 60 --capacity-status 503`` builds that Capacity; a schedule needs it."""
    args = parse_args(
        ["serve", "--capacity", "60", "--capacity-status", "503", "--capacity-queue", "0.5"]
    )
    cap = _capacity(args)
    assert cap is not None
    assert (cap.rate, cap.status, cap.queue) == (60, 503, 0.5)
    assert _capacity(parse_args(["serve"])) is None
    with pytest.raises(ValueError, match="--capacity-schedule needs --capacity"):
        _capacity(parse_args(["serve", "--capacity-schedule", "10:30"]))


def test_serve_schedule_is_parsed_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """``--capacity-schedule 20:30,10:100`` is sorted by time; garbage is a usage error."""
    args = parse_args(["serve", "--capacity", "100", "--capacity-schedule", "20:30,10:100"])
    assert args.capacity_schedule == ((10.0, 100.0), (20.0, 30.0))
    with pytest.raises(SystemExit):
        parse_args(["serve", "--capacity", "100", "--capacity-schedule", "soon"])
    assert "expected T:RATE pairs" in capsys.readouterr().err


@pytest.mark.anyio
async def test_schedule_changes_the_rate_in_order() -> None:
    """The serve schedule sets each rate in turn (here all due at once)."""
    cap = Capacity(100)
    await _follow_schedule(cap, ((0.0, 30.0), (0.0, 45.0)))
    assert cap.rate == 45
