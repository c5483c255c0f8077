"""One-line messages for the usual mistakes, and which errors end the whole watch.

The messages say what happened and what to do, in the words of the command
line: they name its options (``--url``, ``--user``, ``--cas-url``, ...), not
the library's Python arguments.  They are built from the exception's type and
attributes and never from a secret: the library never puts a password in an
exception, and nothing here looks for one, so no message can depend on a
password's value (a password ``a`` leaves every ``a`` of a message alone).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .. import exceptions as exc

__all__ = ["OPTIONS", "cli_words", "describe", "is_fatal"]

OPTIONS = {
    "base_url": "--url",
    "url": "--url",
    "cas_url": "--cas-url",
    "username": "--user",
    "user": "--user",
    "password": "the password (CMDPROGRESS_PASSWORD or the prompt)",
    "ssl": "--ca-file",
    "max_concurrency": "--max-concurrency",
    "interval": "--interval",
    "max_interval": "--max-interval",
}
"""The library's argument names and the command-line options that set them."""

_WORDS = (
    (re.compile(r"\bauth=CASAuth\([^)]*\)"), "--auth cas --user NAME"),
    (re.compile(r"\bauth=BasicAuth\([^)]*\)"), "--auth basic --user NAME"),
    (re.compile(r"\bCASAuth\b(\(\.\.\.\))?"), "--auth cas"),
    (re.compile(r"\bBasicAuth\b(\(\.\.\.\))?"), "--auth basic"),
    (re.compile(r"\bssl=False\b"), "--insecure"),
    *((re.compile(rf"\b{name}\b"), option) for name, option in OPTIONS.items() if "_" in name),
)
_TLS_REASON = re.compile(r"^TLS with \S+ failed \((?P<reason>.*?)\)\. ")


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def is_fatal(error: BaseException) -> bool:
    """True for errors that stop every watch at once (login, TLS, connection).

    Per-command errors (unknown id, malformed answers, stalls, other HTTP
    statuses) end only that command's watch; the others go on.
    """
    return isinstance(error, exc.AuthenticationError | exc.TransportError)


def cli_words(text: str) -> str:
    """The library's Python names in ``text`` replaced by the command-line options.

    >>> cli_words("check cas_url (default: port 20009); this Manager may need CASAuth instead")
    'check --cas-url (default: port 20009); this Manager may need --auth cas instead'
    """
    for pattern, option in _WORDS:
        text = pattern.sub(option, text)
    return text


def _argument_message(error: exc.InvalidArgumentError) -> str:
    """``--url: must not have ...`` for the library's ``base_url: must not have ...``."""
    text = str(error)
    prefix = f"{error.argument}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    option = OPTIONS.get(error.argument, error.argument)
    return f"{option}: {cli_words(text)}"


def describe(
    error: BaseException,
    *,
    url: str = "",
    user: str | None = None,
    ca_file: str | None = None,
) -> str:
    """A one-line message for an error: what happened and what to do.

    >>> describe(exc.InvalidArgumentError("base_url", "must not have a query string"))
    '--url: must not have a query string'
    """
    where = _host(getattr(error, "url", "") or url)
    login_user = user
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
            return (
                f"the Manager refused the session right after logging in: {cli_words(str(error))}"
            )
        case exc.AuthenticationError() if (
            login_user is None
            and type(error) is exc.AuthenticationError
            and getattr(error, "username", None) is None
        ):
            return (
                f"the Manager at {where} asks for a login: pass --user NAME (with --auth cas, "
                "the default, or --auth basic); the password is read from "
                "CMDPROGRESS_PASSWORD or prompted for"
            )
        case exc.AuthenticationError():
            return f"login failed at {where}: {cli_words(str(error))}"
        case exc.WrongSchemeError():
            wrong = "https" if error.scheme == "http" else "http"
            speaks = "plain HTTP" if error.scheme == "http" else "TLS (HTTPS)"
            return (
                f"{where} answers {speaks}, not {wrong}: use {error.scheme}:// in --url "
                "(or --cas-url); no certificate option helps here"
            )
        case exc.TLSError():
            if ca_file:
                match = _TLS_REASON.match(str(error))
                reason = f" ({match['reason']})" if match else ""
                return (
                    f"the certificate of {where} is not trusted by --ca-file {ca_file} "
                    f"(or does not match the host name){reason}: pass the CA that signed "
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
        case exc.ConnectError() if "CAS server" in str(error):
            return (
                f"cannot reach the CAS login server at {where}: check --cas-url (by default "
                "the Manager's host, port 20009, path /cas) and the network"
            )
        case exc.ConnectError():
            return (
                f"cannot reach the Manager at {where}: check --url (scheme, host and "
                f"port; the Manager listens on 28443) and the network ({cli_words(str(error))})"
            )
        case exc.TransportError():
            return f"could not talk to the Manager at {where}: {cli_words(str(error))}"
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
        case exc.InvalidArgumentError():
            return _argument_message(error)
        case exc.CmdProgressError():
            return cli_words(str(error))
        case _:
            return (
                f"internal error: {type(error).__name__}: {error} "
                "(run with --debug for the traceback, and please report it)"
            )
