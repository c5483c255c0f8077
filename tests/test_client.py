"""The client against the simulator: snapshots, actions, concurrency, pooling, lifecycle."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import pytest

from cmdprogress import Client, CommandState, PollPolicy, RetryPolicy
from cmdprogress.exceptions import (
    ActionRejectedError,
    ClientClosedError,
    HTTPStatusError,
    InvalidArgumentError,
    InvalidCommandIdError,
    UnknownCommandError,
)
from cmdprogress.testing import ManagerSimulator, Snapshot, Timeline

if TYPE_CHECKING:
    from types import SimpleNamespace

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002)
POLL = PollPolicy(throttle_pause=0.001)


def client_for(sim: ManagerSimulator, **kwargs: Any) -> Client:
    """A client with test-speed retries for ``sim``."""
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("poll", POLL)
    return Client(sim.url, **kwargs)


@pytest.mark.anyio
@pytest.mark.parametrize("style", ["snake", "camel"])
async def test_progress_in_both_key_styles(style: str) -> None:
    """snake_case and camelCase answers decode to the same snapshot."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=3, duration=30.0, style=style, kind="start"))
        async with client_for(sim) as client:
            first = await client.get_progress(cid)
            sim.advance(cid, n=2)
            middle = await client.get_progress(str(cid))
            sim.finish(cid)
            last = await client.get_progress(cid)
    assert first.command_id == cid
    assert first.state is CommandState.NEW
    assert middle.state is CommandState.IN_PROGRESS
    assert middle.steps
    assert middle.steps[0].name
    assert last.state is CommandState.COMPLETE
    assert last.total_progress == 100.0
    assert len(last.steps) == 3
    assert last.is_terminal


@pytest.mark.anyio
async def test_failed_command_carries_error_and_failed_instances() -> None:
    """A FAILED snapshot keeps the negative error code, the text and the failed instances."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=5.0, fail=True, kind="start"))
        sim.finish(cid)
        async with client_for(sim) as client:
            p = await client.get_progress(cid)
    assert p.state is CommandState.FAILED
    assert p.error_code < 0
    assert p.error_description
    assert p.failed_entities
    assert p.failed_entities[0].operation_type == "START"


@pytest.mark.anyio
async def test_unknown_state_nulls_and_missing_res_obj() -> None:
    """WAITING stays UNKNOWN with its raw text; null texts and a missing res_obj are fine."""
    timeline = Timeline(
        snapshots=(
            Snapshot(at=None, state="WAITING", error_description=None, omit=frozenset({"res_obj"})),
            Snapshot(at=None, state="COMPLETE", total_progress=100),
        ),
        style="camel",
    )
    async with ManagerSimulator() as sim:
        cid = sim.add_command(timeline)
        async with client_for(sim) as client:
            p = await client.get_progress(cid)
    assert p.state is CommandState.UNKNOWN
    assert p.raw_state == "WAITING"
    assert not p.is_terminal
    assert p.error_description == ""
    assert p.steps == ()


@pytest.mark.anyio
async def test_unknown_command_is_404_error() -> None:
    """An id the Manager does not know raises UnknownCommandError with status and id."""
    async with ManagerSimulator() as sim, client_for(sim) as client:
        with pytest.raises(UnknownCommandError) as info:
            await client.get_progress(999)
        assert sim.stats.progress_requests[999] == 1  # not retried
    err = info.value
    assert isinstance(err, LookupError)
    assert err.status == 404
    assert err.command_id == 999
    assert "999" in str(err)
    assert err.url.endswith("/web/v1/common/command/999/progress")


@pytest.mark.anyio
async def test_bad_ids_never_reach_the_manager() -> None:
    """Invalid ids and service names raise before any request: the path log stays empty."""
    async with ManagerSimulator() as sim, client_for(sim) as client:
        for bad in (-1, "1/../../admin", "12?x=1", True, 1.5, "", "\u0661"):
            with pytest.raises(InvalidCommandIdError):
                await client.get_progress(bad)  # type: ignore[arg-type]
        for service in ("../../x", "HDFS/stop", "", "HDFS?x=1", "a b", 5):
            with pytest.raises(InvalidArgumentError) as info:
                await client.start_service(service)  # type: ignore[arg-type]
            assert info.value.argument == "service"
        for cluster in (True, -1, "1"):
            with pytest.raises(InvalidArgumentError) as info:
                await client.stop_service("HDFS", cluster_id=cluster)  # type: ignore[arg-type]
            assert info.value.argument == "cluster_id"
        with pytest.raises(InvalidArgumentError):
            await client.save_configurations(["not", "a", "mapping"])  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await client.save_configurations({"x": object()})
        assert sim.stats.paths == []
        assert client.stats.requests == 0


@pytest.mark.anyio
async def test_actions_return_command_ids_to_poll() -> None:
    """start/stop/save return the new command's id, which get_progress can poll."""
    async with ManagerSimulator() as sim, client_for(sim) as client:
        started = await client.start_service("HDFS")
        stopped = await client.stop_service("HDFS", cluster_id=1)
        saved = await client.save_configurations({"services": [{"name": "HDFS"}]})
        assert {started, stopped, saved} <= set(sim.command_ids)
        assert len({started, stopped, saved}) == 3
        p = await client.get_progress(started)
        assert p.command_id == started
        posts = [r.path for r in sim.stats.log if r.method == "POST"]
    assert posts == [
        "/web/v1/maintain/cluster/1/service/HDFS/start",
        "/web/v1/maintain/cluster/1/service/HDFS/stop",
        "/web/v1/config/cluster/1/save",
    ]


