"""Snapshots as plain data, and watcher checkpoints resumed in the same process."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmdprogress import (
    Client,
    CommandProgress,
    CommandState,
    FailedEntity,
    PollPolicy,
    Step,
    progress_from_dict,
    progress_to_dict,
)
from cmdprogress._checkpoint import FORMAT, read_checkpoint
from cmdprogress._convert import decode_progress
from cmdprogress._models import MAX_STEPS
from cmdprogress.exceptions import InvalidArgumentError
from cmdprogress.testing import ManagerSimulator, Timeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FAST = PollPolicy(interval=0.005, max_interval=0.02)

text = st.text(max_size=12)
whole = st.integers(min_value=-(2**63), max_value=2**63 - 1)
snapshots = st.builds(
    CommandProgress,
    command_id=st.integers(min_value=0, max_value=2**63 - 1),
    state=st.sampled_from(CommandState),
    total_progress=st.floats(allow_nan=False, allow_infinity=False),
    error_code=whole,
    error_description=text,
    steps=st.lists(st.builds(Step, text, text), max_size=3).map(tuple),
    failed_entities=st.lists(st.builds(FailedEntity, text, text), max_size=2).map(tuple),
    total_step_size=whole,
    cluster_id=st.none() | whole,
    raw_state=text,
    wire_id=whole,
    steps_omitted=st.integers(min_value=0, max_value=2**63 - 1),
    failed_entities_omitted=st.integers(min_value=0, max_value=2**63 - 1),
)


@given(snapshots)
def test_a_snapshot_round_trips_through_json(p: CommandProgress) -> None:
    """progress_to_dict gives plain JSON data that progress_from_dict reads back equal."""
    data = json.loads(json.dumps(progress_to_dict(p), allow_nan=False))
    assert progress_from_dict(data) == p


@pytest.mark.parametrize("style", ["snake", "camel"])
def test_a_decoded_answer_round_trips_whatever_the_wire_spelling(style: str) -> None:
    """Values decoded from either key spelling survive; the spelling itself need not."""
    body = Timeline.build(steps=3, duration=9.0, fail=True, style=style)  # type: ignore[arg-type]
    from cmdprogress.testing._timeline import encode_snapshot

    for snap in body.snapshots:
        p = decode_progress(5, encode_snapshot(snap, style=body.style, wire_id=5))
        assert progress_from_dict(json.loads(json.dumps(progress_to_dict(p)))) == p


def test_fields_at_their_default_are_left_out() -> None:
    """A fresh snapshot costs a few bytes: only what differs from the defaults is written."""
    p = CommandProgress(command_id=12, state=CommandState.NEW)
    assert progress_to_dict(p) == {"command_id": 12, "state": "NEW"}
    odd = CommandProgress(command_id=12, state=CommandState.UNKNOWN, raw_state="WAITING")
    assert progress_to_dict(odd) == {"command_id": 12, "state": "UNKNOWN", "raw_state": "WAITING"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "expected an object, got null @ $"),
        ({"state": "NEW"}, "missing required field @ $.command_id"),
        ({"command_id": 1}, "missing required field @ $.state"),
        ({"command_id": "1", "state": "NEW"}, "got text '1' @ $.command_id"),
        ({"command_id": True, "state": "NEW"}, "got the boolean true @ $.command_id"),
        ({"command_id": -4, "state": "NEW"}, "expected a command id (>= 0), got -4"),
        ({"command_id": 1, "state": "DONE"}, "got text 'DONE' @ $.state"),
        ({"command_id": 1, "state": "NEW", "total_progress": 1e400}, "finite number"),
        ({"command_id": 1, "state": "NEW", "error_code": 1.5}, "@ $.error_code"),
        ({"command_id": 1, "state": "NEW", "steps": [{"name": 3}]}, "@ $.steps[0].name"),
        ({"command_id": 1, "state": "NEW", "failed_entities": {}}, "@ $.failed_entities"),
        (
            {"command_id": 1, "state": "NEW", "steps": [{"name": "s"}] * (MAX_STEPS + 1)},
            f"expected at most {MAX_STEPS} items, got {MAX_STEPS + 1} @ $.steps",
        ),
    ],
)
def test_anything_else_is_refused_with_its_path(data: Any, message: str) -> None:
    """Bad snapshot data raises InvalidArgumentError naming where it is wrong."""
    with pytest.raises(InvalidArgumentError, match="not a snapshot written by") as info:
        progress_from_dict(data)
    assert message in str(info.value)
    assert info.value.argument == "data"


def test_to_dict_takes_only_snapshots() -> None:
    """progress_to_dict refuses other objects with a typed error."""
    with pytest.raises(InvalidArgumentError, match="expected a CommandProgress, got dict"):
        progress_to_dict({"command_id": 1})  # type: ignore[arg-type]


# -- checkpoints ---------------------------------------------------------------------------

GOOD_LAST = {"command_id": 5, "state": "IN_PROGRESS", "total_progress": 50.0}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a checkpoint (a dict), got list"),
        ({"commands": []}, "format is missing"),
        ({"format": "other/9", "commands": []}, "format is 'other/9'"),
        ({"format": FORMAT}, "$.commands: expected a list, got NoneType"),
        ({"format": FORMAT, "commands": [5]}, "$.commands[0]: expected an object with an 'id'"),
        ({"format": FORMAT, "commands": [{"id": -1}]}, "$.commands[0].id: -1 is not a command id"),
        ({"format": FORMAT, "commands": [{"id": "1/../x"}]}, "'1/../x' is not a command id"),
        ({"format": FORMAT, "commands": [{"id": 5}, {"id": 5}]}, "command 5 is listed twice"),
        (
            {"format": FORMAT, "commands": [{"id": 6, "last": GOOD_LAST}]},
            "$.commands[0].last: is a snapshot of command 5, not of 6",
        ),
        (
            {"format": FORMAT, "commands": [{"id": 5, "last": {"command_id": 5}}]},
            "$.commands[0].last: not a snapshot written by progress_to_dict(): "
            "missing required field @ $.state",
        ),
    ],
)
def test_a_bad_checkpoint_is_refused(data: Any, message: str) -> None:
    """A checkpoint is input like any other: wrong ones get InvalidArgumentError('resume_from')."""
    with pytest.raises(InvalidArgumentError) as info:
        read_checkpoint(data)
    assert info.value.argument == "resume_from"
    assert message in str(info.value)
    assert "pass what Watcher.checkpoint() returned" in str(info.value)


@contextlib.asynccontextmanager
async def _deadline(seconds: float = 30.0) -> AsyncIterator[None]:
    """A regression fails the test instead of hanging it."""
    with anyio.fail_after(seconds):
        yield


@pytest.fixture
async def sim() -> AsyncIterator[ManagerSimulator]:
    """A simulator with a manual clock."""
    async with ManagerSimulator() as s:
        yield s


@pytest.mark.anyio
async def test_a_bad_checkpoint_sends_nothing(sim: ManagerSimulator) -> None:
    """client.watcher(resume_from=garbage) raises before any request."""
    async with Client(sim.url, poll=FAST) as client:
        with pytest.raises(InvalidArgumentError, match="resume_from"):
            client.watcher(resume_from={"format": FORMAT, "commands": [{"id": "x"}]})
    assert sim.stats.requests_total == 0


@pytest.mark.anyio
async def test_checkpoint_holds_the_last_snapshot_handed_out(sim: ManagerSimulator) -> None:
    """Not yet started: ids with None; then each command's last yielded snapshot; ended ones
    leave; a snapshot waiting in the mailbox is not in it until the consumer took it."""
    a, b = (sim.add_command(Timeline.build(steps=2, duration=1000.0)) for _ in range(2))
    async with Client(sim.url, poll=FAST) as client, _deadline():
        w = client.watcher([a, b])
        assert read_checkpoint(w.checkpoint()) == {a: None, b: None}
        async with w:
            first = [await w.__anext__(), await w.__anext__()]
            cp = read_checkpoint(json.loads(json.dumps(w.checkpoint())))
            assert cp == {p.command_id: p for p in first}
            ended = anyio.Event()
            client.add_listener(
                lambda e: ended.set() if e.kind == "end" and e.command_id == a else None
            )
            sim.finish(a)
            await ended.wait()  # the engine queued a's terminal snapshot for the watcher
            assert read_checkpoint(w.checkpoint()) == cp  # queued is not handed out
            end = await w.__anext__()
            assert end.command_id == a
            assert end.is_terminal
            assert read_checkpoint(w.checkpoint()) == {b: cp[b]}
        # The watcher closed: its checkpoint still says what it owed.
        assert read_checkpoint(w.checkpoint()) == {b: cp[b]}
        w.discard(b)
        assert w.checkpoint()["commands"] == []


@pytest.mark.anyio
async def test_resuming_skips_what_was_handed_out(sim: ManagerSimulator) -> None:
    """A new watcher from a checkpoint: unchanged commands yield nothing, changed ones
    their current snapshot, ended ones their terminal snapshot once; new ids join."""
    same, moved, ended = (sim.add_command(Timeline.build(steps=4, duration=1000.0)) for _ in "abc")
    extra = sim.add_command(Timeline.build(steps=1, duration=1000.0))
    async with Client(sim.url, poll=FAST) as client, _deadline():
        async with client.watcher([same, moved, ended]) as w:
            for _ in range(3):
                await w.__anext__()
            cp = json.loads(json.dumps(w.checkpoint()))
        sim.advance(moved, 2)
        sim.finish(ended)
        got: list[CommandProgress] = []
        async with client.watcher([extra], resume_from=cp) as w2:
            async for p in w2:
                got.append(p)
                if len(got) == 3:
                    break
            assert {p.command_id for p in got} == {moved, ended, extra}
            assert next(p for p in got if p.command_id == ended).is_terminal
            assert next(p for p in got if p.command_id == moved).total_progress > 0
            # `same` did not change: nothing yielded for it, still owed.
            assert same in read_checkpoint(w2.checkpoint())
            assert ended not in read_checkpoint(w2.checkpoint())
            sim.finish_all()
            rest = [p async for p in w2]
        assert {p.command_id for p in rest} == {same, moved, extra}
        assert all(p.is_terminal for p in rest)
