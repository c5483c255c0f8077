"""The login never locks the account, never floods or re-posts, shares its failures (issue 15).

Every test runs the client against the simulator over real sockets, with a CAS
(or a Basic login) that answers late, refuses, throttles or hangs, and counts
on the simulator's side what matters: password sends, failed checks (counted on
receipt, as the Manager does), login requests.  ``FIGURES`` lines are printed
for the report (run with ``-s``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import pytest

from cmdprogress import BasicAuth, CASAuth, Client, PollPolicy, RetryPolicy, Timeouts
from cmdprogress.exceptions import (
    ClientClosedError,
    CmdProgressError,
    HTTPStatusError,
    LoginAttemptsExhaustedError,
    LoginRejectedError,
    RedirectError,
    RequestTimeoutError,
)
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

if TYPE_CHECKING:
    from types import SimpleNamespace

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=4, backoff=0.001, max_backoff=0.002)
POLL = PollPolicy(throttle_pause=0.001)
WRONG = "wrong-password"


def client(
    sim: ManagerSimulator, mode: str = "cas", password: str | None = None, **kwargs: Any
) -> Client:
    """A client of ``sim`` logging in with CAS or Basic (fast retries unless given)."""
    pw = password or sim.password
    auth = (
        CASAuth(sim.username, pw, cas_url=sim.cas_url)
        if mode == "cas"
        else BasicAuth(sim.username, pw)
    )
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("poll", POLL)
    return Client(sim.url, auth=auth, **kwargs)


def post_times(sim: ManagerSimulator) -> list[float]:
    """Loop times at which the CAS answered a password POST."""
    return [r.time for r in sim.stats.log if r.method == "POST" and r.path == "/cas/login"]


def figures(name: str, **values: object) -> None:
    print(f"FIGURES {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


# -- never reaching the lockout -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["cas", "basic"])
@pytest.mark.realclock("a CAS answering after Timeouts(total): real time on both sides")
async def test_a_late_wrong_password_never_reaches_the_lockout(mode: str) -> None:
    """Wrong password answered after Timeouts(total): 4 sends at most, then a typed error."""
    async with ManagerSimulator(auth=mode) as sim:  # type: ignore[arg-type]
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        # Checked (and counted) on receipt, answered after the client gave up.
        sim.faults.set_rate(Fault.delay(0.3), rate=1.0, where="password")
        results: list[object] = []
        async with client(sim, mode, WRONG, timeout=Timeouts(total=0.1)) as c:
            with anyio.fail_after(30):
                while not any(isinstance(r, LoginAttemptsExhaustedError) for r in results):
                    results += await asyncio.gather(
                        c.get_progress(cid), c.get_progress(cid), return_exceptions=True
                    )
                sends = sim.stats.password_sends
                with pytest.raises(LoginAttemptsExhaustedError) as info:
                    await c.get_progress(cid)  # fails fast, sends nothing
        figures(
            f"late wrong password ({mode})",
            password_sends=sim.stats.password_sends,
            counted_failures=sim.stats.logins_failed,
            calls=len(results) + 1,
        )
        assert sends == sim.stats.password_sends == 4
        assert sim.stats.logins_failed == 4 < sim.lockout_threshold
        assert not sim.locked
        assert sim.stats.progress_requests[cid] == 0
    assert all(isinstance(r, RequestTimeoutError | LoginAttemptsExhaustedError) for r in results)
    message = str(info.value)
    assert "one more could lock the account" in message
    assert "check the password" in message
    assert WRONG not in message


@pytest.mark.parametrize("mode", ["cas", "basic"])
@pytest.mark.realclock("callers' wait_for deadlines expire during a CAS answering late")
async def test_cancelled_waiters_never_send_the_password_again(mode: str) -> None:
    """Calls cancelled while the login runs (wait_for 0.1 s, CAS answers in 0.5 s): one send."""
    async with ManagerSimulator(auth=mode) as sim:  # type: ignore[arg-type]
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.set_rate(Fault.delay(0.5), rate=1.0, where="password")
        async with client(sim, mode, WRONG) as c:
            for _ in range(2):
                results = await asyncio.gather(
                    *(asyncio.wait_for(c.get_progress(cid), 0.1) for _ in range(5)),
                    return_exceptions=True,
                )
                # Timed out waiting (or, on a very slow machine, the shared rejection).
                assert all(isinstance(r, TimeoutError | LoginRejectedError) for r in results)
            with pytest.raises(LoginRejectedError):
                await c.get_progress(cid)  # joins the attempt still running
        figures(f"cancelled waiters ({mode})", password_sends=sim.stats.password_sends)
        assert sim.stats.password_sends == 1
        assert sim.stats.logins_failed == 1


@pytest.mark.realclock("a hung password POST ends by Timeouts(total) on the loop's clock")
async def test_concurrent_calls_with_a_hung_password_post_stay_below_the_lockout() -> None:
    """50 concurrent calls, a CAS that counts and never answers: at most 4 sends in all."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.set_rate(Fault.hang(), rate=1.0, where="password")
        async with client(sim, password=WRONG, timeout=Timeouts(total=0.05)) as c:
            with anyio.fail_after(30):
                for _ in range(3):
                    results = await asyncio.gather(
                        *(c.get_progress(cid) for _ in range(50)), return_exceptions=True
                    )
        assert sim.stats.password_sends == 4
        assert not sim.locked
        assert isinstance(results[-1], LoginAttemptsExhaustedError)


