"""The simulator's less travelled paths, driven over real sockets with plain aiohttp.

Bad request bodies, repeated rejections, kept-alive connections during an
outage, web-side delays, malformed Basic tokens, expired CAS tickets and
unknown paths: each answers the way a real Manager (or a dead one) would.
"""

from __future__ import annotations

import re

import aiohttp
import pytest

from cmdprogress.testing import Fault, ManagerSimulator, Timeline

pytestmark = pytest.mark.anyio

LOGIN_CHECK = "/web/v1/access/login_check"
START = "/web/v1/maintain/cluster/1/service/HDFS/start"
SAVE = "/web/v1/config/cluster/1/save"


def _jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)


async def _cas_login(sim: ManagerSimulator, http: aiohttp.ClientSession) -> str:
    """The CAS form flow with the right password; returns the answered page."""
    assert sim.cas_url is not None
    async with http.get(f"{sim.cas_url}/cas/login") as resp:
        page = await resp.text()
    lt = re.search(r'name="lt" value="([^"]+)"', page)
    assert lt is not None
    form = {"username": sim.username, "password": sim.password, "lt": lt.group(1)}
    async with http.post(f"{sim.cas_url}/cas/login", data=form) as resp:
        return await resp.text()


async def test_actions_with_a_body_that_is_not_json_answer_400_html() -> None:
    """start and save with a body that is not JSON answer HTTP 400 HTML; no command is created."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        for path in (START, SAVE):
            async with http.post(
                f"{sim.url}{path}", data=b"{not json", headers={"Content-Type": "application/json"}
            ) as resp:
                assert resp.status == 400
                assert resp.content_type == "text/html"
                assert "not valid JSON" in await resp.text()
        assert sim.command_ids == []


async def test_rejections_last_for_their_count_then_actions_succeed() -> None:
    """reject_actions(times=2): two FAILED answers with id -1, then a real command id."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        sim.reject_actions(times=2, error_code=-300, error_description="Busy.")
        ids = []
        for _ in range(3):
            async with http.post(f"{sim.url}{START}", json={"only_self": True}) as resp:
                ids.append((await resp.json())["id"])
        assert ids == [-1, -1, *sim.command_ids]
        assert len(sim.command_ids) == 1


async def test_outage_resets_requests_on_kept_alive_connections() -> None:
    """A request arriving on an already open connection during an outage gets no answer."""
    async with ManagerSimulator(auth="cas") as sim:
        assert sim.cas_url is not None
        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            for url in (f"{sim.url}{LOGIN_CHECK}", f"{sim.cas_url}/cas/login"):
                async with http.get(url, allow_redirects=False) as resp:
                    await resp.read()  # the connection goes back to the pool, kept alive
            await sim.start_outage()
            await sim.start_outage()  # idempotent
            for url in (f"{sim.url}{LOGIN_CHECK}", f"{sim.cas_url}/cas/login"):
                with pytest.raises(aiohttp.ClientConnectionError):
                    async with http.get(url, allow_redirects=False) as resp:
                        await resp.read()
            await sim.end_outage()
            await sim.end_outage()  # idempotent
            async with http.get(f"{sim.cas_url}/cas/login") as resp:
                assert resp.status == 200
    unanswered = [r.path for r in sim.stats.log if r.status == 0]
    assert LOGIN_CHECK in unanswered
    assert "/cas/login" in unanswered
    assert not sim.in_outage


async def test_web_delay_fault_answers_login_check_normally() -> None:
    """A delay fault on the web listener still answers login_check with its JSON."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        sim.faults.inject(Fault.delay(0.0), where="web")
        async with http.get(f"{sim.url}{LOGIN_CHECK}") as resp:
            assert resp.status == 200
            body = await resp.json()
    assert body["state"] == "COMPLETE"
    assert [(r.path, r.fault) for r in sim.stats.log] == [(LOGIN_CHECK, "delay")]
    assert sim.faults.pending == 0


async def test_oversized_fault_answers_the_same_document_each_time() -> None:
    """An oversized fault used twice answers the same body of at least the asked size."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.oversized(5000), times=2)
        bodies = []
        for _ in range(2):
            async with http.get(f"{sim.url}/web/v1/common/command/{cid}/progress") as resp:
                bodies.append(await resp.read())
    assert bodies[0] == bodies[1]
    assert len(bodies[0]) >= 5000


