"""Pure data structures of the engine: the watcher mailbox and the cadence rule."""

from __future__ import annotations

import pytest

from cmdprogress import CommandProgress, CommandState, PollPolicy
from cmdprogress._watch import MAX_PENDING, WatchStats, _Command, _Inbox
from cmdprogress.exceptions import UnknownCommandError

NEW = CommandState.NEW
RUN = CommandState.IN_PROGRESS
DONE = CommandState.COMPLETE


def snap(
    cid: int, state: CommandState, progress: float = 0.0, raw: str | None = None
) -> CommandProgress:
    """A snapshot of command ``cid``."""
    if raw is None:
        return CommandProgress(command_id=cid, state=state, total_progress=progress)
    return CommandProgress(command_id=cid, state=state, total_progress=progress, raw_state=raw)


def drain(inbox: _Inbox) -> list[tuple[int, object]]:
    """Everything waiting in the mailbox, in the order a consumer gets it."""
    out: list[tuple[int, object]] = []
    while (item := inbox.pop()) is not None:
        out.append(item)
    return out


def test_lagging_watcher_gets_latest_of_each_state_and_every_transition() -> None:
    """Same-state snapshots coalesce; every transition and the terminal stay, in order."""
    stats = WatchStats()
    inbox = _Inbox(stats)
    inbox.active.add(1)
    sequence = [snap(1, NEW), *(snap(1, RUN, p) for p in (10, 20, 30, 40)), snap(1, DONE, 100)]
    for p in sequence:
        inbox.deliver(1, p)
    got = [item for _, item in drain(inbox)]
    assert got == [snap(1, NEW), snap(1, RUN, 40), snap(1, DONE, 100)]
    assert stats.coalesced == 3
    assert 1 not in inbox.active  # terminal ends the command for this watcher


def test_unknown_states_with_different_text_are_transitions() -> None:
    """Two UNKNOWN snapshots with different raw text are different states, both kept."""
    inbox = _Inbox()
    inbox.deliver(1, snap(1, CommandState.UNKNOWN, raw="WAITING"))
    inbox.deliver(1, snap(1, CommandState.UNKNOWN, raw="QUEUED"))
    assert len(drain(inbox)) == 2


def test_duplicates_are_not_delivered_twice() -> None:
    """A snapshot equal to the last one delivered to this watcher is not queued again."""
    inbox = _Inbox()
    inbox.deliver(1, snap(1, RUN, 5))
    inbox.deliver(1, snap(1, RUN, 5))
    assert len(drain(inbox)) == 1
    inbox.deliver(1, snap(1, RUN, 5))
    assert drain(inbox) == []


def test_since_suppresses_the_snapshot_already_seen() -> None:
    """With last set to a resume point, the same snapshot is not delivered, a newer one is."""
    inbox = _Inbox()
    inbox.last[1] = snap(1, RUN, 50)
    inbox.deliver(1, snap(1, RUN, 50))
    assert drain(inbox) == []
    inbox.deliver(1, snap(1, RUN, 60))
    assert drain(inbox) == [(1, snap(1, RUN, 60))]


def test_commands_are_served_round_robin_in_order_per_command() -> None:
    """Several commands interleave fairly; each keeps its own order."""
    inbox = _Inbox()
    for cid in (1, 2):
        inbox.deliver(cid, snap(cid, NEW))
        inbox.deliver(cid, snap(cid, RUN, 1))
        inbox.deliver(cid, snap(cid, DONE, 100))
    order = [(cid, item.state) for cid, item in drain(inbox)]  # type: ignore[attr-defined]
    assert order == [
        (1, NEW),
        (2, NEW),
        (1, RUN),
        (2, RUN),
        (1, DONE),
        (2, DONE),
    ]


def test_memory_is_bounded_for_a_flapping_command() -> None:
    """A command flapping between states never queues more than MAX_PENDING items."""
    stats = WatchStats()
    inbox = _Inbox(stats)
    for i in range(1000):
        inbox.deliver(1, snap(1, RUN if i % 2 else NEW, float(i)))
    assert len(inbox.pending[1]) == MAX_PENDING
    assert stats.overflowed == 1000 - MAX_PENDING
    items = [item for _, item in drain(inbox)]
    assert items[-1] == snap(1, RUN, 999.0)  # the latest is always kept


def test_error_follows_the_snapshots_before_it() -> None:
    """An error ending a command is queued after that command's pending snapshots."""
    inbox = _Inbox()
    inbox.active.add(1)
    inbox.deliver(1, snap(1, RUN, 5))
    err = UnknownCommandError("gone", status=404, command_id=1)
    inbox.fail(1, err)
    assert [item for _, item in drain(inbox)] == [snap(1, RUN, 5), err]
    assert not inbox.active


def test_drop_forgets_pending_items() -> None:
    """Discarding a command drops what was not read yet."""
    inbox = _Inbox()
    inbox.deliver(1, snap(1, RUN, 5))
    inbox.deliver(2, snap(2, RUN, 5))
    inbox.drop(1)
    assert [cid for cid, _ in drain(inbox)] == [2]


POLICY = PollPolicy(interval=1.0, max_interval=10.0, backoff=2.0, jitter=0)


def test_cadence_backs_off_while_unchanged_and_resets_on_change() -> None:
    """Unchanged: 2, 4, 8, 10 (capped); a change brings it back to interval."""
    cmd = _Command(1)
    p = snap(1, RUN, 0)
    assert cmd.next_delay(POLICY, 0.0, p) == 1.0
    cmd.last = p
    assert [cmd.next_delay(POLICY, t, p) for t in (1, 3, 7, 15, 25)] == [2, 4, 8, 10, 10]
    q = snap(1, NEW)
    assert cmd.next_delay(POLICY, 30, q) == 1.0


def test_cadence_follows_steady_progress() -> None:
    """Progress every 5 s: after a change the next poll is about 5 s later, not 1 s."""
    cmd = _Command(1)
    t = 0.0
    delays = []
    for i in range(5):
        p = snap(1, RUN, 10.0 * i)
        delays.append(cmd.next_delay(POLICY, t, p))
        cmd.last = p
        t += 5.0
    assert delays[0] == 1.0
    assert delays[-1] == pytest.approx(5.0)


def test_cadence_polls_at_the_expected_end() -> None:
    """Near the end, the next poll is due when the extrapolated progress reaches 100 %."""
    cmd = _Command(1)
    for i, t in enumerate((0.0, 8.0, 16.0)):
        p = snap(1, RUN, 45.0 + 5 * i)  # 5 % per 8 s, at 55 %: 72 s left
        delay = cmd.next_delay(POLICY, t, p)
        cmd.last = p
    assert delay == 8.0  # the gap, within interval..max_interval
    p = snap(1, RUN, 98.0)  # 43 % in 8 s: the end is 0.37 s away
    assert cmd.next_delay(POLICY, 24.0, p) == 1.0  # never below interval


def test_cadence_never_exceeds_max_interval() -> None:
    """A slow command is still polled at least every max_interval."""
    cmd = _Command(1)
    for i, t in enumerate((0.0, 100.0, 200.0)):
        p = snap(1, RUN, 10.0 * i)
        delay = cmd.next_delay(POLICY, t, p)
        cmd.last = p
    assert delay == 10.0