@pytest.mark.realclock("CAS answers lost to Timeouts(total) on the loop's clock")
async def test_a_good_login_resets_the_budget() -> None:
    """Doubtful sends are counted since the last success: a login in between starts over."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        timeouts = 0
        async with client(sim, timeout=Timeouts(total=0.1)) as c:
            with anyio.fail_after(30):
                for _ in range(3):
                    # Three answers lost, then a good login: 12 sends, 9 of them doubtful.
                    sim.faults.inject(Fault.delay(0.3), times=3, where="password")
                    while True:
                        try:
                            await c.get_progress(cid)
                            break
                        except RequestTimeoutError:
                            timeouts += 1
                    sim.expire_sessions()
        # attempts=4: each call waits out the login cool-down before each retry, so
        # its retries ride out the three lost answers and the fourth send logs in.
        assert timeouts == 0
        assert c.stats.retries == 9
        assert sim.stats.password_sends == 12  # 9 of them lost: more than the budget of 4
        assert c.stats.logins == 3


# -- one attempt at a time, Retry-After honoured, no flood ---------------------------------


@pytest.mark.realclock("the login cool-down of Retry-After: 1 runs on the loop's clock")
async def test_a_refused_password_post_waits_for_retry_after() -> None:
    """429 + Retry-After: 1 on the password POST: the next POST comes >= 1 s later."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.status(429, retry_after=1), where="password")
        async with client(sim) as c:
            p = await c.get_progress(cid)
            assert c.stats.throttled == 1
        posts = post_times(sim)
        figures("429 on the password POST", posts=len(posts), gap=round(posts[1] - posts[0], 3))
        assert p.command_id == cid
        assert len(posts) == sim.stats.password_sends == 2
        assert posts[1] - posts[0] >= 0.95  # the backoff alone would be 2 ms
        assert sim.stats.logins_failed == 0  # a refusal counts nothing


