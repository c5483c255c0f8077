"""Overhead against raw aiohttp: the same requests through a bare loop, get_progress, the engine.

Two workloads, each served by its own simulator process (256 commands):

- *frozen*: commands frozen mid-run; every answer is identical to the previous
  one, so the engine skips decoding (body digest) and delivers nothing;
- *moving*: every answer differs from the previous one for the same id
  (``benchmarks/_simserver.py moving``): each poll is decoded, compared and
  delivered, and the consumer drains every snapshot (issue 13).

For concurrency 16 and 64, interleaved over several rounds, each variant sends
``requests`` progress requests after a warm-up:

- ``bare``: one ``aiohttp.ClientSession``, ``concurrency`` workers doing GET,
  read, ``json.loads``: the HTTP limit of this client process;
- ``get_progress``: ``concurrency`` workers calling ``client.get_progress``;
- ``watch_many``: ``client.watch_many`` over the commands with a policy that
  polls as fast as it allows (interval 1 us, no back-off), ``max_concurrency``
  set to the concurrency, a consumer reading every snapshot; it is stopped
  after ``requests`` requests.

``python -m benchmarks overhead [--quick] [--requests N] [--rounds N]`` runs
this part alone and rewrites only its section (and target rows) of ``RESULTS.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs

from ._harness import Meter, ServerProcess
from ._results import Results, fmt, ratio
from ._sim import SimInfo, start_sim

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

PATH = "/web/v1/common/command/{}/progress"
VARIANTS = ("bare", "get_progress", "watch_many")


@attrs.frozen
class Run:
    """One measured run of one variant."""

    variant: str
    concurrency: int
    requests: int
    wall: float
    cpu: float
    server_cpu: float
    delivered: int = 0  # snapshots the consumer read during the measured part (watch_many)

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
    delivered: list[int] | None = None,
) -> int:
    """Watch ``ids`` as fast as the policy allows until ``total`` requests finished.

    The consumer reads every snapshot; ``delivered``, if given, gets how many it
    read during the measured part appended.
    """
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
        seen_before = seen
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
        if delivered is not None:
            delivered.append(seen - seen_before)
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
    n_delivered = 0
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
    else:  # "watch_many" (called "engine" before)
        seen: list[int] = []
        async with _make_client(sim.url, concurrency) as client:
            done = await engine_run(client, ids, total, meter, profile, seen)
        n_delivered = seen[0]
    if not server.alive():
        raise RuntimeError(f"the simulator died during {variant}: {server.stderr_tail()}")
    return Run(variant, concurrency, done, meter.wall, meter.cpu, meter.server_cpu, n_delivered)


def _median_run(runs: list[Run]) -> Run:
    """A run made of the medians over the rounds: requests/s and CPU per request apart."""
    rps = statistics.median(r.rps for r in runs)
    cpu_us = statistics.median(r.cpu_us for r in runs)
    srv = statistics.median(r.server_cpu / r.requests for r in runs)
    n = runs[0].requests
    wall = n / rps
    return Run(runs[0].variant, runs[0].concurrency, n, wall, cpu_us * n / 1e6, srv * n)


def _has_orjson() -> bool:
    from cmdprogress import _convert

    return _convert._orjson is not None


def paired(
    runs: dict[tuple[str, str, int], list[Run]], workload: str, variant: str, conc: int
) -> tuple[float, float]:
    """Median over the rounds of (requests/s, CPU per request) x the same round's bare run."""
    mine, base = runs[(workload, variant, conc)], runs[(workload, "bare", conc)]
    return (
        statistics.median(r.rps / b.rps for r, b in zip(mine, base, strict=True)),
        statistics.median(r.cpu_us / b.cpu_us for r, b in zip(mine, base, strict=True)),
    )


