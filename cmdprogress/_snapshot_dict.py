"""Snapshots as plain data: what checkpoints are made of, and reading it back strictly."""

from __future__ import annotations

from typing import Any, Final

import cattrs
from cattrs.errors import IterableValidationError

from ._converter import converter, explainer, format_error, kind
from ._models import MAX_FAILED_ENTITIES, MAX_STEPS, CommandProgress
from .exceptions import InvalidArgumentError

__all__ = ["progress_from_dict", "progress_to_dict"]

_structure_snapshot: Final = converter.get_structure_hook(CommandProgress)
_unstructure_snapshot: Final = converter.get_unstructure_hook(CommandProgress)


def progress_to_dict(progress: CommandProgress) -> dict[str, Any]:
    """A snapshot as plain JSON-able data (``progress_from_dict`` reads it back, equal).

    Keys are the field names of :class:`~cmdprogress.CommandProgress`; fields
    at their default value are left out. The Manager's own key spellings
    (camelCase or snake_case) are not kept: the values are.

    >>> import json
    >>> from cmdprogress import CommandProgress, CommandState
    >>> p = CommandProgress(command_id=7, state=CommandState.IN_PROGRESS, total_progress=40.0)
    >>> json.dumps(progress_to_dict(p))
    '{"command_id": 7, "state": "IN_PROGRESS", "total_progress": 40.0}'
    >>> progress_from_dict(json.loads(json.dumps(progress_to_dict(p)))) == p
    True
    """
    if progress.__class__ is not CommandProgress:
        raise InvalidArgumentError(
            "progress", f"expected a CommandProgress, got {type(progress).__name__}"
        )
    data: dict[str, Any] = _unstructure_snapshot(progress)
    return data


_CAPS: Final = (("steps", MAX_STEPS), ("failed_entities", MAX_FAILED_ENTITIES))


def _over_caps(data: dict[str, Any]) -> bool:
    """More steps or failed instances than a snapshot keeps (what we wrote never has)."""
    return any(data.get(key).__class__ is list and len(data[key]) > cap for key, cap in _CAPS)


def _snapshot_limits(data: dict[str, Any]) -> list[str]:
    """What a structured snapshot breaks of the models' rules (its id, the caps on lists)."""
    errors = []
    if data["command_id"] < 0:
        errors.append(f"expected a command id (>= 0), got {data['command_id']} @ $.command_id")
    for key, cap in _CAPS:
        if data.get(key).__class__ is list and len(data[key]) > cap:
            errors.append(f"expected at most {cap} items, got {len(data[key])} @ $.{key}")
    return errors


def progress_from_dict(data: Any, *, argument: str = "data") -> CommandProgress:
    """Read back what :func:`progress_to_dict` wrote (after a trip through JSON, say).

    Anything else raises :class:`~cmdprogress.exceptions.InvalidArgumentError`
    naming the path of each wrong value; ``argument`` is the name it carries.

    >>> progress_from_dict({"command_id": 7, "state": "COMPLETE", "total_progress": 100})
    CommandProgress(command_id=7, state=<CommandState.COMPLETE: 'COMPLETE'>, ...)
    >>> progress_from_dict({"command_id": "x", "state": "DONE"})
    Traceback (most recent call last):
    ...
    cmdprogress.exceptions.InvalidArgumentError: data: not a snapshot written by \
progress_to_dict(): expected a whole number within 64 bits, got text 'x' @ $.command_id; \
expected one of COMPLETE, FAILED, IN_PROGRESS, NEW, UNKNOWN, got text 'DONE' @ $.state
    """
    if data.__class__ is dict and "command_id" in data and "state" in data and not _over_caps(data):
        try:
            p: CommandProgress = _structure_snapshot(data, CommandProgress)
        except Exception:  # explained below, with paths
            pass
        else:
            if p.command_id >= 0:
                return p
    errors: list[str]
    if not isinstance(data, dict):
        errors = [f"expected an object, got {kind(data)} @ $"]
    else:
        errors = [
            f"missing required field @ $.{k}" for k in ("command_id", "state") if k not in data
        ]
        if not errors:
            try:
                explainer.structure(data, CommandProgress)
            except (cattrs.ClassValidationError, IterableValidationError) as exc:
                errors = cattrs.transform_error(exc, path="$", format_exception=format_error)
            except Exception as exc:  # pragma: no cover - defensive
                errors = [f"cannot read ({type(exc).__name__}) @ $"]
            else:
                errors = _snapshot_limits(data)
    shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
    raise InvalidArgumentError(argument, f"not a snapshot written by progress_to_dict(): {shown}")
