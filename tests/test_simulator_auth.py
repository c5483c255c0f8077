"""The simulator's login modes (CAS, Basic), sessions, lockout and TLS, driven by plain aiohttp."""

from __future__ import annotations

import base64
import re
import ssl

import aiohttp
import anyio
import pytest
from yarl import URL

from cmdprogress.testing import Fault, ManagerSimulator, Timeline

pytestmark = pytest.mark.anyio

LOGIN_CHECK = "/web/v1/access/login_check"


def progress_url(sim: ManagerSimulator, cid: int) -> str:
    return f"{sim.url}/web/v1/common/command/{cid}/progress"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)


async def cas_login(
    sim: ManagerSimulator, http: aiohttp.ClientSession, password: str | None = None
) -> str:
    """Run the classic CAS flow; return the page the form POST answered."""
    assert sim.cas_url is not None
    async with http.get(f"{sim.cas_url}/cas/login") as resp:
        page = await resp.text()
    match = re.search(r'name="lt" value="([^"]+)"', page)
    assert match is not None
    form = {
        "username": sim.username,
        "password": sim.password if password is None else password,
        "lt": match.group(1),
        "_eventId": "submit",
        "submit": "Login",
    }
    service = f"{sim.url}/web/cas_security_check.htm"
    async with http.post(f"{sim.cas_url}/cas/login", params={"service": service}, data=form) as r:
        assert r.status == 200
        return await r.text()


async def test_cas_login_page_has_lt_and_cas_session_cookie() -> None:
    """GET /cas/login answers the form with a hidden LT-...-cas ticket and a casSessionId cookie."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession(cookie_jar=jar()) as http:
        assert sim.cas_url is not None
        assert sim.cas_url != sim.url
        async with http.get(f"{sim.cas_url}/cas/login") as resp:
            page = await resp.text()
            assert resp.status == 200
            assert "casSessionId" in resp.cookies
        assert re.search(r'name="lt" value="LT-\d+-[\w-]+-cas"', page)


async def test_cas_full_flow_then_progress() -> None:
    """Form POST sets CASTGC; login_check goes through CAS and sets JSESSIONID; progress works."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession(cookie_jar=jar()) as http:
        cid = sim.add_command(Timeline.build())
        page = await cas_login(sim, http)
        assert "Log In Successful" in page
        assert any(c.key == "CASTGC" for c in http.cookie_jar)
        async with http.get(f"{sim.url}{LOGIN_CHECK}") as resp:
            assert resp.status == 200
            body = await resp.json()
            hops = [str(h.url) for h in resp.history]
        assert body["state"] == "COMPLETE"
        assert body["id"] == -1
        assert "/cas/login?service=" in hops[1] or "/cas/login?service=" in hops[0]
        assert any("cas_security_check.htm?ticket=ST-" in h for h in hops)
        assert any(c.key == "JSESSIONID" for c in http.cookie_jar)
        async with http.get(progress_url(sim, cid), allow_redirects=False) as resp:
            assert resp.status == 200
            assert (await resp.json())["state"] == "NEW"
        assert sim.stats.login_attempts == 1
        assert sim.stats.logins_ok == 1
        assert sim.session_count == 1


async def test_cas_unauthenticated_progress_redirects_to_login_page() -> None:
    """Without a session, progress answers 302 to CAS; followed, it ends on the login page."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession(cookie_jar=jar()) as http:
        cid = sim.add_command(Timeline.build())
        async with http.get(progress_url(sim, cid), allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"].startswith(f"{sim.cas_url}/cas/login?service=")
        async with http.get(progress_url(sim, cid)) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert 'name="lt"' in await resp.text()


async def test_cas_ticket_round_trip_lands_back_on_the_saved_url() -> None:
    """With a valid CASTGC, an expired web session is renewed transparently on the same URL."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession(cookie_jar=jar()) as http:
        cid = sim.add_command(Timeline.build())
        await cas_login(sim, http)
        async with http.get(progress_url(sim, cid)) as resp:
            assert resp.status == 200
            assert (await resp.json())["id"] == cid
        assert sim.stats.sessions_created == 1


