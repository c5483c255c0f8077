"""Logging in to the Manager: CAS, HTTP Basic, and the single-flight (re-)login.

:class:`CASAuth` and :class:`BasicAuth` are the credential values a user hands
to :class:`~cmdprogress.Client`.  :class:`Login` (internal) performs the login
for one open client: one login at a time whatever the number of requests that
need it, a re-login only when no other request did one since the session
expired, and a failed login remembered so that later calls fail fast instead of
locking the account (five wrong passwords in a row lock it).
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
from typing import TYPE_CHECKING, Final

import attrs
from yarl import URL

from ._http import Answer, _origin, safe_url
from .exceptions import (
    AccountLockedError,
    AuthenticationError,
    HTTPStatusError,
    InvalidArgumentError,
    LoginRejectedError,
    PasswordChangeRequiredError,
    SessionError,
)

if TYPE_CHECKING:
    from ._http import Transport
    from ._stats import ClientStats

__all__ = ["BasicAuth", "CASAuth", "Login", "parse_http_url"]

logger = logging.getLogger("cmdprogress.auth")

CAS_PORT: Final = 20009
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
_USERINFO: Final = re.compile(r"[^\s/?#@]+@")


def _shown(value: str) -> str:
    """``repr`` of a refused URL with any user info masked: it may hold a password."""
    return repr(_USERINFO.sub("***@", value))


def parse_http_url(name: str, value: object) -> URL:
    """Parse an http(s) URL with a host, no credentials, no query; ``InvalidArgumentError``."""
    if isinstance(value, URL):
        url = value
    elif isinstance(value, str):
        try:
            url = URL(value.strip())
        except (ValueError, TypeError) as e:
            raise InvalidArgumentError(name, f"{_shown(value)} is not a URL ({e})") from None
    else:
        raise InvalidArgumentError(name, f"expected a URL string, got {type(value).__name__}")
    try:
        scheme, host, port = url.scheme, url.host, url.port
    except ValueError as e:
        raise InvalidArgumentError(name, f"{_shown(str(url))} is not a valid URL ({e})") from None
    if scheme not in ("http", "https") or not host:
        raise InvalidArgumentError(
            name,
            f"{repr(safe_url(url)) if host else _shown(str(value))} needs an http:// or "
            "https:// scheme and a host, e.g. 'https://10.0.0.5:28443'",
        )
    if port is None:
        raise InvalidArgumentError(name, "has an invalid port")
    if url.user is not None or url.password is not None:
        raise InvalidArgumentError(
            name, "must not contain credentials; pass auth=BasicAuth(...) or CASAuth(...)"
        )
    if url.query_string or url.fragment:
        raise InvalidArgumentError(name, "must not have a query string or fragment")
    return url.with_path(url.path.rstrip("/"))


def _check_credentials(username: object, password: object) -> None:
    if not isinstance(username, str) or not username.strip():
        raise InvalidArgumentError("username", "expected a non-empty string")
    if any(ord(c) < 32 or ord(c) == 127 for c in username):
        raise InvalidArgumentError("username", "must not contain control characters")
    if not isinstance(password, str) or not password:
        # Never show the value: it may be a password in the wrong place.
        raise InvalidArgumentError("password", "expected a non-empty string")


@attrs.frozen
class CASAuth:
    """Log in through the Manager's CAS server (security / Kerberos clusters).

    ``cas_url`` defaults to the Manager's host on port 20009, path ``/cas``
    (``https://10.0.0.5:20009/cas`` for ``https://10.0.0.5:28443``); pass it
    when a gateway puts CAS elsewhere.  The password never appears in a repr,
    a log line or an error message.

    >>> CASAuth("admin", "secret")
    CASAuth(username='admin', cas_url=None)
    """

    username: str
    password: str = attrs.field(repr=False)
    cas_url: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_credentials(self.username, self.password)
        if self.cas_url is not None:
            parse_http_url("cas_url", self.cas_url)

    def _cas_base(self, base_url: URL) -> URL:
        if self.cas_url is None:
            return base_url.with_port(CAS_PORT).with_path("/cas")
        url = parse_http_url("cas_url", self.cas_url)
        return url if url.path not in ("", "/") else url.with_path("/cas")


@attrs.frozen
class BasicAuth:
    """Log in with HTTP Basic authentication (MRS 3.x Managers), then keep the session cookie.

    The credentials are sent only to the Manager's own origin, only on the
    login request, and never follow a redirect to another host.

    >>> BasicAuth("admin", "secret")
    BasicAuth(username='admin')
    """

    username: str
    password: str = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        _check_credentials(self.username, self.password)
        if ":" in self.username:
            raise InvalidArgumentError("username", "must not contain ':' for Basic authentication")


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


def _again(error: AuthenticationError) -> AuthenticationError:
    """A fresh copy of a remembered login failure (the same type and message)."""
    return type(error)(str(error), url=error.url, username=error.username)


class Login:
    """The login state of one open client: single-flight, generation-counted (internal).

    ``generation`` counts successful logins.  A request remembers the
    generation it was sent under; when its answer says the session expired it
    calls :meth:`login` with that number, and only the first such caller logs
    in: the others find a newer generation and simply repeat their request.
    """

    def __init__(
        self, auth: CASAuth | BasicAuth, transport: Transport, base_url: URL, stats: ClientStats
    ) -> None:
        self.auth = auth
        self.generation = 0
        self._transport = transport
        self._base_url = base_url
        self._stats = stats
        self._lock = asyncio.Lock()
        self._failure: AuthenticationError | None = None
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

    @property
    def required(self) -> bool:
        """True before the first login, and after a login failed."""
        return self.generation == 0 or self._failure is not None

    def origins(self) -> frozenset[tuple[str, str, int | None]]:
        """Origins a redirect may lead to besides the Manager (the CAS server)."""
        return self._origins

    async def login(self, seen_generation: int) -> None:
        """Log in, unless another request already did since ``seen_generation``."""
        if self._failure is not None:
            raise _again(self._failure)
        async with self._lock:
            if self._failure is not None:
                raise _again(self._failure)
            if self.generation != seen_generation:
                return
            relogin = self.generation > 0
            if relogin:
                logger.warning(
                    "the Manager session expired; logging in again as %r", self.auth.username
                )
            try:
                if isinstance(self.auth, CASAuth):
                    await self._cas_login(self.auth)
                else:
                    await self._basic_login(self.auth)
            except AuthenticationError as e:
                self._failure = e
                logger.error("login as %r failed: %s", self.auth.username, e)
                raise
            self.generation += 1
            self._stats.logins += 1
            if relogin:
                self._stats.relogins += 1
            logger.debug("logged in as %r (login %d)", self.auth.username, self.generation)

    # -- CAS ----------------------------------------------------------------

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
        self._ticket_granted = False
        where = safe_url(login_url)
        page = await transport.follow("GET", login_url, login=True)
        assert isinstance(page, Answer)
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
        # Exactly one POST: a rejected password is never sent again.
        answer = await transport.follow(
            "POST", login_url.with_query(service=self._service), data=form, login=True
        )
        assert isinstance(answer, Answer)
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
        self._ticket_granted = has_tgc
        await self._cas_open_session(auth)

    async def _cas_open_session(self, auth: CASAuth) -> None:
        """Open the Manager session: its login check, through the CAS ticket redirects."""
        transport = self._transport
        check = await transport.follow("GET", self._check_url, login=True)
        assert isinstance(check, Answer)
        self._check_status(check, "the Manager's login check")
        if not 200 <= check.status < 300 or check.is_login_page():
            raise SessionError(
                f"logged in at CAS, but the Manager did not open a session "
                f"({safe_url(check.url)} answered HTTP {check.status}); check that the "
                "Manager trusts this CAS server",
                url=safe_url(self._check_url),
                username=auth.username,
            )
        self._ticket_granted = False

    @staticmethod
    def _check_status(answer: Answer, what: str) -> None:
        status = answer.status
        if status in (429, 500, 502, 503, 504):
            # Transient: the caller's retry policy applies; not remembered.
            error = HTTPStatusError(
                f"{what} ({safe_url(answer.url)}) answered HTTP {status}; try again later",
                status=status,
                url=safe_url(answer.url),
                body=answer.body,
            )
            error.request_sent = False  # type: ignore[attr-defined]
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
        where = safe_url(self._check_url)
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode("ascii")
        header = "Basic " + token
        logger.debug("Basic login of %r at %s", auth.username, where)
        answer = await transport.follow(
            "GET", self._check_url, headers={"Authorization": header}, login=True
        )
        assert isinstance(answer, Answer)
        self._classify(answer, where, auth)
        if not 200 <= answer.status < 300 or answer.is_login_page():
            raise AuthenticationError(
                f"Basic login at {where} answered HTTP {answer.status}; this Manager may "
                "need CASAuth instead",
                url=where,
                username=auth.username,
            )
