"""The engine on a manual clock: the simulator's clock drives the commands and the scheduler.

``client._clock = sim.clock`` before ``async with client``: the engine then reads
time from the simulator's :class:`~cmdprogress.testing.ManualClock` and sets its
timer on it. A test moves time to the next timer with :func:`step` and waits on
the engine's events for the poll that falls due; no wall-clock wait decides
what is polled when, so the counts below are exact.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING

import anyio
import pytest

from cmdprogress import Client, CommandProgress, CommandState, PollPolicy, RetryPolicy
from cmdprogress.exceptions import CommandStalledError, HTTPStatusError
from cmdprogress.testing import Fault, ManagerSimulator, ManualClock, Timeline

if TYPE_CHECKING:
    from collections.abc import Callable

    from cmdprogress import Watcher, WatchEvent

pytestmark = pytest.mark.anyio


class Polls:
    """The engine's events, and a way to wait for the next one of some kinds."""

    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: WatchEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    def count(self, kind: str, command_id: int | None = None) -> int:
        return sum(
            1
            for e in self.events
            if e.kind == kind and (command_id is None or e.command_id == command_id)
        )

    async def until(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` is true, checking after each event."""
        with anyio.fail_after(10):  # a bound for a broken run, not a wait for a result
            while not done():
                self._arrived.clear()
                await self._arrived.wait()

    async def next(self, *kinds: str) -> WatchEvent:
        """The next event of one of ``kinds`` (it comes after the clock moved)."""
        seen = len(self.events)
        with anyio.fail_after(10):  # a bound for a broken run, not a wait for a result
            while True:
                for event in self.events[seen:]:
                    if event.kind in kinds:
                        return event
                seen = len(self.events)
                self._arrived.clear()
                await self._arrived.wait()


def step(clock: ManualClock) -> float:
    """Move the clock to the engine's next timer; return the seconds moved."""
    due = clock.next_timer()
    assert due is not None, "the engine set no timer"
    gap = due - clock.now()
    clock.advance(gap)
    return gap


async def drain(watcher: Watcher) -> None:
    async for _ in watcher:
        pass


def manual_client(sim: ManagerSimulator, policy: PollPolicy) -> Client:
    """A client whose engine runs on the simulator's clock (and whose transport never retries:
    its retries would wait on the wall clock)."""
    assert isinstance(sim.clock, ManualClock)
    client = Client(sim.url, poll=policy, retry=RetryPolicy(attempts=1))
    client._clock = sim.clock
    return client


async def test_a_steady_command_is_polled_around_its_changes() -> None:
    """Every change of a steady command arrives, with far fewer polls than a fixed poller.

    A change every 2 s over 12 s; a poller at ``interval`` (0.1 s) would send 120 requests.
    """
    policy = PollPolicy(interval=0.1, max_interval=3.0, jitter=0)
    timeline = Timeline.build(steps=5, duration=12.0)
    async with ManagerSimulator(clock="manual") as sim:
        cid = sim.add_command(timeline)
        polls = Polls()
        async with manual_client(sim, policy) as client:
            client.add_listener(polls)
            async with client.watch(cid) as w:
                await polls.next("poll")  # the first poll is immediate
                while polls.count("end") == 0:
                    step(sim.clock)
                    await polls.next("poll")
                seen = [p async for p in w]
        requests = sim.stats.progress_requests[cid]
    assert seen[-1].state is CommandState.COMPLETE
    # The engine saw every snapshot of the timeline, one change at a time.
    changes = [
        (e.progress.raw_state, e.progress.total_progress)
        for e in polls.events
        if e.kind == "change" and e.progress is not None
    ]
    assert changes == [(s.state, s.total_progress) for s in timeline.snapshots]
    assert requests == polls.count("poll") < 40


async def test_an_unchanged_command_backs_off_to_max_interval() -> None:
    """Unchanged answers stretch the delay by ``backoff``, from ``interval`` to ``max_interval``."""
    policy = PollPolicy(interval=1.0, max_interval=8.0, backoff=2.0, jitter=0)
    async with ManagerSimulator(clock="manual") as sim:
        cid = sim.add_command(Timeline.build(steps=1, duration=10_000.0))
        polls = Polls()
        async with manual_client(sim, policy) as client:
            client.add_listener(polls)
            async with client.watch(cid):
                await polls.next("poll")
                gaps = []
                for _ in range(7):
                    gaps.append(step(sim.clock))
                    await polls.next("poll")
    assert gaps[0] == 1.0
    assert gaps == sorted(gaps)
    assert gaps[-1] == 8.0
    assert sim.stats.progress_requests[cid] == 8


async def test_a_stalled_command_ends_after_stall_timeout() -> None:
    """No change for ``stall_timeout`` of engine time ends the watch with CommandStalledError."""
    policy = PollPolicy(interval=1.0, max_interval=4.0, stall_timeout=30.0, jitter=0)
    async with ManagerSimulator(clock="manual") as sim:
        cid = sim.add_command(Timeline.build(steps=1, duration=10_000.0))
        polls = Polls()
        async with manual_client(sim, policy) as client:
            client.add_listener(polls)
            async with client.watch(cid) as w:
                await polls.next("poll")
                while polls.count("end") == 0:
                    step(sim.clock)
                    await polls.next("poll", "end")
                with pytest.raises(CommandStalledError) as info:
                    await drain(w)
            assert 30.0 <= sim.clock.now() < 30.0 + policy.max_interval
    assert info.value.command_id == cid
    assert info.value.stalled_for == sim.clock.now()


async def test_an_outage_is_retried_within_outage_grace_then_ends_the_watch() -> None:
    """5xx answers are polled again with back-off until ``outage_grace`` has passed."""
    policy = PollPolicy(interval=1.0, max_interval=4.0, outage_grace=10.0, jitter=0)
    async with ManagerSimulator(clock="manual") as sim:
        cid = sim.add_command(Timeline.build(steps=1, duration=10_000.0))
        polls = Polls()
        async with manual_client(sim, policy) as client:
            client.add_listener(polls)
            async with client.watch(cid) as w:
                await polls.next("poll")
                sim.faults.inject(Fault.status(500), times=1000)
                retried_at = []
                while polls.count("end") == 0:
                    step(sim.clock)
                    event = await polls.next("retry", "end")
                    if event.kind == "retry":
                        retried_at.append(sim.clock.now())
                with pytest.raises(HTTPStatusError):
                    await drain(w)
            assert client.watch_stats.retried == len(retried_at) >= 3
            # The outage started at the first failed poll; it ends the watch once 10 s have passed.
            assert sim.clock.now() - retried_at[0] >= 10.0


async def test_a_policy_replaced_while_running_sets_the_next_delays() -> None:
    """``client.poll = ...`` reaches the running engine: the next poll is due at the new pace."""
    slow = PollPolicy(interval=5.0, max_interval=5.0, jitter=0)
    async with ManagerSimulator(clock="manual") as sim:
        cid = sim.add_command(Timeline.build(steps=1, duration=10_000.0))
        polls = Polls()
        async with manual_client(
            sim, PollPolicy(interval=1.0, max_interval=1.0, jitter=0)
        ) as client:
            client.add_listener(polls)
            async with client.watch(cid):
                await polls.next("poll")
                assert step(sim.clock) == 1.0
                client.poll = slow
                await polls.next("poll")
                assert step(sim.clock) == 5.0
                await polls.next("poll")


async def test_manual_clock_timers_run_on_the_loop_in_order() -> None:
    """``call_at``: a time reached runs soon, later ones at ``advance``, in order; cancel works."""
    clock = ManualClock()
    ran: list[str] = []
    done = asyncio.Event()
    clock.call_at(3.0, ran.append, "c")
    clock.call_at(1.0, ran.append, "a")
    cancelled = clock.call_at(2.0, ran.append, "x")
    clock.call_at(0.0, ran.append, "now")
    assert clock.next_timer() == 1.0
    cancelled.cancel()
    assert cancelled.cancelled()
    clock.call_at(0.0, done.set)  # runs after "now": loop callbacks run in order
    await done.wait()
    assert ran == ["now"]
    done.clear()
    clock.advance(2.5)
    assert clock.next_timer() == 3.0  # the cancelled timer is skipped
    clock.call_at(2.5, done.set)
    await done.wait()
    assert ran == ["now", "a"]
    late = clock.call_at(3.0, ran.append, "late")
    clock.advance(1.0)
    late.cancel()  # due, its loop callback not yet run: still cancelled
    assert clock.next_timer() is None
    done.clear()
    clock.call_at(clock.time(), done.set)
    await done.wait()
    assert ran == ["now", "a", "c"]


async def test_two_watchers_of_one_command_cost_one_request_per_poll() -> None:
    """Two watch(7) share each poll: command 7 costs exactly the requests of a lone watch(8)."""
    policy = PollPolicy(interval=1.0, max_interval=1.0, jitter=0)
    async with ManagerSimulator(clock="manual") as sim:
        shared = sim.add_command(Timeline.build(steps=3, duration=1000.0), command_id=7)
        alone = sim.add_command(Timeline.build(steps=3, duration=1000.0), command_id=8)
        got: dict[str, list[CommandProgress]] = {"a": [], "b": [], "c": []}
        polls = Polls()

        def polled(n: int) -> Callable[[], bool]:
            return lambda: polls.count("poll", shared) == polls.count("poll", alone) == n

        async with manual_client(sim, policy) as client, anyio.create_task_group() as tg:
            client.add_listener(polls)

            async def consume(name: str, cid: int) -> None:
                async for p in client.watch(cid):
                    got[name].append(p)

            tg.start_soon(consume, "a", shared)
            tg.start_soon(consume, "b", shared)
            tg.start_soon(consume, "c", alone)
            await polls.until(polled(1))
            for n in range(2, 5):
                sim.advance(shared)
                sim.advance(alone)
                step(sim.clock)
                await polls.until(polled(n))
            sim.finish(shared)
            sim.finish(alone)
            step(sim.clock)
        assert got["a"] == got["b"]
        assert len(got["a"]) == len(got["c"]) == 5
        assert sim.stats.progress_requests[shared] == sim.stats.progress_requests[alone] == 5


class ScriptedPolls:
    """A poll for the engine itself: each call is recorded and waits until released."""

    def __init__(self) -> None:
        self.polled: list[int] = []
        self._called = asyncio.Event()
        self._release = asyncio.Event()

    async def __call__(
        self, cid: int, previous: CommandProgress | None, digest: bytes
    ) -> tuple[CommandProgress, bytes]:
        self.polled.append(cid)
        self._called.set()
        await self._release.wait()
        self._release.clear()
        n = len(self.polled)
        return CommandProgress(cid, CommandState.IN_PROGRESS, total_progress=n), b"%d" % n

    async def started(self, count: int) -> None:
        """Wait until ``count`` polls have started."""
        with anyio.fail_after(10):  # a bound for a broken run, not a wait for a result
            while len(self.polled) < count:
                self._called.clear()
                await self._called.wait()

    def answer(self) -> None:
        """Let the poll in flight answer."""
        self._release.set()


async def test_a_worker_takes_the_next_due_command_itself_and_skips_dropped_ones() -> None:
    """One worker: a poll that ends hands the worker the next due command (no timer), skips
    one dropped while it waited on the heap, and leaves one not yet due to the timer."""
    from cmdprogress._scheduler import Engine
    from cmdprogress._watcher import Watcher

    clock = ManualClock()
    polls = ScriptedPolls()
    engine = Engine(
        polls,
        policy=PollPolicy(interval=1.0, max_interval=1.0, backoff=1.0, jitter=0),
        max_workers=1,
        poll_stretch=lambda demand: 1.0,
        max_retry_after=1.0,
        request_counts=collections.Counter(),
        clock=clock,
    )
    events = Polls()  # each poll's answer is handled, the worker at its next await after it
    engine.add_listener(events)
    async with engine, Watcher(engine, [1, 2, 3]) as w:
        await polls.started(1)  # 1, 2 and 3 are all due at 0; one worker polls 1
        w.discard(2)  # its heap entry stays, stale, first in line
        polls.answer()  # 1 is due again at 1.0; the stale 2 is skipped, 3 is due now
        await polls.started(2)
        assert polls.polled == [1, 3]
        polls.answer()  # 3 is due at 1.0 after 1: nothing is due now, the timer takes over
        await events.until(lambda: events.count("poll") == 2)
        assert step(clock) == 1.0
        await polls.started(3)
        assert clock.next_timer() is None  # the worker is busy: no timer needed
        polls.answer()  # 3 is due (at 1.0): the worker takes it without a timer
        await polls.started(4)
        assert polls.polled == [1, 3, 1, 3]
        assert clock.next_timer() is None
        polls.answer()
        await events.until(lambda: events.count("poll") == 4)
