"""The command line behind ``cmdprogress`` (``cmdprogress/__main__.py``).

``main()`` parses the arguments, runs ``watch`` or ``demo`` and returns the
exit status (see :class:`~cmdprogress._cli._track.ExitCode`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from typing import TYPE_CHECKING, Any

from ._args import (
    UsageError,
    WatchSettings,
    build_parser,
    demo_settings,
    resolve_password,
    watch_settings,
)
from ._display import make_display
from ._errors import describe
from ._run import Fatal, follow, title_for
from ._track import ExitCode, Tracker

if TYPE_CHECKING:
    import argparse
    import ssl
    from collections.abc import Sequence

    from ._display import Display

__all__ = ["main"]

_INTERRUPTED = "interrupted: stopped watching (nothing was sent to the Manager)"
_INTERRUPTED_AT_PROMPT = "interrupted at the password prompt: nothing was sent"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cmdprogress`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Example::

        >>> main(["watch", "--url", "http://127.0.0.1:1", "abc"])  # doctest: +SKIP
        cmdprogress watch: error: 'abc' (argument) is not a command id: ...
        2
    """
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as e:  # usage errors, --help, --version
        return e.code if isinstance(e.code, int) else ExitCode.ERROR
    try:
        if ns.command == "watch":
            return _watch(ns, parser)
        return _demo(ns)
    except KeyboardInterrupt:
        _stderr(_INTERRUPTED)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # e.g. `cmdprogress watch --json ... | head -1`
        _silence_stdout()
        return ExitCode.BROKEN_PIPE


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _NoteHandler(logging.Handler):
    """Hands each log record to the display, which prints it above a live view."""

    def __init__(self, display: Display) -> None:
        super().__init__()
        self._display = display

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._display.note(self.format(record))
        except Exception:  # pragma: no cover - logging must never break the watch
            self.handleError(record)


def _setup_logging(debug: bool, display: Display) -> None:
    """``--debug``: every library record, through the display; else none.

    Without ``--debug`` the command line is the one voice: every error that
    matters reaches the user as its own one-line message, so the library's
    records (a rejected login, a retry) would only say it twice.
    """
    logger = logging.getLogger("cmdprogress")
    handler = _NoteHandler(display)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.setLevel(logging.DEBUG if debug else logging.CRITICAL + 1)
    logger.handlers[:] = [handler] if debug else []
    logger.propagate = False


def _watch(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    sub = "cmdprogress watch"
    try:
        settings = watch_settings(ns, sys.stdin)
        ssl_arg = settings.ssl_context()
        password = None
        if settings.user is not None:
            try:
                password = resolve_password(settings.user, settings.url)
            except KeyboardInterrupt:
                if sys.stderr.isatty():
                    _stderr("")  # end the prompt's line
                _stderr(_INTERRUPTED_AT_PROMPT)
                return ExitCode.INTERRUPTED
    except UsageError as e:
        _stderr(f"{sub}: error: {e}")
        return ExitCode.ERROR
    display = make_display(json_lines=settings.json)
    _setup_logging(settings.debug, display)
    if settings.insecure:
        display.note(
            "warning: --insecure: the Manager's certificate is not verified; anyone on the "
            "path can read the password and the session (pass --ca-file PEM instead)"
        )
    return _run(
        lambda: _watch_async(settings, ssl_arg, password, display),
        display,
        debug=settings.debug,
        user=settings.user,
    )


def _run(
    coro_fn: Any,
    display: Display,
    *,
    debug: bool,
    user: str | None = None,
) -> int:
    try:
        code: int = asyncio.run(_unwrapped(coro_fn))
    except Fatal as f:
        display.stop()
        if debug:
            _stderr("".join(traceback.format_exception(f.error)))
        display.note(f"error: {f.message}")
        return ExitCode.ERROR
    except (KeyboardInterrupt, BrokenPipeError):
        # A closed standard output (`... --json | head -1`) is the reader's choice, not an
        # internal error: main() ends quietly.
        display.stop()
        raise
    except Exception as e:
        display.stop()
        if debug:
            _stderr("".join(traceback.format_exception(e)))
        display.note(f"error: {describe(e, user=user)}")
        return ExitCode.ERROR
    return code


async def _unwrapped(coro_fn: Any) -> int:
    """Run ``coro_fn()``; an exception group of one error is raised as that error."""
    try:
        result: int = await coro_fn()
    except BaseExceptionGroup as group:
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if error is group:
            raise
        raise error from None
    return result


async def _watch_async(
    settings: WatchSettings,
    ssl_arg: ssl.SSLContext | bool | None,
    password: str | None,
    display: Display,
) -> int:
    from .._auth import BasicAuth, CASAuth
    from .._client import Client
    from .._policy import PollPolicy

    auth: CASAuth | BasicAuth | None = None
    if settings.auth == "cas":
        assert settings.user is not None
        assert password is not None
        auth = CASAuth(settings.user, password, cas_url=settings.cas_url)
    elif settings.auth == "basic":
        assert settings.user is not None
        assert password is not None
        auth = BasicAuth(settings.user, password)
    client = Client(
        settings.url,
        auth=auth,
        ssl=ssl_arg,
        max_concurrency=settings.max_concurrency,
        poll=PollPolicy(
            interval=settings.interval,
            max_interval=settings.max_interval,
            # Every id given is watched: the library's limit (a Python argument the
            # command line has no option for) never refuses one.
            max_commands=max(PollPolicy().max_commands, len(settings.ids)),
        ),
    )
    tracker = Tracker(settings.ids)
    try:
        async with client:
            await follow(
                client,
                tracker,
                display,
                title=title_for(len(tracker), settings.url),
                user=settings.user,
                ca_file=settings.ca_file,
            )
    finally:
        display.stop()
    display.summary(tracker, _client_counters(client))
    return tracker.exit_code()


def _client_counters(client: Any) -> dict[str, Any]:
    stats = client.stats
    return {"requests": stats.requests, "logins": stats.logins, "re_logins": stats.relogins}


def _demo(ns: argparse.Namespace) -> int:
    import secrets

    from ._demo import run_demo

    settings = demo_settings(ns)
    password = "Demo-" + secrets.token_urlsafe(12)
    display = make_display(json_lines=settings.json)
    _setup_logging(settings.debug, display)
    return _run(
        lambda: run_demo(settings, display, password=password, counters=_client_counters),
        display,
        debug=settings.debug,
    )
