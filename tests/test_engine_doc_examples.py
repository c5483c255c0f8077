"""The checkpoint and OpenTelemetry examples of docs/engine.md run as written."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

DOC = pathlib.Path(__file__).parent.parent / "docs" / "engine.md"


def _run(marker: str) -> list[str]:
    """Run the Python block after ``<!-- doc-test: marker -->``; return its output lines."""
    found = re.search(rf"<!-- doc-test: {marker} -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert found is not None, marker
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", found.group(1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_checkpoint_example_resumes_without_repeating_anything() -> None:
    """The second life prints no snapshot the first one printed, ends every command once,
    and leaves an empty checkpoint."""
    lines = _run("checkpoint")
    crash = lines.index("-- the process dies --")
    before, after = lines[:crash], lines[crash + 1 : -1]
    assert len(before) == 4
    assert not set(before) & set(after)
    finals = [line for line in before + after if line.endswith("COMPLETE 100%")]
    assert sorted(finals) == sorted(set(finals))
    assert len(finals) == 3
    assert lines[-1] == "left: []"


def test_the_otel_example_prints_poll_spans_and_metrics() -> None:
    """Poll spans carry the command id and state, the last one COMPLETE; the watch counters
    are metrics."""
    pytest.importorskip("opentelemetry.sdk")
    lines = _run("otel")
    polls = [line for line in lines if line.startswith("cmdprogress.poll 1 ")]
    assert polls
    assert polls[-1] == "cmdprogress.poll 1 COMPLETE retries: 0"
    metrics = lines[-1]
    for name in (
        "cmdprogress.watch.polls",
        "cmdprogress.watch.terminal",
        "cmdprogress.watch.changes",
    ):
        assert f"'{name}'" in metrics
