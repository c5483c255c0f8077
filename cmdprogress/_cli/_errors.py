"""One-line messages for the usual mistakes, and which errors end the whole watch.

The messages say what happened and what to do.  They are built from the
exception's attributes, never from a password (the library never puts one in
an exception; :class:`Redactor` is a second line of defence for everything the
command line prints on standard error).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from .. import exceptions as exc

__all__ = ["Redactor", "describe", "is_fatal"]


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def is_fatal(error: BaseException) -> bool:
    """True for errors that stop every watch at once (login, TLS, connection).

    Per-command errors (unknown id, malformed answers, stalls, other HTTP
    statuses) end only that command's watch; the others go on.
    """
    return isinstance(error, exc.AuthenticationError | exc.TransportError)


def describe(
    error: BaseException,
    *,
    url: str = "",
    user: str | None = None,
    ca_file: str | None = None,
) -> str:
    """A one-line message for an error: what happened and what to do."""
    where = _host(getattr(error, "url", "") or url)
    user = user or getattr(error, "username", None)
    who = f"user {user!r}" if user else "the user"
    match error:
        case exc.LoginRejectedError():
            return (
                f"login rejected for {who} at {where}: check the user name and the password "
                "(CMDPROGRESS_PASSWORD); not retried, as five wrong passwords in a row lock "
                "the account"
            )
        case exc.AccountLockedError():
            return (
                f"the account of {who} is locked after too many wrong passwords: wait "
                "(five minutes by default), then try again with the right password"
            )
        case exc.PasswordChangeRequiredError():
            return (
                f"the Manager wants a new password for {who}: log in once in its web UI, "
                "change the password, then try again"
            )
        case exc.SessionError():
            return f"the Manager refused the session right after logging in: {error}"
        case exc.AuthenticationError():
            return f"login failed at {where}: {error}"
        case exc.TLSError():
            if ca_file:
                return (
                    f"the certificate of {where} is not trusted by --ca-file {ca_file} "
                    f"(or does not match the host name): {error}. Pass the CA that signed "
                    "the Manager's certificate, or --insecure to skip verification "
                    "(not recommended)"
                )
            return (
                f"the certificate of {where} is not trusted: pass the Manager's CA "
                "with --ca-file PEM, or --insecure to skip verification (not recommended)"
            )
        case exc.RequestTimeoutError():
            return (
                f"no answer from {where} in time: the Manager may be overloaded or the "
                "address wrong; check --url and try again"
            )
        case exc.ConnectError():
            return (
                f"cannot reach the Manager at {where}: check --url (scheme, host and "
                f"port; the Manager listens on 28443) and the network ({error})"
            )
        case exc.TransportError():
            return f"could not talk to the Manager at {where}: {error}"
        case exc.UnknownCommandError():
            cid = error.command_id
            return (
                f"command {cid} is unknown to the Manager (HTTP 404): check the id; "
                "ids are the numbers the start/stop/save requests returned"
            )
        case exc.HTTPStatusError():
            about = f" for command {error.command_id}" if error.command_id is not None else ""
            body = f": {error.body_excerpt}" if error.body_excerpt else ""
            return f"the Manager answered HTTP {error.status}{about}{body}"
        case exc.MalformedResponseError():
            about = f" for command {error.command_id}" if error.command_id is not None else ""
            first = f" ({error.errors[0]})" if error.errors else ""
            return (
                f"the Manager's answer{about} is not a progress document{first}; "
                "run with --debug to see more"
            )
        case exc.CmdProgressError():
            return str(error)
        case _:
            return (
                f"internal error: {type(error).__name__}: {error} "
                "(run with --debug for the traceback, and please report it)"
            )


class Redactor(logging.Filter):
    """Replaces a secret with ``***`` in text and in log records.

    >>> Redactor("s3cret")("login s3cret")
    'login ***'
    """

    def __init__(self, secret: str | None) -> None:
        super().__init__()
        self._secret = secret or None

    def __call__(self, text: str) -> str:
        if self._secret is None:
            return text
        return text.replace(self._secret, "***")

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secret is not None:
            message = record.getMessage()
            if self._secret in message:
                record.msg = self(message)
                record.args = None
        return True
