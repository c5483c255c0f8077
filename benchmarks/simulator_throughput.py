"""Simulator throughput: progress requests/s of the simulator vs a minimal aiohttp server.

Both servers run in their own process (``python -m cmdprogress.testing serve``
with a manual clock, and a bare ``aiohttp.web`` app answering one fixed body
of the same size on the same route); this process drives each with the same
load (aiohttp client, 32 concurrent workers, N requests over a fixed set of
command ids), in alternating rounds, and prints requests/s for each and the
ratio simulator / baseline (target: at least 0.70).  On two cores the client
can be the bottleneck, which pulls the rate ratio toward 1, so it also prints
each server's CPU time per request and their ratio (baseline / simulator):
the rate ratio the servers would reach if they were the bottleneck.

    python benchmarks/simulator_throughput.py [--requests 20000] [--rounds 3]
    python -m benchmarks.simulator_throughput

``main()`` returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from collections.abc import Sequence

COMMANDS = 64
CONCURRENCY = 32
ROUTE = "/web/v1/common/command/{cid}/progress"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Server:
    """A server process whose first line of output is its URL."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError(f"{argv!r} did not print its URL")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _simulator_argv() -> list[str]:
    return [
        sys.executable, "-m", "cmdprogress.testing", "serve",
        "--clock", "manual", "--commands", str(COMMANDS), "--advance", "2",
        "--log-limit", "1000",
    ]  # fmt: skip


def _baseline_argv(body_size: int) -> list[str]:
    return [sys.executable, __file__, "--baseline-server", str(body_size)]


async def _baseline_server(body_size: int) -> None:
    """A minimal aiohttp server: the progress route answering one fixed JSON body."""
    import signal

    from aiohttp import web

    body = b'{"id":1,"state":"IN_PROGRESS","pad":"' + b"x" * max(0, body_size - 39) + b'"}'

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get(ROUTE, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"http://127.0.0.1:{port}", flush=True)
    await stop.wait()
    await runner.cleanup()


async def _drive(url: str, requests: int, concurrency: int) -> float:
    """Send ``requests`` progress GETs with ``concurrency`` workers; return requests/s."""
    urls = [url + ROUTE.format(cid=cid) for cid in range(1, COMMANDS + 1)]
    counter = iter(range(requests))
    errors = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in counter:
            async with http.get(urls[i % COMMANDS]) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{errors} requests failed against {url}")
    return requests / elapsed


async def _body_size(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url + ROUTE.format(cid=1)) as resp:
        return len(await resp.read())


def run(
    requests: int = 20_000, rounds: int = 3, concurrency: int = CONCURRENCY
) -> dict[str, float]:
    """Measure both servers side by side; return the figures."""
    sim = _Server(_simulator_argv())
    try:
        size = asyncio.run(_body_size(sim.url))
        base = _Server(_baseline_argv(size))
        try:
            asyncio.run(_drive(sim.url, min(requests, 2000), concurrency))  # warm-up
            asyncio.run(_drive(base.url, min(requests, 2000), concurrency))
            sim_rates: list[float] = []
            base_rates: list[float] = []
            sim_cpu: list[float] = []
            base_cpu: list[float] = []
            for i in range(rounds):
                order = [(sim, sim_rates, sim_cpu), (base, base_rates, base_cpu)]
                for server, rates, cpu in order if i % 2 == 0 else order[::-1]:
                    cpu0 = _cpu_seconds(server.proc.pid)
                    rates.append(asyncio.run(_drive(server.url, requests, concurrency)))
                    cpu.append((_cpu_seconds(server.proc.pid) - cpu0) / requests)
        finally:
            base.close()
    finally:
        sim.close()
    sim_rps = statistics.median(sim_rates)
    base_rps = statistics.median(base_rates)
    sim_us = statistics.median(sim_cpu) * 1e6
    base_us = statistics.median(base_cpu) * 1e6
    return {
        "simulator_rps": round(sim_rps, 1),
        "baseline_rps": round(base_rps, 1),
        "ratio": round(sim_rps / base_rps, 3),
        "simulator_cpu_us_per_request": round(sim_us, 1),
        "baseline_cpu_us_per_request": round(base_us, 1),
        "cpu_ratio": round(base_us / sim_us, 3) if sim_us else 0.0,
        "requests": float(requests),
        "rounds": float(rounds),
        "concurrency": float(concurrency),
        "body_bytes": float(size),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print the figures, and return them."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=CONCURRENCY)
    p.add_argument("--baseline-server", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args([] if argv is None else argv)
    if args.baseline_server is not None:
        asyncio.run(_baseline_server(args.baseline_server))
        return {}
    figures = run(args.requests, args.rounds, args.concurrency)
    print(
        f"simulator  {figures['simulator_rps']:>9.0f} req/s\n"
        f"baseline   {figures['baseline_rps']:>9.0f} req/s  (minimal aiohttp, fixed body)\n"
        f"ratio      {figures['ratio']:>9.3f}        (target >= 0.70)\n"
        f"server CPU per request: simulator {figures['simulator_cpu_us_per_request']:.0f} us, "
        f"baseline {figures['baseline_cpu_us_per_request']:.0f} us; capacity ratio "
        f"{figures['cpu_ratio']:.3f} (baseline / simulator CPU: the rate ratio if the "
        f"servers, not the client, were the bottleneck)\n"
        f"{args.requests} requests x {args.rounds} alternating rounds, concurrency "
        f"{args.concurrency}, {COMMANDS} commands, body {figures['body_bytes']:.0f} bytes"
    )
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
