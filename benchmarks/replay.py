"""Offline freshness: the seeded workload replayed through the real ``Cadence`` on a virtual clock.

The freshness benchmark (``benchmarks.freshness``) runs the simulator on a
sped-up real clock, so a run takes minutes and its lags carry the noise of a
loaded machine. This replay takes seconds and is exact: the same seeded
timelines and start instants, the cadence rule of ``cmdprogress._cadence``
itself, and a virtual clock. Each poll is sent at its due instant, sees the
snapshot current ``latency / 2`` later and is answered ``latency`` after it
was sent; the next poll is sent the delay ``Cadence.next_delay`` returned
after that. A fixed-interval poller sends its next poll ``interval`` after
each answer, as the benchmark's does. Lags are counted as the benchmark
counts them (a change polled past arrives with the next snapshot received).

It is the regression tool for the cadence rule: change ``_cadence.py``, run::

    python -m benchmarks.replay                 # the benchmark's settings, every fixed interval
    python -m benchmarks.replay --count 2000 --seed 2   # a larger sample, another seed
    python -m benchmarks.replay --policy interval=0.5,max_interval=10

and compare the table with the one before the change: nothing here depends
on the machine's load. Each cmdprogress row shows the fixed-interval curve's
lags at its requests per command and how many of its four lags are below
them (the target of ``benchmarks.freshness``). It agrees with the measured
benchmark within its noise (``benchmarks/RESULTS.md`` shows both).
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import TYPE_CHECKING, Any

import attrs

from cmdprogress._cadence import Cadence
from cmdprogress._convert import decode_progress
from cmdprogress.testing._timeline import encode_snapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cmdprogress import CommandProgress, PollPolicy


@attrs.frozen
class Replayed:
    """Requests and lags (simulated seconds) of one strategy over the workload."""

    name: str
    commands: int
    requests: int
    lags: list[float]
    terminal_lags: list[float]

    @property
    def per_command(self) -> float:
        """Requests per command."""
        return self.requests / max(1, self.commands)


@attrs.frozen
class Command:
    """One command of the workload: when its watch starts, its snapshots and their instants."""

    start: float
    at: list[float]  # instant each snapshot became current (the first: -inf)
    progress: list[CommandProgress]


def commands(timelines: Sequence[Any], starts: Sequence[float]) -> list[Command]:
    """The workload as the replay needs it: decoded snapshots and their instants."""
    out = []
    for cid, (timeline, start) in enumerate(zip(timelines, starts, strict=True)):
        snaps = [s for s in timeline.snapshots if s.at is not None]
        at = [-float("inf")] + [float(s.at) for s in snaps[1:]]
        decoded = [
            decode_progress(cid, encode_snapshot(s, style=timeline.style, wire_id=-1))
            for s in snaps
        ]
        out.append(Command(start, at, decoded))
    return out


def _seen(cmd: Command, t: float, k: int) -> int:
    """The index of the snapshot current at ``t`` (not before ``k``)."""
    at = cmd.at
    last = len(at) - 1
    while k < last and at[k + 1] <= t:
        k += 1
    return k


def _lags(
    cmd: Command, answers: list[tuple[float, int]], lags: list[float], term: list[float]
) -> None:
    last = len(cmd.at) - 1
    i = 0
    for j in range(1, last + 1):
        while answers[i][1] < j:
            i += 1
        (term if j == last else lags).append(max(0.0, answers[i][0] - cmd.at[j]))


def replay_policy(
    name: str,
    cmds: Sequence[Command],
    policy: PollPolicy,
    *,
    latency: float = 0.1,
    seed: int = 0,
    cadence: Callable[[], Cadence] = Cadence,
) -> Replayed:
    """Each command polled by its own ``Cadence`` under ``policy``."""
    rng = random.Random(seed)
    requests = 0
    lags: list[float] = []
    term: list[float] = []
    for cmd in cmds:
        rule = cadence()
        last = len(cmd.at) - 1
        sent, k, old = cmd.start, 0, None
        answers: list[tuple[float, int]] = []
        while True:
            k = _seen(cmd, sent + latency / 2, k)
            now = sent + latency
            answers.append((now, k))
            if k == last:
                break
            new = cmd.progress[k]
            delay = rule.next_delay(policy, sent, now, old, new, rng)
            old, sent = new, now + delay
        requests += len(answers)
        _lags(cmd, answers, lags, term)
    return Replayed(name, len(cmds), requests, lags, term)


def replay_fixed(
    name: str, cmds: Sequence[Command], interval: float, *, latency: float = 0.1
) -> Replayed:
    """Each command polled ``interval`` after each answer."""
    requests = 0
    lags: list[float] = []
    term: list[float] = []
    for cmd in cmds:
        last = len(cmd.at) - 1
        sent, k = cmd.start, 0
        answers: list[tuple[float, int]] = []
        while True:
            k = _seen(cmd, sent + latency / 2, k)
            now = sent + latency
            answers.append((now, k))
            if k == last:
                break
            sent = now + interval
        requests += len(answers)
        _lags(cmd, answers, lags, term)
    return Replayed(name, len(cmds), requests, lags, term)


def frontier_lines(
    timelines: Sequence[Any],
    starts: Sequence[float],
    settings: Sequence[tuple[str, dict[str, float]]] | None = None,
    *,
    latency: float = 0.1,
) -> list[str]:
    """The frontier as a text table: every fixed interval, then each setting against it."""
    from .freshness import FIXED, METRICS, SETTINGS, fixed_at, metric, policy_of

    cmds = commands(timelines, starts)
    fixed = [replay_fixed(f"fixed {s:g} s", cmds, s, latency=latency) for s in FIXED]
    ours = [
        replay_policy(name, cmds, policy_of(setting), latency=latency)
        for name, setting in (SETTINGS if settings is None else settings)
    ]
    width = max(len(r.name) for r in [*fixed, *ours])
    head = f"{'strategy':{width}} {'req/cmd':>8} {'p50':>6} {'p95':>6} {'t50':>6} {'t95':>6}"
    lines = [head + "  | fixed at equal cost:  p50    p95    t50    t95 | below"]

    def cells(values: Sequence[float | None]) -> str:
        return "".join(f" {v:6.2f}" if v is not None else "      -" for v in values)

    for r in fixed:
        lags = [metric(r, attr, q) for _, attr, q in METRICS]
        lines.append(f"{r.name:{width}} {r.per_command:8.2f}{cells(lags)}")
    for r in ours:
        lags = [metric(r, attr, q) for _, attr, q in METRICS]
        curve = [fixed_at(fixed, r.per_command, attr, q) for _, attr, q in METRICS]
        below = sum(
            1 for a, b in zip(lags, curve, strict=True) if a is not None and b is not None and a < b
        )
        lines.append(
            f"{r.name:{width}} {r.per_command:8.2f}{cells(lags)}  |{' ' * 20}{cells(curve)}"
            f" | {below} of 4"
        )
    return lines


def _parse_policy(text: str) -> dict[str, float]:
    kwargs: dict[str, float] = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        kwargs[key.strip()] = float(value)
    return kwargs


def main(argv: Sequence[str] | None = None) -> None:
    """Print the frontier of the replay."""
    from ._simserver import arrivals, workload_timelines

    p = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__)
    p.add_argument("--count", type=int, default=500, help="commands (the benchmark's: 500)")
    p.add_argument("--seed", type=int, default=1, help="the workload's seed (the benchmark's: 1)")
    p.add_argument("--latency", type=float, default=0.1, help="simulated seconds per request")
    p.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="K=V,...",
        help="PollPolicy settings to replay instead of the benchmark's (repeatable)",
    )
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    timelines = workload_timelines(args.count, args.seed, 900.0, 900.0)
    starts = arrivals(args.count, args.seed, 900.0)
    settings = [(f"policy({text})", _parse_policy(text)) for text in args.policy] or None
    print("\n".join(frontier_lines(timelines, starts, settings, latency=args.latency)))


if __name__ == "__main__":
    main()
