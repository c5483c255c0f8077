"""What the engine is given by the client: the type of its poll, and the clock it runs on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from ._models import CommandProgress

if TYPE_CHECKING:
    import contextvars

__all__ = ["Clock", "PollFn", "Timer"]

PollFn: TypeAlias = Callable[
    [int, CommandProgress | None, bytes], Awaitable[tuple[CommandProgress, bytes]]
]
"""One poll: ``(command_id, previous snapshot, its body's digest)`` -> ``(snapshot, digest)``.

The client's ``_poll_progress``: it returns ``previous`` itself when the body is unchanged."""


class Timer(Protocol):
    """A callback set for a time; what :meth:`Clock.call_at` returns."""

    def cancel(self) -> None:
        """Do not run the callback (if it has not run yet)."""
        ...


class Clock(Protocol):
    """The time source and timer of the scheduler: the running loop, or a test's manual clock.

    The subset of :class:`asyncio.AbstractEventLoop` the scheduler uses for time.
    """

    def time(self) -> float:
        """The current time, in seconds (any origin, never going back)."""
        ...

    def call_at(
        self,
        when: float,
        callback: Callable[[], object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> Timer:
        """Call ``callback()`` in ``context`` once :meth:`time` reaches ``when``; cancellable."""
        ...
