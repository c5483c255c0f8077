"""The engine's per-command error policy: which failed polls are tried again, and when.

The transport has already retried a request (``RetryPolicy``) when the engine
sees its error; this module decides what happens to the command's watch then:

- a malformed answer is polled again, up to :data:`MAX_MALFORMED` in a row;
- an outage (connection refused or reset, timeouts, 5xx, 429) is polled again
  while it has lasted less than ``PollPolicy.outage_grace``;
- anything else (404, a too-large answer, TLS and redirect errors) ends the watch.

A command polled again waits a back-off growing from ``interval`` by
``backoff`` up to ``max_interval``; a poll the Manager throttled (429/503)
waits its ``Retry-After`` (capped) or ``PollPolicy.throttle_pause``.

A stall (no change for ``PollPolicy.stall_timeout``) also ends a watch; the
scheduler checks it on each answer. A session expiry is handled by the
transport and never reaches the engine. A watch of one command raises the
error; a multi-command watch raises it after every other command ended: a
:class:`~cmdprogress.exceptions.CommandErrorGroup`, even of one (with the
others' terminal snapshots on ``.results``); ``wait_all(...,
return_exceptions=True)`` puts errors in the result instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._retry import THROTTLE_STATUS, is_transient
from .exceptions import HTTPStatusError, MalformedResponseError, ResponseTooLargeError

if TYPE_CHECKING:
    from ._policy import PollPolicy

__all__ = ["MAX_MALFORMED", "PollFailures"]

MAX_MALFORMED: Final = 3
"""Malformed answers in a row after which a command's watch ends."""


class PollFailures:
    """The failures in a row of one command's polls.

    The scheduler's record of a command holds one from its first failed poll
    until a poll answers (then it is dropped: the next failure starts afresh);
    :meth:`retry_in` decides after each failed poll.
    """

    __slots__ = ("delay", "malformed", "since")

    def __init__(self) -> None:
        self.delay = 0.0  # the back-off of the last retry
        self.malformed = 0  # malformed answers in a row
        self.since: float | None = None  # when the current outage was first seen

    def retry_in(
        self, error: Exception, now: float, policy: PollPolicy, max_retry_after: float
    ) -> float | None:
        """Seconds until the command is polled again after ``error``; ``None``: its watch ends."""
        if isinstance(error, MalformedResponseError) and not isinstance(
            error, ResponseTooLargeError
        ):
            self.malformed += 1
            if self.malformed >= MAX_MALFORMED:
                return None
        elif is_transient(error):
            if self.since is None:
                self.since = now
            grace = policy.outage_grace
            if grace is not None and now - self.since >= grace:
                return None
        else:
            return None
        self.delay = min(policy.max_interval, max(self.delay, policy.interval) * policy.backoff)
        if isinstance(error, HTTPStatusError) and error.status in THROTTLE_STATUS:
            # The poll the Manager throttled waits its Retry-After; the others go on.
            after = error.retry_after
            return policy.throttle_pause if after is None else min(after, max_retry_after)
        return self.delay
