"""The simulator as the benchmarks run it: its own process, a known clock.

A thin, separate launcher around the public ``cmdprogress.testing`` API (the
same server ``python -m cmdprogress.testing serve`` runs), adding what the
measurements need and the ``serve`` command does not print: the exact
``time.monotonic()`` instant of simulated time zero, so the benchmark process
(same machine, same system-wide monotonic clock) knows when each snapshot
became current on the server.

    python -m benchmarks._simserver frozen --commands 256
        every command IN_PROGRESS mid-step, time standing still (throughput runs)
    python -m benchmarks._simserver moving --commands 256
        the frozen command, but every answer for an id differs from the one before
        (IN_PROGRESS, its progress moving on by 0.01 % per request; after
        MOVING_STEPS answers it starts again from the first): the hot path
        with every poll being news (issue 13)
    python -m benchmarks._simserver workload --count 500 --seed 1 --speed 30 --spread 900
        the seeded workload on the real clock, command k starting at a seeded
        instant within the first ``spread`` simulated seconds (it answers NEW before)
    python -m benchmarks._simserver uniform --count 1000 --duration 20 --steps 3 --speed 1
        commands of similar length, all starting now (scale runs)

Before printing anything it writes ``--info FILE`` (JSON: ``epoch_monotonic``,
``speed``, ``ids``, ``added_at``: each command's simulated creation time),
then prints the URL as the first line, flushed. Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from cmdprogress.testing import ManagerSimulator, Timeline, Workload
from cmdprogress.testing._commands import CommandStore

if TYPE_CHECKING:
    from collections.abc import Sequence


def arrivals(count: int, seed: int, spread: float) -> list[float]:
    """Seeded start instants (simulated seconds) of ``count`` commands within ``spread``.

    Sorted, the first at 0; the benchmark process computes the same list.
    """
    if count <= 0:
        return []
    rng = random.Random(f"arrivals-{seed}")
    starts = sorted(rng.uniform(0.0, spread) for _ in range(count - 1))
    return [0.0, *starts]


def workload_timelines(count: int, seed: int, spread: float, max_duration: float) -> list[Timeline]:
    """The seeded workload, each command's timeline shifted to start at its arrival.

    Before its arrival a command answers its first snapshot (``NEW``), as a
    command queued on the Manager does.
    """
    median = min(60.0, max_duration)
    base = Workload(
        count=count, seed=seed, median_duration=median, max_duration=max_duration
    ).timelines()
    out = []
    for timeline, start in zip(base, arrivals(count, seed, spread), strict=True):
        snaps = tuple(
            s if i == 0 or s.at is None else attrs.evolve(s, at=s.at + start)
            for i, s in enumerate(timeline.snapshots)
        )
        out.append(attrs.evolve(timeline, snapshots=snaps))
    return out


def uniform_timelines(count: int, seed: int, duration: float, steps: int) -> list[Timeline]:
    """``count`` commands lasting between ``duration / 2`` and ``duration``."""
    rng = random.Random(f"uniform-{seed}")
    return [
        Timeline.build(steps=steps, duration=rng.uniform(duration / 2, duration))
        for _ in range(count)
    ]


def frozen_timeline() -> Timeline:
    """A command that stays at its third snapshot (IN_PROGRESS, one step listed)."""
    return Timeline.build(steps=4, duration=600.0, kind="start", service="HDFS")


MOVING_STEPS = 1000
"""Distinct IN_PROGRESS snapshots a moving command cycles through."""


def moving_timeline() -> Timeline:
    """The frozen command's snapshot in :data:`MOVING_STEPS` versions, progress apart.

    Index 0 is NEW (at 0), 1 to ``MOVING_STEPS`` the moving ones (untimed: only the
    per-request rotation reaches them), the last the terminal one (never reached).
    """
    base = frozen_timeline()
    mid = base.snapshots[2]
    moving = [
        attrs.evolve(mid, at=None, total_progress=round(10.0 + k * 0.01, 2))
        for k in range(MOVING_STEPS)
    ]
    return attrs.evolve(base, snapshots=(base.snapshots[0], *moving, base.snapshots[-1]))


class _MovingStore(CommandStore):
    """The simulator's commands, each moving one snapshot on once its body was read."""

    def body_now(self, command_id: int | None) -> bytes | None:
        body = super().body_now(command_id)
        if body is not None:
            cmd = self.get(command_id)  # type: ignore[arg-type]  # known: a body came
            cmd.forced = cmd.forced % MOVING_STEPS + 1
        return body


