"""The simulator's core: progress endpoint, timelines, clock, control calls, counters, waits."""

from __future__ import annotations

import json
import time

import aiohttp
import anyio
import pytest

from cmdprogress.testing import ManagerSimulator, Snapshot, Timeline, Workload

pytestmark = pytest.mark.anyio


def progress_url(sim: ManagerSimulator, cid: int | str) -> str:
    return f"{sim.url}/web/v1/common/command/{cid}/progress"


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with http.get(url) as resp:
        return resp.status, json.loads(await resp.read())


async def test_url_has_no_trailing_slash_and_binds_loopback() -> None:
    """sim.url is http://127.0.0.1:PORT with a real port and no trailing slash."""
    async with ManagerSimulator() as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        assert not sim.url.endswith("/")
        assert int(sim.url.rsplit(":", 1)[1]) > 0
        assert sim.cas_url is None
        assert sim.ca_file is None


async def test_new_command_answers_new_snake_case() -> None:
    """A fresh built command answers NEW with the documented snake_case keys."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build(steps=3, duration=10.0))
        status, body = await get_json(http, progress_url(sim, cid))
    assert status == 200
    assert body == {
        "id": cid,
        "state": "NEW",
        "error_code": 0,
        "error_description": "",
        "total_progress": 0.0,
        "res_obj": {
            "cluster_id": 1,
            "step_list": [],
            "fail_entity_list": [],
            "total_step_size": 3,
        },
    }


async def test_advance_reveals_steps_one_by_one() -> None:
    """advance() moves one snapshot; steps appear one at a time and progress grows."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build(steps=3, duration=10.0))
        seen = []
        for _ in range(len(sim.timeline(cid).snapshots)):
            _, body = await get_json(http, progress_url(sim, cid))
            assert isinstance(body, dict)
            seen.append((body["state"], body["total_progress"], len(body["res_obj"]["step_list"])))
            sim.advance(cid)
    assert seen[0] == ("NEW", 0.0, 0)
    assert [s[2] for s in seen[1:-1]] == [1, 1, 2, 2, 3, 3]
    assert [s[1] for s in seen] == sorted(s[1] for s in seen)
    assert seen[-1] == ("COMPLETE", 100.0, 3)


async def test_finish_jumps_to_terminal_and_advance_stops_there() -> None:
    """finish() gives the terminal snapshot; advance() never goes past it."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=5.0))
        sim.finish(cid)
        sim.advance(cid, n=5)
        assert sim.snapshot(cid).state == "COMPLETE"
        assert sim.snapshot(cid).is_terminal


async def test_failed_start_has_negative_code_and_failed_instances() -> None:
    """A failing start ends FAILED with a negative error code, text and START instances."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, fail=True, kind="start", error_code=-300))
        sim.finish(cid)
        body = sim.snapshot_json(cid)
    assert body["state"] == "FAILED"
    assert body["error_code"] == -300
    assert body["error_description"]
    res = body["res_obj"]
    assert isinstance(res, dict)
    assert res["fail_entity_list"] == [
        {"fail_entity": "DataNode@node-2", "operation_type": "START"}
    ]


async def test_manual_clock_positions_timelines() -> None:
    """With the manual clock, time stands still until clock.advance() moves commands."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        assert sim.snapshot(cid).state == "NEW"
        sim.clock.advance(5.0)
        assert sim.snapshot(cid).state == "IN_PROGRESS"
        assert sim.snapshot(cid).total_progress == 25.0
        sim.clock.advance(5.0)
        assert sim.snapshot(cid).state == "COMPLETE"


async def test_command_added_later_starts_at_its_own_time() -> None:
    """A command's timeline starts when it is added, not when the simulator started."""
    async with ManagerSimulator() as sim:
        sim.clock.advance(100.0)
        cid = sim.add_command(Timeline.build(steps=1, duration=10.0))
        assert sim.snapshot(cid).state == "NEW"


