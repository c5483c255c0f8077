"""The bad-input table (docs/guarantees.md): each wrong input, its exact error and message.

Every row of the table is one parametrised case here, named after the row.
Network rows run against the simulator (or a plain TCP listener) on 127.0.0.1.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import pytest

from cmdprogress import (
    BasicAuth,
    CASAuth,
    Client,
    CommandProgress,
    CommandState,
    PollPolicy,
    RetryPolicy,
    Timeouts,
)
from cmdprogress.exceptions import (
    AccountLockedError,
    AuthenticationError,
    ConnectError,
    InvalidArgumentError,
    InvalidCommandIdError,
    LoginRejectedError,
    PasswordChangeRequiredError,
    ProtocolError,
    TLSError,
    UnknownCommandError,
)
from cmdprogress.testing import ManagerSimulator, Timeline

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.002)
ID_MESSAGE = (
    "is not a command id; pass a non-negative integer such as 1234 "
    "(the id returned by the asynchronous request)"
)

# -- command ids ------------------------------------------------------------------

BAD_IDS: dict[str, object] = {
    "negative": -1,
    "bool": True,
    "float": 7.0,
    "digits-and-letters": "12a",
    "empty": "",
    "leading-space": " 7",
    "non-ascii-digits": "\u0663",  # ARABIC-INDIC DIGIT THREE: isdigit() is True
    "none": None,
    "huge-int": 2**63,
    "huge-text": "9" * 40,
    "path-injection": "1/../../x",
    "query-injection": "1/progress?x=",
}


def _calls(client: Client, bad: object) -> dict[str, Callable[[], Awaitable[object]]]:
    async def watch() -> None:
        async for _ in client.watch(bad):  # type: ignore[arg-type]
            pass

    async def watch_many() -> None:
        async for _ in client.watch_many([1, bad]):  # type: ignore[list-item]
            pass

    return {
        "get_progress": lambda: client.get_progress(bad),  # type: ignore[arg-type]
        "wait": lambda: client.wait(bad),  # type: ignore[arg-type]
        "wait_all": lambda: client.wait_all([1, bad]),  # type: ignore[list-item]
        "watch": watch,
        "watch_many": watch_many,
    }


@pytest.mark.anyio
@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
async def test_bad_command_id(bad: object) -> None:
    """A wrong id raises InvalidCommandIdError (a ValueError) in every method; nothing is sent."""
    async with ManagerSimulator() as sim:
        sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with Client(sim.url, retry=FAST) as client:
            for name, call in _calls(client, bad).items():
                with pytest.raises(InvalidCommandIdError) as info:
                    await call()
                message = str(info.value)
                assert message.startswith("command_id: "), name
                assert ID_MESSAGE in message, name
                assert isinstance(info.value, ValueError)
                assert info.value.argument == "command_id"
                assert info.value.value == bad
        assert sim.stats.paths == []
        assert sim.stats.requests_total == 0


# Ids that arrive inside a resume snapshot (`since=`, `Watcher.resume`): CommandProgress
# does not check its fields, so the client does.
SINCE_IDS: dict[str, object] = {
    "path-injection": "1/../../web/v1/access/logout?x=",
    "negative": -5,
    "beyond-64-bits": 2**70,
    "bool": True,
}


def _since_calls(client: Client, p: CommandProgress) -> dict[str, Callable[[], Awaitable[object]]]:
    async def watch_many() -> None:
        async for _ in client.watch_many([], since=[p]):
            pass

    async def watcher() -> None:
        async with client.watcher(since=[p]) as w:
            async for _ in w:
                pass

    async def resume() -> None:
        async with client.watcher(close_when_done=False) as w:
            w.resume(p)

    async def watch() -> None:
        async for _ in client.watch(1, since=p):
            pass

    return {"watch_many": watch_many, "watcher": watcher, "resume": resume, "watch": watch}


@pytest.mark.anyio
@pytest.mark.parametrize("bad", list(SINCE_IDS.values()), ids=list(SINCE_IDS))
async def test_bad_command_id_in_a_resume_snapshot(bad: object) -> None:
    """An id that comes in a `since=` / `resume()` snapshot is validated like any other:
    InvalidCommandIdError, and nothing reaches the Manager."""
    p = CommandProgress(command_id=bad, state=CommandState.IN_PROGRESS)  # type: ignore[arg-type]
    async with ManagerSimulator() as sim:
        sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with Client(sim.url, retry=FAST) as client:
            for name, call in _since_calls(client, p).items():
                with pytest.raises(InvalidCommandIdError) as info:
                    await call()
                assert ID_MESSAGE in str(info.value), name
                assert info.value.value == bad
            await anyio.wait_all_tasks_blocked()
        assert sim.stats.requests_total == 0


@pytest.mark.anyio
async def test_since_that_is_not_a_snapshot() -> None:
    """`since=` takes snapshots only: anything else is InvalidArgumentError, nothing sent."""
    async with ManagerSimulator() as sim:
        async with Client(sim.url, retry=FAST) as client:
            with pytest.raises(InvalidArgumentError) as info:
                client.watch(1, since={"command_id": 1})  # type: ignore[arg-type]
            assert str(info.value) == (
                "since: expected a CommandProgress (a snapshot a watch yielded), got dict"
            )
            with pytest.raises(InvalidArgumentError):
                client.watch_many([], since=["1"])  # type: ignore[list-item]
        assert sim.stats.requests_total == 0


# -- base URL ---------------------------------------------------------------------

SCHEME_MESSAGE = "needs an http:// or https:// scheme and a host, e.g. 'https://10.0.0.5:28443'"
BAD_URLS: dict[str, tuple[object, str]] = {
    "no-scheme": ("10.0.0.5:28443", f"base_url: '10.0.0.5:28443' {SCHEME_MESSAGE}"),
    "no-scheme-host-path": ("manager.example/web", SCHEME_MESSAGE),
    "non-http-scheme": (
        "ftp://10.0.0.5:28443",
        f"base_url: 'ftp://10.0.0.5:28443' {SCHEME_MESSAGE}",
    ),
    "no-host": ("http://", SCHEME_MESSAGE),
    "no-host-with-port": ("https://:28443", "base_url: 'https://:28443' is not a URL"),
    "empty": ("", SCHEME_MESSAGE),
    "port-out-of-range": ("https://10.0.0.5:99999", "is not a URL (Port out of range"),
    "not-a-string": (28443, "base_url: expected a URL string, got int"),
    "credentials-in-url": (
        "https://admin:s3cret@10.0.0.5:28443",
        "base_url: must not contain credentials; pass auth=BasicAuth(...) or CASAuth(...)",
    ),
    "query-string": ("https://10.0.0.5:28443?x=1", "base_url: must not have a query string"),
}


@pytest.mark.parametrize(("url", "message"), list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_bad_base_url(url: object, message: str) -> None:
    """A base URL that is not http(s)://host[:port] raises InvalidArgumentError naming base_url."""
    with pytest.raises(InvalidArgumentError) as info:
        Client(url)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert info.value.argument == "base_url"
    assert "s3cret" not in str(info.value)


