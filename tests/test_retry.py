"""The retry rules shared by the transport and the engine (``cmdprogress._retry``)."""

from __future__ import annotations

import random

import pytest

from cmdprogress._retry import (
    THROTTLE_STATUS,
    TRANSIENT_STATUS,
    RetryPolicy,
    backoff_ceiling,
    backoff_delay,
    is_transient,
    may_retry,
)
from cmdprogress.exceptions import (
    AuthenticationError,
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    RedirectError,
    RequestTimeoutError,
    TLSError,
    UnknownCommandError,
)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectError("refused"), True),
        (RequestTimeoutError("slow"), True),
        *[(HTTPStatusError("x", status=s), True) for s in sorted(TRANSIENT_STATUS)],
        (HTTPStatusError("x", status=403), False),
        (HTTPStatusError("x", status=501), False),
        (UnknownCommandError("x", status=404), False),
        (TLSError("untrusted"), False),
        (RedirectError("elsewhere"), False),
        (ProtocolError("garbage"), False),
        (AuthenticationError("wrong password"), False),
        (ValueError("not ours"), False),
    ],
)
def test_what_is_transient(error: Exception, transient: bool) -> None:
    """Outages are transient; configuration, protocol and login errors are not."""
    assert is_transient(error) is transient


def test_throttle_statuses_are_transient() -> None:
    """A refusal (429/503) is one kind of transient answer."""
    assert THROTTLE_STATUS < TRANSIENT_STATUS


def test_a_non_idempotent_request_is_repeated_only_when_never_sent() -> None:
    """start/stop/save: repeated after a connection refused, not after a broken one."""
    broken = ConnectError("the connection broke")
    refused = ConnectError("cannot connect")
    refused.request_sent = False
    assert may_retry(broken, idempotent=True)
    assert not may_retry(broken, idempotent=False)
    assert may_retry(refused, idempotent=False)
    # Never sent, but not an outage: still not retried.
    unsent_tls = TLSError("untrusted")
    unsent_tls.request_sent = False
    assert not may_retry(unsent_tls, idempotent=False)


def test_backoff_is_capped_full_jitter_from_the_given_generator() -> None:
    """The delay lies in [0, ceiling]; the same seed gives the same delays."""
    policy = RetryPolicy(attempts=10, backoff=0.5, max_backoff=3.0)
    assert [backoff_ceiling(n, policy) for n in (1, 2, 3, 4, 500)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    first = [backoff_delay(n, policy, random.Random(7)) for n in range(1, 6)]
    again = [backoff_delay(n, policy, random.Random(7)) for n in range(1, 6)]
    assert first == again
    assert all(0.0 <= d <= backoff_ceiling(n, policy) for n, d in enumerate(first, 1))
