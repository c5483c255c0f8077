"""Counters a user (or a test) can read from ``client.stats``."""

from __future__ import annotations

import warnings
from collections import Counter

import attrs

__all__ = ["ClientStats"]


@attrs.define
class ClientStats:
    """Live counters of one client; read them any time (the counters only grow).

    >>> s = ClientStats()
    >>> s.requests, s.peak_in_flight
    (0, 0)
    """

    requests: int = 0
    """HTTP requests sent to the Manager (progress, actions and login steps)."""
    retries: int = 0
    """Requests repeated after a transient failure."""
    errors: int = 0
    """Requests that ended with an error (before or after retries); cancellations not counted."""
    cancelled: int = 0
    """Requests cancelled by their caller (a watch that ended, a deadline) before they ended."""
    logins: int = 0
    """Successful logins, the first one included."""
    relogins: int = 0
    """Logins done because the session expired."""
    throttled: int = 0
    """Answers 429/503 seen (each is retried after its ``Retry-After``)."""
    rate_limit: float | None = None
    """The pacer's request-rate limit right now (requests/s; ``None``: none yet).

    Learned from the Manager's 429/503 answers (see the README's "Good citizen").
    """
    rate_cuts: int = 0
    """Times the rate limit was cut because the Manager throttled."""
    paused_seconds: float = 0.0
    """Seconds the polls were paused in all because throttling persisted."""
    poll_stretch: float = 1.0
    """The factor the watch cadence is stretched by right now to fit the limit (1: none)."""
    in_flight: int = 0
    """Progress requests in flight right now."""
    peak_in_flight: int = 0
    """The most progress requests in flight at once."""
    requests_by_command: Counter[int] = attrs.field(factory=Counter)
    """Progress requests (HTTP, retries included) per command id: every command being
    watched, and the latest 1,024 that are not (their watch ended, or only
    ``get_progress`` asked); older entries are dropped, so a client that runs for
    ever stays bounded. ``client.requests_for(id)`` reads one entry."""

    @property
    def polls(self) -> Counter[int]:
        """Deprecated name of :attr:`requests_by_command` (it counts HTTP requests, not the
        engine's polls of ``WatchStats.polls``)."""
        warnings.warn(
            "ClientStats.polls is deprecated: it counts HTTP requests per command, not "
            "polls; use ClientStats.requests_by_command",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.requests_by_command