# -- limits and policies -------------------------------------------------------------

BAD_SETTINGS: dict[str, tuple[Callable[[], object], str]] = {
    "max_concurrency-zero": (
        lambda: Client("http://127.0.0.1:1", max_concurrency=0),
        "max_concurrency: must be >= 1, got 0",
    ),
    "max_concurrency-negative": (
        lambda: Client("http://127.0.0.1:1", max_concurrency=-4),
        "max_concurrency: must be >= 1, got -4",
    ),
    "max_concurrency-bool": (
        lambda: Client("http://127.0.0.1:1", max_concurrency=True),
        "max_concurrency: expected an int, got bool",
    ),
    "max_body_size-zero": (
        lambda: Client("http://127.0.0.1:1", max_body_size=0),
        "max_body_size: must be >= 1, got 0",
    ),
    "poll-not-a-policy": (
        lambda: Client("http://127.0.0.1:1", poll={"interval": 1}),  # type: ignore[arg-type]
        "poll: expected a PollPolicy, got dict",
    ),
    "interval-zero": (
        lambda: PollPolicy(interval=0),
        "interval: must be a positive finite number, got 0",
    ),
    "interval-negative": (
        lambda: PollPolicy(interval=-1),
        "interval: must be a positive finite number, got -1",
    ),
    "interval-nan": (
        lambda: PollPolicy(interval=float("nan")),
        "interval: must be a positive finite number, got nan",
    ),
    "interval-infinite": (
        lambda: PollPolicy(interval=float("inf")),
        "interval: must be a positive finite number, got inf",
    ),
    "interval-bool": (
        lambda: PollPolicy(interval=True),
        "interval: expected a number of seconds, got bool",
    ),
    "max_interval-below-interval": (
        lambda: PollPolicy(interval=5.0, max_interval=1.0),
        "max_interval: must be >= interval (1.0 < 5.0)",
    ),
    "backoff-below-one": (lambda: PollPolicy(backoff=0.5), "backoff: must be >= 1, got 0.5"),
    "jitter-above-one": (lambda: PollPolicy(jitter=2), "jitter: must be between 0 and 1, got 2"),
    "stall_timeout-zero": (
        lambda: PollPolicy(stall_timeout=0),
        "stall_timeout: must be a positive finite number, got 0",
    ),
    "outage_grace-negative": (
        lambda: PollPolicy(outage_grace=-1),
        "outage_grace: must be >= 0 and finite, got -1",
    ),
    "max_commands-zero": (
        lambda: PollPolicy(max_commands=0),
        "max_commands: must be at least 1, got 0",
    ),
    "max_requests_per_second-zero": (
        lambda: PollPolicy(max_requests_per_second=0),
        "max_requests_per_second: must be a positive finite number, got 0",
    ),
    "throttle_pause-zero": (
        lambda: PollPolicy(throttle_pause=0),
        "throttle_pause: must be a positive finite number, got 0",
    ),
    "retry-attempts-zero": (
        lambda: RetryPolicy(attempts=0),
        "attempts: must be between 1 and 100, got 0",
    ),
    "retry-backoff-negative": (
        lambda: RetryPolicy(backoff=-1),
        "backoff: must be a non-negative finite number, got -1",
    ),
    "timeout-total-zero": (
        lambda: Timeouts(total=0),
        "timeout.total: must be a positive finite number, got 0",
    ),
    "timeout-connect-negative": (
        lambda: Timeouts(connect=-1),
        "timeout.connect: must be a positive finite number, got -1",
    ),
}


