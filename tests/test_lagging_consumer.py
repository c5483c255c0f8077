"""A consumer slower than the polls: every state change, or a gap it can see; bounded bytes.

The simulator's clock is manual, and the engine runs on it (tests/_drive.py):
the test moves each command one snapshot at a time and moves the clock to the
engine's next poll until the engine has seen it; the consumer reads one item
for every three changes, or not at all.
"""

from __future__ import annotations

import json
from functools import partial

import anyio
import pytest
from _drive import Drive, manual_client

from cmdprogress import Client, CommandProgress, PollPolicy, RetryPolicy
from cmdprogress._mailbox import MAX_PENDING_BYTES
from cmdprogress._models import MAX_FAILED_ENTITIES, MAX_STEPS
from cmdprogress.testing import Fault, ManagerSimulator, Snapshot, Timeline

FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.002)
POLL = PollPolicy(interval=0.005, max_interval=0.005, jitter=0)
FLIPS = 100


def flapping(flips: int, **fields: object) -> Timeline:
    """NEW, then ``flips`` snapshots alternating IN_PROGRESS / WAITING, then COMPLETE."""
    snaps = [Snapshot(state="NEW", **fields)]  # type: ignore[arg-type]
    for i in range(flips):
        state = "WAITING" if i % 2 else "IN_PROGRESS"
        snaps.append(Snapshot(state=state, total_progress=i, **fields))  # type: ignore[arg-type]
    snaps.append(Snapshot(state="COMPLETE", total_progress=100.0, **fields))  # type: ignore[arg-type]
    return Timeline(snapshots=tuple(snaps))


def changes_seen(client: Client, n: int) -> bool:
    """True once the engine has seen ``n`` different snapshots."""
    return client.watch_stats.changes >= n


@pytest.mark.anyio
async def test_flapping_command_every_state_change_reaches_a_slow_consumer() -> None:
    """A command flapping between two states 100 times, a consumer that reads one snapshot
    for every three changes: it gets the first snapshot, every state change in order, and
    the terminal one; nothing is dropped, no gap."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(flapping(FLIPS))
        async with manual_client(sim, poll=POLL) as client:
            drive = Drive(client, sim.clock)
            got: list[CommandProgress] = []
            with anyio.fail_after(20):  # a bound for a broken run, not a wait for a result
                async with client.watch(cid) as watch:  # registered; nothing read yet
                    await drive.until(partial(changes_seen, client, 1))
                    for n in range(1, FLIPS + 1):
                        sim.advance(cid)
                        await drive.until(partial(changes_seen, client, n + 1))
                        if n % 3 == 0:
                            got.append(await watch.__anext__())
                    sim.finish(cid)
                    await drive.until(lambda: client.watch_stats.watched == 0)  # the end seen
                    got += [p async for p in watch]
            stats = client.watch_stats
    states = [p.raw_state for p in got]
    assert states == [s.state for s in flapping(FLIPS).snapshots]
    assert [p.total_progress for p in got[1:-1]] == [float(i) for i in range(FLIPS)]
    assert all(p.missed == 0 for p in got)
    assert stats.overflowed == 0


@pytest.mark.anyio
async def test_a_consumer_too_far_behind_sees_a_counted_gap() -> None:
    """Big snapshots (1,000 steps each) flapping 100 times against a consumer that does not
    read: the mailbox holds at most its byte budget; the first snapshot and the terminal one
    arrive; every snapshot dropped is counted on the next one delivered (`missed`), so
    delivered + missed = every change the engine saw."""
    steps = [(f"step {i}", "d" * 100) for i in range(MAX_STEPS)]
    timeline = flapping(FLIPS, steps=steps)
    async with ManagerSimulator() as sim:
        cid = sim.add_command(timeline)
        async with manual_client(sim, poll=POLL) as client:
            drive = Drive(client, sim.clock)
            peak = 0
            with anyio.fail_after(30):  # a bound for a broken run, not a wait for a result
                async with client.watch(cid) as watch:
                    inbox = watch._inbox
                    await drive.until(partial(changes_seen, client, 1))
                    for n in range(1, FLIPS + 1):
                        sim.advance(cid)
                        await drive.until(partial(changes_seen, client, n + 1))
                        peak = max(peak, inbox.bytes)
                    sim.finish(cid)
                    await drive.until(lambda: client.watch_stats.watched == 0)  # the end seen
                    got = [p async for p in watch]
            stats = client.watch_stats
    one = got[0]
    assert len(one.steps) == MAX_STEPS
    assert stats.overflowed > 0  # the budget did bind
    assert peak <= MAX_PENDING_BYTES + 2 * 400_000  # the budget, plus the first and the newest
    assert got[0].raw_state == "NEW"
    assert got[0].missed == 0
    assert got[-1].raw_state == "COMPLETE"
    assert sum(p.missed for p in got) == stats.overflowed
    assert len(got) + stats.overflowed == len(timeline.snapshots)
    progress = [p.total_progress for p in got]
    assert progress == sorted(progress)  # what is kept stays in order


def _answer(steps: int, failed: int) -> bytes:
    res = {"step_list": [{}] * steps, "fail_entity_list": [{}] * failed}
    return json.dumps({"state": "IN_PROGRESS", "res_obj": res}, separators=(",", ":")).encode()


@pytest.mark.anyio
async def test_a_snapshot_holds_at_most_the_capped_steps_and_failed_instances() -> None:
    """A 1 MiB answer listing 349,000 empty steps (or 100,000 failed instances) decodes into
    a snapshot of the last MAX_STEPS steps (MAX_FAILED_ENTITIES instances), the rest counted
    in steps_omitted (failed_entities_omitted)."""
    body = _answer(349_000, 0)
    assert len(body) <= 1 << 20
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.raw(200, body, {"Content-Type": "application/json"}), times=1)
        sim.faults.inject(
            Fault.raw(200, _answer(0, 100_000), {"Content-Type": "application/json"}), times=1
        )
        async with Client(sim.url, retry=FAST) as client:
            many_steps = await client.get_progress(cid)
            many_failed = await client.get_progress(cid)
            normal = await client.get_progress(cid)
    assert len(many_steps.steps) == MAX_STEPS
    assert many_steps.steps_omitted == 349_000 - MAX_STEPS
    assert many_steps.failed_entities_omitted == 0
    assert len(many_failed.failed_entities) == MAX_FAILED_ENTITIES
    assert many_failed.failed_entities_omitted == 100_000 - MAX_FAILED_ENTITIES
    assert normal.steps_omitted == normal.failed_entities_omitted == 0
