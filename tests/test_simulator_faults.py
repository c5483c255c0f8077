"""The simulator's faults, outage and asynchronous actions, driven by plain aiohttp."""

from __future__ import annotations

import json

import aiohttp
import anyio
import pytest

from cmdprogress.testing import Fault, ManagerSimulator, Timeline

pytestmark = pytest.mark.anyio


def progress_url(sim: ManagerSimulator, cid: int) -> str:
    return f"{sim.url}/web/v1/common/command/{cid}/progress"


async def fetch(
    http: aiohttp.ClientSession, url: str
) -> tuple[int, aiohttp.typedefs.LooseHeaders, bytes]:
    async with http.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.read()


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [
        (Fault.status(500), 500, None),
        (Fault.status(502), 502, None),
        (Fault.status(503, retry_after=1.0), 503, "1"),
        (Fault.status(429, retry_after=2.5), 429, "3"),
        (Fault.not_found(), 404, None),
    ],
)
async def test_status_faults_answer_html_with_retry_after(
    fault: Fault, status: int, retry_after: str | None
) -> None:
    """Status faults answer that status with an HTML page and Retry-After when given."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(fault)
        code, headers, body = await fetch(http, progress_url(sim, cid))
        assert code == status
        assert headers.get("Retry-After") == retry_after  # type: ignore[union-attr]
        assert headers["Content-Type"].startswith("text/html")  # type: ignore[index]
        assert body.startswith(b"<!DOCTYPE html>")
        code, _, _ = await fetch(http, progress_url(sim, cid))
        assert code == 200
        assert sim.stats.log[0].fault == fault.name


async def test_injected_fault_applies_times_and_only_to_its_command() -> None:
    """inject(times=2, command_id=a) hits a's next two polls and never b's."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        a = sim.add_command(Timeline.build())
        b = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.status(503), times=2, command_id=a)
        codes = [(await fetch(http, progress_url(sim, c)))[0] for c in (b, a, b, a, a)]
        assert codes == [200, 503, 200, 503, 200]
        assert sim.faults.pending == 0


async def test_fault_rate_is_seeded() -> None:
    """set_rate() faults about that share of requests, the same ones for the same seed."""

    async def run() -> list[int]:
        async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
            cid = sim.add_command(Timeline.build())
            sim.faults.set_rate(Fault.status(500), rate=0.3, seed=3)
            return [(await fetch(http, progress_url(sim, cid)))[0] for _ in range(60)]

    first, second = await run(), await run()
    assert first == second
    assert 8 <= first.count(500) <= 30


async def test_reset_fault_resets_mid_response() -> None:
    """Fault.reset() sends headers and part of the body, then resets the connection."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.reset())
        with pytest.raises(aiohttp.ClientPayloadError):
            await fetch(http, progress_url(sim, cid))
        assert sim.stats.log[-1].status == 0
        assert (await fetch(http, progress_url(sim, cid)))[0] == 200


async def test_truncated_fault_sends_less_than_content_length() -> None:
    """Fault.truncated() announces more bytes than it sends, then closes."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.truncated())
        with pytest.raises(aiohttp.ClientPayloadError, match="content length"):
            await fetch(http, progress_url(sim, cid))


async def test_malformed_json_and_oversized_and_login_page() -> None:
    """Bodies: not-JSON under application/json, a valid but huge document, a 200 login page."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.malformed_json())
        code, headers, body = await fetch(http, progress_url(sim, cid))
        assert code == 200
        assert headers["Content-Type"].startswith("application/json")  # type: ignore[index]
        with pytest.raises(ValueError):
            json.loads(body)
        sim.faults.inject(Fault.oversized(3 << 20))
        code, _, body = await fetch(http, progress_url(sim, cid))
        assert len(body) >= 3 << 20
        assert json.loads(body)["state"] == "IN_PROGRESS"
        sim.faults.inject(Fault.login_page())
        code, headers, body = await fetch(http, progress_url(sim, cid))
        assert code == 200
        assert headers["Content-Type"].startswith("text/html")  # type: ignore[index]
        assert b'name="lt"' in body


async def test_raw_fault_is_served_verbatim() -> None:
    """Fault.raw() answers exactly the given status, body and headers."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.raw(200, '{"state": 12}', {"Content-Type": "application/json"}))
        code, headers, body = await fetch(http, progress_url(sim, cid))
    assert (code, body) == (200, b'{"state": 12}')
    assert headers["Content-Type"] == "application/json"  # type: ignore[index]


