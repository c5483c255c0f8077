"""Bad arguments are refused before anything is sent; values have safe reprs."""

from __future__ import annotations

import math
import ssl
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmdprogress import BasicAuth, CASAuth, Client, PollPolicy, RetryPolicy, Timeouts
from cmdprogress._ids import validate_command_id
from cmdprogress.exceptions import (
    ClientClosedError,
    InvalidArgumentError,
    InvalidCommandIdError,
)

BAD_IDS: list[Any] = [
    -1,
    True,
    False,
    1.0,
    1.5,
    None,
    b"12",
    "",
    " 12",
    "12 ",
    "-3",
    "+3",
    "12a",
    "0x10",
    "1e3",
    "../1",
    "1/../../admin",
    "12?x=1",
    "12%2F",
    "\u0661\u0662",  # Arabic-Indic digits: isdigit() but not ASCII
    "\uff11",  # full-width 1
    2**63,
    "9" * 19,
    "1" * 40,
    [1],
]


@pytest.mark.parametrize("value", BAD_IDS, ids=repr)
def test_bad_command_ids_are_refused(value: Any) -> None:
    """Anything but a non-negative int or a string of ASCII digits is an InvalidCommandIdError."""
    with pytest.raises(InvalidCommandIdError) as info:
        validate_command_id(value)
    assert isinstance(info.value, ValueError)
    assert info.value.argument == "command_id"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (7, 7), ("42", 42), ("0042", 42), (2**63 - 1, 2**63 - 1), (str(2**63 - 1), 2**63 - 1)],
)
def test_good_command_ids_are_accepted(value: int | str, expected: int) -> None:
    """Non-negative ints and digit strings within the Java long range are command ids."""
    assert validate_command_id(value) == expected
    assert type(validate_command_id(value)) is int


@given(st.text(max_size=25))
def test_any_text_is_an_id_only_if_it_is_ascii_digits(text: str) -> None:
    """A string is accepted exactly when it is 1+ ASCII digits within the long range."""
    ok = text.isascii() and text.isdigit() and int(text) <= 2**63 - 1
    if ok:
        assert validate_command_id(text) == int(text)
    else:
        with pytest.raises(InvalidCommandIdError):
            validate_command_id(text)


@given(st.integers())
def test_any_int_is_an_id_only_if_in_range(number: int) -> None:
    """An int is accepted exactly when 0 <= n < 2**63."""
    if 0 <= number < 2**63:
        assert validate_command_id(number) == number
    else:
        with pytest.raises(InvalidCommandIdError):
            validate_command_id(number)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"base_url": "10.0.0.5:28443"}, "base_url"),
        ({"base_url": "ftp://10.0.0.5"}, "base_url"),
        ({"base_url": "https://"}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"base_url": 5}, "base_url"),
        ({"base_url": "https://admin:pw@10.0.0.5:28443"}, "base_url"),
        ({"base_url": "https://10.0.0.5:28443/?x=1"}, "base_url"),
        ({"base_url": "https://10.0.0.5:99999"}, "base_url"),
        ({"base_url": "https://10.0.0.5:port"}, "base_url"),
        ({"base_url": "http://[::1"}, "base_url"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": -4}, "max_concurrency"),
        ({"max_concurrency": 2.0}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"max_body_size": 0}, "max_body_size"),
        ({"max_body_size": "1M"}, "max_body_size"),
        ({"auth": ("admin", "pw")}, "auth"),
        ({"ssl": "yes please"[:0]}, "ssl"),
        ({"ssl": 1.5}, "ssl"),
        ({"poll": {"interval": 1}}, "poll"),
        ({"retry": 3}, "retry"),
        ({"timeout": 5.0}, "timeout"),
        ({"trace_configs": object()}, "trace_configs"),
    ],
)
def test_bad_client_arguments_name_the_argument(kwargs: dict[str, Any], argument: str) -> None:
    """Each bad Client argument raises InvalidArgumentError (a ValueError) naming it."""
    kwargs = {"base_url": "https://10.0.0.5:28443", **kwargs}
    with pytest.raises(InvalidArgumentError) as info:
        Client(**kwargs)
    assert info.value.argument == argument
    assert isinstance(info.value, ValueError)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 1.0}, "attempts"),
        ({"attempts": 1000}, "attempts"),
        ({"backoff": -1}, "backoff"),
        ({"backoff": math.nan}, "backoff"),
        ({"backoff": "1"}, "backoff"),
        ({"backoff": 2.0, "max_backoff": 1.0}, "max_backoff"),
        ({"max_retry_after": math.inf}, "max_retry_after"),
    ],
)
def test_bad_retry_policy(kwargs: dict[str, Any], argument: str) -> None:
    """RetryPolicy refuses nonsense with InvalidArgumentError naming the field."""
    with pytest.raises(InvalidArgumentError) as info:
        RetryPolicy(**kwargs)
    assert info.value.argument == argument


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"connect": 0}, "timeout.connect"),
        ({"read": -1.0}, "timeout.read"),
        ({"total": math.inf}, "timeout.total"),
        ({"total": True}, "timeout.total"),
    ],
)
def test_bad_timeouts(kwargs: dict[str, Any], argument: str) -> None:
    """Timeouts must be positive finite numbers of seconds or None."""
    with pytest.raises(InvalidArgumentError) as info:
        Timeouts(**kwargs)
    assert info.value.argument == argument


