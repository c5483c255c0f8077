"""ManagerSimulator: the simulated Manager web app (and CAS server) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import secrets
import ssl
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import anyio
import attrs
from aiohttp import web

from .._loop import require_asyncio
from . import _pages
from ._answers import (
    LOGIN_CHECK,
    PROGRESS_PATH,
    SECURITY_CHECK,
    abort,
    error,
    html,
    json_answer,
    not_found,
)
from ._capacity import Capacity
from ._clock import ManualClock, RealClock
from ._commands import CommandStore, default_action_timeline
from ._config import AuthMode
from ._events import Activity
from ._faults import Fault, FaultPlan
from ._gate import Gate
from ._listeners import Listeners
from ._sessions import CasTickets, Lockout, WebSessions
from ._stats import SimStats
from ._timeline import SERVICES, Kind, Snapshot, Timeline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from types import TracebackType

    from ._workload import Workload

__all__ = ["AuthMode", "ManagerSimulator"]

_DEFAULT_SERVICES = frozenset(SERVICES)
_SID = web.RequestKey("cmdprogress_sid", str)


def _login_check_body(token: str) -> bytes:
    doc = {
        "id": -1,
        "state": "COMPLETE",
        "error_code": 0,
        "error_description": "",
        "total_progress": 100.0,
        "token": token,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


LOGIN_CHECK_BODY = _login_check_body("")


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
    _listeners: Listeners = attrs.field(init=False, repr=False)
    _cas_next_check: float = attrs.field(init=False, default=0.0, repr=False)
    _url: str | None = attrs.field(init=False, default=None, repr=False)
    _cas_url: str | None = attrs.field(init=False, default=None, repr=False)
    _basic_expected: bytes = attrs.field(init=False, default=b"", repr=False)

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
        self._listeners = Listeners(self.host)
        self._basic_expected = base64.b64encode(f"{self.username}:{self.password}".encode())

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
            web_port = await listeners.listen(self._web_app(), self.port)
            self._url = f"{scheme}://{self.host}:{web_port}"
            if self.auth == "cas":
                cas_port = await listeners.listen(self._cas_app(), self.cas_port)
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

    # ------------------------------------------------------------------ request plumbing

    # ------------------------------------------------------------------ web app

    def _web_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(PROGRESS_PATH, self._handle_progress)
        app.router.add_get(LOGIN_CHECK, self._handle_login_check)
        app.router.add_get(SECURITY_CHECK, self._handle_security_check)
        app.router.add_post(
            "/web/v1/maintain/cluster/{cluster}/service/{service}/{action:start|stop}",
            self._handle_start_stop,
        )
        app.router.add_post("/web/v1/config/cluster/{cluster}/save", self._handle_save)
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        return app

    async def _handle_progress(self, request: web.Request) -> web.StreamResponse:
        # The hot path: the same steps as _guarded, inline, with progress faults.
        gate = self._gate
        self._activity.begin()
        raw = request.match_info["cid"]
        cid = int(raw) if raw.isdigit() and raw.isascii() else None
        status = 0
        fault: Fault | None = None
        try:
            if gate.outage:
                abort(request)
                return web.Response()
            if self.capacity is not None and (busy := await self.capacity.admit()) is not None:
                status = busy.status
                return busy
            faults = self.faults
            if faults._injected or faults._rates:
                fault = faults.pick(cid, progress=True)
                if fault is not None:
                    if fault.kind == "delay":
                        await anyio.sleep(fault.seconds)
                        if self._gate.outage:  # the outage may have begun during the delay
                            abort(request)
                            return web.Response()
                    else:
                        body = self._commands.body_now(cid)
                        resp = await self._gate.apply(request, fault, body)
                        status = 0 if resp is None else resp.status
                        return resp if resp is not None else web.Response()
            cookie: str | None = None
            if self.auth != "none":
                denied, cookie = self._authorize(request)
                await self._gate.late(request)
                if denied is not None:
                    status = denied.status
                    return denied
            body = self._commands.body_now(cid)
            if body is None:
                status = 404
                return not_found(request.path)
            status = 200
            resp = web.Response(body=body, content_type="application/json")
            if cookie is not None:
                self._sessions.set_cookie(resp, cookie)
            return resp
        finally:
            self._activity.end(request, status, cid, fault)

    async def _handle_login_check(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            if not self.require_token:
                return web.Response(body=LOGIN_CHECK_BODY, content_type="application/json")
            sid = req.get(_SID) or req.cookies.get("JSESSIONID", "")
            body = _login_check_body(self._sessions.token(sid))
            return web.Response(body=body, content_type="application/json")

        return await self._guarded(request, serve)

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            return not_found(req.path)

        async def modify(_req: web.Request) -> web.StreamResponse:
            return html(200, _pages.modify_password_page())

        if request.path == "/cas/modify_password.html":  # linked from the Basic-mode 403 page
            return await self._guarded(request, modify, auth=False)
        return await self._guarded(request, serve)

    async def _guarded(
        self,
        request: web.Request,
        serve: Callable[[web.Request], Awaitable[web.StreamResponse]],
        *,
        auth: bool = True,
    ) -> web.StreamResponse:
        """Count, apply outage, web faults and login, then ``serve``."""

        async def logged_in(req: web.Request) -> web.StreamResponse:
            cookie = None
            if auth and self.auth != "none":
                denied, cookie = self._authorize(req)
                await self._gate.late(req)
                if denied is not None:
                    return denied
            resp = await serve(req)
            if cookie is not None:
                self._sessions.set_cookie(resp, cookie)
            return resp

        return await self._gate.run(request, logged_in, channel="web")

    # ---- actions

    async def _handle_start_stop(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            bad = self._check_cluster(req)
            if bad is not None:
                return bad
            try:
                await req.json()
            except ValueError:
                return error(400, "The request body is not valid JSON.")
            service = req.match_info["service"]
            kind: Kind = "start" if req.match_info["action"] == "start" else "stop"
            known = {name.lower(): name for name in self.services}
            if service.lower() not in known:  # names are matched case-insensitively
                names = ", ".join(sorted(known.values()))
                text = f"Service {service} does not exist. Services: {names}."
                return _action_answer(-1, "FAILED", -300, text)
            return self._create_from_action(kind, known[service.lower()])

        return await self._guarded(request, serve)

    async def _handle_save(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            bad = self._check_cluster(req)
            if bad is not None:
                return bad
            try:
                payload = await req.json()
            except ValueError:
                return error(400, "The request body is not valid JSON.")
            if not isinstance(payload, dict) or not isinstance(
                payload.get("configurations_summary"), dict
            ):
                return error(400, "The parameter configurations_summary is mandatory.")
            return self._create_from_action("save", "configurations")

        return await self._guarded(request, serve)

    def _check_cluster(self, request: web.Request) -> web.Response | None:
        raw = request.match_info["cluster"]
        if not raw.isdigit() or int(raw) != self.cluster_id:
            return error(404, f"Cluster {raw} does not exist.")
        return None

    def _create_from_action(self, kind: Kind, service: str) -> web.Response:
        rej = self._commands.take_rejection()
        if rej is not None:
            return _action_answer(-1, "FAILED", rej.error_code, rej.error_description)
        cid = self._commands.add(self.action_timeline(kind, service), None)
        return _action_answer(cid, "IN_PROGRESS", 0, "")

    # ---- login on the web side

    def _authorize(self, request: web.Request) -> tuple[web.Response | None, str | None]:
        """``(None, cookie)`` when the request may go on, else ``(answer, None)``."""
        if self._sessions.valid(request):
            return None, None
        if self.auth == "basic":
            return self._authorize_basic(request)
        return self._redirect_to_cas(request), None

    def _authorize_basic(self, request: web.Request) -> tuple[web.Response | None, str | None]:
        challenge = {"WWW-Authenticate": 'Basic realm="Manager"'}
        header = request.headers.get("Authorization")
        if header is None or header[:6].lower() != "basic ":
            return error(401, "Log in first.", challenge), None
        self.stats.password_sends += 1
        fault = self._gate.password_fault(request)
        if fault is not None:
            # Refused before the password is looked at: not counted.
            return error(fault.status_code, "Simulated fault.", dict(fault.headers)), None
        self.stats.login_attempts += 1
        token = header[6:].strip().encode()
        try:
            ok = secrets.compare_digest(
                base64.b64decode(token, validate=True), base64.b64decode(self._basic_expected)
            )
        except (binascii.Error, ValueError):
            ok = False
        verdict = self._lockout.check(ok)
        if verdict == "locked":
            return html(403, _pages.locked_page(self._lockout.minutes_left())), None
        if verdict == "bad":
            return error(401, _pages.AUTH_FAILED_TEXT, challenge), None
        if verdict == "change":
            return html(403, _pages.password_change_page("/cas/modify_password.html")), None
        self.stats.logins_ok += 1
        sid = self._sessions.new()
        request[_SID] = sid
        return None, sid

    def _service_url(self) -> str:
        return f"{self.url}{SECURITY_CHECK}"

    def _cas_login_url(self) -> str:
        return f"{self._cas_url}/cas/login?service={quote(self._service_url(), safe='')}"

    def _redirect_to_cas(self, request: web.Request) -> web.Response:
        resp = web.Response(status=302, headers={"Location": self._cas_login_url()})
        new_sid = self._sessions.remember_path(request.cookies.get("JSESSIONID"), request.path_qs)
        if new_sid is not None:
            self._sessions.set_cookie(resp, new_sid)
        return resp

    async def _handle_security_check(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            if self.auth != "cas":
                return not_found(req.path)
            if not self._tickets.use_service_ticket(req.query.get("ticket", "")):
                return web.Response(status=302, headers={"Location": self._cas_login_url()})
            pre = self._sessions.pop(req.cookies.get("JSESSIONID"))
            target = pre.saved_path if pre is not None and pre.saved_path else LOGIN_CHECK
            resp = web.Response(status=302, headers={"Location": f"{self.url}{target}"})
            self._sessions.set_cookie(resp, self._sessions.new())
            return resp

        return await self._guarded(request, serve, auth=False)

    # ------------------------------------------------------------------ CAS app

    def _cas_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cas/login", self._handle_cas_login_page)
        app.router.add_post("/cas/login", self._handle_cas_login_post)
        app.router.add_get("/cas/modify_password.html", self._handle_cas_modify)
        app.router.add_route("*", "/{tail:.*}", self._handle_cas_other)
        return app

    async def _cas_guarded(
        self, request: web.Request, serve: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        return await self._gate.run(request, serve, channel="cas")

    def _login_form(self, request: web.Request, message: str = "") -> web.Response:
        cas_sid = secrets.token_hex(16).upper()
        lt = self._tickets.new_login_ticket(cas_sid)
        action = request.path_qs
        resp = html(200, _pages.login_page(action, lt, message))
        resp.set_cookie("casSessionId", cas_sid, path="/cas", httponly=True, secure=self.tls)
        return resp

    async def _handle_cas_login_page(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            self.stats.login_page_requests += 1
            service = req.query.get("service")
            if self._tickets.tgt_ok(req):
                if service:
                    ticket = self._tickets.new_service_ticket()
                    sep = "&" if "?" in service else "?"
                    return web.Response(
                        status=302, headers={"Location": f"{service}{sep}ticket={ticket}"}
                    )
                return html(200, _pages.success_page())
            return self._login_form(req)

        return await self._cas_guarded(request, serve)

    async def _handle_cas_login_post(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            form = await req.post()
            self.stats.password_sends += 1
            refused = self._cas_refusal()
            if refused is not None:
                return refused
            fault = self._gate.password_fault(req)
            if fault is not None:
                # Refused before the password is looked at: not counted.
                return await self._gate.apply(req, fault, None) or web.Response()
            resp = self._check_cas_form(req, form)
            await self._gate.late(req)
            return resp

        return await self._cas_guarded(request, serve)

    def _cas_refusal(self) -> web.Response | None:
        """429 with ``Retry-After`` for a password post sooner than ``cas_min_interval``."""
        if self.cas_min_interval <= 0:
            return None
        now = asyncio.get_running_loop().time()
        if now < self._cas_next_check:
            left = self._cas_next_check - now
            return error(429, "Too many logins.", {"Retry-After": str(math.ceil(left))})
        self._cas_next_check = now + self.cas_min_interval
        return None

    def _check_cas_form(self, req: web.Request, form: Any) -> web.Response:
        """Check the posted form (and count a wrong password) like CAS does."""
        self.stats.login_attempts += 1
        expected = self._tickets.take_login_ticket(req.cookies.get("casSessionId", ""))
        if expected is None or form.get("lt") != expected:
            return self._login_form(req, _pages.AUTH_FAILED_TEXT)
        ok = secrets.compare_digest(
            str(form.get("username", "")).encode(), self.username.encode()
        ) & secrets.compare_digest(str(form.get("password", "")).encode(), self.password.encode())
        verdict = self._lockout.check(ok)
        if verdict == "locked":
            return html(200, _pages.locked_page(self._lockout.minutes_left()))
        if verdict == "bad":
            return self._login_form(req, _pages.AUTH_FAILED_TEXT)
        if verdict == "change":
            return html(200, _pages.password_change_page("/cas/modify_password.html"))
        self.stats.logins_ok += 1
        tgt = self._tickets.new_tgt()
        resp = html(200, _pages.success_page())
        resp.set_cookie("CASTGC", tgt, path="/cas", httponly=True, secure=self.tls)
        return resp

    async def _handle_cas_modify(self, request: web.Request) -> web.StreamResponse:
        async def serve(_req: web.Request) -> web.StreamResponse:
            return html(200, _pages.modify_password_page())

        return await self._cas_guarded(request, serve)

    async def _handle_cas_other(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            return not_found(req.path)

        return await self._cas_guarded(request, serve)


def _action_answer(cid: int, state: str, code: int, text: str) -> web.Response:
    return json_answer(
        {
            "id": cid,
            "state": state,
            "error_code": code,
            "error_description": text,
            "total_progress": 0.0,
        }
    )
