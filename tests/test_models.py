"""The public value types: states, snapshots, equality."""

from __future__ import annotations

import attrs
import pytest

from cmdprogress import CommandProgress, CommandState, FailedEntity, Step


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("NEW", CommandState.NEW),
        ("IN_PROGRESS", CommandState.IN_PROGRESS),
        ("COMPLETE", CommandState.COMPLETE),
        ("FAILED", CommandState.FAILED),
        ("WAITING", CommandState.UNKNOWN),
        ("complete", CommandState.UNKNOWN),
        ("", CommandState.UNKNOWN),
        (None, CommandState.UNKNOWN),
    ],
)
def test_state_parse(raw: str | None, state: CommandState) -> None:
    """Known wire states map to their member; anything else is UNKNOWN."""
    assert CommandState.parse(raw) is state


def test_only_complete_and_failed_are_terminal() -> None:
    """COMPLETE and FAILED end a command; NEW, IN_PROGRESS and UNKNOWN do not."""
    terminal = {s for s in CommandState if s.is_terminal}
    assert terminal == {CommandState.COMPLETE, CommandState.FAILED}


def test_unknown_state_keeps_raw_text_and_is_not_terminal() -> None:
    """An unknown state keeps its wire text and never ends a watch."""
    p = CommandProgress(command_id=1, state=CommandState.UNKNOWN, raw_state="WAITING")
    assert p.raw_state == "WAITING"
    assert not p.is_terminal
    assert not p.succeeded


def test_raw_state_defaults_to_state_value() -> None:
    """Built by hand, a snapshot's raw state is its state's wire name."""
    p = CommandProgress(command_id=1, state=CommandState.FAILED)
    assert p.raw_state == "FAILED"
    assert p.is_terminal
    assert not p.succeeded


def test_equality_and_hash_by_value() -> None:
    """Snapshots with equal fields are equal and hash alike; any change makes them differ."""
    steps = (Step("a", "first"), Step("b", "second"))
    a = CommandProgress(
        command_id=3, state=CommandState.IN_PROGRESS, total_progress=50.0, steps=steps
    )
    b = CommandProgress(
        command_id=3, state=CommandState.IN_PROGRESS, total_progress=50.0, steps=tuple(steps)
    )
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    c = attrs.evolve(a, failed_entities=(FailedEntity("DataNode@host1", "START"),))
    assert c != a


def test_snapshots_are_frozen() -> None:
    """A snapshot cannot be modified after it was handed out."""
    p = CommandProgress(command_id=1, state=CommandState.NEW)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.total_progress = 5.0  # type: ignore[misc]


def test_current_step_is_the_latest_listed() -> None:
    """current_step is None before the first step, then the last one listed."""
    p = CommandProgress(command_id=1, state=CommandState.NEW)
    assert p.current_step is None
    q = attrs.evolve(p, steps=(Step("one"), Step("two")))
    assert q.current_step == Step("two")
