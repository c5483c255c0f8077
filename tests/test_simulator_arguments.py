"""The simulator refuses bad set-ups at once, with a message naming the argument."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from cmdprogress.testing import Fault, ManagerSimulator, Snapshot, Timeline, Workload
from cmdprogress.testing._clock import ManualClock, RealClock
from cmdprogress.testing._faults import FaultPlan

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: ManualClock().advance(-1.0), "seconds >= 0"),
        (lambda: ManualClock(10.0).set(5.0), "seconds >= 0"),
        (lambda: RealClock(speed=0.0), "speed must be > 0"),
        (lambda: RealClock(speed=2.0).advance(float("nan")), "seconds >= 0"),
        (lambda: Workload(count=-1), "count must be >= 0"),
        (lambda: Workload(failure_rate=1.5), "failure_rate must be between 0 and 1"),
        (lambda: Workload(camel_rate=-0.1), "camel_rate must be between 0 and 1"),
        (lambda: Workload(min_duration=10.0, median_duration=5.0), "0 < min <= median <= max"),
        (lambda: Workload(max_steps=0), "max_steps must be >= 1"),
        (lambda: Fault.status(503, retry_after=-1.0), "retry_after must be >= 0"),
        (lambda: Fault.delay(-0.5), "seconds >= 0"),
        (lambda: Fault.oversized(0), "size >= 1"),
        (lambda: Fault.raw(99, b""), "needs an HTTP status"),
        (lambda: FaultPlan().inject(Fault.reset(), times=0), "times must be >= 1"),
        (lambda: FaultPlan().inject(Fault.reset(), where="nowhere"), "where must be"),  # type: ignore[arg-type]
        (lambda: Timeline.build(steps=0), "steps must be >= 1"),
        (lambda: Timeline.build(duration=0.0), "duration must be > 0"),
        (lambda: Timeline.build(waiting=-1.0), "waiting must be >= 0"),
        (lambda: Timeline.build(kind="restart"), "kind must be one of"),  # type: ignore[arg-type]
        (lambda: ManagerSimulator(auth="kerberos"), "auth must be"),  # type: ignore[arg-type]
        (lambda: ManagerSimulator(clock="wall"), "clock must be"),  # type: ignore[arg-type]
        (lambda: ManagerSimulator(session_idle_timeout=0.0), "session_idle_timeout must be > 0"),
        (lambda: ManagerSimulator(lockout_threshold=0), "lockout_threshold must be >= 1"),
        (lambda: ManagerSimulator(lockout_seconds=-1.0), "lockout_seconds must be >= 0"),
        (lambda: ManagerSimulator().reject_actions(times=0), "times must be >= 1"),
    ],
)
def test_bad_setup_value_raises_value_error_naming_it(make: Callable[[], Any], needle: str) -> None:
    """Each out-of-range simulator argument raises ValueError whose message names it."""
    with pytest.raises(ValueError, match=needle):
        make()


def test_timeline_refuses_things_that_are_not_snapshots() -> None:
    """A Timeline built from something else than Snapshot objects names the bad position."""
    with pytest.raises(TypeError, match=r"snapshot 1 is dict, not Snapshot"):
        Timeline((Snapshot(), {"state": "COMPLETE"}))  # type: ignore[arg-type]


def test_command_ids_given_by_hand_are_checked_and_skipped_by_numbering() -> None:
    """add_command() refuses a negative or taken id; automatic ids skip the ones given by hand."""
    sim = ManagerSimulator()
    t = Timeline.build()
    assert sim.add_command(t, command_id=1) == 1
    assert sim.add_command(t, command_id=2) == 2
    assert sim.add_command(t) == 3  # 1 and 2 were taken by hand
    with pytest.raises(ValueError, match="command_id must be an int >= 0"):
        sim.add_command(t, command_id=-4)
    with pytest.raises(ValueError, match="command 2 already exists"):
        sim.add_command(t, command_id=2)
    with pytest.raises(TypeError, match="needs a Timeline"):
        sim.add_command(Snapshot())  # type: ignore[arg-type]
    assert sim.command_ids == [1, 2, 3]


def test_control_calls_on_an_unknown_command_name_it() -> None:
    """Looking up or moving a command the simulator does not have raises KeyError naming it."""
    sim = ManagerSimulator()
    cid = sim.add_command(Timeline.build())
    with pytest.raises(KeyError, match="no command 99"):
        sim.timeline(99)
    with pytest.raises(KeyError, match="no command 99"):
        sim.finish(99)
    with pytest.raises(ValueError, match="n >= 0"):
        sim.advance(cid, -1)
    assert sim.index(cid) == 0


def test_url_before_start_says_how_to_start() -> None:
    """Reading sim.url before the simulator runs raises RuntimeError telling to use async with."""
    with pytest.raises(RuntimeError, match="async with ManagerSimulator"):
        _ = ManagerSimulator().url


@pytest.mark.anyio
async def test_starting_twice_is_refused_and_a_taken_port_frees_everything() -> None:
    """start() on a running simulator raises; a port already in use fails start() cleanly."""
    async with ManagerSimulator() as sim:
        with pytest.raises(RuntimeError, match="already running"):
            await sim.start()
        port = int(sim.url.rsplit(":", 1)[1])
        clash = ManagerSimulator(auth="cas", cas_port=port)
        with pytest.raises(OSError, match="in use"):
            await clash.start()
        with pytest.raises(RuntimeError, match="not running"):
            _ = clash.url  # the web listener bound before the clash was closed again
        assert clash.cas_url is None
