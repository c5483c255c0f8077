"""`cmdprogress watch` run in-process (a worker thread) against a real simulator.

``main()`` runs its own event loop, so it runs in a thread while the simulator
serves on the test's loop; standard output and error are captured by pytest.
These cover the situations test_cli.py does not: Basic login, an only id that
is unknown, a bad first answer, a login refused in the middle of a watch, and
option values refused before anything is sent.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cmdprogress._cli import main
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.anyio

PASSWORD = "Sim-Passw0rd!"
FAST = ("--interval", "0.02", "--max-interval", "0.05")


@pytest.fixture(autouse=True)
def _keep_logging_and_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """main() configures the "cmdprogress" logger; put it back for the other tests."""
    monkeypatch.delenv("CMDPROGRESS_PASSWORD", raising=False)
    logger = logging.getLogger("cmdprogress")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


async def run(*argv: str) -> int:
    """``cmdprogress ARGV`` in a worker thread; its exit status."""
    with anyio.fail_after(20):
        return await anyio.to_thread.run_sync(main, list(argv))


def events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def _timeline() -> Timeline:
    return Timeline.build(steps=3, duration=30.0, kind="start", service="HDFS")


async def test_basic_login_watch_succeeds_and_hides_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--auth basic logs in once with the password from the environment; exit 0, no leak."""
    monkeypatch.setenv("CMDPROGRESS_PASSWORD", PASSWORD)
    async with ManagerSimulator(auth="basic", password=PASSWORD) as sim:
        cid = sim.add_command(_timeline())
        sim.finish(cid)
        code = await run(
            "watch", "--url", sim.url, "--auth", "basic", "--user", "admin", "--json", "--debug",
            *FAST, str(cid),
        )  # fmt: skip
        assert sim.stats.logins_ok == 1
    out, err = capsys.readouterr()
    assert code == 0, err
    assert events(out)[-1]["logins"] == 1
    assert PASSWORD not in out + err


async def test_only_id_unknown_exits_2_after_one_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A single id the Manager does not know: one request, one error line, exit 2."""
    async with ManagerSimulator() as sim:
        code = await run("watch", "--url", sim.url, "--json", *FAST, "4242")
        assert sim.stats.requests_total == 1
    out, err = capsys.readouterr()
    assert code == 2
    assert [(e["event"], e.get("command_id")) for e in events(out)] == [
        ("error", 4242),
        ("summary", None),
    ]
    assert "command 4242 is unknown" in err


async def test_bad_first_answer_is_polled_again_not_fatal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A first answer that is not a progress document does not stop the watch; it ends COMPLETE."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(_timeline())
        sim.finish(cid)
        sim.faults.inject(Fault.malformed_json(), times=1, command_id=cid)
        code = await run("watch", "--url", sim.url, "--json", *FAST, str(cid))
        assert sim.stats.progress_requests[cid] >= 2
        assert sim.faults.pending == 0
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [e["state"] for e in events(out) if e["event"] == "progress"] == ["COMPLETE"]


async def test_login_refused_mid_watch_stops_everything_with_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When re-login after a session expiry is rejected, the watch ends at once: exit 2, one try."""
    monkeypatch.setenv("CMDPROGRESS_PASSWORD", PASSWORD)
    async with ManagerSimulator(auth="cas", password=PASSWORD) as sim:
        ids = [sim.add_command(_timeline()) for _ in range(2)]
        result: list[int] = []

        async def watch() -> None:
            cas = ("--cas-url", str(sim.cas_url), "--user", "admin")
            ids_text = map(str, ids)
            result.append(await run("watch", "--url", sim.url, *cas, "--json", *FAST, *ids_text))

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            with anyio.fail_after(10):
                await sim.wait_until(lambda s: all(s.stats.progress_requests[i] >= 2 for i in ids))
            sim.password = "Changed-Passw0rd!"  # the account's password changed meanwhile
            sim.expire_sessions()
        assert sim.stats.login_attempts == 2  # the first login, then one rejected re-login
        assert sim.stats.logins_ok == 1
    out, err = capsys.readouterr()
    assert result == [2]
    assert "login rejected for user 'admin'" in err
    assert {e["command_id"] for e in events(out) if e["event"] == "progress"} == set(ids)
    assert PASSWORD not in out + err


async def test_url_the_client_refuses_exits_2_with_its_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A URL with an impossible port: exit 2 with the reason; --debug adds the traceback."""
    code = await run("watch", "--url", "http://127.0.0.1:99999", *FAST, "1")
    _, err = capsys.readouterr()
    assert code == 2
    assert "error: --url:" in err
    assert "base_url" not in err
    assert "Port out of range" in err
    assert "Traceback" not in err
    code = await run("watch", "--url", "http://127.0.0.1:99999", "--debug", *FAST, "1")
    _, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--url", "ftp://m:21"], "is not a web address"),
        (["--interval", "2", "--max-interval", "1"], "--max-interval 1 is shorter than"),
        (["--cas-url", "https://m:20009", "--auth", "none"], "--cas-url only applies"),
        (["--interval", "soon"], "expected a number of seconds, got 'soon'"),
        (["--interval", "inf"], "must be a positive number, got 'inf'"),
        (["--max-concurrency", "many"], "expected a whole number, got 'many'"),
        (["--max-concurrency", "0"], "must be at least 1, got '0'"),
    ],
)
async def test_bad_option_values_exit_2_before_any_request(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each bad option value: exit 2 and a message naming it; nothing reaches the Manager."""
    async with ManagerSimulator() as sim:
        argv = ["watch", "--url", sim.url, *args, "1"]
        code = await run(*argv)
        assert sim.stats.requests_total == 0
    out, err = capsys.readouterr()
    assert code == 2
    assert needle in err
    assert out == ""


async def test_https_to_a_plain_http_port_says_use_http(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """https:// against a port that answers plain HTTP names the scheme, not the certificate."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(_timeline())
        url = sim.url.replace("http://", "https://", 1)
        assert await run("watch", "--url", url, "--json", str(cid)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "answers plain HTTP" in err
    assert "use http://" in err
    assert "--insecure" not in err
    assert "--ca-file" not in err


async def test_an_unreachable_cas_names_cas_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CAS server that cannot be reached is named, with --cas-url, not --url."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(_timeline())
        cas_url = f"http://127.0.0.1:{dead}/cas"
        monkeypatch.setenv("CMDPROGRESS_PASSWORD", PASSWORD)
        status = await run(
            "watch", "--url", sim.url, "--cas-url", cas_url, "--user", "admin", "--json", str(cid)
        )
    assert status == 2
    err = capsys.readouterr().err
    assert f"CAS login server at 127.0.0.1:{dead}" in err
    assert "--cas-url" in err
    assert "check --url" not in err
