"""Faults: ways the simulated Manager misbehaves, per request or as rates."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Fault", "FaultPlan", "Where"]

Where = Literal["progress", "web", "cas", "password"]

FaultKind = Literal[
    "status",
    "reset",
    "delay",
    "malformed_json",
    "truncated",
    "oversized",
    "login_page",
    "not_found",
    "raw",
    "hang",
]


def _headers(value: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((value or {}).items())


@attrs.frozen
class Fault:
    """One way to answer a request wrongly.  Build them with the class methods.

    >>> Fault.status(503, retry_after=1.5).headers
    (('Retry-After', '2'),)
    >>> Fault.reset().kind
    'reset'
    """

    kind: FaultKind
    status_code: int = 200
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_headers)
    seconds: float = 0.0
    size: int = 0

    @property
    def name(self) -> str:
        """A short label for the request log, such as ``status:503`` or ``reset``."""
        return f"{self.kind}:{self.status_code}" if self.kind in ("status", "raw") else self.kind

    @classmethod
    def status(cls, status: int, *, retry_after: float | None = None) -> Fault:
        """Answer ``status`` with an HTML error page (and ``Retry-After`` in seconds, if given).

        >>> Fault.status(500).status_code
        500
        """
        if not 400 <= status <= 599:
            raise ValueError(f"Fault.status() needs a 4xx/5xx status, got {status!r}")
        headers: dict[str, str] = {}
        if retry_after is not None:
            if not retry_after >= 0:
                raise ValueError(f"retry_after must be >= 0, got {retry_after!r}")
            headers["Retry-After"] = str(math.ceil(retry_after))
        return cls("status", status_code=status, headers=headers)

    @classmethod
    def reset(cls) -> Fault:
        """Send the headers and half the body, then reset the TCP connection."""
        return cls("reset")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally after ``seconds`` of real time.

        >>> Fault.delay(0.5).seconds
        0.5
        """
        if not seconds >= 0:
            raise ValueError(f"Fault.delay() needs seconds >= 0, got {seconds!r}")
        return cls("delay", seconds=seconds)

    @classmethod
    def hang(cls) -> Fault:
        """Never answer: the request waits until the client gives up or the simulator closes.

        >>> Fault.hang().name
        'hang'
        """
        return cls("hang")

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 ``application/json`` with a body that is not JSON."""
        return cls("malformed_json")

    @classmethod
    def truncated(cls) -> Fault:
        """Announce a longer ``Content-Length`` than the body sent, then close."""
        return cls("truncated")

    @classmethod
    def oversized(cls, size: int = 2 << 20) -> Fault:
        """Answer a valid progress document of at least ``size`` bytes.

        >>> Fault.oversized(1000).size
        1000
        """
        if size < 1:
            raise ValueError(f"Fault.oversized() needs size >= 1, got {size!r}")
        return cls("oversized", size=size)

    @classmethod
    def login_page(cls) -> Fault:
        """Answer 200 with the HTML CAS login page (an expired session, after redirects)."""
        return cls("login_page")

    @classmethod
    def not_found(cls) -> Fault:
        """Answer 404 with an HTML page."""
        return cls("not_found", status_code=404)

    @classmethod
    def raw(cls, status: int, body: bytes | str, headers: Mapping[str, str] | None = None) -> Fault:
        """Answer exactly ``status``, ``body`` and ``headers`` (for wire fuzzing).

        >>> Fault.raw(200, '{"state": 1}').body
        b'{"state": 1}'
        """
        if not 100 <= status <= 599:
            raise ValueError(f"Fault.raw() needs an HTTP status, got {status!r}")
        data = body.encode() if isinstance(body, str) else bytes(body)
        return cls("raw", status_code=status, body=data, headers=headers)


@attrs.define
class _Injected:
    fault: Fault
    remaining: int
    command_id: int | None
    where: Where


@attrs.define
class _Rate:
    fault: Fault
    rate: float
    rng: random.Random
    command_id: int | None
    where: Where


@attrs.define
class FaultPlan:
    """The faults waiting to be applied (``sim.faults``).

    Injected faults are used first (oldest first, each for its next ``times``
    matching requests), then rates are drawn in the order they were set.

    >>> plan = FaultPlan()
    >>> plan.inject(Fault.status(500), times=1)
    >>> plan.pick(7, progress=True).status_code, plan.pick(7, progress=True)
    (500, None)
    """

    _injected: list[_Injected] = attrs.field(factory=list)
    _rates: list[_Rate] = attrs.field(factory=list)

    def inject(
        self,
        fault: Fault,
        *,
        times: int = 1,
        command_id: int | None = None,
        where: Where = "progress",
    ) -> None:
        """Apply ``fault`` to the next ``times`` matching requests.

        ``where="progress"``: progress requests (of ``command_id`` if given);
        ``where="web"``: any request to the web listener; ``where="cas"``: any
        request to the CAS listener; ``where="password"``: requests that carry
        the password (the CAS form post, a Basic ``Authorization`` header), where
        a ``delay`` or ``hang`` fault checks (and counts) the password on
        receipt and then answers late or never, and a ``status`` fault refuses
        the request without checking the password.
        """
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        _check_where(where, command_id)
        self._injected.append(_Injected(fault, times, command_id, where))

    def set_rate(
        self,
        fault: Fault,
        *,
        rate: float,
        seed: int | None = None,
        command_id: int | None = None,
        where: Where = "progress",
    ) -> None:
        """Apply ``fault`` to a share ``rate`` (0 to 1) of matching requests, seeded."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        _check_where(where, command_id)
        self._rates.append(_Rate(fault, rate, random.Random(seed), command_id, where))

    def clear(self) -> None:
        """Drop every injected fault and every rate."""
        self._injected.clear()
        self._rates.clear()

    @property
    def pending(self) -> int:
        """How many injected fault applications are still waiting."""
        return sum(i.remaining for i in self._injected)

    def pick(
        self, command_id: int | None, *, progress: bool, channel: Where = "web"
    ) -> Fault | None:
        """The fault for a request (consuming an injected one), or ``None``.

        ``channel`` says where the request arrived: ``"web"`` (the web
        listener), ``"cas"`` (the CAS listener) or ``"password"`` (a request
        carrying the password, asked in addition to its listener's channel).
        """
        if not self._injected and not self._rates:
            return None
        for i, inj in enumerate(self._injected):
            if _matches(inj.where, inj.command_id, command_id, progress, channel):
                inj.remaining -= 1
                if inj.remaining <= 0:
                    del self._injected[i]
                return inj.fault
        for r in self._rates:
            if (
                _matches(r.where, r.command_id, command_id, progress, channel)
                and r.rng.random() < r.rate
            ):
                return r.fault
        return None


def _check_where(where: str, command_id: int | None) -> None:
    if where not in ("progress", "web", "cas", "password"):
        raise ValueError(f"where must be 'progress', 'web', 'cas' or 'password', got {where!r}")
    if where != "progress" and command_id is not None:
        raise ValueError("command_id only applies with where='progress'")


def _matches(
    where: Where, wanted: int | None, command_id: int | None, progress: bool, channel: Where
) -> bool:
    if where != "progress":
        return where == channel
    return channel == "web" and progress and (wanted is None or wanted == command_id)
