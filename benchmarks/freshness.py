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

- ``cmdprogress``: one ``Client`` with the default ``PollPolicy`` (its
  intervals divided by ``speed``), one ``watcher`` to which each command is
  added when it starts;
- ``fixed 1 s`` / ``fixed 15 s``: one asyncio task per command, GET,
  ``json.loads``, ``asyncio.sleep(interval)``, until terminal; one aiohttp
  session (pool of 32, the client's default concurrency);
- ``azure-core``: ``AsyncLROPoller`` with a custom ``AsyncPollingMethod`` for
  this endpoint (fixed 1 s interval, ``Retry-After`` honoured), one poller per
  command, sent through azure-core's standard ``AsyncPipelineClient`` on its
  ``AioHttpTransport`` (sharing a 32-connection aiohttp session);
- ``tenacity``: ``AsyncRetrying(retry=retry_if_result(not terminal),
  wait=wait_exponential(1 s .. 15 s))`` around one poll, per command.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import itertools
import json
import math
import statistics
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


async def run_cmdprogress(sim: SimInfo, starts: Sequence[float], rec: Recorder) -> None:
    """The default policy, its intervals divided by the speed factor."""
    from cmdprogress import Client, PollPolicy

    d = PollPolicy()
    policy = PollPolicy(
        interval=d.interval / sim.speed,
        max_interval=d.max_interval / sim.speed,
        backoff=d.backoff,
        jitter=d.jitter,
    )
    async with Client(sim.url, poll=policy) as client:
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
    """The strategies of part 3 (and of part 4 with ``peers``)."""
    out: list[tuple[str, Strategy]] = [
        ("cmdprogress (default policy)", run_cmdprogress),
        ("fixed 1 s", fixed_interval(1.0)),
        ("fixed 15 s", fixed_interval(15.0)),
    ]
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
        with meter:
            await strategy(sim, starts, rec)
        if not server.alive():
            raise RuntimeError(f"the simulator died during {name}: {server.stderr_tail()}")
        _check_server(server)
    return analyse(name, sim, timelines, rec, meter.wall, meter.cpu)


def _check_server(server: ServerProcess) -> None:
    tail = server.stderr_tail()
    if "Traceback" in tail:
        raise RuntimeError(f"the simulator logged an error: {tail}")


async def run(
    results: Results, *, quick: bool = False, peers: bool = True, out_dir: Path | None = None
) -> None:
    """Measure every strategy, then write the sections of parts 3 and 4."""
    scenario = (
        Scenario(count=30, speed=200.0, spread=60.0, max_duration=60.0) if quick else Scenario()
    )
    outcomes = [await measure(name, s, scenario) for name, s in strategies(peers)]
    by_name = {o.name: o for o in outcomes}

    intro = (
        f"{scenario.count} commands of the simulator's seeded workload (seed {scenario.seed}: "
        f"long-tailed durations, 2 s to {scenario.max_duration:g} s, median 60 s; steps "
        f"appearing along the way; 10 % failures; 20 % WAITING first), starting at seeded "
        f"instants over the first {scenario.spread:g} s; time sped up {scenario.speed:g} times "
        "(the intervals below are in simulated seconds and were divided by the speed for the "
        "run; lags are in simulated seconds). Each strategy against a fresh simulator "
        "process, one after the other. Lag: from the instant a snapshot became current on the "
        "simulator to its arrival at the consumer; a change polled past counts with the first "
        "later snapshot received."
    )
    rows = []
    for o in outcomes:
        rows.append(
            [
                o.name,
                fmt(o.per_command),
                fmt(_pct(o.lags, 0.5)),
                fmt(_pct(o.lags, 0.95)),
                fmt(_pct(o.terminal_lags, 0.5)),
                fmt(_pct(o.terminal_lags, 0.95)),
                fmt(o.cpu, 3),
                fmt(o.cpu_us),
                str(o.missing),
                str(o.errors),
            ]
        )
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
    ]
    sec3 = results.section("freshness", "3. Politeness and freshness", intro)
    sec3.table(headers, rows[:3])
    sec3.raw.update({o.name: _raw(o) for o in outcomes})
    if peers:
        sec4 = results.section(
            "peers",
            "4. Peers",
            "The same workload, scenario and figures as in 3; the cmdprogress row is repeated "
            "from 3. azure-core: the stock `AsyncPipelineClient` (its default retry, logging, "
            "user-agent policies) on `AioHttpTransport`, an `AsyncLROPoller` per command with a "
            "custom `AsyncPollingMethod`; tenacity: `AsyncRetrying` around a bare aiohttp poll.",
        )
        sec4.table(headers, [rows[0], *rows[3:]])

    ours = by_name["cmdprogress (default policy)"]
    short, long_ = by_name["fixed 1 s"], by_name["fixed 15 s"]
    req_ratio = ratio(ours.per_command, long_.per_command)
    lag_ratio = ratio(_pct(ours.lags, 0.5), _pct(short.lags, 0.5))
    tlag_ratio = ratio(_pct(ours.terminal_lags, 0.5), _pct(short.terminal_lags, 0.5))
    results.headline(
        "requests per command: default policy vs fixed 15 s",
        f"{fmt(ours.per_command)} vs {fmt(long_.per_command)} ({fmt(req_ratio, 2)}x)",
        "< 1x",
        None if req_ratio is None else req_ratio < 1,
    )
    results.headline(
        "median lag: default policy vs fixed 1 s",
        f"{fmt(_pct(ours.lags, 0.5))} s vs {fmt(_pct(short.lags, 0.5))} s",
        "close (<= 2x)",
        None if lag_ratio is None else lag_ratio <= 2,
    )
    results.headline(
        "median terminal lag: default policy vs fixed 1 s",
        f"{fmt(_pct(ours.terminal_lags, 0.5))} s vs {fmt(_pct(short.terminal_lags, 0.5))} s",
        "close (<= 2x)",
        None if tlag_ratio is None else tlag_ratio <= 2,
    )
    # The floor a poller that sees each change cannot go under.
    from ._simserver import arrivals, workload_timelines

    timelines = workload_timelines(
        scenario.count, scenario.seed, scenario.spread, scenario.max_duration
    )
    starts = arrivals(scenario.count, scenario.seed, scenario.spread)
    changes, oracle = perfect_floor(timelines, starts, max_interval=15.0)
    sec3.findings.append(
        f"The workload changes {fmt(changes)} times per command. A poller that delivers each "
        f"change with a short lag needs at least that many requests per command; an oracle "
        f"that knows every change instant and polls exactly then, never more than 15 s apart "
        f"(the default `max_interval`), needs {fmt(oracle)} (computed from the timelines). "
        f"Fixed 15 s polling reaches {fmt(long_.per_command)} only by skipping changes: its "
        f"median lag is {fmt(_pct(long_.lags, 0.5))} s. The target 'fewer requests than the "
        "long fixed interval with a lag close to the short one's' cannot be met on this "
        "workload; the default policy is judged on lag close to fixed 1 s at a fraction of "
        "its requests."
    )
    req_short = ratio(ours.per_command, short.per_command)
    sec3.findings.append(
        f"Default policy vs fixed 1 s: {fmt(req_short, 2)}x the requests, "
        f"{fmt(lag_ratio, 2)}x the median lag, {fmt(tlag_ratio, 2)}x the median terminal lag."
    )
    if peers:
        for name in ("azure-core AsyncLROPoller (1 s)", "tenacity (exponential 1..15 s)"):
            peer = by_name[name]
            results.headline(
                f"client CPU: cmdprogress vs {name.split(' (')[0]}",
                f"{fmt(ours.cpu, 3)} s vs {fmt(peer.cpu, 3)} s "
                f"({fmt(ratio(ours.cpu, peer.cpu), 2)}x)",
                "-",
                None,
            )
    if out_dir is not None:
        _dump(out_dir / "freshness.json", {o.name: _raw(o) for o in outcomes})


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


def main(argv: Sequence[str] | None = None) -> None:
    """Run this benchmark alone and print its sections."""
    import sys

    from ._harness import machine_info

    args = list(sys.argv[1:] if argv is None else argv)
    results = Results(machine_info(), "python -m benchmarks.freshness")
    asyncio.run(run(results, quick="--quick" in args, peers="--no-peers" not in args))
    print(results.render())


if __name__ == "__main__":
    main()
