"""Every error typed: hostile answers, closing under running calls, cancelled polls.

Each test talks to the simulator or to a small hostile server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import pytest

from cmdprogress import CASAuth, Client, PollPolicy, RetryPolicy
from cmdprogress.exceptions import (
    ClientClosedError,
    CommandErrorGroup,
    ConnectError,
    MalformedResponseError,
    ProtocolError,
    RedirectError,
)
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002)
POLL = PollPolicy(interval=0.01, max_interval=0.01, jitter=0)

BAD_LOCATIONS = {
    "file": "file:///etc/passwd",
    "mailto": "mailto:admin@example.com",
    "data": "data:text/html,<script>x</script>",
    "bad-port": "http://127.0.0.1:99999/web/x",
    "bad-ipv6": "http://[::1/web/x",
    "bad-ipv6-content": "http://[zz::zz]/web/x",
    "ticket-in-bad-url": "http://127.0.0.1:70000/x?ticket=ST-1-secretticket",
}


async def _get(client: Client, cid: int) -> object:
    return await client.get_progress(cid)


async def _watch(client: Client, cid: int) -> object:
    return [p async for p in client.watch(cid)]


async def _watch_many(client: Client, cid: int) -> object:
    return [p async for p in client.watch_many([cid])]


CALLS: dict[str, Callable[[Client, int], Awaitable[object]]] = {
    "get_progress": _get,
    "watch": _watch,
    "watch_many": _watch_many,
}


@pytest.mark.anyio
@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
@pytest.mark.parametrize("location", list(BAD_LOCATIONS.values()), ids=list(BAD_LOCATIONS))
async def test_unusable_location_is_a_redirect_error(call: str, location: str) -> None:
    """A Location that is not a usable http(s) URL is a RedirectError (in watch_many: inside
    its group), never a raw ValueError; the location's query is not repeated."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.raw(302, b"", headers={"Location": location}), times=1)
        async with Client(sim.url, retry=FAST, poll=POLL) as client:
            with anyio.fail_after(10), pytest.raises(Exception) as info:
                await CALLS[call](client, cid)
    error = info.value
    if call == "watch_many":
        assert isinstance(error, CommandErrorGroup)
        assert list(error.errors) == [cid]
        error = error.errors[cid]
    assert isinstance(error, RedirectError), repr(error)
    assert "not a usable http(s) URL" in str(error)
    assert "secretticket" not in str(error)
    assert error.url.endswith(f"/command/{cid}/progress")


@pytest.mark.anyio
async def test_unusable_location_during_cas_login_is_a_redirect_error() -> None:
    """A bad Location met while logging in (CAS) is a RedirectError too; no login succeeds."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        auth = CASAuth(sim.username, sim.password, cas_url=sim.cas_url)
        bad = Fault.raw(302, b"", headers={"Location": "http://127.0.0.1:99999/cas/x"})
        sim.faults.inject(bad, times=1, where="web")
        async with Client(sim.url, auth=auth, retry=FAST) as client:
            with pytest.raises(RedirectError) as info:
                await client.get_progress(cid)
            assert client.stats.logins == 0  # it was the login that met it
    assert "Port out of range" in str(info.value)


# -- protocol errors ---------------------------------------------------------------------


class RawServer:
    """A TCP server on 127.0.0.1 that answers every request with the same raw bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests = 0

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        """Read one request head, send the answer, close."""
        try:
            await stream.receive()
            self.requests += 1
            await stream.send(self.answer)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await stream.aclose()


@contextlib.asynccontextmanager
async def serve_raw(server: RawServer) -> AsyncIterator[str]:
    """Serve ``server`` on a free loopback port; yield its URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.handle)
        yield f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


def _head(extra: bytes, body: bytes = b'{"state": "NEW"}') -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


PROTOCOL_FAULTS = {
    "too-many-headers": (
        _head(b"".join(b"X-Filler-%d: v\r\n" % i for i in range(500))),
        "Too many headers",
    ),
    "brotli-without-brotli": (_head(b"Content-Encoding: br\r\n", b"\x0b\x02\x80{}\x03"), "br"),
    "gzip-that-does-not-inflate": (_head(b"Content-Encoding: gzip\r\n", b"not gzip"), "gzip"),
    "header-line-too-long": (
        _head(b"Set-Cookie: JSESSIONID=" + b"s3cr3t" * 3000 + b"\r\n"),
        "more than 8190 bytes",
    ),
    "bad-status-line": (b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}", "Bad status line"),
    "bad-chunk-size": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        "chunk size",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("raw", "reason"), list(PROTOCOL_FAULTS.values()), ids=list(PROTOCOL_FAULTS)
)
async def test_unreadable_http_is_a_protocol_error_at_once(raw: bytes, reason: str) -> None:
    """An answer the HTTP parser refuses is a ProtocolError (a MalformedResponseError) after
    one request: not a ConnectError, not retried; the bytes it quoted are not repeated."""
    server = RawServer(raw)
    async with serve_raw(server) as url, Client(url, retry=FAST) as client:
        with anyio.fail_after(10), pytest.raises(ProtocolError) as info:
            await client.get_progress(1)
        assert client.stats.retries == 0
    assert server.requests == 1
    error = info.value
    assert isinstance(error, MalformedResponseError)
    assert not isinstance(error, ConnectError)
    assert reason in str(error)
    assert "s3cr3t" not in str(error)
    assert "s3cr3t" not in repr(error.errors)
    assert error.command_id == 1
    assert error.url.endswith("/command/1/progress")


@pytest.mark.anyio
async def test_a_watch_meeting_unreadable_http_ends_instead_of_waiting_out_an_outage() -> None:
    """A watch against a server whose answers cannot be parsed ends with ProtocolError after
    3 polls (the malformed rule), not after outage_grace of retried requests."""
    server = RawServer(PROTOCOL_FAULTS["too-many-headers"][0])
    async with serve_raw(server) as url, Client(url, retry=FAST, poll=POLL) as client:
        with anyio.fail_after(10), pytest.raises(ProtocolError):
            await _watch(client, 1)
    assert server.requests == 3


@pytest.mark.anyio
async def test_a_body_cut_short_is_still_retried() -> None:
    """A truncated body stays a transient ConnectError (retried), unlike a protocol error."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.truncated(), times=1)
        async with Client(sim.url, retry=FAST) as client:
            assert (await client.get_progress(cid)).command_id == cid
            assert client.stats.retries == 1


