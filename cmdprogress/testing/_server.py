"""ManagerSimulator: the simulated Manager web app (and CAS server) on 127.0.0.1.

The class holds the settings and the public API; the work is done by parts
it composes, each in its own module (imports go downwards only):

- ``_listeners``: sockets, TLS, stop and resume for outages;
- ``_manager_app`` and ``_cas_app``: the routes of the two listeners;
- ``_login``: the web app's login (session check, Basic, CAS round trip);
- ``_gate``: what every request passes (counting, outage, faults);
- ``_sessions``: web sessions, CAS tickets, the lockout;
- ``_commands``: the commands and their timelines;
- ``_events``: the request log and the waits on it.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from typing import TYPE_CHECKING, Literal

import attrs

from .._loop import require_asyncio
from ._capacity import Capacity
from ._cas_app import CasApp
from ._clock import ManualClock, RealClock
from ._commands import CommandStore, default_action_timeline
from ._config import AuthMode
from ._events import Activity
from ._faults import FaultPlan
from ._gate import Gate
from ._listeners import Listeners
from ._login import WebLogin
from ._manager_app import ManagerApp
from ._sessions import CasTickets, Lockout, WebSessions
from ._stats import SimStats
from ._timeline import SERVICES, Kind, Snapshot, Timeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from types import TracebackType

    from ._workload import Workload

__all__ = ["AuthMode", "ManagerSimulator"]

_DEFAULT_SERVICES = frozenset(SERVICES)


def _check_auth(_inst: object, _attr: object, value: str) -> None:
    if value not in ("none", "cas", "basic"):
        raise ValueError(f"auth must be 'none', 'cas' or 'basic', got {value!r}")


def _to_capacity(value: Capacity | float | None) -> Capacity | None:
    """``capacity=60`` is short for ``capacity=Capacity(60)``."""
    if value is None or isinstance(value, Capacity):
        return value
    return Capacity(value)


def _check_clock(_inst: object, _attr: object, value: str) -> None:
    if value not in ("manual", "real"):
        raise ValueError(f"clock must be 'manual' or 'real', got {value!r}")


@attrs.define(eq=False)
class ManagerSimulator:
    """A simulated MRS / FusionInsight Manager on 127.0.0.1, for tests, demos and benchmarks.

    Open it with ``async with``; it binds free ports and exposes :attr:`url`
    (and :attr:`cas_url` in CAS mode).  See ``docs/testing.md`` for everything
    it serves.

    >>> import anyio
    >>> async def demo() -> str:
    ...     async with ManagerSimulator() as sim:
    ...         cid = sim.add_command(Timeline.build(steps=2, duration=10.0))
    ...         sim.finish(cid)
    ...         return sim.snapshot_json(cid)["state"]
    >>> anyio.run(demo)
    'COMPLETE'
    """

    auth: AuthMode = attrs.field(default="none", validator=_check_auth)
    username: str = "admin"
    password: str = attrs.field(default="Sim-Passw0rd!", repr=False)
    tls: bool = False
    clock_mode: Literal["manual", "real"] = attrs.field(
        default="manual", alias="clock", validator=_check_clock
    )
    speed: float = 1.0
    session_idle_timeout: float = 1200.0
    lockout_threshold: int = 5
    lockout_seconds: float = 300.0
    password_change_required: bool = False
    require_token: bool = False
    cas_min_interval: float = 0.0
    cluster_id: int = 1
    services: frozenset[str] = attrs.field(default=_DEFAULT_SERVICES, converter=frozenset)
    log_limit: int | None = None
    host: str = "127.0.0.1"
    port: int = 0
    cas_port: int = 0
    action_timeline: Callable[[Kind, str], Timeline] = attrs.field(
        default=default_action_timeline, repr=False
    )
    capacity: Capacity | None = attrs.field(default=None, converter=_to_capacity)

    clock: ManualClock | RealClock = attrs.field(init=False, repr=False)
    stats: SimStats = attrs.field(init=False, repr=False)
    faults: FaultPlan = attrs.field(init=False, factory=FaultPlan, repr=False)

    _activity: Activity = attrs.field(init=False, repr=False)
    _commands: CommandStore = attrs.field(init=False, repr=False)
    _sessions: WebSessions = attrs.field(init=False, repr=False)
    _tickets: CasTickets = attrs.field(init=False, repr=False)
    _lockout: Lockout = attrs.field(init=False, repr=False)
    _gate: Gate = attrs.field(init=False, repr=False)
    _login: WebLogin = attrs.field(init=False, repr=False)
    _listeners: Listeners = attrs.field(init=False, repr=False)
    _url: str | None = attrs.field(init=False, default=None, repr=False)
    _cas_url: str | None = attrs.field(init=False, default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.clock_mode == "manual":
            self.clock = ManualClock()
        else:
            self.clock = RealClock(speed=self.speed)
        self._activity = Activity(self)
        self.clock._subscribe(self._activity.notify)
        if not self.session_idle_timeout > 0:
            raise ValueError(f"session_idle_timeout must be > 0, got {self.session_idle_timeout!r}")
        if self.lockout_threshold < 1:
            raise ValueError(f"lockout_threshold must be >= 1, got {self.lockout_threshold!r}")
        if not self.lockout_seconds >= 0:
            raise ValueError(f"lockout_seconds must be >= 0, got {self.lockout_seconds!r}")
        if not 0 <= self.cas_min_interval < float("inf"):
            raise ValueError(f"cas_min_interval must be >= 0, got {self.cas_min_interval!r}")
        self.stats = SimStats(log_limit=self.log_limit)
        self._commands = CommandStore(self, self._activity.notify)
        self._sessions = WebSessions(self)
        self._tickets = CasTickets(self)
        self._lockout = Lockout(self)
        self._gate = Gate(self, self._activity)
        self._login = WebLogin(self, self._sessions, self._tickets, self._lockout, self._gate)
        self._listeners = Listeners(self.host)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The web app's base URL, such as ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError("the simulator is not running: use `async with ManagerSimulator()`")
        return self._url

    @property
    def cas_url(self) -> str | None:
        """The CAS server's base URL in CAS mode, else ``None``."""
        return self._cas_url

    @property
    def ca_file(self) -> str | None:
        """Path of the private CA's PEM file when ``tls=True``, else ``None``."""
        return self._listeners.ca_file

    def ssl_context(self) -> ssl.SSLContext:
        """A client ``ssl.SSLContext`` that trusts the simulator's private CA (``tls=True``)."""
        if self.ca_file is None:
            raise RuntimeError("ssl_context() needs a running ManagerSimulator(tls=True)")
        return ssl.create_default_context(cafile=self.ca_file)

    async def __aenter__(self) -> ManagerSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Bind the listeners and start serving (``async with`` does this for you)."""
        require_asyncio("ManagerSimulator")
        listeners = self._listeners
        if listeners.running:
            raise RuntimeError("the simulator is already running")
        self._gate.open()
        try:
            if self.tls:
                listeners.setup_tls()
            scheme = "https" if self.tls else "http"
            manager = ManagerApp(self, self._commands, self._sessions, self._login, self._gate)
            web_port = await listeners.listen(manager.build(), self.port)
            self._url = f"{scheme}://{self.host}:{web_port}"
            if self.auth == "cas":
                cas = CasApp(self, self._tickets, self._lockout, self._gate)
                cas_port = await listeners.listen(cas.build(), self.cas_port)
                self._cas_url = f"{scheme}://{self.host}:{cas_port}"
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop serving and remove the CA file; counters and commands stay readable."""
        self._gate.close()  # hung requests end first, so the runners can shut down
        await self._listeners.close()
        self._url = None
        self._cas_url = None
        self._gate.outage = False

    # ------------------------------------------------------------------ outage

    async def start_outage(self) -> None:
        """Refuse connections on every listener and reset requests in flight; state is kept."""
        if self._gate.outage:
            return
        self._gate.outage = True
        await self._listeners.stop_sites()
        self._activity.notify()

    async def end_outage(self) -> None:
        """Listen again on the same ports, with commands, sessions and counters as they were."""
        if not self._gate.outage:
            return
        await self._listeners.resume_sites()
        self._gate.outage = False
        self._activity.notify()

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """``async with sim.outage():`` the Manager is down inside the block, back after it."""
        await self.start_outage()
        try:
            yield
        finally:
            await self.end_outage()

    @property
    def in_outage(self) -> bool:
        """True between :meth:`start_outage` and :meth:`end_outage`."""
        return self._gate.outage

    # ------------------------------------------------------------------ commands

    def add_command(self, timeline: Timeline, *, command_id: int | None = None) -> int:
        """Create a command following ``timeline``, starting now; returns its id."""
        return self._commands.add(timeline, command_id)

    def add_workload(self, workload: Workload) -> list[int]:
        """Create every command of ``workload``; returns their ids in order."""
        return [self.add_command(t) for t in workload.timelines()]

    @property
    def command_ids(self) -> list[int]:
        """Every command id, in creation order."""
        return self._commands.ids

    def timeline(self, command_id: int) -> Timeline:
        """The timeline a command follows."""
        return self._commands.get(command_id).timeline

    def index(self, command_id: int) -> int:
        """The position of the command's current snapshot in its timeline."""
        return self._commands.index(command_id)

    def snapshot(self, command_id: int) -> Snapshot:
        """The command's current snapshot."""
        cmd = self._commands.get(command_id)
        return cmd.timeline.snapshots[cmd.index(self.clock.now())]

    def snapshot_json(self, command_id: int) -> dict[str, object]:
        """The JSON document the progress endpoint would answer right now (without faults)."""
        cmd = self._commands.get(command_id)
        doc: dict[str, object] = json.loads(cmd.body(cmd.index(self.clock.now())))
        return doc

    def advance(self, command_id: int, n: int = 1) -> None:
        """Move a command ``n`` snapshots further (never past the last)."""
        self._commands.advance(command_id, n)

    def advance_all(self, n: int = 1) -> None:
        """Move every command ``n`` snapshots further."""
        for cid in self._commands.ids:
            self.advance(cid, n)

    def finish(self, command_id: int) -> None:
        """Jump a command to its terminal snapshot."""
        self._commands.finish(command_id)

    def finish_all(self) -> None:
        """Jump every command to its terminal snapshot."""
        for cid in self._commands.ids:
            self.finish(cid)

    def reject_actions(
        self,
        *,
        times: int = 1,
        error_code: int = -324,
        error_description: str = "The operation failed: another command is running.",
    ) -> None:
        """Make the next ``times`` start/stop/save calls answer FAILED with id -1."""
        self._commands.reject(times, error_code, error_description)

    # ------------------------------------------------------------------ sessions

    def expire_sessions(self) -> None:
        """End every web session and CAS ticket now: the next request must log in again."""
        self._sessions.clear()
        self._tickets.clear()
        self._activity.notify()

    @property
    def locked(self) -> bool:
        """True while the account is locked after too many wrong passwords."""
        return self._lockout.locked

    @property
    def session_count(self) -> int:
        """Live authenticated web sessions."""
        return self._sessions.count()

    # ------------------------------------------------------------------ waits

    async def wait_until(self, predicate: Callable[[ManagerSimulator], bool]) -> None:
        """Return once ``predicate(sim)`` is true; checked now and after each request or change.

        No timeout of its own: wrap it in ``anyio.fail_after()``.
        """
        await self._activity.wait_until(lambda: predicate(self))

    async def wait_for_requests(self, command_id: int, n: int = 1) -> None:
        """Return once ``command_id`` was polled at least ``n`` times in all."""
        await self.wait_until(lambda s: s.stats.progress_requests[command_id] >= n)
