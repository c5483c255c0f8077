"""The one cattrs converter: wire names, leniency and error paths.

Every body the Manager sends goes through :func:`decode_progress` (the progress
endpoint) or :func:`decode_action` (start / stop / save).  Both return frozen
values or raise :class:`~cmdprogress.exceptions.MalformedResponseError` whose
``errors`` are readable paths such as ``"expected a number, got text 'abc' @
$.total_progress"``; nothing else ever escapes.

What is accepted and what it becomes is decided here, field kind by field kind
(``docs/decoding.md`` has the table, each row with its test):

* keys: the documented snake_case and the camelCase a real FusionInsight
  server sends, also mixed; when both spellings are present the snake_case one
  wins; unknown keys are ignored.
* text: a string; ``null`` becomes ``""``; anything else is rejected (never
  ``str(x)``, so ``null`` never becomes ``"None"``).
* whole numbers: an integer, a float with no fractional part (``1.0``) or a
  string of decimal digits (``"-300"``); ``null`` or missing gives the default;
  ``1.9``, booleans, ``"abc"`` are rejected.
* numbers: an integer or a finite float, or a string holding a JSON number
  (``"50"``, ``"12.5"``); ``null`` or missing gives ``0.0``; booleans, NaN and
  infinities are rejected.  The value is kept as sent (not clamped to 0-100).
* lists: a JSON array; ``null`` or missing gives ``()``; anything else rejected.
* objects: a JSON object; ``null`` or missing ``res_obj`` gives the defaults.
* ``state``: the text is kept as ``raw_state``; unknown text maps to
  ``CommandState.UNKNOWN``; ``null`` or missing gives ``UNKNOWN`` with
  ``raw_state == ""``.

Speed: the converter is on the path of every poll.  The hooks are generated,
specialised functions (``make_dict_structure_fn``) without detailed
validation; only when that fast path fails is the body structured again with a
detailed-validation copy of the same converter, to build the error paths.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import attrs
import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn
from cattrs.v import format_exception as _cattrs_format_exception

from ._models import (
    MAX_FAILED_ENTITIES,
    MAX_STEPS,
    CommandProgress,
    CommandState,
    FailedEntity,
    Step,
)
from .exceptions import InvalidArgumentError, MalformedResponseError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import ModuleType

__all__ = [
    "ActionResult",
    "converter",
    "decode_action",
    "decode_progress",
    "progress_from_dict",
    "progress_to_dict",
]

_orjson: ModuleType | None
try:  # pragma: no cover - which branch runs depends on the environment
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None


_W = TypeVar("_W")

# --------------------------------------------------------------------------- values


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


# Wire shapes: the documented snake_case names, so error paths use them too.
# ``None`` in a numeric field means "null or missing": the default applies.
# Not frozen: they live only inside the decoder, between the JSON and the frozen
# snapshot, and a frozen class's __init__ costs ~2x a plain slotted one's.


@attrs.define
class _WireFailEntity:
    fail_entity: str = ""
    operation_type: str = ""


@attrs.define
class _WireResObj:
    cluster_id: int | None = None
    step_list: tuple[Step, ...] = ()
    fail_entity_list: tuple[_WireFailEntity, ...] = ()
    total_step_size: int | None = None


@attrs.define
class _WireProgress:
    id: int | None = None
    state: str = ""
    error_code: int | None = None
    error_description: str = ""
    total_progress: float | None = None
    res_obj: _WireResObj | None = None


@attrs.define
class _WireAction:
    id: int | None = None
    state: str = ""
    error_code: int | None = None
    error_description: str = ""


# camelCase spellings of each class's keys (a real FusionInsight server uses them).
_ALIASES: Final[dict[type, dict[str, str]]] = {
    _WireProgress: {
        "errorCode": "error_code",
        "errorDescription": "error_description",
        "totalProgress": "total_progress",
        "resObj": "res_obj",
    },
    _WireAction: {"errorCode": "error_code", "errorDescription": "error_description"},
    _WireResObj: {
        "clusterId": "cluster_id",
        "stepList": "step_list",
        "failEntityList": "fail_entity_list",
        "totalStepSize": "total_step_size",
    },
    _WireFailEntity: {"failEntity": "fail_entity", "operationType": "operation_type"},
    Step: {},
    # The library's own snapshot format (progress_to_dict): the models' field names.
    FailedEntity: {},
    CommandProgress: {},
}


# --------------------------------------------------------------------------- simple types


class _WireValueError(ValueError):
    """A value of the wrong kind; its message is the readable description."""


def _kind(value: object) -> str:
    """Name a JSON value's kind for an error message."""
    if value is None:
        return "null"
    if value is True or value is False:
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        shown = repr(value)
        return f"the number {shown if len(shown) <= 24 else shown[:21] + '...'}"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - JSON has no other kinds


