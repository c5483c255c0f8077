"""The request path's front: count the request, drop it in an outage, apply injected faults."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import anyio
import attrs
from aiohttp import web

from . import _pages
from ._answers import abort, error, html, not_found
from ._faults import Fault
from ._timeline import Snapshot

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._config import SimConfig
    from ._events import Activity
    from ._faults import Where

__all__ = ["LATE", "Gate"]

# A password-channel ``delay``/``hang`` fault: the password is checked on
# receipt, then the answer is held (see :meth:`Gate.late`).
LATE = web.RequestKey("cmdprogress_late", Fault)

_MALFORMED = b'{"id":1,"state":"IN_PROGRESS","total_progress":4'


@attrs.define(eq=False)
class Gate:
    """What every request passes before it is served, and how a fault answers it."""

    _cfg: SimConfig
    activity: Activity
    outage: bool = False
    """True while the listeners are down: requests already accepted are reset."""
    _hangs: anyio.Event | None = None
    _oversized: dict[int, bytes] = attrs.field(factory=dict)

    def open(self) -> None:
        """Called on start: hung requests wait for :meth:`close`."""
        self._hangs = anyio.Event()

    def close(self) -> None:
        """Called on close: hung requests end (their connections are dropped)."""
        if self._hangs is not None:
            self._hangs.set()

    async def run(
        self,
        request: web.Request,
        serve: Callable[[web.Request], Awaitable[web.StreamResponse]],
        *,
        channel: Where,
    ) -> web.StreamResponse:
        """Count the request, apply the outage and a fault of ``channel``, else ``serve`` it."""
        self.activity.begin()
        status = 0
        fault: Fault | None = None
        try:
            if self.outage:
                abort(request)
                return web.Response()
            if (
                channel == "web"
                and self._cfg.capacity is not None
                and (busy := await self.busy()) is not None
            ):
                status = busy.status
                return busy
            fault = self._cfg.faults.pick(None, progress=False, channel=channel)
            if fault is not None:
                if fault.kind == "delay":
                    await anyio.sleep(fault.seconds)
                else:
                    faulted = await self.apply(request, fault, None)
                    status = 0 if faulted is None else faulted.status
                    return faulted if faulted is not None else web.Response()
            resp = await serve(request)
            status = resp.status
            return resp
        finally:
            self.activity.end(request, status, None, fault)

    async def busy(self) -> web.Response | None:
        """The refusal of a web request above ``capacity``, or ``None`` once it may go on.

        A request may first wait its turn in the capacity's queue; the CAS
        listener is not limited.
        """
        capacity = self._cfg.capacity
        return None if capacity is None else await capacity.admit()

    def password_fault(self, request: web.Request) -> Fault | None:
        """A fault that refuses a password-carrying request before its check, else ``None``.

        A ``delay`` or ``hang`` fault is kept on the request instead: the
        password is checked (and counted) on receipt and :meth:`late` holds
        the answer afterwards.
        """
        fault = self._cfg.faults.pick(None, progress=False, channel="password")
        if fault is None:
            return None
        if fault.kind not in ("delay", "hang"):
            return fault
        request[LATE] = fault
        return None

    async def apply(
        self, request: web.Request, fault: Fault, body: bytes | None
    ) -> web.StreamResponse | None:
        """The response for ``fault``; ``None`` after a reset (nothing else to send)."""
        kind = fault.kind
        if kind == "hang":
            await self.hang(request)
            return None
        if kind == "status":
            return error(fault.status_code, "Simulated fault.", dict(fault.headers))
        if kind == "raw":
            resp = web.Response(status=fault.status_code, body=fault.body)
            for name, value in fault.headers:
                resp.headers[name] = value
            return resp
        if kind == "not_found":
            return not_found(request.path)
        if kind == "login_page":
            return html(200, _pages.login_page("/cas/login", "LT-0-expired-cas"))
        if kind == "malformed_json":
            return web.Response(body=_MALFORMED, content_type="application/json")
        if kind == "oversized":
            return web.Response(
                body=self._oversized_body(fault.size), content_type="application/json"
            )
        data = body if body is not None else error(500).body
        assert isinstance(data, bytes)
        stream = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if kind == "reset":
            stream.content_length = len(data)
            await stream.prepare(request)
            await stream.write(data[: len(data) // 2])
            abort(request)
            return None
        # truncated
        stream.content_length = len(data) + 64
        await stream.prepare(request)
        await stream.write(data)
        if request.transport is not None:
            request.transport.close()
        return None

    async def hang(self, request: web.Request) -> None:
        """Answer nothing until the simulator closes, then drop the connection."""
        if self._hangs is not None:
            await self._hangs.wait()
        abort(request)

    async def late(self, request: web.Request) -> None:
        """Hold the answer of a request whose password was checked (``where='password'``)."""
        fault = request.get(LATE)
        if fault is None:
            return
        self.activity.notify_if_waited()  # the password was counted: wait_until() may see it now
        if fault.kind == "hang":
            await self.hang(request)
        else:
            await anyio.sleep(fault.seconds)

    def _oversized_body(self, size: int) -> bytes:
        body = self._oversized.get(size)
        if body is None:
            doc = Snapshot(error_description="x" * size).to_wire(wire_id=-1)
            body = json.dumps(doc, separators=(",", ":")).encode()
            self._oversized[size] = body
        return body
