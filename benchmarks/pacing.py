"""Pacing against a loaded Manager (issue 11): ``python -m benchmarks pacing``.

Each workload runs the simulator in its own process (``benchmarks._pacing_server``)
and the client in this one, every variant side by side in the same run:

1. **Capacity C = 60 answers/s** (429 + ``Retry-After: 1`` above), 200 moving
   commands, ``PollPolicy(interval=0.02, max_interval=0.2)``, ``max_concurrency=16``:
   cmdprogress, a botocore-style adaptive limiter (our own implementation of
   the published rule: token bucket, CUBIC rate, x0.7 on every throttle, at
   most 2x the measured rate) and a naive loop. Steady state = after the
   first ``WARMUP`` seconds: answers served / C and the share refused.
2. **Capacity 100 -> 30 -> 100** answers/s: time until the client's request
   rate (served + refused, averaged over the last 2 s) is and stays within
   15 % of the new capacity until the next change, each way. Drawn in ``pacing_rate.png``.
3. **8 % random 429/503** (``Retry-After: 1``), no load limit: time to see
   100 commands end, against the same run without throttles.
4. **25 % mixed faults** (500/502/503/429/reset/truncated; 429/503 carry
   ``Retry-After: 1``), 100 commands: against a plain per-request retry loop.
5. (``--soak``) the full soak (``nox -s soak``) with and without its faults.

The counts (served, refused) are what matter; the machine is shared, so each
workload runs ``--rounds`` times and every round is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import math
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs

from cmdprogress import Client, PollPolicy, RetryPolicy

from ._harness import ServerProcess
from ._results import fmt

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
PLOT = HERE / "pacing_rate.png"
TITLE = "8. Pacing against a loaded Manager (issue 11)"
END_MARK = "<!-- pacing section ends -->"

CAPACITY = 60.0
WARMUP = 5.0
SAMPLE = 0.25
CONCURRENCY = 16
FAST = PollPolicy(interval=0.02, max_interval=0.2)
TERMINAL = (b'"COMPLETE"', b'"FAILED"')
MIXED = "500:0.0417,502:0.0417,503:0.0417,429:0.0417,reset:0.0417,truncated:0.0417"


def server(*args: str) -> ServerProcess:
    """The pacing simulator in its own process."""
    return ServerProcess([sys.executable, "-m", "benchmarks._pacing_server", *args])


@attrs.define
class Trace:
    """Cumulative counts sampled every ``SAMPLE`` seconds from the client's start."""

    times: list[float] = attrs.Factory(list)
    served: list[int] = attrs.Factory(list)
    refused: list[int] = attrs.Factory(list)
    limit: list[float | None] = attrs.Factory(list)

    def window_rate(self, series: list[int], i: int, span: float = 1.0) -> float:
        """Per second over the ``span`` before sample ``i``."""
        back = max(0, i - round(span / SAMPLE))
        dt = self.times[i] - self.times[back]
        return (series[i] - series[back]) / dt if dt > 0 else 0.0

    def between(self, start: float, end: float) -> tuple[int, int, float]:
        """Served, refused and the seconds between the samples nearest ``start`` and ``end``."""
        i = next(k for k, t in enumerate(self.times) if t >= start)
        j = max(k for k, t in enumerate(self.times) if t <= end)
        return (
            self.served[j] - self.served[i],
            self.refused[j] - self.refused[i],
            self.times[j] - self.times[i],
        )


async def sample(
    trace: Trace, counts: Callable[[], tuple[int, int]], limit: Callable[[], float | None]
) -> None:
    """Fill ``trace`` until cancelled."""
    start = time.monotonic()
    while True:
        served, refused = counts()
        trace.times.append(time.monotonic() - start)
        trace.served.append(served)
        trace.refused.append(refused)
        trace.limit.append(limit())
        await asyncio.sleep(SAMPLE)


# -- the clients -------------------------------------------------------------------------


