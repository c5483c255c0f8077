"""The moving get_progress path alone, paired with the bare loop: a narrow overhead run.

``python -m benchmarks wire [--rounds N] [--requests N] [--concurrency 16,64]
[--variants get_progress,watch_many] [--profile N]``

Starts the *moving* simulator (``benchmarks/_simserver.py moving``, 256 ids) and
runs, for each round and concurrency, the bare loop then each variant, as
``benchmarks/overhead.py`` does, and prints each round's paired ratios
(requests/s and client CPU per request, variant / bare of the same round) and
their medians.  Nothing is written to ``RESULTS.md``: this is the quick check
used while changing the transport and the decoder; the overhead section stays
the reference.  ``--profile N`` adds a cProfile run of N get_progress requests
at concurrency 64 and prints the own time per request of the hottest functions
and of each cmdprogress module.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
from typing import TYPE_CHECKING

from ._sim import start_sim
from .overhead import Run, _short, measure

if TYPE_CHECKING:
    from collections.abc import Sequence


async def _run(args: argparse.Namespace) -> None:
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    runs: dict[tuple[str, int], list[Run]] = {}
    with start_sim("moving", "--commands", "256") as (server, sim):
        for rnd in range(args.rounds):
            for conc in concurrencies:
                for variant in ("bare", *variants):
                    r = await measure(variant, sim, server, conc, args.requests)
                    runs.setdefault((variant, conc), []).append(r)
                line = [f"round {rnd + 1} @ {conc}: bare {runs[('bare', conc)][-1].cpu_us:.0f} us"]
                base = runs[("bare", conc)][-1]
                for variant in variants:
                    r = runs[(variant, conc)][-1]
                    line.append(
                        f"{variant} {r.cpu_us:.0f} us, x{r.rps / base.rps:.3f} rps, "
                        f"x{r.cpu_us / base.cpu_us:.3f} cpu"
                    )
                print("; ".join(line), flush=True)
        if args.profile:
            prof = cProfile.Profile()
            await measure("get_progress", sim, server, 64, args.profile, prof)
    for conc in concurrencies:
        bases = runs[("bare", conc)]
        for variant in variants:
            mine = runs[(variant, conc)]
            rps = statistics.median(r.rps / b.rps for r, b in zip(mine, bases, strict=True))
            cpu = statistics.median(r.cpu_us / b.cpu_us for r, b in zip(mine, bases, strict=True))
            us = statistics.median(r.cpu_us for r in mine)
            bare_us = statistics.median(b.cpu_us for b in bases)
            print(
                f"MEDIAN {variant} @ {conc}: x{rps:.3f} requests/s, x{cpu:.3f} CPU per request "
                f"({us:.1f} vs bare {bare_us:.1f} us), {args.rounds} rounds"
            )
    if args.profile:
        _print_profile(prof, args.profile)


def _print_profile(prof: cProfile.Profile, requests: int) -> None:
    """Own time per request by file and by function (cProfile inflates Python code)."""
    entries = pstats.Stats(prof, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    per_file: dict[str, float] = {}
    rows = []
    for (filename, line, func), (_, ncalls, tottime, _, _) in entries.items():
        short = _short(filename)
        if "cattrs generated" in filename:
            short = "cattrs generated"
        per_file[short] = per_file.get(short, 0.0) + tottime
        rows.append((tottime, f"{short}:{line}({func}) {ncalls / requests:.2f} calls/request"))
    total = sum(per_file.values())
    print(f"own time per request (cProfile): {1e6 * total / requests:.1f} us in all; by file:")
    for name, t in sorted(per_file.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {1e6 * t / requests:6.2f} us  {name}")
    print("by function:")
    for t, what in sorted(rows, reverse=True)[:45]:
        print(f"  {1e6 * t / requests:6.2f} us  {what}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks wire``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks wire", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", default="16,64")
    p.add_argument("--variants", default="get_progress")
    p.add_argument("--profile", type=int, default=0, help="profile N requests @ 64 (0: no)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
