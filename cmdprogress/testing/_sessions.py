"""Sessions and lockout: web sessions, CAS tickets, and the wrong-password lock."""

from __future__ import annotations

import itertools
import secrets
from typing import TYPE_CHECKING, Literal

import attrs

from ._answers import LOGIN_CHECK, TOKEN_COOKIE, TOKEN_HEADER

if TYPE_CHECKING:
    from aiohttp import web

    from ._config import SimConfig

__all__ = ["CasTickets", "Lockout", "WebSession", "WebSessions"]

# Unauthenticated sessions and login tickets are made for anyone who asks:
# past this many, the oldest is dropped so a client loop cannot grow them forever.
_MAX_PENDING = 10_000

Verdict = Literal["ok", "bad", "locked", "change"]


@attrs.define
class WebSession:
    """A ``JSESSIONID`` of the web app: logged in or waiting for a CAS ticket."""

    authenticated: bool
    last_seen: float
    saved_path: str | None = None
    token: str = ""


@attrs.define(eq=False)
class WebSessions:
    """The web app's sessions, expired after ``session_idle_timeout`` of simulated idle time."""

    _cfg: SimConfig
    _sessions: dict[str, WebSession] = attrs.field(factory=dict)

    def set_cookie(self, resp: web.StreamResponse, sid: str) -> None:
        """Hand ``sid`` to the client as the ``JSESSIONID`` cookie."""
        resp.set_cookie("JSESSIONID", sid, path="/web", httponly=True, secure=self._cfg.tls)

    def valid(self, request: web.Request) -> bool:
        """True when the request carries a live logged-in session (and its token if required).

        A valid request refreshes the session's idle time; an expired one is dropped.
        """
        sid = request.cookies.get("JSESSIONID")
        if sid is None:
            return False
        session = self._sessions.get(sid)
        if session is None or not session.authenticated:
            return False
        cfg = self._cfg
        now = cfg.clock.now()
        if now - session.last_seen > cfg.session_idle_timeout:
            del self._sessions[sid]
            return False
        if cfg.require_token and request.path != LOGIN_CHECK:
            # The token login_check handed out must come back as header and cookie.
            token = session.token.encode()
            header = request.headers.get(TOKEN_HEADER, "").encode()
            cookie = request.cookies.get(TOKEN_COOKIE, "").encode()
            if not (
                secrets.compare_digest(header, token) and secrets.compare_digest(cookie, token)
            ):
                return False
        session.last_seen = now
        return True

    def new(self) -> str:
        """A new logged-in session (with a token when ``require_token``); returns its id."""
        cfg = self._cfg
        sid = secrets.token_hex(16).upper()
        token = secrets.token_urlsafe(24) if cfg.require_token else ""
        self._sessions[sid] = WebSession(True, cfg.clock.now(), token=token)
        cfg.stats.sessions_created += 1
        return sid

    def remember_path(self, sid: str | None, path: str) -> str | None:
        """Save ``path`` in the pending session ``sid`` for after the CAS login.

        Makes a new pending session when ``sid`` names none (or a logged-in
        one) and returns its id, to be set as cookie; else returns ``None``.
        """
        session = self._sessions.get(sid) if sid is not None else None
        new_sid = None
        if session is None or session.authenticated:
            if len(self._sessions) > _MAX_PENDING:
                self._sessions.pop(next(iter(self._sessions)))
            new_sid = secrets.token_hex(16).upper()
            session = WebSession(authenticated=False, last_seen=self._cfg.clock.now())
            self._sessions[new_sid] = session
        session.saved_path = path
        return new_sid

    def pop(self, sid: str | None) -> WebSession | None:
        """Remove and return the session ``sid``, if any."""
        return self._sessions.pop(sid, None) if sid is not None else None

    def token(self, sid: str) -> str:
        """The token of session ``sid`` (empty when there is none)."""
        session = self._sessions.get(sid)
        return session.token if session is not None else ""

    def count(self) -> int:
        """Live logged-in sessions."""
        now = self._cfg.clock.now()
        timeout = self._cfg.session_idle_timeout
        return sum(
            1 for s in self._sessions.values() if s.authenticated and now - s.last_seen <= timeout
        )

    def clear(self) -> None:
        """End every session."""
        self._sessions.clear()


