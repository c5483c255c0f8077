"""The cadence rule (cmdprogress._cadence), unit tests; the engine on it: test_engine_clock.py."""

from __future__ import annotations

import itertools
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmdprogress import CommandProgress, CommandState, PollPolicy
from cmdprogress._cadence import END, END_STEP, MOVING, RESTART, Cadence

NEW = CommandState.NEW
RUN = CommandState.IN_PROGRESS
DONE = CommandState.COMPLETE
POLICY = PollPolicy(interval=1.0, max_interval=10.0, backoff=2.0, jitter=0)


def snap(state: CommandState, progress: float = 0.0) -> CommandProgress:
    """A snapshot of command 1."""
    return CommandProgress(command_id=1, state=state, total_progress=progress)


def drive(
    changes: list[float], policy: PollPolicy = POLICY, latency: float = 0.01
) -> list[tuple[float, int]]:
    """Poll a command whose snapshot ``k`` becomes current at ``changes[k]``; the polls made.

    Snapshot 0 (``NEW``) is current from the start; the others are
    ``IN_PROGRESS`` with progress stepping evenly to 100 % (the last one is
    ``COMPLETE``). Returns (answer time, index of the snapshot seen) per poll.
    """
    last = len(changes)
    snaps = [snap(NEW)] + [
        snap(DONE if k == last else RUN, 100.0 * (k - 1) / (last - 1)) for k in range(1, last + 1)
    ]
    times = [0.0, *changes]
    cadence, rng = Cadence(), random.Random(1)
    polls: list[tuple[float, int]] = []
    sent, old = 0.0, None
    while True:
        now = sent + latency
        k = max(i for i, t in enumerate(times) if t <= sent + latency / 2)
        polls.append((now, k))
        if k == last:
            return polls
        delay = cadence.next_delay(policy, sent, now, old, snaps[k], rng)
        assert policy.interval <= delay <= policy.max_interval
        old, sent = snaps[k], now + delay


def lags(changes: list[float], polls: list[tuple[float, int]]) -> list[float]:
    """For each change, how long after it the first poll that saw it (or a later one) answered."""
    out = []
    for k, at in enumerate(changes, start=1):
        out.append(next(t for t, seen in polls if seen >= k) - at)
    return out


def test_backs_off_while_unchanged_and_comes_back_on_change() -> None:
    """Unchanged: 2, 4, 8, 10 (capped at max_interval); a change restarts the back-off."""
    c, rng = Cadence(), random.Random(0)
    p = snap(NEW)
    assert c.next_delay(POLICY, 0.0, 0.0, None, p, rng) == 1.0
    delays = [c.next_delay(POLICY, t, t, p, p, rng) for t in (1.0, 3.0, 7.0, 15.0, 25.0)]
    assert delays == [2.0, 4.0, 8.0, 10.0, 10.0]
    waiting = CommandProgress(command_id=1, state=CommandState.UNKNOWN, raw_state="WAITING")
    # It took about 30 s to come: the next change is looked for 15 s later (capped at 10).
    assert c.next_delay(POLICY, 35.0, 35.0, p, waiting, rng) == 10.0
    assert c.next_delay(POLICY, 45.0, 45.0, waiting, waiting, rng) == 10.0


def test_after_a_change_the_back_off_resumes_on_the_scale_of_that_change() -> None:
    """A change that took about 11 s to come: the next one is looked for RESTART x 11 s later."""
    policy = PollPolicy(interval=1.0, max_interval=60.0, backoff=2.0, jitter=0)
    c, rng = Cadence(), random.Random(0)
    p = snap(NEW)
    waiting = CommandProgress(command_id=1, state=CommandState.UNKNOWN, raw_state="WAITING")
    assert c.next_delay(policy, 0.0, 0.0, None, p, rng) == 1.0
    assert [c.next_delay(policy, t, t, p, p, rng) for t in (1.0, 3.0)] == [2.0, 4.0]
    # Seen at 7 s after a poll sent at 3 s: it happened at about 5 s, 5 s after the start.
    assert c.next_delay(policy, 7.0, 7.0, p, waiting, rng) == pytest.approx(RESTART * 5.0)
    assert c.next_delay(policy, 9.5, 9.5, waiting, waiting, rng) == pytest.approx(RESTART * 10.0)


