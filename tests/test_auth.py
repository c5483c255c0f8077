"""Logging in: CAS and Basic against the simulator, single-flight re-login, no leaked secrets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
import pytest

from cmdprogress import BasicAuth, CASAuth, Client, PollPolicy, RetryPolicy
from cmdprogress.exceptions import (
    AccountLockedError,
    AuthenticationError,
    LoginRejectedError,
    PasswordChangeRequiredError,
    RedirectError,
    SessionError,
)
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002)
POLL = PollPolicy(throttle_pause=0.001)


def cas_client(sim: ManagerSimulator, password: str | None = None, **kwargs: Any) -> Client:
    """A client logging in to ``sim`` through CAS."""
    assert sim.cas_url is not None
    auth = CASAuth(sim.username, password or sim.password, cas_url=sim.cas_url)
    return Client(sim.url, auth=auth, retry=FAST, poll=POLL, **kwargs)


def basic_client(sim: ManagerSimulator, password: str | None = None, **kwargs: Any) -> Client:
    """A client logging in to ``sim`` with HTTP Basic."""
    auth = BasicAuth(sim.username, password or sim.password)
    return Client(sim.url, auth=auth, retry=FAST, poll=POLL, **kwargs)


@pytest.mark.anyio
async def test_cas_login_then_polls_reuse_the_session() -> None:
    """CAS login happens once, before the first poll; later polls just use the session."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with cas_client(sim) as client:
            for _ in range(5):
                p = await client.get_progress(cid)
        assert p.command_id == cid
        assert sim.stats.login_attempts == 1
        assert sim.stats.logins_ok == 1
        assert client.stats.logins == 1
        assert client.stats.relogins == 0
        assert sim.stats.progress_requests[cid] == 5


@pytest.mark.anyio
async def test_default_cas_url_is_port_20009() -> None:
    """Without cas_url the CAS server is the Manager's host, port 20009, path /cas."""
    from cmdprogress._auth import CAS_PORT

    auth = CASAuth("admin", "pw")
    base = Client("https://10.0.0.5:28443").base_url
    from yarl import URL

    assert str(auth._cas_base(URL(base))) == f"https://10.0.0.5:{CAS_PORT}/cas"
    custom = CASAuth("admin", "pw", cas_url="https://cas.example:9443/")
    assert str(custom._cas_base(URL(base))) == "https://cas.example:9443/cas"
    keep = CASAuth("admin", "pw", cas_url="https://cas.example:9443/sso")
    assert str(keep._cas_base(URL(base))) == "https://cas.example:9443/sso"


@pytest.mark.anyio
async def test_100_concurrent_requests_on_an_expired_session_cause_one_login() -> None:
    """After expiry, 100 concurrent polls share exactly one re-login, then all succeed."""
    async with ManagerSimulator(auth="cas") as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=10.0)) for _ in range(100)]
        async with cas_client(sim, max_concurrency=100) as client:
            await client.get_progress(ids[0])
            assert sim.stats.logins_ok == 1
            sim.expire_sessions()
            with anyio.fail_after(20):
                results = await asyncio.gather(*(client.get_progress(i) for i in ids))
        assert [p.command_id for p in results] == ids
        assert sim.stats.login_attempts == 2
        assert sim.stats.logins_ok == 2
        assert client.stats.logins == 2
        assert client.stats.relogins == 1
        assert client.stats.errors == 0


@pytest.mark.anyio
async def test_login_page_with_200_triggers_a_relogin() -> None:
    """An HTML login page answered with 200 is an expired session: re-login, then repeat."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with cas_client(sim) as client:
            await client.get_progress(cid)
            sim.faults.inject(Fault.login_page(), times=1)
            p = await client.get_progress(cid)
        assert p.command_id == cid
        assert sim.stats.logins_ok == 2
        assert client.stats.relogins == 1


@pytest.mark.anyio
async def test_session_refused_after_relogin_is_a_session_error() -> None:
    """A session refused after every one of three fresh logins ends in SessionError."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with cas_client(sim) as client:
            await client.get_progress(cid)
            sim.faults.inject(Fault.login_page(), times=100)
            with pytest.raises(SessionError) as info:
                await client.get_progress(cid)
        assert sim.stats.logins_ok == 4  # the first login, then three re-logins, no more
    assert isinstance(info.value, AuthenticationError)