@pytest.mark.realclock("nothing more is sent while 2 s pass inside a Retry-After of 60 s")
async def test_a_throttling_cas_is_not_flooded() -> None:
    """Every password POST answered 429, Retry-After: 60 (all defaults): one POST in 2 s."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=600.0))
        sim.faults.set_rate(Fault.status(429, retry_after=60), rate=1.0, where="password")
        errors: list[BaseException] = []
        async with client(sim, retry=RetryPolicy(), poll=PollPolicy()) as c:

            async def call() -> None:
                try:
                    await c.get_progress(cid)
                except CmdProgressError as e:  # pragma: no cover - they wait 60 s
                    errors.append(e)

            async def watch() -> None:
                async for _ in c.watch(cid):  # pragma: no cover - never logged in
                    pass

            with anyio.move_on_after(2.0):
                async with anyio.create_task_group() as tg:
                    for _ in range(20):
                        tg.start_soon(call)
                    tg.start_soon(watch)
            assert c.stats.throttled == 1
        figures(
            "429 Retry-After 60, 20 calls + a watch, 2 s",
            password_posts=sim.stats.password_sends,
            login_pages=sim.stats.login_page_requests,
            requests=sim.stats.requests_total,
        )
        assert sim.stats.password_sends == 1
        assert sim.stats.login_page_requests == 1
        assert errors == []


@pytest.mark.realclock("the login cool-down of cas_min_interval runs on the loop's clock")
async def test_a_throttling_cas_gets_the_pace_it_asks_for() -> None:
    """cas_min_interval=1: a re-login 429-ed with Retry-After is retried when allowed, once."""
    async with ManagerSimulator(auth="cas", cas_min_interval=1.0) as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with client(sim) as c:
            await c.get_progress(cid)
            sim.expire_sessions()
            await c.get_progress(cid)
            assert c.stats.relogins == 1
        statuses = [
            r.status for r in sim.stats.log if r.path == "/cas/login" and r.method == "POST"
        ]
        posts = post_times(sim)
        figures("throttling CAS (1 s)", posts=statuses, gap=round(posts[2] - posts[0], 3))
        assert statuses == [200, 429, 200]
        assert posts[2] - posts[0] >= 0.95
        assert sim.stats.logins_ok == 2


@pytest.mark.realclock("logins 1 s apart for an outage_grace of 2.5 s, on the loop's clock")
async def test_the_watch_does_not_hammer_a_refusing_cas_for_the_outage_grace() -> None:
    """503 + Retry-After: 1 on every password POST, outage_grace=2.5 s: about one POST a second."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=600.0))
        sim.faults.set_rate(Fault.status(503, retry_after=1), rate=1.0, where="password")
        policy = PollPolicy(interval=0.01, max_interval=0.05, outage_grace=2.5)
        async with client(sim, retry=RetryPolicy(attempts=2, backoff=0.01), poll=policy) as c:
            start = anyio.current_time()
            with anyio.fail_after(20), pytest.raises(HTTPStatusError) as info:
                async for _ in c.watch(cid):  # pragma: no cover - never logged in
                    pass
            took = anyio.current_time() - start
        figures(
            "503 Retry-After 1 for a watch, outage_grace 2.5 s",
            password_posts=sim.stats.password_sends,
            login_pages=sim.stats.login_page_requests,
            seconds=round(took, 2),
        )
        assert info.value.status == 503
        assert sim.stats.password_sends <= math.ceil(took) + 1
        assert sim.stats.login_page_requests <= math.ceil(took) + 1


# -- a hung CAS: one attempt shared by everyone ----------------------------------------------


@pytest.mark.realclock("a hung CAS ends by Timeouts(total) on the loop's clock")
async def test_a_hung_cas_costs_one_attempt_for_twenty_calls() -> None:
    """20 calls, total=0.5, no retries, a CAS that never answers: 1 request, all end together."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.set_rate(Fault.hang(), rate=1.0, where="cas")
        retry = RetryPolicy(attempts=1)
        async with client(sim, retry=retry, timeout=Timeouts(total=0.5)) as c:
            start = anyio.current_time()
            with anyio.fail_after(20):
                results = await asyncio.gather(
                    *(c.get_progress(cid) for _ in range(20)), return_exceptions=True
                )
            took = anyio.current_time() - start
        figures("hung CAS, 20 calls, attempts=1", cas_requests=sim.stats.requests_total, s=took)
        assert all(isinstance(r, RequestTimeoutError) for r in results), results
        assert sim.stats.requests_total == 1
        assert len({str(r) for r in results}) == 1  # the same failure, each its own copy
        assert len({id(r) for r in results}) == 20


@pytest.mark.realclock("a hung CAS ends by Timeouts(total) on the loop's clock")
async def test_a_hung_cas_with_retries_costs_what_one_call_costs() -> None:
    """20 calls with the default retries against a hung CAS: no more attempts than one call."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.set_rate(Fault.hang(), rate=1.0, where="cas")
        async with client(sim, retry=RetryPolicy(), timeout=Timeouts(total=0.5)) as c:
            start = anyio.current_time()
            with anyio.fail_after(60):
                results = await asyncio.gather(
                    *(c.get_progress(cid) for _ in range(20)), return_exceptions=True
                )
            took = anyio.current_time() - start
        figures(
            "hung CAS, 20 calls, default retries",
            cas_requests=sim.stats.requests_total,
            seconds=round(took, 2),
        )
        assert all(isinstance(r, RequestTimeoutError) for r in results), results
        assert sim.stats.requests_total <= RetryPolicy().attempts


