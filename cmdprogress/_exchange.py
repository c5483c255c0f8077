"""One HTTP exchange: send one request (no redirects), read its answer under the size cap.

The bottom layer of the transport.  :class:`Exchanger` owns the aiohttp
session and the limiter: pacing (the pacer's turn), a connection slot (the
wait happens here, before aiohttp's timeouts start), the body read under
``max_body_size``, and every transport error mapped to a typed error
(:mod:`cmdprogress._wire_errors`).  :class:`Answer` is what it returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import logging
import math
import re
import time
from contextvars import ContextVar
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, Protocol

import aiohttp
import attrs
from yarl import URL

from ._retry import RetryPolicy, _number
from ._wire_errors import _scheme_error, _speaks_tls, _too_large, map_error, safe_url
from .exceptions import ClientClosedError, ConnectError, TransportError

if TYPE_CHECKING:
    import ssl as ssl_module
    from collections.abc import Mapping, Sequence

    from ._pacing import Pacer
    from ._stats import ClientStats

__all__ = ["Answer", "Exchanger", "SessionKeeper", "Timeouts"]

logger = logging.getLogger("cmdprogress.http")

_DEBUG: Final = logging.DEBUG
_CHUNK: Final = 64 * 1024
# An HTML page that asks for a login: the CAS form (hidden `lt`), a link to the
# CAS login, or a password field.  Compiled once; used only on HTML answers.
_LOGIN_PAGE: Final = re.compile(
    rb"""name\s*=\s*["']?lt\b|/cas/login|type\s*=\s*["']?password""", re.IGNORECASE
)


@attrs.frozen
class Timeouts:
    """Per-request time limits in seconds (``None``: no limit).

    - ``connect``: opening a connection, TLS handshake included.
    - ``read``: the longest silence while waiting for or reading an answer
      (off by default: progress answers are small, so ``total`` bounds them,
      and aiohttp re-arms this timer on every received chunk, work added to
      every poll).
    - ``total``: one HTTP request from send to the last body byte.

    Waiting for a free connection slot (``max_concurrency``) is not counted.

    >>> Timeouts(read=5.0).connect
    10.0
    """

    connect: float | None = 10.0
    read: float | None = None
    total: float | None = 30.0

    def __attrs_post_init__(self) -> None:
        _number("timeout.connect", self.connect, allow_zero=False, allow_none=True)
        _number("timeout.read", self.read, allow_zero=False, allow_none=True)
        _number("timeout.total", self.total, allow_zero=False, allow_none=True)

    def _aiohttp(self) -> aiohttp.ClientTimeout:
        # `connect` of aiohttp includes the wait for a pooled connection; ours
        # is the socket connect only (the wait happens in our limiter).
        return aiohttp.ClientTimeout(
            total=self.total, sock_connect=self.connect, sock_read=self.read
        )


