"""Politeness and freshness, and the peers: requests per command and lag, per strategy.

A realistic workload (the simulator's seeded ``Workload``: long-tailed
durations, steps appearing along the way, some failures and ``WAITING``
states) runs on the simulator's real clock, sped up ``speed`` times. Command
``k`` starts at a seeded instant within the first ``spread`` simulated seconds;
each strategy starts watching it at that instant, so at any time a few dozen
commands run, as under an orchestrator. Every strategy gets a fresh
simulator process with the same seed, one after the other.

Lag: the simulator's timeline says when each snapshot became current (on the
shared monotonic clock, see ``benchmarks._simserver``); the consumer notes
when it received it. A change the strategy never saw on its own (it polled
past it) counts as arriving with the first later snapshot it did receive.
Lags are given in simulated seconds (the Manager's time), so the intervals
read as they would in production: every interval below is divided by
``speed`` for the run.

Strategies:

- ``cmdprogress``: one ``Client`` per run, with the default ``PollPolicy`` and
  with a few other settings (:data:`SETTINGS`; their intervals divided by
  ``speed``), one ``watcher`` to which each command is added when it starts;
- ``fixed N s`` for every N of :data:`FIXED`: one asyncio task per command,
  GET, ``json.loads``, ``asyncio.sleep(interval)``, until terminal; one
  aiohttp session (pool of 32, the client's default concurrency);
- ``azure-core``: ``AsyncLROPoller`` with a custom ``AsyncPollingMethod`` for
  this endpoint (fixed 1 s interval, ``Retry-After`` honoured), one poller per
  command, sent through azure-core's standard ``AsyncPipelineClient`` on its
  ``AioHttpTransport`` (sharing a 32-connection aiohttp session);
- ``tenacity``: ``AsyncRetrying(retry=retry_if_result(not terminal),
  wait=wait_exponential(1 s .. 15 s))`` around one poll, per command.

The frontier: a user's real alternative to cmdprogress is any fixed interval,
so each cmdprogress point is compared with the fixed-interval curve at the
same requests per command (interpolated linearly in the interval, i.e. in
``1 / requests``, between the two nearest fixed intervals), and with the
oracle floor (:func:`perfect_floor`): the requests of a poller that knows
every change instant, at lag 0. The plots (requests per command against lag
p50 and p95, and terminal lag p50 and p95) are written beside ``RESULTS.md``.
The same frontier replayed offline on a virtual clock
(:mod:`benchmarks.replay`: no noise, seconds) is printed under it.

``python -m benchmarks freshness [--quick] [--speed S] [--no-peers] [--out PATH]``
runs this part alone and rewrites only its sections of ``RESULTS.md`` (and its
rows of the targets table), leaving every other section alone.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import itertools
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs

from ._harness import Meter, ServerProcess
from ._results import Results, fmt, ratio
from ._sim import SimInfo, start_sim

if TYPE_CHECKING:
    from pathlib import Path

PATH = "/web/v1/common/command/{}/progress"
TERMINAL = frozenset({"COMPLETE", "FAILED"})
Key = tuple[str, float, int]


@attrs.frozen
class Scenario:
    """The workload and clock of one freshness run."""

    count: int = 500
    seed: int = 1
    speed: float = 30.0
    spread: float = 900.0
    max_duration: float = 900.0

    def args(self) -> list[str]:
        """Arguments of ``benchmarks._simserver``."""
        return [
            "workload",
            "--count",
            str(self.count),
            "--seed",
            str(self.seed),
            "--speed",
            str(self.speed),
            "--spread",
            str(self.spread),
            "--max-duration",
            str(self.max_duration),
        ]


def key_of_json(d: Any) -> Key:
    """The identity of a snapshot as the wire shows it (snake or camel keys)."""
    if not isinstance(d, dict):
        return ("", 0.0, 0)
    state = d.get("state") or ""
    progress = d.get("total_progress", d.get("totalProgress")) or 0.0
    res = d.get("res_obj", d.get("resObj")) or {}
    steps = res.get("step_list", res.get("stepList")) or [] if isinstance(res, dict) else []
    return (str(state), float(progress), len(steps))


def key_of_progress(p: Any) -> Key:
    """The identity of a ``CommandProgress``."""
    return (p.raw_state, float(p.total_progress), len(p.steps))


def key_of_snapshot(s: Any) -> Key:
    """The identity of a simulator ``Snapshot``."""
    return (s.state or "", float(s.total_progress or 0.0), len(s.steps))


class Recorder:
    """What one strategy received: per command, (monotonic time, snapshot key)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.index = {cid: i for i, cid in enumerate(ids)}
        self.received: list[list[tuple[float, Key]]] = [[] for _ in ids]
        self.requests = 0
        self.errors = 0
        self.done = 0

    def record(self, cid: int, key: Key) -> None:
        """Note a snapshot of ``cid`` received now (call only when it changed)."""
        self.received[self.index[cid]].append((time.monotonic(), key))
        if key[0] in TERMINAL:
            self.done += 1


