"""`python -m cmdprogress.testing serve` as a subprocess: URL first, serves, stops on SIGTERM."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from cmdprogress.testing import ManagerSimulator, Timeline

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
    assert lines[1:] == [
        "cas_url=",
        "ca_file=",
        "auth=basic username=admin password=Sim-Passw0rd!",
        "commands=1-7",
    ]
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


async def _serve_lines(*args: str, count: int) -> tuple[list[str], Any]:
    """Start ``serve ARGS``; its first ``count`` lines and the process."""
    proc = await anyio.open_process([sys.executable, "-m", "cmdprogress.testing", "serve", *args])
    assert proc.stdout is not None
    stream = BufferedByteReceiveStream(proc.stdout)
    with anyio.fail_after(20):
        lines = [(await stream.receive_until(b"\n", 65536)).decode() for _ in range(count)]
    return lines, proc


async def _progress(url: str, cid: int, headers: dict[str, str] | None = None) -> Any:
    path = f"{url}/web/v1/common/command/{cid}/progress"
    async with aiohttp.ClientSession() as http, http.get(path, headers=headers) as r:
        assert r.status == 200
        return await r.json()


async def test_serve_without_options_serves_a_lively_workload_it_lists() -> None:
    """No options: a handful of commands that answer at once, their ids and how to watch them
    (before, the Manager was empty and every id a 404)."""
    lines, proc = await _serve_lines(count=6)
    async with proc:
        url = lines[0]
        assert lines[3] == "auth=none username=admin"
        assert lines[4] == "commands=1-8"
        assert lines[5] == f"# watch them: cmdprogress watch --url {url} 1 2 3 4 5 6 7 8"
        with anyio.fail_after(20):
            states = [(await _progress(url, cid))["state"] for cid in range(1, 9)]
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0
    assert set(states) <= {"NEW", "WAITING", "IN_PROGRESS"}  # none is over yet: lively


@pytest.mark.parametrize("auth", ["cas", "basic"])
async def test_serve_prints_the_credentials_a_client_needs(auth: str) -> None:
    """With login on, the user name and password are printed, and the hint logs in with them:
    the printed password opens a session."""
    lines, proc = await _serve_lines("--auth", auth, "--password", "Other-Pw1", count=6)
    async with proc:
        url, cas_url = lines[0], lines[1].removeprefix("cas_url=")
        assert lines[3] == f"auth={auth} username=admin password=Other-Pw1"
        hint = lines[5]
        assert hint.startswith("# watch them: CMDPROGRESS_PASSWORD=Other-Pw1 cmdprogress watch ")
        assert f"--url {url} --user admin " in hint
        assert (f"--cas-url {cas_url}" in hint) == (auth == "cas")
        assert ("--auth basic" in hint) == (auth == "basic")
        if auth == "basic":
            token = base64.b64encode(b"admin:Other-Pw1").decode()
            with anyio.fail_after(20):
                body = await _progress(url, 1, {"Authorization": f"Basic {token}"})
            assert body["id"] == 1
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0


async def test_serve_workload_0_serves_none() -> None:
    """--workload 0 is the empty Manager, on purpose: no ids, no hint."""
    lines, proc = await _serve_lines("--workload", "0", count=5)
    async with proc:
        assert lines[4] == "commands="
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0


async def test_failure_rate_applies_to_commands() -> None:
    """--failure-rate 1 with --commands makes every one of them fail (it was ignored);
    without it --commands still all complete."""
    failing, proc = await _serve_lines(
        "--clock", "manual", "--commands", "6", "--advance", "99", "--failure-rate", "1", count=1
    )
    async with proc:
        with anyio.fail_after(20):
            failed = [(await _progress(failing[0], cid))["state"] for cid in range(1, 7)]
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0
    plain, proc = await _serve_lines("--clock", "manual", "--commands", "6", "--advance", "99",
                                     count=1)  # fmt: skip
    async with proc:
        with anyio.fail_after(20):
            done = [(await _progress(plain[0], cid))["state"] for cid in range(1, 7)]
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0
    assert failed == ["FAILED"] * 6
    assert done == ["COMPLETE"] * 6


def test_failure_rate_out_of_range_is_refused() -> None:
    """--failure-rate 2 exits 2 with a message naming the option, before printing a URL."""
    proc = subprocess.run(
        [sys.executable, "-m", "cmdprogress.testing", "serve", "--commands", "2",
         "--failure-rate", "2"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "--failure-rate must be between 0 and 1, got 2.0" in proc.stderr


def test_built_failures_say_what_failed_for_every_kind() -> None:
    """Timeline.build's default failure text names the action, never 'Failed to generic'."""
    texts = {
        kind: Timeline.build(fail=True, kind=kind, service="Yarn").final.error_description
        for kind in ("start", "stop", "save", "generic")
    }
    assert texts == {
        "start": "Failed to start Yarn: an instance did not respond.",
        "stop": "Failed to stop Yarn: an instance did not respond.",
        "save": "Failed to save the configuration of Yarn: an instance did not respond.",
        "generic": "The Yarn command failed: an instance did not respond.",
    }