@pytest.mark.anyio
async def test_session_expiring_again_during_the_repeat_is_not_an_error() -> None:
    """A session that expires again right after a re-login costs one more login, not an error."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with cas_client(sim) as client:
            await client.get_progress(cid)
            sim.faults.inject(Fault.login_page(), times=2)
            p = await client.get_progress(cid)
        assert p.command_id == cid
        assert sim.stats.logins_ok == 3
        assert client.stats.relogins == 2


@pytest.mark.anyio
async def test_wrong_cas_password_is_one_attempt_and_sticks() -> None:
    """A wrong password: one login attempt, LoginRejectedError, and later calls fail fast."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with cas_client(sim, password="wrong-password") as client:
            with pytest.raises(LoginRejectedError) as info:
                await client.get_progress(cid)
            results = await asyncio.gather(
                *(client.get_progress(cid) for _ in range(10)), return_exceptions=True
            )
        assert all(isinstance(r, LoginRejectedError) for r in results)
        assert sim.stats.login_attempts == 1
        assert sim.stats.progress_requests[cid] == 0
    message = str(info.value)
    assert sim.username in message
    assert "wrong-password" not in message
    assert "not retried" in message


@pytest.mark.anyio
async def test_locked_account_is_reported() -> None:
    """Locking wrong passwords, then the right one: AccountLockedError, each tried once."""
    async with ManagerSimulator(auth="cas", lockout_threshold=2) as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with cas_client(sim, password="wrong-password") as client:
            with pytest.raises(LoginRejectedError):
                await client.get_progress(cid)
        async with cas_client(sim, password="wrong-password") as client:
            with pytest.raises(AccountLockedError):
                await client.get_progress(cid)
        async with cas_client(sim) as client:
            with pytest.raises(AccountLockedError) as info:
                await client.get_progress(cid)
            with pytest.raises(AccountLockedError):
                await client.get_progress(cid)
        assert sim.stats.login_attempts == 3
    assert "locked" in str(info.value)


@pytest.mark.anyio
async def test_password_change_required_is_reported() -> None:
    """A modify_password page raises PasswordChangeRequiredError."""
    async with ManagerSimulator(auth="cas", password_change_required=True) as sim:
        async with cas_client(sim) as client:
            with pytest.raises(PasswordChangeRequiredError) as info:
                await client.get_progress(1)
        assert sim.stats.login_attempts == 1
    assert "web UI" in str(info.value)


@pytest.mark.anyio
async def test_cas_url_that_is_not_cas_fails_clearly() -> None:
    """A cas_url pointing at something without a login form raises AuthenticationError."""
    async with ManagerSimulator(auth="cas") as sim, ManagerSimulator() as not_cas:
        auth = CASAuth(sim.username, sim.password, cas_url=not_cas.url)
        async with Client(sim.url, auth=auth, retry=FAST, poll=POLL) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.get_progress(1)
        assert not_cas.stats.paths == ["/cas/login"]  # the password was never posted
    assert "cas_url" in str(info.value)


@pytest.mark.anyio
async def test_basic_login_keeps_the_session_cookie() -> None:
    """Basic: one credential check, then the session cookie carries the polls."""
    async with ManagerSimulator(auth="basic") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with basic_client(sim) as client:
            for _ in range(3):
                p = await client.get_progress(cid)
            sim.expire_sessions()
            await client.get_progress(cid)
        assert p.command_id == cid
        assert sim.stats.login_attempts == 2
        assert sim.stats.logins_ok == 2
        assert client.stats.relogins == 1


@pytest.mark.anyio
async def test_wrong_basic_password_is_one_attempt() -> None:
    """Basic with a wrong password: exactly one attempt, LoginRejectedError."""
    async with ManagerSimulator(auth="basic") as sim:
        async with basic_client(sim, password="nope-nope") as client:
            for _ in range(3):
                with pytest.raises(LoginRejectedError):
                    await client.get_progress(1)
        assert sim.stats.login_attempts == 1


@pytest.mark.anyio
async def test_basic_credentials_never_follow_a_redirect_to_another_host() -> None:
    """A login redirected to a foreign host is refused; that host receives nothing."""
    async with ManagerSimulator(auth="basic") as sim, ManagerSimulator() as other:
        sim.faults.inject(
            Fault.raw(307, b"", headers={"Location": f"{other.url}/web/v1/access/login_check"}),
            times=1,
            where="web",
        )
        async with basic_client(sim) as client:
            with pytest.raises(RedirectError):
                await client.get_progress(1)
        assert other.stats.paths == []