@attrs.frozen
class Outcome:
    """The figures of one strategy."""

    name: str
    commands: int
    requests: int
    errors: int
    wall: float
    cpu: float
    lags: list[float]
    terminal_lags: list[float]
    missing: int
    load: float = 0.0  # the machine's 1-minute load average, the higher of start and end

    @property
    def per_command(self) -> float:
        """Requests per command."""
        return self.requests / self.commands

    @property
    def cpu_us(self) -> float:
        """Client CPU microseconds per request."""
        return 1e6 * self.cpu / max(1, self.requests)


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[pos]


def analyse(
    name: str, sim: SimInfo, timelines: Sequence[Any], rec: Recorder, wall: float, cpu: float
) -> Outcome:
    """Lag of every change (simulated seconds), from the timelines and what was received."""
    lags: list[float] = []
    terminal: list[float] = []
    missing = 0
    for i, timeline in enumerate(timelines):
        snaps = [(j, s) for j, s in enumerate(timeline.snapshots) if s.at is not None]
        keys: dict[Key, list[int]] = {}
        for j, s in snaps:
            keys.setdefault(key_of_snapshot(s), []).append(j)
        # The index each receipt stands for: the first matching index not before the last.
        got: list[tuple[float, int]] = []
        last = 0
        for t, key in rec.received[i]:
            candidates = keys.get(key)
            if not candidates:
                continue
            pos = bisect.bisect_left(candidates, last)
            j = candidates[pos] if pos < len(candidates) else candidates[-1]
            last = max(last, j)
            got.append((t, last))
        final = len(timeline.snapshots) - 1
        k = 0
        for j, s in snaps:
            if j == 0:
                continue  # the initial snapshot is not a change
            while k < len(got) and got[k][1] < j:
                k += 1
            if k == len(got):
                missing += 1
                continue
            lag = (got[k][0] - sim.current_at(i, float(s.at))) * sim.speed
            (terminal if j == final else lags).append(max(0.0, lag))
    return Outcome(
        name, len(timelines), rec.requests, rec.errors, wall, cpu, lags, terminal, missing
    )


async def _start_each(sim: SimInfo, starts: Sequence[float], launch: Callable[[int], None]) -> None:
    """Call ``launch(cid)`` for each command at its start instant (monotonic)."""
    for cid, start in sorted(zip(sim.ids, starts, strict=True), key=lambda x: x[1]):
        delay = start - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        launch(cid)


def _counting_trace(rec: Recorder) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def on_end(*_: object) -> None:
        rec.requests += 1

    trace.on_request_end.append(on_end)
    trace.on_request_exception.append(on_end)
    return trace


# --------------------------------------------------------------------------- strategies


SETTINGS: tuple[tuple[str, dict[str, float]], ...] = (
    ("cmdprogress (default policy)", {}),
    ("cmdprogress (interval 0.5 s, max 8 s)", {"interval": 0.5, "max_interval": 8.0}),
    ("cmdprogress (interval 2 s)", {"interval": 2.0}),
    ("cmdprogress (interval 4 s, max 20 s)", {"interval": 4.0, "max_interval": 20.0}),
)
"""The ``PollPolicy`` settings measured (simulated seconds): the default and three others."""
FIXED = (1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0)
"""The fixed intervals of the frontier (simulated seconds)."""
DEFAULT = SETTINGS[0][0]


def policy_of(setting: dict[str, float], speed: float = 1.0) -> Any:
    """The ``PollPolicy`` of a setting, its intervals divided by ``speed``."""
    from cmdprogress import PollPolicy

    p = PollPolicy(**setting)  # type: ignore[arg-type]
    return PollPolicy(
        interval=p.interval / speed,
        max_interval=p.max_interval / speed,
        backoff=p.backoff,
        jitter=p.jitter,
    )


