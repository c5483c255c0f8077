"""The shipped fixtures under pytest-asyncio: the simulator runs on the test's own loop.

Run by ``nox -s compat`` (pytest-asyncio installed); skipped where it is not installed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("pytest_asyncio")

from cmdprogress import Client, CommandState, PollPolicy
from cmdprogress.testing import ManagerSimulator, Timeline

if TYPE_CHECKING:
    from pathlib import Path

    from cmdprogress.testing.pytest_plugin import ManagerSimFactory

pytest_plugins = ["cmdprogress.testing.pytest_plugin"]

FAST = PollPolicy(interval=0.01, max_interval=0.05)


# README.md quotes this test as a user's example: keep them in sync.
@pytest.mark.asyncio
async def test_my_code_waits_for_the_command(manager_sim: ManagerSimulator) -> None:
    """wait() returns the COMPLETE snapshot once the simulated command finishes."""
    cid = manager_sim.add_command(Timeline.build(steps=3, duration=60.0))
    async with Client(manager_sim.url, poll=PollPolicy(interval=0.01, max_interval=0.05)) as client:
        first = await client.get_progress(cid)
        manager_sim.finish(cid)
        final = await asyncio.wait_for(client.wait(cid), 30)
    assert first.state is CommandState.NEW
    assert final.succeeded


@pytest.mark.asyncio
async def test_factory_simulators_answer_on_the_tests_loop(
    manager_sim_factory: ManagerSimFactory,
) -> None:
    """Simulators from the factory serve on the loop the test runs on (a wait ends)."""
    sim = await manager_sim_factory(auth="basic")
    plain = await manager_sim_factory()
    cid = plain.add_command(Timeline.build(steps=2, duration=60.0))
    plain.finish(cid)
    async with Client(plain.url, poll=FAST) as client:
        final = await asyncio.wait_for(client.wait(cid), 30)
    assert final.state is CommandState.COMPLETE
    assert sim.url != plain.url
    assert plain.stats.progress_requests[cid] >= 1


@pytest.mark.asyncio(loop_scope="module")
async def test_a_module_scoped_loop_gets_its_simulator_on_that_loop(
    manager_sim: ManagerSimulator,
) -> None:
    """With loop_scope="module" the simulator runs on the module's loop, the test's."""
    cid = manager_sim.add_command(Timeline.build(steps=2, duration=60.0))
    manager_sim.finish(cid)
    async with Client(manager_sim.url, poll=FAST) as client:
        final = await asyncio.wait_for(client.wait(cid), 30)
    assert final.state is CommandState.COMPLETE


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_a_pytest_asyncio_project_needs_only_the_plugin_line(tmp_path: Path, mode: str) -> None:
    """A user's project run by pytest-asyncio (strict or auto mode): no anyio_backend needed."""
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["cmdprogress.testing.pytest_plugin"]\n'
    )
    marker = "@pytest.mark.asyncio\n" if mode == "strict" else ""
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            import pytest

            from cmdprogress import Client, PollPolicy
            from cmdprogress.testing import Timeline

            {marker}async def test_wait(manager_sim, manager_sim_factory):
                other = await manager_sim_factory(auth="basic")
                cid = manager_sim.add_command(Timeline.build())
                manager_sim.finish(cid)
                async with Client(manager_sim.url, poll=PollPolicy(interval=0.01)) as client:
                    final = await asyncio.wait_for(client.wait(cid), 30)
                assert final.succeeded
                assert other.url != manager_sim.url
            """
        ).format(marker=marker)
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-W",
            "error",
            "-o",
            f"asyncio_mode={mode}",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