async def test_real_clock_with_speed_moves_commands() -> None:
    """The real clock runs `speed` simulated seconds per real second, and can jump ahead."""
    async with ManagerSimulator(clock="real", speed=50.0) as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build(steps=1, duration=3600.0))
        real0, sim0 = time.monotonic(), sim.clock.now()
        await get_json(http, progress_url(sim, cid))
        real1, sim1 = time.monotonic(), sim.clock.now()
        assert sim1 - sim0 == pytest.approx(50.0 * (real1 - real0), rel=0.2, abs=0.05)
        assert not sim.snapshot(cid).is_terminal
        sim.clock.advance(3600.0)
        assert sim.snapshot(cid).state == "COMPLETE"


async def test_camel_style_renames_every_key() -> None:
    """style="camel" sends errorCode, totalProgress, resObj{stepList, failEntityList, ...}."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build(steps=1, fail=True, kind="stop", style="camel"))
        sim.finish(cid)
        _, body = await get_json(http, progress_url(sim, cid))
    assert isinstance(body, dict)
    assert set(body) == {"id", "state", "errorCode", "errorDescription", "totalProgress", "resObj"}
    assert set(body["resObj"]) == {"clusterId", "stepList", "failEntityList", "totalStepSize"}
    assert body["resObj"]["failEntityList"] == [
        {"failEntity": "DataNode@node-2", "operationType": "STOP"}
    ]


async def test_null_texts_int_progress_and_missing_res_obj() -> None:
    """Wire variants: null texts, ints for floats, and no res_obj at all."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(
            Timeline.build(steps=2, null_texts=True, int_progress=True, omit_res_obj=True)
        )
        sim.finish(cid)
        async with http.get(progress_url(sim, cid)) as resp:
            raw = await resp.read()
    body = json.loads(raw)
    assert body["error_description"] is None
    assert b'"total_progress":100}' in raw
    assert "res_obj" not in body


async def test_custom_timeline_from_snapshots() -> None:
    """A user-built timeline is served verbatim, with WAITING and advance-only snapshots."""
    timeline = Timeline(
        snapshots=[
            Snapshot(at=0.0, state="WAITING", cluster_id=None),
            Snapshot(state="IN_PROGRESS", steps=[("Step A", None)], total_progress=10),
            Snapshot(state="COMPLETE", total_progress=100.0, omit={"error_description"}),
        ],
        wire_id=-1,
    )
    async with ManagerSimulator() as sim:
        cid = sim.add_command(timeline, command_id=4242)
        sim.clock.advance(1e6)
        first = sim.snapshot_json(cid)
        sim.advance(cid)
        second = sim.snapshot_json(cid)
        sim.advance(cid)
        third = sim.snapshot_json(cid)
    assert cid == 4242
    assert first["state"] == "WAITING"
    assert first["id"] == -1
    assert first["res_obj"] == {
        "cluster_id": None,
        "step_list": [],
        "fail_entity_list": [],
        "total_step_size": 0,
    }
    assert second["res_obj"]["step_list"] == [{"name": "Step A", "description": None}]  # type: ignore[index]
    assert "error_description" not in third


async def test_unknown_and_malformed_ids_get_html_404() -> None:
    """Ids never created, and non-numeric ids, answer 404 with an HTML page."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        for cid in ("999", "abc", "-1"):
            async with http.get(progress_url(sim, cid)) as resp:
                assert resp.status == 404
                assert resp.content_type == "text/html"
                assert b"<html>" in await resp.read()
        assert sim.stats.paths == [
            "/web/v1/common/command/999/progress",
            "/web/v1/common/command/abc/progress",
            "/web/v1/common/command/-1/progress",
        ]
        assert sim.stats.progress_requests[999] == 1


async def test_counters_and_request_log() -> None:
    """Counters count every request; the log keeps method, path, status and command id."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        a = sim.add_command(Timeline.build())
        b = sim.add_command(Timeline.build())
        for cid in (a, a, b):
            await get_json(http, progress_url(sim, cid))
        assert sim.stats.requests_total == 3
        assert sim.stats.progress_requests[a] == 2
        assert sim.stats.progress_requests[b] == 1
        assert sim.stats.peak_in_flight >= 1
        assert sim.stats.in_flight == 0
        rec = sim.stats.log[-1]
        assert (rec.method, rec.status, rec.command_id) == ("GET", 200, b)
        assert len(sim.stats.poll_intervals(a)) == 1
        assert sim.stats.poll_intervals(a)[0] >= 0.0
        sim.stats.reset()
        assert sim.stats.requests_total == 0
        assert sim.stats.paths == []