async def test_closing_the_client_during_a_login_raises_client_closed() -> None:
    """A call waiting on a login when the client closes gets ClientClosedError, nothing leaks."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.set_rate(Fault.hang(), rate=1.0, where="cas")
        async with client(sim) as c:
            task = asyncio.create_task(c.get_progress(cid))
            with anyio.fail_after(10):
                await sim.wait_until(lambda s: s.stats.requests_total >= 1)
        with pytest.raises(ClientClosedError):
            await task


# -- the password form: once, to the configured URL, never re-posted -----------------------------


async def test_a_307_within_cas_does_not_re_post_the_password() -> None:
    """The CAS answers the password POST with 307 to itself: refused, one POST in all."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        again = f"{sim.cas_url}/cas/login?service=x"
        sim.faults.set_rate(Fault.raw(307, b"", {"Location": again}), rate=1.0, where="password")
        async with client(sim) as c:
            with pytest.raises(RedirectError) as info:
                await c.get_progress(cid)
            with pytest.raises(RedirectError):
                await c.get_progress(cid)  # remembered: nothing more is sent
        assert sim.stats.password_sends == 1
        assert "HTTP 307" in str(info.value)
        assert "service=x" not in str(info.value)


async def test_a_308_to_the_manager_does_not_carry_the_password_there() -> None:
    """A 308 from the CAS to the Manager's host: the Manager receives no password form."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        there = f"{sim.url}/web/grab"
        sim.faults.inject(Fault.raw(308, b"", {"Location": there}), where="password")
        async with client(sim) as c:
            with pytest.raises(RedirectError):
                await c.get_progress(cid)
        assert sim.stats.password_sends == 1
        assert [r for r in sim.stats.log if r.method == "POST" and r.path != "/cas/login"] == []


async def test_basic_credentials_are_not_sent_again_by_a_307_on_the_manager() -> None:
    """Basic: a 307 from the Manager to itself is not followed with the Authorization header."""
    async with ManagerSimulator(auth="basic") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        again = f"{sim.url}/web/v1/access/login_check?again=1"
        sim.faults.inject(Fault.raw(307, b"", {"Location": again}), where="password")
        async with client(sim, "basic") as c:
            with pytest.raises(RedirectError):
                await c.get_progress(cid)
        assert sim.stats.password_sends == 1


async def test_a_cas_redirect_after_the_post_is_followed_without_the_form() -> None:
    """A 302 answering the password POST is followed as a GET: the login still works."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        to_page = f"{sim.cas_url}/cas/login"
        sim.faults.inject(Fault.raw(302, b"", {"Location": to_page}), where="password")
        async with client(sim) as c:
            with pytest.raises(CmdProgressError):
                await c.get_progress(cid)  # the login page again: not confirmed
        assert sim.stats.password_sends == 1
        assert [r.method for r in sim.stats.log if r.path == "/cas/login"] == ["GET", "POST", "GET"]