def test_with_no_back_off_asked_for_the_delay_stays_at_interval() -> None:
    """backoff=1: a command polled every interval keeps that interval after a slow change."""
    policy = PollPolicy(interval=2.0, max_interval=60.0, backoff=1.0, jitter=0)
    c, rng = Cadence(), random.Random(0)
    p = snap(NEW)
    waiting = CommandProgress(command_id=1, state=CommandState.UNKNOWN, raw_state="WAITING")
    assert c.next_delay(policy, 0.0, 0.0, None, p, rng) == 2.0
    assert [c.next_delay(policy, t, t, p, p, rng) for t in range(2, 40, 2)] == [2.0] * 19
    assert c.next_delay(policy, 40.0, 40.0, p, waiting, rng) == 2.0
    assert c.next_delay(policy, 42.0, 42.0, waiting, waiting, rng) == 2.0


def test_a_moving_command_with_no_change_in_sight_waits_at_most_a_third_of_max_interval() -> None:
    """IN_PROGRESS and unpredictable: the back-off stops at MOVING x max_interval, not at it."""
    policy = PollPolicy(interval=1.0, max_interval=30.0, backoff=2.0, jitter=0)
    c, rng = Cadence(), random.Random(0)
    new, run = snap(NEW), snap(RUN, 10.0)
    assert c.next_delay(policy, 0.0, 0.0, None, new, rng) == 1.0
    delays = [c.next_delay(policy, t, t, new, new, rng) for t in (1.0, 3.0, 7.0, 15.0, 31.0)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 30.0]  # NEW (a queued command): up to max_interval
    delays = [c.next_delay(policy, 61.0, 61.0, new, run, rng)]
    delays += [c.next_delay(policy, t, t, run, run, rng) for t in (71.0, 81.0, 91.0)]
    assert delays == [pytest.approx(MOVING * 30.0)] * 4


def test_a_steady_command_is_polled_just_after_each_change() -> None:
    """Changes every 5 s: once the period is learnt, under 1.5 polls per change, each late < 1 s."""
    changes = [2.5 + 5.0 * k for k in range(30)]
    polls = drive(changes)
    late = lags(changes, polls)
    assert max(late[10:]) < POLICY.interval
    assert sum(late[10:]) / len(late[10:]) < 0.6
    polls_late = [t for t, _ in polls if t > changes[10]]
    assert len(polls_late) <= 1.5 * (len(changes) - 10)  # a fixed 1 s poller: 5 per change


def test_the_window_narrows_change_after_change() -> None:
    """The lag of the last changes of a steady run is far below that of the first ones."""
    changes = [3.3 + 7.1 * k for k in range(40)]
    late = lags(changes, drive(changes))
    assert sum(late[-10:]) < 0.5 * sum(late[1:11])


