"""Decoding the Manager's answers: JSON, then the one converter, or a typed error.

Every body the Manager sends goes through :func:`decode_progress` (the progress
endpoint) or :func:`decode_action` (start / stop / save).  Both return frozen
values or raise :class:`~cmdprogress.exceptions.MalformedResponseError` whose
``errors`` are readable paths such as ``"expected a number, got text 'abc' @
$.total_progress"``; nothing else ever escapes.  What each field accepts is
decided in :mod:`cmdprogress._converter` (``docs/decoding.md`` has the table).

The fast path parses (orjson when installed) and structures without detailed
validation; only when it fails is the body parsed again by the standard
library and structured by the detailed-validation copy of the converter, to
say where and why.
"""

from __future__ import annotations

import codecs
import json
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import attrs
import cattrs
from cattrs.errors import IterableValidationError

from ._converter import (
    STATES,
    WireAction,
    WireProgress,
    WireResObj,
    converter,
    explainer,
    format_error,
    kind,
    split_omitted,
)
from ._models import CommandProgress, CommandState, FailedEntity
from .exceptions import MalformedResponseError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from yarl import URL

__all__ = ["ActionResult", "converter", "decode_action", "decode_progress"]


_orjson: ModuleType | None
try:  # pragma: no cover - which branch runs depends on the environment
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None


_W = TypeVar("_W")


@attrs.frozen
class ActionResult:
    """The answer to start / stop / save: the command id to poll and its first state.

    Internal; the client turns it into a command id or ``ActionRejectedError``.

    >>> decode_action(b'{"id": 12, "state": "NEW"}').id
    12
    """

    id: int = -1
    state: CommandState = CommandState.UNKNOWN
    raw_state: str = ""
    error_code: int = 0
    error_description: str = ""


# The wire shapes (WireProgress, ...) and what each field accepts: _converter.py.
_structure_progress: Final = converter.get_structure_hook(WireProgress)
_structure_action: Final = converter.get_structure_hook(WireAction)
_UNKNOWN: Final = CommandState.UNKNOWN
_NO_RES_OBJ: Final = WireResObj()


# --------------------------------------------------------------------------- JSON


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


# Built once: ``json.loads`` with keyword arguments would build a decoder per call.
_JSON_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)


def _loads_stdlib(body: bytes) -> Any:
    """Parse strict UTF-8 JSON; NaN, Infinity and lone surrogates are refused."""
    data = _JSON_DECODER.decode(body.decode("utf-8"))
    if b"\\u" in body and (b"\\ud" in body or b"\\uD" in body):
        # An escaped surrogate: refuse a lone one (as orjson does), since the text
        # could not be written out as UTF-8 later.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    return data


def _loads_orjson(body: bytes) -> Any:  # pragma: no cover - only with orjson
    return _orjson.loads(body)  # type: ignore[union-attr]


_loads: Callable[[bytes], Any] = _loads_orjson if _orjson is not None else _loads_stdlib


def _why_not_json(body: bytes, exc: Exception) -> str:
    """Explain why the standard library's parser refused ``body`` (slow path only)."""
    head = body.lstrip()[:16].lower()
    if not head:
        return "empty body, expected a JSON object"
    if head.startswith(codecs.BOM_UTF8):
        return "starts with a byte order mark, which JSON does not allow"
    if head.startswith(b"<"):
        return (
            "got an HTML page, not JSON: the Manager may have redirected to a login or error page"
        )
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {exc.start}), expected a JSON object"
    if isinstance(exc, UnicodeEncodeError):
        return "not valid JSON (a lone surrogate escape in a string)"
    if isinstance(exc, RecursionError):
        return "nested too deeply to be a progress document"
    return f"not valid JSON ({exc})"


def _slow_structure(body: bytes, cls: type[_W]) -> _W | list[str]:
    """Decode a body the fast path refused, or explain why it cannot be decoded.

    The standard library's parser has the last word whatever the fast parser
    was, so the accepted documents do not depend on whether orjson is installed.
    Returns the wire value, or the error paths.
    """
    try:
        data = _loads_stdlib(body)
    except Exception as exc:  # ValueError, UnicodeError, RecursionError
        return [f"{_why_not_json(body, exc)} @ $"]
    if data.__class__ is not dict:
        return [f"expected a JSON object, got {kind(data)} @ $"]
    try:
        return converter.structure(data, cls)
    except Exception:
        pass
    try:
        explainer.structure(data, cls)
    except (cattrs.ClassValidationError, IterableValidationError) as exc:
        return cattrs.transform_error(exc, path="$", format_exception=format_error)
    except Exception as exc:  # pragma: no cover - defensive: never let anything else out
        return [f"cannot decode ({type(exc).__name__}) @ $"]
    return ["cannot decode @ $"]  # pragma: no cover - the converters disagree


