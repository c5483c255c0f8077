"""Login on the web app's side: the session check, Basic credentials, the CAS round trip."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import TYPE_CHECKING
from urllib.parse import quote

import attrs
from aiohttp import web

from . import _pages
from ._answers import LOGIN_CHECK, SECURITY_CHECK, error, html, not_found

if TYPE_CHECKING:
    from ._config import SimConfig
    from ._gate import Gate
    from ._sessions import CasTickets, Lockout, WebSessions

__all__ = ["SID", "WebLogin"]

# The session a Basic login made during this request (login_check hands out its token).
SID = web.RequestKey("cmdprogress_sid", str)

_MODIFY_PASSWORD = "/cas/modify_password.html"


@attrs.define(eq=False)
class WebLogin:
    """Decides whether a web request may go on, and answers it when it may not."""

    _cfg: SimConfig
    _sessions: WebSessions
    _tickets: CasTickets
    _lockout: Lockout
    _gate: Gate
    _basic_expected: bytes = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # The Basic credentials are fixed when the simulator is made.
        self._basic_expected = base64.b64encode(
            f"{self._cfg.username}:{self._cfg.password}".encode()
        )

    def authorize(self, request: web.Request) -> tuple[web.Response | None, str | None]:
        """``(None, new_sid or None)`` when the request may go on, else ``(answer, None)``."""
        if self._sessions.valid(request):
            return None, None
        if self._cfg.auth == "basic":
            return self._authorize_basic(request)
        return self._redirect_to_cas(request), None

    def _authorize_basic(self, request: web.Request) -> tuple[web.Response | None, str | None]:
        challenge = {"WWW-Authenticate": 'Basic realm="Manager"'}
        header = request.headers.get("Authorization")
        if header is None or header[:6].lower() != "basic ":
            return error(401, "Log in first.", challenge), None
        stats = self._cfg.stats
        stats.password_sends += 1
        fault = self._gate.password_fault(request)
        if fault is not None:
            # Refused before the password is looked at: not counted.
            return error(fault.status_code, "Simulated fault.", dict(fault.headers)), None
        stats.login_attempts += 1
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
            return html(403, _pages.password_change_page(_MODIFY_PASSWORD)), None
        stats.logins_ok += 1
        sid = self._sessions.new()
        request[SID] = sid
        return None, sid

    def _cas_login_url(self) -> str:
        service = f"{self._cfg.url}{SECURITY_CHECK}"
        return f"{self._cfg.cas_url}/cas/login?service={quote(service, safe='')}"

    def _redirect_to_cas(self, request: web.Request) -> web.Response:
        resp = web.Response(status=302, headers={"Location": self._cas_login_url()})
        new_sid = self._sessions.remember_path(request.cookies.get("JSESSIONID"), request.path_qs)
        if new_sid is not None:
            self._sessions.set_cookie(resp, new_sid)
        return resp

    async def security_check(self, req: web.Request) -> web.StreamResponse:
        """``/web/cas_security_check.htm``: trade a CAS service ticket for a web session."""
        if self._cfg.auth != "cas":
            return not_found(req.path)
        if not self._tickets.use_service_ticket(req.query.get("ticket", "")):
            return web.Response(status=302, headers={"Location": self._cas_login_url()})
        pre = self._sessions.pop(req.cookies.get("JSESSIONID"))
        target = pre.saved_path if pre is not None and pre.saved_path else LOGIN_CHECK
        resp = web.Response(status=302, headers={"Location": f"{self._cfg.url}{target}"})
        self._sessions.set_cookie(resp, self._sessions.new())
        return resp