async def test_peak_in_flight_counts_concurrent_requests() -> None:
    """peak_in_flight sees requests handled at the same time."""
    from cmdprogress.testing import Fault

    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        sim.faults.inject(Fault.hang(), times=4)  # each held until the test lets go
        with anyio.fail_after(10):  # a bound for a broken run, not a wait for a result
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(get_json, http, progress_url(sim, cid))
                await sim.wait_until(lambda s: s.stats.in_flight == 4)
                tg.cancel_scope.cancel()
    assert sim.stats.peak_in_flight == 4


async def test_wait_for_requests_wakes_on_the_nth_poll() -> None:
    """wait_for_requests() returns once the command was polled n times, not before."""
    async with ManagerSimulator() as sim, aiohttp.ClientSession() as http:
        cid = sim.add_command(Timeline.build())
        done = anyio.Event()

        async def waiter() -> None:
            await sim.wait_for_requests(cid, 2)
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await get_json(http, progress_url(sim, cid))
            await anyio.wait_all_tasks_blocked()
            assert not done.is_set()
            await get_json(http, progress_url(sim, cid))
            with anyio.fail_after(5):
                await done.wait()


async def test_wait_until_rechecks_after_control_calls() -> None:
    """wait_until() is re-checked after finish() and returns at once when already true."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build())
        with anyio.fail_after(5):
            await sim.wait_until(lambda s: not s.snapshot(cid).is_terminal)
            async with anyio.create_task_group() as tg:
                tg.start_soon(sim.wait_until, lambda s: s.snapshot(cid).is_terminal)
                await anyio.wait_all_tasks_blocked()
                sim.finish(cid)


async def test_workload_is_seeded_and_realistic() -> None:
    """A workload from a seed is repeatable, long-tailed, with failures and WAITING states."""
    w = Workload(count=300, seed=7, failure_rate=0.2, waiting_rate=0.3, camel_rate=0.1)
    timelines = w.timelines()
    assert (
        timelines
        == Workload(
            count=300, seed=7, failure_rate=0.2, waiting_rate=0.3, camel_rate=0.1
        ).timelines()
    )
    durations = sorted(t.duration for t in timelines)
    assert durations[0] >= 2.0
    assert durations[-1] <= 1800.0 + 30.0
    assert durations[-1] > 10 * durations[len(durations) // 2] / 2
    finals = [t.final.state for t in timelines]
    assert 0.1 < finals.count("FAILED") / len(finals) < 0.3
    assert any(s.state == "WAITING" for t in timelines for s in t.snapshots)
    assert any(t.style == "camel" for t in timelines)
    async with ManagerSimulator() as sim:
        ids = sim.add_workload(Workload(count=5, seed=1))
        assert ids == [1, 2, 3, 4, 5]
        sim.finish_all()
        assert all(sim.snapshot(i).is_terminal for i in ids)


def test_timeline_validation() -> None:
    """Bad timelines are refused with a message naming the problem."""
    with pytest.raises(ValueError, match="at least one"):
        Timeline(snapshots=[])
    with pytest.raises(ValueError, match="must not decrease"):
        Timeline(snapshots=[Snapshot(at=5.0), Snapshot(at=1.0)])
    with pytest.raises(ValueError, match="style"):
        Timeline(snapshots=[Snapshot()], style="kebab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        Timeline.build(fail=True, error_code=5)
    with pytest.raises(ValueError, match="unknown keys"):
        Snapshot(omit={"bogus"})