def cmdprogress_with(
    setting: dict[str, float],
) -> Callable[[SimInfo, Sequence[float], Recorder], Awaitable[None]]:
    """cmdprogress with ``PollPolicy(**setting)``, its intervals divided by the speed factor."""

    async def run_cmdprogress(sim: SimInfo, starts: Sequence[float], rec: Recorder) -> None:
        from cmdprogress import Client

        async with Client(sim.url, poll=policy_of(setting, sim.speed)) as client:
            async with client.watcher([], close_when_done=False) as w:
                feeder = asyncio.create_task(_start_each(sim, starts, w.add))
                try:
                    async for p in w:
                        rec.record(p.command_id, key_of_progress(p))
                        if rec.done >= len(sim.ids):
                            break
                finally:
                    feeder.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await feeder
            rec.requests = client.stats.requests
            rec.errors = client.stats.errors

    return run_cmdprogress


def fixed_interval(
    seconds: float,
) -> Callable[[SimInfo, Sequence[float], Recorder], Awaitable[None]]:
    """Naive polling: one task per command, GET, json.loads, sleep ``seconds`` (simulated)."""

    async def run_fixed(sim: SimInfo, starts: Sequence[float], rec: Recorder) -> None:
        interval = seconds / sim.speed
        connector = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=connector) as session:
            tasks: list[asyncio.Task[None]] = []

            async def poll(cid: int) -> None:
                url = sim.url + PATH.format(cid)
                last: Key | None = None
                while True:
                    try:
                        async with session.get(url) as resp:
                            body = await resp.read()
                        rec.requests += 1
                        data = json.loads(body)
                    except (aiohttp.ClientError, ValueError):
                        rec.errors += 1
                        await asyncio.sleep(interval)
                        continue
                    key = key_of_json(data)
                    if key != last:
                        rec.record(cid, key)
                        last = key
                    if key[0] in TERMINAL:
                        return
                    await asyncio.sleep(interval)

            await _start_each(sim, starts, lambda cid: tasks.append(asyncio.create_task(poll(cid))))
            await asyncio.gather(*tasks)

    return run_fixed


async def run_azure(sim: SimInfo, starts: Sequence[float], rec: Recorder) -> None:
    """azure-core's AsyncLROPoller, one per command, a custom polling method, 1 s interval."""
    from ._peers import azure_pipeline_client, azure_poll_command

    connector = aiohttp.TCPConnector(limit=32)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        azure_pipeline_client(sim.url, session) as pipeline,
    ):
        tasks: list[asyncio.Task[Any]] = []

        def launch(cid: int) -> None:
            tasks.append(
                asyncio.create_task(
                    azure_poll_command(
                        pipeline,
                        PATH.format(cid),
                        1.0 / sim.speed,
                        functools.partial(_note, rec, cid),
                    )
                )
            )

        await _start_each(sim, starts, launch)
        await asyncio.gather(*tasks)


async def run_tenacity(sim: SimInfo, starts: Sequence[float], rec: Recorder) -> None:
    """tenacity: retry one poll while the result is not terminal, exponential wait 1 s .. 15 s."""
    from ._peers import tenacity_poll_command

    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks: list[asyncio.Task[Any]] = []

        def launch(cid: int) -> None:
            tasks.append(
                asyncio.create_task(
                    tenacity_poll_command(
                        session,
                        sim.url + PATH.format(cid),
                        1.0 / sim.speed,
                        15.0 / sim.speed,
                        functools.partial(_note, rec, cid),
                    )
                )
            )

        await _start_each(sim, starts, launch)
        await asyncio.gather(*tasks)


def _note(rec: Recorder, cid: int, data: Any) -> None:
    """A peer's callback for each answer: count it, record it if it changed."""
    rec.requests += 1
    key = key_of_json(data)
    got = rec.received[rec.index[cid]]
    if not got or got[-1][1] != key:
        rec.record(cid, key)


Strategy = Callable[[SimInfo, Sequence[float], Recorder], Awaitable[None]]


