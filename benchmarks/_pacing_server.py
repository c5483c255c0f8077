"""The simulator for the pacing benchmarks: its own process, a capacity, faults, a signal.

    python -m benchmarks._pacing_server --commands 200 --steps 50 --duration 100 \
        --capacity 100,30,100 --faults 429:0.04,503:0.04

- ``--capacity R1,R2,...``: the Manager serves R1 answers/s (429 with
  ``Retry-After: 1`` above that); each SIGUSR1 moves to the next rate, so the
  benchmark process changes the capacity at instants of its own clock.
- ``--faults KIND:SHARE,...``: sporadic faults whatever the load (429/503
  carry ``Retry-After: 1``; also 500, 502, reset, truncated), absolute shares.

Prints the URL as its first line, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from cmdprogress.testing import Capacity, Fault, ManagerSimulator, Timeline

if TYPE_CHECKING:
    from collections.abc import Sequence

_FAULTS = {
    "429": lambda: Fault.status(429, retry_after=1),
    "503": lambda: Fault.status(503, retry_after=1),
    "500": lambda: Fault.status(500),
    "502": lambda: Fault.status(502),
    "reset": Fault.reset,
    "truncated": Fault.truncated,
}


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks._pacing_server")
    p.add_argument("--commands", type=int, default=200)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--duration", type=float, default=100.0)
    p.add_argument("--capacity", default="", help="R1,R2,...: SIGUSR1 moves to the next")
    p.add_argument("--faults", default="", help="KIND:SHARE,... (absolute shares)")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Serve until a signal."""
    rates = [float(r) for r in args.capacity.split(",") if r]
    capacity = Capacity(rates[0], status=429, retry_after=1.0) if rates else None
    async with ManagerSimulator(clock="real", capacity=capacity, log_limit=0) as sim:
        for _ in range(args.commands):
            sim.add_command(Timeline.build(steps=args.steps, duration=args.duration))
        taken = 0.0
        for i, item in enumerate(x for x in args.faults.split(",") if x):
            kind, _, share_text = item.partition(":")
            share = float(share_text)
            sim.faults.set_rate(_FAULTS[kind](), rate=share / (1.0 - taken), seed=args.seed + i)
            taken += share
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        position = [0]

        def next_rate() -> None:
            if capacity is not None and position[0] + 1 < len(rates):
                position[0] += 1
                capacity.set_rate(rates[position[0]])

        loop.add_signal_handler(signal.SIGUSR1, next_rate)
        sys.stdout.write(sim.url + "\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point."""
    asyncio.run(serve(parse(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