async def run_ours(
    url: str, ids: list[int], seconds: float, at: Callable[[float], None] | None = None
) -> Trace:
    """cmdprogress watching every command for ``seconds``."""
    trace = Trace()
    served = [0]

    def on_event(event: Any) -> None:
        if event.kind == "poll":
            served[0] += 1

    client = Client(url, max_concurrency=CONCURRENCY, poll=FAST)
    async with client:
        client.add_listener(on_event)
        sampler = asyncio.create_task(
            sample(
                trace, lambda: (served[0], client.stats.throttled), lambda: client.stats.rate_limit
            )
        )
        watcher = client.watch_many(ids)

        async def consume() -> None:
            async for _ in watcher:
                pass

        consumer = asyncio.create_task(consume())
        await _timeline(seconds, at)
        consumer.cancel()
        sampler.cancel()
        for task in (consumer, sampler):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        watcher.close()
    return trace


async def _timeline(seconds: float, at: Callable[[float], None] | None) -> None:
    start = time.monotonic()
    if at is not None:
        for mark in (seconds / 3, 2 * seconds / 3):
            await asyncio.sleep(max(0.0, start + mark - time.monotonic()))
            at(mark)
    await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))


class AdaptiveLimiter:
    """A botocore-style adaptive client rate limiter, written from the published rule.

    Token bucket (fill rate = the rate, capacity = one second of it, at least
    one token; at least 0.5/s), off until the first throttle. The send rate
    follows a CUBIC curve ``0.4 * (t - K)**3 + w_max`` since the last
    throttle, ``K = cbrt(w_max * (1 - 0.7) / 0.4)``; every throttle sets
    ``w_max`` to the measured rate (no more than the bucket's) and the rate to
    0.7 of it. The measured rate is a 0.8-smoothed count per 0.5 s bucket; the
    bucket's rate never exceeds twice the measured rate.
    """

    def __init__(self) -> None:
        self.enabled = False
        self.rate = 0.0
        self.tokens = 0.0
        self.stamp = time.monotonic()
        self.w_max = 0.0
        self.k = 0.0
        self.last_fail = time.monotonic()
        self.measured = 0.0
        self.count = 0
        self.last_bucket = math.floor(time.monotonic() * 2) / 2

    def _refill(self, now: float) -> None:
        capacity = max(1.0, self.rate)
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self) -> None:
        """Wait for a token (at once while no throttle was seen)."""
        if not self.enabled:
            return
        while True:
            now = time.monotonic()
            self._refill(now)
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)

    def on_response(self, throttled: bool) -> None:
        """Update the measured rate and the bucket after an answer."""
        now = time.monotonic()
        bucket = math.floor(now * 2) / 2
        self.count += 1
        if bucket > self.last_bucket:
            current = self.count / (bucket - self.last_bucket)
            self.measured = 0.8 * current + 0.2 * self.measured
            self.count = 0
            self.last_bucket = bucket
        if throttled:
            base = self.measured if not self.enabled else min(self.measured, self.rate)
            self.w_max = base
            self.k = (base * (1 - 0.7) / 0.4) ** (1 / 3)
            self.last_fail = now
            new = base * 0.7
            self.enabled = True
        else:
            new = 0.4 * (now - self.last_fail - self.k) ** 3 + self.w_max
        self._refill(now)
        self.rate = max(0.5, min(new, 2 * self.measured))
        self.tokens = min(self.tokens, max(1.0, self.rate))


async def run_loop(
    url: str,
    ids: list[int],
    seconds: float,
    limiter: AdaptiveLimiter | None,
    at: Callable[[float], None] | None = None,
) -> Trace:
    """Workers polling the commands round-robin, through ``limiter`` if given."""
    trace = Trace()
    counts = [0, 0]
    order = itertools.cycle(ids)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:

        async def worker() -> None:
            while True:
                if limiter is not None:
                    await limiter.acquire()
                cid = next(order)
                try:
                    async with s.get(f"{url}/web/v1/common/command/{cid}/progress") as r:
                        await r.read()
                        throttled = r.status in (429, 503)
                except aiohttp.ClientError:
                    continue
                counts[1 if throttled else 0] += 1
                if limiter is not None:
                    limiter.on_response(throttled)

        tasks = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
        sampler = asyncio.create_task(
            sample(
                trace,
                lambda: (counts[0], counts[1]),
                lambda: limiter.rate if limiter is not None and limiter.enabled else None,
            )
        )
        await _timeline(seconds, at)
        for task in (*tasks, sampler):
            task.cancel()
        for task in (*tasks, sampler):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return trace


