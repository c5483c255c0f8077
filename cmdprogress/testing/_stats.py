"""Counters and the request log of the simulator (``sim.stats``)."""

from __future__ import annotations

import itertools
from collections import Counter, deque

import attrs

__all__ = ["RequestRecord", "SimStats"]


@attrs.frozen
class RequestRecord:
    """One request the simulator answered (or refused).

    ``time`` is event-loop time; ``status`` is 0 when the connection was reset
    or dropped instead of answered; ``fault`` names the fault applied, if any.

    >>> RequestRecord("GET", "/web/v1/common/command/1/progress", 200, 1, 12.5).command_id
    1
    """

    method: str
    path: str
    status: int
    command_id: int | None
    time: float
    fault: str | None = None


@attrs.define
class SimStats:
    """Live counters of a simulator; tests assert on them.

    >>> s = SimStats()
    >>> s.requests_total, s.progress_requests[7], s.poll_intervals(7)
    (0, 0, [])
    """

    requests_total: int = 0
    """Every request on both listeners."""
    progress_requests: Counter[int] = attrs.field(factory=Counter)
    """Progress requests per command id (unknown ids included)."""
    in_flight: int = 0
    """Requests being handled right now."""
    peak_in_flight: int = 0
    """The most requests handled at once."""
    login_attempts: int = 0
    """Credential checks: CAS form posts and Basic ``Authorization`` headers."""
    logins_ok: int = 0
    """Credential checks that succeeded."""
    logins_failed: int = 0
    """Credential checks that counted towards the lockout (wrong password, counted on receipt)."""
    password_sends: int = 0
    """Requests that carried the password, refused (429/503) or hung ones included."""
    login_page_requests: int = 0
    """``GET /cas/login`` requests the CAS server answered (the first step of each CAS login)."""
    sessions_created: int = 0
    """Web sessions (``JSESSIONID``) handed out after a login."""
    log_limit: int | None = None
    """Most records kept in :attr:`log` (oldest dropped); ``None``: keep all."""
    log: deque[RequestRecord] = attrs.field(init=False)
    """Every request, in order: method, path, status, command id, loop time, fault."""
    _poll_times: dict[int, list[float]] = attrs.field(init=False, factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        self.log = deque(maxlen=self.log_limit)

    @property
    def paths(self) -> list[str]:
        """Every path requested, in order (without query strings)."""
        return [r.path for r in self.log]

    def poll_intervals(self, command_id: int) -> list[float]:
        """Seconds (event-loop time) between successive progress requests for a command."""
        times = self._poll_times.get(command_id, [])
        return [b - a for a, b in itertools.pairwise(times)]

    def reset(self) -> None:
        """Zero every counter and clear the log (``in_flight`` is kept: it is live)."""
        in_flight = self.in_flight
        self.requests_total = 0
        self.progress_requests.clear()
        self.peak_in_flight = in_flight
        self.login_attempts = 0
        self.logins_ok = 0
        self.logins_failed = 0
        self.password_sends = 0
        self.login_page_requests = 0
        self.sessions_created = 0
        self.log.clear()
        self._poll_times.clear()

    def _record_poll(self, command_id: int, now: float) -> None:
        self.progress_requests[command_id] += 1
        times = self._poll_times.get(command_id)
        if times is None:
            self._poll_times[command_id] = [now]
        else:
            times.append(now)
            if self.log_limit is not None and len(times) > self.log_limit:
                del times[: len(times) - self.log_limit]
