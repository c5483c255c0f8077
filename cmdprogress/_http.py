"""The transport: one aiohttp session, the concurrency limiter, retries, status mapping.

One :class:`Transport` per open :class:`~cmdprogress.Client`.  Three layers:

- :meth:`Transport.exchange` sends ONE HTTP request (no redirects): pacing,
  the limiter (waiting for a slot happens here, before aiohttp's timeouts
  start), the body read under the size cap, transport errors mapped to
  :mod:`cmdprogress.exceptions`.
- :meth:`Transport.follow` follows redirects by hand, hop by hop, only between
  origins we trust (the Manager, and the CAS server while logging in), so
  cookies and credentials never go to a foreign host.
- :meth:`Transport.request` is one logical request: login when needed, the
  shared re-login after a session expiry, retries of transient failures with
  capped exponential backoff and full jitter, and the status mapping.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import logging
import math
import re
import ssl as ssl_module
import time
from contextvars import ContextVar
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, Protocol

import aiohttp
import attrs
from aiohttp.http_exceptions import ContentEncodingError
from yarl import URL

from ._retry import THROTTLE_STATUS, TRANSIENT_STATUS, RetryPolicy, _number, may_retry
from .exceptions import (
    AuthenticationError,
    ClientClosedError,
    CmdProgressError,
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    RedirectError,
    RequestTimeoutError,
    ResponseTooLargeError,
    SessionError,
    TLSError,
    TransportError,
    UnknownCommandError,
    WrongSchemeError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._pacing import Pacer
    from ._stats import ClientStats

__all__ = ["Answer", "Timeouts", "Transport", "safe_url"]

logger = logging.getLogger("cmdprogress.http")

_DEBUG: Final = logging.DEBUG
# Re-logins one request may cause before its session counts as refused.
_MAX_EXPIRIES_PER_REQUEST = 3
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS: Final = 10
_CHUNK: Final = 64 * 1024
_HTML_PROBE: Final = 4096
# An HTML page that asks for a login: the CAS form (hidden `lt`), a link to the
# CAS login, or a password field.  Compiled once; used only on HTML answers.
_LOGIN_PAGE: Final = re.compile(
    rb"""name\s*=\s*["']?lt\b|/cas/login|type\s*=\s*["']?password""", re.IGNORECASE
)


def safe_url(url: URL | str) -> str:
    """Return ``url`` without user info, query string or fragment (for logs and errors).

    >>> safe_url("https://admin:pw@10.0.0.5:28443/web/x?ticket=ST-1#top")
    'https://10.0.0.5:28443/web/x'
    """
    u = URL(url) if isinstance(url, str) else url
    return str(u.with_user(None).with_query(None).with_fragment(None))


