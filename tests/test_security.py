"""Security: TLS verified, secrets kept out of logs/reprs/errors, redirects contained, limits.

Every test talks to the simulator, or to a plain server on loopback when the
simulator cannot misbehave that way (a certificate for another name, a foreign
host, a body that never ends).
"""

from __future__ import annotations

import base64
import logging
import ssl
import traceback
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import pytest
from aiohttp import web

from cmdprogress import BasicAuth, CASAuth, Client, PollPolicy, RetryPolicy, Timeouts
from cmdprogress.exceptions import (
    AccountLockedError,
    CmdProgressError,
    InvalidArgumentError,
    LoginRejectedError,
    RedirectError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TLSError,
)
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

trustme = pytest.importorskip("trustme")

FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.002)
PASSWORD = "S3cret-Pw-0f-Admin!"


# -- helpers ------------------------------------------------------------------------------


class Recorder:
    """A plain aiohttp server that records every request's headers (a 'foreign host')."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        """Record the request; answer 200 with a small JSON body."""
        self.requests.append(dict(request.headers))
        return web.json_response({"stolen": True})


async def serve_app(
    app: web.Application, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Run ``app`` on ``host`` port 0; return the runner and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]


def everything_said(exc: BaseException) -> str:
    """str, repr, args, attributes and the whole cause/context chain of an exception."""
    parts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        parts += [str(e), repr(e), repr(e.args), repr(vars(e))]
        parts += traceback.format_exception(e)
        todo += [e.__cause__, e.__context__]
    return "\n".join(parts)


def assert_no_secret(text: str, secrets: Iterable[str]) -> None:
    """None of ``secrets`` (nor the Basic token of the password) appears in ``text``."""
    for secret in secrets:
        assert secret not in text, f"secret {secret[:3]}... leaked"


# -- TLS ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_tls_is_verified_by_default() -> None:
    """A private-CA Manager is refused by default with TLSError saying how to pass the CA."""
    async with ManagerSimulator(tls=True) as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with Client(sim.url, retry=FAST) as client:
            with pytest.raises(TLSError) as info:
                await client.get_progress(cid)
        assert sim.stats.progress_requests[cid] == 0
        # ...and accepted once the CA is given.
        async with Client(sim.url, ssl=sim.ca_file, retry=FAST) as client:
            assert (await client.get_progress(cid)).command_id == cid
    assert "ssl=ssl.create_default_context(cafile='manager-ca.pem')" in str(info.value)


@pytest.mark.anyio
async def test_certificate_for_another_host_is_refused() -> None:
    """A trusted CA's certificate issued for another name is refused on 127.0.0.1 (hostname)."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("manager.example").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner, port = await serve_app(app, ssl_context=server_ctx)
    try:
        async with Client(f"https://127.0.0.1:{port}", ssl=client_ctx, retry=FAST) as client:
            with pytest.raises(TLSError) as info:
                await client.get_progress(1)
    finally:
        await runner.cleanup()
    assert recorder.requests == []
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert "mismatch" in str(info.value)


@pytest.mark.anyio
async def test_ssl_false_warns_once_per_client(caplog: pytest.LogCaptureFixture) -> None:
    """ssl=False works and logs one warning per client, however often it is opened or used."""
    caplog.set_level(logging.WARNING, logger="cmdprogress")
    async with ManagerSimulator(tls=True) as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        clients = [Client(sim.url, ssl=False, retry=FAST) for _ in range(2)]
        for client in clients:
            for _ in range(2):
                async with client:
                    await client.get_progress(cid)
                    await client.get_progress(cid)
        assert sim.stats.progress_requests[cid] == 8
    warnings = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
    assert len(warnings) == 2
    assert "pass the Manager's CA instead" in warnings[0].getMessage()


# -- secrets ------------------------------------------------------------------------------


def cookie_values(client: Client) -> set[str]:
    """The values of every cookie in the client's jar right now."""
    assert client._transport is not None
    return {morsel.value for morsel in client._transport.cookie_jar}


