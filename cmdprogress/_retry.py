"""Retry decisions in one place: what is transient, what may be repeated, how long to wait.

Used by the transport (retries inside one call) and meant for the engine's
outage policy (polling on through an outage), so both agree on the rules:

- :data:`TRANSIENT_STATUS`: the HTTP statuses an overloaded or restarting
  Manager answers with; :data:`THROTTLE_STATUS` the ones among them that
  refuse a request before processing it (429, 503).
- :func:`is_transient`: whether an error is an outage worth trying again.
- :func:`may_retry`: whether one request may be sent again after ``error``:
  transient, and either idempotent or surely never processed
  (``error.request_sent`` is false).
- :func:`backoff_delay`: capped exponential backoff with full jitter.
"""

from __future__ import annotations

import math
import random
from typing import Final

import attrs

from .exceptions import (
    CmdProgressError,
    ConnectError,
    HTTPStatusError,
    InvalidArgumentError,
    RequestTimeoutError,
    UnknownCommandError,
)

__all__ = [
    "THROTTLE_STATUS",
    "TRANSIENT_STATUS",
    "RetryPolicy",
    "backoff_ceiling",
    "backoff_delay",
    "is_transient",
    "may_retry",
]

TRANSIENT_STATUS: Final = frozenset({429, 500, 502, 503, 504})
"""Statuses of a Manager that is overloaded, restarting or behind a failing proxy."""

THROTTLE_STATUS: Final = frozenset({429, 503})
"""Transient statuses that refuse the request unprocessed: safe to repeat any request."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is an outage (worth trying again later), not a configuration error.

    Transient: a connection refused or broken, no answer in time, and the
    statuses of :data:`TRANSIENT_STATUS`.  TLS, redirect, protocol and
    authentication errors, and an unknown command, are not.

    >>> from cmdprogress.exceptions import HTTPStatusError
    >>> is_transient(HTTPStatusError("busy", status=503))
    True
    >>> is_transient(HTTPStatusError("no rights", status=403))
    False
    """
    if isinstance(error, UnknownCommandError):
        return False
    if isinstance(error, HTTPStatusError):
        return error.status in TRANSIENT_STATUS
    return isinstance(error, RequestTimeoutError | ConnectError)


def may_retry(error: BaseException, *, idempotent: bool) -> bool:
    """Whether a request that failed with ``error`` may be sent again.

    A request that is not idempotent (start/stop/save) is repeated only when
    it surely never reached the Manager (``error.request_sent`` is false:
    connection refused, a login step refused before it).
    """
    if not is_transient(error):
        return False
    return idempotent or (isinstance(error, CmdProgressError) and not error.request_sent)


def _number(name: str, value: object, *, allow_zero: bool, allow_none: bool = False) -> None:
    """Check a number of seconds; :class:`InvalidArgumentError` naming ``name``."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(
            name, f"expected a number of seconds, got {type(value).__name__}"
        )
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise InvalidArgumentError(name, f"must be {kind} finite number, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How transient failures are retried: capped exponential backoff with full jitter.

    Retried: connection errors, timeouts, broken bodies and the answers 429,
    500, 502, 503 and 504.  ``attempts`` counts the first try, so ``attempts=1``
    turns retries off.  Before try *n* + 1 the client sleeps a random time
    between 0 and ``min(max_backoff, backoff * 2 ** (n - 1))`` seconds, or
    what the Manager's ``Retry-After`` asked for, capped at ``max_retry_after``.
    Start/stop/save are not idempotent: they are retried only when the
    request surely was not processed (connection refused, 429, 503).

    >>> RetryPolicy(attempts=6, backoff=0.2).max_backoff
    10.0
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 60.0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise InvalidArgumentError("attempts", "expected an int (1 turns retries off)")
        if not 1 <= self.attempts <= 100:
            raise InvalidArgumentError(
                "attempts", f"must be between 1 and 100, got {self.attempts!r}"
            )
        _number("backoff", self.backoff, allow_zero=True)
        _number("max_backoff", self.max_backoff, allow_zero=True)
        if self.max_backoff < self.backoff:
            raise InvalidArgumentError(
                "max_backoff", f"must be >= backoff ({self.max_backoff!r} < {self.backoff!r})"
            )
        _number("max_retry_after", self.max_retry_after, allow_zero=True)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry).

        >>> RetryPolicy().delay(1, retry_after=120.0)
        60.0
        """
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return backoff_delay(retry, self)


def backoff_ceiling(attempt: int, policy: RetryPolicy) -> float:
    """The longest backoff before retry number ``attempt`` (1 for the first retry).

    ``backoff * 2 ** (attempt - 1)``, capped at ``max_backoff``.

    >>> backoff_ceiling(3, RetryPolicy(backoff=0.5))
    2.0
    """
    return min(policy.max_backoff, policy.backoff * 2.0 ** min(attempt - 1, 60))


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """A random wait before retry number ``attempt``: full jitter below the ceiling.

    ``rng`` defaults to the :mod:`random` module's generator.

    >>> backoff_delay(1, RetryPolicy(backoff=0.0, max_backoff=0.0))
    0.0
    """
    ceiling = backoff_ceiling(attempt, policy)
    return rng.uniform(0.0, ceiling) if rng is not None else random.uniform(0.0, ceiling)
