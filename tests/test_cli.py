"""The command line, run as a user runs it: a subprocess against a real simulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import anyio
import attrs
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from cmdprogress.testing import ManagerSimulator, Timeline

PASSWORD = "Sim-Passw0rd!"
FAST = ("--interval", "0.02", "--max-interval", "0.05")


@attrs.frozen
class Done:
    code: int
    out: str
    err: str

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def _env(password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CMDPROGRESS_PASSWORD"}
    env.pop("NO_COLOR", None)
    if password is not None:
        env["CMDPROGRESS_PASSWORD"] = password
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cmdprogress", *args]


async def cli(*args: str, password: str | None = None, stdin: bytes | None = None) -> Done:
    """Run ``cmdprogress ARGS`` without a terminal; collect its exit status and output."""
    with anyio.fail_after(30):
        proc = await anyio.run_process(
            _cmd(*args),
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            env=_env(password),
            check=False,
            start_new_session=True,  # no controlling terminal: nothing can prompt
        )
    return Done(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def _timeline(*, fail: bool = False) -> Timeline:
    return Timeline.build(steps=3, duration=30.0, fail=fail, kind="start", service="HDFS")


@pytest.mark.anyio
async def test_json_lines_follow_each_change_to_completion() -> None:
    """--json prints one object per change (NEW, each step, COMPLETE), then a summary; exit 0."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(_timeline())
        async with await anyio.open_process(
            _cmd("watch", "--url", sim.url, "--json", *FAST, str(cid)),
            stdin=subprocess.DEVNULL,
            env=_env(None),
        ) as proc:
            assert proc.stdout is not None
            lines = BufferedByteReceiveStream(proc.stdout)
            events = []
            with anyio.fail_after(20):
                while True:
                    event = json.loads(await lines.receive_until(b"\n", 1 << 16))
                    events.append(event)
                    if event["event"] == "summary":
                        break
                    if event["state"] != "COMPLETE":
                        sim.advance(cid)  # the next poll sees the next snapshot
                code = await proc.wait()
    assert code == 0
    progress = [e for e in events if e["event"] == "progress"]
    states = [e["state"] for e in progress]
    assert states[0] == "NEW"
    assert states[-1] == "COMPLETE"
    assert states.count("COMPLETE") == 1
    assert len(progress) >= 4
    percents = [e["total_progress"] for e in progress]
    assert percents == sorted(percents)
    assert progress[-1]["step"]
    assert events[-1]["complete"] == 1
    assert events[-1]["exit_code"] == 0


@pytest.mark.anyio
async def test_failed_command_exits_1_with_failed_instances() -> None:
    """A FAILED command gives exit 1; its failed instances are in the JSON and in the summary."""
    async with ManagerSimulator() as sim:
        ok = sim.add_command(_timeline())
        bad = sim.add_command(_timeline(fail=True))
        sim.finish_all()
        as_json = await cli("watch", "--url", sim.url, "--json", *FAST, str(ok), str(bad))
        as_text = await cli("watch", "--url", sim.url, *FAST, str(ok), str(bad))
    assert as_json.code == 1
    final = {e["command_id"]: e for e in as_json.events() if e["event"] == "progress"}
    assert final[ok]["state"] == "COMPLETE"
    assert final[bad]["state"] == "FAILED"
    assert final[bad]["error_code"] < 0
    entities = [f["entity"] for f in final[bad]["failed_entities"]]
    assert entities
    assert as_text.code == 1
    assert "FAILED" in as_text.out
    assert entities[0] in as_text.out
    assert "\x1b[" not in as_text.out  # no colour codes when not a terminal