class Answer:
    """One HTTP answer, fully read: status, headers, body, the URL it came from."""

    __slots__ = ("body", "headers", "status", "ticket", "url")

    def __init__(
        self, status: int, headers: Mapping[str, str], body: bytes, url: URL, ticket: int = 0
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.ticket = ticket  # the pacer's number of the request (see Pacer.reserve)

    def is_html(self) -> bool:
        """True when the answer is (or looks like) an HTML page."""
        ctype = self.headers.get("Content-Type", "")
        if "html" in ctype.lower():
            return True
        body = self.body
        if body[:1] == b"{":  # a JSON object (every answer polled): no copies to look further
            return False
        return body[:64].lstrip()[:1] == b"<"

    def is_login_page(self) -> bool:
        """True for an HTML page that asks for a login (a session that expired)."""
        return self.is_html() and _LOGIN_PAGE.search(self.body, 0, 1 << 16) is not None


class SessionKeeper(Protocol):
    """What the transport needs from the login side (see ``_auth.py``)."""

    generation: int
    """How many logins succeeded so far; 0 before the first."""

    request_headers: Mapping[str, str] | None
    """Headers every request to the Manager carries after the login (its token), if any."""

    @property
    def required(self) -> bool:
        """True when requests need a login first."""

    async def login(self, seen_generation: int, waited_out: int = 0) -> None:
        """Log in unless another request already did since ``seen_generation``.

        ``waited_out``: the cool-down (numbered by :meth:`cool_down`) the caller
        slept through before this retry.
        """

    def origins(self) -> frozenset[tuple[str, str, int | None]]:
        """Origins a redirect may lead to while logging in (the CAS server)."""

    def cool_down(self) -> tuple[float, int]:
        """Seconds until a new login attempt may start after a failed one (0: now), and
        the number of that cool-down."""


# The login generation the current task's request was sent under (None: a login
# step, or no login at all).  Read by the cookie jar when the answer comes in.
_SENT_UNDER: ContextVar[int | None] = ContextVar("cmdprogress_sent_under", default=None)


class _SessionJar(aiohttp.CookieJar):
    """A cookie jar that ignores cookies set by answers from an older session.

    A request sent before a session expiry may be answered (a 302 to the login
    page with a fresh pre-login ``JSESSIONID``) while or after another request
    logs in again: storing that cookie would replace the new session and make
    the next requests log in once more.
    """

    def __init__(self) -> None:
        super().__init__(unsafe=True)
        self.keeper: SessionKeeper | None = None
        self.logins_running = 0

    def _stale(self) -> bool:
        sent = _SENT_UNDER.get()
        keeper = self.keeper
        if sent is None or keeper is None:
            return False
        return self.logins_running > 0 or keeper.generation != sent

    def update_cookies(self, cookies: Any, response_url: URL = URL()) -> None:  # noqa: B008
        if not self._stale():
            super().update_cookies(cookies, response_url)

    def update_cookies_from_headers(self, headers: Sequence[str], response_url: URL) -> None:
        if not self._stale():
            super().update_cookies_from_headers(headers, response_url)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host or "", url.port)


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class Exchanger:
    """One HTTP request at a time, no redirects: the bottom layer of the transport (internal).

    Owns the aiohttp session, the cookie jar, the concurrency limiter and the
    sleeps that :meth:`close` wakes.  :class:`~cmdprogress._http.Transport`
    builds redirects, logins and retries on :meth:`exchange`.
    """

    def __init__(
        self,
        base_url: URL,
        *,
        ssl: ssl_module.SSLContext | bool,
        max_concurrency: int,
        retry: RetryPolicy,
        timeout: Timeouts,
        max_body_size: int,
        trace_configs: list[aiohttp.TraceConfig] | None,
        stats: ClientStats,
        pacer: Pacer,
    ) -> None:
        self.base_url = base_url
        self.origin = _origin(base_url)
        self.retry = retry
        self.max_body_size = max_body_size
        self.stats = stats
        self.pacer = pacer
        # Whether any progress request of this client found its command: until then a
        # 404 page may mean that base_url is not a Manager's at all.
        self.found_a_command = False
        pacer.bind_loop(asyncio.get_running_loop())
        self._keeper: SessionKeeper | None = None
        # The concurrency limiter: free slots, and the requests waiting for one (FIFO).
        self._free_slots = max_concurrency
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        # Set by close(); requests still running then end with ClientClosedError, and
        # those sleeping (pacing, retry back-off) are woken for it at once.
        self.closed = False
        self._sleepers: set[asyncio.Future[None]] = set()
        self.cookie_jar = _SessionJar()
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_concurrency, ssl=ssl),
            cookie_jar=self.cookie_jar,
            timeout=timeout._aiohttp(),
            trace_configs=trace_configs,
            auto_decompress=True,
            # Our User-Agent replaces aiohttp's (skip_auto_headers would cost a
            # header copy per request for nothing).
            headers={"Accept": "application/json", "User-Agent": "cmdprogress"},
        )

    @property
    def keeper(self) -> SessionKeeper | None:
        """The login side (``None``: no login needed)."""
        return self._keeper

    @keeper.setter
    def keeper(self, keeper: SessionKeeper | None) -> None:
        self._keeper = self.cookie_jar.keeper = keeper

    async def close(self) -> None:
        """Close the session and every pooled connection.

        Requests still running (in flight, waiting for a slot, sleeping before
        a retry) end with :class:`ClientClosedError`.
        """
        self.closed = True
        self.pacer.wake_all()  # polls waiting for their turn
        waiting = [*self._slot_waiters, *self._sleepers]
        self._slot_waiters.clear()
        self._sleepers.clear()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)  # each one checks `closed` when it wakes
        await self.session.close()

    def _closed_error(self, method: str, url: URL) -> ClientClosedError:
        return ClientClosedError(
            f"the client was closed while {method} {safe_url(url)} was running; "
            "make requests inside the client's `async with` block"
        )

    async def _sleep(self, delay: float, method: str, url: URL) -> None:
        """Sleep ``delay`` seconds, or until the client closes (then ClientClosedError)."""
        if self.closed:
            raise self._closed_error(method, url)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(delay, _wake, waiter)
        self._sleepers.add(waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._sleepers.discard(waiter)
        if self.closed:
            raise self._closed_error(method, url)

    # -- one HTTP request -------------------------------------------------------

    async def exchange(
        self,
        method: str,
        url: URL,
        *,
        command_id: int | None = None,
        progress: bool = False,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json_body: Any = None,
    ) -> Answer:
        """Send one request (no redirects) and read its body under the size cap."""
        if self.closed:
            raise self._closed_error(method, url)
        # Polls queue at the pacer's limit; actions and logins go first (priority).
        pacer = self.pacer
        delay = pacer.reserve(not progress)
        ticket = pacer.ticket
        if delay > 0:
            await pacer.wait()
            if self.closed:
                raise self._closed_error(method, url)
        if self._free_slots > 0:
            self._free_slots -= 1
        else:
            await self._wait_for_slot(not progress)
            if self.closed:
                raise self._closed_error(method, url)
        stats = self.stats
        try:
            if progress:
                stats.in_flight += 1
                if stats.in_flight > stats.peak_in_flight:
                    stats.peak_in_flight = stats.in_flight
                stats.requests_by_command[command_id] += 1  # type: ignore[index]
            stats.requests += 1
            if logger.isEnabledFor(_DEBUG):
                logger.debug(
                    "%s %s%s",
                    method,
                    safe_url(url),
                    "" if command_id is None else f" (command {command_id})",
                )
            try:
                # `async with await`: the response's own context manager, without
                # aiohttp's request context manager around it (it takes the same steps).
                async with await self.session.request(
                    method,
                    url,
                    allow_redirects=False,
                    headers=headers,
                    data=data,
                    json=json_body,
                ) as resp:
                    # The common answer (a Content-Length under the cap, not
                    # compressed) is read here at once; _read handles the others.
                    length = resp.content_length
                    answer_headers = resp.headers
                    if (
                        length is not None
                        and length <= self.max_body_size
                        and "Content-Encoding" not in answer_headers
                    ):
                        body = await resp.read()
                    else:
                        body = await self._read(resp, url, command_id)
                    return Answer(resp.status, answer_headers, body, url, ticket)
            except TransportError:
                raise
            except Exception as e:
                if self.closed:  # the session was closed under this request
                    raise self._closed_error(method, url) from None
                mapped = map_error(e, method, url, command_id)
                if mapped is None:
                    raise
                if (
                    url.scheme == "http"
                    and isinstance(mapped, ConnectError)
                    and not isinstance(e, aiohttp.ClientConnectorError)
                    and await _speaks_tls(url)
                ):
                    # A plain request broke on a port that speaks TLS: say so.
                    raise _scheme_error(url, "https") from None
                raise mapped from None
            finally:
                if progress:
                    stats.in_flight -= 1
        finally:
            self._release_slot()

    async def _wait_for_slot(self, priority: bool = False) -> None:
        """Wait until a request in flight hands its slot over (first come, first served).

        ``priority`` (actions, logins) goes ahead of the polls waiting.
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if priority:
            self._slot_waiters.appendleft(waiter)
        else:
            self._slot_waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # handed a slot, then cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._slot_waiters.remove(waiter)
            raise

    def _release_slot(self) -> None:
        waiters = self._slot_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next request
                return
        self._free_slots += 1

    async def _read(self, resp: aiohttp.ClientResponse, url: URL, command_id: int | None) -> bytes:
        cap = self.max_body_size
        length = resp.content_length
        if length is not None and length > cap:
            raise _too_large(url, command_id, cap, f"Content-Length {length}")
        if length is not None and "Content-Encoding" not in resp.headers:
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        content = resp.content
        while True:
            chunk = await content.read(_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > cap:
                raise _too_large(url, command_id, cap, f"more than {cap} bytes")
            chunks.append(chunk)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
