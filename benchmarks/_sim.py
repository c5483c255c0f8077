"""Start the benchmark simulator (``benchmarks._simserver``) in its own process."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ._harness import ServerProcess

if TYPE_CHECKING:
    from collections.abc import Iterator


@attrs.frozen
class SimInfo:
    """What the simulator process told us: URL, clock and commands.

    A snapshot whose ``at`` is ``a`` (simulated seconds after its command was
    added) became current at ``time.monotonic()`` instant
    ``epoch_monotonic + (added_at[i] + a) / speed`` in this process too.
    """

    url: str
    epoch_monotonic: float
    speed: float
    ids: list[int]
    added_at: list[float]

    def current_at(self, index: int, at: float) -> float:
        """The monotonic instant the snapshot ``at`` of command ``ids[index]`` became current."""
        return self.epoch_monotonic + (self.added_at[index] + at) / self.speed


@contextlib.contextmanager
def start_sim(*args: str, log_limit: int = 1000) -> Iterator[tuple[ServerProcess, SimInfo]]:
    """Run ``python -m benchmarks._simserver ARGS`` until the block ends."""
    with tempfile.TemporaryDirectory(prefix="cmdprogress-bench-") as tmp:
        info_path = Path(tmp) / "info.json"
        argv = [
            sys.executable,
            "-m",
            "benchmarks._simserver",
            "--log-limit",
            str(log_limit),
            "--info",
            str(info_path),
            *args,
        ]
        with ServerProcess(argv, start_timeout=120.0) as server:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            yield (
                server,
                SimInfo(
                    url=server.url,
                    epoch_monotonic=float(info["epoch_monotonic"]),
                    speed=float(info["speed"]),
                    ids=[int(i) for i in info["ids"]],
                    added_at=[float(a) for a in info["added_at"]],
                ),
            )
