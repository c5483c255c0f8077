"""The rich display: the live view redrawn in place, messages printed above it, the
terminal's ``^C`` echo kept from breaking the frame."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any

from ._frame import live_view
from ._summary import summary_renderables
from ._texts import FEW

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from ._track import Record, Tracker

__all__ = ["RichDisplay"]


def _in_foreground(fd: int) -> bool:
    """True when ``fd`` is a terminal whose foreground process group is ours.

    A background job that changes terminal settings is stopped (SIGTTOU).
    """
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


class _EchoCtl:
    """Turns off the terminal's ``^C`` echo while the live view is drawn.

    The echo lands after the last line of the live view; at full width it wraps
    to a new line that the view does not know about, and the next frame is
    drawn one line too low (the header shows twice).  With ``ECHOCTL`` off the
    terminal echoes the raw control character, which it does not draw.  Restored
    on ``stop``.
    """

    def __init__(self) -> None:
        self._saved: tuple[int, list[Any]] | None = None

    def off(self) -> None:
        try:
            import termios

            fd = sys.stdout.fileno()  # the terminal the view is drawn on (and typed into)
            if not _in_foreground(fd):
                return
            saved = termios.tcgetattr(fd)
            quiet = list(saved)
            quiet[3] &= ~termios.ECHOCTL
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
        except (ImportError, AttributeError, OSError, ValueError):
            return
        self._saved = (fd, saved)

    def restore(self) -> None:
        if self._saved is None:
            return
        import termios

        fd, saved = self._saved
        self._saved = None
        if not _in_foreground(fd):  # sent to the background since: the shell restores it
            return
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


class RichDisplay:
    """A live terminal view with rich, redrawn at most four times a second.

    While the view is live, messages (:meth:`note`) are printed above it through
    the same console, so they stay readable and no stale frame is left behind;
    when standard error is not the terminal (``2>errors.txt``) they go there.
    """

    def __init__(self) -> None:
        from rich.console import Console

        self._console: Console = Console()
        self._err: Console = Console(stderr=True, highlight=False)
        self._live: Live | None = None
        self._tracker: Tracker | None = None
        self._title = ""
        self._echo = _EchoCtl()

    def start(self, tracker: Tracker, title: str) -> None:
        from rich.live import Live

        self._tracker = tracker
        self._title = title
        self._live = Live(
            get_renderable=self._render,
            console=self._console,
            auto_refresh=False,
            transient=False,
            redirect_stderr=self._err.is_terminal,
            vertical_overflow="visible" if len(tracker) <= FEW else "ellipsis",
        )
        self._echo.off()
        self._live.start(refresh=True)

    def _render(self) -> RenderableType:
        assert self._tracker is not None
        return live_view(self._tracker, self._title, width=self._console.width)

    def changed(self, rec: Record) -> None:
        return None

    def command_error(self, rec: Record) -> None:
        return None

    def note(self, text: str) -> None:
        from rich.text import Text

        if self._live is not None and self._err.is_terminal:
            self._live.console.print(Text(text))
        else:
            self._err.print(Text(text))

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._echo.restore()

    def summary(self, tracker: Tracker, extra: dict[str, Any]) -> None:
        for r in summary_renderables(tracker, extra, self._console.width):
            self._console.print(r)