@pytest.mark.parametrize(("make", "message"), list(BAD_SETTINGS.values()), ids=list(BAD_SETTINGS))
def test_bad_limit_or_policy(make: Callable[[], object], message: str) -> None:
    """Zero, negative, non-finite or contradictory settings raise InvalidArgumentError at once."""
    with pytest.raises(InvalidArgumentError) as info:
        make()
    assert str(info.value) == message
    assert info.value.argument == message.split(":", 1)[0]


@pytest.mark.anyio
async def test_too_many_commands() -> None:
    """Watching more than PollPolicy(max_commands): InvalidArgumentError; the extra is not sent."""
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=10.0)) for _ in range(3)]
        async with Client(sim.url, retry=FAST, poll=PollPolicy(max_commands=2)) as client:
            with pytest.raises(InvalidArgumentError) as info:
                async for _ in client.watch_many(ids):
                    pass
        assert sim.stats.progress_requests[ids[2]] == 0
    assert info.value.argument == "command_ids"
    assert "already watches 2 commands, the PollPolicy(max_commands=...) limit" in str(info.value)


# -- where the Manager is ---------------------------------------------------------------


@pytest.mark.anyio
async def test_unreachable_host() -> None:
    """A closed port on 127.0.0.1: ConnectError naming host:port, after the retries."""
    async with ManagerSimulator() as sim:
        url = sim.url  # closed when the block ends: nothing listens there any more
    port = url.rsplit(":", 1)[1]
    async with Client(url, retry=FAST) as client:
        with pytest.raises(ConnectError) as info:
            await client.get_progress(1)
        assert client.stats.requests == 2
    assert re.match(
        rf"cannot connect to 127\.0\.0\.1:{port} \(.*\); check the address and that the "
        r"Manager is reachable$",
        str(info.value),
    )
    assert isinstance(info.value, ConnectionError)


async def _close_at_once(stream: anyio.abc.SocketStream) -> None:
    await stream.aclose()


