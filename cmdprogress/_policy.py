"""How often the polling engine asks the Manager about each command."""

from __future__ import annotations

import math

import attrs

from .exceptions import InvalidArgumentError

__all__ = ["PollPolicy"]


def _positive_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(
            name, f"expected a number of seconds, got {type(value).__name__}"
        )
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(name, f"must be a positive finite number, got {value!r}")


_MAX_INTERVAL = 15.0


def _default_max_interval(interval: object) -> float:
    """15 s, or ``interval`` when it is longer (a bad ``interval`` is reported on its own)."""
    if (
        isinstance(interval, int | float)
        and not isinstance(interval, bool)
        and math.isfinite(interval)
        and interval > _MAX_INTERVAL
    ):
        return interval
    return _MAX_INTERVAL


@attrs.frozen
class PollPolicy:
    """The cadence of polling, per command and for the whole client.

    - ``interval``: the first delay between two polls of a command, and the
      delay right after a change was seen.
    - ``max_interval``: the longest delay while nothing changes (by default
      15 seconds, or ``interval`` when that is longer).
    - ``backoff``: the factor the delay grows by after each unchanged poll.
    - ``jitter``: the fraction (0 to 1) of random spread on each delay, so
      commands started together do not poll in lockstep.
    - ``max_requests_per_second``: an optional ceiling for the whole client.
    - ``stall_timeout``: end a watch with ``CommandStalledError`` when a
      command has not changed for this many seconds (``None``: never).
    - ``outage_grace``: how long a command may keep failing with transient
      errors (connection refused, timeouts, 5xx, 429) *after* the transport's
      own retries before its watch ends with the last error. Until then the
      engine keeps the command and polls it again at ``max_interval``, so a
      Manager restart does not end hundreds of watches. ``0`` ends the watch
      at the first exhausted retry; ``None`` never gives up.
    - ``throttle_pause``: the pause of the whole client after a 429/503
      that carries no ``Retry-After``.
    - ``max_commands``: the most commands one client watches at once; adding
      more raises ``InvalidArgumentError`` instead of growing without bound.

    >>> PollPolicy(interval=0.5, max_interval=10.0).backoff
    1.5
    >>> PollPolicy(interval=20).max_interval
    20
    """

    interval: float = 1.0
    max_interval: float = attrs.field(
        default=attrs.Factory(lambda self: _default_max_interval(self.interval), takes_self=True)
    )
    backoff: float = 1.5
    jitter: float = 0.1
    max_requests_per_second: float | None = None
    stall_timeout: float | None = None
    outage_grace: float | None = 300.0
    throttle_pause: float = 1.0
    max_commands: int = 100_000

    def __attrs_post_init__(self) -> None:
        _positive_finite("interval", self.interval)
        _positive_finite("max_interval", self.max_interval)
        if self.max_interval < self.interval:
            raise InvalidArgumentError(
                "max_interval",
                f"must be >= interval ({self.max_interval!r} < {self.interval!r})",
            )
        _positive_finite("backoff", self.backoff)
        if self.backoff < 1:
            raise InvalidArgumentError("backoff", f"must be >= 1, got {self.backoff!r}")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, int | float):
            raise InvalidArgumentError("jitter", "expected a fraction between 0 and 1")
        if not 0 <= self.jitter <= 1:
            raise InvalidArgumentError("jitter", f"must be between 0 and 1, got {self.jitter!r}")
        if self.max_requests_per_second is not None:
            _positive_finite("max_requests_per_second", self.max_requests_per_second)
        if self.stall_timeout is not None:
            _positive_finite("stall_timeout", self.stall_timeout)
        if self.outage_grace is not None:
            if isinstance(self.outage_grace, bool) or not isinstance(
                self.outage_grace, int | float
            ):
                raise InvalidArgumentError("outage_grace", "expected a number of seconds or None")
            if not math.isfinite(self.outage_grace) or self.outage_grace < 0:
                raise InvalidArgumentError(
                    "outage_grace", f"must be >= 0 and finite, got {self.outage_grace!r}"
                )
        _positive_finite("throttle_pause", self.throttle_pause)
        if isinstance(self.max_commands, bool) or not isinstance(self.max_commands, int):
            raise InvalidArgumentError("max_commands", "expected a positive integer")
        if self.max_commands < 1:
            raise InvalidArgumentError(
                "max_commands", f"must be at least 1, got {self.max_commands!r}"
            )
