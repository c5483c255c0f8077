"""Memory of a stalled consumer: two flapping commands with 1 MiB answers, nobody reading.

``python -m benchmarks.lagging_memory [--changes 60]``: a small hostile server on
127.0.0.1 answers every poll of commands 1 and 2 with a new 1 MiB body of 349,000
empty steps whose state flips between IN_PROGRESS and WAITING (every poll a state
change, every body decoded); one ``watch_many([1, 2])`` is opened and never read
while the engine sees ``--changes`` changes per command.  Prints the process RSS
before, at the end, and the peak, plus what the mailbox holds.

Run it from two checkouts (``PYTHONPATH=<checkout> python -m benchmarks.lagging_memory``)
to compare: the figure is a side-by-side comparison, not a threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
from typing import TYPE_CHECKING

from aiohttp import web

from cmdprogress import Client, PollPolicy, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Sequence

STEPS = 349_000


def _rss_mib() -> float:
    """Resident set size of this process now, in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Flapper:
    """Every answer: a new state (two alternate) and 349,000 empty steps, about 1 MiB."""

    def __init__(self, changes: int) -> None:
        self.changes = changes
        self.done = asyncio.Event()  # set once both commands were polled `changes` times
        self.polls: dict[int, int] = {}
        self.tail = b"]}}"
        self.steps = b",".join([b"{}"] * STEPS)

    async def handle(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["cid"])
        n = self.polls[cid] = self.polls.get(cid, 0) + 1
        if min(self.polls.get(1, 0), self.polls.get(2, 0)) >= self.changes:
            self.done.set()
        state = b"WAITING" if n % 2 else b"IN_PROGRESS"
        head = b'{"state":"%s","total_progress":%d,"res_obj":{"step_list":[' % (state, n)
        return web.Response(body=head + self.steps + self.tail, content_type="application/json")


async def run(changes: int) -> dict[str, float]:
    """Watch two flapping commands without reading; return the memory figures."""
    flapper = Flapper(changes)
    app = web.Application()
    app.router.add_get("/web/v1/common/command/{cid}/progress", flapper.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    gc.collect()
    before = _rss_mib()
    poll = PollPolicy(interval=0.001, max_interval=0.001, jitter=0)
    try:
        async with (
            Client(f"http://127.0.0.1:{port}", poll=poll, retry=RetryPolicy(attempts=1)) as client,
            client.watch_many([1, 2]) as watch,
        ):
            await flapper.done.wait()
            gc.collect()
            end = _rss_mib()
            inbox = getattr(watch, "_inbox", None)  # absent before the byte budget
            held = float(getattr(inbox, "bytes", -1)) / 2**20
            overflowed = client.watch_stats.overflowed
    finally:
        await runner.cleanup()
    return {
        "rss_before_mib": before,
        "rss_end_mib": end,
        "rss_peak_mib": _peak_mib(),
        "mailbox_estimate_mib": held,
        "overflowed": float(overflowed),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figures for one checkout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lagging_memory")
    parser.add_argument("--changes", type=int, default=60, help="changes per command")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.changes))
    for name, value in figures.items():
        print(f"{name}: {value:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
