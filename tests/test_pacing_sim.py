"""The pacer over real sockets: it converges on a loaded Manager, actions are not starved.

Judged by counts (answers served and refused, requests in the log), never by timings.
"""

from __future__ import annotations

import anyio
import pytest

from cmdprogress import Client, PollPolicy, RetryPolicy
from cmdprogress.exceptions import ClientClosedError
from cmdprogress.testing import Capacity, Fault, ManagerSimulator, Timeline

CAPACITY = 80.0


@pytest.mark.anyio
async def test_client_converges_on_a_capacity_limited_manager() -> None:
    """Polls far above what the Manager serves settle just under it: few refusals."""
    cap = Capacity(CAPACITY, retry_after=1)
    async with ManagerSimulator(clock="real", capacity=cap) as sim:
        ids = [sim.add_command(Timeline.build(steps=50, duration=100.0)) for _ in range(60)]
        poll = PollPolicy(interval=0.01, max_interval=0.05)
        with anyio.fail_after(120):
            async with Client(sim.url, max_concurrency=8, poll=poll) as client:
                async with client.watch_many(ids):
                    # Until the pace is found, and then some.
                    await sim.wait_until(lambda _s: client.stats.rate_cuts >= 1)
                    await sim.wait_until(lambda s: cap.served >= 200)
                    served0, refused0 = cap.served, cap.refused
                    await sim.wait_until(lambda s: cap.served >= served0 + 400)
                    served, refused = cap.served - served0, cap.refused - refused0
                found = client._pacer.pace_found
                stats = client.stats
    # Without pacing the same client gets most of its polls refused (demand ~1,000/s).
    assert refused / (served + refused) <= 0.10, (served, refused)
    assert found is not None
    assert 0.6 * CAPACITY <= found <= 1.6 * CAPACITY
    assert stats.rate_limit is not None
    assert stats.throttled == cap.refused


@pytest.mark.anyio
async def test_actions_go_ahead_of_the_polls_waiting() -> None:
    """With polls queueing at a 5/s ceiling, start_service is sent before them."""
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=1000.0)) for _ in range(30)]
        poll = PollPolicy(interval=0.001, max_interval=0.002, max_requests_per_second=5)
        with anyio.fail_after(30):
            async with (
                Client(sim.url, max_concurrency=8, poll=poll) as client,
                client.watch_many(ids),
            ):
                await sim.wait_until(lambda s: s.stats.requests_total >= 3)
                before = len(sim.stats.log)
                await client.start_service("HDFS")
                log = list(sim.stats.log)[before:]
                action = next(i for i, r in enumerate(log) if r.method == "POST")
                polls_first = sum(1 for r in log[:action] if r.method == "GET")
    # Queued behind the polls it would have come after the eight waiting.
    assert polls_first <= 1


@pytest.mark.anyio
async def test_throttling_that_persists_pauses_the_polls() -> None:
    """A Manager refusing everything is answered with cuts, then a pause of Retry-After."""
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=1000.0)) for _ in range(20)]
        poll = PollPolicy(interval=0.005, max_interval=0.01, throttle_pause=0.05)
        retry = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01, max_retry_after=0.2)
        with anyio.fail_after(60):
            async with (
                Client(sim.url, max_concurrency=4, poll=poll, retry=retry) as client,
                client.watch_many(ids),
            ):
                await sim.wait_until(lambda s: s.stats.requests_total >= 60)
                sim.faults.inject(Fault.status(503), times=400)
                await sim.wait_until(lambda _s: client.stats.paused_seconds > 0)
                sim.faults.clear()
                cuts = client.stats.rate_cuts
    assert cuts >= 2
    assert client.stats.paused_seconds == pytest.approx(0.05)


@pytest.mark.anyio
async def test_polls_waiting_their_turn_end_when_the_client_closes() -> None:
    """get_progress calls waiting their turn at a 1/s ceiling end with ClientClosedError."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=1000.0))
        poll = PollPolicy(max_requests_per_second=1)
        client = Client(sim.url, poll=poll)
        errors: list[BaseException] = []

        async def poll_once() -> None:
            try:
                await client.get_progress(cid)
            except ClientClosedError as e:
                errors.append(e)

        with anyio.fail_after(20):
            async with client, anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(poll_once)
                await sim.wait_for_requests(cid, 1)
                # The other four queued for their turn before the first left the client.
                assert len(client._pacer._queue) == 4
                transport = client._transport
                assert transport is not None
                await transport.close()  # what leaving `async with client` does
                assert not client._pacer._queue  # let go at once, not one a second
    assert len(errors) == 5  # the one in flight too
    assert sim.stats.progress_requests[cid] == 1  # the four waiting were never sent