# -- closing the client under running calls ----------------------------------------------


class Holder:
    """A TCP server on 127.0.0.1 that reads requests and never answers until released."""

    def __init__(self) -> None:
        self.received = 0
        self.changed = anyio.Event()
        self.release = anyio.Event()

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        """Count the request, then hold the connection open until released."""
        try:
            await stream.receive()
            self.received += 1
            self.changed.set()
            await self.release.wait()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await stream.aclose()

    async def wait_for(self, n: int) -> None:
        """Return once ``n`` requests arrived."""
        while self.received < n:
            self.changed = anyio.Event()
            await self.changed.wait()


@pytest.mark.anyio
async def test_calls_in_flight_or_waiting_for_a_slot_get_client_closed_error() -> None:
    """Closing the client ends a call in flight and one waiting for a connection slot with
    ClientClosedError (not RuntimeError: Session is closed), at once."""
    holder = Holder()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    outcomes: dict[int, BaseException] = {}

    async def call(client: Client, cid: int) -> None:
        try:
            await client.get_progress(cid)
        except BaseException as e:
            outcomes[cid] = e

    with anyio.fail_after(10):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, holder.handle)
            async with anyio.create_task_group() as calls:
                url = f"http://127.0.0.1:{port}"
                async with Client(url, retry=FAST, max_concurrency=1) as client:
                    calls.start_soon(call, client, 1)  # in flight
                    await holder.wait_for(1)
                    calls.start_soon(call, client, 2)  # waits for the only slot
                    await anyio.wait_all_tasks_blocked()
                    assert client.stats.requests == 1
            holder.release.set()
            tg.cancel_scope.cancel()
    assert set(outcomes) == {1, 2}
    for error in outcomes.values():
        assert isinstance(error, ClientClosedError), repr(error)
        assert "closed while GET" in str(error)
    assert holder.received == 1


@pytest.mark.anyio
async def test_call_in_retry_back_off_gets_client_closed_error() -> None:
    """A call sleeping before a retry (Retry-After: 30) ends with ClientClosedError as soon as
    the client closes, without sending again."""
    retried = anyio.Event()

    class OnRetry(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retry 1 of" in record.getMessage():
                retried.set()

    handler = OnRetry()
    http_log = logging.getLogger("cmdprogress.http")
    http_log.addHandler(handler)
    level = http_log.level
    http_log.setLevel(logging.DEBUG)  # retries are logged at DEBUG
    outcome: list[BaseException] = []

    async def call(client: Client, cid: int) -> None:
        try:
            await client.get_progress(cid)
        except BaseException as e:
            outcome.append(e)

    try:
        async with ManagerSimulator() as sim:
            cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
            sim.faults.inject(Fault.status(503, retry_after=30), times=5)
            retry = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002)
            with anyio.fail_after(10):
                async with (
                    anyio.create_task_group() as calls,
                    Client(sim.url, retry=retry, poll=POLL) as client,
                ):
                    calls.start_soon(call, client, cid)
                    await retried.wait()
            assert sim.stats.progress_requests[cid] == 1
    finally:
        http_log.removeHandler(handler)
        http_log.setLevel(level)
    assert len(outcome) == 1
    assert isinstance(outcome[0], ClientClosedError), repr(outcome[0])


# -- counters ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelled_polls_are_counted_apart_from_errors() -> None:
    """A poll cancelled by its caller (a deadline, a watch left) counts in stats.cancelled,
    not in stats.errors."""
    holder = Holder()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    with anyio.fail_after(10):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, holder.handle)
            async with Client(f"http://127.0.0.1:{port}", retry=FAST, poll=POLL) as client:
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as inner:
                        inner.start_soon(client.get_progress, 1)
                        await holder.wait_for(1)
                        scope.cancel()
                async with client.watch(2) as w:  # a watch left while its poll is in flight
                    await holder.wait_for(2)
                    w.close()
                await anyio.wait_all_tasks_blocked()
                assert client.stats.cancelled == 2
                assert client.stats.errors == 0
            holder.release.set()
            tg.cancel_scope.cancel()
