"""Overhead against raw aiohttp: the same requests through a bare loop, get_progress, the engine.

One simulator process serves commands frozen mid-run (nothing ever changes,
so every variant sends exactly the requests asked for). For concurrency 16 and
64, interleaved over several rounds, each variant sends ``requests`` progress
requests after a warm-up:

- ``bare``: one ``aiohttp.ClientSession``, ``concurrency`` workers doing GET,
  read, ``json.loads``: the HTTP limit of this client process;
- ``get_progress``: ``concurrency`` workers calling ``client.get_progress``;
- ``engine``: ``client.watch_many`` over the commands with a policy that
  polls as fast as it allows (interval 1 us, no back-off), ``max_concurrency``
  set to the concurrency; it is stopped after ``requests`` requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import statistics
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs

from ._harness import Meter, ServerProcess
from ._results import Results, fmt, ratio
from ._sim import SimInfo, start_sim

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

PATH = "/web/v1/common/command/{}/progress"
VARIANTS = ("bare", "get_progress", "engine")


@attrs.frozen
class Run:
    """One measured run of one variant."""

    variant: str
    concurrency: int
    requests: int
    wall: float
    cpu: float
    server_cpu: float

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.wall

    @property
    def cpu_us(self) -> float:
        """Client CPU microseconds per request."""
        return 1e6 * self.cpu / self.requests


async def bare_loop(
    url: str, ids: Sequence[int], total: int, concurrency: int, session: aiohttp.ClientSession
) -> int:
    """``total`` GET + read + json.loads over ``ids`` with ``concurrency`` workers."""
    remaining = total
    urls = [url + PATH.format(cid) for cid in ids]
    n = len(urls)

    async def worker(k: int) -> None:
        nonlocal remaining
        i = k
        while remaining > 0:
            remaining -= 1
            async with session.get(urls[i % n]) as resp:
                body = await resp.read()
            json.loads(body)
            i += concurrency

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return total


async def client_loop(client: Any, ids: Sequence[int], total: int, concurrency: int) -> int:
    """``total`` ``get_progress`` calls over ``ids`` with ``concurrency`` workers."""
    remaining = total
    n = len(ids)

    async def worker(k: int) -> None:
        nonlocal remaining
        i = k
        while remaining > 0:
            remaining -= 1
            await client.get_progress(ids[i % n])
            i += concurrency

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return total


class RequestCounter:
    """Counts the client's progress requests by sampling ``client.stats``.

    Sampling every few milliseconds from a side task adds nothing to the
    request path (an aiohttp trace, used at first, cost the engine ~10-15 us
    per request that the bare loop did not pay). The count itself is exact;
    only the instant the goal is noticed is up to one sample late, for every
    variant alike.
    """

    def __init__(self, client: Any, period: float = 0.002) -> None:
        self._client = client
        self._period = period

    @property
    def count(self) -> int:
        """HTTP requests sent so far (no login here: all progress requests)."""
        return int(self._client.stats.requests)

    async def wait_for(self, goal: int) -> None:
        """Return once ``goal`` requests have been counted."""
        while self.count < goal:  # noqa: ASYNC110 - sampling keeps the request path untouched
            await asyncio.sleep(self._period)


async def engine_run(
    client: Any,
    ids: Sequence[int],
    total: int,
    meter: Meter | None,
    profile: cProfile.Profile | None = None,
) -> int:
    """Watch ``ids`` as fast as the policy allows until ``total`` requests finished."""
    first = asyncio.Event()
    seen = 0

    async def consume() -> None:
        nonlocal seen
        async for _ in client.watch_many(ids):
            seen += 1
            if seen >= len(ids):
                first.set()

    task = asyncio.create_task(consume())
    try:
        # Warm-up: every command polled once (its first snapshot delivered).
        await first.wait()
        counter = RequestCounter(client)
        before = counter.count
        if meter is not None:
            meter.__enter__()
        if profile is not None:
            profile.enable()
        await counter.wait_for(before + total)
        if profile is not None:
            profile.disable()
        if meter is not None:
            meter.__exit__(None, None, None)
        done = counter.count - before
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return done


def _make_client(url: str, concurrency: int) -> Any:
    from cmdprogress import Client, PollPolicy

    poll = PollPolicy(interval=1e-6, max_interval=1e-6, backoff=1.0, jitter=0.0)
    return Client(url, max_concurrency=concurrency, poll=poll)


async def measure(
    variant: str,
    sim: SimInfo,
    server: ServerProcess,
    concurrency: int,
    total: int,
    profile: cProfile.Profile | None = None,
) -> Run:
    """One warmed-up, measured run of ``variant``."""
    ids = sim.ids
    warm = max(4 * concurrency, min(2000, total // 10))
    meter = Meter(server_pid=server.pid)
    if variant == "bare":
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await bare_loop(sim.url, ids, warm, concurrency, session)
            with meter:
                if profile is not None:
                    profile.enable()
                done = await bare_loop(sim.url, ids, total, concurrency, session)
                if profile is not None:
                    profile.disable()
    elif variant == "get_progress":
        async with _make_client(sim.url, concurrency) as client:
            await client_loop(client, ids, warm, concurrency)
            with meter:
                if profile is not None:
                    profile.enable()
                done = await client_loop(client, ids, total, concurrency)
                if profile is not None:
                    profile.disable()
    else:
        async with _make_client(sim.url, concurrency) as client:
            done = await engine_run(client, ids, total, meter, profile)
    if not server.alive():
        raise RuntimeError(f"the simulator died during {variant}: {server.stderr_tail()}")
    return Run(variant, concurrency, done, meter.wall, meter.cpu, meter.server_cpu)


def _median_run(runs: list[Run]) -> Run:
    """A run made of the medians over the rounds: requests/s and CPU per request apart."""
    rps = statistics.median(r.rps for r in runs)
    cpu_us = statistics.median(r.cpu_us for r in runs)
    srv = statistics.median(r.server_cpu / r.requests for r in runs)
    n = runs[0].requests
    wall = n / rps
    return Run(runs[0].variant, runs[0].concurrency, n, wall, cpu_us * n / 1e6, srv * n)


_LAYERS = (
    ("cmdprogress", ("cmdprogress/",)),
    ("anyio", ("anyio/",)),
    ("attrs/cattrs", ("attr/", "attrs/", "cattrs/", "cattr/")),
    ("aiohttp/yarl/multidict", ("aiohttp/", "yarl/", "multidict/")),
    ("asyncio", ("asyncio/",)),
    ("builtins (C)", ("builtins",)),
)


def by_layer(profile: cProfile.Profile) -> dict[str, float]:
    """Own time per library layer, in seconds."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    entries = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in entries.items():
        short = _short(filename)
        layer = next((name for name, keys in _LAYERS if any(k in short for k in keys)), "other")
        out[layer] = out.get(layer, 0.0) + tottime
    return out


