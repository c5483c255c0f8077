"""Pure data structures of the engine: the watcher mailbox (the cadence rule: test_cadence.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cmdprogress import CommandProgress, CommandState
from cmdprogress._events import WatchStats
from cmdprogress._mailbox import MAX_PENDING_BYTES, _footprint, _Inbox
from cmdprogress._models import Step
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


def test_a_known_change_is_compared_only_for_a_watcher_holding_something_else() -> None:
    """``unlike`` skips the comparison for a watcher whose last is that object, not for others."""
    previous, new = snap(1, RUN, 10), snap(1, RUN, 20)
    behind = _Inbox()
    behind.last[1] = previous
    behind.deliver(1, new, previous)
    assert drain(behind) == [(1, new)]
    resumed = _Inbox()  # resumed from a snapshot equal to `new` (another object)
    resumed.last[1] = snap(1, RUN, 20)
    resumed.deliver(1, new, previous)
    assert drain(resumed) == []
    fresh = _Inbox()
    fresh.deliver(1, new, previous)
    assert drain(fresh) == [(1, new)]


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


def test_a_flapping_command_keeps_every_transition_within_the_budget() -> None:
    """1,000 small snapshots flapping between two states all wait for a slow consumer
    (they fit the byte budget): nothing dropped, every transition delivered in order."""
    stats = WatchStats()
    inbox = _Inbox(stats)
    sequence = [snap(1, RUN if i % 2 else NEW, float(i)) for i in range(1000)]
    for p in sequence:
        inbox.deliver(1, p)
    assert inbox.bytes <= MAX_PENDING_BYTES
    assert [item for _, item in drain(inbox)] == sequence
    assert stats.overflowed == 0
    assert inbox.bytes == 0


def big(cid: int, state: CommandState, progress: float) -> CommandProgress:
    """A snapshot with 1,000 steps (about 200 KB by the mailbox's estimate)."""
    steps = tuple(Step(f"step {i}", "x" * 40) for i in range(1000))
    return CommandProgress(command_id=cid, state=state, total_progress=progress, steps=steps)


def test_a_mailbox_over_its_byte_budget_drops_the_oldest_after_the_first_and_counts_it() -> None:
    """Big snapshots flapping faster than the consumer reads: the mailbox stays within its
    byte budget (plus the first and the newest), the first and the newest are kept, and
    each gap is counted on the snapshot after it (`missed`), adding up to what was dropped."""
    stats = WatchStats()
    inbox = _Inbox(stats)
    sequence = [big(1, RUN if i % 2 else NEW, float(i)) for i in range(200)]
    peak = 0
    for p in sequence:
        inbox.deliver(1, p)
        peak = max(peak, inbox.bytes)
    assert peak <= MAX_PENDING_BYTES + 2 * _footprint(sequence[0])
    got = [item for _, item in drain(inbox)]
    assert isinstance(got[0], CommandProgress)
    assert got[0] == sequence[0]
    assert got[-1] == sequence[-1]
    assert stats.overflowed > 0
    assert sum(p.missed for p in got) == stats.overflowed  # type: ignore[attr-defined]
    assert len(got) + stats.overflowed == len(sequence)
    assert got[0].missed == 0
    assert got[1].missed == stats.overflowed  # type: ignore[attr-defined]  # one gap, after the first
    progress = [p.total_progress for p in got]  # type: ignore[attr-defined]
    assert progress == sorted(progress)


def test_the_first_snapshot_is_never_coalesced() -> None:
    """The first snapshot of a command reaches the watcher even when newer ones in the same
    state follow before it is read; later same-state snapshots coalesce."""
    inbox = _Inbox()
    for p in (10, 20, 30):
        inbox.deliver(1, snap(1, RUN, p))
    assert [item for _, item in drain(inbox)] == [snap(1, RUN, 10), snap(1, RUN, 30)]
    for p in (40, 50):
        inbox.deliver(1, snap(1, RUN, p))
    assert [item for _, item in drain(inbox)] == [snap(1, RUN, 50)]


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


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["deliver", "deliver", "deliver", "fail", "pop", "drop"]),
            st.integers(1, 3),
            st.sampled_from([NEW, RUN, RUN, DONE]),
            st.integers(0, 5),
        ),
        max_size=60,
    )
)
def test_the_byte_count_is_the_footprint_of_what_waits(
    ops: list[tuple[str, int, CommandState, int]],
) -> None:
    """Whatever is queued, coalesced, read or dropped, ``bytes`` sums what still waits."""
    inbox = _Inbox()
    for op, cid, state, progress in ops:
        if op == "deliver":
            inbox.deliver(cid, snap(cid, state, 10.0 * progress))
        elif op == "fail":
            inbox.fail(cid, UnknownCommandError("gone", status=404, command_id=cid))
        elif op == "pop":
            inbox.pop()
        else:
            inbox.drop(cid)
        waiting = [entry for q in inbox.pending.values() for entry in q]
        assert all(entry.size == _footprint(entry.item) for entry in waiting)
        assert inbox.bytes == sum(entry.size for entry in waiting)
    drain(inbox)
    assert inbox.bytes == 0