def strategies(peers: bool) -> list[tuple[str, Strategy]]:
    """The strategies of part 3 (and of part 4 with ``peers``).

    The cmdprogress settings are interleaved with the fixed intervals, so a
    change of the machine's load during the run touches both alike.
    """
    fixed = [(f"fixed {s:g} s", fixed_interval(s)) for s in FIXED]
    ours = [(name, cmdprogress_with(setting)) for name, setting in SETTINGS]
    out: list[tuple[str, Strategy]] = []
    for i in range(max(len(fixed), len(ours))):
        out += ours[i : i + 1] + fixed[i : i + 1]
    if peers:
        out += [
            ("azure-core AsyncLROPoller (1 s)", run_azure),
            ("tenacity (exponential 1..15 s)", run_tenacity),
        ]
    return out


async def measure(name: str, strategy: Strategy, scenario: Scenario) -> Outcome:
    """Run one strategy against a fresh simulator; return its figures."""
    from ._simserver import arrivals, workload_timelines

    timelines = workload_timelines(
        scenario.count, scenario.seed, scenario.spread, scenario.max_duration
    )
    offsets = arrivals(scenario.count, scenario.seed, scenario.spread)
    with start_sim(*scenario.args()) as (server, sim):
        starts = [sim.current_at(i, off) for i, off in enumerate(offsets)]
        rec = Recorder(sim.ids)
        meter = Meter(server_pid=server.pid)
        load = os.getloadavg()[0]
        with meter:
            await strategy(sim, starts, rec)
        load = max(load, os.getloadavg()[0])
        if not server.alive():
            raise RuntimeError(f"the simulator died during {name}: {server.stderr_tail()}")
        _check_server(server)
    out = analyse(name, sim, timelines, rec, meter.wall, meter.cpu)
    return attrs.evolve(out, load=load)


def _check_server(server: ServerProcess) -> None:
    tail = server.stderr_tail()
    if "Traceback" in tail:
        raise RuntimeError(f"the simulator logged an error: {tail}")


# --------------------------------------------------------------------------- the frontier

METRICS: tuple[tuple[str, str, float], ...] = (
    ("lag p50", "lags", 0.5),
    ("lag p95", "lags", 0.95),
    ("terminal lag p50", "terminal_lags", 0.5),
    ("terminal lag p95", "terminal_lags", 0.95),
)
"""The four lags of the frontier: (label, attribute of the lag list, quantile)."""


def metric(o: Any, attr: str, q: float) -> float | None:
    """One lag quantile of an ``Outcome`` (or of a ``benchmarks.replay.Replayed``)."""
    return _pct(getattr(o, attr), q)


def fixed_at(fixed: Sequence[Any], per_command: float, attr: str, q: float) -> float | None:
    """The fixed-interval curve's lag at ``per_command`` requests per command.

    Linear in ``1 / requests`` (about the interval) between the two nearest
    fixed intervals; ``None`` outside the measured range.
    """
    points = sorted((1.0 / f.per_command, metric(f, attr, q)) for f in fixed if f.per_command > 0)
    x = 1.0 / per_command
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if y0 is None or y1 is None:
            continue
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


@attrs.frozen
class Point:
    """A cmdprogress point against the fixed-interval curve and the oracle floor."""

    name: str
    per_command: float
    lags: tuple[float | None, ...]  # in METRICS order
    fixed: tuple[float | None, ...]  # the curve at the same requests per command
    oracle: float  # the oracle's requests per command under the same max_interval

    @property
    def below(self) -> tuple[bool | None, ...]:
        """Per metric: strictly lower lag than the curve (``None``: off the curve's range)."""
        return tuple(
            None if a is None or b is None else a < b
            for a, b in zip(self.lags, self.fixed, strict=True)
        )


def frontier(ours: Sequence[Any], fixed: Sequence[Any], oracles: dict[str, float]) -> list[Point]:
    """Each cmdprogress outcome placed against the fixed ones."""
    return [
        Point(
            o.name,
            o.per_command,
            tuple(metric(o, attr, q) for _, attr, q in METRICS),
            tuple(fixed_at(fixed, o.per_command, attr, q) for _, attr, q in METRICS),
            oracles[o.name],
        )
        for o in ours
    ]


