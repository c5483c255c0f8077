"""`cmdprogress watch` as a process where only a real process will do.

A reader that closes the pipe early (``| head -1``), ``--insecure`` against
TLS, and the password typed at a terminal prompt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import anyio
import pytest

from cmdprogress.testing import ManagerSimulator, Timeline

pytestmark = pytest.mark.anyio

PASSWORD = "Sim-Passw0rd!"
FAST = ("--interval", "0.02", "--max-interval", "0.05")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CMDPROGRESS_PASSWORD"}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cmdprogress", *args]


def _timeline() -> Timeline:
    return Timeline.build(steps=3, duration=30.0, kind="start", service="HDFS")


def _read_until(fd: int, needle: bytes) -> bytes:
    data = b""
    while needle not in data:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_reader_closing_the_pipe_ends_the_watch_quietly() -> None:
    """`watch --json | head -1`: the watch stops once the reader is gone; exit 141
    (its own status: 128 + SIGPIPE, not the 2 of a usage or login error), stderr empty."""
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(_timeline()) for _ in range(3)]
        read_end, write_end = os.pipe()
        with anyio.fail_after(20):
            proc = await anyio.open_process(
                _cmd("watch", "--url", sim.url, "--json", *FAST, *map(str, ids)),
                stdin=subprocess.DEVNULL,
                stdout=write_end,
                env=_env(),
            )
            os.close(write_end)
            with os.fdopen(read_end, "rb") as reader:
                first = await anyio.to_thread.run_sync(reader.readline)
            sim.finish_all()  # more lines to print, to nobody
            code = await proc.wait()
            assert proc.stderr is not None
            err = b"".join([chunk async for chunk in proc.stderr])
            await proc.aclose()
    assert json.loads(first)["state"] == "NEW"
    assert code == 141
    assert err == b""


async def test_insecure_watches_tls_without_a_ca_and_warns() -> None:
    """--insecure against a private-CA Manager: the watch succeeds and stderr carries a warning."""
    pytest.importorskip("trustme")
    async with ManagerSimulator(tls=True) as sim:
        cid = sim.add_command(_timeline())
        sim.finish(cid)
        with anyio.fail_after(20):
            done = await anyio.run_process(
                _cmd("watch", "--url", sim.url, "--insecure", "--json", *FAST, str(cid)),
                stdin=subprocess.DEVNULL,
                env=_env(),
                check=False,
            )
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "warning: --insecure" in err
    assert "--ca-file" in err
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert lines[-1]["complete"] == 1


async def test_password_typed_at_the_prompt_is_used_and_not_echoed() -> None:
    """Without CMDPROGRESS_PASSWORD on a terminal, the password is prompted for, unechoed, used."""
    import pty

    async with ManagerSimulator(auth="basic", password=PASSWORD) as sim:
        cid = sim.add_command(_timeline())
        sim.finish(cid)
        master, slave = pty.openpty()
        try:
            with anyio.fail_after(20):
                proc = await anyio.open_process(
                    _cmd("watch", "--url", sim.url, "--auth", "basic", "--user", "admin",
                         "--json", *FAST, str(cid)),
                    stdin=slave,
                    stderr=slave,
                    env=_env(),
                    start_new_session=True,  # no controlling terminal: the prompt uses stdin
                )  # fmt: skip
                os.close(slave)
                slave = -1
                prompt = await anyio.to_thread.run_sync(_read_until, master, b"Password for")
                os.write(master, PASSWORD.encode() + b"\n")
                rest = await anyio.to_thread.run_sync(_read_all, master)
                assert proc.stdout is not None
                out = b"".join([chunk async for chunk in proc.stdout]).decode()
                code = await proc.wait()
                await proc.aclose()
        finally:
            os.close(master)
            if slave != -1:
                os.close(slave)
        assert sim.stats.logins_ok == 1
        url = sim.url
    assert code == 0, rest
    assert b"Password for admin at " + url.encode() in prompt
    assert PASSWORD.encode() not in prompt + rest
    summary = json.loads(out.splitlines()[-1])
    assert (summary["complete"], summary["logins"]) == (1, 1)


@pytest.mark.parametrize(
    ("ids", "needle"),
    [([], "no command ids"), (["-"], "'-' reads ids from standard input, but it is closed")],
)
async def test_closed_standard_input_is_a_usage_error(ids: list[str], needle: str) -> None:
    """With standard input closed (`<&-`), a missing id list is exit 2 with a message, no crash."""
    closed = [
        "sh",
        "-c",
        'exec "$@" <&-',
        "sh",
        *_cmd("watch", "--url", "http://127.0.0.1:9", *ids),
    ]
    with anyio.fail_after(20):
        done = await anyio.run_process(closed, env=_env(), check=False)
    err = done.stderr.decode()
    assert done.returncode == 2
    assert needle in err
    assert "Traceback" not in err
