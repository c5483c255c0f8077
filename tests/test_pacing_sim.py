"""The pacer over real sockets, on the simulator's manual clock.

It converges on a loaded Manager, actions are not starved, persistent
throttling pauses the polls. The client, its engine and its pacer read the
simulator's :class:`~cmdprogress.testing.ManualClock` (``client._clock``), and
so does the Manager's :class:`~cmdprogress.testing.Capacity`: a test lets
everything due at one instant happen (``Drive.settle``, tests/_drive.py), then moves the
clock to the next timer the engine or the pacer set. Nothing waits on the
wall clock, so the counts below are the same on every run.
"""

from __future__ import annotations

import anyio
import pytest
from _drive import Drive, manual_client

from cmdprogress import PollPolicy
from cmdprogress.exceptions import ClientClosedError
from cmdprogress.testing import Capacity, Fault, ManagerSimulator, Timeline

pytestmark = pytest.mark.anyio

CAPACITY = 80.0


async def test_client_converges_on_a_capacity_limited_manager() -> None:
    """Polls far above what the Manager serves settle just under it: few refusals."""
    cap = Capacity(CAPACITY, retry_after=1)
    sim = ManagerSimulator(clock="manual", capacity=cap)
    cap.clock = sim.clock.now  # the Manager's capacity on the same clock
    async with sim:
        ids = [sim.add_command(Timeline.build(steps=50, duration=100.0)) for _ in range(60)]
        poll = PollPolicy(interval=0.01, max_interval=0.05, jitter=0)
        with anyio.fail_after(60):  # a bound for a broken run, not a wait for a result
            async with manual_client(sim, max_concurrency=8, poll=poll) as client:
                drive = Drive(client, sim.clock)
                async with client.watch_many(ids):
                    # Until the pace is found, and then some.
                    await drive.until(lambda: client.stats.rate_cuts >= 1)
                    await drive.until(lambda: cap.served >= 200)
                    served0, refused0, since = cap.served, cap.refused, sim.clock.now()
                    await drive.until(lambda: cap.served >= served0 + 400)
                    served, refused = cap.served - served0, cap.refused - refused0
                    elapsed = sim.clock.now() - since
                found = client._pacer.pace_found
                stats = client.stats
    # Without pacing the same client gets most of its polls refused (demand ~1,000/s).
    assert refused / (served + refused) <= 0.10, (served, refused)
    assert found is not None
    assert 0.6 * CAPACITY <= found <= 1.6 * CAPACITY
    assert stats.rate_limit is not None
    assert stats.throttled == cap.refused
    # Served just under the capacity (seconds of the manual clock, so measurable exactly).
    assert 0.9 * CAPACITY <= served / elapsed <= CAPACITY


async def test_actions_go_ahead_of_the_polls_waiting() -> None:
    """With polls queueing at a 5/s ceiling, start_service is sent before them."""
    async with ManagerSimulator(clock="manual") as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=1000.0)) for _ in range(30)]
        poll = PollPolicy(interval=0.001, max_interval=0.002, max_requests_per_second=5, jitter=0)
        with anyio.fail_after(30):  # a bound for a broken run, not a wait for a result
            async with (
                manual_client(sim, max_concurrency=8, poll=poll) as client,
                client.watch_many(ids),
                anyio.create_task_group() as tg,
            ):
                drive = Drive(client, sim.clock)
                await drive.until(lambda: sim.stats.requests_total >= 3)
                waiting = len(client._pacer._queue)
                before = len(sim.stats.log)
                tg.start_soon(client.start_service, "HDFS")
                await drive.until(lambda: any(r.method == "POST" for r in sim.stats.log))
                # Five more turns of the polls, to show what the action went ahead of.
                await drive.until(lambda: len(sim.stats.log) >= before + 6)
                log = list(sim.stats.log)[before:]
    methods = [r.method for r in log]
    # Every worker waited its turn at the pacer with a poll; the action went first.
    assert waiting == 8
    assert methods == ["POST", "GET", "GET", "GET", "GET", "GET"]


async def test_throttling_that_persists_pauses_the_polls() -> None:
    """A Manager refusing everything is answered with cuts, then a pause of throttle_pause."""
    async with ManagerSimulator(clock="manual") as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=1000.0)) for _ in range(20)]
        poll = PollPolicy(interval=0.005, max_interval=0.01, throttle_pause=0.05, jitter=0)
        with anyio.fail_after(60):  # a bound for a broken run, not a wait for a result
            async with (
                manual_client(sim, max_concurrency=4, poll=poll) as client,
                client.watch_many(ids),
            ):
                drive = Drive(client, sim.clock)
                await drive.until(lambda: sim.stats.requests_total >= 60)
                sim.faults.inject(Fault.status(503), times=400)
                await drive.until(lambda: client.stats.paused_seconds > 0)
                paused_for = client._pacer.paused_for()
                sim.faults.clear()
                cuts = client.stats.rate_cuts
    # Cut, then two rounds throttled as heavily again: the third cut pauses.
    assert cuts == 3
    assert client.stats.paused_seconds == pytest.approx(0.05)
    assert paused_for == pytest.approx(0.05)  # the pause began at that cut


async def test_polls_waiting_their_turn_end_when_the_client_closes() -> None:
    """get_progress calls waiting their turn at a 1/s ceiling end with ClientClosedError."""
    async with ManagerSimulator(clock="manual") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=1000.0))
        sim.faults.inject(Fault.hang(), times=1)  # the first stays in flight until the close
        client = manual_client(sim, poll=PollPolicy(max_requests_per_second=1))
        errors: list[BaseException] = []

        async def poll_once() -> None:
            try:
                await client.get_progress(cid)
            except ClientClosedError as e:
                errors.append(e)

        with anyio.fail_after(20):  # a bound for a broken run, not a wait for a result
            async with client, anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(poll_once)
                await sim.wait_until(lambda s: s.stats.in_flight == 1)
                # The other four queued for their turn (the clock never reaches it).
                assert len(client._pacer._queue) == 4
                assert sim.clock.next_timer() == 1.0  # the pacer's timer for the next turn
                transport = client._transport
                assert transport is not None
                await transport.close()  # what leaving `async with client` does
                assert not client._pacer._queue  # let go at once, not one a second
                assert sim.clock.next_timer() is None  # and its timer cancelled
    assert len(errors) == 5  # the one in flight too
    assert sim.stats.requests_total == 1  # the four waiting were never sent