async def _speak_ssh(stream: anyio.abc.SocketStream) -> None:
    await stream.send(b"SSH-2.0-OpenSSH_9.6\r\n")
    await stream.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("handler", "error", "what", "requests"),
    [
        (_close_at_once, ConnectError, "the connection broke (", 2),
        (_speak_ssh, ProtocolError, "the answer is not HTTP cmdprogress can read (", 1),
    ],
    ids=["wrong-port-closes", "wrong-port-garbage"],
)
async def test_wrong_port(
    handler: Callable[[anyio.abc.SocketStream], Awaitable[None]],
    error: type[Exception],
    what: str,
    requests: int,
) -> None:
    """A port that is not the Manager: one that closes at once is a ConnectError (retried
    once); one that speaks another protocol a ProtocolError at once. Both say what to check."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        async with Client(f"http://127.0.0.1:{port}", retry=FAST) as client:
            with pytest.raises(error) as info:
                await client.get_progress(1)
            assert client.stats.requests == requests
        tg.cancel_scope.cancel()
    assert str(info.value).startswith(
        f"GET http://127.0.0.1:{port}/web/v1/common/command/1/progress: {what}"
    )
    assert str(info.value).endswith(
        "check that the port is the Manager's web port (28443 by default) and the scheme "
        "(http/https) is right"
    )
    assert "\n" not in str(info.value)


@pytest.mark.anyio
async def test_https_to_a_plain_http_port() -> None:
    """https:// to a port that speaks plain HTTP: TLSError saying to use http:// (not a CA)."""
    async with ManagerSimulator() as sim:
        async with Client(sim.url.replace("http://", "https://"), retry=FAST) as client:
            with pytest.raises(TLSError) as info:
                await client.get_progress(1)
        assert sim.stats.progress_requests[1] == 0
        assert f"use {sim.url} in the URL" in str(info.value)


@pytest.mark.anyio
async def test_untrusted_certificate() -> None:
    """A private CA not given: TLSError explaining ssl=... and ssl=False; not retried."""
    async with ManagerSimulator(tls=True) as sim:
        where = sim.url.removeprefix("https://")
        async with Client(sim.url, retry=FAST) as client:
            with pytest.raises(TLSError) as info:
                await client.get_progress(1)
            assert client.stats.requests == 1
        assert sim.stats.progress_requests[1] == 0
    message = str(info.value)
    assert message.startswith(f"TLS with {where} failed (")
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert message.endswith(
        "If the Manager uses a private CA, pass it: "
        "ssl=ssl.create_default_context(cafile='manager-ca.pem') (or ssl='manager-ca.pem'); "
        "ssl=False turns verification off (not recommended)"
    )


# -- logging in ---------------------------------------------------------------------------


def _auth(sim: ManagerSimulator, mode: str, password: str) -> CASAuth | BasicAuth:
    if mode == "cas":
        return CASAuth(sim.username, password, cas_url=sim.cas_url)
    return BasicAuth(sim.username, password)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["cas", "basic"])
async def test_login_required_but_no_auth(mode: str) -> None:
    """A Manager asking for a login, no auth given: AuthenticationError saying what to pass."""
    async with ManagerSimulator(auth=mode) as sim:  # type: ignore[arg-type]
        async with Client(sim.url, retry=FAST) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.get_progress(1)
        assert sim.stats.login_attempts == 0
    assert str(info.value) == (
        f"GET {sim_url(info.value.url)}/web/v1/common/command/1/progress: the Manager asks for a "
        "login; pass auth=CASAuth(user, password) or auth=BasicAuth(user, password)"
    )


def sim_url(url: str) -> str:
    """The base of a progress URL."""
    return url.split("/web/", 1)[0]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["cas", "basic"])
async def test_wrong_password(mode: str) -> None:
    """A wrong password: LoginRejectedError, sent once, never retried, not in the message."""
    async with ManagerSimulator(auth=mode) as sim:  # type: ignore[arg-type]
        async with Client(sim.url, auth=_auth(sim, mode, "Wrong-Pw-123"), retry=FAST) as client:
            for _ in range(3):
                with pytest.raises(LoginRejectedError) as info:
                    await client.get_progress(1)
        assert sim.stats.login_attempts == 1
    assert str(info.value) == (
        "the Manager rejected the user name or password of 'admin'; not retried (five failures "
        "lock the account): fix the credentials, then open a new client"
    )
    assert "Wrong-Pw-123" not in repr(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["cas", "basic"])