def hot_in(profile: cProfile.Profile, prefixes: tuple[str, ...], limit: int = 8) -> list[str]:
    """The functions of ``prefixes`` modules with the most cumulative time per call site."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values()) or 1.0
    rows = [
        (_short(f), line, func, tottime)
        for (f, line, func), (_, _, tottime, _, _) in entries.items()
        if any(p in _short(f) for p in prefixes)
    ]
    rows.sort(key=lambda r: r[3], reverse=True)
    return [f"`{f}:{line}({func})` {100 * t / total:.1f} %" for f, line, func, t in rows[:limit]]


def _short(filename: str) -> str:
    if filename == "~":
        return "builtins (C code: sockets, select, json, ...)"
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def hot_spots(profile: cProfile.Profile, limit: int = 12) -> list[str]:
    """The functions with the most own time in a profile, as ``file:line(func) share``."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values()) or 1.0
    rows = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:limit]
    out = []
    for (filename, line, func), (_, ncalls, tottime, _cum, _) in rows:
        out.append(
            f"`{_short(filename)}:{line}({func})` {100 * tottime / total:.1f} % own time, "
            f"{ncalls} calls"
        )
    return out


def cumulative_by_module(profile: cProfile.Profile, limit: int = 8) -> list[str]:
    """Own time summed per file, largest first (which module costs the CPU)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    entries = stats.stats  # type: ignore[attr-defined]
    per_file: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in entries.items():
        key = _short(filename)
        per_file[key] = per_file.get(key, 0.0) + tottime
    total = sum(per_file.values()) or 1.0
    rows = sorted(per_file.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [f"`{name}` {100 * t / total:.0f} %" for name, t in rows]


async def run(results: Results, *, quick: bool = False, out_dir: Path | None = None) -> None:
    """Measure, then write the overhead section of ``results``."""
    total = 300 if quick else 20_000
    rounds = 1 if quick else 7
    concurrencies = (16, 64)
    section = results.section(
        "overhead",
        "1. Overhead against raw aiohttp",
        f"{total:,} progress requests per run against one simulator process (commands frozen "
        f"mid-run, 256 ids), after a warm-up; {rounds} rounds, variants interleaved "
        "(bare, get_progress, engine, for each concurrency in turn); each figure is the "
        "median over the rounds (requests/s and CPU per request apart). "
        "*bare*: one aiohttp session, GET, read, `json.loads`. "
        "*engine*: `watch_many` over the 256 commands with `PollPolicy(interval=1e-6, "
        "max_interval=1e-6, backoff=1, jitter=0)`, `max_concurrency` = the concurrency.",
    )
    runs: dict[tuple[str, int], list[Run]] = {}
    profiles: dict[int, cProfile.Profile] = {}
    with start_sim("frozen", "--commands", "256") as (server, sim):
        for _ in range(rounds):
            for conc in concurrencies:
                for variant in VARIANTS:
                    r = await measure(variant, sim, server, conc, total)
                    runs.setdefault((variant, conc), []).append(r)
        # One profiled engine run per concurrency (not among the figures).
        for conc in concurrencies:
            prof = cProfile.Profile()
            await measure("engine", sim, server, conc, min(total, 5000), prof)
            profiles[conc] = prof
        bare_prof = cProfile.Profile()
        await measure("bare", sim, server, 64, min(total, 5000), bare_prof)

    rows = []
    raw: dict[str, Any] = {}
    for conc in concurrencies:
        base = _median_run(runs[("bare", conc)])
        for variant in VARIANTS:
            r = _median_run(runs[(variant, conc)])
            rows.append(
                [
                    f"{variant} @ {conc}",
                    fmt(r.rps),
                    fmt(ratio(r.rps, base.rps), 3),
                    fmt(r.cpu_us),
                    fmt(ratio(r.cpu_us, base.cpu_us), 3),
                    fmt(1e6 * r.server_cpu / r.requests),
                    fmt(100 * r.server_cpu / r.wall, 2) + " %",
                    ", ".join(fmt(x.rps) for x in runs[(variant, conc)]),
                ]
            )
            raw[f"{variant}@{conc}"] = [attrs.asdict(x) for x in runs[(variant, conc)]]
    section.table(
        [
            "variant @ concurrency",
            "requests/s",
            "x bare",
            "client CPU us/request",
            "x bare",
            "server CPU us/request",
            "server busy",
            "requests/s per round",
        ],
        rows,
    )
    section.raw.update(raw)

    for conc in concurrencies:
        base = _median_run(runs[("bare", conc)])
        eng = _median_run(runs[("engine", conc)])
        thr = ratio(eng.rps, base.rps) or 0.0
        cpu = ratio(eng.cpu_us, base.cpu_us) or 0.0
        results.headline(
            f"engine throughput vs bare aiohttp @ {conc}", f"{thr:.2f}x", ">= 0.9x", thr >= 0.9
        )
        results.headline(
            f"engine CPU per request vs bare aiohttp @ {conc}", f"{cpu:.2f}x", "<= 1.2x", cpu <= 1.2
        )
        gp = _median_run(runs[("get_progress", conc)])
        results.headline(
            f"get_progress CPU per request vs bare @ {conc}",
            f"{ratio(gp.cpu_us, base.cpu_us) or 0:.2f}x",
            "-",
            None,
        )
    # What limits the figures: where the engine's CPU goes, and whether the server is saturated.
    busy = max(100 * r.server_cpu / r.wall for rs in runs.values() for r in rs)
    section.findings.append(
        f"The simulator process was at most {busy:.0f} % busy on its core: "
        + (
            "it is the throughput limit, so the throughput ratios mostly say that the client "
            "keeps up; client CPU per request is the figure that shows the overhead."
            if busy >= 85
            else "it was not saturated; the client is the throughput limit."
        )
    )
    # Per variant: was the client process itself saturated? Then throughput is
    # the inverse of CPU per request, and only cheaper requests raise it.
    for conc in sorted({c for _, c in runs}):
        eng = runs[("engine", conc)]
        client_busy = statistics.median(100 * r.cpu / r.wall for r in eng)
        server_busy = statistics.median(100 * r.server_cpu / r.wall for r in eng)
        limit = (
            "the client: the throughput ratio is about the inverse of the CPU ratio"
            if client_busy >= 90
            else "the server"
            if server_busy >= 85
            else "neither process (latency)"
        )
        section.findings.append(
            f"engine @ {conc}: client process {client_busy:.0f} % busy, simulator "
            f"{server_busy:.0f} % busy (medians over the rounds); the limit is {limit}."
        )
    bare_layers = by_layer(bare_prof)
    bare_total = sum(bare_layers.values()) or 1.0
    for conc, prof in profiles.items():
        layers = by_layer(prof)
        total_t = sum(layers.values()) or 1.0
        n = min(total, 5000)
        parts = [
            f"{name} {1e6 * layers.get(name, 0.0) / n:.0f} us"
            f" (bare {1e6 * bare_layers.get(name, 0.0) / n:.0f})"
            for name, _ in (*_LAYERS, ("other", ()))
            if layers.get(name, 0.0) / total_t >= 0.01
            or bare_layers.get(name, 0.0) / bare_total >= 0.01
        ]
        section.findings.append(
            f"Where the engine's CPU goes @ {conc} (cProfile own time per request, by layer; "
            "the bare loop @ 64 in brackets; cProfile inflates Python code): " + "; ".join(parts)
        )
        section.findings.append(
            f"Hot spots in cmdprogress and anyio @ {conc} (own time share): "
            + "; ".join(hot_in(prof, ("cmdprogress/", "anyio/")))
        )
    if out_dir is not None:
        _dump_profiles(out_dir, profiles, bare_prof)


def _dump_profiles(
    out_dir: Path, profiles: dict[int, cProfile.Profile], bare: cProfile.Profile
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for conc, prof in profiles.items():
        prof.dump_stats(str(out_dir / f"overhead-engine-{conc}.prof"))
    bare.dump_stats(str(out_dir / "overhead-bare-64.prof"))


async def _main_async(quick: bool) -> None:  # pragma: no cover - manual use
    from ._harness import machine_info

    results = Results(machine_info(), "python -m benchmarks.overhead")
    await run(results, quick=quick)
    print(results.render())


def main(argv: Sequence[str] | None = None) -> None:
    """Run this benchmark alone and print its section."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    asyncio.run(_main_async("--quick" in args))


if __name__ == "__main__":
    main()