def merge_into(text: str, results: Results) -> str:
    """``text`` (a ``RESULTS.md``) with this part's section and target rows from ``results``.

    The section titled :data:`TITLE` is replaced in place (or appended); the
    targets table's rows of this part (labels starting with ``watch_many``,
    ``get_progress`` or ``engine``) are replaced where the first of them stood.
    Every other section and row is left as it was.
    """
    rendered = results.render().splitlines()
    lines = text.splitlines()

    def block(src: list[str], head: str) -> tuple[int, int] | None:
        if head not in src:
            return None
        start = src.index(head)
        end = next((i for i in range(start + 1, len(src)) if src[i].startswith("## ")), len(src))
        return start, end

    head = f"## {TITLE}"
    new = block(rendered, head)
    assert new is not None
    mine = rendered[new[0] : new[1]]
    while mine and not mine[-1].strip():
        mine.pop()
    mine.append("")
    old = block(lines, head)
    if old is None:
        lines += ["", *mine]
    else:
        lines[old[0] : old[1]] = mine

    def ours(row: str) -> bool:
        label = row.strip().strip("|").split("|", 1)[0].strip()
        return label.startswith(("watch_many ", "get_progress ", "engine "))

    targets = block(rendered, "## Targets")
    new_rows = (
        [r for r in rendered[targets[0] : targets[1]] if r.startswith("|")][2:] if targets else []
    )
    where = block(lines, "## Targets")
    if where is not None and new_rows:
        table = [i for i in range(where[0], where[1]) if lines[i].startswith("|")][2:]
        owned = [i for i in table if ours(lines[i])]
        at = owned[0] if owned else (table[-1] + 1 if table else where[1])
        for i in reversed(owned):
            del lines[i]
        lines[at:at] = new_rows
    return "\n".join(lines).rstrip() + "\n"


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


_MODULES = (
    "_http",
    "_exchange",
    "_redirects",
    "_client",
    "_convert",
    "_scheduler",
    "_watcher",
    "_mailbox",
    "_cadence",
    "_pacing",
    "_models",
)


def by_module(profile: cProfile.Profile, requests: int) -> dict[str, float]:
    """cmdprogress's own time per request, in microseconds, per module (largest first)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    entries = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for (filename, _, func), (_, _, tottime, _, _) in entries.items():
        if "cattrs generated" in filename or func.startswith("structure_"):
            name = "_convert"
        elif "cmdprogress/" in filename:
            name = filename.rsplit("/", 1)[-1].removesuffix(".py")
        else:
            continue
        if name not in _MODULES:
            name = "other"
        out[name] = out.get(name, 0.0) + 1e6 * tottime / requests
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


@contextlib.contextmanager
def count_wakes() -> Iterator[list[int]]:
    """Count the times a watcher's consumer, waiting, is woken by a new item."""
    from cmdprogress._mailbox import _Inbox

    counter = [0]
    original = _Inbox._wake

    def wake(inbox: _Inbox) -> None:
        waiter = inbox.waiter
        if waiter is not None and not waiter.done():
            counter[0] += 1
        original(inbox)

    _Inbox._wake = wake  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        _Inbox._wake = original  # type: ignore[method-assign]


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


def component_costs(n: int = 20_000) -> dict[str, float]:
    """CPU microseconds per call of each step a moving poll adds, timed in this process.

    The same answer bodies the moving simulator sends (200 successive ones of a
    command), each step alone in a loop, best of 5: what the bare loop pays
    (``json.loads``) next to what ``get_progress`` and ``watch_many`` pay on top.
    """
    import hashlib
    import random
    import time

    from cmdprogress import PollPolicy
    from cmdprogress._cadence import Cadence
    from cmdprogress._convert import _loads, decode_progress
    from cmdprogress._mailbox import _Inbox
    from cmdprogress.testing._timeline import encode_snapshot

    from ._simserver import moving_timeline

    snaps = moving_timeline().snapshots[1:201]
    bodies = [encode_snapshot(s, style="snake", wire_id=7) for s in snaps]
    decoded = [decode_progress(7, b) for b in bodies]
    policy = PollPolicy(interval=1e-6, max_interval=1e-6, backoff=1.0, jitter=0.0)

    def loads_stdlib(k: int) -> None:
        for i in range(k):
            json.loads(bodies[i % 200])

    def loads_fast(k: int) -> None:
        for i in range(k):
            _loads(bodies[i % 200])

    def decode(k: int) -> None:
        for i in range(k):
            decode_progress(7, bodies[i % 200])

    def digest(k: int) -> None:
        for i in range(k):
            hashlib.blake2b(bodies[i % 200], digest_size=16).digest()

    def compare(k: int) -> None:
        for i in range(k):
            _ = decoded[i % 200] != decoded[(i + 1) % 200]

    def cadence(k: int) -> None:
        c, rng, jitter = Cadence(), random.Random(1), random.Random(2)
        now, old = 0.0, None
        for i in range(k):
            sent, now = now, now + jitter.uniform(0.002, 0.02)  # answers 2-20 ms apart
            new = decoded[i % 200]
            c.next_delay(policy, sent, now, old, new, rng)
            old = new

    def mailbox(k: int) -> None:
        inbox = _Inbox()
        inbox.active.add(7)
        inbox.last[7] = None
        for i in range(k):
            inbox.deliver(7, decoded[i % 200])
            inbox.pop()

    steps = {
        "json.loads (bare)": loads_stdlib,
        "the client's JSON parser": loads_fast,
        "decode_progress (parse + structure + snapshot)": decode,
        "body digest (blake2b)": digest,
        "change detection (snapshot !=)": compare,
        "Cadence.next_delay (a change)": cadence,
        "mailbox deliver + pop": mailbox,
    }
    out = {}
    for name, fn in steps.items():
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            fn(n)
            best = min(best, time.process_time() - t0)
        out[name] = 1e6 * best / n
    return out


