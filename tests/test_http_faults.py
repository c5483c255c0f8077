"""Faults: what is retried, how often, what each one finally raises."""

from __future__ import annotations

import gzip
import logging
from typing import Any

import anyio
import pytest
from aiohttp import web

from cmdprogress import Client, PollPolicy, RetryPolicy, Timeouts
from cmdprogress.exceptions import (
    AuthenticationError,
    ConnectError,
    HTTPStatusError,
    MalformedResponseError,
    RedirectError,
    RequestTimeoutError,
    ResponseTooLargeError,
)
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

POLL = PollPolicy(throttle_pause=0.001)


def fast(attempts: int = 3) -> RetryPolicy:
    """Retries without real waiting."""
    return RetryPolicy(attempts=attempts, backoff=0.001, max_backoff=0.002)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fault",
    [Fault.status(500), Fault.status(502), Fault.status(504), Fault.reset(), Fault.truncated()],
    ids=lambda f: f.name,
)
async def test_transient_faults_are_retried(fault: Fault) -> None:
    """500/502/504, a reset and a truncated body are retried; the poll then succeeds."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(fault, times=2)
        async with Client(sim.url, retry=fast(3), poll=POLL) as client:
            p = await client.get_progress(cid)
        assert p.command_id == cid
        assert sim.stats.progress_requests[cid] == 3
        assert client.stats.retries == 2
        assert client.stats.errors == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.status(500), HTTPStatusError, 500),
        (Fault.status(502), HTTPStatusError, 502),
        (Fault.status(503), HTTPStatusError, 503),
        (Fault.reset(), ConnectError, None),
        (Fault.truncated(), ConnectError, None),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
async def test_retries_stop_at_the_attempt_budget(
    fault: Fault, error: type[Exception], status: int | None
) -> None:
    """A fault that persists is tried exactly `attempts` times, then raised."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(fault, times=10)
        async with Client(sim.url, retry=fast(2), poll=POLL) as client:
            with pytest.raises(error) as info:
                await client.get_progress(cid)
        assert sim.stats.progress_requests[cid] == 2
        assert client.stats.retries == 1
        assert client.stats.errors == 1
    err: Any = info.value
    assert err.url.endswith(f"/command/{cid}/progress")
    if isinstance(err, HTTPStatusError):
        assert err.status == status
        assert err.command_id == cid
        assert err.body_excerpt  # the HTML error page, truncated
        assert len(err.body_excerpt) <= 200
        assert "2 attempts" in str(err)


@pytest.mark.anyio
async def test_retry_after_is_honoured_and_throttling_counted() -> None:
    """429 with Retry-After: 1 waits about a second before the retry, and slows the client."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.status(429, retry_after=1), times=1)
        async with Client(sim.url, retry=fast(3), poll=POLL) as client:
            await client.get_progress(cid)
        times = [r.time for r in sim.stats.log if r.command_id == cid]
        assert len(times) == 2
        assert times[1] - times[0] >= 0.9
        assert client.stats.throttled == 1
        assert client._pacer.throttles == 1


@pytest.mark.anyio
async def test_client_errors_are_not_retried() -> None:
    """A 4xx other than 401/404/429 raises HTTPStatusError at once."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.status(403), times=1)
        async with Client(sim.url, retry=fast(4), poll=POLL) as client:
            with pytest.raises(HTTPStatusError) as info:
                await client.get_progress(cid)
        assert info.value.status == 403
        assert "rights" in str(info.value)
        assert sim.stats.progress_requests[cid] == 1


@pytest.mark.anyio
async def test_malformed_json_is_refused_once() -> None:
    """Invalid JSON raises MalformedResponseError with an excerpt; not retried."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.malformed_json(), times=1)
        async with Client(sim.url, retry=fast(3), poll=POLL) as client:
            with pytest.raises(MalformedResponseError) as info:
                await client.get_progress(cid)
            assert client.stats.errors == 1
        assert sim.stats.progress_requests[cid] == 1
        assert info.value.command_id == cid
        assert info.value.errors


@pytest.mark.anyio
async def test_oversized_body_is_refused_unread() -> None:
    """A body over max_body_size raises ResponseTooLargeError, by Content-Length."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.oversized(size=200_000), times=1)
        async with Client(sim.url, retry=fast(3), poll=POLL, max_body_size=10_000) as client:
            with pytest.raises(ResponseTooLargeError) as info:
                await client.get_progress(cid)
            # The next poll works: the connection was dropped, not left half-read.
            assert (await client.get_progress(cid)).command_id == cid
        assert isinstance(info.value, MalformedResponseError)
        assert "max_body_size=10000" in str(info.value)
        assert sim.stats.progress_requests[cid] == 2


@pytest.mark.anyio
@pytest.mark.realclock("aiohttp's read timeout against a late answer: loop time")
async def test_slow_answer_times_out_and_is_retried() -> None:
    """A slow answer hits the read timeout (RequestTimeoutError, a TimeoutError), retried."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.delay(5.0), times=2)
        timeout = Timeouts(read=0.1)
        async with Client(sim.url, retry=fast(2), poll=POLL, timeout=timeout) as client:
            with pytest.raises(RequestTimeoutError) as info:
                await client.get_progress(cid)
            assert isinstance(info.value, TimeoutError)
            assert client.stats.retries == 1
            assert (await client.get_progress(cid)).command_id == cid


@pytest.mark.anyio
async def test_outage_raises_connect_error_then_recovers() -> None:
    """During an outage polls fail with ConnectError naming host:port; afterwards they work."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with Client(sim.url, retry=fast(2), poll=POLL) as client:
            await client.get_progress(cid)
            async with sim.outage():
                with pytest.raises(ConnectError) as info:
                    await client.get_progress(cid)
            assert (await client.get_progress(cid)).command_id == cid
        host_port = sim.url.removeprefix("http://")
        assert isinstance(info.value, ConnectionError)
        assert host_port in str(info.value) or host_port in info.value.url


