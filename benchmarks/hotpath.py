"""The moving ``watch_many`` hot path alone, for comparing code versions side by side.

The moving workload of ``benchmarks/overhead.py`` (every answer differs from the
previous one, the consumer drains every snapshot), only ``bare`` and
``watch_many``, at each concurrency: a narrow harness for engine work.

    python -m benchmarks.hotpath [--rounds 5] [--requests 5000] [--conc 16,64]
        [--trees DIR,DIR,...] [--profile CONC] [--gc-freeze]

- ``--trees``: source trees to compare (each a checkout holding ``cmdprogress/``
  and ``benchmarks/``, e.g. from ``git worktree add`` or ``git archive``). One
  simulator serves them all; each round runs every tree once, in a child process
  started in that tree, the order alternating from round to round. Each child
  measures ``bare`` then ``watch_many`` per concurrency; the figure is the median
  over the rounds of ``watch_many / bare`` of the same child (requests/s, CPU per
  request): the load of the shared machine moves both runs of a pair alike.
  Without ``--trees``, the current tree alone.
- ``--profile CONC``: one more ``watch_many`` run under cProfile (current tree):
  own time per request by module and the hottest functions, and the cyclic GC's
  collections and time per request.
- ``--gc-freeze``: ``gc.freeze()`` before each measured run (what a long-lived
  process that froze its start-up objects would see).
- ``--engine-only``: no HTTP at all: the engine's scheduler, cadence, mailbox and
  watcher around a poll that suspends once and returns the moving simulator's
  decoded snapshots, against a bare loop awaiting the same poll; the difference
  is the engine's own CPU per poll, without the noise of sockets and a server.
  ``--part engine`` (or ``bare``) runs one side only: under
  ``valgrind --tool=callgrind`` with a fixed ``PYTHONHASHSEED``, the difference
  of the instructions of two runs of different ``--requests`` is the
  instructions per poll, exact on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._sim import SimInfo, start_sim
from .overhead import by_module, measure

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


class _Server:
    """What :func:`benchmarks.overhead.measure` needs of the simulator process in a child."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def alive(self) -> bool:
        return True


