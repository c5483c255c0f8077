"""Validation of command ids and resume snapshots, shared by the client, watcher and checkpoint.

Below every module that takes ids from callers, so none of them imports another for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ._models import CommandProgress
from .exceptions import InvalidArgumentError, InvalidCommandIdError

__all__ = ["MAX_ID", "validate_command_id", "validate_command_ids", "validate_since"]

MAX_ID: Final = 2**63 - 1
"""The largest command id: the Manager's ids are Java longs."""
_MAX_ID_DIGITS: Final = len(str(MAX_ID))


def validate_command_id(value: object) -> int:
    """Return ``value`` as a command id, or raise ``InvalidCommandIdError`` (a ``ValueError``).

    Accepted: a non-negative ``int`` (not a ``bool``) up to 2**63 - 1, or a
    string of ASCII digits with the same bound.  Nothing else, so no caller
    text ever reaches a URL path.

    >>> validate_command_id("0042")
    42
    """
    if value.__class__ is int or (isinstance(value, int) and not isinstance(value, bool)):
        number = int(value)
        if 0 <= number <= MAX_ID:
            return number
        raise InvalidCommandIdError(value)
    if (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_ID_DIGITS
        and value.isascii()
        and value.isdigit()
    ):
        number = int(value)
        if number <= MAX_ID:
            return number
    raise InvalidCommandIdError(value)


def validate_since(value: object) -> CommandProgress:
    """Return ``value`` if it is a snapshot to resume from, with a valid command id.

    A snapshot's ``command_id`` reaches the progress URL, so it is checked like
    any id given directly (``CommandProgress`` itself does not check it).
    """
    if not isinstance(value, CommandProgress):
        raise InvalidArgumentError(
            "since",
            f"expected a CommandProgress (a snapshot a watch yielded), got {type(value).__name__}",
        )
    validate_command_id(value.command_id)
    return value


def validate_command_ids(value: object, *, single: str) -> list[int]:
    """Return a collection of command ids as a list, each validated.

    A ``str``, ``bytes`` or ``int`` is not a collection of ids (``"12"`` would be
    read as the ids 1 and 2): :class:`InvalidArgumentError`, naming ``single``,
    the call for one id.

    >>> validate_command_ids(("11", 12), single="wait")
    [11, 12]
    """
    if isinstance(value, str | bytes | bytearray | memoryview | int) or not isinstance(
        value, Iterable
    ):
        raise InvalidArgumentError(
            "command_ids",
            f"expected a collection of command ids such as [1234, 1235], got "
            f"{type(value).__name__} {value!r:.40}; for one command, pass [id] or call {single}",
        )
    return [validate_command_id(c) for c in value]
