"""Run every benchmark and write ``benchmarks/RESULTS.md``: ``python -m benchmarks``.

Options: ``--quick`` (tiny sizes, seconds; figures meaningless, for smoke
tests), ``--only overhead,scale,freshness,simulator,decode,otel`` (a subset),
``--out PATH`` (where to write the results; default ``benchmarks/RESULTS.md``).
``python -m benchmarks freshness [--quick] [--speed S] [--no-peers]`` runs the
freshness frontier alone (issue 13) and rewrites only its sections.
``python -m benchmarks pacing`` runs the pacing workloads alone (issue 11) and
rewrites only their section.
Profiles and raw figures go to ``benchmarks/.out/`` (not committed).
``python -m benchmarks overhead [--quick] [--requests N] [--rounds N]`` runs the
overhead part alone (frozen and moving workloads, issue 13) and rewrites only its
section.
``python -m benchmarks otel [--quick]`` runs only the tracing cost and rewrites
only its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from ._harness import machine_info
from ._results import Results

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

HERE = Path(__file__).resolve().parent
PARTS = ("overhead", "scale", "freshness", "simulator", "decode", "otel")


def _capture(label: str, module: str, results: Results, *argv: str) -> None:
    """Run another owner's ``module.main()`` and put what it printed in the results."""
    out = io.StringIO()
    mod = importlib.import_module(module)
    main: Callable[..., object] = mod.main
    with contextlib.redirect_stdout(out):
        main(list(argv)) if argv else main()
    section = results.section(module.rsplit(".", 1)[-1], label)
    section.text(f"Printed by `{module}.main()` (see that file for what it measures):")
    section.lines += ["```", out.getvalue().rstrip(), "```", ""]


def run(argv: Sequence[str] | None = None) -> Results:
    """Run the selected benchmarks; return (and write) the results."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    p.add_argument(
        "--only", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS)
    )
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    results = Results(machine_info(), command.strip())
    out_dir = HERE / ".out"
    started = time.perf_counter()

    from . import freshness, otel_cost, overhead, scale

    steps: dict[str, Callable[[], None]] = {
        "overhead": lambda: asyncio.run(overhead.run(results, quick=args.quick, out_dir=out_dir)),
        "scale": lambda: asyncio.run(scale.run(results, quick=args.quick)),
        "freshness": lambda: asyncio.run(
            freshness.run(results, quick=args.quick, out_dir=out_dir, plot_dir=args.out.parent)
        ),
        "simulator": lambda: _capture(
            "5. Simulator throughput (issue 2)",
            "benchmarks.simulator_throughput",
            results,
            *(["--requests", "500", "--rounds", "1"] if args.quick else []),
        ),
        "decode": lambda: _capture(
            "6. Decoding cost (converter)", "benchmarks.decode_bench", results
        ),
        "otel": lambda: asyncio.run(otel_cost.run(results, quick=args.quick)),
    }
    for part in parts:
        t0 = time.perf_counter()
        print(f"[bench] {part} ...", file=sys.stderr, flush=True)
        try:
            steps[part]()
        except Exception as exc:
            results.errors.append(f"{part}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        print(f"[bench] {part} took {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    results.duration = time.perf_counter() - started
    results.write(args.out, out_dir / "results.json")
    print(f"[bench] wrote {args.out}", file=sys.stderr)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when every part ran (targets missed are findings, not failures).

    ``python -m benchmarks freshness [...]`` runs the freshness frontier alone and
    rewrites only its sections of ``RESULTS.md`` (see ``benchmarks/freshness.py``);
    ``python -m benchmarks pacing [...]`` the pacing benchmarks (``benchmarks/pacing.py``);
    ``python -m benchmarks wire [...]`` the moving get_progress path alone against the
    bare loop, printed only (``benchmarks/wire.py``).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["otel"]:
        from . import otel_cost

        return otel_cost.main(args[1:])
    if args[:1] == ["freshness"]:
        from . import freshness

        return freshness.main(args[1:])
    if args[:1] == ["overhead"]:
        from . import overhead

        return overhead.main(args[1:])
    if args[:1] == ["pacing"]:
        from . import pacing

        return pacing.main(args[1:])
    if args[:1] == ["wire"]:
        from . import wire

        return wire.main(args[1:])
    results = run(argv)
    return 1 if results.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