async def test_service_names_are_the_managers_and_an_unknown_one_lists_them() -> None:
    """The simulator knows `Yarn` (as the Manager spells it, also as `YARN`); an unknown
    service's answer lists the names that exist."""
    body = {"user_password": None, "only_self": True}
    async with ManagerSimulator() as sim:
        base = f"{sim.url}/web/v1/maintain/cluster/1/service"
        async with aiohttp.ClientSession() as http:
            answers = []
            for name in ("Yarn", "YARN", "NoSuch"):
                async with http.post(f"{base}/{name}/start", json=body) as resp:
                    answers.append(await resp.json())
        steps = [sim.timeline(a["id"]).final.steps[0][0] for a in answers[:2]]
    assert answers[0]["id"] > 0
    assert answers[1]["id"] > 0
    assert steps == ["Check Yarn dependencies", "Check Yarn dependencies"]
    assert answers[2]["id"] == -1
    assert answers[2]["error_description"].startswith("Service NoSuch does not exist. Services: ")
    for name in ("HDFS", "Yarn", "ZooKeeper", "Kafka", "Hive", "HBase", "Spark2x", "Flink"):
        assert name in answers[2]["error_description"]


async def test_serve_control_lines_move_commands_and_refuse_nonsense() -> None:
    """--control: 'advance_all K' / 'advance ID K' answer ok and move the commands; anything
    else answers an error line and the server keeps serving."""
    cmd = [
        sys.executable, "-m", "cmdprogress.testing", "serve", "--clock", "manual",
        "--commands", "2", "--steps", "2", "--control",
    ]  # fmt: skip
    async with await anyio.open_process(cmd) as proc:
        assert proc.stdout is not None
        assert proc.stdin is not None
        out = BufferedByteReceiveStream(proc.stdout)

        async def line() -> str:
            while (text := (await out.receive_until(b"\n", 4096)).decode()).startswith("#"):
                pass  # the hint lines after the header
            return text

        async def say(text: str) -> str:
            assert proc.stdin is not None
            await proc.stdin.send(text.encode() + b"\n")
            return await line()

        with anyio.fail_after(20):
            url = await line()
            for _ in range(4):
                await line()
            answers = [
                await say("dance"),
                await say("advance 99 1"),
                await say("advance_all x"),
                await say("advance 2 9"),
                await say("advance_all 1"),
            ]
            states = []
            async with aiohttp.ClientSession() as http:
                for cid in (1, 2):
                    async with http.get(f"{url}/web/v1/common/command/{cid}/progress") as resp:
                        states.append(json.loads(await resp.read())["state"])
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
    assert answers[0].startswith("error: unknown control line 'dance'")
    assert answers[1] == "error: 'no command 99 in this simulator'"
    assert answers[2].startswith("error: invalid literal")
    assert answers[3:] == ["ok", "ok"]
    assert states == ["IN_PROGRESS", "COMPLETE"]