@pytest.mark.anyio
async def test_debug_log_of_a_whole_run_holds_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """A DEBUG log of login, expiry, re-login and polling never shows password or cookies."""
    caplog.set_level(logging.DEBUG)
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=3, duration=10.0))
        cookies: set[str] = set()
        async with cas_client(sim) as client:
            await client.get_progress(cid)
            assert client._transport is not None
            jar = client._transport.cookie_jar
            cookies |= {m.value for m in jar}
            sim.expire_sessions()
            sim.advance(cid)
            await client.get_progress(cid)
            cookies |= {m.value for m in client._transport.cookie_jar}
            with pytest.raises(Exception) as info:
                await client.get_progress(cid + 100)
        assert client.stats.relogins == 1
    ours = [
        r for r in caplog.records if r.name.startswith("cmdprogress.") and ".testing" not in r.name
    ]
    assert any("command" in r.getMessage() for r in ours)
    assert any(r.levelno == logging.INFO and "logging in again" in r.getMessage() for r in ours)
    text = "\n".join(r.getMessage() for r in ours) + repr(info.value) + str(client)
    cookies = {c for c in cookies if len(c) >= 6}
    assert len(cookies) >= 2  # casSessionId, CASTGC, JSESSIONID were seen
    assert sim.password not in text
    for value in cookies:
        assert value not in text
    assert "ticket=" not in text


@pytest.mark.anyio
async def test_transient_error_during_cas_login_is_retried() -> None:
    """A 502 on the login check is retried with the ticket held: one password post in all."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.status(502), times=1, where="web")
        async with cas_client(sim) as client:
            p = await client.get_progress(cid)
        assert p.command_id == cid
        assert client.stats.logins == 1
        assert client.stats.retries == 1
        assert sim.stats.login_attempts == 1
        assert sim.stats.logins_ok == 1


@pytest.mark.anyio
async def test_transient_error_during_basic_login_is_retried() -> None:
    """A 503 on the Basic login request is retried; then the poll works."""
    async with ManagerSimulator(auth="basic") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.status(503), times=1, where="web")
        async with basic_client(sim) as client:
            p = await client.get_progress(cid)
        assert p.command_id == cid
        assert client.stats.logins == 1


@pytest.mark.anyio
async def test_login_retry_waits_for_the_shared_cool_down() -> None:
    """A retry after a failed login waits for the login cool-down instead of failing in it.

    The 503 asks for ``Retry-After: 0`` (the caller's retry delay), while the
    cool-down is the backoff (0.2 s): on any event loop the retry comes before
    the cool-down ends.  It must wait for it and log in, not fail with a copy of
    the 503 (nor send a second login inside the cool-down).
    """
    retry = RetryPolicy(attempts=2, backoff=0.2, max_backoff=0.2)
    async with ManagerSimulator(auth="basic") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.status(503, retry_after=0), times=1, where="web")
        auth = BasicAuth(sim.username, sim.password)
        async with Client(sim.url, auth=auth, retry=retry, poll=POLL) as client:
            p = await client.get_progress(cid)
        assert p.command_id == cid
        assert client.stats.logins == 1
        assert client.stats.retries == 1
        assert sim.stats.login_attempts == 1


@pytest.mark.anyio
async def test_manager_that_refuses_basic_says_so() -> None:
    """A Basic login answered with an unexpected status raises AuthenticationError."""
    async with ManagerSimulator(auth="basic") as sim:
        sim.faults.inject(Fault.raw(418, b"no"), times=1, where="web")
        async with basic_client(sim) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.get_progress(1)
        assert sim.stats.login_attempts == 0
    assert "CASAuth" in str(info.value)


def test_login_form_fields_are_parsed_in_any_quoting() -> None:
    """Hidden inputs are read with double, single or no quotes and HTML entities."""
    from cmdprogress._auth import _form_fields

    page = b"""<form><input type="hidden" name="lt" value="LT-1-a&amp;b-cas">
    <INPUT TYPE=hidden NAME=execution VALUE=e1s1>
    <input name='_eventId' value='submit'/><input name="lt" value="second">
    <input type="password" name="password"></form>"""
    fields = _form_fields(page)
    assert fields == {
        "lt": "LT-1-a&b-cas",
        "execution": "e1s1",
        "_eventId": "submit",
        "password": "",
    }
