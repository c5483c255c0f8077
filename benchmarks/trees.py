"""Two installs of cmdprogress side by side: did a change cost requests/s or CPU?

Each variant of the overhead benchmark (``bare``, ``get_progress``,
``watch_many``; see :mod:`benchmarks.overhead`) runs in a process of its own,
started with the Python of the *baseline* install or of the *candidate* one,
against the same simulator process, interleaved round by round (the order of
baseline and candidate alternates between rounds). The bare loop runs with the
candidate's Python (it uses aiohttp only).

For each round the figures are divided by the same round's bare run (the
machine's load moves both alike); the table gives the medians over the rounds
of those paired ratios, and *candidate / baseline*, the median over the rounds
of the candidate's figure divided by the baseline's.

Usage, e.g. the tree before a change against this checkout::

    git worktree add /tmp/before <commit>
    python -m venv /tmp/venv-before && /tmp/venv-before/bin/pip install /tmp/before orjson
    python -m benchmarks.trees --baseline /tmp/venv-before/bin/python \\
        --candidate .venv/bin/python --label-baseline "<commit>" --out benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._sim import start_sim

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "_tree_client.py"
TITLE = "9. Two versions side by side (`python -m benchmarks.trees`)"
"""The default section title; ``--title`` names another (one section per comparison)."""


def _version(python: str) -> str:
    code = "import cmdprogress, sys; print(cmdprogress.__file__)"
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True, cwd=HERE.root
    )
    return out.stdout.strip()


def _one(python: str, variant: str, url: str, ids: str, requests: int, conc: int) -> dict[str, Any]:
    argv = [python, str(CLIENT), variant, "--url", url, "--ids", ids]
    argv += ["--requests", str(requests), "--concurrency", str(conc)]
    # From the file system's root: the checkout's own cmdprogress must not shadow the install.
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=HERE.root)
    if out.returncode != 0:
        raise RuntimeError(f"{variant} with {python} failed:\n{out.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def measure(
    baseline: str,
    candidate: str,
    *,
    workloads: list[str],
    concs: list[int],
    requests: int,
    rounds: int,
) -> dict[tuple[str, int, str, str], list[dict[str, Any]]]:
    """``(workload, concurrency, variant, side) -> runs`` (side: bare, baseline, candidate)."""
    runs: dict[tuple[str, int, str, str], list[dict[str, Any]]] = {}
    for workload in workloads:
        with start_sim(workload, "--commands", "256") as (_server, sim):
            ids = ",".join(str(i) for i in sim.ids)
            for r in range(rounds):
                for conc in concs:
                    sides = [("baseline", baseline), ("candidate", candidate)]
                    if r % 2:
                        sides.reverse()
                    plan = [("bare", "bare", candidate)]
                    plan += [(v, s, py) for v in ("get_progress", "watch_many") for s, py in sides]
                    for variant, side, python in plan:
                        run = _one(python, variant, sim.url, ids, requests, conc)
                        runs.setdefault((workload, conc, variant, side), []).append(run)
                        print(
                            f"{workload} @{conc} round {r + 1}: {variant} {side}: "
                            f"{run['requests'] / run['wall']:,.0f} req/s, "
                            f"{1e6 * run['cpu'] / run['requests']:.1f} us/req",
                            file=sys.stderr,
                        )
    return runs


def _rps(run: dict[str, Any]) -> float:
    return float(run["requests"] / run["wall"])


def _cpu(run: dict[str, Any]) -> float:
    return float(1e6 * run["cpu"] / run["requests"])


def _middle_half(values: list[float]) -> str:
    """The 25th to 75th percentile of ``values``: how far one round's ratio may be trusted."""
    if len(values) < 4:
        return "-"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:.2f}-{q[2]:.2f}x"


