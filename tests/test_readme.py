"""The README's runnable examples run as written."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).parent.parent / "README.md"


def _marked_blocks() -> list[str]:
    """The Python blocks of README.md preceded by ``<!-- readme-test -->``."""
    return re.findall(r"<!-- readme-test -->\n```python\n(.*?)```", README.read_text(), re.S)


def test_readme_quickstart_runs_against_the_simulator() -> None:
    """The quickstart watches one command to COMPLETE and reports the failed one."""
    (code,) = _marked_blocks()
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[1] in {"NEW", "IN_PROGRESS"}
    assert lines[-3].endswith("COMPLETE 100%")
    assert lines[-2].startswith("failed: -")
    assert lines[-1] == "{1: 'COMPLETE', 2: 'FAILED'}"


def test_readme_states_both_commands() -> None:
    """The README gives the demo command and the test command."""
    text = README.read_text()
    assert "cmdprogress demo" in text
    assert "nox -s tests" in text