@pytest.mark.anyio
async def test_debug_log_reprs_and_errors_hold_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """A DEBUG log (ours and aiohttp's) of CAS login, expiry, re-login, polling and errors,
    the reprs and the exceptions never show the password or a session cookie."""
    caplog.set_level(logging.DEBUG)  # the root: cmdprogress.* and aiohttp.* alike
    errors: list[BaseException] = []
    async with ManagerSimulator(auth="cas", password=PASSWORD) as sim:
        ids = [sim.add_command(Timeline.build(steps=3, duration=10.0)) for _ in range(3)]
        auth = CASAuth(sim.username, PASSWORD, cas_url=sim.cas_url)
        secrets: set[str] = {PASSWORD}
        client = Client(sim.url, auth=auth, retry=FAST, poll=PollPolicy(interval=0.01))
        async with client:
            await client.get_progress(ids[0])
            secrets |= cookie_values(client)
            sim.expire_sessions()
            sim.advance_all()
            await client.get_progress(ids[1])
            secrets |= cookie_values(client)
            sim.finish_all()
            await client.wait_all(ids)
            secrets |= cookie_values(client)
            with pytest.raises(CmdProgressError) as unknown:
                await client.get_progress(999)
            errors.append(unknown.value)
            reprs = [repr(client), str(client), repr(auth), str(auth), repr(client.stats)]
        wrong = CASAuth(sim.username, "Wrong-" + PASSWORD, cas_url=sim.cas_url)
        async with Client(sim.url, auth=wrong, retry=FAST) as bad:
            with pytest.raises(LoginRejectedError) as rejected:
                await bad.get_progress(ids[0])
            errors.append(rejected.value)
            reprs.append(repr(bad))
        assert client.stats.relogins == 1
    names = {"casSessionId", "CASTGC", "JSESSIONID"}
    secrets = {s for s in secrets if len(s) >= 8}
    assert len(secrets) >= 3  # the password, CASTGC and JSESSIONID at least
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join(formatter.format(r) for r in caplog.records)
    assert "logging in again" in logged  # the run did log in again
    assert "command 999" in "\n".join(str(e) for e in errors)
    text = logged + "\n".join(reprs) + "\n".join(everything_said(e) for e in errors)
    assert_no_secret(text, secrets | {"Wrong-" + PASSWORD})
    assert all(name not in reprs[0] for name in names)


@pytest.mark.anyio
async def test_basic_token_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    """With Basic auth, neither the password nor its base64 token shows in logs or errors."""
    caplog.set_level(logging.DEBUG)
    async with ManagerSimulator(auth="basic", password=PASSWORD) as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        auth = BasicAuth(sim.username, PASSWORD)
        async with Client(sim.url, auth=auth, retry=FAST) as client:
            await client.get_progress(cid)
            cookies = cookie_values(client)
            sim.expire_sessions()
            await client.get_progress(cid)
            cookies |= cookie_values(client)
            sim.faults.inject(Fault.reset(), times=2)
            with pytest.raises(CmdProgressError) as broken:
                await client.get_progress(cid)
    locked_sim = ManagerSimulator(auth="basic", lockout_threshold=1)
    async with locked_sim, Client(locked_sim.url, auth=BasicAuth("admin", PASSWORD)) as client:
        with pytest.raises(AccountLockedError) as locked:
            await client.get_progress(1)
    token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    logged = "\n".join(logging.Formatter("%(message)s").format(r) for r in caplog.records)
    text = logged + everything_said(broken.value) + everything_said(locked.value) + repr(auth)
    assert_no_secret(text, {PASSWORD, token} | {c for c in cookies if len(c) >= 8})


