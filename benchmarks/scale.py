"""Scale: 1,000 and 10,000 commands watched to completion in one process.

Two runs per size, each against a fresh simulator process:

- **CPU run.** ``N`` commands of similar length (3 steps, 20 to 40 simulated
  seconds) on the real clock, watched with ``wait_all`` and the default
  policy. The speed factor is ``10,000 / N`` (10 for 1,000, 1 for 10,000), so
  both sizes put the same request rate on the simulator and the same number
  of polls per command: only the number of watched commands differs. Client
  CPU per poll is the scheduler's cost at that size.
- **Memory run.** ``N`` commands frozen mid-run; ``watch_many`` over all of
  them under ``tracemalloc`` until every first snapshot has arrived (the next
  poll is a minute away). Memory per watched command: the Python memory held
  at that point, and the peak while getting there, divided by ``N``.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import TYPE_CHECKING

import attrs

from ._harness import Meter, rss_bytes
from ._results import Results, fmt, ratio
from ._sim import start_sim

if TYPE_CHECKING:
    from collections.abc import Sequence


@attrs.frozen
class CpuRun:
    """The figures of one CPU run."""

    commands: int
    polls: int
    wall: float
    cpu: float
    server_cpu: float
    failed: int

    @property
    def cpu_us(self) -> float:
        """Client CPU microseconds per poll."""
        return 1e6 * self.cpu / max(1, self.polls)


@attrs.frozen
class MemRun:
    """The figures of one memory run."""

    commands: int
    held: int
    peak: int
    rss: int


async def cpu_run(count: int, duration: float = 40.0) -> CpuRun:
    """Watch ``count`` commands to completion; measure client CPU per poll."""
    from cmdprogress import Client, PollPolicy

    speed = max(1.0, 10_000 / count)
    args = ["uniform", "--count", str(count), "--duration", str(duration), "--speed", str(speed)]
    d = PollPolicy()
    policy = PollPolicy(
        interval=d.interval / speed,
        max_interval=d.max_interval / speed,
        backoff=d.backoff,
        jitter=d.jitter,
    )
    with start_sim(*args) as (server, sim):
        async with Client(sim.url, poll=policy) as client:
            meter = Meter(server_pid=server.pid)
            with meter:
                finals = await client.wait_all(sim.ids)
            polls = client.stats.requests
        if not server.alive():
            raise RuntimeError(f"the simulator died: {server.stderr_tail()}")
    failed = sum(1 for p in finals.values() if not p.succeeded)
    if len(finals) != count:
        raise RuntimeError(f"wait_all returned {len(finals)} of {count} commands")
    return CpuRun(count, polls, meter.wall, meter.cpu, meter.server_cpu, failed)


async def mem_run(count: int) -> MemRun:
    """Memory held per watched command once every command has been polled once."""
    from cmdprogress import Client, PollPolicy

    policy = PollPolicy(interval=60.0, max_interval=60.0)
    with start_sim("frozen", "--commands", str(count)) as (_server, sim):
        async with Client(sim.url, poll=policy) as client:
            gc.collect()
            rss0 = rss_bytes()
            tracemalloc.start()
            try:
                base, _ = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                seen = 0
                held = peak = 0
                async with client.watch_many(sim.ids) as w:
                    async for _ in w:
                        seen += 1
                        if seen == count:
                            gc.collect()
                            current, peak = tracemalloc.get_traced_memory()
                            held = current - base
                            peak -= base
                            break
            finally:
                tracemalloc.stop()
            rss = rss_bytes() - rss0
    return MemRun(count, held, peak, rss)


async def run(results: Results, *, quick: bool = False) -> None:
    """Measure, then write the scale section."""
    sizes = (100, 1000) if quick else (1000, 10_000)
    section = results.section(
        "scale",
        "2. Scale",
        f"{sizes[0]:,} and {sizes[1]:,} commands watched to completion in one process. "
        "CPU runs: commands of 3 steps lasting 20 to 40 simulated seconds, `wait_all` with the "
        "default policy; time sped up 10,000 / N times (so both sizes see the same request rate "
        "and the same polls per command; the policy's intervals divided by the same factor). "
        "Memory runs: `watch_many` over N commands frozen mid-run under tracemalloc, measured "
        "when every command's first snapshot has arrived. Sizes interleaved: CPU small, CPU "
        "large, memory small, memory large.",
    )
    cpu_runs = [await cpu_run(n, duration=10.0 if quick else 40.0) for n in sizes]
    mem_runs = [await mem_run(n) for n in sizes]
    rows = []
    for c, m in zip(cpu_runs, mem_runs, strict=True):
        rows.append(
            [
                f"{c.commands:,}",
                f"{c.polls:,}",
                fmt(c.polls / c.commands),
                fmt(c.wall),
                fmt(c.cpu_us),
                fmt(1e6 * c.server_cpu / max(1, c.polls)),
                fmt(m.held / m.commands / 1024),
                fmt(m.peak / m.commands / 1024),
                fmt(m.rss / m.commands / 1024),
            ]
        )
        section.raw[str(c.commands)] = {"cpu": attrs.asdict(c), "memory": attrs.asdict(m)}
    section.table(
        [
            "commands",
            "polls",
            "polls / command",
            "wall s",
            "client CPU us / poll",
            "server CPU us / poll",
            "KiB held / command",
            "KiB peak / command",
            "RSS growth KiB / command",
        ],
        rows,
    )
    small, large = cpu_runs
    growth = ratio(large.cpu_us, small.cpu_us)
    results.headline(
        f"CPU per poll, {sizes[1]:,} vs {sizes[0]:,} commands",
        f"{fmt(large.cpu_us)} vs {fmt(small.cpu_us)} us ({fmt(growth, 3)}x)",
        "flat (<= 1.2x)",
        None if growth is None else growth <= 1.2,
    )
    m = mem_runs[-1]
    per = m.peak / m.commands / 1024
    results.headline(
        f"peak memory per watched command @ {sizes[1]:,}",
        f"{fmt(per)} KiB (held {fmt(m.held / m.commands / 1024)} KiB)",
        "low kilobytes (<= 8 KiB)",
        per <= 8,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run this benchmark alone and print its section."""
    import sys

    from ._harness import machine_info

    args = list(sys.argv[1:] if argv is None else argv)
    results = Results(machine_info(), "python -m benchmarks.scale")
    asyncio.run(run(results, quick="--quick" in args))
    print(results.render())


if __name__ == "__main__":
    main()
