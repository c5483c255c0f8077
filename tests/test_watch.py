"""The polling engine end to end, against the Manager simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from _drive import Drive, manual_client

from cmdprogress import (
    Client,
    CommandProgress,
    CommandState,
    PollPolicy,
    RetryPolicy,
    WatchEvent,
)
from cmdprogress._pacing import RECOVER
from cmdprogress.exceptions import (
    ClientClosedError,
    CommandErrorGroup,
    CommandFailed,
    InvalidArgumentError,
    InvalidCommandIdError,
    MalformedResponseError,
    UnknownCommandError,
)
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

FAST = PollPolicy(interval=0.005, max_interval=0.02, throttle_pause=0.02)
QUICK_RETRY = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.005, max_retry_after=0.01)
TERMINAL = (CommandState.COMPLETE, CommandState.FAILED)


@pytest.fixture
async def sim() -> AsyncIterator[ManagerSimulator]:
    """A simulator with a manual clock and no login."""
    async with ManagerSimulator() as s:
        yield s


def client_for(sim: ManagerSimulator, **kwargs: Any) -> Client:
    """A client with tiny intervals and quick retries."""
    kwargs.setdefault("poll", FAST)
    kwargs.setdefault("retry", QUICK_RETRY)
    return Client(sim.url, **kwargs)


def manual(steps: int = 2, *, fail: bool = False) -> Timeline:
    """A timeline that moves only by advance()/finish() (the clock stays still)."""
    return Timeline.build(steps=steps, duration=1000.0, fail=fail)


async def polled_again(sim: ManagerSimulator, cid: int, n: int = 3) -> None:
    """Wait until ``cid`` has been polled ``n`` more times (proof that the engine runs on)."""
    target = sim.stats.progress_requests[cid] + n
    await sim.wait_for_requests(cid, target)


def ordered(states: list[CommandState]) -> bool:
    """True when the states never go back (NEW, then running states, then one terminal)."""
    rank = {CommandState.NEW: 0, CommandState.IN_PROGRESS: 1, CommandState.UNKNOWN: 1}
    ranks = [rank.get(s, 2) for s in states]
    return ranks == sorted(ranks) and ranks.count(2) == 1 and ranks[-1] == 2


@pytest.mark.anyio
async def test_300_commands_each_terminal_snapshot_exactly_once(sim: ManagerSimulator) -> None:
    """300 commands watched together: each yields its terminal snapshot once, in order."""
    ids = [sim.add_command(manual(fail=i % 10 == 0)) for i in range(300)]
    seen: dict[int, list[CommandProgress]] = defaultdict(list)

    async def drive() -> None:
        for _ in range(4):
            await sim.wait_until(lambda s: all(s.stats.progress_requests[c] for c in ids))
            counts = {c: sim.stats.progress_requests[c] for c in ids}
            sim.advance_all()
            await sim.wait_until(
                lambda s, counts=counts: all(  # type: ignore[misc]
                    s.stats.progress_requests[c] > counts[c] for c in ids
                )
            )
        sim.finish_all()

    with anyio.fail_after(20):
        async with client_for(sim, max_concurrency=16) as client, anyio.create_task_group() as tg:
            tg.start_soon(drive)
            async for p in client.watch_many(ids):
                seen[p.command_id].append(p)
            assert client.watch_stats.watched == 0
    assert sorted(seen) == ids
    for cid, snaps in seen.items():
        terminals = [p for p in snaps if p.is_terminal]
        assert len(terminals) == 1, cid
        assert snaps[-1] is terminals[0]
        assert ordered([p.state for p in snaps]), [p.state for p in snaps]
        assert all(a != b for a, b in itertools.pairwise(snaps))
    # Sorted: which command yields first depends on the loop's scheduling (uvloop differs).
    failed = sorted(cid for cid, snaps in seen.items() if snaps[-1].state is CommandState.FAILED)
    assert failed == ids[::10]
    assert sim.stats.peak_in_flight <= 16


@pytest.mark.anyio
async def test_throttling_slows_the_whole_client_and_recovers(sim: ManagerSimulator) -> None:
    """503/429 answers cut the client's rate, in-flight stays under the limit, then it recovers.

    On the simulator's manual clock: the recovery takes RECOVER seconds of that clock.
    """
    ids = [sim.add_command(manual()) for _ in range(40)]
    # Seconds of the manual clock: no need for the tiny intervals of a wall-clock test.
    policy = PollPolicy(interval=0.05, max_interval=0.1, throttle_pause=0.1, jitter=0)

    with anyio.fail_after(20):  # a bound for a broken run, not a wait for a result
        async with (
            manual_client(sim, poll=policy, max_concurrency=4) as client,
            anyio.create_task_group() as tg,
        ):
            drive = Drive(client, sim.clock)
            watcher = client.watch_many(ids)

            async def consume() -> None:
                async for _ in watcher:
                    pass

            tg.start_soon(consume)
            # Half a second of polling: the pacer has seen the pace the Manager served.
            await drive.until(lambda: sim.clock.now() >= 0.5)
            # Throttling that persists (a third of the answers, more than stray ones).
            sim.faults.inject(Fault.status(503), times=6)
            sim.faults.inject(
                Fault.raw(429, "<html>slow down</html>", {"Retry-After": "0"}), times=6
            )
            await drive.until(lambda: sim.faults.pending == 0)
            limit = client._pacer.current_limit
            slowed = client._pacer.slowed_down
            cut_at = sim.clock.now()
            # Recovery is gradual: the cut is lifted RECOVER seconds after it was made.
            await drive.until(lambda: not client._pacer.slowed_down)
            recovered_after = sim.clock.now() - cut_at
            sim.finish_all()
            await drive.until(lambda: client.watch_stats.watched == 0)
    assert client.stats.throttled == 12
    assert client.stats.rate_cuts >= 1
    assert limit is not None
    assert slowed
    # Seen at the first poll after it: within one max_interval.
    assert recovered_after == pytest.approx(RECOVER, abs=policy.max_interval)
    assert sim.stats.peak_in_flight <= 4


@pytest.mark.anyio
async def test_slow_consumer_neither_slows_others_nor_misses_transitions(
    sim: ManagerSimulator,
) -> None:
    """A watcher that does not read gets NEW, the latest IN_PROGRESS and the terminal, in order."""
    cid = sim.add_command(Timeline.build(steps=4, duration=1000.0))
    fast: list[CommandProgress] = []
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            async with client.watch(cid) as slow:  # registered, never read until the end
                async with client.watch(cid) as quick:
                    fast.append(await quick.__anext__())
                    for _ in range(8):
                        sim.advance(cid)
                        fast.append(await quick.__anext__())
                    sim.finish(cid)
                    fast.append(await quick.__anext__())
                    with pytest.raises(StopAsyncIteration):
                        await quick.__anext__()
                lagging = [p async for p in slow]
            assert client.watch_stats.coalesced >= 1
    assert [p.state for p in fast][:2] == [CommandState.NEW, CommandState.IN_PROGRESS]
    assert len(fast) == 10  # every change reached the reader that kept up
    assert [p.state for p in lagging] == [
        CommandState.NEW,
        CommandState.IN_PROGRESS,
        CommandState.COMPLETE,
    ]
    running = [p for p in fast if p.state is CommandState.IN_PROGRESS]
    assert lagging[1] == running[-1]  # the latest of the coalesced run
    assert lagging[2] == fast[-1]


@pytest.mark.anyio
async def test_add_and_discard_while_running(sim: ManagerSimulator) -> None:
    """Ids added mid-stream are watched; a discarded id stops being polled at once."""
    a, b, c = (sim.add_command(manual()) for _ in range(3))
    seen: list[int] = []
    discarded_at = 0
    added = False
    with anyio.fail_after(10):
        async with client_for(sim) as client, client.watcher([a, b]) as w:
            async for p in w:
                seen.append(p.command_id)
                # Once only: c may end (and leave command_ids) before a's terminal snapshot is read.
                if p.command_id == a and not added:
                    added = True
                    w.add(c)
                    w.discard(b)
                    discarded_at = sim.stats.progress_requests[b]
                    assert client.watch_stats.watched == 2
                    sim.finish(a)
                    sim.finish(c)
            settled = sim.stats.progress_requests[b]
    assert set(w.results) == {a, c}
    assert seen.count(c) >= 1
    assert settled <= discarded_at + 1  # at most the request already on the wire


@pytest.mark.anyio
async def test_multi_watch_stays_open_until_closed(sim: ManagerSimulator) -> None:
    """With close_when_done=False the stream waits for new ids after all ended."""
    first = sim.add_command(manual())
    second = sim.add_command(manual())
    sim.finish(first)
    sim.finish(second)
    got: list[int] = []
    with anyio.fail_after(10):
        async with client_for(sim) as client, client.watcher([first], close_when_done=False) as w:
            async for p in w:
                got.append(p.command_id)
                if p.command_id == first:
                    w.add(second)
                else:
                    w.close()
    assert got == [first, second]


@pytest.mark.anyio
async def test_endless_watcher_keeps_no_results(sim: ManagerSimulator) -> None:
    """keep_results=False: terminal snapshots are delivered but not kept on .results."""
    ids = [sim.add_command(manual()) for _ in range(20)]
    for cid in ids:
        sim.finish(cid)
    ended: list[int] = []
    with anyio.fail_after(10):
        async with (
            client_for(sim) as client,
            client.watcher(ids[:1], close_when_done=False, keep_results=False) as w,
        ):
            async for p in w:
                assert p.is_terminal
                ended.append(p.command_id)
                if len(ended) < len(ids):
                    w.add(ids[len(ended)])
                else:
                    w.close()
    assert ended == ids
    assert w.results == {}


@pytest.mark.anyio
async def test_resume_yields_only_what_was_not_seen(sim: ManagerSimulator) -> None:
    """watch(since=last) skips the snapshot already seen; a terminal since yields nothing."""
    cid = sim.add_command(manual())
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            first = await client.watch(cid).__anext__()
            sim.advance(cid)
            resumed = client.watch(cid, since=first)
            second = await resumed.__anext__()
            assert second != first
            assert second.state is CommandState.IN_PROGRESS
            await resumed.aclose()
            sim.finish(cid)
            final = await client.wait(cid)
            before = sim.stats.progress_requests[cid]
            assert [p async for p in client.watch(cid, since=final)] == []
            async with client.watcher() as w:
                w.resume(final)
                assert [p async for p in w] == []
            assert w.results == {cid: final}
            assert sim.stats.progress_requests[cid] == before


@pytest.mark.anyio
async def test_early_break_stops_polling_at_once(sim: ManagerSimulator) -> None:
    """Leaving async for unregisters the command before the next line runs; no more requests."""
    cid = sim.add_command(manual())
    other = sim.add_command(manual())
    with anyio.fail_after(10):
        async with client_for(sim) as client, client.watch(other):
            async for _ in client.watch(cid):
                break
            assert client.watch_stats.watched == 1
            stopped_at = sim.stats.progress_requests[cid]
            await polled_again(sim, other, 5)
            assert sim.stats.progress_requests[cid] <= stopped_at + 1
            after = sim.stats.progress_requests[cid]
            await polled_again(sim, other, 5)
            assert sim.stats.progress_requests[cid] == after


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["move_on_after", "fail_after", "asyncio.timeout", "cancel"])
async def test_deadlines_and_cancellation_stop_polling(sim: ManagerSimulator, how: str) -> None:
    """A deadline or cancellation around a watch ends it and stops its polling; nothing leaks."""
    cid = sim.add_command(manual())
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            got: list[CommandProgress] = []

            async def consume() -> None:
                async for p in client.watch(cid):
                    got.append(p)

            async def consume_until_due(expire: Callable[[], object]) -> None:
                """Consume; once the command was polled twice, the deadline runs out (now)."""
                async with anyio.create_task_group() as tg:
                    tg.start_soon(consume)
                    await sim.wait_for_requests(cid, 2)
                    expire()  # no wall-clock wait for the deadline: it is due at once
                    await anyio.sleep_forever()

            # A deadline far off, moved to now once the command was polled twice.
            if how == "move_on_after":
                # What move_on_after(60) returns: a scope whose deadline is moved below.
                with anyio.CancelScope(deadline=anyio.current_time() + 60) as scope:
                    await consume_until_due(lambda: setattr(scope, "deadline", -math.inf))
                assert scope.cancelled_caught
            elif how == "fail_after":
                with pytest.raises(TimeoutError), anyio.fail_after(60) as scope:
                    await consume_until_due(lambda: setattr(scope, "deadline", -math.inf))
            elif how == "asyncio.timeout":
                loop = asyncio.get_running_loop()
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(60) as cm:
                        await consume_until_due(lambda: cm.reschedule(loop.time()))
            else:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(consume)
                    await sim.wait_for_requests(cid, 2)
                    tg.cancel_scope.cancel()
            assert got
            assert client.watch_stats.watched == 0
            assert client.watch_stats.watchers == 0
            # The engine survives: its fetch workers are still there for the next watch.
            assert [t for t in asyncio.all_tasks() if t.get_name() == "cmdprogress fetch worker"]
            stopped_at = sim.stats.progress_requests[cid]
            other = sim.add_command(manual())
            async with client.watch(other):
                await polled_again(sim, other, 5)
            assert sim.stats.progress_requests[cid] <= stopped_at + 1
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("cmdprogress")]


@pytest.mark.anyio
async def test_unknown_id_ends_only_that_command(sim: ManagerSimulator) -> None:
    """A 404 id is raised, in a group carrying the others' results, after they finished."""
    good = sim.add_command(manual())
    seen: list[CommandProgress] = []
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            stream = client.watch_many([good, 4040])

            async def consume() -> None:
                async for p in stream:
                    seen.append(p)
                    if p.command_id == good and not p.is_terminal:
                        sim.finish(good)

            with pytest.raises(CommandErrorGroup) as info:
                await consume()
    (error,) = info.value.exceptions
    assert isinstance(error, UnknownCommandError)
    assert error.command_id == 4040
    assert info.value.errors == {4040: error}
    assert seen[-1].command_id == good
    assert seen[-1].is_terminal
    assert stream.results == {good: seen[-1]}
    assert info.value.results == {good: seen[-1]}


