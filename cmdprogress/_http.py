"""The transport of one open client, in three layers, each taking one request.

- :meth:`Exchanger.exchange <cmdprogress._exchange.Exchanger.exchange>`
  (``_exchange.py``) sends ONE HTTP request, no redirects: pacing, the
  limiter, the body read under the size cap, transport errors mapped to
  :mod:`cmdprogress.exceptions`.
- :func:`~cmdprogress._redirects.follow_redirects` (``_redirects.py``)
  follows redirects by hand, hop by hop, only between origins we trust (the
  Manager, and the CAS server while logging in).
- :meth:`Transport.request` (here) is one logical request: login when
  needed, the shared re-login after a session expiry, retries of transient
  failures (the rules of ``_retry.py``), and the status mapping.

The plain path of a poll (logged in, a 2xx JSON answer) is ``request`` ->
``exchange``, building no object besides the :class:`Answer`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final

from ._exchange import (
    _SENT_UNDER,
    Answer,
    Exchanger,
    SessionKeeper,
    Timeouts,
    _origin,
    _retry_after,
    _status_text,
)
from ._redirects import REDIRECT_STATUS, Request, follow_redirects
from ._retry import THROTTLE_STATUS, TRANSIENT_STATUS, RetryPolicy, may_retry
from ._wire_errors import _reason, safe_url
from .exceptions import (
    AuthenticationError,
    ConnectError,
    HTTPStatusError,
    RequestTimeoutError,
    SessionError,
    UnknownCommandError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from yarl import URL

__all__ = [
    "Answer",
    "Request",
    "RetryPolicy",
    "SessionKeeper",
    "Timeouts",
    "Transport",
    "_SENT_UNDER",
    "_origin",
    "_reason",
    "_retry_after",
    "safe_url",
]

logger = logging.getLogger("cmdprogress.http")

_DEBUG: Final = logging.DEBUG
# Re-logins one request may cause before its session counts as refused.
_MAX_EXPIRIES_PER_REQUEST: Final = 3


def _about(command_id: int | None) -> str:
    return "" if command_id is None else f" (command {command_id})"


class Transport(Exchanger):
    """The HTTP side of one open client (internal): logins, redirects, retries."""

    # -- login steps: redirects followed, login pages included -------------------

    def _allowed(self) -> frozenset[tuple[str, str, int | None]]:
        """The origins a redirect may lead to: the Manager's, and the CAS server's."""
        keeper = self._keeper
        mine = frozenset((self.origin,))
        return mine if keeper is None else mine | keeper.origins()

    async def follow(self, request: Request) -> Answer:
        """Send a login step and follow its redirects (login pages included)."""
        answer = await request.send(self)
        if answer.status not in REDIRECT_STATUS:
            return answer
        return await follow_redirects(self, request, answer, self._allowed(), login=True)

    async def redirected(self, request: Request, answer: Answer) -> Answer:
        """Follow the redirect ``answer`` to a login step (sent by the caller)."""
        return await follow_redirects(self, request, answer, self._allowed(), login=True)

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
            expiries = 0  # session expiries met by this request
            waited_out = 0  # the login cool-down slept through before this try
            force_login = False
            generation = 0
            extra: Mapping[str, str] | None = None
            tries = 0
            while True:
                tries += 1
                try:
                    if keeper is not None:
                        if force_login or keeper.required:
                            await keeper.login(
                                generation if force_login else keeper.generation, waited_out
                            )
                            force_login = False
                        generation = keeper.generation
                        extra = keeper.request_headers
                    # The cookie jar reads it: an answer from an older session sets no cookie.
                    # Without a login there is no session, and the jar needs nothing.
                    token = None if keeper is None else _SENT_UNDER.set(generation)
                    try:
                        first = await self.exchange(
                            method,
                            url,
                            command_id=command_id,
                            progress=progress,
                            headers=extra,
                            json_body=json_body,
                        )
                        answer: Answer | None = first
                        if first.status in REDIRECT_STATUS:
                            sent = Request(
                                method, url, command_id, progress, extra, None, json_body
                            )
                            answer = await follow_redirects(
                                self, sent, first, self._allowed(), login=False
                            )
                    finally:
                        if token is not None:
                            _SENT_UNDER.reset(token)
                except (ConnectError, RequestTimeoutError, HTTPStatusError) as e:
                    # HTTPStatusError comes only from a login step that met a 5xx/429.
                    if tries >= self.retry.attempts or not may_retry(e, idempotent=idempotent):
                        raise
                    failure = str(e)
                    retry_after = e.retry_after if isinstance(e, HTTPStatusError) else None
                else:
                    expired = answer is None  # redirected to the login page
                    if answer is not None:
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
                        else:  # raises unless it may be retried
                            retry_after = self._failed_status(
                                answer,
                                method,
                                command_id,
                                progress,
                                tries,
                                idempotent,
                                retry_throttled,
                            )
                            failure = f"the Manager answered {_status_text(status)}"
                    if expired:
                        expiries += 1
                        self._session_expired(method, url, command_id, expiries)
                        force_login = True
                        tries -= 1  # a re-login does not use up a retry
                        continue
                waited_out = await self._before_retry(
                    tries, retry_after, failure, method, url, command_id
                )
        except asyncio.CancelledError:
            self.stats.cancelled += 1  # the caller gave up: not an error of the request
            raise
        except BaseException:
            self.stats.errors += 1
            raise

    def _session_expired(
        self, method: str, url: URL, command_id: int | None, expiries: int
    ) -> None:
        """The session expired for the ``expiries``-th time in one request: raise, or log it."""
        if self._keeper is None:
            raise AuthenticationError(
                f"{method} {safe_url(url)}: the Manager asks for a login; pass "
                "auth=CASAuth(user, password) or auth=BasicAuth(user, password)",
                url=safe_url(url),
            )
        # A session may expire again while a request is being repeated (a short
        # idle timeout, an admin ending sessions); only a session refused again
        # and again is an error.
        if expiries > _MAX_EXPIRIES_PER_REQUEST:
            raise SessionError(
                f"{method} {safe_url(url)}: the Manager still refuses the session "
                f"after {_MAX_EXPIRIES_PER_REQUEST} fresh logins; check that the "
                "account may use the web API",
                url=safe_url(url),
            )
        if logger.isEnabledFor(_DEBUG):
            logger.debug("%s %s%s: session expired", method, safe_url(url), _about(command_id))

    def _failed_status(
        self,
        answer: Answer,
        method: str,
        command_id: int | None,
        progress: bool,
        tries: int,
        idempotent: bool,
        retry_throttled: bool,
    ) -> float | None:
        """A non-2xx answer: raise its error, or return its ``Retry-After`` to retry it."""
        status = answer.status
        if status not in TRANSIENT_STATUS:
            raise self._status_error(method, answer, command_id, progress, tries, None)
        retry_after = _retry_after(answer.headers)
        if status in THROTTLE_STATUS:
            # A refusal: the request was not processed, any request may be repeated.
            self.stats.throttled += 1
            self.pacer.on_throttle(retry_after, answer.ticket)
            retry_allowed = retry_throttled
        else:
            retry_allowed = idempotent
        if tries >= self.retry.attempts or not retry_allowed:
            raise self._status_error(method, answer, command_id, progress, tries, retry_after)
        return retry_after

    async def _before_retry(
        self,
        tries: int,
        retry_after: float | None,
        failure: str,
        method: str,
        url: URL,
        command_id: int | None,
    ) -> int:
        """Sleep before retry number ``tries``: the backoff, or the ``Retry-After`` asked.

        Returns the number of the login cool-down slept through (0: none).
        """
        self.stats.retries += 1
        delay = self.retry.delay(tries, retry_after)
        keeper = self._keeper
        waited_out = 0
        if keeper is not None:
            # After a failed login the next try must log in, and no attempt
            # starts before the shared cool-down ends: wait for its end, or
            # the try would fail at once with a copy of the same error.
            left, waited_out = keeper.cool_down()
            delay = max(delay, left)
        # Routine for a library (counted on stats.retries): DEBUG. What the
        # user must act on is raised when the retries are used up.
        logger.debug(
            "%s %s%s: %s; retry %d of %d in %.2fs",
            method,
            safe_url(url),
            _about(command_id),
            failure,
            tries,
            self.retry.attempts - 1,
            delay,
        )
        await self._sleep(delay, method, url)
        return waited_out

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