def table(runs: dict[tuple[str, int, str, str], list[dict[str, Any]]]) -> list[str]:
    """The markdown rows: medians, paired ratios to bare, candidate / baseline."""
    rows = [
        "| workload: variant @ concurrency | side | requests/s | x bare, paired | "
        "client CPU us/request | x bare, paired | candidate / baseline (req/s, CPU) | "
        "CPU candidate / baseline, middle half of the rounds |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    keys = sorted({(w, c) for (w, c, _, _) in runs}, key=lambda k: (k[0] != "frozen", k[1]))
    for workload, conc in keys:
        bare = runs[(workload, conc, "bare", "bare")]
        rows.append(
            f"| {workload}: bare @ {conc} | - | {statistics.median(map(_rps, bare)):,.0f} | 1 | "
            f"{statistics.median(map(_cpu, bare)):.1f} | 1 | | |"
        )
        for variant in ("get_progress", "watch_many"):
            base = runs[(workload, conc, variant, "baseline")]
            cand = runs[(workload, conc, variant, "candidate")]
            for side, mine in (("baseline", base), ("candidate", cand)):
                rps_x = statistics.median(
                    _rps(m) / _rps(b) for m, b in zip(mine, bare, strict=True)
                )
                cpu_x = statistics.median(
                    _cpu(m) / _cpu(b) for m, b in zip(mine, bare, strict=True)
                )
                vs = spread = ""
                if side == "candidate":
                    r = statistics.median(
                        _rps(c) / _rps(b) for c, b in zip(cand, base, strict=True)
                    )
                    cpus = [_cpu(c) / _cpu(b) for c, b in zip(cand, base, strict=True)]
                    vs = f"{r:.3f}x, {statistics.median(cpus):.3f}x"
                    spread = _middle_half(cpus)
                rows.append(
                    f"| {workload}: {variant} @ {conc} | {side} | "
                    f"{statistics.median(map(_rps, mine)):,.0f} | {rps_x:.3f} | "
                    f"{statistics.median(map(_cpu, mine)):.1f} | {cpu_x:.3f} | {vs} | {spread} |"
                )
    return rows


def write_section(out: Path, lines: list[str]) -> None:
    """Replace (or append) the section ``lines`` starts with in ``out``; every other stays."""
    text = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    head = lines[0]
    if head in text:
        start = text.index(head)
        end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")), len(text))
        text[start:end] = [*lines, ""]
    else:
        text += ["", *lines]
    out.write_text("\n".join(text).rstrip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.trees",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--baseline", required=True, help="the Python of the install before the change")
    p.add_argument("--candidate", default=sys.executable, help="the Python of the install after it")
    p.add_argument("--label-baseline", default="baseline")
    p.add_argument("--label-candidate", default="candidate")
    p.add_argument("--workloads", default="frozen,moving")
    p.add_argument("--concurrency", default="16,64")
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--out", type=Path, default=None, help="write the section into this file")
    p.add_argument("--title", default=TITLE, help="the section's title (one per comparison)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = measure(
        args.baseline,
        args.candidate,
        workloads=[w.strip() for w in args.workloads.split(",")],
        concs=[int(c) for c in args.concurrency.split(",")],
        requests=args.requests,
        rounds=args.rounds,
    )
    minutes = (time.perf_counter() - started) / 60
    lines = [
        f"## {args.title}",
        "",
        f"*baseline*: {args.label_baseline} (`{_version(args.baseline)}`); *candidate*: "
        f"{args.label_candidate} (`{_version(args.candidate)}`). Measured on {when} "
        f"({minutes:.0f} min): {args.requests:,} requests per run, {args.rounds} rounds, "
        "each run a process of its own against one simulator process per workload; "
        "medians over the rounds. *x bare, paired*: each round's figure over the same round's "
        "bare run; *candidate / baseline*: each round's candidate figure over its baseline "
        "figure (above 1 for requests/s is faster, below 1 for CPU is cheaper); the last "
        "column, the 25th to 75th percentile of those per-round CPU ratios, shows how much "
        "one round's ratio moves: each run is a fresh process (its own hash seed and memory "
        "layout), so single rounds differ by several per cent.",
        "",
        *table(runs),
    ]
    print("\n".join(lines))
    if args.out is not None:
        write_section(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