@pytest.mark.anyio
async def test_malformed_and_unknown_are_reported_together(sim: ManagerSimulator) -> None:
    """Two broken commands raise one CommandErrorGroup carrying the good command's result."""
    good = sim.add_command(manual())
    broken = sim.add_command(manual())
    sim.finish(good)
    sim.faults.inject(Fault.malformed_json(), times=1000, command_id=broken)
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            with pytest.raises(CommandErrorGroup) as info:
                await client.wait_all([good, broken, 4040])
            mixed = await client.wait_all([good, broken, 4040], return_exceptions=True)
    group = info.value
    assert set(group.errors) == {broken, 4040}
    assert isinstance(group.errors[broken], MalformedResponseError)
    assert isinstance(group.errors[4040], UnknownCommandError)
    assert group.results[good].state is CommandState.COMPLETE
    assert list(mixed) == [good, broken, 4040]
    assert isinstance(mixed[good], CommandProgress)
    assert isinstance(mixed[broken], MalformedResponseError)
    assert sim.stats.progress_requests[broken] >= 3  # a single bad body is not fatal


@pytest.mark.anyio
async def test_one_bad_body_is_tolerated(sim: ManagerSimulator) -> None:
    """A single malformed answer is polled again, not fatal."""
    cid = sim.add_command(manual())
    sim.finish(cid)
    sim.faults.inject(Fault.malformed_json(), times=1, command_id=cid)
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            final = await client.wait(cid)
            assert client.watch_stats.retried >= 1
    assert final.state is CommandState.COMPLETE


