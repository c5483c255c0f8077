"""Logging as a library should: quiet unless the application configures it."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

import cmdprogress

# A service that configured no logging: 503s, dropped connections and a session
# expiry are retried and handled; its stderr must stay empty.
SERVICE = textwrap.dedent(
    """
    import asyncio

    from cmdprogress import CASAuth, Client, PollPolicy, RetryPolicy
    from cmdprogress.testing import Fault, ManagerSimulator, Timeline

    async def main() -> None:
        async with ManagerSimulator(auth="cas") as sim:
            ids = [sim.add_command(Timeline.build(steps=2, duration=100.0)) for _ in range(3)]
            for cid in ids:
                sim.faults.inject(Fault.status(503), times=2, command_id=cid)
                sim.faults.inject(Fault.status(502), times=1, command_id=cid)
            auth = CASAuth(sim.username, sim.password, cas_url=sim.cas_url)
            retry = RetryPolicy(attempts=5, backoff=0.001, max_backoff=0.002)
            poll = PollPolicy(interval=0.01, max_interval=0.02, throttle_pause=0.001)
            async with Client(sim.url, auth=auth, retry=retry, poll=poll) as client:
                for cid in ids:
                    await client.get_progress(cid)
                sim.expire_sessions()
                sim.finish_all()
                finals = await client.wait_all(ids)
            print(client.stats.retries, client.stats.relogins, len(finals))

    asyncio.run(main())
    """
)


def test_package_logger_has_a_null_handler() -> None:
    """The 'cmdprogress' logger carries a NullHandler, as the logging HOWTO asks of libraries."""
    assert cmdprogress.__name__ == "cmdprogress"
    handlers = logging.getLogger("cmdprogress").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


@pytest.mark.parametrize("configured", [False, True], ids=["unconfigured", "basicConfig"])
def test_retries_and_relogins_print_nothing_unless_asked(configured: bool) -> None:
    """Retries and re-logins: nothing on stderr unconfigured or at WARNING; all is at DEBUG/INFO."""
    script = SERVICE
    if configured:
        script = "import logging\nlogging.basicConfig(level=logging.WARNING)\n" + script
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    retries, relogins, ended = (int(x) for x in proc.stdout.split())
    assert retries >= 9  # 3 commands x 3 transient answers each: they did happen
    assert relogins >= 1
    assert ended == 3
    assert proc.stderr == ""


def test_retries_and_relogins_are_logged_at_debug_and_info() -> None:
    """With DEBUG configured the same run logs each retry (DEBUG) and the re-login (INFO)."""
    script = (
        "import logging\nlogging.basicConfig(level=logging.DEBUG, "
        "format='%(levelname)s %(name)s %(message)s')\n"
        "logging.getLogger('asyncio').setLevel(logging.WARNING)\n" + SERVICE
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    retries = [line for line in lines if "; retry " in line]
    assert len(retries) >= 9
    assert all(line.startswith("DEBUG cmdprogress.") for line in retries)
    relogins = [line for line in lines if "logging in again" in line]
    assert relogins
    assert all(line.startswith("INFO cmdprogress.") for line in relogins)
    assert not [line for line in lines if line.startswith(("WARNING", "ERROR"))]
