"""The transport's and the decoder's fast paths on the moving hot path, each with its slow path.

Every shortcut a poll takes when nothing unusual happens (one URL object per
command, no session bookkeeping without a login, a quiet pacer) is checked
here next to the case that must leave it: an error still names its URL, a
session that expires mid-run still logs in again, a throttle after a quiet
stretch still teaches the pacer.
"""

from __future__ import annotations

import pytest

from cmdprogress import BasicAuth, Client
from cmdprogress._client import _POLL_URLS_KEPT
from cmdprogress._pacing import BETA, WINDOW, Pacer
from cmdprogress.exceptions import MalformedResponseError, UnknownCommandError
from cmdprogress.testing import Fault, ManagerSimulator, Timeline


def manual() -> Timeline:
    """A timeline that moves only by advance()/finish()."""
    return Timeline.build(steps=2, duration=1000.0)


@pytest.mark.anyio
async def test_each_running_command_polls_through_one_url_object() -> None:
    """get_progress reuses one URL object per running command; an ended command's is dropped."""
    async with ManagerSimulator() as sim, Client(sim.url) as client:
        cid = sim.add_command(manual())
        url = client._poll_url(cid)
        assert client._poll_url(cid) is url
        assert str(url) == f"{sim.url}/web/v1/common/command/{cid}/progress"
        first = await client.get_progress(cid)
        sim.advance(cid)
        assert await client.get_progress(cid) != first
        assert client._poll_urls[cid] is url
        sim.finish(cid)
        assert (await client.get_progress(cid)).is_terminal
        assert cid not in client._poll_urls  # no more polls expected: nothing kept


@pytest.mark.anyio
async def test_a_failed_poll_keeps_no_url_and_the_table_is_bounded() -> None:
    """A poll that fails drops its command's URL; the table never exceeds its bound."""
    async with ManagerSimulator() as sim, Client(sim.url) as client:
        with pytest.raises(UnknownCommandError):
            await client.get_progress(999)
        assert 999 not in client._poll_urls
        for other in range(10_000, 10_000 + _POLL_URLS_KEPT + 1):
            client._poll_url(other)
        assert len(client._poll_urls) <= _POLL_URLS_KEPT


@pytest.mark.anyio
async def test_a_malformed_answer_names_its_url_as_text() -> None:
    """The URL object of the poll becomes the error's URL text, only when decoding fails."""
    async with ManagerSimulator() as sim, Client(sim.url) as client:
        cid = sim.add_command(manual())
        sim.faults.inject(Fault.malformed_json(), times=1, command_id=cid)
        with pytest.raises(MalformedResponseError) as info:
            await client.get_progress(cid)
        assert info.value.url == f"{sim.url}/web/v1/common/command/{cid}/progress"
        assert isinstance(info.value.url, str)
        assert info.value.command_id == cid
        assert client.stats.errors == 1


@pytest.mark.anyio
async def test_a_session_that_expires_between_polls_logs_in_again() -> None:
    """With a login, the poll's URL object and the session bookkeeping survive an expiry."""
    async with ManagerSimulator(auth="basic") as sim:
        cid = sim.add_command(manual())
        auth = BasicAuth(sim.username, sim.password)
        async with Client(sim.url, auth=auth) as client:
            first = await client.get_progress(cid)
            url = client._poll_urls[cid]
            sim.expire_sessions()
            sim.advance(cid)
            assert await client.get_progress(cid) != first
            assert client._poll_urls[cid] is url
            assert sim.stats.logins_ok == 2


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _answer(pacer: Pacer, clock: _Clock, *, ok: bool) -> None:
    pacer.reserve()
    ticket = pacer.ticket
    clock.now += 0.01
    if ok:
        pacer.on_answer(ticket)
    else:
        pacer.on_throttle(1.0, ticket)


def test_a_throttle_after_a_quiet_stretch_still_teaches_the_pacer() -> None:
    """Successes recorded on the quiet path keep the window and the served rate a cut needs."""
    clock = _Clock()
    pacer = Pacer(clock=clock)
    for _ in range(1000):  # a long quiet stretch: far more answers than the window holds
        _answer(pacer, clock, ok=True)
    assert pacer._quiet
    _answer(pacer, clock, ok=False)  # one stray throttle: not quiet while it is in the window
    assert not pacer._quiet
    assert pacer.throttled_share() == pytest.approx(1 / WINDOW)
    assert pacer.cuts == 0
    for _ in range(WINDOW):
        _answer(pacer, clock, ok=True)
    assert pacer._quiet
    assert pacer.throttled_share() == 0.0
    for _ in range(20):
        _answer(pacer, clock, ok=True)
    throttles = 0
    while pacer.cuts == 0:
        _answer(pacer, clock, ok=False)
        throttles += 1
    # 9 of the 32 answers in the window throttled (> 25 %); the 22 successes after the
    # window's first answer came in 0.31 s: that is the pace the Manager served.
    assert throttles == 9
    assert pacer.pace_found == pytest.approx(22 / 0.31)
    assert pacer.current_limit == pytest.approx(BETA * 22 / 0.31)
    assert not pacer._quiet
    for _ in range(2 * WINDOW):  # after a cut every answer is counted for its round
        _answer(pacer, clock, ok=True)
    assert not pacer._quiet
