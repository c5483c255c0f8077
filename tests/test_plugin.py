"""The pytest plugin: fixtures a user gets with one pytest_plugins line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import aiohttp
import pytest

from cmdprogress import Client, CommandState, PollPolicy
from cmdprogress.testing import ManagerSimulator, Timeline

if TYPE_CHECKING:
    from pathlib import Path

    from cmdprogress.testing.pytest_plugin import ManagerSimFactory

pytest_plugins = ["cmdprogress.testing.pytest_plugin"]


# README.md quotes this test as a user's example: keep them in sync.
@pytest.mark.anyio
async def test_my_code_waits_for_the_command(manager_sim: ManagerSimulator) -> None:
    """wait() returns the COMPLETE snapshot once the simulated command finishes."""
    cid = manager_sim.add_command(Timeline.build(steps=3, duration=60.0))
    async with Client(manager_sim.url, poll=PollPolicy(interval=0.01, max_interval=0.05)) as client:
        first = await client.get_progress(cid)
        manager_sim.finish(cid)
        final = await client.wait(cid)
    assert first.state is CommandState.NEW
    assert final.succeeded
    assert final.total_progress == 100.0


# docs/testing.md quotes this test as a user's example: keep them in sync.
@pytest.mark.anyio
async def test_my_code_sees_the_command_finish(manager_sim: ManagerSimulator) -> None:
    """A command polled after finish() answers COMPLETE at 100 %."""
    cid = manager_sim.add_command(Timeline.build(steps=3, duration=60.0))
    url = f"{manager_sim.url}/web/v1/common/command/{cid}/progress"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert (await resp.json())["state"] == "NEW"
        manager_sim.finish(cid)
        async with http.get(url) as resp:
            body = await resp.json()
    assert body["state"] == "COMPLETE"
    assert body["total_progress"] == 100.0
    assert manager_sim.stats.progress_requests[cid] == 2


@pytest.mark.anyio
async def test_factory_starts_custom_simulators(manager_sim_factory: ManagerSimFactory) -> None:
    """The factory starts independent simulators with the configuration given."""
    cas = await manager_sim_factory(auth="cas")
    basic = await manager_sim_factory(auth="basic", clock="real", speed=2.0)
    assert cas.cas_url is not None
    assert basic.cas_url is None
    assert cas.url != basic.url
    async with aiohttp.ClientSession() as http, http.get(f"{basic.url}/web/") as resp:
        assert resp.status == 401


def test_plugin_works_from_a_users_conftest(tmp_path: Path) -> None:
    """A fresh project with the documented conftest runs a simulator test, closing it cleanly."""
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest

            pytest_plugins = ["cmdprogress.testing.pytest_plugin"]

            @pytest.fixture
            def anyio_backend() -> str:
                return "asyncio"
            """
        )
    )
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import pytest

            from cmdprogress.testing import Timeline

            URLS = []

            @pytest.mark.anyio
            async def test_one(manager_sim, manager_sim_factory):
                cas = await manager_sim_factory(auth="cas")
                cid = manager_sim.add_command(Timeline.build())
                manager_sim.finish(cid)
                assert manager_sim.snapshot(cid).state == "COMPLETE"
                URLS.append((manager_sim.url, cas.url))

            def test_closed_after():
                assert URLS
            """
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "anyio",
            "-p",
            "no:asyncio",  # this user runs anyio's plugin only (pytest-asyncio: see below)
            "-W",
            "error",
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
    assert "2 passed" in proc.stdout
