"""Every error cmdprogress raises, in one tree.

Catch :class:`CmdProgressError` to catch them all.  Builtin bases are added
where the meaning matches, so ``except ValueError`` or ``except TimeoutError``
keep working in code that does not know this library::

    CmdProgressError
    ├── InvalidArgumentError (ValueError)         a bad argument, raised before any request
    │   └── InvalidCommandIdError                 a command id that is not a non-negative int
    ├── TransportError                            the Manager could not be talked to
    │   ├── ConnectError (ConnectionError)        refused, unreachable, reset, DNS failure
    │   ├── TLSError                              certificate not trusted, hostname mismatch
    │   │   └── WrongSchemeError                  https:// to a plain-HTTP port, or the reverse
    │   ├── RequestTimeoutError (TimeoutError)    no answer within the read/connect timeout
    │   └── RedirectError                         redirect loop, a foreign or unusable Location
    ├── HTTPStatusError                           the Manager answered with an unexpected status
    │   └── UnknownCommandError (LookupError)     404 for a command id
    ├── AuthenticationError                       logging in did not work
    │   ├── LoginRejectedError                    wrong user name or password (never retried)
    │   ├── AccountLockedError                    too many wrong passwords: wait, then retry
    │   ├── PasswordChangeRequiredError           the Manager wants a new password first
    │   ├── LoginAttemptsExhaustedError           stopped before a login could lock the account
    │   └── SessionError                          a fresh login was still refused
    ├── MalformedResponseError (ValueError)       a body that is not a progress document
    │   ├── ResponseTooLargeError                 a body over the size cap, refused unread
    │   └── ProtocolError                         an answer that is not readable HTTP
    ├── ActionRejectedError                       start/stop/save answered FAILED, no command id
    ├── CommandFailed                             the command ended FAILED (``.progress``)
    ├── CommandStalledError (TimeoutError)        no change for longer than the stall timeout
    ├── CommandErrorGroup (ExceptionGroup)        several watched commands ended with errors
    ├── ClientClosedError (RuntimeError)          the client is not open
    └── AsyncioRequiredError (RuntimeError)       used under trio or without an asyncio loop

Every exception carries its context as attributes (``url``, ``status``,
``command_id``, ...) and says in its message what happened and what to do.
No message, attribute or ``repr`` ever holds a password or a session cookie,
and URLs are shown without user info or query string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._models import CommandProgress

__all__ = [
    "AccountLockedError",
    "ActionRejectedError",
    "AsyncioRequiredError",
    "AuthenticationError",
    "ClientClosedError",
    "CmdProgressError",
    "CommandErrorGroup",
    "CommandFailed",
    "CommandStalledError",
    "ConnectError",
    "HTTPStatusError",
    "InvalidArgumentError",
    "InvalidCommandIdError",
    "LoginAttemptsExhaustedError",
    "LoginRejectedError",
    "MalformedResponseError",
    "PasswordChangeRequiredError",
    "ProtocolError",
    "RedirectError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "SessionError",
    "TLSError",
    "TransportError",
    "UnknownCommandError",
    "WrongSchemeError",
]


def _excerpt(body: bytes | str | None, limit: int = 200) -> str:
    """Return a short, single-line, printable excerpt of a response body."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CmdProgressError(Exception):
    """Base class of every error raised by cmdprogress.

    Example::

        try:
            await client.wait(1234)
        except cmdprogress.exceptions.CmdProgressError as e:
            log.error("watching 1234 failed: %s", e)

    ``request_sent`` is false when the request surely never reached the
    Manager (the connection was refused, a login step before it was refused):
    repeating it cannot run an action twice.
    """

    request_sent: bool = True


class InvalidArgumentError(CmdProgressError, ValueError):
    """An argument given to cmdprogress is invalid; nothing was sent.

    ``argument`` names the parameter, e.g. ``"max_concurrency"``.
    """

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {message}")


class InvalidCommandIdError(InvalidArgumentError):
    """A command id that is not a non-negative integer (or a string of digits).

    Raised before any request, so the text never reaches a URL.
    """

    def __init__(self, value: object) -> None:
        self.value = value
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(
            "command_id",
            f"{shown} is not a command id; pass a non-negative integer such as 1234 "
            "(the id returned by the asynchronous request)",
        )


class TransportError(CmdProgressError):
    """The request did not get an HTTP answer from the Manager.

    ``url`` is the URL that was requested (no credentials, no query string).
    """

    def __init__(self, message: str, *, url: str = "") -> None:
        self.url = url
        super().__init__(message)