@pytest.mark.anyio
async def test_wait_returns_complete_and_raises_on_failed(sim: ManagerSimulator) -> None:
    """wait() returns the COMPLETE snapshot and raises CommandFailed with the FAILED one."""
    ok = sim.add_command(manual())
    bad = sim.add_command(manual(fail=True))
    sim.finish_all()
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            assert (await client.wait(ok)).state is CommandState.COMPLETE
            with pytest.raises(CommandFailed) as info:
                await client.wait(bad)
            finals = await client.wait_all([ok, bad, ok])
    assert info.value.progress.state is CommandState.FAILED
    assert info.value.progress.error_code < 0
    assert [p.state for p in finals.values()] == [CommandState.COMPLETE, CommandState.FAILED]


@pytest.mark.anyio
async def test_outage_mid_watch_is_not_a_failure(sim: ManagerSimulator) -> None:
    """Refused connections during an outage are retried by the engine; the watch completes."""
    cid = sim.add_command(manual())
    retries: list[WatchEvent] = []
    enough = anyio.Event()
    states: list[CommandState] = []

    def on_event(event: WatchEvent) -> None:
        if event.kind == "retry":
            retries.append(event)
            if len(retries) >= 2:
                enough.set()

    with anyio.fail_after(10):
        async with client_for(sim) as client:
            client.add_listener(on_event)
            async for p in client.watch(cid):
                states.append(p.state)
                if p.state is CommandState.NEW:
                    async with sim.outage():
                        sim.advance(cid)
                        await enough.wait()
                    sim.finish(cid)
    assert states[0] is CommandState.NEW
    assert states[-1] is CommandState.COMPLETE
    assert CommandState.IN_PROGRESS in states or len(states) == 2
    assert len(retries) >= 2