def _reject(expected: str, value: object) -> NoReturn:
    raise _WireValueError(f"expected {expected}, got {_kind(value)}")


_INT_TEXT: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,30})")
_NUMBER_TEXT: Final = re.compile(
    r"-?(?:0|[1-9][0-9]{0,30})(?:\.[0-9]{1,30})?(?:[eE][+-]?[0-9]{1,4})?"
)


def _structure_text(value: Any, _: object) -> str:
    """Text: a string, or ``null`` read as ``""``."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    _reject("text", value)


_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1


def _structure_int(value: Any, _: object) -> int | None:
    """A whole number within 64 bits; ``None`` (null) lets the caller apply the default."""
    cls = value.__class__
    if cls is int:
        if _INT_MIN <= value <= _INT_MAX:
            return value  # type: ignore[no-any-return]
        _reject("a whole number within 64 bits", value)
    if value is None:
        return None
    if cls is float:
        if value.is_integer():  # False for NaN and the infinities
            return _structure_int(int(value), _)
        _reject("a whole number", value)
    if cls is str and _INT_TEXT.fullmatch(value):
        return _structure_int(int(value), _)
    _reject("a whole number", value)


def _structure_float(value: Any, _: object) -> float | None:
    """A finite number; ``None`` (null) lets the caller apply the default."""
    cls = value.__class__
    if cls is float:
        if math.isfinite(value):
            return value  # type: ignore[no-any-return]
        _reject("a finite number", value)
    if value is None:
        return None
    if cls is int:
        try:
            return float(value)
        except OverflowError:
            _reject("a number of sensible size", value)
    if cls is str and _NUMBER_TEXT.fullmatch(value):
        number = float(value)
        if math.isfinite(number):
            return number
        _reject("a finite number", value)
    _reject("a number", value)


# Plain ``int`` / ``float`` / ``CommandState`` appear only in the models, i.e. in the
# library's own snapshot format (progress_to_dict), never on the wire: exact kinds only.


def _structure_exact_int(value: Any, _: object) -> int:
    if value.__class__ is int and _INT_MIN <= value <= _INT_MAX:
        return value
    _reject("a whole number within 64 bits", value)


def _structure_exact_float(value: Any, _: object) -> float:
    cls = value.__class__
    if (cls is float and math.isfinite(value)) or (cls is int and abs(value) < 2**53):
        return float(value)
    _reject("a finite number", value)


def _structure_state(value: Any, _: object) -> CommandState:
    state = _STATES.get(value) if value.__class__ is str else None
    if state is None:
        _reject(f"one of {', '.join(sorted(_STATES))}", value)
    return state


# --------------------------------------------------------------------------- converter


def _normalise_keys(obj: dict[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """Return ``obj`` with camelCase keys renamed; a snake_case key present wins."""
    out = {aliases[key]: value for key, value in obj.items() if key in aliases}
    out.update(obj)
    return out


def _is_wire_class(cls: Any) -> bool:
    return cls in _ALIASES


def _object_hook_factory(cls: type[Any], conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Structure a JSON object into ``cls``: key aliases, then cattrs' generated function."""
    inner = make_dict_structure_fn(cls, conv)
    aliases = _ALIASES[cls]
    alias_keys = aliases.keys()

    def structure_object(obj: Any, _: object) -> Any:
        if obj.__class__ is not dict:
            _reject("an object", obj)
        if not alias_keys.isdisjoint(obj):
            obj = _normalise_keys(obj, aliases)
        return inner(obj, cls)

    def structure_plain_object(obj: Any, _: object) -> Any:
        if obj.__class__ is not dict:
            _reject("an object", obj)
        return inner(obj, cls)

    # Without a check, a string would pass: ``"name" in "..."`` is a substring test.
    return structure_object if aliases else structure_plain_object


def _optional_wire_class(cls: Any) -> bool:
    """``X | None`` of a wire class (``res_obj``)."""
    args: tuple[Any, ...] = getattr(cls, "__args__", ())
    return len(args) == 2 and args[1] is type(None) and args[0] in _ALIASES