@pytest.mark.parametrize(
    "url",
    [
        "admin:S3cret-Pw@10.0.0.5",
        "https://admin:S3cret-Pw@:28443",
        "ftp://admin:S3cret-Pw@10.0.0.5",
        "https://admin:S3cret-Pw@10.0.0.5:99999",
        "https://admin:S3cret-Pw@10.0.0.5:28443",
    ],
    ids=["no-scheme", "no-host", "ftp", "bad-port", "valid"],
)
def test_password_in_a_refused_url_is_not_repeated(url: str) -> None:
    """A base URL carrying a password is refused without repeating the password."""
    with pytest.raises(InvalidArgumentError) as info:
        Client(url)
    assert_no_secret(everything_said(info.value), {"S3cret-Pw"})


def test_auth_reprs_and_equality_do_not_show_the_password() -> None:
    """repr/str of CASAuth and BasicAuth name the user only."""
    for auth in (CASAuth("admin", PASSWORD), BasicAuth("admin", PASSWORD)):
        assert PASSWORD not in repr(auth)
        assert PASSWORD not in str(auth)
        assert "admin" in repr(auth)


# -- redirects ----------------------------------------------------------------------------


@pytest.fixture
async def foreign() -> AsyncIterator[tuple[Recorder, str]]:
    """A recording server on another loopback address (127.0.0.2): a different host."""
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner, port = await serve_app(app, host="127.0.0.2")
    try:
        yield recorder, f"http://127.0.0.2:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["basic", "cas"])
@pytest.mark.parametrize("when", ["login", "poll"])
async def test_redirect_to_a_foreign_host_gets_nothing(
    foreign: tuple[Recorder, str], mode: str, when: str
) -> None:
    """A redirect to another host (at login or while polling) is refused: no credential or
    cookie is sent there, and RedirectError says why."""
    recorder, foreign_url = foreign
    async with ManagerSimulator(auth=mode, password=PASSWORD) as sim:  # type: ignore[arg-type]
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        auth: CASAuth | BasicAuth = (
            CASAuth(sim.username, PASSWORD, cas_url=sim.cas_url)
            if mode == "cas"
            else BasicAuth(sim.username, PASSWORD)
        )
        redirect = Fault.raw(307, b"", headers={"Location": f"{foreign_url}/web/grab"})
        async with Client(sim.url, auth=auth, retry=FAST) as client:
            if when == "poll":
                await client.get_progress(cid)  # logged in: the jar holds the session
                sim.faults.inject(redirect, times=1)
            else:
                sim.faults.inject(redirect, times=1, where="web")
            with pytest.raises(RedirectError) as info:
                await client.get_progress(cid)
    for headers in recorder.requests:  # nothing at all is expected; if ever, nothing secret
        assert "Authorization" not in headers
        assert "Cookie" not in headers
    assert recorder.requests == []
    assert "another host (http://127.0.0.2:" in str(info.value)
    assert "no cookie or credential leaves the Manager" in str(info.value)


@pytest.mark.anyio
async def test_redirect_loop_is_refused() -> None:
    """A redirect loop (A -> B -> A) ends with RedirectError naming the loop; few requests."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        a = f"/web/v1/common/command/{cid}/progress"
        b = "/web/elsewhere"
        sim.faults.inject(Fault.raw(302, b"", headers={"Location": b}), times=1, where="web")
        sim.faults.inject(Fault.raw(302, b"", headers={"Location": a}), times=1, where="web")
        sim.faults.inject(Fault.raw(302, b"", headers={"Location": b}), times=50, where="web")
        async with Client(sim.url, retry=FAST) as client:
            with pytest.raises(RedirectError) as info:
                await client.get_progress(cid)
        assert sim.stats.requests_total <= 4
    assert "redirect loop at" in str(info.value)


@pytest.mark.anyio
async def test_endless_distinct_redirects_are_refused() -> None:
    """Redirects to ever new URLs stop after 10 hops with RedirectError."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        for i in range(30):
            sim.faults.inject(
                Fault.raw(302, b"", headers={"Location": f"/web/hop/{i}"}), times=1, where="web"
            )
        async with Client(sim.url, retry=FAST) as client:
            with pytest.raises(RedirectError) as info:
                await client.get_progress(cid)
        assert sim.stats.requests_total == 11
    assert "more than 10 redirects" in str(info.value)