# -- no ticket, cookie or query string in messages or logs --------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.raw(200, b"x", {f"X-H{i}": "v" for i in range(150)}),
        Fault.raw(200, b"xxxx", {"Content-Encoding": "br"}),
        Fault.reset(),
        Fault.truncated(),
        Fault.status(502),
        Fault.hang(),
    ],
    ids=["too-many-headers", "brotli", "reset", "truncated", "502", "hang"],
)
@pytest.mark.realclock("a hung ticket landing page ends by Timeouts(total) on the loop's clock")
async def test_no_service_ticket_in_errors_or_logs(
    fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    """The ticket round trip (`cas_security_check.htm?ticket=ST-...`) fails: no ticket shown."""
    caplog.set_level(logging.DEBUG)
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.delay(0.0), where="web")  # the login check
        sim.faults.inject(fault, where="web")  # the ticket's landing page
        async with client(sim, retry=RetryPolicy(attempts=1), timeout=Timeouts(total=0.3)) as c:
            with pytest.raises(CmdProgressError) as info:
                await c.get_progress(cid)
    landing = [r.path for r in sim.stats.log if r.fault == fault.name]  # hung: logged at close
    assert landing == ["/web/cas_security_check.htm"]
    shown = [str(info.value), repr(info.value), *(r.getMessage() for r in caplog.records)]
    for text in shown:
        for secret in ("ticket=", "ST-", "TGT-", "casSessionId"):
            assert secret not in text, text


# -- the MRS 3.x token ----------------------------------------------------------------------------


def _header_recorder() -> tuple[aiohttp.TraceConfig, list[tuple[str, dict[str, str]]]]:
    seen: list[tuple[str, dict[str, str]]] = []

    async def on_start(
        _session: aiohttp.ClientSession,
        _ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        seen.append((str(params.url), dict(params.headers)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    return trace, seen


@pytest.mark.parametrize("mode", ["cas", "basic"])
async def test_the_login_token_is_sent_back_and_never_shown(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A Manager that issues and requires a token: polls, expiry and re-login all work."""
    caplog.set_level(logging.DEBUG)
    trace, seen = _header_recorder()
    async with ManagerSimulator(auth=mode, require_token=True) as sim:  # type: ignore[arg-type]
        web = sim.url
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with client(sim, mode, trace_configs=[trace]) as c:
            for _ in range(3):
                await c.get_progress(cid)
            sim.expire_sessions()
            await c.get_progress(cid)
            shown = repr(c)
        assert c.stats.logins == 2
        assert c.stats.relogins == 1
        assert sim.stats.progress_requests[cid] == 5  # one refused after the expiry
    tokens = {h["X-HW-FI-Auth-Token"] for _, h in seen if "X-HW-FI-Auth-Token" in h}
    assert len(tokens) == 2  # one per login
    for url, headers in seen:
        if "X-HW-FI-Auth-Token" in headers:
            token = headers["X-HW-FI-Auth-Token"]
            assert url.startswith(web)  # never to the CAS server
            assert f"FI_Auth_Token={token}" in headers["Cookie"]
    text = "\n".join([shown, *(r.getMessage() for r in caplog.records)])
    for token in tokens:
        assert token not in text


async def test_an_empty_token_sends_nothing() -> None:
    """The captured Manager's empty token: no token header, no token cookie."""
    trace, seen = _header_recorder()
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with client(sim, trace_configs=[trace]) as c:
            await c.get_progress(cid)
    assert seen
    for _, headers in seen:
        assert "X-HW-FI-Auth-Token" not in headers
        assert "FI_Auth_Token" not in headers.get("Cookie", "")


async def test_a_login_that_breaks_is_shared_then_retried() -> None:
    """A broken connection on the login page: one attempt for all callers, a retry succeeds."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        sim.faults.inject(Fault.reset(), where="cas")
        async with client(sim) as c:
            results = await asyncio.gather(*(c.get_progress(cid) for _ in range(10)))
        assert {p.command_id for p in results} == {cid}
        # The reset request is not served; then the form and the ticket round trip.
        assert sim.stats.login_page_requests == 2
        assert sim.stats.password_sends == 1
        assert c.stats.logins == 1
