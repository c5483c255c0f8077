"""The simulator's shared HTTP pieces: Manager paths, HTML and JSON answers, dropped connections."""

from __future__ import annotations

import contextlib
import json
import socket
import struct

from aiohttp import web

from . import _pages

__all__ = [
    "LOGIN_CHECK",
    "PROGRESS_PATH",
    "SECURITY_CHECK",
    "TOKEN_COOKIE",
    "TOKEN_HEADER",
    "abort",
    "error",
    "html",
    "json_answer",
    "not_found",
]

PROGRESS_PATH = "/web/v1/common/command/{cid}/progress"
LOGIN_CHECK = "/web/v1/access/login_check"
SECURITY_CHECK = "/web/cas_security_check.htm"
TOKEN_HEADER = "X-HW-FI-Auth-Token"
TOKEN_COOKIE = "FI_Auth_Token"

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def html(status: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    """An HTML answer, as the Manager's Tomcat sends its pages."""
    return web.Response(
        status=status, body=body, content_type="text/html", charset="UTF-8", headers=headers
    )


def error(status: int, detail: str = "", headers: dict[str, str] | None = None) -> web.Response:
    """The Manager's HTML error page for ``status``."""
    reason = _REASONS.get(status, "Error")
    return html(status, _pages.error_page(status, reason, detail), headers)


def not_found(path: str) -> web.Response:
    """The 404 page naming ``path``."""
    return error(404, f"The requested resource ({path}) is not available.")


def json_answer(doc: dict[str, object]) -> web.Response:
    """``doc`` as compact ``application/json``."""
    return web.Response(
        body=json.dumps(doc, separators=(",", ":")).encode(), content_type="application/json"
    )


def abort(request: web.Request) -> None:
    """Drop the request's connection with a TCP reset (linger 0), answering nothing."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