async def test_cas_wrong_password_then_lockout() -> None:
    """Wrong passwords answer the login page with the CAS text; the 5th locks the account."""
    async with ManagerSimulator(auth="cas", lockout_seconds=300.0) as sim:
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            for _ in range(4):
                page = await cas_login(sim, http, password="wrong")
                assert "cannot be determined to be authentic" in page
            assert not sim.locked
            page = await cas_login(sim, http, password="wrong")
            assert "account has been locked" in page
            assert sim.locked
            page = await cas_login(sim, http)
            assert "account has been locked" in page
            assert not any(c.key == "CASTGC" for c in http.cookie_jar)
            sim.clock.advance(301.0)
            page = await cas_login(sim, http)
            assert "Log In Successful" in page
        assert sim.stats.login_attempts == 7
        assert sim.stats.logins_ok == 1


async def test_cas_right_password_resets_failure_count() -> None:
    """Failures must be consecutive: a good login in between resets the count."""
    async with ManagerSimulator(auth="cas", lockout_threshold=2) as sim:
        for password in ("wrong", None, "wrong"):
            async with aiohttp.ClientSession(cookie_jar=jar()) as http:
                page = await cas_login(sim, http, password=password)
            assert ("authentic" if password else "Log In Successful") in page
        assert not sim.locked


async def test_cas_stale_login_ticket_is_refused() -> None:
    """A login ticket can be used once: replaying it answers the login page again."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession(cookie_jar=jar()) as http:
        assert sim.cas_url is not None
        async with http.get(f"{sim.cas_url}/cas/login") as resp:
            match = re.search(r'name="lt" value="([^"]+)"', await resp.text())
        assert match is not None
        form = {"username": sim.username, "password": sim.password, "lt": match.group(1)}
        async with http.post(f"{sim.cas_url}/cas/login", data=form) as resp:
            assert "Log In Successful" in await resp.text()
        async with http.post(f"{sim.cas_url}/cas/login", data=form) as resp:
            assert "authentic" in await resp.text()


async def test_cas_password_change_required() -> None:
    """With password_change_required, the right password answers a modify_password.html page."""
    async with (
        ManagerSimulator(auth="cas", password_change_required=True) as sim,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        page = await cas_login(sim, http)
        assert "modify_password.html" in page
        assert not any(c.key == "CASTGC" for c in http.cookie_jar)
        async with http.get(f"{sim.cas_url}/cas/modify_password.html") as resp:
            assert resp.status == 200


async def test_sessions_expire_after_idle_timeout_on_the_sim_clock() -> None:
    """A session idle longer than session_idle_timeout is refused; activity keeps it alive."""
    async with ManagerSimulator(auth="cas", session_idle_timeout=60.0) as sim:
        cid = sim.add_command(Timeline.build())
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            await cas_login(sim, http)
            async with http.get(f"{sim.url}{LOGIN_CHECK}") as resp:
                assert resp.status == 200
            for _ in range(3):
                sim.clock.advance(50.0)
                async with http.get(progress_url(sim, cid), allow_redirects=False) as resp:
                    assert resp.status == 200
            sim.clock.advance(61.0)
            async with http.get(progress_url(sim, cid), allow_redirects=False) as resp:
                assert resp.status == 302


async def test_expire_sessions_forces_a_new_login() -> None:
    """expire_sessions() ends web sessions and CAS tickets at once."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession(cookie_jar=jar()) as http:
        cid = sim.add_command(Timeline.build())
        await cas_login(sim, http)
        async with http.get(progress_url(sim, cid)) as resp:
            assert resp.status == 200
        sim.expire_sessions()
        async with http.get(progress_url(sim, cid)) as resp:
            assert resp.content_type == "text/html"
            assert 'name="lt"' in await resp.text()


