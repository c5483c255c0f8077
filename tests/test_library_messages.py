"""Library errors that send the user the right way: scheme, CAS address, not a Manager, ids."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest

from cmdprogress import CASAuth, Client, PollPolicy, RetryPolicy
from cmdprogress.exceptions import (
    ConnectError,
    InvalidArgumentError,
    TLSError,
    UnknownCommandError,
    WrongSchemeError,
)
from cmdprogress.testing import ManagerSimulator, Timeline

ONCE = RetryPolicy(attempts=1)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.anyio
async def test_https_against_a_plain_http_port_says_use_http() -> None:
    """https:// to a plain-HTTP port: TLSError saying the port answers plain HTTP, use http://."""
    async with ManagerSimulator() as sim:
        right = sim.url
        async with Client(right.replace("http://", "https://"), retry=ONCE) as client:
            with pytest.raises(TLSError) as info:
                await client.get_progress(1)
    assert isinstance(info.value, WrongSchemeError)
    assert info.value.scheme == "http"
    message = str(info.value)
    assert "answers plain HTTP, not HTTPS" in message
    assert f"use {right} in the URL" in message
    assert "would not help" in message  # no CA file, no turning verification off
    assert "ssl=" not in message


@pytest.mark.anyio
async def test_http_against_an_https_port_says_use_https() -> None:
    """http:// to a TLS port: TLSError saying the port answers HTTPS, use https://; one request."""
    async with ManagerSimulator(tls=True) as sim:
        right = sim.url
        with anyio.fail_after(20):
            async with Client(
                right.replace("https://", "http://"), retry=RetryPolicy(attempts=3)
            ) as client:
                with pytest.raises(TLSError) as info:
                    await client.get_progress(1)
                assert client.stats.retries == 0  # a wrong scheme is not a passing outage
    assert isinstance(info.value, WrongSchemeError)
    assert info.value.scheme == "https"
    assert "answers HTTPS (TLS), not plain HTTP" in str(info.value)
    assert f"use {right} in the URL" in str(info.value)


@pytest.mark.anyio
async def test_unreachable_cas_server_is_named_with_cas_url() -> None:
    """CAS down: the error names the CAS address and cas_url, not the Manager's address."""
    port = closed_port()
    async with ManagerSimulator(auth="cas") as sim:
        manager_port = sim.url.rsplit(":", 1)[1]
        auth = CASAuth(sim.username, sim.password, cas_url=f"http://127.0.0.1:{port}/cas")
        async with Client(sim.url, auth=auth, retry=ONCE) as client:
            with pytest.raises(ConnectError) as info:
                await client.get_progress(1)
    message = str(info.value)
    assert f"cannot connect to the CAS server at 127.0.0.1:{port}" in message
    assert "check cas_url" in message
    assert manager_port not in message  # the Manager's address is not blamed
    assert "reachable" in message


@pytest.mark.anyio
async def test_html_404s_before_any_command_was_found_hint_at_the_url() -> None:
    """404 pages while nothing was ever found: the message says the URL may not be a Manager's."""
    async with ManagerSimulator() as sim:
        base = sim.url
        cid = sim.add_command(Timeline.build(steps=2, duration=100.0))
        async with Client(sim.url + "/wrong-prefix", retry=ONCE) as client:
            with pytest.raises(UnknownCommandError) as wrong:
                await client.get_progress(cid)
        async with Client(sim.url, retry=ONCE) as client:
            with pytest.raises(UnknownCommandError) as first:
                await client.get_progress(4242)
            await client.get_progress(cid)
            with pytest.raises(UnknownCommandError) as later:
                await client.get_progress(4242)
    assert "may not be a Manager's address" in str(wrong.value)
    assert f"{base}/wrong-prefix" in str(wrong.value)
    assert "may not be a Manager's address" in str(first.value)
    # Once a command was found the URL is right: only the id is questioned.
    assert "Manager's address" not in str(later.value)
    assert "check the id" in str(later.value)


def test_poll_policy_interval_alone_needs_no_max_interval() -> None:
    """PollPolicy(interval=20) is valid: the default max_interval follows a longer interval."""
    assert PollPolicy(interval=20).max_interval == 20
    assert PollPolicy(interval=2).max_interval == 15.0
    assert PollPolicy().max_interval == 15.0
    with pytest.raises(InvalidArgumentError, match=r"max_interval: must be >= interval"):
        PollPolicy(interval=20, max_interval=15)
    with pytest.raises(InvalidArgumentError, match=r"^interval:"):
        PollPolicy(interval="20")  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("ids", ["12", 12, b"12", bytearray(b"12")], ids=repr)
@pytest.mark.parametrize("method", ["wait_all", "watch_many", "watcher"])
async def test_one_id_where_a_collection_is_expected_is_refused(ids: Any, method: str) -> None:
    """wait_all("12") / (12): InvalidArgumentError naming command_ids; nothing is requested."""
    async with ManagerSimulator() as sim:
        async with Client(sim.url) as client:
            call = getattr(client, method)

            async def use() -> None:
                result = call(ids)
                if method == "wait_all":
                    await result

            with pytest.raises(InvalidArgumentError) as info:
                await use()
        assert sim.stats.requests_total == 0
    assert info.value.argument == "command_ids"
    assert "collection of command ids" in str(info.value)
    assert "pass [id]" in str(info.value)
