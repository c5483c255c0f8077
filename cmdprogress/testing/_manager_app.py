"""The Manager web app: command progress, login_check, and the start/stop/save actions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import anyio
import attrs
from aiohttp import web

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
from ._login import SID

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._commands import CommandStore
    from ._config import SimConfig
    from ._faults import Fault
    from ._gate import Gate
    from ._login import WebLogin
    from ._sessions import WebSessions
    from ._timeline import Kind

__all__ = ["ManagerApp"]


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


_LOGIN_CHECK_BODY = _login_check_body("")


@attrs.define(eq=False)
class ManagerApp:
    """The routes of the web listener and their handlers."""

    _cfg: SimConfig
    _commands: CommandStore
    _sessions: WebSessions
    _login: WebLogin
    _gate: Gate

    def build(self) -> web.Application:
        """A fresh aiohttp application with every route of the web listener."""
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
            if auth and self._cfg.auth != "none":
                denied, cookie = self._login.authorize(req)
                await self._gate.late(req)
                if denied is not None:
                    return denied
            resp = await serve(req)
            if cookie is not None:
                self._sessions.set_cookie(resp, cookie)
            return resp

        return await self._gate.run(request, logged_in, channel="web")

    async def _handle_progress(self, request: web.Request) -> web.StreamResponse:
        # The hot path: the same steps as _guarded, inline, with progress faults.
        gate = self._gate
        gate.activity.begin()
        raw = request.match_info["cid"]
        cid = int(raw) if raw.isdigit() and raw.isascii() else None
        status = 0
        fault: Fault | None = None
        try:
            if gate.outage:
                abort(request)
                return web.Response()
            if self._cfg.capacity is not None and (busy := await gate.busy()) is not None:
                status = busy.status
                return busy
            faults = self._cfg.faults
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
                        resp = await gate.apply(request, fault, body)
                        status = 0 if resp is None else resp.status
                        return resp if resp is not None else web.Response()
            cookie: str | None = None
            if self._cfg.auth != "none":
                denied, cookie = self._login.authorize(request)
                await gate.late(request)
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
            gate.activity.end(request, status, cid, fault)

    async def _handle_login_check(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            if not self._cfg.require_token:
                return web.Response(body=_LOGIN_CHECK_BODY, content_type="application/json")
            sid = req.get(SID) or req.cookies.get("JSESSIONID", "")
            body = _login_check_body(self._sessions.token(sid))
            return web.Response(body=body, content_type="application/json")

        return await self._guarded(request, serve)

    async def _handle_security_check(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, self._login.security_check, auth=False)

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        async def serve(req: web.Request) -> web.StreamResponse:
            return not_found(req.path)

        async def modify(_req: web.Request) -> web.StreamResponse:
            return html(200, _pages.modify_password_page())

        if request.path == "/cas/modify_password.html":  # linked from the Basic-mode 403 page
            return await self._guarded(request, modify, auth=False)
        return await self._guarded(request, serve)

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
            known = {name.lower(): name for name in self._cfg.services}
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
        if not raw.isdigit() or int(raw) != self._cfg.cluster_id:
            return error(404, f"Cluster {raw} does not exist.")
        return None

    def _create_from_action(self, kind: Kind, service: str) -> web.Response:
        rej = self._commands.take_rejection()
        if rej is not None:
            return _action_answer(-1, "FAILED", rej.error_code, rej.error_description)
        cid = self._commands.add(self._cfg.action_timeline(kind, service), None)
        return _action_answer(cid, "IN_PROGRESS", 0, "")


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