async def test_basic_auth_sets_a_session_cookie() -> None:
    """Basic credentials are accepted once; the JSESSIONID cookie carries later requests."""
    auth = basic("admin", "Sim-Passw0rd!")
    async with (
        ManagerSimulator(auth="basic") as sim,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        cid = sim.add_command(Timeline.build())
        async with http.get(progress_url(sim, cid)) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"].startswith("Basic")
        async with http.get(progress_url(sim, cid), headers=auth) as resp:
            assert resp.status == 200
            assert "JSESSIONID" in resp.cookies
        async with http.get(progress_url(sim, cid)) as resp:
            assert resp.status == 200
        assert sim.stats.login_attempts == 1
        assert sim.stats.logins_ok == 1


async def test_basic_auth_wrong_password_locks_out() -> None:
    """Wrong Basic credentials answer 401 and count; at the threshold the answer is 403 locked."""
    bad = basic("admin", "nope")
    async with ManagerSimulator(auth="basic", lockout_threshold=3) as sim:
        cid = sim.add_command(Timeline.build())
        async with aiohttp.ClientSession() as http:
            statuses = []
            for _ in range(3):
                async with http.get(progress_url(sim, cid), headers=bad) as resp:
                    statuses.append(resp.status)
                    text = await resp.text()
            assert statuses == [401, 401, 403]
            assert "account has been locked" in text
            good = basic("admin", "Sim-Passw0rd!")
            async with http.get(progress_url(sim, cid), headers=good) as resp:
                assert resp.status == 403


async def test_password_never_appears_in_repr() -> None:
    """The simulator's repr does not show the password."""
    sim = ManagerSimulator(password="S3cret-Value!")
    assert "S3cret-Value!" not in repr(sim)


async def test_tls_serves_https_with_a_private_ca() -> None:
    """tls=True serves HTTPS that verifies against sim.ca_file, and fails without it."""
    async with ManagerSimulator(tls=True, auth="cas") as sim:
        assert sim.url.startswith("https://127.0.0.1:")
        assert sim.cas_url is not None
        assert sim.cas_url.startswith("https://")
        assert sim.ca_file is not None
        cid = sim.add_command(Timeline.build())
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with http.get(progress_url(sim, cid)):
                    pass
        connector = aiohttp.TCPConnector(ssl=sim.ssl_context())
        async with aiohttp.ClientSession(cookie_jar=jar(), connector=connector) as http:
            await cas_login(sim, http)
            async with http.get(progress_url(sim, cid)) as resp:
                assert resp.status == 200
                assert (await resp.json())["id"] == cid
        ca_file = sim.ca_file
        assert await anyio.Path(ca_file).exists()
    assert sim.ca_file is None
    assert not await anyio.Path(ca_file).exists()


async def test_ssl_context_needs_tls() -> None:
    """ssl_context() on a plain-HTTP simulator says what to do."""
    async with ManagerSimulator() as sim:
        with pytest.raises(RuntimeError, match="tls=True"):
            sim.ssl_context()
    assert isinstance(ssl.create_default_context(), ssl.SSLContext)


async def test_basic_login_check_sets_the_session_cookie() -> None:
    """Basic credentials on login_check answer its JSON and a JSESSIONID cookie."""
    async with (
        ManagerSimulator(auth="basic") as sim,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        headers = basic(sim.username, sim.password)
        async with http.get(f"{sim.url}{LOGIN_CHECK}", headers=headers) as resp:
            assert resp.status == 200
            assert (await resp.json())["state"] == "COMPLETE"
            assert "JSESSIONID" in resp.cookies
        assert sim.session_count == 1


async def test_forged_service_ticket_sends_back_to_cas() -> None:
    """An unknown ST ticket at cas_security_check.htm redirects to the CAS login page."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession(cookie_jar=jar()) as http:
        url = f"{sim.url}/web/cas_security_check.htm?ticket=ST-1-forged-cas"
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"].startswith(f"{sim.cas_url}/cas/login")
        assert sim.stats.sessions_created == 0


async def test_outage_takes_the_cas_listener_down_too() -> None:
    """During an outage the CAS listener refuses connections as well, and comes back."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession(cookie_jar=jar()) as http:
        async with sim.outage():
            with pytest.raises(aiohttp.ClientConnectionError):
                await cas_login(sim, http)
        assert "Log In Successful" in await cas_login(sim, http)


# -- the CAS misbehaving on demand, and the MRS 3.x token ------------------------------


async def _login_form(sim: ManagerSimulator, http: aiohttp.ClientSession) -> dict[str, str]:
    """GET the CAS login page; the form a client would post (with the right password)."""
    assert sim.cas_url is not None
    async with http.get(f"{sim.cas_url}/cas/login") as resp:
        page = await resp.text()
    match = re.search(r'name="lt" value="([^"]+)"', page)
    assert match is not None
    return {"username": sim.username, "password": sim.password, "lt": match.group(1)}


async def test_a_late_password_answer_is_counted_on_receipt() -> None:
    """A delay on where='password': the wrong password counts before the answer leaves."""
    async with ManagerSimulator(auth="cas") as sim:
        assert sim.cas_url is not None
        sim.faults.inject(Fault.delay(30.0), where="password")
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            form = await _login_form(sim, http) | {"password": "wrong"}

            async def post() -> None:
                async with http.post(f"{sim.cas_url}/cas/login", data=form) as resp:
                    await resp.read()  # pragma: no cover - cancelled before the answer

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(post)
                    await sim.wait_until(lambda s: s.stats.logins_failed == 1)
                    tg.cancel_scope.cancel()
        assert sim.stats.password_sends == 1
        assert sim.stats.login_attempts == 1
        assert sim.stats.logins_ok == 0


async def test_a_refused_password_post_is_not_counted() -> None:
    """A status fault on where='password' refuses (429 + Retry-After) without checking."""
    async with ManagerSimulator(auth="cas") as sim:
        assert sim.cas_url is not None
        sim.faults.inject(Fault.status(429, retry_after=7), where="password")
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            form = await _login_form(sim, http) | {"password": "wrong"}
            async with http.post(f"{sim.cas_url}/cas/login", data=form) as resp:
                assert resp.status == 429
                assert resp.headers["Retry-After"] == "7"
        assert sim.stats.password_sends == 1
        assert sim.stats.login_attempts == sim.stats.logins_failed == 0


async def test_faults_on_the_cas_listener() -> None:
    """where='cas' faults any CAS request; a hang answers nothing until the simulator closes."""
    async with ManagerSimulator(auth="cas") as sim:
        assert sim.cas_url is not None
        sim.faults.inject(Fault.status(503, retry_after=2), where="cas")
        sim.faults.inject(Fault.delay(0.0), where="cas")
        sim.faults.inject(Fault.hang(), where="cas")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{sim.cas_url}/cas/login") as resp:
                assert (resp.status, resp.headers["Retry-After"]) == (503, "2")
            async with http.get(f"{sim.cas_url}/cas/login") as resp:
                assert resp.status == 200  # delayed by 0 s
            async with http.get(progress_url(sim, 1), allow_redirects=False) as resp:
                assert resp.status == 302  # web requests are not CAS faults
            with pytest.raises(TimeoutError):
                async with http.get(
                    f"{sim.cas_url}/cas/login", timeout=aiohttp.ClientTimeout(total=0.2)
                ):
                    pass  # pragma: no cover
        assert sim.stats.login_page_requests == 1
        assert [r.fault for r in sim.stats.log if r.fault] == ["status:503", "delay"]


async def test_basic_password_faults_count_on_receipt_or_refuse() -> None:
    """Basic: a late answer counts the wrong password at once; a 503 refusal does not count."""
    async with ManagerSimulator(auth="basic") as sim:
        sim.faults.inject(Fault.status(503), where="password")
        sim.faults.inject(Fault.hang(), where="password")
        async with aiohttp.ClientSession() as http:
            wrong = basic(sim.username, "wrong")
            async with http.get(f"{sim.url}{LOGIN_CHECK}", headers=wrong) as resp:
                assert resp.status == 503
            assert sim.stats.logins_failed == 0
            with pytest.raises(TimeoutError):
                async with http.get(
                    f"{sim.url}{LOGIN_CHECK}",
                    headers=wrong,
                    timeout=aiohttp.ClientTimeout(total=0.2),
                ):
                    pass  # pragma: no cover
        assert sim.stats.logins_failed == 1
        assert sim.stats.password_sends == 2


async def test_cas_min_interval_throttles_password_posts() -> None:
    """cas_min_interval: a password post sooner than that is answered 429 with Retry-After."""
    async with ManagerSimulator(auth="cas", cas_min_interval=30.0) as sim:
        assert sim.cas_url is not None
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            form = await _login_form(sim, http)
            async with http.post(f"{sim.cas_url}/cas/login", data=form) as resp:
                assert resp.status == 200
            async with http.post(f"{sim.cas_url}/cas/login", data=form) as resp:
                assert resp.status == 429
                assert 29 <= int(resp.headers["Retry-After"]) <= 30
        assert (sim.stats.password_sends, sim.stats.login_attempts, sim.stats.logins_ok) == (
            2,
            1,
            1,
        )
    with pytest.raises(ValueError, match="cas_min_interval"):
        ManagerSimulator(cas_min_interval=-1.0)


@pytest.mark.parametrize("mode", ["cas", "basic"])
async def test_require_token_issues_a_token_and_requires_it_back(mode: str) -> None:
    """require_token: login_check answers a token; polls need it as header AND cookie."""
    async with ManagerSimulator(auth=mode, require_token=True) as sim:  # type: ignore[arg-type]
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            if mode == "cas":
                await cas_login(sim, http)
                headers: dict[str, str] = {}
            else:
                headers = basic(sim.username, sim.password)
            async with http.get(f"{sim.url}{LOGIN_CHECK}", headers=headers) as resp:
                assert resp.status == 200
                token = (await resp.json())["token"]
            sid = http.cookie_jar.filter_cookies(URL(f"{sim.url}/web/"))["JSESSIONID"].value
        assert isinstance(token, str)
        assert len(token) >= 16
        # Probes without a cookie jar: a refused request must not replace the session.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as probe:

            async def status(header: str | None, cookie: str | None) -> int:
                sent = {
                    "Cookie": f"JSESSIONID={sid}" + (f"; FI_Auth_Token={cookie}" if cookie else "")
                }
                if header is not None:
                    sent["X-HW-FI-Auth-Token"] = header
                url = progress_url(sim, cid)
                async with probe.get(url, headers=sent, allow_redirects=False) as resp:
                    return resp.status

            assert await status(None, None) in (302, 401)  # no token: not logged in
            assert await status(token, None) in (302, 401)  # the header alone is not enough
            assert await status(None, token) in (302, 401)  # nor the cookie alone
            assert await status(token + "x", token) in (302, 401)  # a wrong token is refused
            assert await status(token, token) == 200


async def test_login_check_token_is_empty_by_default() -> None:
    """Without require_token the token field is empty, as on the Manager that was captured."""
    async with ManagerSimulator(auth="basic") as sim, aiohttp.ClientSession() as http:
        headers = basic(sim.username, sim.password)
        async with http.get(f"{sim.url}{LOGIN_CHECK}", headers=headers) as resp:
            assert (await resp.json())["token"] == ""


def test_serve_has_a_require_token_flag() -> None:
    """`serve --require-token` turns the option on."""
    from cmdprogress.testing._serve import parse_args

    assert parse_args(["serve", "--require-token"]).require_token is True
    assert parse_args(["serve"]).require_token is False