class ConnectError(TransportError, ConnectionError):
    """The connection could not be opened or broke mid-request."""


class TLSError(TransportError):
    """The TLS handshake failed: usually a certificate that is not trusted.

    Pass the Manager's CA with ``ssl=ssl.create_default_context(cafile=...)``;
    ``ssl=False`` turns verification off (not recommended).
    """


class WrongSchemeError(TLSError):
    """The URL's scheme does not fit the port: ``https://`` to a port that answers
    plain HTTP, or ``http://`` to one that speaks TLS. No certificate is involved.

    ``scheme`` is the one to use (``"http"`` or ``"https"``).

    >>> WrongSchemeError("use http://", scheme="http").scheme
    'http'
    """

    def __init__(self, message: str, *, url: str = "", scheme: str = "") -> None:
        super().__init__(message, url=url)
        self.scheme = scheme


class RequestTimeoutError(TransportError, TimeoutError):
    """The Manager did not answer within the configured timeout."""


class RedirectError(TransportError):
    """Too many redirects, a redirect loop, or a redirect that was refused.

    Refused: a ``Location`` on another host (no cookie or credential may leave
    the Manager), and one that is not a usable ``http(s)`` URL (``file:``,
    ``mailto:``, ``data:``, a bad port or IPv6 literal). The location itself is
    not repeated in the message (it may hold a ticket).
    """


class HTTPStatusError(CmdProgressError):
    """The Manager answered with an HTTP status that is not a success.

    Attributes: ``status``, ``url`` (no credentials), ``body_excerpt`` (at most
    200 characters, one line), ``retry_after`` (seconds, when the Manager said),
    ``command_id`` (when the request was about one command).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        url: str = "",
        body: bytes | str | None = None,
        retry_after: float | None = None,
        command_id: int | None = None,
    ) -> None:
        self.status = status
        self.url = url
        self.body_excerpt = _excerpt(body)
        self.retry_after = retry_after
        self.command_id = command_id
        super().__init__(message)


class UnknownCommandError(HTTPStatusError, LookupError):
    """The Manager does not know this command id (HTTP 404)."""


class AuthenticationError(CmdProgressError):
    """Logging in to the Manager did not work. Never holds the password.

    ``url`` is the login URL involved, ``username`` the account name.
    """

    def __init__(self, message: str, *, url: str = "", username: str | None = None) -> None:
        self.url = url
        self.username = username
        super().__init__(message)


class LoginRejectedError(AuthenticationError):
    """The user name or password was rejected.

    It is never retried automatically: five wrong passwords in a row lock the
    account for five minutes. Fix the credentials, then open a new client.
    """


class AccountLockedError(AuthenticationError):
    """The account is locked after too many wrong passwords; wait, then retry."""


class PasswordChangeRequiredError(AuthenticationError):
    """The Manager requires the password to be changed before logging in.

    Log in once in the Manager's web UI and set a new password.
    """


class LoginAttemptsExhaustedError(AuthenticationError):
    """The client stopped sending the password so that it cannot lock the account.

    Raised when as many password sends as the Manager's lockout allows minus
    one (4 of 5) failed or got no clear answer (a timeout, a broken
    connection, a 5xx): one more could lock the account.  Check the password
    and the CAS server, wait for any lock to clear, then open a new client.
    """


class SessionError(AuthenticationError):
    """The Manager kept refusing the session right after a successful login."""


class MalformedResponseError(CmdProgressError, ValueError):
    """The Manager's answer is not a document cmdprogress understands.

    ``errors`` lists readable paths of what was wrong, e.g.
    ``"expected a number @ $.total_progress"``; ``body_excerpt`` shows the
    start of the body; ``url`` and ``command_id`` say where it came from.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        command_id: int | None = None,
        errors: list[str] | None = None,
        body: bytes | str | None = None,
    ) -> None:
        self.url = url
        self.command_id = command_id
        self.errors: list[str] = list(errors or [])
        self.body_excerpt = _excerpt(body)
        super().__init__(message)


class ResponseTooLargeError(MalformedResponseError):
    """The body is larger than ``max_body_size``; it was refused without being read."""