@pytest.mark.anyio
async def test_unknown_id_exits_2_and_others_still_end() -> None:
    """An unknown id is reported in one line (exit 2) while the known command is still followed."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(_timeline())
        sim.finish(cid)
        done = await cli("watch", "--url", sim.url, "--json", *FAST, str(cid), "4242")
    assert done.code == 2
    events = done.events()
    assert any(e["event"] == "error" and e["command_id"] == 4242 for e in events)
    assert any(e.get("state") == "COMPLETE" and e["command_id"] == cid for e in events)
    assert "4242 is unknown" in done.err
    assert "Traceback" not in done.err


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["12a"], "'12a'"),
        (["-5"], "'-5'"),
        ([], "no command ids"),
        (["--auth", "cas", "1"], "--user"),
        (["--insecure", "--ca-file", "x.pem", "1"], "not allowed with"),
        (["--ca-file", "/nonexistent/ca.pem", "1"], "--ca-file"),
    ],
)
async def test_usage_errors_exit_2_before_any_request(args: list[str], needle: str) -> None:
    """Bad ids and options end with exit 2 and a one-line message; nothing reaches the Manager."""
    async with ManagerSimulator() as sim:
        done = await cli("watch", "--url", sim.url, *args)
        assert sim.stats.requests_total == 0
    assert done.code == 2
    assert needle in done.err
    assert "Traceback" not in done.err
    assert done.out == ""


@pytest.mark.anyio
async def test_ids_from_standard_input() -> None:
    """Ids piped on standard input, one per line (blank lines and comments ignored), are watched."""
    async with ManagerSimulator() as sim:
        a = sim.add_command(_timeline())
        b = sim.add_command(_timeline())
        sim.finish_all()
        done = await cli(
            "watch", "--url", sim.url, "--json", *FAST, stdin=f"{a}\n\n# x\n{b}\n".encode()
        )
    assert done.code == 0
    assert {e["command_id"] for e in done.events() if e["event"] == "progress"} == {a, b}


@pytest.mark.anyio
async def test_wrong_password_exits_2_once_without_leaking_it() -> None:
    """A rejected CAS login: exit 2, one login attempt, a clear message, the password nowhere."""
    wrong = "Wr0ng-Secret-xyz"
    async with ManagerSimulator(auth="cas", password=PASSWORD) as sim:
        cid = sim.add_command(_timeline())
        done = await cli(
            "watch", "--url", sim.url, "--cas-url", str(sim.cas_url), "--user", "admin",
            "--debug", *FAST, str(cid), password=wrong,
        )  # fmt: skip
        assert sim.stats.login_attempts == 1
    assert done.code == 2
    assert "login rejected" in done.err
    assert "Traceback" in done.err  # --debug shows it
    assert wrong not in done.out + done.err


@pytest.mark.anyio
async def test_cas_login_and_password_never_printed() -> None:
    """With the right password (from the environment) the watch succeeds; even --debug hides it."""
    async with ManagerSimulator(auth="cas", password=PASSWORD) as sim:
        cid = sim.add_command(_timeline())
        sim.finish(cid)
        done = await cli(
            "watch", "--url", sim.url, "--cas-url", str(sim.cas_url), "--user", "admin",
            "--debug", "--json", *FAST, str(cid), password=PASSWORD,
        )  # fmt: skip
    assert done.code == 0, done.err
    assert done.events()[-1]["logins"] == 1
    assert PASSWORD not in done.out + done.err


@pytest.mark.anyio
async def test_no_password_and_no_terminal_exits_2() -> None:
    """Without CMDPROGRESS_PASSWORD and without a terminal to prompt on: exit 2, nothing sent."""
    async with ManagerSimulator(auth="basic") as sim:
        done = await cli("watch", "--url", sim.url, "--user", "admin", "1")
        assert sim.stats.requests_total == 0
    assert done.code == 2
    assert "CMDPROGRESS_PASSWORD" in done.err


@pytest.mark.anyio
async def test_untrusted_certificate_exits_2_and_names_ca_file() -> None:
    """TLS with a private CA: refused without --ca-file (exit 2, says how), accepted with it."""
    pytest.importorskip("trustme")
    async with ManagerSimulator(tls=True) as sim:
        cid = sim.add_command(_timeline())
        sim.finish(cid)
        refused = await cli("watch", "--url", sim.url, *FAST, str(cid))
        trusted = await cli("watch", "--url", sim.url, "--ca-file", str(sim.ca_file), str(cid))
    assert refused.code == 2
    assert "--ca-file" in refused.err
    assert "not trusted" in refused.err
    assert "Traceback" not in refused.err
    assert trusted.code == 0, trusted.err


@pytest.mark.anyio
async def test_unreachable_host_exits_2_with_one_line() -> None:
    """Nothing listening at --url: exit 2 with a one-line 'cannot reach' message."""
    async with ManagerSimulator() as sim:
        url = sim.url
    done = await cli("watch", "--url", url, "--json", *FAST, "1")
    assert done.code == 2
    assert "cannot reach the Manager" in done.err
    assert len(done.err.strip().splitlines()) == 1
    assert done.out == ""


@pytest.mark.anyio
async def test_ctrl_c_exits_130_and_sends_nothing_but_progress_gets() -> None:
    """SIGINT after the first JSON line: exit 130; the Manager saw only progress GETs."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(_timeline())
        async with await anyio.open_process(
            _cmd("watch", "--url", sim.url, "--json", *FAST, str(cid)),
            stdin=subprocess.DEVNULL,
            env=_env(None),
        ) as proc:
            assert proc.stdout is not None
            with anyio.fail_after(20):
                first = await BufferedByteReceiveStream(proc.stdout).receive_until(b"\n", 1 << 16)
                proc.send_signal(signal.SIGINT)
                code = await proc.wait()
        log = list(sim.stats.log)
    assert json.loads(first)["state"] == "NEW"
    assert code == 130
    assert log
    assert {(r.method, r.path) for r in log} == {("GET", f"/web/v1/common/command/{cid}/progress")}