def test_a_slow_command_still_polled_every_max_interval_in_equal_parts() -> None:
    """Changes every 35 s with max_interval 10: the waits are cut into equal parts <= 10 s."""
    changes = [17.5 + 35.0 * k for k in range(10)]
    polls = drive(changes)
    times = [t for t, _ in polls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= POLICY.max_interval + 0.02
    late = lags(changes, polls)
    assert max(late[5:]) < POLICY.interval
    before_end = [t for t, _ in polls if t < changes[-2] + 1.0]
    assert len(before_end) < 9 * 6  # about 4 per change (35 s / 10 s), not 35 per change
    # The end window, once: the way to it (cut by max_interval), its polls, the one at its end.
    assert len(polls) - len(before_end) <= 2 + round((1 - END) / END_STEP) + 1


def test_an_irregular_command_falls_back_to_backing_off() -> None:
    """Changes at random gaps: every delay stays in bounds and every change is seen, in order."""
    rng = random.Random(7)
    changes, t = [], 0.0
    for _ in range(25):
        t += rng.choice((0.5, 2.0, 9.0, 30.0))
        changes.append(t)
    polls = drive(changes)
    assert polls[-1][1] == len(changes)
    seen = [k for _, k in polls]
    assert seen == sorted(seen)


def test_the_end_is_looked_for_before_its_extrapolated_instant() -> None:
    """Steady progress: the terminal change, due half a period early, is seen within interval."""
    period = 8.0
    changes = [period * (k + 1) for k in range(9)]
    changes.append(changes[-1] + period / 2)  # the end comes early
    late = lags(changes, drive(changes))
    assert late[-1] < POLICY.interval


def test_the_end_window_is_polled_every_end_step_from_end_of_the_extrapolated_time() -> None:
    """After the last step, polls start at END x the time left at the command's pace, then come
    END_STEP x that time apart, so an end that comes anywhere in the window is seen promptly."""
    period = 20.0
    changes = [period * (k + 1) for k in range(6)]
    changes.append(changes[-1] + 0.7 * period)  # the end, between the predicted polls
    polls = drive(changes)
    seen_last_step = next(t for t, k in polls if k == len(changes) - 1)
    after = [t - changes[-2] for t, _ in polls if t > seen_last_step]
    assert after[0] == pytest.approx(END * period, abs=1.0)
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert all(g == pytest.approx(END_STEP * period, abs=0.5) for g in gaps[1:])
    assert lags(changes, polls)[-1] <= END_STEP * period + 0.05


def test_a_skipped_change_is_recognised_from_the_progress_step() -> None:
    """Two changes seen in one poll do not throw the estimate off: later ones are seen promptly."""
    changes = [10.0 + 4.0 * k for k in range(20)]
    changes[6] = changes[7] - 0.001  # change 7 comes right after change 6: one poll sees both
    late = lags(changes, drive(changes))
    assert max(late[12:]) < POLICY.interval


def test_memory_stays_small_however_long_the_command() -> None:
    """After 500 changes a Cadence and its change marks fit in a few hundred bytes."""
    changes = [1.0 + 3.0 * k for k in range(500)]
    c, rng = Cadence(), random.Random(0)
    old = None
    for k, t in enumerate(changes):
        p = snap(RUN, k / 5)
        c.next_delay(POLICY, t - 0.5, t, old, p, rng)
        old = p
    size = sys.getsizeof(c) + sys.getsizeof(c._marks)
    assert size < 600


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=100.0),
            st.sampled_from([NEW, RUN, RUN, RUN, CommandState.UNKNOWN]),
            st.floats(min_value=0.0, max_value=100.0),
        ),
        min_size=1,
        max_size=40,
    ),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_delay_always_within_interval_and_max_interval(
    steps: list[tuple[float, CommandState, float]], jitter: float
) -> None:
    """Whatever the answers and their timing, the delay is within [interval, max_interval]."""
    policy = PollPolicy(interval=0.5, max_interval=7.0, backoff=1.5, jitter=jitter)
    c, rng = Cadence(), random.Random(3)
    t, old = 0.0, None
    for gap, state, progress in steps:
        t += gap
        new = snap(state, progress)
        delay = c.next_delay(policy, t, t + 0.01, old, new, rng)
        assert policy.interval <= delay <= policy.max_interval
        old = new


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.01, max_value=20.0),
            st.sampled_from([NEW, RUN, RUN, RUN, DONE]),
            st.sampled_from([10.0, 10.0, 20.0, 30.0, 35.0]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_a_change_passed_in_gives_the_same_delays_as_one_compared_here(
    steps: list[tuple[float, CommandState, float]],
) -> None:
    """``changed=`` (the engine's own comparison) gives the delays ``new != old`` gives."""
    policy = PollPolicy(interval=0.5, max_interval=7.0, backoff=1.5, jitter=0.1)
    told, compared = Cadence(), Cadence()
    rng_told, rng_compared = random.Random(5), random.Random(5)
    t, old = 0.0, None
    for gap, state, progress in steps:
        t += gap
        new = snap(state, progress)
        changed = old is None or new != old
        a = told.next_delay(policy, t, t + 0.01, old, new, rng_told, changed=changed)
        b = compared.next_delay(policy, t, t + 0.01, old, new, rng_compared)
        assert a == b
        old = new


def _bounds_by_definition(marks: list[float], nxt: float) -> tuple[float, float, float, float]:
    """The pairwise bounds written as the module docstring states them (max / min)."""
    lo, hi, pmin, pmax = -float("inf"), float("inf"), 0.0, float("inf")
    triples = [marks[i : i + 3] for i in range(0, len(marks), 3)]
    for (ki, ai, bi), (kj, aj, bj) in itertools.combinations(triples, 2):
        p_lo, p_hi = (aj - bi) / (kj - ki), (bj - ai) / (kj - ki)
        pmin, pmax = max(pmin, p_lo), min(pmax, p_hi)
        lo, hi = max(lo, aj + (nxt - kj) * p_lo), min(hi, bj + (nxt - kj) * p_hi)
    return lo, hi, pmin, pmax


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 3),
            st.floats(0, 5, allow_nan=False),
            st.floats(0, 2, allow_nan=False),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 3),
)
def test_the_fast_bounds_are_the_bounds_by_definition(
    steps: list[tuple[int, float, float]], ahead: int
) -> None:
    """The hot-path ``_bounds`` (comparisons, no max/min calls) gives exactly the same floats."""
    import array

    from cmdprogress._cadence import _bounds

    marks: list[float] = []
    index, t = 0.0, 0.0
    for gap, wait, width in steps:
        index += gap
        marks += [index, t + wait, t + wait + width]
        t += wait + width
    assert _bounds(array.array("d", marks), index + ahead) == _bounds_by_definition(
        marks, index + ahead
    )
