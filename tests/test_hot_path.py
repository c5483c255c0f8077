"""The per-poll fast paths: the transport's slot limiter and the skipped decoding of repeats."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from cmdprogress import Client
from cmdprogress.exceptions import MalformedResponseError
from cmdprogress.testing import Fault, ManagerSimulator, Timeline


def manual() -> Timeline:
    """A timeline that moves only by advance()/finish()."""
    return Timeline.build(steps=2, duration=1000.0)


@pytest.mark.anyio
async def test_repeated_body_returns_the_previous_snapshot_and_a_change_is_decoded() -> None:
    """An identical answer gives back the previous snapshot itself; a changed one is decoded."""
    async with ManagerSimulator() as sim, Client(sim.url) as client:
        cid = sim.add_command(manual())
        first, digest = await client._poll_progress(cid, None, b"")
        again, same = await client._poll_progress(cid, first, digest)
        assert again is first
        assert same == digest
        sim.advance(cid)
        moved, other = await client._poll_progress(cid, first, digest)
        assert moved != first
        assert other != digest
        assert moved == await client.get_progress(cid)


@pytest.mark.anyio
async def test_a_digest_without_its_snapshot_is_decoded() -> None:
    """Without a previous snapshot a matching digest is ignored: the body is decoded."""
    async with ManagerSimulator() as sim, Client(sim.url) as client:
        cid = sim.add_command(manual())
        first, digest = await client._poll_progress(cid, None, b"")
        fresh, _ = await client._poll_progress(cid, None, digest)
        assert fresh == first
        assert fresh is not first


@pytest.mark.anyio
async def test_the_engine_polls_a_command_through_one_url_object_until_it_ends() -> None:
    """The engine's poll reuses the command's URL object; its terminal answer drops it; an
    undecodable answer still names the URL as text."""
    async with ManagerSimulator() as sim, Client(sim.url) as client:
        cid = sim.add_command(manual())
        first, digest = await client._poll_progress(cid, None, b"")
        url = client._poll_urls[cid]
        sim.advance(cid)
        moved, digest = await client._poll_progress(cid, first, digest)
        assert moved != first
        assert client._poll_urls[cid] is url
        sim.faults.inject(Fault.malformed_json(), times=1, command_id=cid)
        with pytest.raises(MalformedResponseError) as info:
            await client._poll_progress(cid, moved, digest)
        assert info.value.url == f"{sim.url}/web/v1/common/command/{cid}/progress"
        assert client._poll_urls[cid] is url  # a failed poll is tried again: kept
        sim.finish(cid)
        last, _ = await client._poll_progress(cid, moved, digest)
        assert last.is_terminal
        assert cid not in client._poll_urls  # no more polls: nothing kept


@pytest.mark.anyio
async def test_a_slot_handed_to_a_cancelled_request_goes_to_the_next_one() -> None:
    """A request cancelled just after it was handed a slot passes the slot on, none is lost."""
    async with ManagerSimulator() as sim, Client(sim.url, max_concurrency=1) as client:
        transport = client._open_transport()
        transport._free_slots = 0  # one request holds the only slot
        first = asyncio.create_task(transport._wait_for_slot())
        second = asyncio.create_task(transport._wait_for_slot())
        await anyio.wait_all_tasks_blocked()
        assert len(transport._slot_waiters) == 2
        transport._release_slot()  # the slot goes to `first`...
        first.cancel()  # ...which is cancelled before it could run
        with pytest.raises(asyncio.CancelledError):
            await first
        with anyio.fail_after(5):
            await second  # `second` got the slot instead
        assert transport._free_slots == 0
        assert not transport._slot_waiters
        transport._release_slot()
        assert transport._free_slots == 1
        cid = sim.add_command(manual())
        assert (await client.get_progress(cid)).command_id == cid


@pytest.mark.anyio
async def test_cancelled_waiters_neither_lose_nor_add_slots() -> None:
    """Requests cancelled while waiting for a slot leave max_concurrency slots, no more."""
    async with ManagerSimulator() as sim:
        slow = sim.add_command(manual())
        ids = [sim.add_command(manual()) for _ in range(12)]
        sim.faults.inject(Fault.hang(), times=2, command_id=slow)  # held until cancelled
        with anyio.fail_after(10):  # a bound for a broken run, not a wait for a result
            async with Client(sim.url, max_concurrency=2) as client:
                transport = client._open_transport()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(client.get_progress, slow)
                    tg.start_soon(client.get_progress, slow)
                    await sim.wait_until(lambda s: s.stats.in_flight == 2)
                    async with anyio.create_task_group() as waiting:
                        for cid in ids[:6]:
                            waiting.start_soon(client.get_progress, cid)
                        await anyio.wait_all_tasks_blocked()
                        assert len(transport._slot_waiters) == 6
                        waiting.cancel_scope.cancel()
                    tg.cancel_scope.cancel()  # the two held requests give their slots back
                assert transport._free_slots == 2
                assert not transport._slot_waiters
                held = sim.stats.in_flight  # the server holds the two abandoned until it closes
                results = await asyncio.gather(*(client.get_progress(c) for c in ids))
        assert [p.command_id for p in results] == ids
        assert held == 2
        assert sim.stats.peak_in_flight <= held + 2
        assert client.stats.peak_in_flight == 2
