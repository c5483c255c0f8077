"""What the simulator's parts read from its settings, as a protocol.

The parts (commands, sessions, the apps, the request gate) read the
settings live from the one ``ManagerSimulator`` that owns them, so a test
that changes ``sim.password`` mid-run is seen by the next login.  They see
it through this protocol and never import the simulator itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._capacity import Capacity
    from ._clock import ManualClock, RealClock
    from ._faults import FaultPlan
    from ._stats import SimStats
    from ._timeline import Kind, Timeline

__all__ = ["AuthMode", "SimConfig"]

AuthMode = Literal["none", "cas", "basic"]


class SimConfig(Protocol):
    """The settings and shared objects of one simulator (``ManagerSimulator`` fits it)."""

    auth: AuthMode
    username: str
    password: str
    tls: bool
    session_idle_timeout: float
    lockout_threshold: int
    lockout_seconds: float
    password_change_required: bool
    require_token: bool
    cas_min_interval: float
    cluster_id: int
    services: frozenset[str]
    action_timeline: Callable[[Kind, str], Timeline]
    clock: ManualClock | RealClock
    stats: SimStats
    faults: FaultPlan
    capacity: Capacity | None

    @property
    def url(self) -> str:
        """The web app's base URL (raises when the simulator is not running)."""
        ...

    @property
    def cas_url(self) -> str | None:
        """The CAS server's base URL in CAS mode, else ``None``."""
        ...