@pytest.mark.anyio
async def test_outage_longer_than_grace_ends_the_watch(sim: ManagerSimulator) -> None:
    """With outage_grace=0 the first poll that exhausts retries ends the watch with its error."""
    cid = sim.add_command(manual())
    policy = PollPolicy(interval=0.005, max_interval=0.01, outage_grace=0)
    with anyio.fail_after(10):
        async with client_for(sim, poll=policy) as client:
            watch = client.watch(cid)
            await watch.__anext__()
            await sim.start_outage()
            try:
                with pytest.raises(Exception) as info:
                    await watch.__anext__()
            finally:
                await sim.end_outage()
    assert type(info.value).__module__ == "cmdprogress.exceptions"


@pytest.mark.anyio
async def test_watching_after_close_raises_client_closed(sim: ManagerSimulator) -> None:
    """A watch open when the client closes raises ClientClosedError; a closed client refuses."""
    cid = sim.add_command(manual())
    client = client_for(sim)
    async with client:
        watch = client.watch(cid)
        await watch.__anext__()
    with pytest.raises(ClientClosedError):
        await watch.__anext__()
    with pytest.raises(ClientClosedError):
        client.watch(cid)


@pytest.mark.anyio
async def test_max_commands_bound(sim: ManagerSimulator) -> None:
    """Watching more than PollPolicy(max_commands) commands raises a clear error."""
    ids = [sim.add_command(manual()) for _ in range(3)]
    policy = PollPolicy(interval=0.005, max_interval=0.02, max_commands=2)
    with anyio.fail_after(10):
        async with client_for(sim, poll=policy) as client:
            with pytest.raises(InvalidArgumentError) as info:
                async for _ in client.watch_many(ids):
                    pass
            assert client.watch_stats.watched == 0
    assert info.value.argument == "command_ids"
    assert "max_commands" in str(info.value)


