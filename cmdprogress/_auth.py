"""Logging in to the Manager: CAS, HTTP Basic, and the single-flight (re-)login.

:class:`CASAuth` and :class:`BasicAuth` (``_credentials.py``) are the
credentials a user hands to :class:`~cmdprogress.Client`.  :class:`Login`
(internal) performs the login for one open client: one attempt at a time in
a task of its own whatever the number of requests that need it (its outcome
shared by all of them), a re-login only when no other request did one since
the session expired, a transient failure shared for a cool-down, a refused
login remembered so that later calls fail fast, and a budget of password
sends whose outcome was a failure or unknown kept below the Manager's lockout
(five wrong passwords in a row lock the account).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import html
import json
import logging
import re
from typing import TYPE_CHECKING, Final, TypeVar

from yarl import URL

from ._credentials import CAS_PORT, BasicAuth, CASAuth, parse_http_url
from ._http import _SENT_UNDER, Answer, Request, _origin, _reason, _retry_after, safe_url
from ._retry import THROTTLE_STATUS, TRANSIENT_STATUS, backoff_ceiling
from .exceptions import (
    AccountLockedError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    HTTPStatusError,
    LoginAttemptsExhaustedError,
    LoginRejectedError,
    PasswordChangeRequiredError,
    RedirectError,
    SessionError,
    TLSError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._http import Transport
    from ._stats import ClientStats

__all__ = ["CAS_PORT", "BasicAuth", "CASAuth", "Login", "parse_http_url"]

logger = logging.getLogger("cmdprogress.auth")

# Password sends in a row that may fail or go unanswered: one less than the
# Manager's lockout threshold (five wrong passwords lock the account).
_PASSWORD_BUDGET: Final = 4
_TOKEN_HEADER: Final = "X-HW-FI-Auth-Token"
_TOKEN_COOKIE: Final = "FI_Auth_Token"
# A token we send back in a header and a cookie: no separators, no control characters.
_TOKEN_OK: Final = re.compile(r"[A-Za-z0-9._~+/=-]{1,4096}")
_INPUT: Final = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR: Final = re.compile(
    r"""([A-Za-z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE
)
_REJECTED: Final = re.compile(
    rb"cannot be determined to be authentic|invalid (?:user ?name or )?password|"
    rb"incorrect (?:user ?name or )?password",
    re.IGNORECASE,
)
_LOCKED: Final = re.compile(rb"\b(?:account|user)\b[^<]{0,80}\blocked\b", re.IGNORECASE)
_CHANGE_PASSWORD: Final = re.compile(rb"modify_password\.html", re.IGNORECASE)
_SUCCESS: Final = re.compile(rb"Log In Successful", re.IGNORECASE)


def _form_fields(page: bytes) -> dict[str, str]:
    """The ``name -> value`` pairs of the ``<input>`` tags of an HTML page."""
    text = page.decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for tag in _INPUT.findall(text):
        attrs_: dict[str, str] = {}
        for m in _ATTR.finditer(tag):
            attrs_[m.group(1).lower()] = html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
        name = attrs_.get("name")
        if name and name not in fields:
            fields[name] = attrs_.get("value", "")
    return fields


_E = TypeVar("_E", bound=BaseException)


def _again(error: _E) -> _E:
    """A fresh copy of a shared login failure: the same type, message and attributes.

    Every caller that waited on one login attempt raises its own copy, so
    tracebacks and exception chains of concurrent callers never mix.
    """
    copy = type(error).__new__(type(error), *error.args)
    copy.args = error.args  # OSError subclasses (ConnectError, timeouts) drop them in __new__
    copy.__dict__.update(error.__dict__)
    return copy


class Login:
    """The login state of one open client: single-flight, generation-counted (internal).

    ``generation`` counts successful logins.  A request remembers the
    generation it was sent under; when its answer says the session expired it
    calls :meth:`login` with that number, and only the first such caller logs
    in: the others find a newer generation and simply repeat their request.

    The rules that keep the account safe (``docs/guarantees.md``, "Logging in"):

    - One login attempt at a time for the whole client, run in its own task:
      a caller that is cancelled while waiting does not cancel it, and every
      caller that waited on it gets its outcome, failure included.
    - A transient failure (timeout, broken connection, 5xx, 429) is shared
      for a cool-down (the retry policy's backoff doubling per failed attempt,
      at least the ``Retry-After`` asked for): callers in that window get the
      same error without a new attempt.
    - A password send whose outcome was a failure or is unknown (no answer,
      a broken connection, a 5xx or a redirect) is counted; 429 and 503 are
      refusals and are not.  Once ``PASSWORD_BUDGET`` are counted without a
      success in between, the client stops with
      :class:`~cmdprogress.exceptions.LoginAttemptsExhaustedError`.
    - A wrong password, a locked account or a required password change stop
      the client's logins for good (later calls fail fast with a copy).
    """

    PASSWORD_BUDGET: Final = _PASSWORD_BUDGET

    def __init__(
        self, auth: CASAuth | BasicAuth, transport: Transport, base_url: URL, stats: ClientStats
    ) -> None:
        self.auth = auth
        self.generation = 0
        self.request_headers: Mapping[str, str] | None = None
        self._transport = transport
        self._base_url = base_url
        self._stats = stats
        self._task: asyncio.Task[None] | None = None
        # A failure that ends the client's logins (wrong password, refused redirect...).
        self._failure: AuthenticationError | RedirectError | TLSError | None = None
        # The last transient failure, shared until `_retry_at` (loop time).
        self._last_error: Exception | None = None
        self._retry_at = 0.0
        self._failed_attempts = 0  # transient failures in a row
        self._cool_downs = 0  # transient failures so far: the number of the last cool-down
        # Password sends since the last success whose outcome was a failure or unknown.
        self.doubtful_sends = 0
        # CAS accepted the credentials, but the Manager's login check has not
        # answered yet (it met a transient error): retry the check, not the POST.
        self._ticket_granted = False
        base = str(base_url)
        self._check_url = URL(base + "/web/v1/access/login_check", encoded=True)
        self._origins: frozenset[tuple[str, str, int | None]] = frozenset()
        if isinstance(auth, CASAuth):
            cas = auth._cas_base(base_url)
            self._cas_login_url = cas.with_path(cas.path.rstrip("/") + "/login")
            self._service = base + "/web/cas_security_check.htm"
            self._origins = frozenset({_origin(cas)})

    def __repr__(self) -> str:
        return f"<Login {self.auth!r} generation={self.generation}>"

    @property
    def required(self) -> bool:
        """True before the first login, and after a login failed."""
        return self.generation == 0 or self._failure is not None or self._last_error is not None

    def origins(self) -> frozenset[tuple[str, str, int | None]]:
        """Origins a redirect may lead to besides the Manager (the CAS server)."""
        return self._origins

    def cool_down(self) -> tuple[float, int]:
        """Seconds until a new login attempt may start (0: none is held back), and
        the number of that cool-down (one per transient failure).

        A caller retrying after a failed login sleeps at least this long, then
        passes the number to :meth:`login`: a retry inside the cool-down would
        only get a copy of the same failure and use up one of its attempts.
        """
        if self._last_error is None:
            return 0.0, 0
        left = self._retry_at - asyncio.get_running_loop().time()
        return max(0.0, left), self._cool_downs

    async def login(self, seen_generation: int, waited_out: int = 0) -> None:
        """Log in, unless another request already did since ``seen_generation``.

        Joins the attempt in progress if there is one; raises a copy of its
        failure, or of the last transient failure during its cool-down.  A
        caller that slept through the current cool-down (``waited_out`` is its
        number) may start the next attempt even if the loop's clock, coarser
        than its timers (uvloop counts milliseconds), still shows a little of
        it left.
        """
        if self._failure is not None:
            raise _again(self._failure)
        task = self._task
        if task is None:
            if self.generation != seen_generation and self._last_error is None:
                return
            loop = asyncio.get_running_loop()
            if (
                self._last_error is not None
                and loop.time() < self._retry_at
                and waited_out != self._cool_downs
            ):
                raise _again(self._last_error)
            # A context of its own: the attempt is no request of any caller.
            context = contextvars.copy_context()
            context.run(_SENT_UNDER.set, None)
            task = self._task = loop.create_task(self._attempt(), context=context)
            task.add_done_callback(self._attempt_done)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                raise ClientClosedError(
                    "the client was closed while logging in; open it again to go on"
                ) from None
            raise
        except BaseException as e:
            raise _again(e) from None

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        if self._task is task:
            self._task = None
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone

    async def aclose(self) -> None:
        """Cancel a login still running (the client is closing)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _attempt(self) -> None:
        """One login attempt: the whole flow, its outcome recorded for everyone."""
        relogin = self.generation > 0
        if relogin:
            logger.info("the Manager session expired; logging in again as %r", self.auth.username)
        jar = self._transport.cookie_jar
        jar.logins_running += 1
        try:
            if isinstance(self.auth, CASAuth):
                try:
                    await self._cas_login(self.auth)
                except ConnectError as e:
                    raise self._cas_unreachable(e) from None
            else:
                await self._basic_login(self.auth)
        except (AuthenticationError, RedirectError, TLSError) as e:
            # The account or the configuration is wrong: trying again cannot help.
            self._failure = e
            # Raised to every caller: logging it as an error too would report it twice.
            logger.debug("login as %r failed: %s", self.auth.username, e)
            raise
        except Exception as e:
            self._note_transient(e)
            raise
        finally:
            jar.logins_running -= 1
        self._last_error = None
        self._failed_attempts = 0
        self.doubtful_sends = 0
        self.generation += 1
        self._stats.logins += 1
        if relogin:
            self._stats.relogins += 1
        logger.debug("logged in as %r (login %d)", self.auth.username, self.generation)

    def _note_transient(self, error: Exception) -> None:
        """Share ``error`` for a cool-down: no new attempt until it ends."""
        retry = self._transport.retry
        self._failed_attempts += 1
        self._cool_downs += 1
        pause = backoff_ceiling(self._failed_attempts, retry)
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, float | int):
            pause = max(pause, min(float(retry_after), retry.max_retry_after))
        pause = max(pause, self._transport.pacer.paused_for())
        self._last_error = error
        self._retry_at = asyncio.get_running_loop().time() + pause
        # Transient, and retried: routine for a library (DEBUG), like the retries.
        logger.debug(
            "login as %r failed (%s); no new login attempt for %.2fs",
            self.auth.username,
            error,
            pause,
        )

    def _before_password(self, where: str) -> None:
        """Count a password send in advance; refuse one that could reach the lockout."""
        if self.doubtful_sends >= _PASSWORD_BUDGET:
            raise LoginAttemptsExhaustedError(
                f"stopped logging in as {self.auth.username!r}: {self.doubtful_sends} password "
                f"sends in a row failed or got no clear answer (timeout, broken connection, "
                "server error), and one more could lock the account (five failures lock it); "
                f"check the password and the login server ({where}), wait for any lock to "
                "clear, then open a new client",
                url=where,
                username=self.auth.username,
            )
        self.doubtful_sends += 1

    def _after_password(self, answer: Answer) -> None:
        """A refusal (429/503) did not look at the password: it does not count."""
        if answer.status in THROTTLE_STATUS:
            self.doubtful_sends -= 1

    def _take_token(self, answer: Answer) -> None:
        """Keep the login check's ``token`` (MRS 3.x): sent back on every later request."""
        token: object = None
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            doc = json.loads(answer.body)
            if isinstance(doc, dict):
                token = doc.get("token")
        if isinstance(token, str) and token and _TOKEN_OK.fullmatch(token):
            self.request_headers = {_TOKEN_HEADER: token, "Cookie": f"{_TOKEN_COOKIE}={token}"}
        else:
            self.request_headers = None

    # -- CAS ----------------------------------------------------------------

    def _cas_unreachable(self, error: ConnectError) -> ConnectError:
        """``error`` as met on the CAS server: name its address and ``cas_url``."""
        failed = URL(error.url) if error.url else None
        if failed is None or failed.host is None or _origin(failed) not in self._origins:
            return error  # the Manager's own login check: its message names the Manager
        where = f"{failed.host}:{failed.port}"
        cause = _reason(error.__context__) if error.__context__ is not None else str(error)
        unreachable = ConnectError(
            f"cannot connect to the CAS server at {where} ({cause}); check cas_url (the "
            "default is the Manager's host, port 20009, path /cas) and that the CAS server "
            "is reachable from here",
            url=error.url,
        )
        unreachable.request_sent = error.request_sent
        return unreachable

    async def _cas_login(self, auth: CASAuth) -> None:
        transport = self._transport
        login_url = self._cas_login_url
        if self._ticket_granted and "CASTGC" in transport.cookie_jar.filter_cookies(login_url):
            # The last attempt got the ticket-granting cookie and then met a
            # transient error: posting the password again would count as one
            # more login on the Manager for nothing.
            logger.debug("CAS login: retrying the Manager's login check with the ticket held")
            await self._cas_open_session(auth)
            return
        # A new login starts from a clean jar: old tickets only confuse CAS.
        transport.cookie_jar.clear()
        self.request_headers = None
        self._ticket_granted = False
        where = safe_url(login_url)
        page = await transport.follow(Request("GET", login_url))
        self._check_status(page, "the CAS login page")
        fields = _form_fields(page.body)
        lt = fields.get("lt")
        if not lt:
            self._classify(page, where, auth)
            raise AuthenticationError(
                f"found no login ticket ('lt') on the CAS login page {where} "
                f"(HTTP {page.status}); check cas_url "
                "(default: the Manager's host, port 20009, path /cas)",
                url=where,
                username=auth.username,
            )
        form = {
            "username": auth.username,
            "password": auth.password,
            "lt": lt,
            "_eventId": "submit",
            "submit": "Login",
        }
        if "execution" in fields:
            form["execution"] = fields["execution"]
        logger.debug("CAS login: sending credentials of %r to %s", auth.username, where)
        # Exactly one POST, to the configured CAS login URL: never re-posted.
        post_url = login_url.with_query(service=self._service)
        self._before_password(where)
        answer = await transport.exchange("POST", post_url, data=form)
        self._after_password(answer)
        answer = await self._after_form(answer, "POST", post_url, where)
        self._classify(answer, where, auth)
        has_tgc = "CASTGC" in transport.cookie_jar.filter_cookies(login_url)
        on_manager = _origin(answer.url) == transport.origin
        if not (has_tgc or on_manager or _SUCCESS.search(answer.body)):
            raise AuthenticationError(
                f"the CAS server at {where} did not confirm the login (HTTP {answer.status}); "
                "check cas_url and the account",
                url=where,
                username=auth.username,
            )
        self.doubtful_sends = 0  # CAS took the password: the Manager's count starts over
        self._ticket_granted = has_tgc
        await self._cas_open_session(auth)

    async def _cas_open_session(self, auth: CASAuth) -> None:
        """Open the Manager session: its login check, through the CAS ticket redirects."""
        transport = self._transport
        check = await transport.follow(Request("GET", self._check_url))
        self._check_status(check, "the Manager's login check")
        if not 200 <= check.status < 300 or check.is_login_page():
            raise SessionError(
                f"logged in at CAS, but the Manager did not open a session "
                f"({safe_url(check.url)} answered HTTP {check.status}); check that the "
                "Manager trusts this CAS server",
                url=safe_url(self._check_url),
                username=auth.username,
            )
        self._take_token(check)
        self._ticket_granted = False

    async def _after_form(self, answer: Answer, method: str, url: URL, where: str) -> Answer:
        """Follow the answer to a password send without ever sending the password again.

        301/302/303 are followed as GETs without a body or credentials; a
        307/308 (which asks to repeat the request, password included, elsewhere)
        is refused.
        """
        status = answer.status
        if status in (307, 308):
            with contextlib.suppress(ValueError, TypeError):
                target = answer.url.join(URL(answer.headers.get("Location", "")))
                if _origin(target) not in self._origins | {self._transport.origin}:
                    raise RedirectError(
                        f"{method} {where} redirected to another host "
                        f"({safe_url(target.origin())}); refused so that no cookie or "
                        "credential leaves the Manager",
                        url=where,
                    )
            raise RedirectError(
                f"{method} {where}: the login server answered the credentials with a redirect "
                f"(HTTP {status}) that would send them again; refused: they go only to the "
                "configured login URL, once (check cas_url, or the Manager's address)",
                url=where,
            )
        if status in (301, 302, 303):
            return await self._transport.redirected(Request(method, url), answer)
        return answer

    def _check_status(self, answer: Answer, what: str) -> None:
        status = answer.status
        if status in TRANSIENT_STATUS:
            # Transient: shared for a cool-down, then the caller's retry policy applies.
            retry_after = _retry_after(answer.headers)
            if status in THROTTLE_STATUS:
                # The same pacing as every other request: the whole client waits.
                self._stats.throttled += 1
                self._transport.pacer.on_throttle(retry_after)
            error = HTTPStatusError(
                f"{what} ({safe_url(answer.url)}) answered HTTP {status}; try again later",
                status=status,
                url=safe_url(answer.url),
                body=answer.body,
                retry_after=retry_after,
            )
            error.request_sent = False
            raise error

    def _classify(self, answer: Answer, where: str, auth: CASAuth | BasicAuth) -> None:
        """Raise the matching error for a page that refuses the login."""
        self._check_status(answer, "the login")
        body = answer.body
        if answer.status == 423 or _LOCKED.search(body):
            raise AccountLockedError(
                f"the account {auth.username!r} is locked after too many failed logins; "
                "wait (5 minutes by default), fix the password, then open a new client",
                url=where,
                username=auth.username,
            )
        if _CHANGE_PASSWORD.search(body):
            raise PasswordChangeRequiredError(
                f"the Manager requires a new password for {auth.username!r}; log in once in "
                "the Manager's web UI and change it",
                url=where,
                username=auth.username,
            )
        if answer.status == 401 or _REJECTED.search(body):
            raise LoginRejectedError(
                f"the Manager rejected the user name or password of {auth.username!r}; not "
                "retried (five failures lock the account): fix the credentials, then open "
                "a new client",
                url=where,
                username=auth.username,
            )

    # -- Basic --------------------------------------------------------------

    async def _basic_login(self, auth: BasicAuth) -> None:
        transport = self._transport
        transport.cookie_jar.clear()
        self.request_headers = None
        where = safe_url(self._check_url)
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode("ascii")
        header = "Basic " + token
        logger.debug("Basic login of %r at %s", auth.username, where)
        # One request carries the credentials; a redirect is followed without them.
        self._before_password(where)
        answer = await transport.exchange("GET", self._check_url, headers={"Authorization": header})
        self._after_password(answer)
        answer = await self._after_form(answer, "GET", self._check_url, where)
        self._classify(answer, where, auth)
        if not 200 <= answer.status < 300 or answer.is_login_page():
            raise AuthenticationError(
                f"Basic login at {where} answered HTTP {answer.status}; this Manager may "
                "need CASAuth instead",
                url=where,
                username=auth.username,
            )
        self.doubtful_sends = 0
        self._take_token(answer)
