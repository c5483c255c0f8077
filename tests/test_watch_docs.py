"""The example at the top of docs/engine.md runs as written."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

DOC = pathlib.Path(__file__).parent.parent / "docs" / "engine.md"


def test_engine_doc_example_runs() -> None:
    """The first Python block of docs/engine.md runs against the simulator and prints results."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code.group(1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any("COMPLETE 100%" in line for line in lines)
    assert "failed:" in lines[-1]
    assert "'FAILED'" in lines[-2]