def test_timeouts_may_be_unlimited() -> None:
    """None turns a time limit off."""
    assert Timeouts(connect=None, read=None, total=None).total is None


def test_retry_delay_is_capped_full_jitter() -> None:
    """Delays lie in [0, min(max_backoff, backoff * 2**(n-1))]; Retry-After is capped."""
    policy = RetryPolicy(attempts=10, backoff=0.5, max_backoff=3.0, max_retry_after=5.0)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0), (500, 3.0)]:
        delays = [policy.delay(retry) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jittered over the range, not constant
    assert policy.delay(1, retry_after=2.0) == 2.0
    assert policy.delay(1, retry_after=600.0) == 5.0


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: CASAuth("", "pw"), "username"),
        (lambda: CASAuth("admin", ""), "password"),
        (lambda: CASAuth("ad\nmin", "pw"), "username"),
        (lambda: CASAuth("admin", "pw", cas_url="cas.example"), "cas_url"),
        (lambda: BasicAuth("ad:min", "pw"), "username"),
        (lambda: BasicAuth("admin", 1234), "password"),
    ],
)
def test_bad_credentials(make: Any, argument: str) -> None:
    """Credential values are validated; the password never appears in the error."""
    with pytest.raises(InvalidArgumentError) as info:
        make()
    assert info.value.argument == argument
    assert "1234" not in str(info.value)


def test_reprs_hide_the_password() -> None:
    """Reprs of CASAuth, BasicAuth and Client show the user name but never the password."""
    secret = "S3cr3t-Passw0rd!"
    cas = CASAuth("admin", secret, cas_url="https://10.0.0.5:20009/cas")
    basic = BasicAuth("admin", secret)
    client = Client("https://10.0.0.5:28443", auth=cas)
    for value in (cas, basic, client, Client("https://10.0.0.5:28443", auth=basic)):
        text = repr(value) + str(value)
        assert "admin" in text
        assert secret not in text
    assert repr(client).startswith("Client('https://10.0.0.5:28443'")


def test_base_url_is_normalised() -> None:
    """A trailing slash is dropped; a gateway path prefix is kept; yarl URLs are accepted."""
    from yarl import URL

    assert Client(URL("https://10.0.0.5:28443/")).base_url == "https://10.0.0.5:28443"
    assert Client("https://10.0.0.5:28443/").base_url == "https://10.0.0.5:28443"
    assert Client("http://gw.example:9022/mrs/").base_url == "http://gw.example:9022/mrs"


def test_policies_are_kept() -> None:
    """The poll policy given is the one the engine reads from client.poll."""
    poll = PollPolicy(interval=0.5, max_interval=2.0)
    client = Client("https://10.0.0.5:28443", poll=poll)
    assert client.poll is poll
    assert client.stats.requests == 0
    assert not client.is_open
    other = PollPolicy(interval=1.0)
    client.poll = other
    assert client.poll is other
    with pytest.raises(InvalidArgumentError, match="poll"):
        client.poll = {"interval": 1.0}  # type: ignore[assignment]
    assert client.poll is other


def test_engine_is_not_public() -> None:
    """The client is the way in: Engine is not exported; the old name still resolves, warned."""
    import cmdprogress

    assert "Engine" not in cmdprogress.__all__
    with pytest.warns(DeprecationWarning, match="client.add_listener"):
        engine = cmdprogress.Engine  # type: ignore[attr-defined]
    assert engine.__module__ == "cmdprogress._scheduler"
    with pytest.raises(AttributeError, match="no_such_name"):
        cmdprogress.no_such_name  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.anyio
async def test_closed_client_refuses_calls() -> None:
    """Calls outside `async with` raise ClientClosedError (a RuntimeError)."""
    client = Client("http://127.0.0.1:9")
    with pytest.raises(ClientClosedError):
        await client.get_progress(1)
    with pytest.raises(RuntimeError):
        await client.start_service("HDFS")


@pytest.mark.anyio
async def test_missing_ca_file_is_an_argument_error() -> None:
    """ssl='path' that cannot be loaded fails on enter with InvalidArgumentError('ssl')."""
    client = Client("https://127.0.0.1:9", ssl="/nonexistent/ca.pem")
    with pytest.raises(InvalidArgumentError) as info:
        async with client:
            pass  # pragma: no cover
    assert info.value.argument == "ssl"
    assert not client.is_open


@pytest.mark.anyio
async def test_client_cannot_be_entered_twice_at_once() -> None:
    """A second concurrent `async with` on one client is refused; the first stays usable."""
    client = Client("http://127.0.0.1:9", ssl=ssl.create_default_context())
    async with client:
        with pytest.raises(ClientClosedError):
            await client.__aenter__()
        assert client.is_open
    assert not client.is_open