TITLE = "1. Overhead against raw aiohttp"
WORKLOADS = ("frozen", "moving")
_TARGETS = {
    # (variant, workload): (requests/s at least, CPU per request at most), x bare
    ("watch_many", "frozen"): (0.9, 1.2),
    ("watch_many", "moving"): (0.9, 1.15),
    ("get_progress", "moving"): (0.95, 1.1),
}


async def run(
    results: Results,
    *,
    quick: bool = False,
    out_dir: Path | None = None,
    requests: int | None = None,
    rounds: int | None = None,
) -> None:
    """Measure both workloads, then write the overhead section of ``results``."""
    total = requests or (300 if quick else 20_000)
    rounds = rounds or (1 if quick else 7)
    prof_n = min(total, 5000)
    concurrencies = (16, 64)
    section = results.section(
        "overhead",
        TITLE,
        f"{total:,} progress requests per run against one simulator process (256 ids), after "
        f"a warm-up; {rounds} rounds, variants interleaved (bare, get_progress, watch_many, for "
        "each concurrency in turn); each figure is the median over the rounds (requests/s and "
        "CPU per request apart). Two workloads, each against its own simulator process: "
        "*frozen*, commands frozen mid-run (every answer identical to the previous one for the "
        "same id: the engine skips decoding the repeated body and delivers nothing); "
        "*moving*, every answer differs from the previous one for the same id (the simulator "
        "moves the command's progress on by 0.01 % per request, `benchmarks/_simserver.py "
        "moving`), so every poll is decoded, compared and delivered, and the consumer drains "
        "every snapshot. *bare*: one aiohttp session, GET, read, `json.loads`. *get_progress*: "
        "the client's one-shot call. *watch_many*: `watch_many` over the 256 commands with "
        "`PollPolicy(interval=1e-6, max_interval=1e-6, backoff=1, jitter=0)`, `max_concurrency` "
        "= the concurrency, a consumer reading every snapshot. The client parses JSON with "
        + ("orjson (installed)" if _has_orjson() else "the standard library (no orjson)")
        + ".",
    )
    runs: dict[tuple[str, str, int], list[Run]] = {}
    profiles: dict[tuple[str, str, int], cProfile.Profile] = {}
    delivered: dict[tuple[str, int], list[float]] = {}
    wakes: dict[tuple[str, int], float] = {}
    for workload in WORKLOADS:
        with start_sim(workload, "--commands", "256") as (server, sim):
            for _ in range(rounds):
                for conc in concurrencies:
                    for variant in VARIANTS:
                        r = await measure(variant, sim, server, conc, total)
                        runs.setdefault((workload, variant, conc), []).append(r)
                        if variant == "watch_many":
                            delivered.setdefault((workload, conc), []).append(
                                r.delivered / r.requests
                            )
            # Profiled runs (not among the figures): where the CPU goes.
            for variant in VARIANTS:
                prof = cProfile.Profile()
                await measure(variant, sim, server, 64, prof_n, prof)
                profiles[(workload, variant, 64)] = prof
            # How often the consumer is woken per snapshot (outside the figures too).
            for conc in concurrencies:
                with count_wakes() as woken:
                    r = await measure("watch_many", sim, server, conc, prof_n)
                wakes[(workload, conc)] = woken[0] / max(1, r.delivered)
            if workload == "frozen":
                prof = cProfile.Profile()
                await measure("watch_many", sim, server, 16, prof_n, prof)
                profiles[(workload, "watch_many", 16)] = prof

    rows = []
    raw: dict[str, Any] = {}
    for workload in WORKLOADS:
        for conc in concurrencies:
            base = _median_run(runs[(workload, "bare", conc)])
            for variant in VARIANTS:
                r = _median_run(runs[(workload, variant, conc)])
                rps_pair, cpu_pair = paired(runs, workload, variant, conc)
                rows.append(
                    [
                        f"{workload}: {variant} @ {conc}",
                        fmt(r.rps),
                        fmt(ratio(r.rps, base.rps), 3),
                        fmt(rps_pair, 3),
                        fmt(r.cpu_us),
                        fmt(ratio(r.cpu_us, base.cpu_us), 3),
                        fmt(cpu_pair, 3),
                        fmt(1e6 * r.server_cpu / r.requests),
                        ", ".join(fmt(x.rps) for x in runs[(workload, variant, conc)]),
                    ]
                )
                raw[f"{workload}:{variant}@{conc}"] = [
                    attrs.asdict(x) for x in runs[(workload, variant, conc)]
                ]
    section.table(
        [
            "workload: variant @ concurrency",
            "requests/s",
            "x bare",
            "x bare, paired",
            "client CPU us/request",
            "x bare",
            "x bare, paired",
            "server CPU us/request",
            "requests/s per round",
        ],
        rows,
    )
    section.text(
        "*x bare, paired*: the median over the rounds of each round's ratio to the bare run "
        "of the same round (run just before it): on a loaded machine the robust figure, "
        "since the load moves both runs of a round alike. The targets use it."
    )
    section.raw.update(raw)

    for (variant, workload), (min_rps, max_cpu) in _TARGETS.items():
        for conc in concurrencies:
            thr, cpu = paired(runs, workload, variant, conc)
            results.headline(
                f"{variant} throughput vs bare aiohttp, {workload} @ {conc}",
                f"{thr:.2f}x",
                f">= {min_rps}x",
                thr >= min_rps,
            )
            results.headline(
                f"{variant} CPU per request vs bare aiohttp, {workload} @ {conc}",
                f"{cpu:.2f}x",
                f"<= {max_cpu}x",
                cpu <= max_cpu,
            )
    # Every poll of the moving workload is news: the consumer got one snapshot per request.
    for (workload, conc), shares in delivered.items():
        section.findings.append(
            f"{workload} @ {conc}: watch_many handed its consumer "
            f"{statistics.median(shares):.2f} snapshots per request (median over the rounds)."
        )
    for (workload, conc), per in wakes.items():
        if workload == "moving":
            section.findings.append(
                f"moving @ {conc}: the consumer was woken {per:.2f} times per snapshot (one "
                "wake-up takes every snapshot queued by then); no listener was registered, so "
                "the engine emitted no WatchEvent."
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
    for workload in WORKLOADS:
        for conc in concurrencies:
            eng = runs[(workload, "watch_many", conc)]
            client_busy = statistics.median(100 * r.cpu / r.wall for r in eng)
            server_busy = statistics.median(100 * r.server_cpu / r.wall for r in eng)
            limit = (
                "the client: the throughput ratio is about the inverse of the CPU ratio"
                if client_busy >= 90
                else "the server"
                if server_busy >= 85
                else "neither process (latency, or other load on the machine)"
            )
            section.findings.append(
                f"{workload}: watch_many @ {conc}: client process {client_busy:.0f} % busy, "
                f"simulator {server_busy:.0f} % busy (medians over the rounds); the limit is "
                f"{limit}."
            )
    for (workload, variant, conc), prof in profiles.items():
        if variant == "bare":
            continue
        bare_layers = by_layer(profiles[(workload, "bare", 64)])
        bare_total = sum(bare_layers.values()) or 1.0
        layers = by_layer(prof)
        total_t = sum(layers.values()) or 1.0
        parts = [
            f"{name} {1e6 * layers.get(name, 0.0) / prof_n:.0f} us"
            f" (bare {1e6 * bare_layers.get(name, 0.0) / prof_n:.0f})"
            for name, _ in (*_LAYERS, ("other", ()))
            if layers.get(name, 0.0) / total_t >= 0.01
            or bare_layers.get(name, 0.0) / bare_total >= 0.01
        ]
        section.findings.append(
            f"Where the CPU goes, {workload}: {variant} @ {conc} (cProfile own time per "
            "request, by layer; the bare loop @ 64 in brackets; cProfile inflates Python "
            "code): " + "; ".join(parts)
        )
        section.findings.append(
            f"cmdprogress's own time per request by module, {workload}: {variant} @ {conc} "
            "(cProfile, generated cattrs functions under _convert): "
            + "; ".join(f"{name} {us:.1f} us" for name, us in by_module(prof, prof_n).items())
        )
        section.findings.append(
            f"Hot spots in cmdprogress and anyio, {workload}: {variant} @ {conc} (own time "
            "share): " + "; ".join(hot_in(prof, ("cmdprogress/", "anyio/")))
        )
    costs = component_costs(5_000 if quick else 20_000)
    section.text(
        "CPU per call of the steps a moving poll adds, each timed alone in the benchmark "
        "process on the moving simulator's bodies (best of 5):"
    )
    section.table(["step", "CPU us per call"], [[k, fmt(v)] for k, v in costs.items()])
    section.raw["component_us"] = costs
    for conc in concurrencies:
        base = _median_run(runs[("moving", "bare", conc)])
        gp = _median_run(runs[("moving", "get_progress", conc)])
        wm = _median_run(runs[("moving", "watch_many", conc)])
        extra = costs["decode_progress (parse + structure + snapshot)"]
        extra -= costs["json.loads (bare)"]
        section.findings.append(
            f"moving @ {conc}: over bare, get_progress adds {gp.cpu_us - base.cpu_us:+.0f} us "
            f"per request and watch_many {wm.cpu_us - base.cpu_us:+.0f} us. Decoding accounts "
            f"for {extra:+.1f} us "
            "of it (decode_progress less the bare loop's json.loads); watch_many adds the "
            f"digest ({costs['body digest (blake2b)']:.1f} us), change detection "
            f"({costs['change detection (snapshot !=)']:.1f} us), the cadence "
            f"({costs['Cadence.next_delay (a change)']:.1f} us) and the mailbox "
            f"({costs['mailbox deliver + pop']:.1f} us) per snapshot; the rest is the "
            "transport's request path and the engine's worker and the consumer's wake-up "
            "(asyncio), see the layers above."
        )
    if out_dir is not None:
        _dump_profiles(out_dir, profiles)


def _dump_profiles(out_dir: Path, profiles: dict[tuple[str, str, int], cProfile.Profile]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for (workload, variant, conc), prof in profiles.items():
        prof.dump_stats(str(out_dir / f"overhead-{workload}-{variant}-{conc}.prof"))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks overhead``: run this part alone, rewrite only its section.

    Options: ``--quick`` (a short run: 2,000 requests, 2 rounds), ``--requests N``,
    ``--rounds N``, ``--out PATH`` (default ``benchmarks/RESULTS.md``).
    """
    import argparse
    import sys
    import time
    from pathlib import Path

    from ._harness import machine_info

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="python -m benchmarks overhead", description=main.__doc__)
    p.add_argument("--quick", action="store_true", help="a short run (2,000 requests, 2 rounds)")
    p.add_argument("--requests", type=int, default=None, help="requests per run (20,000)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (7)")
    p.add_argument("--out", type=Path, default=here / "RESULTS.md")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    command = "python -m benchmarks overhead " + " ".join(sys.argv[1:] if argv is None else argv)
    results = Results(machine_info(), command.strip())
    started = time.perf_counter()
    requests = args.requests or (2000 if args.quick else None)
    rounds = args.rounds or (2 if args.quick else None)
    asyncio.run(run(results, out_dir=here / ".out", requests=requests, rounds=rounds))
    minutes = (time.perf_counter() - started) / 60
    load = os.getloadavg()
    results.sections[0].intro += (
        f" Measured by `{results.command}` on {results.started:%Y-%m-%d %H:%M} UTC "
        f"({minutes:.0f} min, load average {load[0]:.1f} / {load[1]:.1f} at the end), apart "
        "from the other sections."
    )
    old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    if not old:
        results.duration = minutes * 60
        old = results.render()
    args.out.write_text(merge_into(old, results), encoding="utf-8")
    print(f"[overhead] wrote the section {TITLE!r} of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
