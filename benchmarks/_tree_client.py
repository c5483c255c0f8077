"""One measured client run, in its own process, with whichever cmdprogress this Python has.

Run by :mod:`benchmarks.trees` as a script (``python benchmarks/_tree_client.py
...``), so that ``import cmdprogress`` finds the install of the interpreter
that runs it, not this checkout. It uses the public API only, which every
version being compared has, and prints one JSON line::

    {"requests": 5000, "wall": 0.61, "cpu": 0.58, "delivered": 5000}

``cpu`` is this process's CPU time (user + system) over the measured part, after
a warm-up; ``delivered`` is the snapshots a ``watch_many`` consumer read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any


async def _bare(url: str, paths: list[str], total: int, conc: int, warm: int) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:

        async def loop(count: int) -> None:
            remaining = count
            urls = [url + p for p in paths]

            async def worker(k: int) -> None:
                nonlocal remaining
                i = k
                while remaining > 0:
                    remaining -= 1
                    async with session.get(urls[i % len(urls)]) as resp:
                        body = await resp.read()
                    json.loads(body)
                    i += conc

            await asyncio.gather(*(worker(k) for k in range(conc)))

        await loop(warm)
        cpu, wall = time.process_time(), time.perf_counter()
        await loop(total)
        return {
            "requests": total,
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "delivered": 0,
        }


def _client(url: str, conc: int) -> Any:
    from cmdprogress import Client, PollPolicy

    poll = PollPolicy(interval=1e-6, max_interval=1e-6, backoff=1.0, jitter=0.0)
    return Client(url, max_concurrency=conc, poll=poll)


async def _get_progress(
    url: str, ids: list[int], total: int, conc: int, warm: int
) -> dict[str, Any]:
    async with _client(url, conc) as client:

        async def loop(count: int) -> None:
            remaining = count

            async def worker(k: int) -> None:
                nonlocal remaining
                i = k
                while remaining > 0:
                    remaining -= 1
                    await client.get_progress(ids[i % len(ids)])
                    i += conc

            await asyncio.gather(*(worker(k) for k in range(conc)))

        await loop(warm)
        cpu, wall = time.process_time(), time.perf_counter()
        await loop(total)
        return {
            "requests": total,
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "delivered": 0,
        }


async def _watch_many(
    url: str, ids: list[int], total: int, conc: int, _warm: int
) -> dict[str, Any]:
    async with _client(url, conc) as client:
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
            await first.wait()  # warm-up: every command polled and delivered once
            before, seen_before = client.stats.requests, seen
            cpu, wall = time.process_time(), time.perf_counter()
            # Sampling the counter from a side task leaves the request path as it is.
            while client.stats.requests < before + total:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
            out = {
                "requests": client.stats.requests - before,
                "wall": time.perf_counter() - wall,
                "cpu": time.process_time() - cpu,
                "delivered": seen - seen_before,
            }
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("variant", choices=("bare", "get_progress", "watch_many"))
    p.add_argument("--url", required=True)
    p.add_argument("--ids", required=True, help="comma-separated command ids")
    p.add_argument("--requests", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    args = p.parse_args()
    ids = [int(x) for x in args.ids.split(",")]
    warm = max(4 * args.concurrency, min(2000, args.requests // 10))
    if args.variant == "bare":
        paths = [f"/web/v1/common/command/{cid}/progress" for cid in ids]
        run = _bare(args.url, paths, args.requests, args.concurrency, warm)
    elif args.variant == "get_progress":
        run = _get_progress(args.url, ids, args.requests, args.concurrency, warm)
    else:
        run = _watch_many(args.url, ids, args.requests, args.concurrency, warm)
    print(json.dumps(asyncio.run(run)))


if __name__ == "__main__":
    main()