@attrs.frozen
class Timeouts:
    """Per-request time limits in seconds (``None``: no limit).

    - ``connect``: opening a connection, TLS handshake included.
    - ``read``: the longest silence while waiting for or reading an answer
      (off by default: progress answers are small, so ``total`` bounds them,
      and aiohttp re-arms this timer on every received chunk, which measured
      about 10 % more CPU per poll).
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

    async def login(self, seen_generation: int) -> None:
        """Log in unless another request already did since ``seen_generation``."""

    def origins(self) -> frozenset[tuple[str, str, int | None]]:
        """Origins a redirect may lead to while logging in (the CAS server)."""

    def cool_down_left(self) -> float:
        """Seconds until a new login attempt may start after a failed one (0: now)."""


_EXPIRED: Final = object()

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


class Transport:
    """The HTTP side of one open client (internal)."""

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
                stats.polls[command_id] += 1  # type: ignore[index]
            stats.requests += 1
            if logger.isEnabledFor(_DEBUG):
                logger.debug(
                    "%s %s%s",
                    method,
                    safe_url(url),
                    "" if command_id is None else f" (command {command_id})",
                )
            try:
                # `async with await`: the response's own context, without the
                # request context manager's two coroutines around it (same steps).
                async with await self.session.request(
                    method,
                    url,
                    allow_redirects=False,
                    headers=headers,
                    data=data,
                    json=json_body,
                ) as resp:
                    # The common answer (a Content-Length under the cap, not
                    # compressed) is read here directly: one coroutine less per request.
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
                mapped = _map_error(e, method, url, command_id)
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

    # -- redirects --------------------------------------------------------------

    async def follow(
        self,
        method: str,
        url: URL,
        *,
        command_id: int | None = None,
        progress: bool = False,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json_body: Any = None,
        login: bool = False,
    ) -> Answer | object:
        """Send a request and follow redirects among trusted origins.

        Outside a login, a redirect to a login page means the session expired:
        the sentinel ``_EXPIRED`` is returned.  ``headers`` (credentials) are
        only sent to the origin of ``url``.
        """
        answer = await self.exchange(
            method,
            url,
            command_id=command_id,
            progress=progress,
            headers=headers,
            data=data,
            json_body=json_body,
        )
        if answer.status not in _REDIRECT_STATUSES:
            return answer
        return await self._redirects(
            answer, method, url, command_id, progress, headers, data, json_body, login
        )

    async def _redirects(
        self,
        answer: Answer,
        method: str,
        url: URL,
        command_id: int | None,
        progress: bool,
        headers: Mapping[str, str] | None,
        data: Any,
        json_body: Any,
        login: bool,
    ) -> Answer | object:
        """Follow the redirect ``answer`` (and the next ones), hop by hop."""
        allowed = {self.origin}
        keeper = self.keeper
        if keeper is not None:
            allowed |= keeper.origins()
        first_origin = _origin(url)
        seen: set[tuple[str, str]] = set()
        for _ in range(_MAX_HOPS):
            location = answer.headers.get("Location")
            if not location:
                return answer
            target = _redirect_target(method, url, location)
            if not login and _is_login_location(target):
                return _EXPIRED
            origin = _origin(target)
            if origin not in allowed:
                raise RedirectError(
                    f"{method} {safe_url(url)} redirected to another host "
                    f"({safe_url(target.origin())}); refused so that no cookie or credential "
                    "leaves the Manager",
                    url=safe_url(url),
                )
            key = (method, str(target))
            if key in seen:
                raise RedirectError(
                    f"{method} {safe_url(url)}: redirect loop at {safe_url(target)}",
                    url=safe_url(url),
                )
            seen.add(key)
            if answer.status in (301, 302, 303) and method != "GET":
                method, data, json_body = "GET", None, None
            if origin != first_origin:
                headers = None
            url = target
            if logger.isEnabledFor(_DEBUG):
                logger.debug("redirected (%d) to %s", answer.status, safe_url(target))
            answer = await self.exchange(
                method,
                url,
                command_id=command_id,
                progress=progress,
                headers=headers,
                data=data,
                json_body=json_body,
            )
            if answer.status not in _REDIRECT_STATUSES:
                return answer
        raise RedirectError(
            f"{method} {safe_url(url)}: more than {_MAX_HOPS} redirects", url=safe_url(url)
        )

    # -- one logical request ----------------------------------------------------

    async def request(
        self,
        method: str,
        url: URL,
        *,
        command_id: int | None = None,
        progress: bool = False,
        idempotent: bool = True,
        json_body: Any = None,
        retry_throttled: bool = True,
    ) -> Answer:
        """One logical request: login, re-login, retries, status mapping; a 2xx answer.

        ``retry_throttled=False`` (the engine's polls) raises a 429/503 at once
        instead of waiting its ``Retry-After`` here: the engine polls that
        command again after it, and the worker polls others meanwhile.
        """
        try:
            keeper = self._keeper
            expiries = 0
            force_login = False
            generation = 0
            extra: Mapping[str, str] | None = None
            tries = 0
            attempts = self.retry.attempts
            while True:
                tries += 1
                retry_after: float | None = None
                try:
                    if keeper is not None:
                        if force_login or keeper.required:
                            await keeper.login(generation if force_login else keeper.generation)
                            force_login = False
                        generation = keeper.generation
                        extra = keeper.request_headers
                    token = _SENT_UNDER.set(generation if keeper is not None else None)
                    try:
                        first = await self.exchange(
                            method,
                            url,
                            command_id=command_id,
                            progress=progress,
                            headers=extra,
                            json_body=json_body,
                        )
                        answer: Answer | object = first
                        if first.status in _REDIRECT_STATUSES:
                            answer = await self._redirects(
                                first,
                                method,
                                url,
                                command_id,
                                progress,
                                extra,
                                None,
                                json_body,
                                False,
                            )
                    finally:
                        _SENT_UNDER.reset(token)
                except (ConnectError, RequestTimeoutError, HTTPStatusError) as e:
                    # HTTPStatusError comes only from a login step that met a 5xx/429.
                    if tries >= attempts or not may_retry(e, idempotent=idempotent):
                        raise
                    failure = str(e)
                    if isinstance(e, HTTPStatusError):
                        retry_after = e.retry_after  # the login server's Retry-After
                else:
                    expired = not isinstance(answer, Answer)
                    if isinstance(answer, Answer):
                        status = answer.status
                        if 200 <= status < 300:
                            if not answer.is_login_page():
                                self.pacer.on_answer(answer.ticket)
                                if progress:
                                    self.found_a_command = True
                                return answer
                            expired = True
                        elif status == 401:
                            expired = True
                        elif status in TRANSIENT_STATUS:
                            retry_after = _retry_after(answer.headers)
                            if status in THROTTLE_STATUS:
                                self.stats.throttled += 1
                                self.pacer.on_throttle(retry_after, answer.ticket)
                                retry_allowed = retry_throttled
                            else:
                                retry_allowed = idempotent
                            if tries >= attempts or not retry_allowed:
                                raise self._status_error(
                                    method, answer, command_id, progress, tries, retry_after
                                )
                            failure = f"the Manager answered {_status_text(status)}"
                        else:
                            raise self._status_error(
                                method, answer, command_id, progress, tries, retry_after
                            )
                    if expired:
                        # 302 to the login page, 401, or a login page answered with 200.
                        if keeper is None:
                            raise AuthenticationError(
                                f"{method} {safe_url(url)}: the Manager asks for a login; pass "
                                "auth=CASAuth(user, password) or auth=BasicAuth(user, password)",
                                url=safe_url(url),
                            )
                        # A session may expire again while a request is being
                        # repeated (a short idle timeout, an admin ending sessions);
                        # only a session refused again and again is an error.
                        expiries += 1
                        if expiries > _MAX_EXPIRIES_PER_REQUEST:
                            raise SessionError(
                                f"{method} {safe_url(url)}: the Manager still refuses the session "
                                f"after {_MAX_EXPIRIES_PER_REQUEST} fresh logins; check that the "
                                "account may use the web API",
                                url=safe_url(url),
                            )
                        force_login = True
                        tries -= 1  # a re-login does not use up a retry
                        if logger.isEnabledFor(_DEBUG):
                            logger.debug(
                                "%s %s%s: session expired",
                                method,
                                safe_url(url),
                                "" if command_id is None else f" (command {command_id})",
                            )
                        continue
                self.stats.retries += 1
                delay = self.retry.delay(tries, retry_after)
                if keeper is not None:
                    # After a failed login the next try must log in, and no attempt
                    # starts before the shared cool-down ends: wait for its end, or
                    # the try would fail at once with a copy of the same error.
                    delay = max(delay, keeper.cool_down_left())
                # Routine for a library (counted on stats.retries): DEBUG. What the
                # user must act on is raised when the retries are used up.
                logger.debug(
                    "%s %s%s: %s; retry %d of %d in %.2fs",
                    method,
                    safe_url(url),
                    "" if command_id is None else f" (command {command_id})",
                    failure,
                    tries,
                    attempts - 1,
                    delay,
                )
                await self._sleep(delay, method, url)
        except asyncio.CancelledError:
            self.stats.cancelled += 1  # the caller gave up: not an error of the request
            raise
        except BaseException:
            self.stats.errors += 1
            raise

    def _status_error(
        self,
        method: str,
        answer: Answer,
        command_id: int | None,
        progress: bool,
        tries: int,
        retry_after: float | None,
    ) -> HTTPStatusError:
        status = answer.status
        where = safe_url(answer.url)
        if progress and status == 404:
            hint = ""
            if not self.found_a_command and answer.is_html():
                hint = (
                    f"; no command was found at {safe_url(self.base_url)} so far: if every id "
                    "is unknown, this may not be a Manager's address (check the host, port "
                    "and path prefix of the URL)"
                )
            return UnknownCommandError(
                f"the Manager does not know command {command_id} (404 at {where}); "
                f"check the id (it comes from the start/stop/save answer){hint}",
                status=status,
                url=where,
                body=answer.body,
                command_id=command_id,
            )
        if status in TRANSIENT_STATUS:
            what = f"after {tries} attempt{'s' if tries > 1 else ''}; " + (
                "the Manager is overloaded or down, try again later"
                if tries > 1 or status in THROTTLE_STATUS
                else "not retried (the request may have been processed)"
            )
        elif status == 403:
            what = "the account lacks the rights for this call"
        else:
            what = "not retried"
        return HTTPStatusError(
            f"{method} {where} answered {_status_text(status)} ({what})",
            status=status,
            url=where,
            body=answer.body,
            retry_after=retry_after,
            command_id=command_id,
        )


def _redirect_target(method: str, url: URL, location: str) -> URL:
    """The absolute http(s) URL a ``Location`` header leads to, or :class:`RedirectError`.

    A location that does not parse (a bad port, a broken IPv6 literal), another
    scheme (``file:``, ``mailto:``, ``data:``) or no host is refused: the text
    itself is not repeated (it may hold a ticket), only why it was refused.
    """
    try:
        target = url.join(URL(location))
        scheme = target.scheme
        host = target.host
        target.port  # noqa: B018 - yarl checks the port's range only when it is read
    except (ValueError, TypeError) as e:
        reason = _reason(e)
    else:
        if scheme in ("http", "https") and host:
            return target
        reason = f"a {scheme}: URL" if scheme not in ("http", "https") else "no host"
    raise RedirectError(
        f"{method} {safe_url(url)} redirected to a location that is not a usable http(s) URL "
        f"({reason}); refused, the Manager's answer is broken or hostile",
        url=safe_url(url),
    )


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _map_error(
    e: Exception, method: str, url: URL, command_id: int | None
) -> CmdProgressError | None:
    """The :mod:`cmdprogress.exceptions` error for an aiohttp or OS error (``None``: not one)."""
    if isinstance(e, aiohttp.ClientSSLError):
        return _tls_error(e, url)
    if isinstance(e, aiohttp.ClientConnectorError):
        err = ConnectError(
            f"cannot connect to {e.host}:{e.port} ({_reason(e)}); check the address "
            "and that the Manager is reachable",
            url=safe_url(url),
        )
        err.request_sent = False
        return err
    if isinstance(e, TimeoutError | aiohttp.ServerTimeoutError):
        return RequestTimeoutError(
            f"{method} {safe_url(url)} got no answer in time ({_reason(e)}); "
            "raise Timeouts(read=..., total=...) if the Manager is just slow",
            url=safe_url(url),
        )
    if isinstance(e, ssl_module.SSLError):
        return _tls_error(e, url)
    if isinstance(e, aiohttp.ClientResponseError):
        # Only the HTTP parser raises it here (no raise_for_status, no automatic
        # redirects): an answer that is not HTTP cmdprogress can read.
        return _protocol_error(e, method, url, command_id)
    if isinstance(e, aiohttp.ClientPayloadError) and isinstance(e.__cause__, ContentEncodingError):
        # A body in an encoding that cannot be decoded (br without Brotli, bad gzip);
        # other payload errors are a body cut short: worth a retry.
        return _protocol_error(e, method, url, command_id)
    if isinstance(e, aiohttp.ClientError | OSError):
        return ConnectError(
            f"{method} {safe_url(url)}: the connection broke ({_reason(e)}); if it "
            "keeps happening, check that the port is the Manager's web port "
            "(28443 by default) and the scheme (http/https) is right",
            url=safe_url(url),
        )
    return None


_PARSER_DETAIL: Final = re.compile(r":\s*b['\"]|:\s*\n")


def _protocol_error(
    e: aiohttp.ClientError, method: str, url: URL, command_id: int | None
) -> ProtocolError:
    """A :class:`ProtocolError` saying what the parser refused, without the bytes it quoted.

    aiohttp's message may quote the offending line (a header, possibly a cookie):
    only the text before the quote is kept.
    """
    cause = e.__cause__
    text = getattr(cause, "message", None) or getattr(e, "message", None) or str(e)
    text = _PARSER_DETAIL.split(str(text), 1)[0]
    what = " ".join(text.split())[:160] or type(e).__name__
    where = safe_url(url)
    return ProtocolError(
        f"{method} {where}: the answer is not HTTP cmdprogress can read ({what}); not "
        "retried: check that the port is the Manager's web port (28443 by default) and the "
        "scheme (http/https) is right",
        url=where,
        command_id=command_id,
        errors=[f"{what} @ http"],
    )


def _is_login_location(url: URL) -> bool:
    path = url.path
    return path.endswith(("/login", "/login.htm", "/login.html")) or "/cas/" in path


# A URL's query string or fragment inside an aiohttp message (a CAS ticket, ``?ticket=ST-...``).
_QUERY_IN_TEXT: Final = re.compile(r"""(\w+://[^\s'"?#]*)[?#][^\s'"]*""")


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__  # one line, even for garbage
    text = _QUERY_IN_TEXT.sub(r"\1", text)  # aiohttp quotes whole URLs; no ticket leaves
    return text if len(text) <= 200 else text[:197] + "..."


# What an OpenSSL client says when the other end answers something that is not TLS.
_NOT_TLS: Final = re.compile(
    r"wrong.version.number|record.layer.failure|packet.length.too.long|unknown.protocol"
    r"|http.request",
    re.IGNORECASE,
)


def _scheme_error(url: URL, right: str) -> WrongSchemeError:
    """The port speaks the other protocol: say so, and which URL to use."""
    where = f"{url.host}:{url.port}"
    if right == "http":
        said = "plain HTTP, not HTTPS"
        note = " (the scheme is wrong: a CA file or turning verification off would not help)"
    else:
        said, note = "HTTPS (TLS), not plain HTTP", ""
    return WrongSchemeError(
        f"{where} answers {said}: use {right}://{where} in the URL{note}",
        url=safe_url(url),
        scheme=right,
    )


async def _speaks_tls(url: URL) -> bool:
    """Whether ``url``'s port completes a TLS handshake (it broke a plain HTTP request).

    Only asked after a failure; nothing is sent over the handshake, so it is not
    verified.
    """
    context = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl_module.CERT_NONE
    try:
        async with asyncio.timeout(5.0):
            _, writer = await asyncio.open_connection(url.host, url.port, ssl=context)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _tls_error(e: BaseException, url: URL) -> TLSError:
    where = f"{url.host}:{url.port}"
    if url.scheme == "https" and _NOT_TLS.search(_reason(e)):
        return _scheme_error(url, "http")
    return TLSError(
        f"TLS with {where} failed ({_reason(e)}). If the Manager uses a private CA, pass it: "
        "ssl=ssl.create_default_context(cafile='manager-ca.pem') (or ssl='manager-ca.pem'); "
        "ssl=False turns verification off (not recommended)",
        url=safe_url(url),
    )


def _too_large(url: URL, command_id: int | None, cap: int, seen: str) -> ResponseTooLargeError:
    where = safe_url(url)
    return ResponseTooLargeError(
        f"the answer of {where} is too large ({seen}, max_body_size={cap}); refused unread. "
        "Raise max_body_size if the Manager really sends such bodies",
        url=where,
        command_id=command_id,
        errors=[f"body larger than {cap} bytes @ $"],
    )
