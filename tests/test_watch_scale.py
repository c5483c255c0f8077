"""Scale: 10,000 watched commands cost low kilobytes each and a steady cost per poll."""

from __future__ import annotations

import gc
import tracemalloc

import anyio
import pytest

from cmdprogress import Client, PollPolicy
from cmdprogress.testing import ManagerSimulator, Timeline

N = 10_000


@pytest.mark.anyio
async def test_registering_10000_commands_is_cheap_and_polls_nothing_once_dropped() -> None:
    """10,000 commands register in under 1 KB each; closing at once sends nothing."""
    async with ManagerSimulator() as sim:
        async with Client(sim.url, poll=PollPolicy(max_commands=N)) as client:
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.take_snapshot()
                w = client.watcher(range(1, N + 1))
                await w.__aenter__()  # registers synchronously, no checkpoint before the check
                assert client.watch_stats.watched == N
                after = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
            await w.__aexit__(None, None, None)
            assert client.watch_stats.watched == 0
            per_command = sum(s.size_diff for s in after.compare_to(before, "filename")) / N
            assert per_command < 1024, per_command
        assert sim.stats.requests_total == 0  # dropped before the first poll: nothing sent


@pytest.mark.anyio
@pytest.mark.slow
async def test_10000_commands_with_snapshots_stay_in_low_kilobytes() -> None:
    """With a snapshot held for each of 10,000 commands, the engine stays under 4 KB a command."""
    policy = PollPolicy(interval=60.0, max_interval=60.0, max_commands=N)
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(Timeline.build(steps=3, duration=1000.0)) for _ in range(N)]
        sim.advance_all(n=3)  # two steps listed: a realistic snapshot
        async with Client(sim.url, poll=policy, max_concurrency=32) as client:
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.take_snapshot()
                with anyio.fail_after(120):
                    async with client.watcher(ids) as w:
                        for _ in range(N):  # the first snapshot of each
                            await w.__anext__()
                        gc.collect()
                        after = tracemalloc.take_snapshot()
                        assert client.watch_stats.watched == N
            finally:
                tracemalloc.stop()
            per_command = (
                sum(
                    s.size_diff
                    for s in after.compare_to(before, "filename")
                    if "cmdprogress" in str(s.traceback) and "testing" not in str(s.traceback)
                )
                / N
            )
            assert per_command < 4096, per_command
            print(f"engine memory per watched command: {per_command:.0f} bytes")