async def ours_until_done(url: str, ids: list[int], poll: PollPolicy) -> tuple[float, int]:
    """Seconds until every command's end was seen, and requests sent."""
    start = time.monotonic()
    async with Client(url, max_concurrency=CONCURRENCY, poll=poll, retry=RetryPolicy()) as c:
        await c.wait_all(ids, return_exceptions=True)
        return time.monotonic() - start, c.stats.requests


async def plain_until_done(url: str, ids: list[int], interval: float) -> tuple[float, int]:
    """A plain loop per command, each request retried on its own; seconds and requests."""
    start = time.monotonic()
    sent = [0]
    gate = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:

        async def one(cid: int) -> None:
            while True:
                wait = interval
                async with gate:
                    sent[0] += 1
                    try:
                        async with s.get(f"{url}/web/v1/common/command/{cid}/progress") as r:
                            body = await r.read()
                            if r.status == 200:
                                if any(m in body for m in TERMINAL):
                                    return
                            else:
                                ra = r.headers.get("Retry-After")
                                wait = float(ra) if ra else 0.05
                    except aiohttp.ClientError:
                        wait = 0.05
                await asyncio.sleep(wait)

        await asyncio.gather(*(one(c) for c in ids))
    return time.monotonic() - start, sent[0]


# -- the workloads -------------------------------------------------------------------------


SETTLE_SPAN = 2.0


def settle_time(trace: Trace, start: float, end: float, capacity: float) -> float | None:
    """Seconds after ``start`` until the request rate stays within 15 % of ``capacity``.

    The request rate (served + refused) is averaged over the ``SETTLE_SPAN``
    seconds before each sample, and must stay in the band until ``end``.
    """
    offered = [
        trace.window_rate(trace.served, i, SETTLE_SPAN)
        + trace.window_rate(trace.refused, i, SETTLE_SPAN)
        for i in range(len(trace.times))
    ]
    inside = [i for i, t in enumerate(trace.times) if start < t <= end]
    settled: float | None = None
    for i in inside:
        ok = abs(offered[i] - capacity) <= 0.15 * capacity
        if ok and settled is None:
            settled = trace.times[i] - start
        elif not ok:
            settled = None
    return settled


async def capacity_round(seconds: float) -> dict[str, Any]:
    """Workload 1: ours, the adaptive peer and a naive loop on C = 60."""
    ids = list(range(1, 201))
    out: dict[str, Any] = {}
    runners: dict[str, Callable[[str], Awaitable[Trace]]] = {
        "cmdprogress": lambda url: run_ours(url, ids, seconds),
        "botocore-style adaptive": lambda url: run_loop(url, ids, seconds, AdaptiveLimiter()),
        "naive loop": lambda url: run_loop(url, ids, seconds, None),
    }
    for name, runner in runners.items():
        with server("--capacity", str(CAPACITY)) as srv:
            trace = await runner(srv.url)
        served, refused, span = trace.between(WARMUP, seconds)
        out[name] = {
            "served_per_capacity": served / (CAPACITY * span),
            "refused_share": refused / max(1, served + refused),
            "served": served,
            "refused": refused,
            "seconds": span,
            "final_limit": trace.limit[-1],
        }
    return out


async def drop_round(seconds: float) -> dict[str, Any]:
    """Workload 2: capacity 100 -> 30 -> 100, ours and the adaptive peer."""
    ids = list(range(1, 201))
    out: dict[str, Any] = {}
    rates = (100.0, 30.0, 100.0)
    for name in ("cmdprogress", "botocore-style adaptive"):
        with server("--capacity", ",".join(str(r) for r in rates)) as srv:

            def step(_mark: float, pid: int = srv.pid) -> None:
                os.kill(pid, signal.SIGUSR1)

            if name == "cmdprogress":
                trace = await run_ours(srv.url, ids, seconds, step)
            else:
                trace = await run_loop(srv.url, ids, seconds, AdaptiveLimiter(), step)
        third = seconds / 3
        down = settle_time(trace, third, 2 * third, rates[1])
        up = settle_time(trace, 2 * third, seconds, rates[2])
        served, refused, _ = trace.between(0.5, seconds)
        out[name] = {
            "settle_down": down,
            "settle_up": up,
            "refused_share": refused / max(1, served + refused),
            "trace": attrs.asdict(trace),
        }
    return out