@pytest.mark.realclock("Fault.delay holds the answer for real seconds")
async def test_delay_fault_answers_late_with_current_state() -> None:
    """Fault.delay() holds the answer; the snapshot is taken when it is finally sent."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.delay(0.3))
        result: list[bytes] = []

        async def poll() -> None:
            result.append((await fetch(http, progress_url(sim, cid)))[2])

        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            with anyio.fail_after(5):
                await sim.wait_until(lambda s: s.stats.in_flight == 1)
            sim.finish(cid)
        assert json.loads(result[0])["state"] == "COMPLETE"


async def test_web_faults_hit_any_web_request() -> None:
    """where="web" faults apply to login_check and actions too."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        sim.faults.inject(Fault.status(502), where="web")
        async with http.get(f"{sim.url}/web/v1/access/login_check") as resp:
            assert resp.status == 502
        async with http.get(f"{sim.url}/web/v1/access/login_check") as resp:
            assert resp.status == 200


async def test_outage_refuses_connections_and_keeps_state() -> None:
    """During an outage connections fail; afterwards the same port serves the same state."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build())
        sim.advance(cid, 2)
        url = sim.url
        async with aiohttp.ClientSession() as http:
            assert (await fetch(http, progress_url(sim, cid)))[0] == 200
            async with sim.outage():
                assert sim.in_outage
                with pytest.raises(aiohttp.ClientConnectionError):
                    await fetch(http, progress_url(sim, cid))
                sim.advance(cid)
            code, _, body = await fetch(http, progress_url(sim, cid))
        assert sim.url == url
        assert code == 200
        assert json.loads(body)["total_progress"] == sim.snapshot(cid).total_progress
        assert sim.index(cid) == 3
        assert sim.stats.progress_requests[cid] >= 2


async def test_start_stop_save_create_commands() -> None:
    """The three actions answer a command id that the progress endpoint then serves."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        base = f"{sim.url}/web/v1"
        body = {"user_password": None, "only_self": True}
        ids = []
        for path, payload in (
            ("/maintain/cluster/1/service/HDFS/start", body),
            ("/maintain/cluster/1/service/HDFS/stop", body),
            ("/config/cluster/1/save", {"configurations_summary": {"HDFS": {}}}),
        ):
            async with http.post(base + path, json=payload) as resp:
                assert resp.status == 200
                answer = await resp.json()
            assert answer["state"] == "IN_PROGRESS"
            assert answer["error_code"] == 0
            ids.append(answer["id"])
        assert ids == sim.command_ids
        assert sim.timeline(ids[0]).snapshots[-1].state == "COMPLETE"
        assert (await fetch(http, progress_url(sim, ids[2])))[0] == 200


async def test_action_rejections_and_bad_requests() -> None:
    """Unknown service: FAILED -300; reject_actions(): FAILED id -1; no summary: 400 HTML."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        base = f"{sim.url}/web/v1"
        body = {"user_password": None, "only_self": True}
        async with http.post(f"{base}/maintain/cluster/1/service/Nope/start", json=body) as resp:
            answer = await resp.json()
        assert (answer["id"], answer["state"], answer["error_code"]) == (-1, "FAILED", -300)
        sim.reject_actions(error_code=-324, error_description="Busy.")
        async with http.post(f"{base}/maintain/cluster/1/service/HDFS/stop", json=body) as resp:
            answer = await resp.json()
        assert (answer["id"], answer["error_code"], answer["error_description"]) == (
            -1,
            -324,
            "Busy.",
        )
        async with http.post(f"{base}/config/cluster/1/save", json={}) as resp:
            assert resp.status == 400
            assert resp.content_type == "text/html"
        async with http.post(f"{base}/config/cluster/9/save", json={}) as resp:
            assert resp.status == 404
        assert sim.command_ids == []


def test_fault_validation() -> None:
    """Bad fault arguments are refused with a message naming them."""
    with pytest.raises(ValueError, match="4xx/5xx"):
        Fault.status(200)
    with pytest.raises(ValueError, match="rate"):
        ManagerSimulator().faults.set_rate(Fault.reset(), rate=1.5)
    with pytest.raises(ValueError, match="command_id"):
        ManagerSimulator().faults.inject(Fault.reset(), where="web", command_id=3)