@pytest.mark.anyio
async def test_listener_sees_polls_changes_and_end(sim: ManagerSimulator) -> None:
    """The tracing hook gets watch, poll, change and end events with the command id."""
    cid = sim.add_command(manual())
    sim.finish(cid)
    events: list[WatchEvent] = []
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            remove: Callable[[], None] = client.add_listener(events.append)
            await client.wait(cid)
            remove()
            assert client.watch_stats is client.engine.stats
            assert client.watch_stats.polls >= 1
            assert client.requests_for(cid) == client.requests_for(str(cid)) >= 1
            with pytest.warns(DeprecationWarning, match="requests_for"):
                assert client.engine.polls(cid) == client.requests_for(cid)
            with pytest.raises(InvalidCommandIdError):
                client.requests_for(-1)
    kinds = [e.kind for e in events]
    assert kinds[0] == "watch"
    assert {"poll", "change", "end"} <= set(kinds)
    assert all(e.command_id == cid for e in events)
    end = next(e for e in events if e.kind == "end")
    assert end.progress is not None
    assert end.progress.is_terminal


@pytest.mark.anyio
@pytest.mark.parametrize("auth", ["basic", "cas"])
async def test_session_expiry_mid_watch_is_not_a_failure(auth: str) -> None:
    """Sessions expiring while commands are watched cost a re-login, not a watch."""
    from cmdprogress import BasicAuth, CASAuth

    async with ManagerSimulator(auth=auth) as sim:  # type: ignore[arg-type]
        ids = [sim.add_command(manual()) for _ in range(5)]
        credentials = (
            BasicAuth(sim.username, sim.password)
            if auth == "basic"
            else CASAuth(sim.username, sim.password, cas_url=sim.cas_url)
        )
        seen: dict[int, list[CommandState]] = defaultdict(list)
        with anyio.fail_after(10):
            async with client_for(sim, auth=credentials) as client:
                async for p in client.watch_many(ids):
                    seen[p.command_id].append(p.state)
                    if p.command_id == ids[0] and p.state is CommandState.NEW:
                        sim.expire_sessions()
                        sim.advance_all()
                    elif p.command_id == ids[0] and p.state is CommandState.IN_PROGRESS:
                        sim.expire_sessions()
                        sim.finish_all()
                assert client.stats.relogins >= 1
        assert all(states[-1] is CommandState.COMPLETE for states in seen.values())
        assert all(ordered(states) for states in seen.values())
        assert sorted(seen) == ids
        assert sim.stats.logins_ok <= 3  # one login for everyone, not one per request