@pytest.mark.parametrize("token", ["!!not-base64!!", "YWRtaW4"])
async def test_basic_token_that_is_not_base64_is_a_failed_login(token: str) -> None:
    """A Basic header with a broken token answers 401 and counts as one wrong password."""
    async with ManagerSimulator(auth="basic") as sim, aiohttp.ClientSession() as http:
        async with http.get(
            f"{sim.url}{LOGIN_CHECK}", headers={"Authorization": f"Basic {token}"}
        ) as resp:
            assert resp.status == 401
            assert "WWW-Authenticate" in resp.headers
        assert sim.stats.login_attempts == 1
        assert sim.stats.logins_ok == 0


async def test_modify_password_page_on_the_web_listener_needs_no_login() -> None:
    """The modify_password page linked from the Basic-mode 403 page is served without a login."""
    async with ManagerSimulator(auth="basic") as sim, aiohttp.ClientSession() as http:
        async with http.get(f"{sim.url}/cas/modify_password.html") as resp:
            assert resp.status == 200
            assert "modify" in (await resp.text()).lower()
        async with http.get(f"{sim.url}/web/v1/no/such/page") as resp:
            assert resp.status == 401  # any other path still needs the login
        assert sim.stats.login_attempts == 0


async def test_security_check_exists_only_in_cas_mode() -> None:
    """cas_security_check.htm answers 404 on a Manager that does not use CAS."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        url = f"{sim.url}/web/cas_security_check.htm?ticket=ST-1-x-cas"
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 404
        assert sim.stats.sessions_created == 0


async def test_cas_with_a_live_ticket_and_no_service_shows_success() -> None:
    """GET /cas/login with a live CASTGC and no service answers the success page, no form."""
    async with (
        ManagerSimulator(auth="cas") as sim,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        assert "Log In Successful" in await _cas_login(sim, http)
        async with http.get(f"{sim.cas_url}/cas/login") as resp:
            page = await resp.text()
        assert "Log In Successful" in page
        assert 'name="lt"' not in page


async def test_cas_ticket_granting_cookie_expires_when_idle() -> None:
    """After the idle timeout on the sim clock, the CASTGC no longer logs in: the form is back."""
    async with (
        ManagerSimulator(auth="cas", session_idle_timeout=60.0) as sim,
        aiohttp.ClientSession(cookie_jar=_jar()) as http,
    ):
        await _cas_login(sim, http)
        sim.clock.advance(61.0)
        service = f"{sim.url}/web/cas_security_check.htm"
        async with http.get(
            f"{sim.cas_url}/cas/login", params={"service": service}, allow_redirects=False
        ) as resp:
            assert resp.status == 200
            assert 'name="lt"' in await resp.text()


async def test_unknown_cas_path_answers_404_html() -> None:
    """Any other path on the CAS listener answers HTTP 404 with an HTML page."""
    async with ManagerSimulator(auth="cas") as sim, aiohttp.ClientSession() as http:
        async with http.get(f"{sim.cas_url}/cas/logout") as resp:
            assert resp.status == 404
            assert resp.content_type == "text/html"
        assert [(r.path, r.status) for r in sim.stats.log] == [("/cas/logout", 404)]


async def test_log_limit_bounds_the_log_and_the_poll_times() -> None:
    """With log_limit=3 the request log and each command's poll times keep only the newest 3."""
    async with ManagerSimulator(log_limit=3) as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        for _ in range(5):
            async with http.get(f"{sim.url}/web/v1/common/command/{cid}/progress") as resp:
                assert resp.status == 200
    assert len(sim.stats.log) == 3
    assert sim.stats.progress_requests[cid] == 5  # counters are not bounded
    assert len(sim.stats.poll_intervals(cid)) == 2


async def test_clearing_the_fault_plan_drops_injected_faults_and_rates() -> None:
    """faults.clear() forgets injected faults and rates: the next request is answered normally."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.status(500), times=3)
        sim.faults.set_rate(Fault.reset(), rate=1.0)
        sim.faults.clear()
        assert sim.faults.pending == 0
        async with http.get(f"{sim.url}/web/v1/common/command/{cid}/progress") as resp:
            assert resp.status == 200
        assert [r.fault for r in sim.stats.log] == [None]
