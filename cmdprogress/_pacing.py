"""Client-wide pacing: the request-rate ceiling and the slow-down after 429/503.

Placeholder with the final interface; the polling-engine work fills it in.
Every request to the Manager (progress, actions, login) calls
:meth:`Pacer.acquire` before it is sent; the transport reports throttling
answers and successes so the whole client slows down and recovers together.
"""

from __future__ import annotations

__all__ = ["Pacer"]


class Pacer:
    """Shared by every request of one client."""

    def __init__(self, max_requests_per_second: float | None = None) -> None:
        self.max_requests_per_second = max_requests_per_second

    async def acquire(self) -> None:
        """Wait until the next request may be sent."""
        return

    def on_throttle(self, retry_after: float | None) -> None:
        """The Manager answered 429 or 503 (``retry_after`` in seconds if it said)."""
        return

    def on_success(self) -> None:
        """A request succeeded: recover gradually towards full speed."""
        return