def _optional_hook_factory(cls: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """``null`` is ``None``, anything else the wire class's own hook.

    What cattrs' generic optional hook does, without looking the inner hook up
    on every call (it is on the path of every poll).
    """
    inner_type = cls.__args__[0]
    inner = conv.get_structure_hook(inner_type)

    def structure_optional(obj: Any, _: object) -> Any:
        if obj is None:
            return None
        return inner(obj, inner_type)

    return structure_optional


class _Capped(tuple):  # type: ignore[type-arg]
    """A wire list cut to its cap: the last items, and ``omitted``, how many were left out.

    Only the decoder sees it: the snapshot gets a plain tuple and the count.
    """

    omitted: int


def _capped(items: list[Any], omitted: int) -> tuple[Any, ...]:
    out = _Capped(items)
    out.omitted = omitted
    return out


def _omitted(items: tuple[Any, ...]) -> tuple[tuple[Any, ...], int]:
    """``items`` as a plain tuple, and how many the cap left out."""
    if items.__class__ is _Capped:
        return tuple(items), items.omitted
    return items, 0


def _cap_of(item_type: Any) -> int | None:
    if item_type is Step:
        return MAX_STEPS
    if item_type is _WireFailEntity:
        return MAX_FAILED_ENTITIES
    return None


def _is_homogeneous_tuple(cls: Any) -> bool:
    args: tuple[Any, ...] = getattr(cls, "__args__", ())
    return getattr(cls, "__origin__", None) is tuple and len(args) == 2 and args[1] is Ellipsis


def _list_hook_factory(cls: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Structure a JSON array into a tuple; ``null`` is empty, anything else is rejected."""
    item_type = cls.__args__[0]
    item_hook = conv.get_structure_hook(item_type)
    cap = _cap_of(item_type)

    if not conv.detailed_validation:

        def structure_list(obj: Any, _: object) -> tuple[Any, ...]:
            if obj.__class__ is list:
                if cap is not None and len(obj) > cap:
                    # Only the last `cap` items are structured (and checked).
                    return _capped(
                        [item_hook(item, item_type) for item in obj[-cap:]], len(obj) - cap
                    )
                return tuple([item_hook(item, item_type) for item in obj])
            if obj is None:
                return ()
            _reject("a list", obj)

        return structure_list

    def structure_list_detailed(obj: Any, _: object) -> tuple[Any, ...]:
        if obj is None:
            return ()
        if obj.__class__ is not list:
            _reject("a list", obj)
        errors: list[Exception] = []
        items = []
        start = 0 if cap is None or len(obj) <= cap else len(obj) - cap
        for index, item in enumerate(obj[start:], start):
            try:
                items.append(item_hook(item, item_type))
            except Exception as exc:
                note = IterableValidationNote(
                    f"Structuring {cls} @ index {index}", index, item_type
                )
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {cls!r}", errors, cls)
        return _capped(items, start) if start else tuple(items)

    return structure_list_detailed


def _build_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    # Simple types first, so every class hook generated below picks them up.
    conv.register_structure_hook(str, _structure_text)
    # Predicate hooks (not the union registry), so that ``copy()`` keeps them.
    conv.register_structure_hook_func(lambda t: t == int | None, _structure_int)
    conv.register_structure_hook_func(lambda t: t == float | None, _structure_float)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, _list_hook_factory)
    conv.register_structure_hook(int, _structure_exact_int)
    conv.register_structure_hook(float, _structure_exact_float)
    conv.register_structure_hook(CommandState, _structure_state)
    conv.register_structure_hook_factory(_is_wire_class, _object_hook_factory)
    conv.register_structure_hook_factory(_optional_wire_class, _optional_hook_factory)
    # Snapshots to plain data: fields left at their default are omitted (smaller
    # checkpoints); enums become their value, tuples lists (cattrs' defaults).
    conv.register_unstructure_hook(
        CommandProgress,
        make_dict_unstructure_fn(CommandProgress, conv, _cattrs_omit_if_default=True),
    )
    return conv


converter: Final[cattrs.Converter] = _build_converter()
"""The library's one converter (fast path, no detailed validation)."""

# The same hooks with detailed validation: used only after the fast path failed,
# to say where.  Its hook factories regenerate the class functions in detailed mode.
_explainer: Final[cattrs.Converter] = converter.copy(detailed_validation=True)

_structure_progress: Final = converter.get_structure_hook(_WireProgress)
_structure_action: Final = converter.get_structure_hook(_WireAction)
_structure_snapshot: Final = converter.get_structure_hook(CommandProgress)
_unstructure_snapshot: Final = converter.get_unstructure_hook(CommandProgress)


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


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, _WireValueError):
        return str(exc)
    return _cattrs_format_exception(exc, type_)  # pragma: no cover - our hooks say why


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
        return [f"expected a JSON object, got {_kind(data)} @ $"]
    try:
        return converter.structure(data, cls)
    except Exception:
        pass
    try:
        _explainer.structure(data, cls)
    except (cattrs.ClassValidationError, IterableValidationError) as exc:
        return cattrs.transform_error(exc, path="$", format_exception=_format)
    except Exception as exc:  # pragma: no cover - defensive: never let anything else out
        return [f"cannot decode ({type(exc).__name__}) @ $"]
    return ["cannot decode @ $"]  # pragma: no cover - the converters disagree


def _malformed(
    errors: list[str], what: str, *, body: bytes, url: str, command_id: int | None
) -> MalformedResponseError:
    shown = "; ".join(errors[:3])
    if len(errors) > 3:
        shown += f" (and {len(errors) - 3} more)"
    return MalformedResponseError(
        f"{what} is not a document cmdprogress can read: {shown}. Check that the base URL "
        "points at the Manager's web app; if it persists, report the body excerpt",
        url=url,
        command_id=command_id,
        errors=errors,
        body=body,
    )


# --------------------------------------------------------------------------- decoding


def decode_progress(command_id: int, body: bytes, *, url: str = "") -> CommandProgress:
    """Decode the body of a 200 answer from the progress endpoint.

    Raises :class:`~cmdprogress.exceptions.MalformedResponseError` (and nothing
    else) when the body is not a progress document.

    >>> p = decode_progress(7, b'{"state": "IN_PROGRESS", "totalProgress": 40}')
    >>> p.state, p.total_progress
    (<CommandState.IN_PROGRESS: 'IN_PROGRESS'>, 40.0)
    """
    return _decode_progress(_loads, command_id, body, url)


def _decode_progress(
    loads: Callable[[bytes], Any], command_id: int, body: bytes, url: str
) -> CommandProgress:
    """:func:`decode_progress` with a given JSON parser (the benchmark compares them)."""
    try:
        data = loads(body)
        if data.__class__ is not dict:
            raise TypeError
        wire: _WireProgress = _structure_progress(data, _WireProgress)
    except Exception:
        result = _slow_structure(body, _WireProgress)
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
    steps, steps_omitted = _omitted(res.step_list)
    failed, failed_omitted = _omitted(res.fail_entity_list)
    return CommandProgress(
        command_id=command_id,
        state=_STATES.get(raw_state, _UNKNOWN),
        raw_state=raw_state,
        total_progress=0.0 if wire.total_progress is None else wire.total_progress,
        error_code=0 if wire.error_code is None else wire.error_code,
        error_description=wire.error_description,
        steps=steps,
        failed_entities=tuple([FailedEntity(f.fail_entity, f.operation_type) for f in failed]),
        total_step_size=0 if res.total_step_size is None else res.total_step_size,
        cluster_id=res.cluster_id,
        wire_id=-1 if wire.id is None else wire.id,
        steps_omitted=steps_omitted,
        failed_entities_omitted=failed_omitted,
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
        wire: _WireAction = _structure_action(data, _WireAction)
    except Exception:
        result = _slow_structure(body, _WireAction)
        if isinstance(result, list):
            raise _malformed(
                result, "the answer to the request", body=body, url=url, command_id=None
            ) from None
        wire = result
    return ActionResult(
        id=-1 if wire.id is None else wire.id,
        state=_STATES.get(wire.state, _UNKNOWN),
        raw_state=wire.state,
        error_code=0 if wire.error_code is None else wire.error_code,
        error_description=wire.error_description,
    )


# Exact, case-sensitive match like CommandState.parse; "UNKNOWN" on the wire is UNKNOWN.
_STATES: Final[dict[str, CommandState]] = {s.value: s for s in CommandState}
_UNKNOWN: Final = CommandState.UNKNOWN
_NO_RES_OBJ: Final = _WireResObj()


# --------------------------------------------------------------------------- snapshots as data


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
        errors = [f"expected an object, got {_kind(data)} @ $"]
    else:
        errors = [
            f"missing required field @ $.{k}" for k in ("command_id", "state") if k not in data
        ]
        if not errors:
            try:
                _explainer.structure(data, CommandProgress)
            except (cattrs.ClassValidationError, IterableValidationError) as exc:
                errors = cattrs.transform_error(exc, path="$", format_exception=_format)
            except Exception as exc:  # pragma: no cover - defensive
                errors = [f"cannot read ({type(exc).__name__}) @ $"]
            else:
                errors = _snapshot_limits(data)
    shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
    raise InvalidArgumentError(argument, f"not a snapshot written by progress_to_dict(): {shown}")
