"""`python -m cmdprogress.testing serve` as a subprocess: URL first, serves, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.anyio


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """A serve process with a workload, basic auth and a camel style; stopped afterwards."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cmdprogress.testing",
            "serve",
            "--workload",
            "5",
            "--seed",
            "2",
            "--auth",
            "basic",
            "--clock",
            "manual",
            "--style",
            "camel",
            "--commands",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(5)]
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


async def test_serve_prints_url_first_and_serves(
    served: tuple[subprocess.Popen[str], list[str]],
) -> None:
    """The first line is the web URL; the others describe the run; requests are served."""
    proc, lines = served
    url = lines[0]
    assert url.startswith("http://127.0.0.1:")
    assert lines[1:] == ["cas_url=", "ca_file=", "auth=basic username=admin", "commands=1-7"]
    headers = {"Authorization": "Basic YWRtaW46U2ltLVBhc3N3MHJkIQ=="}  # admin:Sim-Passw0rd!
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/web/v1/common/command/7/progress", headers=headers) as resp:
            assert resp.status == 200
            body = await resp.json()
        async with http.get(f"{url}/web/v1/common/command/7/progress") as resp:
            assert resp.status == 401
    assert body["id"] == 7
    assert "totalProgress" in body
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_serve_stops_cleanly_on_sigint(served: tuple[subprocess.Popen[str], list[str]]) -> None:
    """SIGINT ends the process with status 0 and nothing on stderr."""
    proc, _ = served
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert err == ""


def test_serve_rejects_bad_arguments() -> None:
    """A bad option value exits non-zero with a message, before printing a URL."""
    proc = subprocess.run(
        [sys.executable, "-m", "cmdprogress.testing", "serve", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "speed" in proc.stderr


async def test_serve_applies_advance_and_a_seeded_fault_rate() -> None:
    """--advance moves the commands on before serving; --fault-rate faults that share of polls."""
    cmd = [
        sys.executable, "-m", "cmdprogress.testing", "serve", "--clock", "manual", "--seed", "3",
        "--commands", "1", "--advance", "99", "--fault", "503", "--fault-rate", "0.5",
    ]  # fmt: skip
    async with await anyio.open_process(cmd) as proc:
        assert proc.stdout is not None
        with anyio.fail_after(20):
            url = (await BufferedByteReceiveStream(proc.stdout).receive_until(b"\n", 4096)).decode()
            answers = []
            async with aiohttp.ClientSession() as http:
                for _ in range(20):
                    async with http.get(f"{url}/web/v1/common/command/1/progress") as resp:
                        answers.append((resp.status, await resp.read()))
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
    statuses = {status for status, _ in answers}
    assert statuses == {200, 503}
    assert all(json.loads(body)["state"] == "COMPLETE" for status, body in answers if status == 200)
