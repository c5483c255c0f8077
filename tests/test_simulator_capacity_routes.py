"""The capacity limits every route of the web listener and none of the CAS listener."""

from __future__ import annotations

import aiohttp
import pytest

from cmdprogress.testing import ManagerSimulator
from cmdprogress.testing._capacity import Capacity


@pytest.mark.anyio
async def test_capacity_limits_web_actions_and_login_check_not_cas() -> None:
    """One answer of capacity: the second web request (any route) is refused, CAS never."""
    cap = Capacity(0.01, burst=1, retry_after=3)
    async with (
        ManagerSimulator(auth="cas", capacity=cap) as sim,
        aiohttp.ClientSession() as session,
    ):
        assert sim.cas_url is not None
        for _ in range(3):
            async with session.get(f"{sim.cas_url}/cas/login", allow_redirects=False) as cas:
                assert cas.status == 200
        start = f"{sim.url}/web/v1/maintain/cluster/1/service/HDFS/start"
        async with session.post(start, json={}, allow_redirects=False) as first:
            assert first.status == 302  # admitted, then sent to log in
        check = f"{sim.url}/web/v1/access/login_check"
        async with session.get(check, allow_redirects=False) as second:
            assert second.status == 429
            assert second.headers["Retry-After"] == "3"
        assert (cap.served, cap.refused) == (1, 1)
        assert [(r.path, r.status) for r in sim.stats.log][-2:] == [
            ("/web/v1/maintain/cluster/1/service/HDFS/start", 302),
            ("/web/v1/access/login_check", 429),
        ]