def _malformed(
    errors: list[str], what: str, *, body: bytes, url: str | URL, command_id: int | None
) -> MalformedResponseError:
    shown = "; ".join(errors[:3])
    if len(errors) > 3:
        shown += f" (and {len(errors) - 3} more)"
    return MalformedResponseError(
        f"{what} is not a document cmdprogress can read: {shown}. Check that the base URL "
        "points at the Manager's web app; if it persists, report the body excerpt",
        url=str(url),
        command_id=command_id,
        errors=errors,
        body=body,
    )


# --------------------------------------------------------------------------- decoding


def decode_progress(command_id: int, body: bytes, *, url: str | URL = "") -> CommandProgress:
    """Decode the body of a 200 answer from the progress endpoint.

    ``url``, where the body came from, is written into an error only (as text).

    Raises :class:`~cmdprogress.exceptions.MalformedResponseError` (and nothing
    else) when the body is not a progress document.

    >>> p = decode_progress(7, b'{"state": "IN_PROGRESS", "totalProgress": 40}')
    >>> p.state, p.total_progress
    (<CommandState.IN_PROGRESS: 'IN_PROGRESS'>, 40.0)
    """
    return _decode_progress(_loads, command_id, body, url)


def _decode_progress(
    loads: Callable[[bytes], Any], command_id: int, body: bytes, url: str | URL
) -> CommandProgress:
    """:func:`decode_progress` with a given JSON parser (the benchmark compares them)."""
    try:
        data = loads(body)
        if data.__class__ is not dict:
            raise TypeError
        wire: WireProgress = _structure_progress(data, WireProgress)
    except Exception:
        result = _slow_structure(body, WireProgress)
        if isinstance(result, list):
            raise _malformed(
                result,
                f"the progress answer for command {command_id}",
                body=body,
                url=url,
                command_id=command_id,
            ) from None
        wire = result
    raw_state = wire.state
    res = wire.res_obj
    if res is None:
        res = _NO_RES_OBJ
    steps, steps_omitted = split_omitted(res.step_list)
    failed = res.fail_entity_list
    if failed:
        failed, failed_omitted = split_omitted(failed)
        entities = tuple([FailedEntity(f.fail_entity, f.operation_type) for f in failed])
    else:
        entities, failed_omitted = (), 0
    total_progress = wire.total_progress
    error_code = wire.error_code
    total_step_size = res.total_step_size
    wire_id = wire.id
    # Positional, in the order of the fields: keywords cost more on every poll.
    return CommandProgress(
        command_id,
        STATES.get(raw_state, _UNKNOWN),
        0.0 if total_progress is None else total_progress,
        0 if error_code is None else error_code,
        wire.error_description,
        steps,
        entities,
        0 if total_step_size is None else total_step_size,
        res.cluster_id,
        raw_state,
        -1 if wire_id is None else wire_id,
        steps_omitted,
        failed_omitted,
    )


def decode_action(body: bytes, *, url: str = "") -> ActionResult:
    """Decode the answer to start / stop / save (``{id, state, error_code, ...}``).

    Raises :class:`~cmdprogress.exceptions.MalformedResponseError` (and nothing
    else) when the body is not such a document.

    >>> decode_action(b'{"id": 12, "state": "NEW", "errorCode": null}').error_code
    0
    """
    try:
        data = _loads(body)
        if data.__class__ is not dict:
            raise TypeError
        wire: WireAction = _structure_action(data, WireAction)
    except Exception:
        result = _slow_structure(body, WireAction)
        if isinstance(result, list):
            raise _malformed(
                result, "the answer to the request", body=body, url=url, command_id=None
            ) from None
        wire = result
    return ActionResult(
        id=-1 if wire.id is None else wire.id,
        state=STATES.get(wire.state, _UNKNOWN),
        raw_state=wire.state,
        error_code=0 if wire.error_code is None else wire.error_code,
        error_description=wire.error_description,
    )