@pytest.mark.anyio
async def test_refused_actions_raise_action_rejected() -> None:
    """A FAILED/-1 answer raises ActionRejectedError with the Manager's code and text."""
    async with ManagerSimulator() as sim, client_for(sim) as client:
        with pytest.raises(ActionRejectedError) as info:
            await client.start_service("NoSuchService")
        assert info.value.error_code == -300
        assert "NoSuchService" in info.value.error_description
        sim.reject_actions(times=1, error_code=-324, error_description="busy")
        with pytest.raises(ActionRejectedError) as info:
            await client.save_configurations({})
        assert info.value.error_code == -324
        assert "busy" in str(info.value)
        with pytest.raises(HTTPStatusError) as status_info:
            await client.start_service("HDFS", cluster_id=9)
        assert status_info.value.status == 404
        assert not isinstance(status_info.value, UnknownCommandError)
        assert client.stats.errors == 3


@pytest.mark.anyio
async def test_in_flight_never_exceeds_max_concurrency() -> None:
    """50 concurrent polls with max_concurrency=4: never more than 4 in flight."""
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(Timeline.build(steps=1, duration=1.0)) for _ in range(50)]
        async with client_for(sim, max_concurrency=4) as client:
            results = await asyncio.gather(*(client.get_progress(i) for i in ids))
        assert [p.command_id for p in results] == ids
        assert sim.stats.peak_in_flight <= 4
        assert client.stats.peak_in_flight == 4
        assert client.stats.in_flight == 0
        assert client.stats.requests == 50
        assert sum(client.stats.requests_by_command.values()) == 50


@pytest.mark.anyio
async def test_keep_alive_connections_are_reused() -> None:
    """Sequential polls reuse one pooled connection; trace_configs see every request."""
    created: list[int] = []
    reused: list[int] = []

    async def on_create(_s: aiohttp.ClientSession, _c: SimpleNamespace, _p: Any) -> None:
        created.append(1)

    async def on_reuse(_s: aiohttp.ClientSession, _c: SimpleNamespace, _p: Any) -> None:
        reused.append(1)

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_create)
    trace.on_connection_reuseconn.append(on_reuse)
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
        async with client_for(sim, trace_configs=[trace]) as client:
            for _ in range(20):
                await client.get_progress(cid)
    assert len(created) == 1
    assert len(reused) == 19
    assert sim.stats.progress_requests[cid] == 20


@pytest.mark.anyio
async def test_session_is_closed_on_exit_even_after_an_error() -> None:
    """Leaving the block (also by an exception) closes the session; the client is closed."""
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=1, duration=1.0))
        client = client_for(sim)

        async def use_and_fail() -> None:
            async with client:
                assert client.is_open
                await client.get_progress(cid)
                await client.get_progress(cid + 1000)

        with pytest.raises(UnknownCommandError):
            await use_and_fail()
        assert not client.is_open
        with pytest.raises(ClientClosedError):
            await client.get_progress(cid)
        # The same client can be opened again, with a fresh session.
        async with client:
            assert (await client.get_progress(cid)).command_id == cid


@pytest.mark.anyio
async def test_cancelled_poll_frees_its_slot() -> None:
    """Cancelling a poll stuck on a slow answer frees its slot for the next poll."""
    from cmdprogress.testing import Fault

    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=1, duration=1.0))
        sim.faults.inject(Fault.delay(30.0), times=1)
        async with client_for(sim, max_concurrency=1) as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.get_progress, cid)
                await sim.wait_until(lambda s: s.stats.in_flight == 1)  # the server holds it
                tg.cancel_scope.cancel()
            assert client.stats.in_flight == 0
            with anyio.fail_after(5):
                p = await client.get_progress(cid)
        assert p.command_id == cid