@pytest.mark.anyio
async def test_unreachable_host_names_host_and_port() -> None:
    """Nothing listening: ConnectError says which host:port after the retries."""
    async with ManagerSimulator() as sim:
        url = sim.url
    async with Client(url, retry=fast(2), poll=POLL) as client:
        with pytest.raises(ConnectError) as info:
            await client.get_progress(1)
        assert client.stats.requests == 2
    assert url.removeprefix("http://") in str(info.value)


@pytest.mark.anyio
async def test_login_page_without_auth_asks_for_credentials() -> None:
    """A login page on a client without auth raises AuthenticationError saying what to pass."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.login_page(), times=1)
        async with Client(sim.url, retry=fast(3), poll=POLL) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.get_progress(cid)
    assert "auth=CASAuth" in str(info.value)


@pytest.mark.anyio
async def test_redirect_to_a_foreign_host_is_refused() -> None:
    """A redirect to another origin raises RedirectError; that host receives nothing."""
    async with ManagerSimulator() as sim, ManagerSimulator() as other:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(
            Fault.raw(302, b"", headers={"Location": f"{other.url}/web/steal"}), times=1
        )
        async with Client(sim.url, retry=fast(3), poll=POLL) as client:
            with pytest.raises(RedirectError) as info:
                await client.get_progress(cid)
        assert other.stats.paths == []
    assert "another host" in str(info.value)


@pytest.mark.anyio
async def test_redirect_loop_is_refused() -> None:
    """A redirect back to the same URL over and over raises RedirectError."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        path = f"/web/v1/common/command/{cid}/progress"
        sim.faults.inject(Fault.raw(302, b"", headers={"Location": path}), times=50)
        async with Client(sim.url, retry=fast(3), poll=POLL) as client:
            with pytest.raises(RedirectError) as info:
                await client.get_progress(cid)
        assert sim.stats.progress_requests[cid] <= 3
    assert "loop" in str(info.value)


@pytest.mark.anyio
async def test_same_origin_redirect_is_followed() -> None:
    """A redirect within the Manager is followed to the progress document."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        other = sim.add_command(Timeline.build(steps=2, duration=10.0))
        target = f"/web/v1/common/command/{other}/progress"
        sim.faults.inject(
            Fault.raw(307, b"", headers={"Location": target}), times=1, command_id=cid
        )
        async with Client(sim.url, retry=fast(3), poll=POLL) as client:
            p = await client.get_progress(cid)
        assert p.command_id == cid
        assert sim.stats.progress_requests[other] == 1


# -- a plain aiohttp server, for bodies the simulator does not send --------------------


async def start_plain_server(app: web.Application) -> tuple[web.AppRunner, str]:
    """Run ``app`` on 127.0.0.1 port 0; return the runner and its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.mark.anyio
async def test_size_cap_applies_to_chunked_and_compressed_bodies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without Content-Length, or gzip-compressed, the cap counts the bytes actually read."""
    streamed: list[int] = []

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(64):
            await resp.write(b" " * 4096)
            streamed.append(1)
        await resp.write(b"{}")
        return resp

    bomb = gzip.compress(b" " * 500_000 + b"{}")

    async def gzipped(_request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/web/v1/common/command/1/progress", chunked)
    app.router.add_get("/web/v1/common/command/2/progress", gzipped)
    runner, url = await start_plain_server(app)
    try:
        assert len(bomb) < 10_000
        async with Client(url, retry=fast(3), poll=POLL, max_body_size=10_000) as client:
            with pytest.raises(ResponseTooLargeError):
                await client.get_progress(1)
            with pytest.raises(ResponseTooLargeError):
                await client.get_progress(2)
            assert client.stats.requests == 2
    finally:
        await runner.cleanup()
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


@pytest.mark.anyio
async def test_retry_after_http_date_and_garbage() -> None:
    """Retry-After as an HTTP date in the past means no wait; garbage is ignored."""
    calls: list[int] = []

    async def handler(_request: web.Request) -> web.Response:
        calls.append(1)
        if len(calls) == 1:
            return web.Response(
                status=500, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
            )
        if len(calls) == 2:
            return web.Response(status=502, headers={"Retry-After": "soon"})
        return web.json_response({"state": "COMPLETE", "total_progress": 100})

    app = web.Application()
    app.router.add_get("/web/v1/common/command/1/progress", handler)
    runner, url = await start_plain_server(app)
    try:
        async with Client(url, retry=fast(3), poll=POLL) as client:
            with anyio.fail_after(10):
                p = await client.get_progress(1)
    finally:
        await runner.cleanup()
    assert p.total_progress == 100.0
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("nan", None),
        ("", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_parsing(value: str, expected: float | None) -> None:
    """Retry-After: seconds or an HTTP date; negative means now; garbage is ignored."""
    from cmdprogress._http import _retry_after

    assert _retry_after({"Retry-After": value} if value else {}) == expected


@pytest.mark.anyio
async def test_unusual_status_is_reported_with_its_code() -> None:
    """A status without a standard phrase still gives an HTTPStatusError naming it."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.raw(499, b"<html>odd</html>"), times=1)
        async with Client(sim.url, retry=fast(3), poll=POLL) as client:
            with pytest.raises(HTTPStatusError) as info:
                await client.get_progress(cid)
    assert info.value.status == 499
    assert "499" in str(info.value)
    assert info.value.body_excerpt == "<html>odd</html>"
