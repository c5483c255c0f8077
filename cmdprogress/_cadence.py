"""The cadence rule: when to poll a command next, from what its snapshots showed so far.

Pure and synchronous: a :class:`Cadence` sees only the snapshots one command
answered and when its polls were sent and answered; the engine keeps one per
command and asks it for the delay to the next poll after every answer. The
result always lies within ``[interval, max_interval]`` of the
:class:`~cmdprogress.PollPolicy`, jitter included.

The rule
========

This is the web crawler's freshness problem (Cho and Garcia-Molina): estimate
how often each source changes from what the polls saw, and spend requests
where a change is due. A change is known only to lie between the poll before
it (sent) and the poll that saw it (answered); every estimate below works on
those brackets.

- **Not moving** (``NEW``, ``UNKNOWN`` states such as ``WAITING``): the delay
  grows by ``backoff`` after each unchanged poll, from ``interval`` up to
  ``max_interval``; spread by ``±jitter``. After a change it resumes on the
  scale of that change: at :data:`RESTART` times the time the change took to
  come (from the previous one, or from the first poll), not at ``interval``,
  since a command that took a minute to move is unlikely to move again in a
  second (a quick one comes back to ``interval``; so does every one with
  ``backoff=1``, which asks for no back-off at all).
- **Moving, pace unknown** (``IN_PROGRESS`` before its period is known, or
  overdue past its window): the same back-off, but never above
  :data:`MOVING` times ``max_interval``: a running command is known to be
  going somewhere, and its next change is what the consumer waits for.
- **Moving steadily.** Taking the changes of an ``IN_PROGRESS`` command to
  come evenly spaced, the brackets of the last few (at most :data:`KEEP`)
  bound both the period and the instant of the next change: a window
  ``[earliest, latest]``. A skipped change (two in one poll) is recognised by
  the progress step being a multiple of the smallest one seen. When a change
  falls outside what the brackets allow, the command is not steady after all
  and the estimate restarts from its last two changes.
- **Where to poll in the window.** A window no wider than ``interval`` is
  polled once at its end (a sure hit, late by less than ``interval``); a wider
  one is probed at its middle: a hit or a miss halves it for this change and,
  through the period, for the next ones, so the window narrows change after
  change. Nothing is polled before the window opens except to respect
  ``max_interval`` (long waits are cut into equal parts no longer than it).
  A change overdue past the window's end goes back to the back-off above.
- **The end** matters most (it is what orchestration waits for), and it
  comes only once, so nothing can be learnt from it: when progress
  extrapolated at the command's mean rate reaches 100 % before the next
  change's window closes, that extrapolated time ``eta`` opens an end window
  ``[END * eta, eta]`` after the last change, polled every
  :data:`END_STEP` ``* eta`` (at least ``interval``): an end that comes
  anywhere in it is seen within ``END_STEP * eta``, for about
  ``(1 - END) / END_STEP`` polls once per command. After the window, the
  next change's window as usual. The window opens well before the half-way
  point where the simulator's commands end, so that an end a real Manager
  sends earlier or later is still seen within ``END_STEP * eta`` (checked
  on the benchmark's workload replayed with the ends moved to 0.25, 0.5 and
  1.0 ``eta``).
- **Jitter.** Back-off delays are spread by ``±jitter``; polls aimed at a
  predicted change or at the end window are only ever late, by up to
  ``jitter * interval``, so commands started together still drift apart
  without polling before the change they wait for.

The constants were chosen on the seeded workload of the freshness benchmark,
replayed offline through this class (``python -m benchmarks.replay``), as
the points with the lowest lag at equal cost against every fixed interval
(``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import array
import math
from typing import TYPE_CHECKING

from ._models import CommandState

if TYPE_CHECKING:
    import random

    from ._models import CommandProgress
    from ._policy import PollPolicy

__all__ = ["END", "END_STEP", "KEEP", "MOVING", "RESTART", "Cadence"]

KEEP = 8
"""Changes of a steady run remembered to estimate its period (3 floats each)."""
# Progress steps smaller than this are float noise, not a unit of progress.
_MIN_QUANTUM = 1e-6
# The most changes one poll may be taken to have skipped (bounds the estimate).
_MAX_SKIPPED = 64
END = 0.25
"""Fraction of the extrapolated time to the end at which the end window opens."""
END_STEP = 0.05
"""Polls in the end window are this fraction of the extrapolated time apart (>= ``interval``)."""
RESTART = 0.5
"""After a change, the back-off resumes at this fraction of the time the change took to come."""
MOVING = 1 / 3
"""The longest wait of an ``IN_PROGRESS`` command with no change predicted, x ``max_interval``."""

_INF = math.inf
_IN_PROGRESS = CommandState.IN_PROGRESS


class Cadence:
    """The polling cadence of one command: feed it each answer, get the next delay.

    ``next_delay`` is called after every successful poll with the previous
    snapshot (``None`` for the first poll), the new one, when the poll was
    sent and when its answer arrived (the engine's clock, in seconds); it
    returns the seconds to wait before the next poll. See the module
    docstring for the rule. A few hundred bytes per command.

    >>> import random
    >>> from cmdprogress import CommandProgress, CommandState, PollPolicy
    >>> policy, rng = PollPolicy(jitter=0.0), random.Random(0)
    >>> new = CommandProgress(7, CommandState.NEW)
    >>> c = Cadence()
    >>> c.next_delay(policy, 0.0, 0.1, None, new, rng)
    1.0
    >>> c.next_delay(policy, 1.1, 1.2, new, new, rng)  # unchanged: back off
    1.5
    """

    __slots__ = (
        "_changed_at",
        "_delay",
        "_due_hi",
        "_due_lo",
        "_end_at",
        "_end_hi",
        "_end_step",
        "_marks",
        "_moving",
        "_period",
        "_quantum",
        "_run_at",
        "_run_progress",
        "_sent",
    )

    def __init__(self) -> None:
        self._delay = 0.0  # the current back-off delay
        self._sent = -_INF  # when the previous poll was sent
        self._changed_at = -_INF  # about when the last change happened
        self._run_at = 0.0  # about when the steady run began, and its progress then
        self._run_progress = 0.0
        self._moving = False  # the last answer was IN_PROGRESS
        self._marks: array.array[float] = array.array("d")
        self._reset_run()

    def _reset_run(self) -> None:
        # (index, earliest, latest) of the run's last changes.
        del self._marks[:]
        self._period = 0.0  # estimated time between changes (0: unknown)
        self._quantum = 0.0  # the smallest progress step seen (0: none yet)
        self._due_lo = self._due_hi = _INF  # window of the next change (inf: unknown)
        self._end_at = self._end_hi = _INF  # the end window (inf: not expected yet)
        self._end_step = 0.0  # the gap between polls in the end window

    def next_delay(
        self,
        policy: PollPolicy,
        sent: float,
        now: float,
        old: CommandProgress | None,
        new: CommandProgress,
        rng: random.Random,
        *,
        changed: bool | None = None,
    ) -> float:
        """Record ``new``, answered at ``now`` to the poll sent at ``sent``; return the delay.

        ``old`` is the previous answer (``None`` on the first poll); ``rng``
        draws the jitter; ``changed``, if given, is ``new != old`` (the engine
        has compared them already). The result is within ``[interval, max_interval]``.
        """
        prev = self._sent
        self._sent = sent
        if old is None:
            self._changed_at = sent
        elif changed if changed is not None else new != old:
            at = 0.5 * (prev + now)
            # The next change of a command whose pace is unknown is looked for
            # on the scale of the last one: resume the back-off there (with no
            # back-off asked for, the delay stays at interval).
            took = at - self._changed_at
            self._delay = RESTART * took / policy.backoff if policy.backoff > 1 else 0.0
            self._changed_at = at
            if new.state is _IN_PROGRESS:
                self._on_change(prev, now, old, new)
            else:
                self._reset_run()
        self._moving = new.state is _IN_PROGRESS
        return self._plan(policy, now, rng)

    def _on_change(self, a: float, b: float, old: CommandProgress, new: CommandProgress) -> None:
        """A change of a moving command happened in ``(a, b]``: update the estimates."""
        marks = self._marks
        if not marks or old.state is not _IN_PROGRESS:
            self._reset_run()
            marks.extend((0.0, a, b))
            self._run_at = 0.5 * (a + b)
            self._run_progress = new.total_progress
            return
        m = 1  # changes since the last one seen: more if the progress step says so
        step = new.total_progress - old.total_progress
        if step > _MIN_QUANTUM:  # ignore float noise: it would make step / q explode
            q = self._quantum
            if q > 0:
                m = round(step / q)
                if m < 1:
                    m = 1
                elif m > _MAX_SKIPPED:
                    m = _MAX_SKIPPED
            if q == 0 or step < q:
                self._quantum = step
        index = marks[-3] + m
        marks.extend((index, a, b))
        if len(marks) > 3 * KEEP:
            del marks[:3]
        lo, hi, pmin, pmax = _bounds(marks, index + 1)
        if lo > hi or pmin > pmax:
            # Not steady after all: a new run from the previous change.
            del marks[:-6]
            marks[0], marks[3] = 0.0, float(m)
            lo, hi, pmin, pmax = _bounds(marks, m + 1)
            self._run_at = 0.5 * (marks[1] + marks[2])
            self._run_progress = old.total_progress
        self._period = 0.5 * (pmin + pmax)
        self._due_lo, self._due_hi = lo, hi
        self._end_at = self._end_hi = _INF
        last = 0.5 * (lo + hi) - self._period  # the best guess of this change's instant
        span = last - self._run_at
        done = new.total_progress - self._run_progress
        if span > 0 and done > 0 and new.total_progress < 100.0:
            eta = (100.0 - new.total_progress) * span / done
            if last + eta <= hi:
                self._end_at = last + END * eta
                self._end_hi = last + eta
                self._end_step = END_STEP * eta

    def _plan(self, policy: PollPolicy, now: float, rng: random.Random) -> float:
        interval = policy.interval
        hi = self._due_hi
        if now < self._end_hi < _INF:
            # The end is due in [end_at, end_hi]: look for it there every end_step.
            self._delay = 0.0
            wait = max(self._end_at - now, self._end_step)
            if wait > policy.max_interval:
                wait /= math.ceil(wait / policy.max_interval)
            wait += policy.jitter * interval * rng.random()
        elif hi < _INF and now < hi:
            # A change is due in [lo, hi].
            self._delay = 0.0
            lo = max(now + interval, self._due_lo)
            target = hi if hi - lo <= interval else 0.5 * (lo + hi)
            wait = max(interval, target - now)
            if wait > policy.max_interval:
                wait /= math.ceil(wait / policy.max_interval)
            wait += policy.jitter * interval * rng.random()
        else:
            # Nothing expected (or it is overdue): back off, less far for a moving command.
            self._due_lo = self._due_hi = _INF
            ceiling = policy.max_interval
            if self._moving:
                ceiling = max(interval, MOVING * ceiling)
            wait = self._delay = min(ceiling, max(interval, self._delay * policy.backoff))
            wait *= 1.0 + policy.jitter * (2.0 * rng.random() - 1.0)
        return min(policy.max_interval, max(interval, wait))


def _bounds(marks: array.array[float], nxt: float) -> tuple[float, float, float, float]:
    """Earliest and latest instant of change ``nxt`` and the bounds of the period.

    ``marks`` holds (index, earliest, latest) triples: change ``index``
    happened in ``(earliest, latest]``. Taking the changes as evenly spaced
    (``t_k = t_0 + k * period``), each pair of marks bounds the period and, by
    extrapolation, the next change; the tightest bounds of all pairs are
    returned (for a line through intervals, the pairs give the exact bounds).
    ``lo > hi`` or ``pmin > pmax`` means no even spacing fits the marks.
    """
    # Run on every change of a moving command (28 pairs at KEEP = 8), so:
    # - for each later mark j, the tightest period bounds over the earlier marks i
    #   come first, then one extrapolation from j: ``aj + ahead * p`` only grows with
    #   p (``ahead`` > 0, and rounding keeps the order), so extrapolating with the
    #   largest p_lo gives exactly the largest of the pairs' extrapolations (and the
    #   smallest p_hi the smallest);
    # - comparisons instead of max() / min() calls (each keeps the current value
    #   unless the new one is strictly beyond it: the same floats), over a list copy.
    lo, hi, pmin, pmax = -_INF, _INF, 0.0, _INF
    m = marks.tolist()
    count = len(m)
    for j in range(3, count, 3):
        kj = m[j]
        aj = m[j + 1]
        bj = m[j + 2]
        p_lo, p_hi = -_INF, _INF
        for i in range(0, j, 3):
            d = kj - m[i]
            p = (aj - m[i + 2]) / d
            if p > p_lo:
                p_lo = p
            p = (bj - m[i + 1]) / d
            if p < p_hi:
                p_hi = p
        if p_lo > pmin:
            pmin = p_lo
        if p_hi < pmax:
            pmax = p_hi
        ahead = nxt - kj
        x = aj + ahead * p_lo
        if x > lo:
            lo = x
        x = bj + ahead * p_hi
        if x < hi:
            hi = x
    return lo, hi, pmin, pmax
