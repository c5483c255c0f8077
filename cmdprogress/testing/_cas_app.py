"""The CAS app: the login page, the password form post, grants and service tickets."""

from __future__ import annotations

import asyncio
import math
import secrets
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from . import _pages
from ._answers import error, html, not_found

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._config import SimConfig
    from ._gate import Gate
    from ._sessions import CasTickets, Lockout

__all__ = ["CasApp"]


@attrs.define(eq=False)
class CasApp:
    """The routes of the CAS listener (CAS mode only) and their handlers."""

    _cfg: SimConfig
    _tickets: CasTickets
    _lockout: Lockout
    _gate: Gate
    _next_check: float = 0.0
    """Event-loop time before which a password post gets 429 (``cas_min_interval``)."""

    def build(self) -> web.Application:
        """A fresh aiohttp application with every route of the CAS listener."""
        app = web.Application()
        app.router.add_get("/cas/login", self._handle_login_page)
        app.router.add_post("/cas/login", self._handle_login_post)
        app.router.add_get("/cas/modify_password.html", self._handle_modify)
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        return app

    async def _guarded(
        self, request: web.Request, serve: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        return await self._gate.run(request, serve, channel="cas")

    def _login_form(self, request: web.Request, message: str = "") -> web.Response:
        cas_sid = secrets.token_hex(16).upper()
        lt = self._tickets.new_login_ticket(cas_sid)
        resp = html(200, _pages.login_page(request.path_qs, lt, message))
        resp.set_cookie("casSessionId", cas_sid, path="/cas", httponly=True, secure=self._cfg.tls)
        return resp

    async def _handle_login_page(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            self._cfg.stats.login_page_requests += 1
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

        return await self._guarded(request, serve)

    async def _handle_login_post(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            form = await req.post()
            self._cfg.stats.password_sends += 1
            refused = self._refusal()
            if refused is not None:
                return refused
            fault = self._gate.password_fault(req)
            if fault is not None:
                # Refused before the password is looked at: not counted.
                return await self._gate.apply(req, fault, None) or web.Response()
            resp = self._check_form(req, form)
            await self._gate.late(req)
            return resp

        return await self._guarded(request, serve)

    def _refusal(self) -> web.Response | None:
        """429 with ``Retry-After`` for a password post sooner than ``cas_min_interval``."""
        interval = self._cfg.cas_min_interval
        if interval <= 0:
            return None
        now = asyncio.get_running_loop().time()
        if now < self._next_check:
            left = self._next_check - now
            return error(429, "Too many logins.", {"Retry-After": str(math.ceil(left))})
        self._next_check = now + interval
        return None

    def _check_form(self, req: web.Request, form: Any) -> web.Response:
        """Check the posted form (and count a wrong password) like CAS does."""
        cfg = self._cfg
        cfg.stats.login_attempts += 1
        expected = self._tickets.take_login_ticket(req.cookies.get("casSessionId", ""))
        if expected is None or form.get("lt") != expected:
            return self._login_form(req, _pages.AUTH_FAILED_TEXT)
        ok = secrets.compare_digest(
            str(form.get("username", "")).encode(), cfg.username.encode()
        ) & secrets.compare_digest(str(form.get("password", "")).encode(), cfg.password.encode())
        verdict = self._lockout.check(ok)
        if verdict == "locked":
            return html(200, _pages.locked_page(self._lockout.minutes_left()))
        if verdict == "bad":
            return self._login_form(req, _pages.AUTH_FAILED_TEXT)
        if verdict == "change":
            return html(200, _pages.password_change_page("/cas/modify_password.html"))
        cfg.stats.logins_ok += 1
        resp = html(200, _pages.success_page())
        resp.set_cookie(
            "CASTGC", self._tickets.new_tgt(), path="/cas", httponly=True, secure=cfg.tls
        )
        return resp

    async def _handle_modify(self, request: web.Request) -> web.StreamResponse:
        async def serve(_req: web.Request) -> web.StreamResponse:
            return html(200, _pages.modify_password_page())

        return await self._guarded(request, serve)

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            return not_found(req.path)

        return await self._guarded(request, serve)