class ProtocolError(MalformedResponseError):
    """The answer is not HTTP cmdprogress can read; raised at once, never retried.

    Too many or too long header lines, a bad status line or chunk, a body in an
    encoding that cannot be decoded (``Content-Encoding: br`` without the
    ``Brotli`` package, gzip that does not inflate).  Such an answer comes back
    the same on every try, so it is not an outage; a watch treats it like any
    malformed answer (it ends after 3 in a row).  ``errors`` holds the
    parser's reason (``"Too many headers received @ http"``), never the bytes
    it quoted.
    """


class ActionRejectedError(CmdProgressError):
    """A start/stop/save request was refused by the Manager (no command id to poll).

    ``error_code`` and ``error_description`` are the Manager's; ``url`` the action's URL.
    """

    def __init__(
        self, message: str, *, url: str = "", error_code: int = 0, error_description: str = ""
    ) -> None:
        self.url = url
        self.error_code = error_code
        self.error_description = error_description
        super().__init__(message)


class CommandFailed(CmdProgressError):
    """The command reached the terminal state FAILED.

    ``progress`` is the terminal :class:`~cmdprogress.CommandProgress`, with
    ``error_code``, ``error_description`` and ``failed_entities``.
    """

    def __init__(self, progress: CommandProgress) -> None:
        self.progress = progress
        detail = progress.error_description or "no description"
        failed = ", ".join(f.entity for f in progress.failed_entities[:5])
        more = f"; failed instances: {failed}" if failed else ""
        super().__init__(
            f"command {progress.command_id} failed "
            f"(error_code {progress.error_code}: {detail}){more}"
        )

    @property
    def command_id(self) -> int:
        """The id of the command that failed."""
        return self.progress.command_id


class CommandStalledError(CmdProgressError, TimeoutError):
    """The command's progress did not change for longer than the stall timeout.

    ``progress`` is the last snapshot seen; ``stalled_for`` the seconds without change.
    """

    def __init__(self, progress: CommandProgress, stalled_for: float) -> None:
        self.progress = progress
        self.stalled_for = stalled_for
        super().__init__(
            f"command {progress.command_id} has not changed for {stalled_for:.0f}s "
            f"(state {progress.raw_state or progress.state.value}, "
            f"{progress.total_progress:g}%); it may be hung on the Manager"
        )

    @property
    def command_id(self) -> int:
        """The id of the stalled command."""
        return self.progress.command_id


class CommandErrorGroup(ExceptionGroup[Exception], CmdProgressError):
    """Several commands of one ``watch_many`` / ``wait_all`` ended with errors.

    Raised only after every other command has ended, so nothing is lost:
    ``errors`` maps each failed command id to its error (also in
    ``exceptions``), ``results`` maps every command that did end to its
    terminal snapshot. Raised even for a single error, so that the other
    commands' results are never lost; ``except*`` picks the error types out.

    Example::

        try:
            finals = await client.wait_all(ids)
        except* UnknownCommandError as group:
            log.warning("unknown ids: %s", sorted(group.errors))
    """

    errors: dict[int, Exception]
    results: dict[int, CommandProgress]

    def __new__(
        cls,
        message: str,
        exceptions: Sequence[Exception],
        results: Mapping[int, CommandProgress] | None = None,
        *,
        errors: Mapping[int, Exception] | None = None,
    ) -> CommandErrorGroup:
        self = super().__new__(cls, message, exceptions)
        self.results = dict(results or {})
        if errors is None:
            errors = {}
            for e in exceptions:
                cid = getattr(e, "command_id", None)
                if isinstance(cid, int):
                    errors[cid] = e
        kept = {id(e) for e in exceptions}
        self.errors = {cid: e for cid, e in errors.items() if id(e) in kept}
        return self

    def __init__(
        self,
        message: str,
        exceptions: Sequence[Exception],
        results: Mapping[int, CommandProgress] | None = None,
        *,
        errors: Mapping[int, Exception] | None = None,
    ) -> None:
        super().__init__(message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> CommandErrorGroup:  # type: ignore[override]
        """Keep the type, the results and the ids when ``except*`` splits the group."""
        return CommandErrorGroup(self.message, excs, self.results, errors=self.errors)


class ClientClosedError(CmdProgressError, RuntimeError):
    """The client is used outside its ``async with`` block."""


class AsyncioRequiredError(CmdProgressError, RuntimeError):
    """cmdprogress was used outside an asyncio event loop (under trio, for instance).

    cmdprogress is built on aiohttp, which runs on asyncio only; any asyncio
    event loop works (the default one, uvloop, ...).

    >>> isinstance(AsyncioRequiredError("under trio"), RuntimeError)
    True
    """