class MovingSimulator(ManagerSimulator):
    """The simulator, with each progress answer moving its command one snapshot on.

    A benchmark-only hook on the simulator's command store: the answer is the
    current snapshot as always, then the command's forced index (what
    ``advance()`` sets) goes to the next moving snapshot, cycling within them.
    """

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._commands = _MovingStore(self, self._activity.notify)


def _write_json(path: str, data: object) -> None:
    Path(path).write_text(json.dumps(data), encoding="utf-8")


async def serve(args: argparse.Namespace) -> None:
    """Start the simulator, load the commands, print the lines, run until stopped."""
    clock = "manual" if args.mode in ("frozen", "moving") else "real"
    speed = float(getattr(args, "speed", 1.0))
    sim_kwargs: dict[str, object] = {"clock": clock}
    if clock == "real":
        sim_kwargs["speed"] = speed
    if args.log_limit is not None:
        sim_kwargs["log_limit"] = args.log_limit
    factory = MovingSimulator if args.mode == "moving" else ManagerSimulator
    async with factory(**sim_kwargs) as sim:  # type: ignore[arg-type]
        if args.mode == "frozen":
            timelines = [frozen_timeline() for _ in range(args.commands)]
        elif args.mode == "moving":
            timelines = [moving_timeline() for _ in range(args.commands)]
        elif args.mode == "workload":
            timelines = workload_timelines(args.count, args.seed, args.spread, args.max_duration)
        else:
            timelines = uniform_timelines(args.count, args.seed, args.duration, args.steps)
        ids: list[int] = []
        added_at: list[float] = []
        for timeline in timelines:
            added_at.append(sim.clock.now())
            ids.append(sim.add_command(timeline))
        if args.mode == "frozen":
            for cid in ids:
                sim.advance(cid, n=2)
        elif args.mode == "moving":
            for cid in ids:
                sim.advance(cid, n=1)
        # Simulated time zero on the system-wide monotonic clock.
        mono, now = time.monotonic(), sim.clock.now()
        epoch = mono - now / speed if clock == "real" else mono
        if args.info:
            info = {"epoch_monotonic": epoch, "speed": speed, "ids": ids, "added_at": added_at}
            _write_json(args.info, info)
        print(sim.url, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks._simserver")
    p.add_argument("--log-limit", type=int, default=None)
    p.add_argument("--info", default="", help="write the clock and command facts here (JSON)")
    sub = p.add_subparsers(dest="mode", required=True)
    f = sub.add_parser("frozen")
    f.add_argument("--commands", type=int, default=256)
    m = sub.add_parser("moving")
    m.add_argument("--commands", type=int, default=256)
    w = sub.add_parser("workload")
    w.add_argument("--count", type=int, default=500)
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--speed", type=float, default=30.0)
    w.add_argument("--spread", type=float, default=900.0)
    w.add_argument("--max-duration", type=float, default=900.0)
    u = sub.add_parser("uniform")
    u.add_argument("--count", type=int, default=1000)
    u.add_argument("--seed", type=int, default=1)
    u.add_argument("--speed", type=float, default=1.0)
    u.add_argument("--duration", type=float, default=20.0)
    u.add_argument("--steps", type=int, default=3)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point."""
    asyncio.run(serve(parse(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
