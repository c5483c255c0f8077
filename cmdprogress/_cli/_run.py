"""The watch loop shared by ``cmdprogress watch`` and ``cmdprogress demo``.

One client, one watcher over every id (the library's polling engine does the
scheduling); per-command errors arrive through the engine's event hook as
they happen, so the display shows them at once; errors that concern every
command (login, TLS, connection) stop the whole watch with :class:`Fatal`.

Before the watch, one progress request for the first id checks the address,
the certificate and the login within seconds (the engine itself would keep
retrying a Manager it cannot reach for ``PollPolicy.outage_grace``).  The
display starts only after it, so a wrong password or address gives one line
and never an empty live view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio

from .. import exceptions as exc
from ._display import REFRESH_PER_SECOND
from ._errors import describe, is_fatal

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._client import Client
    from .._events import WatchEvent
    from .._models import CommandProgress
    from ._display import Display
    from ._track import Tracker

__all__ = ["Fatal", "follow"]


class Fatal(Exception):
    """An error that ends the whole watch; ``message`` is the one-line text to show."""

    def __init__(self, error: BaseException, message: str) -> None:
        self.error = error
        self.message = message
        super().__init__(message)


def title_for(count: int, url: str) -> str:
    """The line shown above the live view."""
    host = urlsplit(url).netloc.rpartition("@")[2] or url
    return f"Watching {count} command{'s' if count != 1 else ''} on {host}"


async def follow(
    client: Client,
    tracker: Tracker,
    display: Display,
    *,
    title: str,
    user: str | None = None,
    ca_file: str | None = None,
    on_change: Callable[[Tracker], None] | None = None,
) -> None:
    """Watch every command of ``tracker`` until each one ended; feed ``display``.

    ``display.start(tracker, title)`` is called once the first request has
    answered.  Raises :class:`Fatal` for errors that concern every command
    (then before the display starts, when the first request shows them).
    """

    def text(error: BaseException) -> str:
        return describe(error, url=client.base_url, user=user, ca_file=ca_file)

    def fatal(error: BaseException) -> Fatal:
        return Fatal(error, text(error))

    def snapshot(p: CommandProgress) -> None:
        if tracker.update(p):
            display.changed(tracker.records[p.command_id])
            if on_change is not None:
                on_change(tracker)

    def command_error(cid: int, error: BaseException) -> None:
        rec = tracker.records.get(cid)
        if rec is not None and rec.ended is not None:
            return
        tracker.fail(cid, error, text(error))
        display.command_error(tracker.records[cid])
        if on_change is not None:
            on_change(tracker)

    ids = list(tracker.records)
    since: list[CommandProgress] = []
    # The preflight request: address, certificate and login, checked in seconds.
    try:
        first = await client.get_progress(ids[0])
    except (exc.AuthenticationError, exc.TransportError) as e:
        raise fatal(e) from e
    except exc.UnknownCommandError as e:
        display.start(tracker, title)
        command_error(ids[0], e)
        ids = ids[1:]
    except exc.CmdProgressError:
        display.start(tracker, title)  # a bad answer or a 5xx: the engine retries it
    else:
        display.start(tracker, title)
        snapshot(first)
        since.append(first)
    if not ids:
        return

    stop_error: list[BaseException] = []
    async with anyio.create_task_group() as tg:

        def on_event(event: WatchEvent) -> None:
            if event.kind != "end" or event.error is None:
                return
            if is_fatal(event.error):
                if not stop_error:
                    stop_error.append(event.error)
                    tg.cancel_scope.cancel()
                return
            command_error(event.command_id, event.error)

        async def ticker() -> None:
            while True:
                await anyio.sleep(1 / REFRESH_PER_SECOND)
                display.refresh()

        tg.start_soon(ticker)
        remove = client.add_listener(on_event)
        try:
            await _consume(client, ids, since, snapshot, command_error, fatal)
        except Fatal as e:
            stop_error.append(e.error)  # raised below, outside the task group
        finally:
            remove()
        tg.cancel_scope.cancel()
    if stop_error:
        raise fatal(stop_error[0])
    display.refresh()


async def _consume(
    client: Client,
    ids: list[int],
    since: list[CommandProgress],
    snapshot: Callable[[CommandProgress], None],
    command_error: Callable[[int, BaseException], None],
    fatal: Callable[[BaseException], Fatal],
) -> None:
    """Iterate the watcher to its end; per-command errors to ``command_error``."""
    async with client.watcher(ids, since=since) as watcher:
        try:
            async for p in watcher:
                snapshot(p)
        except exc.CommandErrorGroup as group:
            for cid, error in group.errors.items():
                command_error(cid, error)
            _raise_first_fatal(group.exceptions, fatal)
        except exc.CmdProgressError as e:
            # Not about one command (the watcher groups those): the client's command limit
            # (PollPolicy.max_commands) or a closed client. It ends the whole watch.
            raise fatal(e) from e
        for cid, error in watcher.errors.items():
            command_error(cid, error)


def _raise_first_fatal(errors: Any, fatal: Callable[[BaseException], Fatal]) -> None:
    for e in errors:
        if is_fatal(e) or not isinstance(getattr(e, "command_id", None), int):
            raise fatal(e) from e