# -- resource limits ----------------------------------------------------------------------

BODY_SIZE = 64 << 20  # what the server would send in full: 64 MiB
CAP = 64 << 10


class Firehose:
    """A raw TCP server answering 200 with a huge body, counting what it managed to send."""

    def __init__(self, *, chunked: bool) -> None:
        self.chunked = chunked
        self.sent = 0
        self.broken = anyio.Event()

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        """Read the request head, then send until the client goes away."""
        await stream.receive()
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += (
            "Transfer-Encoding: chunked\r\n\r\n"
            if self.chunked
            else (f"Content-Length: {BODY_SIZE}\r\n\r\n")
        )
        chunk = b" " * (64 << 10)
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk) if self.chunked else chunk
        try:
            start = b'{"id":1,"error_description":"'
            if self.chunked:
                start = b"%x\r\n%s\r\n" % (len(start), start)
            await stream.send(head.encode() + start)
            while self.sent < BODY_SIZE:
                await stream.send(framed)
                self.sent += len(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self.broken.set()
        finally:
            await stream.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_body_is_refused_without_being_read(chunked: bool) -> None:
    """A 64 MiB body against a 64 KiB cap: ResponseTooLargeError, and the client hangs up
    long before the server could send it all (the server sees a broken pipe)."""
    firehose = Firehose(chunked=chunked)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    with anyio.fail_after(10):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, firehose.handle)
            url = f"http://127.0.0.1:{port}"
            async with Client(url, retry=FAST, max_body_size=CAP) as client:
                with pytest.raises(ResponseTooLargeError) as info:
                    await client.get_progress(1)
                assert client.stats.requests == 1  # not retried
            await firehose.broken.wait()
            tg.cancel_scope.cancel()
    assert firehose.sent < BODY_SIZE // 4
    assert f"max_body_size={CAP}" in str(info.value)


@pytest.mark.anyio
async def test_simulator_oversized_fault_is_refused() -> None:
    """The simulator's oversized answer raises ResponseTooLargeError; the next poll works."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.oversized(size=4 << 20), times=1)
        async with Client(sim.url, retry=FAST, max_body_size=CAP) as client:
            with pytest.raises(ResponseTooLargeError) as info:
                await client.get_progress(cid)
            assert (await client.get_progress(cid)).command_id == cid
    assert info.value.command_id == cid
    assert "refused unread" in str(info.value)


class Trickle:
    """A raw TCP server that sends the head, then one body byte at a time, forever."""

    def __init__(self, *, silent: bool) -> None:
        self.silent = silent

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        """Answer slowly until the client goes away."""
        await stream.receive()
        try:
            await stream.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{"
            )
            while True:
                if self.silent:
                    await anyio.sleep_forever()
                await anyio.sleep(0.02)  # the server's pace, not a wait for an event
                await stream.send(b" ")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await stream.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("silent", "limits"),
    [(True, Timeouts(read=0.2, total=None)), (False, Timeouts(read=0.2, total=0.5))],
    ids=["silent-after-head-read-timeout", "trickle-total-timeout"],
)
@pytest.mark.realclock("aiohttp's read and total timeouts cut a trickling socket: loop time")
async def test_slow_loris_is_bounded(silent: bool, limits: Timeouts) -> None:
    """A body that stalls is cut by the read timeout; one that trickles forever by the total."""
    trickle = Trickle(silent=silent)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, trickle.handle)
        url = f"http://127.0.0.1:{port}"
        async with Client(url, retry=RetryPolicy(attempts=1), timeout=limits) as client:
            start = anyio.current_time()
            with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
                await client.get_progress(1)
            elapsed = anyio.current_time() - start
        tg.cancel_scope.cancel()
    assert 0.15 <= elapsed < 2.0
    assert isinstance(info.value, TimeoutError)
    assert "got no answer in time" in str(info.value)
