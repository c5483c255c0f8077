"""TLS: verified by default, a private CA accepted, verification off only on request."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest

from cmdprogress import CASAuth, Client, PollPolicy, RetryPolicy
from cmdprogress.exceptions import TLSError
from cmdprogress.testing import ManagerSimulator, Timeline

pytest.importorskip("trustme")

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002)
POLL = PollPolicy(throttle_pause=0.001)


@pytest.mark.anyio
async def test_private_ca_as_context_and_as_path() -> None:
    """The simulator's private CA, given as SSLContext or as a PEM path, is trusted."""
    async with ManagerSimulator(tls=True) as sim:
        assert sim.url.startswith("https://")
        assert sim.ca_file is not None
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        for ssl_arg in (sim.ssl_context(), sim.ca_file, Path(sim.ca_file)):
            async with Client(sim.url, ssl=ssl_arg, retry=FAST, poll=POLL) as client:
                p = await client.get_progress(cid)
            assert p.command_id == cid
        assert sim.stats.progress_requests[cid] == 3


@pytest.mark.anyio
async def test_cas_login_over_tls() -> None:
    """CAS login over HTTPS on both listeners with the private CA."""
    async with ManagerSimulator(tls=True, auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        auth = CASAuth(sim.username, sim.password, cas_url=sim.cas_url)
        async with Client(sim.url, auth=auth, ssl=sim.ssl_context(), retry=FAST) as client:
            p = await client.get_progress(cid)
        assert p.command_id == cid
        assert sim.stats.logins_ok == 1


@pytest.mark.anyio
async def test_untrusted_certificate_is_a_tls_error() -> None:
    """Without the CA, verification fails with TLSError explaining ssl=... and ssl=False."""
    async with ManagerSimulator(tls=True) as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with Client(sim.url, retry=FAST, poll=POLL) as client:
            with pytest.raises(TLSError) as info:
                await client.get_progress(cid)
            assert client.stats.requests == 1  # not retried: retrying cannot help
        assert sim.stats.progress_requests[cid] == 0
    message = str(info.value)
    assert "create_default_context(cafile=" in message
    assert "ssl=False" in message
    assert info.value.url.startswith("https://127.0.0.1:")


@pytest.mark.anyio
async def test_ssl_false_works_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """ssl=False disables verification and logs one warning per client, not per request."""
    caplog.set_level(logging.WARNING, logger="cmdprogress")
    async with ManagerSimulator(tls=True) as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        client = Client(sim.url, ssl=False, retry=FAST, poll=POLL)
        for _ in range(2):
            async with client:
                await client.get_progress(cid)
                await client.get_progress(cid)
        assert sim.stats.progress_requests[cid] == 4
    warnings = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


@pytest.mark.anyio
async def test_wrong_ca_is_refused() -> None:
    """A context trusting some other CA does not accept the Manager's certificate."""
    trustme = pytest.importorskip("trustme")
    other_ca = trustme.CA()
    ctx = ssl.create_default_context()
    other_ca.configure_trust(ctx)
    async with (
        ManagerSimulator(tls=True) as sim,
        Client(sim.url, ssl=ctx, retry=FAST, poll=POLL) as client,
    ):
        with pytest.raises(TLSError):
            await client.get_progress(1)
