"""Counters a user (or a test) can read from ``client.stats``."""

from __future__ import annotations

from collections import Counter

import attrs

__all__ = ["ClientStats"]


@attrs.define
class ClientStats:
    """Live counters of one client; read them any time, they only grow.

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
    """Answers 429/503 that slowed the whole client down."""
    in_flight: int = 0
    """Progress requests in flight right now."""
    peak_in_flight: int = 0
    """The most progress requests in flight at once."""
    polls: Counter[int] = attrs.field(factory=Counter)
    """Progress requests per command id."""