def frontier_table(
    points: Sequence[Point], fixed: Sequence[Any]
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: every fixed point, then every cmdprogress point with its comparison."""
    headers = ["strategy", "requests / command"]
    headers += [label for label, _, _ in METRICS]
    headers += [
        "fixed at equal cost (p50 / p95, terminal p50 / p95)",
        "below the curve",
        "vs oracle floor",
    ]
    rows = []
    for f in fixed:
        lags = [fmt(metric(f, attr, q)) for _, attr, q in METRICS]
        rows.append([f.name, fmt(f.per_command), *lags, "", "", ""])
    for p in points:
        curve = " / ".join(fmt(v) for v in p.fixed)
        marks = sum(1 for b in p.below if b)
        extra = p.per_command - p.oracle
        rows.append(
            [
                f"**{p.name}**",
                fmt(p.per_command),
                *[fmt(v) for v in p.lags],
                curve,
                f"{marks} of {len(p.below)}",
                f"{fmt(p.oracle)} req: {'+' if extra >= 0 else ''}{fmt(extra)} "
                f"({fmt(ratio(p.per_command, p.oracle), 2)}x)",
            ]
        )
    return headers, rows


def plot(
    outcomes: Sequence[Any],
    points: Sequence[Point],
    oracles: dict[str, float],
    directory: Path,
    stem: str = "freshness",
) -> list[Path]:
    """Requests per command against lag: two PNG files (changes, terminal), p50 and p95 each.

    Returns the files written; none when matplotlib is not installed.
    """
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return []
    fixed = [o for o in outcomes if o.name.startswith("fixed ")]
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, pair, title in (
        ("lag", METRICS[:2], "lag of each change"),
        ("terminal", METRICS[2:], "lag of the terminal snapshot"),
    ):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharex=True)
        for ax, (label, attr, q) in zip(axes, pair, strict=True):
            xs = [f.per_command for f in fixed]
            ys = [metric(f, attr, q) for f in fixed]
            # The curve as the comparison reads it: linear in 1 / requests between the points.
            lo, hi = min(xs), max(xs)
            curve_x = [1.0 / (1.0 / hi + (1.0 / lo - 1.0 / hi) * k / 200) for k in range(201)]
            curve_y = [fixed_at(fixed, x, attr, q) for x in curve_x]
            ax.plot(curve_x, curve_y, "-", color="0.45")
            ax.plot(xs, ys, "o", color="0.45", label="fixed interval")
            for f, x, y in zip(fixed, xs, ys, strict=True):
                ax.annotate(
                    f.name.removeprefix("fixed "),
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=8,
                    color="0.35",
                )
            for i, p in enumerate(points):
                y = p.lags[METRICS.index((label, attr, q))]
                ax.plot(
                    [p.per_command],
                    [y],
                    marker="*D^s"[i % 4],
                    markersize=11 if i == 0 else 8,
                    linestyle="none",
                    label=p.name,
                )
            oracle_x = sorted(set(oracles.values()))
            ax.plot(
                oracle_x, [0.0] * len(oracle_x), "kx", markersize=9, label="oracle floor (lag 0)"
            )
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
            every = [p.per_command for p in points] + xs
            ax.set_xticks(
                [t for t in (5, 10, 15, 20, 30, 50, 100) if min(every) <= t <= max(every)]
            )
            ax.set_xlabel("requests per command (log)")
            ax.set_ylabel(f"{label} (simulated s)")
            ax.set_title(label)
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=7, loc="upper right")
        fig.suptitle(
            f"Requests per command against the {title}: cmdprogress and every fixed interval"
        )
        fig.tight_layout()
        path = directory / f"{stem}_{kind}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# --------------------------------------------------------------------------- the sections

TITLE = "3. Politeness and freshness"
"""The title of this part's section in ``RESULTS.md``."""
PEERS_TITLE = "4. Peers"


async def run(
    results: Results,
    *,
    quick: bool = False,
    peers: bool = True,
    out_dir: Path | None = None,
    plot_dir: Path | None = None,
    speed: float | None = None,
) -> None:
    """Measure every strategy, then write the sections of parts 3 and 4 (plots in ``plot_dir``)."""
    scenario = (
        Scenario(count=30, speed=200.0, spread=60.0, max_duration=60.0) if quick else Scenario()
    )
    if speed is not None:
        scenario = attrs.evolve(scenario, speed=speed)
    outcomes = []
    for name, strategy in strategies(peers):
        print(f"[freshness] {name} ...", file=sys.stderr, flush=True)
        outcomes.append(await measure(name, strategy, scenario))
    by_name = {o.name: o for o in outcomes}
    ours = [by_name[name] for name, _ in SETTINGS]
    fixed = [by_name[f"fixed {s:g} s"] for s in FIXED]

    from ._simserver import arrivals, workload_timelines

    timelines = workload_timelines(
        scenario.count, scenario.seed, scenario.spread, scenario.max_duration
    )
    starts = arrivals(scenario.count, scenario.seed, scenario.spread)
    oracles = {
        name: perfect_floor(timelines, starts, policy_of(setting).max_interval)[1]
        for name, setting in SETTINGS
    }
    changes, _ = perfect_floor(timelines, starts, math.inf)
    points = frontier(ours, fixed, oracles)
    loads = [o.load for o in outcomes]

    intro = (
        f"{scenario.count} commands of the simulator's seeded workload (seed {scenario.seed}: "
        f"long-tailed durations, 2 s to {scenario.max_duration:g} s, median 60 s; steps "
        f"appearing along the way; 10 % failures; 20 % WAITING first), starting at seeded "
        f"instants over the first {scenario.spread:g} s; time sped up {scenario.speed:g} times "
        "(the intervals below are in simulated seconds and were divided by the speed for the "
        "run; lags are in simulated seconds). Each strategy against a fresh simulator "
        "process, one after the other, cmdprogress settings interleaved with the fixed "
        "intervals. Lag: from the instant a snapshot became current on the simulator to its "
        "arrival at the consumer; a change polled past counts with the first later snapshot "
        f"received. Machine load (1-minute average, 2 cores) during the runs: "
        f"{min(loads):.1f} to {max(loads):.1f}; a loaded machine delays the client's timers, "
        f"and each millisecond of delay is {scenario.speed / 1000:g} simulated seconds of lag."
    )
    sec3 = results.section("freshness", TITLE, intro)
    headers, rows = frontier_table(points, fixed)
    sec3.text(
        "**The frontier.** Every fixed interval, then each cmdprogress setting with the "
        "fixed-interval curve's lags at the same requests per command (interpolated in "
        "`1 / requests`), how many of its four lags are below the curve, and the oracle floor: "
        "the requests per command of a poller that knows every change instant and polls exactly "
        "then (lag 0), never more than the setting's `max_interval` apart."
    )
    sec3.table(headers, rows)
    plots = plot(outcomes, points, oracles, plot_dir) if plot_dir is not None else []
    if plots:
        sec3.text(
            "Plots: "
            + ", ".join(f"[{p.stem.replace('_', ' ')}]({p.name})" for p in plots)
            + " (requests per command, log scale, against lag p50 and p95)."
        )
        sec3.lines += [f"![{p.stem.replace('_', ' ')}]({p.name})" for p in plots]
        sec3.lines.append("")
    sec3.text("**All figures** (CPU, misses and errors of each run):")
    sec3.table(*_detail_table(outcomes))
    sec3.text(_replay_text(timelines, starts))
    sec3.raw.update({o.name: _raw(o) for o in outcomes})

    default = points[0]
    for p in points:
        met = all(b is True for b in p.below)
        results.headline(
            f"{p.name} below the fixed-interval curve (lag p50, p95, terminal p50, p95 vs "
            "fixed at equal cost)",
            ", ".join(f"{fmt(ratio(a, b), 2)}x" for a, b in zip(p.lags, p.fixed, strict=True)),
            "< 1x each",
            met,
        )
    sec3.findings.append(
        f"The workload changes {fmt(changes)} times per command: a poller that delivers each "
        f"change at once needs at least {fmt(changes + 1)} requests per command; the oracle "
        f"floor under the default `max_interval` (15 s) is {fmt(oracles[DEFAULT])}. The default "
        f"policy spends {fmt(default.per_command)}, "
        f"{fmt(ratio(default.per_command, oracles[DEFAULT]), 2)}x that floor, for a lag p50 / "
        f"p95 of {fmt(default.lags[0])} / {fmt(default.lags[1])} s and a terminal lag p50 / p95 "
        f"of {fmt(default.lags[2])} / {fmt(default.lags[3])} s (the oracle's: 0)."
    )
    for p in points:
        below = [label for (label, _, _), b in zip(METRICS, p.below, strict=True) if b]
        above = [label for (label, _, _), b in zip(METRICS, p.below, strict=True) if not b]
        sec3.findings.append(
            f"{p.name}: {fmt(p.per_command)} requests per command, "
            f"{fmt(p.per_command - p.oracle)} above its oracle floor ({fmt(p.oracle)}); below "
            f"the fixed-interval curve on {', '.join(below) or 'nothing'}"
            + (f"; not on {', '.join(above)}" if above else "")
            + "."
        )
    if peers:
        sec4 = results.section(
            "peers",
            PEERS_TITLE,
            "The same workload, scenario and figures as in 3; the cmdprogress row is repeated "
            "from 3. azure-core: the stock `AsyncPipelineClient` (its default retry, logging, "
            "user-agent policies) on `AioHttpTransport`, an `AsyncLROPoller` per command with a "
            "custom `AsyncPollingMethod`; tenacity: `AsyncRetrying` around a bare aiohttp poll.",
        )
        peer_rows = [
            by_name[DEFAULT],
            by_name["azure-core AsyncLROPoller (1 s)"],
            by_name["tenacity (exponential 1..15 s)"],
        ]
        sec4.table(*_detail_table(peer_rows))
        ours_default = by_name[DEFAULT]
        for name in ("azure-core AsyncLROPoller (1 s)", "tenacity (exponential 1..15 s)"):
            peer = by_name[name]
            results.headline(
                f"client CPU: cmdprogress vs {name.split(' (')[0]}",
                f"{fmt(ours_default.cpu, 3)} s vs {fmt(peer.cpu, 3)} s "
                f"({fmt(ratio(ours_default.cpu, peer.cpu), 2)}x)",
                "-",
                None,
            )
    if out_dir is not None:
        _dump(out_dir / "freshness.json", {o.name: _raw(o) for o in outcomes})


def _detail_table(outcomes: Sequence[Outcome]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "strategy",
        "requests / command",
        "lag p50",
        "lag p95",
        "terminal lag p50",
        "terminal lag p95",
        "client CPU s",
        "CPU us / request",
        "changes missed",
        "errors",
        "load",
    ]
    rows = [
        [
            o.name,
            fmt(o.per_command),
            *[fmt(metric(o, attr, q)) for _, attr, q in METRICS],
            fmt(o.cpu, 3),
            fmt(o.cpu_us),
            str(o.missing),
            str(o.errors),
            fmt(o.load, 2),
        ]
        for o in outcomes
    ]
    return headers, rows


def _replay_text(timelines: Sequence[Any], starts: Sequence[float]) -> str:
    """The same frontier replayed offline (virtual clock, the real ``Cadence``): a fenced table."""
    from . import replay

    lines = replay.frontier_lines(timelines, starts)
    return (
        "**Offline replay** (`python -m benchmarks.replay`, seconds): the same timelines and "
        "start instants through the real `Cadence` on a virtual clock (latency 0.1 simulated s, "
        "no machine noise); the cross-check of the measured figures above, and the regression "
        "tool of the cadence rule:\n\n```\n" + "\n".join(lines) + "\n```"
    )


def perfect_floor(
    timelines: Sequence[Any], starts: Sequence[float], max_interval: float
) -> tuple[float, float]:
    """Changes per command, and requests per command of an oracle poller.

    The oracle polls when the watch of a command starts (``starts``, on the
    simulator's clock like the timelines), at the instant of each later
    change, and in between never more than ``max_interval`` apart: the fewest
    requests that see every change at once while honouring the policy's ceiling.
    """
    changes = 0
    polls = 0
    for timeline, start in zip(timelines, starts, strict=True):
        later = sorted({s.at for s in timeline.snapshots if s.at is not None and s.at > start})
        changes += len(later)
        times = [start, *later]
        polls += len(times)
        for a, b in itertools.pairwise(times):
            polls += max(0, math.ceil((b - a) / max_interval) - 1)
    n = max(1, len(timelines))
    return changes / n, polls / n


def _dump(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _raw(o: Outcome) -> dict[str, Any]:
    return {
        "requests": o.requests,
        "errors": o.errors,
        "wall": o.wall,
        "cpu": o.cpu,
        "missing": o.missing,
        "changes": len(o.lags),
        "terminals": len(o.terminal_lags),
        "lag_p50": _pct(o.lags, 0.5),
        "lag_p95": _pct(o.lags, 0.95),
        "terminal_lag_p50": _pct(o.terminal_lags, 0.5),
        "terminal_lag_p95": _pct(o.terminal_lags, 0.95),
        "lag_mean": statistics.fmean(o.lags) if o.lags else None,
    }


_OLD_HEADLINES = (
    "requests per command: default policy vs fixed 15 s",
    "median lag: default policy vs fixed 1 s",
    "median terminal lag: default policy vs fixed 1 s",
)


def _label(row: str) -> str:
    """The first cell of a markdown table row."""
    return row.strip().strip("|").split("|", 1)[0].strip()


def merge_into(text: str, results: Results) -> str:
    """``text`` (a ``RESULTS.md``) with this part's sections and target rows from ``results``.

    Each section of ``results`` replaces the section of the same title (up to
    the next ``## `` heading) or is appended; this part's rows of the targets
    table are replaced where the first of them stood. Every other section and
    row is left as it was (other parts are written by other runs).
    """
    rendered = results.render()
    lines = text.splitlines()
    for section in results.sections:
        head = f"## {section.title}"
        block = _block(rendered.splitlines(), head)
        if head in lines:
            start = lines.index(head)
            end = next(
                (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
            )
            lines[start:end] = block
        else:
            lines += ["", *block]
    new_rows = [row for row in _block(rendered.splitlines(), "## Targets") if row.startswith("|")]
    new_rows = new_rows[2:]  # not the header and the rule
    # This part's rows: those it writes now, those of its earlier settings and of its old targets.
    owned = {_label(r) for r in new_rows} | set(_OLD_HEADLINES)

    def ours(label: str) -> bool:
        return label in owned or label.startswith("cmdprogress (")

    if "## Targets" in lines and new_rows:
        first = lines.index("## Targets") + 1
        while first < len(lines) and not lines[first].startswith("|"):
            first += 1
        last = first
        while last < len(lines) and lines[last].startswith("|"):
            last += 1
        table = list(range(first, last))  # the table's lines: header, rule, rows
        mine = [i for i in table[2:] if ours(_label(lines[i]))]
        at = mine[0] if mine else last
        for i in reversed(mine):
            del lines[i]
        lines[at:at] = new_rows
    return "\n".join(lines).rstrip() + "\n"


def _block(lines: list[str], head: str) -> list[str]:
    """The lines of the section ``head`` (its heading included, trailing blank lines kept one)."""
    if head not in lines:
        return []
    start = lines.index(head)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    block = lines[start:end]
    while block and not block[-1].strip():
        block.pop()
    return [*block, ""]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks freshness``: run this part alone, rewrite only its sections.

    Options: ``--quick`` (tiny sizes), ``--speed S`` (the clock's speed-up; lower is less
    sensitive to a loaded machine, and slower), ``--no-peers`` (leave section 4 as it is),
    ``--out PATH`` (default ``benchmarks/RESULTS.md``; the plots go beside it).
    """
    import argparse
    import datetime as dt
    from pathlib import Path

    from ._harness import machine_info

    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(prog="python -m benchmarks freshness", description=main.__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    p.add_argument("--speed", type=float, default=None, help="clock speed-up (default 30)")
    p.add_argument("--no-peers", action="store_true", help="skip azure-core and tenacity")
    p.add_argument("--out", type=Path, default=here / "RESULTS.md")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    command = "python -m benchmarks freshness " + " ".join(sys.argv[1:] if argv is None else argv)
    results = Results(machine_info(), command.strip())
    started = time.perf_counter()
    asyncio.run(
        run(
            results,
            quick=args.quick,
            peers=not args.no_peers,
            out_dir=here / ".out",
            plot_dir=args.out.parent,
            speed=args.speed,
        )
    )
    minutes = (time.perf_counter() - started) / 60
    results.sections[0].intro += (
        f" Measured by `{results.command}` on {results.started:%Y-%m-%d %H:%M} UTC "
        f"({minutes:.0f} min), apart from the other sections."
    )
    old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    if not old:
        results.duration = minutes * 60
        old = results.render()
    args.out.write_text(merge_into(old, results), encoding="utf-8")
    print(f"[freshness] wrote {args.out} ({dt.datetime.now(dt.UTC):%H:%M} UTC)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
