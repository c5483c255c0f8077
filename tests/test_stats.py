"""Counters read as they count, and stay bounded for a client that runs for ever."""

from __future__ import annotations

import anyio
import pytest

from cmdprogress import Client, CommandState, PollPolicy
from cmdprogress._scheduler import KEEP_POLL_COUNTS
from cmdprogress.testing import ManagerSimulator, Timeline

FAST = PollPolicy(interval=0.005, max_interval=0.02, throttle_pause=0.02)


@pytest.mark.anyio
async def test_terminal_counts_failed_commands_and_watch_errors_count_errors() -> None:
    """COMPLETE and FAILED commands count as terminal; only a 404 counts as a watch error."""
    async with ManagerSimulator() as sim:
        ok = sim.add_command(Timeline.build(steps=2, duration=100.0))
        bad = sim.add_command(Timeline.build(steps=2, duration=100.0, fail=True))
        sim.finish_all()
        with anyio.fail_after(10):
            async with Client(sim.url, poll=FAST) as client:
                finals = await client.wait_all([ok, bad, 4040], return_exceptions=True)
                stats = client.watch_stats
    assert isinstance(finals[bad], object)
    assert getattr(finals[bad], "state", None) is CommandState.FAILED
    assert stats.terminal == 2
    assert stats.watch_errors == 1
    with pytest.warns(DeprecationWarning, match="use WatchStats.watch_errors"):
        assert stats.failed == 1
    with pytest.warns(DeprecationWarning, match="use WatchStats.terminal"):
        assert stats.ended == 2


@pytest.mark.anyio
async def test_poll_counts_of_ended_watches_are_bounded() -> None:
    """An endless watcher(keep_results=False): requests_by_command keeps only the latest ended."""
    total = KEEP_POLL_COUNTS + 300
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=100.0)) for _ in range(total)]
        sim.finish_all()
        with anyio.fail_after(60):
            async with (
                Client(sim.url, poll=FAST) as client,
                client.watcher(close_when_done=False, keep_results=False) as w,
            ):
                ended = 0
                for start in range(0, total, 100):
                    batch = ids[start : start + 100]
                    w.add(*batch)
                    async for p in w:
                        assert p.is_terminal
                        ended += 1
                        if ended == start + len(batch):
                            break
                assert ended == total
                polls = dict(client.stats.requests_by_command)
                latest = client.requests_for(ids[-1])
    assert len(polls) == KEEP_POLL_COUNTS
    assert set(polls) == set(ids[-KEEP_POLL_COUNTS:])  # the oldest went first
    assert latest == 1
    assert sim.stats.progress_requests[ids[0]] == 1  # it was polled; only the count went


@pytest.mark.anyio
async def test_poll_counts_of_get_progress_are_bounded_too() -> None:
    """get_progress over ever new ids keeps at most KEEP_POLL_COUNTS entries."""
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(Timeline.build()) for _ in range(KEEP_POLL_COUNTS + 50)]
        with anyio.fail_after(60):
            async with Client(sim.url) as client:
                for cid in ids:
                    await client.get_progress(cid)
                polls = dict(client.stats.requests_by_command)
    assert len(polls) == KEEP_POLL_COUNTS
    assert ids[0] not in polls
    assert polls[ids[-1]] == 1


@pytest.mark.anyio
async def test_the_deprecated_polls_name_warns_and_reads_requests_by_command() -> None:
    """ClientStats.polls (old name) warns and returns the requests_by_command counter itself."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build())
        with anyio.fail_after(10):
            async with Client(sim.url) as client:
                await client.get_progress(cid)
                await client.get_progress(cid)
    stats = client.stats
    assert stats.requests_by_command == {cid: 2}
    with pytest.warns(DeprecationWarning, match="use ClientStats.requests_by_command"):
        old = stats.polls
    assert old is stats.requests_by_command