@pytest.mark.anyio
async def test_a_stray_503_for_one_command_delays_only_that_poll(sim: ManagerSimulator) -> None:
    """One 503 among successes neither pauses nor slows the other commands (issue 11).

    On the simulator's manual clock: the throttled command waits ``throttle_pause``
    (0.2 s), the nine others are polled at their cadence all along.
    """
    ids = [sim.add_command(manual()) for _ in range(10)]
    victim = ids[0]
    policy = PollPolicy(interval=0.005, max_interval=0.01, throttle_pause=0.2, jitter=0)
    with anyio.fail_after(10):  # a bound for a broken run, not a wait for a result
        async with (
            manual_client(sim, poll=policy, max_concurrency=4) as client,
            client.watch_many(ids),
        ):
            drive = Drive(client, sim.clock)
            await drive.until(lambda: all(sim.stats.progress_requests[c] >= 5 for c in ids))
            sim.faults.inject(Fault.status(503), command_id=victim)
            await drive.until(lambda: any(r.status == 503 for r in sim.stats.log))
            t0, n0 = sim.clock.now(), len(sim.stats.log)
            await drive.until(lambda: sim.clock.now() >= t0 + 0.19)
            during = list(sim.stats.log)[n0:]
            await drive.until(lambda: sim.clock.now() >= t0 + 0.2)
            back = sim.clock.now()
            await drive.until(lambda: sim.stats.log[-1].command_id == victim)
    # The others went on at max_interval (0.01 s) at the slowest: 9 commands, 19 turns each.
    assert sum(1 for r in during if r.command_id != victim) >= 9 * 19
    assert all(r.command_id != victim for r in during)  # only the victim waited
    assert back == pytest.approx(t0 + 0.2)
    assert client.stats.throttled == 1
    assert client.stats.rate_cuts == 0
    assert client.stats.paused_seconds == 0
    assert client.stats.rate_limit is None


@pytest.mark.anyio
@pytest.mark.realclock("the ceiling holds in the loop's real time over real sockets")
async def test_requests_per_second_ceiling(sim: ManagerSimulator) -> None:
    """PollPolicy(max_requests_per_second=100) spaces requests at least 10 ms apart on average."""
    ids = [sim.add_command(manual()) for _ in range(10)]
    policy = PollPolicy(interval=0.005, max_interval=0.01, max_requests_per_second=100)
    with anyio.fail_after(10):
        async with client_for(sim, poll=policy) as client, client.watch_many(ids):
            await sim.wait_until(lambda s: len(s.stats.log) >= 21)
    times = [r.time for r in list(sim.stats.log)[:21]]
    assert times[-1] - times[0] >= 0.19  # 20 gaps of 10 ms (small slack for clock reads)


@pytest.mark.anyio
async def test_dropping_a_command_cancels_its_request_in_flight(sim: ManagerSimulator) -> None:
    """Closing the last watch of a command frees its slot at once: no waiting for a slow answer."""
    slow = sim.add_command(manual())
    other = sim.add_command(manual())
    sim.finish(other)
    sim.faults.inject(Fault.hang(), command_id=slow)  # never answered
    with anyio.fail_after(10):  # a bound for a broken run, not a wait for a result
        async with client_for(sim, max_concurrency=1) as client:
            async with client.watch(slow):
                await sim.wait_until(lambda s: s.stats.in_flight == 1)
            # The only connection slot was held by the slow request; it is free again.
            final = await client.wait(other)
    assert final.state is CommandState.COMPLETE


@pytest.mark.anyio
async def test_unknown_state_is_yielded_and_not_terminal(sim: ManagerSimulator) -> None:
    """A WAITING state (UNKNOWN to the library) is a change like any other, not an end."""
    cid = sim.add_command(Timeline.build(steps=1, duration=1000.0, waiting=1.0))
    states: list[str] = []
    with anyio.fail_after(10):
        async with client_for(sim) as client:
            async for p in client.watch(cid):
                states.append(p.raw_state)
                if p.raw_state == "NEW":
                    sim.advance(cid)
                elif p.raw_state == "WAITING":
                    assert p.state is CommandState.UNKNOWN
                    assert not p.is_terminal
                    sim.finish(cid)
    assert states == ["NEW", "WAITING", "COMPLETE"]
