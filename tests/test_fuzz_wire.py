"""Fuzzed bodies served by the simulator: get_progress gives the documented result or our error."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_decode import any_body, oracle

from cmdprogress import Client, CommandProgress, PollPolicy, RetryPolicy
from cmdprogress.exceptions import MalformedResponseError, ResponseTooLargeError
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

# Fewer examples than at the decoding boundary: each one starts a simulator and a client.
WIRE = settings(
    max_examples=25,
    deadline=None,
    # anyio_backend is a constant fixture: sharing it across examples is harmless.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON = {"Content-Type": "application/json;charset=UTF-8"}
MAX_BODY = 1 << 20  # the client's default max_body_size


@pytest.mark.anyio
@WIRE
@given(bodies=st.lists(any_body, min_size=1, max_size=6))
async def test_fuzzed_bodies_over_the_wire(bodies: list[bytes]) -> None:
    """Each fuzzed 200 body gives the oracle's snapshot, or MalformedResponseError and its paths.

    A body over the client's size cap is refused as too large whatever it holds.
    """
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=5.0))
        async with Client(
            sim.url,
            retry=RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.002),
            poll=PollPolicy(throttle_pause=0.001),
        ) as client:
            for body in bodies:
                sim.faults.inject(Fault.raw(200, body, headers=JSON), times=1, command_id=cid)
                too_large = len(body) > MAX_BODY
                expected = ["$"] if too_large else oracle(body, cid)
                got: CommandProgress | None = None
                errors: list[str] = []
                error_id: int | None = None
                refused_as_too_large = False
                with anyio.fail_after(10):  # never a hang
                    try:
                        got = await client.get_progress(cid)
                    except MalformedResponseError as exc:
                        errors, error_id = exc.errors, exc.command_id
                        refused_as_too_large = isinstance(exc, ResponseTooLargeError)
                assert refused_as_too_large == too_large
                if got is not None:
                    assert got == expected
                else:
                    assert isinstance(expected, list), f"refused a valid body: {errors}"
                    assert error_id == cid
                    assert sorted(e.rsplit(" @ ", 1)[1] for e in errors) == sorted(expected)
            # The client is still usable: the next, ordinary answer decodes.
            assert (await client.get_progress(cid)).command_id == cid
    assert sim.stats.progress_requests[cid] == len(bodies) + 1
