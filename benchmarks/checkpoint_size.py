"""What a watcher checkpoint costs: bytes per watched command, CPU to write and read one.

Deterministic sizes: the seeded workload's commands (``Workload(count=1000,
seed=1)``, up to 8 steps each, some with failed instances) as the client
decodes them, taken at three points of their timelines: before anything was
handed out (``last`` is ``null``), at the middle snapshot, at the last
snapshot before the end. Sizes are of ``json.dumps(watcher.checkpoint())``
(default separators). The CPU figures (build the checkpoint, ``json.dumps``
it; ``json.loads`` and validate it as ``resume_from`` does) are medians of
several repetitions in this process.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import TYPE_CHECKING

from cmdprogress._checkpoint import make_checkpoint, read_checkpoint
from cmdprogress._convert import decode_progress
from cmdprogress.testing import Workload
from cmdprogress.testing._timeline import encode_snapshot

if TYPE_CHECKING:
    from cmdprogress import CommandProgress

    from ._results import Section

COUNT = 1000


def _owed(point: str) -> dict[int, CommandProgress | None]:
    out: dict[int, CommandProgress | None] = {}
    for cid, timeline in enumerate(Workload(count=COUNT, seed=1).timelines(), start=1):
        snaps = timeline.snapshots
        if point == "nothing handed out yet":
            out[cid] = None
            continue
        index = len(snaps) // 2 if point == "middle snapshot" else max(len(snaps) - 2, 0)
        body = encode_snapshot(snaps[index], style=timeline.style, wire_id=cid)
        out[cid] = decode_progress(cid, body)
    return out


def _median_seconds(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.process_time() - t0)
    return statistics.median(times)


def measure(section: Section, *, quick: bool = False) -> dict[str, float]:
    """Add the checkpoint-size table to ``section``; return bytes per command by point."""
    repeat = 3 if quick else 15
    rows = []
    per_command: dict[str, float] = {}
    for point in ("nothing handed out yet", "middle snapshot", "last before the end"):
        owed = _owed(point)
        text = json.dumps(make_checkpoint(owed))
        size = len(text.encode())
        per_command[point] = size / COUNT
        write = _median_seconds(lambda owed=owed: json.dumps(make_checkpoint(owed)), repeat)
        read = _median_seconds(lambda text=text: read_checkpoint(json.loads(text)), repeat)
        rows.append(
            [
                point,
                f"{size / COUNT:.0f}",
                f"{size / 1024:.0f} KiB",
                f"{1e6 * write / COUNT:.1f}",
                f"{1e6 * read / COUNT:.1f}",
            ]
        )
    section.text(
        f"**Checkpoint size** (`benchmarks/checkpoint_size.py`): {COUNT:,} commands of the "
        "seeded workload (`Workload(count=1000, seed=1)`), as `json.dumps(watcher.checkpoint())`."
    )
    section.table(
        [
            "last snapshot handed out",
            "bytes / command",
            f"checkpoint of {COUNT:,}",
            "write us / command",
            "read us / command",
        ],
        rows,
    )
    return per_command