@attrs.define(eq=False)
class CasTickets:
    """The CAS server's tickets: login tickets (``LT-``), grants (``TGT-``), service tickets."""

    _cfg: SimConfig
    _tgts: dict[str, float] = attrs.field(factory=dict)
    _tickets: set[str] = attrs.field(factory=set)
    _login_tickets: dict[str, str] = attrs.field(factory=dict)
    _counter: itertools.count[int] = attrs.field(factory=lambda: itertools.count(220487))

    def tgt_ok(self, request: web.Request) -> bool:
        """True when the request's ``CASTGC`` grant is live (refreshing its idle time)."""
        tgt = request.cookies.get("CASTGC")
        if tgt is None or tgt not in self._tgts:
            return False
        now = self._cfg.clock.now()
        if now - self._tgts[tgt] > self._cfg.session_idle_timeout:
            del self._tgts[tgt]
            return False
        self._tgts[tgt] = now
        return True

    def new_tgt(self) -> str:
        """A new grant, after a right password."""
        tgt = f"TGT-{next(self._counter)}-{secrets.token_urlsafe(32)}-cas"
        self._tgts[tgt] = self._cfg.clock.now()
        return tgt

    def new_service_ticket(self) -> str:
        """A one-use service ticket for the web app's security check."""
        ticket = f"ST-{next(self._counter)}-{secrets.token_urlsafe(20)}-cas"
        self._tickets.add(ticket)
        return ticket

    def use_service_ticket(self, ticket: str) -> bool:
        """Consume ``ticket``; False when it is unknown or used."""
        if ticket not in self._tickets:
            return False
        self._tickets.discard(ticket)
        return True

    def new_login_ticket(self, cas_sid: str) -> str:
        """The ``lt`` hidden field of a login form shown to the CAS session ``cas_sid``."""
        if len(self._login_tickets) > _MAX_PENDING:
            self._login_tickets.pop(next(iter(self._login_tickets)))
        lt = f"LT-{next(self._counter)}-{secrets.token_urlsafe(24)}-cas"
        self._login_tickets[cas_sid] = lt
        return lt

    def take_login_ticket(self, cas_sid: str) -> str | None:
        """The login ticket shown to ``cas_sid``, usable once."""
        return self._login_tickets.pop(cas_sid, None)

    def clear(self) -> None:
        """End every grant and service ticket (shown login forms stay valid)."""
        self._tgts.clear()
        self._tickets.clear()


@attrs.define(eq=False)
class Lockout:
    """Counts wrong passwords; ``lockout_threshold`` in a row lock the account for a while."""

    _cfg: SimConfig
    _failures: int = 0
    _locked_until: float | None = None

    @property
    def locked(self) -> bool:
        """True while the account is locked."""
        return self._locked_until is not None and self._cfg.clock.now() < self._locked_until

    def check(self, ok: bool) -> Verdict:
        """The verdict on a password that was right (``ok``) or wrong, counting a wrong one."""
        cfg = self._cfg
        now = cfg.clock.now()
        if self._locked_until is not None:
            if now < self._locked_until:
                return "locked"
            self._locked_until = None
        if not ok:
            self._failures += 1
            cfg.stats.logins_failed += 1
            if self._failures >= cfg.lockout_threshold:
                self._failures = 0
                self._locked_until = now + cfg.lockout_seconds
                return "locked"
            return "bad"
        self._failures = 0
        return "change" if cfg.password_change_required else "ok"

    def minutes_left(self) -> int:
        """Whole minutes (at least 1) until the lock ends, as the locked page says."""
        left = (self._locked_until or 0.0) - self._cfg.clock.now()
        return max(1, int(-(-left // 60)))
