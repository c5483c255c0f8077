"""Decoding cost per poll: decode_progress next to a bare ``json.loads`` of the same body.

Run: ``python benchmarks/decode_bench.py`` (or ``nox -s bench``).  Every figure is
measured side by side in one run and reported as a ratio to the bare parse, so
the numbers mean the same on a fast or a slow machine.

Rows:
  json.loads          the baseline: parse only, no validation, no objects
  orjson.loads        parse only, with orjson (if installed)
  decode (stdlib)     cmdprogress with the standard library's parser
  decode (orjson)     cmdprogress with orjson (what a user gets with the extra)
"""

from __future__ import annotations

import json
import sys
import timeit
from typing import TYPE_CHECKING, Any

from cmdprogress._convert import _decode_progress, _loads_orjson, _loads_stdlib

if TYPE_CHECKING:
    from collections.abc import Callable

try:
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]


def _steps(n: int, done: int) -> list[dict[str, str]]:
    names = ["Check", "Stop", "Start", "Sync", "Verify", "Refresh"]
    return [
        {
            "name": f"{names[i % len(names)]} the role instances of service HDFS ({i + 1}/{n})",
            "description": ("Succeeded" if i < done else "Running")
            + f" on host node-{i % 7 + 1}.cluster.local: 检查实例状态",
        }
        for i in range(n)
    ]


# Realistic bodies, shaped like the Manager's answers while a service restarts.
BODIES: dict[str, bytes] = {
    "starting, camelCase, 3 steps": json.dumps(
        {
            "id": -1,
            "state": "IN_PROGRESS",
            "errorCode": 0,
            "errorDescription": None,
            "totalProgress": 35,
            "resObj": {
                "clusterId": 1,
                "stepList": _steps(3, 1),
                "failEntityList": [],
                "totalStepSize": 12,
            },
        }
    ).encode(),
    "running, snake_case, 12 steps": json.dumps(
        {
            "id": -1,
            "state": "IN_PROGRESS",
            "error_code": 0,
            "error_description": "",
            "total_progress": 66.7,
            "res_obj": {
                "cluster_id": 1,
                "step_list": _steps(12, 8),
                "fail_entity_list": [],
                "total_step_size": 12,
            },
        }
    ).encode(),
    "failed, 12 steps, 4 failed instances": json.dumps(
        {
            "id": -1,
            "state": "FAILED",
            "error_code": -324,
            "error_description": "Failed to start the service. Check the role logs.",
            "total_progress": 100,
            "res_obj": {
                "cluster_id": 1,
                "step_list": _steps(12, 12),
                "fail_entity_list": [
                    {"fail_entity": f"DataNode@node-{i}.cluster.local", "operation_type": "START"}
                    for i in range(4)
                ],
                "total_step_size": 12,
            },
        }
    ).encode(),
}


def _measure(rows: list[tuple[str, Callable[[], Any]]], rounds: int = 15) -> dict[str, float]:
    """Best seconds per call of each row, the rows interleaved round by round.

    Interleaving puts every row under the same background load, which matters
    more for a ratio than the absolute figures do.
    """
    timers = {name: timeit.Timer(fn) for name, fn in rows}
    numbers = {name: max(1, timer.autorange()[0] // 10) for name, timer in timers.items()}
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(rounds):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(numbers[name]) / numbers[name])
    return best


def main() -> int:
    """Print one table per body: microseconds per call and the ratio to json.loads."""
    print(f"Python {sys.version.split()[0]}; orjson {'yes' if orjson else 'not installed'}")
    worst_stdlib = worst_orjson = 0.0
    for label, body in BODIES.items():
        rows: list[tuple[str, Callable[[], Any]]] = [
            ("json.loads", lambda b=body: json.loads(b)),
            ("decode (stdlib)", lambda b=body: _decode_progress(_loads_stdlib, 1, b, "")),
        ]
        if orjson is not None:
            rows[1:1] = [("orjson.loads", lambda b=body: orjson.loads(b))]
            rows.append(
                ("decode (orjson)", lambda b=body: _decode_progress(_loads_orjson, 1, b, ""))
            )
        times = _measure(rows)
        base = times["json.loads"]
        print(f"\n{label} ({len(body)} bytes)")
        for name, seconds in times.items():
            print(f"  {name:<16} {seconds * 1e6:8.2f} us   {seconds / base:5.2f}x json.loads")
        worst_stdlib = max(worst_stdlib, times["decode (stdlib)"] / base)
        if "decode (orjson)" in times:
            worst_orjson = max(worst_orjson, times["decode (orjson)"] / base)
    print(f"\nworst decode (stdlib) / json.loads: {worst_stdlib:.2f}x")
    if orjson is not None:
        print(f"worst decode (orjson) / json.loads: {worst_orjson:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
