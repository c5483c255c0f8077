"""The simulator's login modes (CAS, Basic), sessions, lockout and TLS, driven by plain aiohttp."""

from __future__ import annotations

import base64
import re
import ssl

import aiohttp
import anyio
import pytest

from cmdprogress.testing import ManagerSimulator, Timeline

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