async def test_locked_account(mode: str) -> None:
    """A locked account: AccountLockedError saying to wait, even with the right password."""
    async with ManagerSimulator(auth=mode, lockout_threshold=1) as sim:  # type: ignore[arg-type]
        async with Client(sim.url, auth=_auth(sim, mode, "Wrong-Pw-123"), retry=FAST) as client:
            with pytest.raises(AccountLockedError):  # the one wrong password locks it
                await client.get_progress(1)
        assert sim.locked
        async with Client(sim.url, auth=_auth(sim, mode, sim.password), retry=FAST) as client:
            with pytest.raises(AccountLockedError) as info:
                await client.get_progress(1)
        assert sim.stats.login_attempts == 2
    assert str(info.value) == (
        "the account 'admin' is locked after too many failed logins; wait (5 minutes by "
        "default), fix the password, then open a new client"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["cas", "basic"])
async def test_password_change_required(mode: str) -> None:
    """A password that must be changed first: PasswordChangeRequiredError saying where."""
    sim = ManagerSimulator(auth=mode, password_change_required=True)  # type: ignore[arg-type]
    async with sim, Client(sim.url, auth=_auth(sim, mode, sim.password), retry=FAST) as client:
        with pytest.raises(PasswordChangeRequiredError) as info:
            await client.get_progress(1)
    assert str(info.value) == (
        "the Manager requires a new password for 'admin'; log in once in the Manager's web UI "
        "and change it"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["cas", "basic"])
async def test_expired_session_recovers(mode: str) -> None:
    """An expired session is not an error: one re-login, the poll answers."""
    async with ManagerSimulator(auth=mode) as sim:  # type: ignore[arg-type]
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with Client(sim.url, auth=_auth(sim, mode, sim.password), retry=FAST) as client:
            await client.get_progress(cid)
            sim.expire_sessions()
            sim.advance(cid)
            p = await client.get_progress(cid)
            assert client.stats.logins == 2
            assert client.stats.relogins == 1
        assert p.state.value == "IN_PROGRESS"
        assert sim.stats.logins_ok == 2


@pytest.mark.anyio
async def test_unknown_command_id() -> None:
    """An id the Manager does not know: UnknownCommandError (404), with the id; not retried."""
    async with ManagerSimulator() as sim:
        known = sim.add_command(Timeline.build())
        async with Client(sim.url, retry=FAST) as client:
            await client.get_progress(known)  # the URL is a Manager's: only the id is wrong
            with pytest.raises(UnknownCommandError) as info:
                await client.get_progress(4242)
        assert sim.stats.progress_requests[4242] == 1
    assert str(info.value) == (
        f"the Manager does not know command 4242 (404 at {sim_url(info.value.url)}"
        "/web/v1/common/command/4242/progress); check the id (it comes from the "
        "start/stop/save answer)"
    )
    assert info.value.status == 404
    assert info.value.command_id == 4242
    assert isinstance(info.value, LookupError)


# -- actions ----------------------------------------------------------------------------


def _deep(depth: int) -> dict[str, object]:
    root: dict[str, object] = {}
    node = root
    for _ in range(depth):
        child: dict[str, object] = {}
        node["x"] = child
        node = child
    return root


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("summary", "message"),
    [
        (
            _deep(100_000),
            "configurations_summary: is nested too deeply to be sent as JSON; pass the "
            "Manager's configuration object, not a self-referencing or generated structure",
        ),
        (
            {"x": float("nan")},
            "configurations_summary: is not JSON serialisable "
            "(Out of range float values are not JSON compliant",
        ),
        (
            {"services": [{"heap": float("inf")}]},
            "configurations_summary: is not JSON serialisable "
            "(Out of range float values are not JSON compliant",
        ),
    ],
    ids=["100k-deep", "nan", "infinity"],
)
async def test_save_configurations_that_are_not_json(summary: object, message: str) -> None:
    """A configuration too deep to serialise, or holding NaN/infinity (not JSON), is an
    InvalidArgumentError before anything is sent."""
    async with ManagerSimulator() as sim:
        async with Client(sim.url, retry=FAST) as client:
            with pytest.raises(InvalidArgumentError) as info:
                await client.save_configurations(summary)  # type: ignore[arg-type]
        assert sim.stats.requests_total == 0
    assert str(info.value).startswith(message)