class GcMeter:
    """Collections per generation and their time, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = 0.0
        self._t0 = 0.0

    def _cb(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.count[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._t0

    def __enter__(self) -> GcMeter:
        gc.callbacks.append(self._cb)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._cb)


async def _child(
    url: str,
    pid: int,
    ids: list[int],
    concs: list[int],
    total: int,
    freeze: bool,
    variants: list[str],
) -> dict[str, Any]:
    sim = SimInfo(url=url, epoch_monotonic=0.0, speed=1.0, ids=ids, added_at=[0.0] * len(ids))
    server: Any = _Server(pid)
    out: dict[str, Any] = {}
    await measure(
        "bare", sim, server, concs[0], total // 4
    )  # warm-up: the first run of a process is slow
    for conc in concs:
        for variant in variants:
            if freeze:
                gc.collect()
                gc.freeze()
            t0 = os.times()
            with GcMeter() as g:
                r = await measure(variant, sim, server, conc, total)
            t1 = os.times()
            if freeze:
                gc.unfreeze()
            out[f"{variant}@{conc}"] = {
                "rps": r.rps,
                "cpu_us": r.cpu_us,
                "gc": g.count,
                "gc_s": g.seconds,
                "sys_share": (t1.system - t0.system)
                / max(1e-9, (t1.user - t0.user) + (t1.system - t0.system)),
            }
    return out


def _rounds(
    trees: list[Path], sim: SimInfo, pid: int, args: argparse.Namespace
) -> Iterator[tuple[Path, dict[str, Any]]]:
    for k in range(args.rounds):
        order = trees if k % 2 == 0 else trees[::-1]
        for tree in order:
            argv = [
                sys.executable,
                "-m",
                "benchmarks.hotpath",
                "--child",
                "--url",
                sim.url,
                "--pid",
                str(pid),
                "--ids",
                ",".join(map(str, sim.ids)),
                "--conc",
                args.conc,
                "--requests",
                str(args.requests),
                "--variants",
                args.variants,
            ]
            if args.gc_freeze:
                argv.append("--gc-freeze")
            done = subprocess.run(argv, cwd=tree, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{tree}: {done.stderr[-2000:]}")
            yield tree, json.loads(done.stdout.strip().splitlines()[-1])


def _report(
    trees: list[Path],
    got: dict[Path, list[dict[str, Any]]],
    concs: list[int],
    total: int,
    variants: list[str],
) -> None:
    for conc in concs:
        rounds = len(got[trees[0]])
        print(f"moving @ {conc}: variant / bare of the same child, median over {rounds} rounds")
        for tree, variant in ((t, v) for t in trees for v in variants if v != "bare"):
            mine = [r[f"{variant}@{conc}"] for r in got[tree]]
            base = [r[f"bare@{conc}"] for r in got[tree]]
            med = statistics.median
            rps = med(m["rps"] / b["rps"] for m, b in zip(mine, base, strict=True))
            cpu = [m["cpu_us"] / b["cpu_us"] for m, b in zip(mine, base, strict=True)]
            print(
                f"  {tree.name:12} {variant:12} rps x{rps:.3f}  cpu x{med(cpu):.3f}"
                f"  ({med(m['cpu_us'] for m in mine):.1f} vs bare"
                f" {med(b['cpu_us'] for b in base):.1f} us/req)"
                f"  sys {med(m['sys_share'] for m in mine):.2f}"
                f" (bare {med(b['sys_share'] for b in base):.2f})"
                f"  gc0 {med(m['gc'][0] * 1000 / total for m in mine):.1f}/1000 req,"
                f" gc {med(m['gc_s'] * 1e6 / total for m in mine):.1f} us/req"
                f"  cpu ratios {' '.join(f'{x:.2f}' for x in cpu)}"
            )


async def _profile(sim: SimInfo, server: Any, conc: int, total: int) -> None:
    prof = cProfile.Profile()
    with GcMeter() as g:
        await measure("watch_many", sim, server, conc, total, prof)
    print(f"profile watch_many @ {conc}, own time per request by module (cProfile):")
    for name, us in by_module(prof, total).items():
        print(f"  {name:12} {us:6.1f} us")
    print(f"  gc: {g.count} collections per generation, {1e6 * g.seconds / total:.1f} us/request")
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(40)
    print(s.getvalue())


def _engine_only(concs: list[int], total: int, rounds: int, profile: bool, part: str) -> None:
    import collections

    from cmdprogress import PollPolicy
    from cmdprogress._convert import decode_progress
    from cmdprogress._scheduler import Engine
    from cmdprogress._watcher import Watcher
    from cmdprogress.testing._timeline import encode_snapshot

    from ._simserver import moving_timeline

    snaps = moving_timeline().snapshots[1:101]
    ids = list(range(1, 257))
    encoded = [encode_snapshot(s, style="snake", wire_id=0) for s in snaps]
    bodies = {cid: [decode_progress(cid, b) for b in encoded] for cid in ids}
    policy = PollPolicy(interval=1e-6, max_interval=1e-6, backoff=1.0, jitter=0.0)

    def make_poll() -> tuple[Any, list[int]]:
        count = [0]
        index = collections.Counter[int]()

        async def poll(cid: int, previous: Any, digest: bytes) -> tuple[Any, bytes]:
            await asyncio.sleep(0)
            count[0] += 1
            k = index[cid] = index[cid] + 1
            seq = bodies[cid]
            return seq[k % len(seq)], b"%d" % k

        return poll, count

    async def bare(conc: int) -> float:
        poll, _ = make_poll()
        remaining = total

        async def worker(k: int) -> None:
            nonlocal remaining
            i = k
            while remaining > 0:
                remaining -= 1
                await poll(ids[i % 256], None, b"")
                i += conc

        t0 = time.process_time()
        await asyncio.gather(*(worker(k) for k in range(conc)))
        return time.process_time() - t0

    async def engine(conc: int, prof: cProfile.Profile | None = None) -> float:
        poll, count = make_poll()
        eng = Engine(
            poll,
            policy=policy,
            max_workers=conc,
            poll_stretch=lambda d: 1.0,
            max_retry_after=60.0,
            request_counts=collections.Counter(),
        )
        async with eng:
            done = asyncio.Event()
            start = [0.0]
            warm = 512

            async def consume() -> None:
                async for _ in Watcher(eng, ids):
                    if count[0] == warm:
                        start[0] = time.process_time()
                        if prof is not None:
                            prof.enable()
                    if count[0] >= warm + total:
                        if prof is not None:
                            prof.disable()
                        start[0] = time.process_time() - start[0]
                        done.set()
                        return

            task = asyncio.create_task(consume())
            await done.wait()
            await task
            return start[0] * total / (count[0] - warm)

    async def go() -> None:
        if profile:
            prof = cProfile.Profile()
            await engine(concs[0], prof)
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(30)
            print(s.getvalue())
            return
        res: dict[int, list[tuple[float, float]]] = {c: [] for c in concs}
        for _ in range(rounds):
            for c in concs:
                # The cyclic GC stays out: when a full collection falls in one run
                # and not another is not the engine's doing (it is measured apart).
                gc.collect()
                gc.disable()
                try:
                    b = await bare(c) if part != "engine" else 0.0
                    e = await engine(c) if part != "bare" else 0.0
                finally:
                    gc.enable()
                res[c].append((b, e))
        for c in concs:
            diff = [1e6 * (e - b) / total for b, e in res[c]]
            eng_us = [1e6 * e / total for b, e in res[c]]
            print(
                f"engine only @ {c}: {statistics.median(eng_us):.1f} us per poll, "
                f"{statistics.median(diff):.1f} us over the bare loop "
                f"(rounds: {' '.join(f'{d:.1f}' for d in diff)})"
            )

    asyncio.run(go())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; see the module docstring."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.hotpath", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--conc", default="16,64")
    p.add_argument("--trees", default="")
    p.add_argument("--profile", type=int, default=0)
    p.add_argument("--gc-freeze", action="store_true")
    p.add_argument("--variants", default="bare,watch_many", help="bare first; also get_progress")
    p.add_argument("--engine-only", action="store_true")
    p.add_argument(
        "--part",
        choices=("both", "bare", "engine"),
        default="both",
        help="with --engine-only: run only one side (to count instructions with callgrind)",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", default="", help=argparse.SUPPRESS)
    p.add_argument("--pid", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--ids", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    concs = [int(c) for c in args.conc.split(",")]
    if args.engine_only:
        _engine_only(concs, args.requests, args.rounds, bool(args.profile), args.part)
        return 0
    if args.child:
        ids = [int(i) for i in args.ids.split(",")]
        variants = args.variants.split(",")
        out = asyncio.run(
            _child(args.url, args.pid, ids, concs, args.requests, args.gc_freeze, variants)
        )
        print(json.dumps(out))
        return 0
    trees = [Path(t).resolve() for t in args.trees.split(",") if t] or [Path.cwd()]
    with start_sim("moving", "--commands", "256") as (server, sim):
        if args.profile:
            asyncio.run(_profile(sim, server, args.profile, args.requests))
            return 0
        got: dict[Path, list[dict[str, Any]]] = {t: [] for t in trees}
        for tree, res in _rounds(trees, sim, server.pid, args):
            got[tree].append(res)
            print(
                f"[{tree.name}] " + ", ".join(f"{k} {v['cpu_us']:.0f} us" for k, v in res.items()),
                file=sys.stderr,
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.1f}")
    _report(trees, got, concs, args.requests, args.variants.split(","))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