async def sporadic_round() -> dict[str, Any]:
    """Workload 3: 8 % random 429/503 against none, 100 commands."""
    ids = list(range(1, 101))
    poll = PollPolicy(interval=0.1, max_interval=0.5)
    common = ("--commands", "100", "--steps", "4", "--duration", "6")
    out: dict[str, Any] = {}
    for name, faults in (("no throttles", ""), ("8 % 429/503", "429:0.04,503:0.04")):
        with server(*common, "--faults", faults) as srv:
            seconds, requests = await ours_until_done(srv.url, ids, poll)
        out[name] = {"seconds": seconds, "requests": requests}
    return out


async def mixed_round() -> dict[str, Any]:
    """Workload 4: 25 % mixed faults, ours against a plain per-request retry loop."""
    ids = list(range(1, 101))
    poll = PollPolicy(interval=0.1, max_interval=0.5)
    common = ("--commands", "100", "--steps", "3", "--duration", "3", "--faults", MIXED)
    out: dict[str, Any] = {}
    with server(*common) as srv:
        seconds, requests = await ours_until_done(srv.url, ids, poll)
    out["cmdprogress"] = {"seconds": seconds, "requests": requests}
    with server(*common) as srv:
        seconds, requests = await plain_until_done(srv.url, ids, poll.interval)
    out["plain retry loop"] = {"seconds": seconds, "requests": requests}
    return out


def soak_round() -> dict[str, Any]:
    """Workload 5: the full soak with its faults and without (expiries and outage in both)."""
    path = HERE.parent / "tests" / "test_soak.py"
    spec = importlib.util.spec_from_file_location("soak_for_bench", path)
    assert spec is not None
    assert spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    out: dict[str, Any] = {}
    for name, plan in (
        ("with faults", soak.FULL_PLAN),
        ("without faults", attrs.evolve(soak.FULL_PLAN, shares=(), malformed_share=1e-9)),
    ):
        report = asyncio.run(soak.run_soak(plan))
        out[name] = {"seconds": report.seconds, "requests": report.requests}
    return out


# -- the report -------------------------------------------------------------------------


