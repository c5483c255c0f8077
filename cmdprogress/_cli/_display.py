"""The three displays of ``cmdprogress watch`` / ``demo``, and the choice among them.

- :class:`JsonDisplay` (``--json``): one JSON object per line on standard
  output, nothing else; diagnostics go to standard error.
- :class:`RichDisplay` (standard output is a terminal that can redraw and
  rich is installed, the ``cmdprogress[cli]`` extra): a live view redrawn at
  most four times a second, laid out for the terminal's width; a bar per
  command for a handful of commands, one overall bar with counts per state
  and the latest failures for many.  Messages during the live view are
  printed above it, through the same console.
- :class:`PlainDisplay` (output to a file or pipe, ``TERM=dumb``, or rich not
  installed): plain lines, without colour codes; every change for a handful
  of commands, only the ends and a progress line every tenth for many.

Where they live: ``_lines.py`` (JSON and plain lines), ``_live.py`` (the rich
display), ``_frame.py`` (its live view, fitted to the width), ``_summary.py``
(the final summary), ``_texts.py`` (what they all say about a command).
rich is imported only once the rich display is made or draws, so the core
library never needs it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from ._lines import JsonDisplay, PlainDisplay
from ._live import RichDisplay
from ._texts import FEW, format_duration

if TYPE_CHECKING:
    from ._track import Record, Tracker

__all__ = [
    "FEW",
    "Display",
    "JsonDisplay",
    "PlainDisplay",
    "RichDisplay",
    "can_redraw",
    "format_duration",
    "make_display",
    "rich_available",
]

REFRESH_PER_SECOND = 4.0
"""The live view is redrawn at most this often."""


class Display(Protocol):
    """What the watch loop tells a display."""

    def start(self, tracker: Tracker, title: str) -> None:
        """The watch begins."""

    def changed(self, rec: Record) -> None:
        """A command has a new snapshot (``rec.last``)."""

    def command_error(self, rec: Record) -> None:
        """A command's watch ended with an error (``rec.error``, ``rec.error_text``)."""

    def note(self, text: str) -> None:
        """A diagnostic for the user (standard error)."""

    def refresh(self) -> None:
        """Called a few times a second while watching."""

    def stop(self) -> None:
        """The watch ended (or was interrupted); leave the terminal tidy."""

    def summary(self, tracker: Tracker, extra: dict[str, Any]) -> None:
        """Print the final summary (``extra``: client counters worth showing)."""


def rich_available() -> bool:
    """True when rich (the ``cmdprogress[cli]`` extra) can be imported."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def can_redraw(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """False for terminals that cannot move the cursor (``TERM=dumb`` or ``unknown``).

    >>> can_redraw({"TERM": "dumb"}), can_redraw({"TERM": "xterm-256color"})
    (False, True)
    """
    return environ.get("TERM", "").lower() not in ("dumb", "unknown")


def make_display(
    *,
    json_lines: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> Display:
    """Choose the display: JSON lines, rich on a terminal that can redraw, else plain lines."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if json_lines:
        return JsonDisplay(out, err)
    tty = _isatty(out)
    if tty and can_redraw() and rich_available():
        return RichDisplay()
    display = PlainDisplay(out, err)
    if tty and can_redraw():
        display.note("tip: pip install 'cmdprogress[cli]' for a live progress display")
    return display


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
