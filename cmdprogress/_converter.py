"""The one cattrs converter: the wire shapes, their key spellings and what each field accepts.

:mod:`cmdprogress._convert` runs it on every body the Manager sends;
:mod:`cmdprogress._snapshot_dict` on the library's own snapshot format.  A
value of the wrong kind raises :class:`_WireValueError`, whose message is the
readable reason (``"expected a number, got text 'abc'"``) that the error paths
carry.

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

import math
import re
from typing import TYPE_CHECKING, Any, Final, NoReturn

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

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["converter"]

# Wire shapes: the documented snake_case names, so error paths use them too.
# ``None`` in a numeric field means "null or missing": the default applies.
# Not frozen: they live only inside the decoder, between the JSON and the frozen
# snapshot, and a plain slotted class is cheaper to build than a frozen one.


@attrs.define
class WireFailEntity:
    fail_entity: str = ""
    operation_type: str = ""


@attrs.define
class WireResObj:
    cluster_id: int | None = None
    step_list: tuple[Step, ...] = ()
    fail_entity_list: tuple[WireFailEntity, ...] = ()
    total_step_size: int | None = None


@attrs.define
class WireProgress:
    id: int | None = None
    state: str = ""
    error_code: int | None = None
    error_description: str = ""
    total_progress: float | None = None
    res_obj: WireResObj | None = None


@attrs.define
class WireAction:
    id: int | None = None
    state: str = ""
    error_code: int | None = None
    error_description: str = ""


# camelCase spellings of each class's keys (a real FusionInsight server uses them).
_ALIASES: Final[dict[type, dict[str, str]]] = {
    WireProgress: {
        "errorCode": "error_code",
        "errorDescription": "error_description",
        "totalProgress": "total_progress",
        "resObj": "res_obj",
    },
    WireAction: {"errorCode": "error_code", "errorDescription": "error_description"},
    WireResObj: {
        "clusterId": "cluster_id",
        "stepList": "step_list",
        "failEntityList": "fail_entity_list",
        "totalStepSize": "total_step_size",
    },
    WireFailEntity: {"failEntity": "fail_entity", "operationType": "operation_type"},
    Step: {},
    # The library's own snapshot format (progress_to_dict): the models' field names.
    FailedEntity: {},
    CommandProgress: {},
}


# --------------------------------------------------------------------------- simple types


class _WireValueError(ValueError):
    """A value of the wrong kind; its message is the readable description."""


def kind(value: object) -> str:
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
    raise _WireValueError(f"expected {expected}, got {kind(value)}")


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
    state = STATES.get(value) if value.__class__ is str else None
    if state is None:
        _reject(f"one of {', '.join(sorted(STATES))}", value)
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
    if inner_type in _ALIASES and not conv.detailed_validation:
        # The object hook's work in this one call: no second call per optional object.
        generated = make_dict_structure_fn(inner_type, conv)
        aliases = _ALIASES[inner_type]
        alias_keys = aliases.keys()

        def structure_optional_object(obj: Any, _: object) -> Any:
            if obj.__class__ is dict:
                if not alias_keys.isdisjoint(obj):
                    obj = _normalise_keys(obj, aliases)
                return generated(obj, inner_type)
            if obj is None:
                return None
            _reject("an object", obj)

        return structure_optional_object
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


def split_omitted(items: tuple[Any, ...]) -> tuple[tuple[Any, ...], int]:
    """``items`` as a plain tuple, and how many the cap left out."""
    if items.__class__ is _Capped:
        return tuple(items), items.omitted
    return items, 0


def _cap_of(item_type: Any) -> int | None:
    if item_type is Step:
        return MAX_STEPS
    if item_type is WireFailEntity:
        return MAX_FAILED_ENTITIES
    return None


def _is_homogeneous_tuple(cls: Any) -> bool:
    args: tuple[Any, ...] = getattr(cls, "__args__", ())
    return getattr(cls, "__origin__", None) is tuple and len(args) == 2 and args[1] is Ellipsis


STEPS_KEPT: Final = 512
"""Distinct steps the step interning remembers before it starts again."""
STEP_TEXT_KEPT: Final = 200
"""The longest name plus description (characters) of a step the interning remembers."""


def _interning_step_hook(structure: Callable[[Any, Any], Step]) -> Callable[[Any, Any], Step]:
    """Structure a step, handing out one :class:`Step` per distinct name and description.

    Successive answers for a command repeat its steps: each is structured
    (and checked) once, then found by its two texts, so snapshots share their
    steps and compare them by identity.  What is not two texts (``null``, a
    wrong kind) goes to ``structure``, the generated hook, which decides.
    Bounded memory: at most :data:`STEPS_KEPT` steps of at most
    :data:`STEP_TEXT_KEPT` characters are remembered; longer ones are built
    each time.
    """
    known: dict[tuple[str, str], Step] = {}

    def structure_step(obj: Any, _: object) -> Step:
        if obj.__class__ is dict:
            name = obj.get("name", "")
            description = obj.get("description", "")
            if name.__class__ is str and description.__class__ is str:
                key = (name, description)
                step = known.get(key)
                if step is not None:
                    return step
                step = structure(obj, Step)
                if len(name) + len(description) <= STEP_TEXT_KEPT:
                    if len(known) >= STEPS_KEPT:
                        known.clear()
                    known[key] = step
                return step
        return structure(obj, Step)

    return structure_step


def _list_hook_factory(cls: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Structure a JSON array into a tuple; ``null`` is empty, anything else is rejected."""
    item_type = cls.__args__[0]
    item_hook = conv.get_structure_hook(item_type)
    cap = _cap_of(item_type)

    if not conv.detailed_validation:
        if item_type is Step:
            item_hook = _interning_step_hook(item_hook)

        def structure_list(obj: Any, _: object) -> tuple[Any, ...]:
            if obj.__class__ is list:
                if not obj:
                    return ()
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
explainer: Final[cattrs.Converter] = converter.copy(detailed_validation=True)


def format_error(exc: BaseException, type_: Any) -> str:
    """The readable reason for one value's error (for ``cattrs.transform_error``)."""
    if isinstance(exc, _WireValueError):
        return str(exc)
    return _cattrs_format_exception(exc, type_)  # pragma: no cover - our hooks say why


# Exact, case-sensitive match like CommandState.parse; "UNKNOWN" on the wire is UNKNOWN.
STATES: Final[dict[str, CommandState]] = {s.value: s for s in CommandState}