def plot(trace_ours: dict[str, Any], trace_peer: dict[str, Any], seconds: float) -> None:
    """The rate over time for the capacity-drop workload, ours above the peer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    third = seconds / 3
    for ax, (name, raw) in zip(
        axes, (("cmdprogress", trace_ours), ("botocore-style adaptive", trace_peer)), strict=True
    ):
        trace = Trace(**raw)
        n = len(trace.times)
        served = [trace.window_rate(trace.served, i) for i in range(n)]
        refused = [trace.window_rate(trace.refused, i) for i in range(n)]
        ax.plot(trace.times, served, label="served /s", color="tab:green")
        ax.plot(trace.times, refused, label="refused /s", color="tab:red")
        limits = [x if x is not None and x < 1000 else math.nan for x in trace.limit]
        ax.plot(trace.times, limits, label="client's limit /s", color="tab:blue", ls="--")
        ax.step([0, third, 2 * third, seconds], [100, 30, 100, 100], where="post",
                label="capacity", color="black", lw=0.8)  # fmt: skip
        ax.set_title(name)
        ax.set_ylabel("answers per second (1 s window)")
        ax.set_ylim(0, 220)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=90)
    plt.close(fig)


def render(raw: dict[str, Any], command: str) -> str:
    """The section's markdown."""
    cap, drop, spor, mixed = raw["capacity"], raw["drop"], raw["sporadic"], raw["mixed"]
    lines = [
        f"## {TITLE}",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC "
        "(this section only; the others are left as they are). The simulator runs in its own "
        "process with a capacity (`cmdprogress.testing.Capacity`: 429 + `Retry-After: 1` "
        f"above it); {len(cap)} rounds of each workload, every round shown (round 1, round 2, "
        "...). Served and refused are counts, the rest wall time on a shared 2-core machine.",
        "",
        "| workload | figure | reached (each round) | target | met |",
        "|---|---|---:|---:|:-:|",
    ]

    def rounds(values: list[float | None], digits: int = 3) -> str:
        return ", ".join(fmt(v, digits) for v in values)

    def shares(values: list[float]) -> str:
        return ", ".join(f"{v:.1%}" for v in values)

    def counts(values: list[int]) -> str:
        return ", ".join(str(v) for v in values)

    ours = [r["cmdprogress"] for r in cap]
    share = [r["served_per_capacity"] for r in ours]
    refused = [r["refused_share"] for r in ours]
    met = all(s >= 0.85 for s in share) and all(r <= 0.05 for r in refused)
    lines.append(
        f"| C = 60/s, 200 moving commands, after {WARMUP:.0f} s | served / C; refused share | "
        f"{rounds(share)}; {shares(refused)} | >= 0.85; <= 5 % | "
        f"{'yes' if met else '**no**'} |"
    )
    downs = [r["cmdprogress"]["settle_down"] for r in drop]
    ups = [r["cmdprogress"]["settle_up"] for r in drop]
    met = all(v is not None and v <= 5 for v in downs + ups)
    lines.append(
        f"| capacity 100 -> 30 -> 100 | settle within 15 %: down; up (s) | {rounds(downs)}; "
        f"{rounds(ups)} | <= 5 s each | {'yes' if met else '**no**'} |"
    )
    ratios = [r["8 % 429/503"]["seconds"] / r["no throttles"]["seconds"] for r in spor]
    lines.append(
        f"| 8 % random 429/503, Retry-After 1 | time vs no throttles | {rounds(ratios)}x | "
        f"<= 1.5x | {'yes' if all(x <= 1.5 for x in ratios) else '**no**'} |"
    )
    ratios = [r["cmdprogress"]["seconds"] / r["plain retry loop"]["seconds"] for r in mixed]
    lines.append(
        f"| 25 % mixed faults, 100 commands | time vs plain retry loop | {rounds(ratios)}x | "
        f"<= 1.5x | {'yes' if all(x <= 1.5 for x in ratios) else '**no**'} |"
    )
    soak = raw.get("soak")
    if soak:
        x = soak["with faults"]["seconds"] / soak["without faults"]["seconds"]
        lines.append(
            f"| the soak (2,000 commands) | wall time vs without faults | {x:.2f}x "
            f"({soak['with faults']['seconds']:.0f} s vs {soak['without faults']['seconds']:.0f} s)"
            f" | report; aim <= 2x | {'yes' if x <= 2 else '**no**'} |"
        )
    else:
        lines.append(
            "| the soak | wall time vs without faults | not run here (`--soak`) | report | - |"
        )
    lines += [
        "",
        "**C = 60/s, side by side** (steady state; served / C, refused share, each round):",
        "",
        "| client | served / C | refused | served | refused answers |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in cap[0]:
        rows = [r[name] for r in cap]
        lines.append(
            f"| {name} | {rounds([r['served_per_capacity'] for r in rows])} | "
            f"{shares([r['refused_share'] for r in rows])} | "
            f"{counts([r['served'] for r in rows])} | {counts([r['refused'] for r in rows])} |"
        )
    lines += [
        "",
        "**Capacity 100 -> 30 -> 100**, 12 s each (seconds until the request rate, averaged "
        f"over {SETTLE_SPAN:.0f} s, is and stays within 15 % of the new capacity; refused share "
        "over the run):",
        "",
        "| client | down | up | refused |",
        "|---|---:|---:|---:|",
    ]
    for name in drop[0]:
        rows = [r[name] for r in drop]
        lines.append(
            f"| {name} | {rounds([r['settle_down'] for r in rows])} | "
            f"{rounds([r['settle_up'] for r in rows])} | "
            f"{shares([r['refused_share'] for r in rows])} |"
        )
    lines += [
        "",
        f"![rate over time, capacity 100 -> 30 -> 100]({PLOT.name})",
        "",
        "**Completion times** (seconds; requests sent):",
        "",
        "| workload | variant | seconds | requests |",
        "|---|---|---:|---:|",
    ]
    for label, runs in (("8 % 429/503", spor), ("25 % mixed faults", mixed)):
        for name in runs[0]:
            rows = [r[name] for r in runs]
            lines.append(
                f"| {label} | {name} | {rounds([r['seconds'] for r in rows])} | "
                f"{counts([r['requests'] for r in rows])} |"
            )
    if soak:
        for name, row in soak.items():
            lines.append(f"| soak | {name} | {row['seconds']:.0f} | {row['requests']} |")
    lines += ["", END_MARK, ""]
    return "\n".join(lines)


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this section in ``path`` (or append it), leaving every other section alone."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    head = f"## {TITLE}"
    if head in old and END_MARK in old:
        start = old.index(head)
        end = old.index(END_MARK, start) + len(END_MARK)
        new = old[:start] + text.rstrip("\n") + old[end:]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


async def measure(rounds: int, seconds: float, drop_seconds: float) -> dict[str, Any]:
    """Every workload, ``rounds`` times, interleaved."""
    raw: dict[str, Any] = {"capacity": [], "drop": [], "sporadic": [], "mixed": []}
    for i in range(rounds):
        print(f"[pacing] round {i + 1}: capacity", file=sys.stderr, flush=True)
        raw["capacity"].append(await capacity_round(seconds))
        print(f"[pacing] round {i + 1}: drop", file=sys.stderr, flush=True)
        raw["drop"].append(await drop_round(drop_seconds))
        print(f"[pacing] round {i + 1}: sporadic", file=sys.stderr, flush=True)
        raw["sporadic"].append(await sporadic_round())
        print(f"[pacing] round {i + 1}: mixed", file=sys.stderr, flush=True)
        raw["mixed"].append(await mixed_round())
    return raw


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks pacing [--rounds N] [--quick] [--soak] [--out PATH]``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks pacing", description=__doc__)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    p.add_argument("--soak", action="store_true", help="also the full soak, twice (minutes)")
    p.add_argument(
        "--soak-only",
        action="store_true",
        help="only the soak, added to the figures of the last run (.out/pacing.json)",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    random.seed(0)
    seconds, drop_seconds = (6.0, 6.0) if args.quick else (20.0, 36.0)
    out_dir = HERE / ".out"
    out_dir.mkdir(exist_ok=True)
    if args.soak_only:
        raw = json.loads((out_dir / "pacing.json").read_text(encoding="utf-8"))
        raw["soak"] = soak_round()
    else:
        raw = asyncio.run(measure(1 if args.quick else args.rounds, seconds, drop_seconds))
        if args.soak:
            raw["soak"] = soak_round()
    (out_dir / "pacing.json").write_text(json.dumps(raw, default=str), encoding="utf-8")
    last = raw["drop"][-1]
    plot(last["cmdprogress"]["trace"], last["botocore-style adaptive"]["trace"], drop_seconds)
    command = raw.setdefault("command", "python -m benchmarks pacing " + " ".join(argv or []))
    if args.soak_only:
        command += "`, the soak row by `python -m benchmarks pacing --soak-only"
    write_section(render(raw, command.strip()), args.out)
    print(f"[pacing] wrote {args.out} and {PLOT}", file=sys.stderr)
    summary = {
        "capacity": [
            {k: round(v["served_per_capacity"], 3) for k, v in r.items()} for r in raw["capacity"]
        ],
        "refused": [
            {k: round(v["refused_share"], 3) for k, v in r.items()} for r in raw["capacity"]
        ],
        "drop": [
            {k: (v["settle_down"], v["settle_up"]) for k, v in r.items()} for r in raw["drop"]
        ],
        "sporadic": [{k: round(v["seconds"], 2) for k, v in r.items()} for r in raw["sporadic"]],
        "mixed": [{k: round(v["seconds"], 2) for k, v in r.items()} for r in raw["mixed"]],
    }
    print(json.dumps(summary, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
