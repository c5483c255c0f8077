"""Watcher checkpoints: what a watch has handed out, as plain data a new process resumes from.

A checkpoint names every command a :class:`~cmdprogress.Watcher` still owes
its consumer something for, each with the last snapshot the consumer got
(``None`` before the first)::

    {"format": "cmdprogress.checkpoint/1",
     "commands": [{"id": 11, "last": {"command_id": 11, "state": "IN_PROGRESS", ...}},
                  {"id": 12, "last": null}]}

Snapshots are written by :func:`~cmdprogress.progress_to_dict`. A command
whose terminal snapshot was handed out is done and left out; one whose watch
ended with an error stays in (a new process polls it again). Resuming
(``client.watcher(resume_from=checkpoint)``) is a watch ``since`` each last
snapshot: only what differs from it is delivered, so the first snapshot
after a restart is the current one when it changed, and a command that
ended meanwhile is delivered once, with its terminal snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ._ids import validate_command_id
from ._snapshot_dict import progress_from_dict, progress_to_dict
from .exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._models import CommandProgress

__all__ = ["FORMAT", "make_checkpoint", "read_checkpoint"]

FORMAT: Final = "cmdprogress.checkpoint/1"
_HINT: Final = "; pass what Watcher.checkpoint() returned (after json.loads, if stored as JSON)"


def make_checkpoint(owed: Mapping[int, CommandProgress | None]) -> dict[str, Any]:
    """The checkpoint of a watch that owes its consumer ``owed`` (id: last snapshot handed out)."""
    return {
        "format": FORMAT,
        "commands": [
            {"id": cid, "last": None if p is None else progress_to_dict(p)}
            for cid, p in owed.items()
        ],
    }


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError("resume_from", message + _HINT)


def read_checkpoint(data: object) -> dict[int, CommandProgress | None]:
    """Validate a checkpoint (untrusted input); return ``{id: last snapshot or None}``.

    Raises :class:`~cmdprogress.exceptions.InvalidArgumentError` (``argument``
    ``"resume_from"``) naming the first wrong value.

    >>> read_checkpoint({"format": FORMAT, "commands": [{"id": 5, "last": None}]})
    {5: None}
    >>> read_checkpoint({"commands": []})
    Traceback (most recent call last):
    ...
    cmdprogress.exceptions.InvalidArgumentError: resume_from: not a cmdprogress checkpoint \
(format is missing, expected 'cmdprogress.checkpoint/1'); pass what Watcher.checkpoint() \
returned (after json.loads, if stored as JSON)
    """
    if not isinstance(data, dict):
        raise _bad(f"expected a checkpoint (a dict), got {type(data).__name__}")
    fmt = data.get("format")
    if fmt != FORMAT:
        shown = "missing" if fmt is None else repr(fmt)[:40]
        raise _bad(f"not a cmdprogress checkpoint (format is {shown}, expected {FORMAT!r})")
    entries = data.get("commands")
    if not isinstance(entries, list):
        raise _bad(f"$.commands: expected a list, got {type(entries).__name__}")
    out: dict[int, CommandProgress | None] = {}
    for i, entry in enumerate(entries):
        where = f"$.commands[{i}]"
        if not isinstance(entry, dict) or "id" not in entry:
            raise _bad(f"{where}: expected an object with an 'id', got {type(entry).__name__}")
        try:
            cid = validate_command_id(entry["id"])
        except InvalidArgumentError:
            shown = repr(entry["id"])[:40]
            raise _bad(f"{where}.id: {shown} is not a command id") from None
        if cid in out:
            raise _bad(f"{where}.id: command {cid} is listed twice")
        last = entry.get("last")
        p: CommandProgress | None = None
        if last is not None:
            try:
                p = progress_from_dict(last, argument="resume_from")
            except InvalidArgumentError as e:
                raise _bad(f"{where}.last: {str(e).removeprefix('resume_from: ')}") from None
            if p.command_id != cid:
                raise _bad(f"{where}.last: is a snapshot of command {p.command_id}, not of {cid}")
        out[cid] = p
    return out