@pytest.mark.anyio
async def test_demo_runs_to_the_end() -> None:
    """`cmdprogress demo` with a small, fast workload ends with a summary, one re-login, exit 0."""
    done = await cli("demo", "--commands", "6", "--speed", "60", "--json")
    assert done.code == 0, done.err  # its failures are scripted: the demo itself succeeded
    events = done.events()
    summary = events[-1]
    assert summary["event"] == "summary"
    assert summary["commands"] == 6
    assert summary["complete"] + summary["failed"] == 6
    assert summary["failed"] >= 1
    assert summary["re_logins"] == 1
    assert "expired every session" in done.err
    ended = [e for e in events if e.get("state") in ("COMPLETE", "FAILED")]
    assert len(ended) == 6


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


@pytest.mark.anyio
async def test_live_view_on_a_terminal() -> None:
    """On a terminal the rich view draws a bar per command, then the summary table; exit 0."""
    pytest.importorskip("rich")
    import pty

    async with ManagerSimulator() as sim:
        ids = [sim.add_command(_timeline()) for _ in range(3)]
        sim.finish_all()
        master, slave = pty.openpty()
        try:
            env = _env(None) | {"COLUMNS": "100", "TERM": "xterm-256color"}
            with anyio.fail_after(20):
                proc = await anyio.open_process(
                    _cmd("watch", "--url", sim.url, *FAST, *map(str, ids)),
                    stdin=subprocess.DEVNULL,
                    stdout=slave,
                    stderr=slave,
                    env=env,
                )
                os.close(slave)
                slave = -1
                raw = await anyio.to_thread.run_sync(_read_all, master)
                code = await proc.wait()
                await proc.aclose()
        finally:
            os.close(master)
            if slave != -1:
                os.close(slave)
    text = raw.decode("utf-8", "replace")
    assert code == 0
    assert "━" in text  # the bars
    assert "\x1b[" in text  # drawn with terminal codes
    assert "3 commands in" in text
    assert "complete 3" in text


@pytest.mark.anyio
async def test_without_rich_the_core_imports_and_watch_prints_plain_lines() -> None:
    """With rich absent: the library imports and `watch` still works with plain lines."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(_timeline())
        sim.finish(cid)
        code = (
            "import sys; sys.modules['rich'] = None\n"
            "import cmdprogress, cmdprogress.testing\n"
            "from cmdprogress.__main__ import main\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        with anyio.fail_after(20):
            proc = await anyio.run_process(
                [sys.executable, "-c", code, "watch", "--url", sim.url, *FAST, str(cid)],
                stdin=subprocess.DEVNULL,
                env=_env(None),
                check=False,
            )
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"{cid} COMPLETE" in " ".join(out.split())
    assert "1 command in" in out
