"""Fuzzed bodies at the decoding boundary: the documented result or MalformedResponseError.

An independent, deliberately plain reference (``oracle``) states the rules of
docs/decoding.md; every generated or mutated body must decode exactly as the
oracle says, or be refused with the very error paths the oracle names.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmdprogress._convert import _decode_progress, _loads_orjson, _loads_stdlib
from cmdprogress._models import (
    MAX_FAILED_ENTITIES,
    MAX_STEPS,
    CommandProgress,
    CommandState,
    FailedEntity,
    Step,
)
from cmdprogress.exceptions import MalformedResponseError

PARSERS = ["stdlib"]
try:
    import orjson  # noqa: F401
except ImportError:  # pragma: no cover
    pass
else:
    PARSERS.append("orjson")
LOADS = {"stdlib": _loads_stdlib, "orjson": _loads_orjson}

# Moderate example counts keep CI fast; deadline off because the machine is shared.
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_FEW = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- the oracle

CAMEL = {
    "error_code": "errorCode",
    "error_description": "errorDescription",
    "total_progress": "totalProgress",
    "res_obj": "resObj",
    "cluster_id": "clusterId",
    "step_list": "stepList",
    "fail_entity_list": "failEntityList",
    "total_step_size": "totalStepSize",
    "fail_entity": "failEntity",
    "operation_type": "operationType",
}
MISSING = object()
INT_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,30})")
NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?")


class Bad(Exception):
    """The oracle's verdict: the value at ``path`` is refused."""

    def __init__(self, path: str) -> None:
        self.path = path


def _get(obj: dict[str, Any], key: str) -> Any:
    if key in obj:
        return obj[key]
    return obj.get(CAMEL.get(key, key), MISSING)


def _text(value: Any, path: str, errors: list[str]) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    errors.append(path)
    return ""


def _whole(value: Any, path: str, errors: list[str], default: int | None) -> int | None:
    number: int | None = None
    if value is MISSING or value is None:
        return default
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if math.isfinite(value) and value == int(value) else None
    elif isinstance(value, str):
        number = int(value) if INT_TEXT.fullmatch(value) else None
    if number is None or not -(2**63) <= number < 2**63:
        errors.append(path)
        return default
    return number


def _number(value: Any, path: str, errors: list[str]) -> float:
    result: float | None = None
    if value is MISSING or value is None:
        return 0.0
    if isinstance(value, bool):
        result = None
    elif isinstance(value, int):
        result = float(value) if abs(value) < 2**1000 else None
    elif isinstance(value, float):
        result = value
    elif isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
        result = float(value)
    if result is None or not math.isfinite(result):
        errors.append(path)
        return 0.0
    return result


def _items(value: Any, path: str, errors: list[str]) -> list[Any]:
    if value is MISSING or value is None:
        return []
    if isinstance(value, list):
        return value
    errors.append(path)
    return []


def oracle_doc(doc: Any, command_id: int) -> CommandProgress | list[str]:
    """What the documented rules make of a parsed JSON value: a snapshot or the bad paths."""
    if not isinstance(doc, dict):
        return ["$"]
    errors: list[str] = []
    raw_state = _text(_get(doc, "state"), "$.state", errors)
    wire_id = _whole(_get(doc, "id"), "$.id", errors, -1)
    error_code = _whole(_get(doc, "error_code"), "$.error_code", errors, 0)
    description = _text(_get(doc, "error_description"), "$.error_description", errors)
    progress = _number(_get(doc, "total_progress"), "$.total_progress", errors)
    res = _get(doc, "res_obj")
    steps: list[Step] = []
    failed: list[FailedEntity] = []
    cluster_id: int | None = None
    step_size: int | None = 0
    steps_omitted = failed_omitted = 0
    if res is not MISSING and res is not None:
        if not isinstance(res, dict):
            errors.append("$.res_obj")
        else:
            cluster_id = _whole(_get(res, "cluster_id"), "$.res_obj.cluster_id", errors, None)
            step_size = _whole(_get(res, "total_step_size"), "$.res_obj.total_step_size", errors, 0)
            listed = _items(_get(res, "step_list"), "$.res_obj.step_list", errors)
            # Only the last MAX_STEPS items are kept (and checked); the rest are counted.
            steps_omitted = max(0, len(listed) - MAX_STEPS)
            for i, item in enumerate(listed[steps_omitted:], steps_omitted):
                p = f"$.res_obj.step_list[{i}]"
                if not isinstance(item, dict):
                    errors.append(p)
                    continue
                steps.append(
                    Step(
                        _text(_get(item, "name"), p + ".name", errors),
                        _text(_get(item, "description"), p + ".description", errors),
                    )
                )
            fails = _items(_get(res, "fail_entity_list"), "$.res_obj.fail_entity_list", errors)
            failed_omitted = max(0, len(fails) - MAX_FAILED_ENTITIES)
            for i, item in enumerate(fails[failed_omitted:], failed_omitted):
                p = f"$.res_obj.fail_entity_list[{i}]"
                if not isinstance(item, dict):
                    errors.append(p)
                    continue
                failed.append(
                    FailedEntity(
                        _text(_get(item, "fail_entity"), p + ".fail_entity", errors),
                        _text(_get(item, "operation_type"), p + ".operation_type", errors),
                    )
                )
    if errors:
        return errors
    known = {s.value: s for s in CommandState}
    assert wire_id is not None
    assert error_code is not None
    assert step_size is not None
    return CommandProgress(
        command_id=command_id,
        state=known.get(raw_state, CommandState.UNKNOWN),
        raw_state=raw_state,
        total_progress=progress,
        error_code=error_code,
        error_description=description,
        steps=tuple(steps),
        failed_entities=tuple(failed),
        total_step_size=step_size,
        cluster_id=cluster_id,
        wire_id=wire_id,
        steps_omitted=steps_omitted,
        failed_entities_omitted=failed_omitted,
    )


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def oracle(body: bytes, command_id: int) -> CommandProgress | list[str]:
    """The oracle for raw bytes: strict UTF-8, strict JSON (no NaN, no lone surrogates)."""
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
        json.dumps(doc, ensure_ascii=False).encode("utf-8")  # lone surrogates
    except (ValueError, RecursionError):
        return ["$"]
    return oracle_doc(doc, command_id)


def check(parser: str, body: bytes) -> CommandProgress | None:
    """Decode ``body`` and hold the result to the oracle; never anything but our error."""
    expected = oracle(body, 42)
    started = time.monotonic()
    got: CommandProgress | None = None
    errors: list[str] = []
    try:
        got = _decode_progress(LOADS[parser], 42, body, "https://m/x")
    except MalformedResponseError as exc:
        errors = exc.errors
        assert errors, "a MalformedResponseError must name at least one path"
    assert time.monotonic() - started < 5.0, "decoding must never hang"
    if got is not None:
        assert got == expected
        return got
    paths = [e.rsplit(" @ ", 1)[1] for e in errors]
    assert all(p.startswith("$") for p in paths)
    assert isinstance(expected, list), f"refused a valid body: {errors}"
    assert sorted(paths) == sorted(expected)
    return None


# --------------------------------------------------------------------------- strategies

safe_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
int64 = st.integers(-(2**63), 2**63 - 1)
states = st.one_of(
    st.sampled_from(["NEW", "IN_PROGRESS", "COMPLETE", "FAILED", "UNKNOWN"]),
    safe_text,
    st.none(),
)


def _whole_variants(values: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """A whole number as the wire may send it: int, whole float, decimal text, or null."""
    return st.one_of(
        values,
        st.integers(-(2**52), 2**52).map(float),
        values.map(str),
        st.none(),
    )


numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.none(),
)


def _maybe(key: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``{key: value}`` or ``{}`` (every key is optional)."""
    return st.one_of(st.just({}), value.map(lambda v: {key: v}))


def _obj(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    parts = [_maybe(k, v) for k, v in fields.items()]
    return st.tuples(*parts).map(lambda ds: {k: v for d in ds for k, v in d.items()})


steps = _obj(name=st.one_of(safe_text, st.none()), description=st.one_of(safe_text, st.none()))
fails = _obj(
    fail_entity=st.one_of(safe_text, st.none()),
    operation_type=st.one_of(st.sampled_from(["START", "STOP"]), st.none()),
)
res_objs = _obj(
    cluster_id=_whole_variants(int64),
    step_list=st.one_of(st.lists(steps, max_size=8), st.none()),
    fail_entity_list=st.one_of(st.lists(fails, max_size=4), st.none()),
    total_step_size=_whole_variants(int64),
)
documents = _obj(
    id=_whole_variants(int64),
    state=states,
    error_code=_whole_variants(int64),
    error_description=st.one_of(safe_text, st.none()),
    total_progress=numbers,
    res_obj=st.one_of(res_objs, st.none()),
)


def restyle(doc: Any, style: str, draw: st.DrawFn | None = None) -> Any:
    """Rename keys to camelCase: every key ('camel'), none ('snake') or a drawn choice."""
    if isinstance(doc, list):
        return [restyle(item, style, draw) for item in doc]
    if not isinstance(doc, dict):
        return doc
    out = {}
    for key, value in doc.items():
        camel = style == "camel" or (style == "mixed" and draw is not None and draw(st.booleans()))
        out[CAMEL.get(key, key) if camel else key] = restyle(value, style, draw)
    return out


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        safe_text,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(safe_text, children, max_size=4)
    ),
    max_leaves=10,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside ``doc`` (dict keys and list indices), down to depth 8."""
    found = [prefix] if prefix else []
    if len(prefix) >= 8:
        return found
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


# Any kind of JSON value, each kind equally likely, to put where another kind belongs.
any_kind = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    safe_text,
    st.sampled_from(["50", "-3", "1.5", "1e3", " 7", "NaN", "Infinity", "0x10", ""]),
    st.lists(json_values, max_size=3),
    st.dictionaries(safe_text, json_values, max_size=3),
)

# Where each documented field lives in a full document (one step, one failed entity).
FIELDS: list[tuple[Any, ...]] = [
    ("id",),
    ("state",),
    ("error_code",),
    ("error_description",),
    ("total_progress",),
    ("res_obj",),
    ("res_obj", "cluster_id"),
    ("res_obj", "step_list"),
    ("res_obj", "step_list", 0),
    ("res_obj", "step_list", 0, "name"),
    ("res_obj", "step_list", 0, "description"),
    ("res_obj", "fail_entity_list"),
    ("res_obj", "fail_entity_list", 0),
    ("res_obj", "fail_entity_list", 0, "fail_entity"),
    ("res_obj", "fail_entity_list", 0, "operation_type"),
    ("res_obj", "total_step_size"),
]


@st.composite
def retyped(draw: st.DrawFn) -> Any:
    """A full valid document with one or two documented fields given another kind of value."""
    doc: dict[str, Any] = {
        "id": -1,
        "state": "IN_PROGRESS",
        "error_code": 0,
        "error_description": "",
        "total_progress": 10.5,
        "res_obj": {
            "cluster_id": 1,
            "step_list": [{"name": "Check", "description": "ok"}],
            "fail_entity_list": [{"fail_entity": "DN@n1", "operation_type": "START"}],
            "total_step_size": 3,
        },
    }
    for path in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True)):
        try:
            parent = _parent(doc, path)
            parent[path[-1]] = draw(any_kind)
        except (KeyError, IndexError, TypeError):
            pass  # an enclosing field was retyped first
    return restyle(doc, draw(st.sampled_from(["snake", "camel", "mixed"])), draw)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid document with a few keys dropped, renamed, retyped or nulled."""
    doc = restyle(draw(documents), "mixed", draw)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            doc = draw(json_values)
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        kind = draw(
            st.sampled_from(["drop", "camel", "swap", "swap", "null", "state", "deep", "top"])
        )
        if kind == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif kind == "camel" and isinstance(parent, dict):
            parent[CAMEL.get(path[-1], path[-1])] = parent.pop(path[-1])
        elif kind == "swap":
            parent[path[-1]] = draw(any_kind)
        elif kind == "null":
            parent[path[-1]] = None
        elif kind == "state":
            doc = doc if isinstance(doc, dict) else {}
            doc["state"] = draw(st.one_of(safe_text, json_values))
        elif kind == "deep":  # deeper than the parser allows: see test_mutated_bytes
            nested: Any = draw(json_values)
            for _ in range(draw(st.integers(1, 300))):
                nested = [nested] if draw(st.booleans()) else {"k": nested}
            parent[path[-1]] = nested
            break
        elif kind == "top":
            doc = draw(st.one_of(st.lists(json_values, max_size=3), json_values))
            break
    return doc


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("style", ["snake", "camel", "mixed"])
@FUZZ
@given(data=st.data())
def test_valid_documents_round_trip(parser: str, style: str, data: st.DataObject) -> None:
    """A valid document in either key style decodes to the snapshot the rules describe."""
    doc = data.draw(documents)
    body = _dumps(restyle(doc, style, data.draw))
    assert isinstance(check(parser, body), CommandProgress)


@pytest.mark.parametrize("parser", PARSERS)
@FUZZ
@given(doc=mutated())
def test_mutated_documents(parser: str, doc: Any) -> None:
    """A mutated document decodes as documented or is refused with the oracle's paths."""
    check(parser, _dumps(doc))


@pytest.mark.parametrize("parser", PARSERS)
@FUZZ
@given(doc=retyped())
def test_retyped_fields(parser: str, doc: Any) -> None:
    """Any kind of value in any documented field decodes as documented or names that field."""
    check(parser, _dumps(doc))


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """A valid body truncated, bit-flipped, with bad bytes, wrapped in HTML, nested or random."""
    body = _dumps(restyle(draw(documents), "mixed", draw))
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "html", "random", "prefix", "deep"]))
    if kind == "truncate":
        return body[: draw(st.integers(0, max(0, len(body) - 1)))]
    if kind == "flip":
        at = draw(st.integers(0, len(body) - 1))
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    if kind == "insert":
        at = draw(st.integers(0, len(body)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"NaN"]))
        return body[:at] + junk + body[at:]
    if kind == "html":
        return b"<!DOCTYPE html><html><body>" + body + b"</body></html>"
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.sampled_from([10, 500, 990, 1100, 5000, 200_000]))
        nested = draw(
            st.sampled_from([b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth])
        )
        key = draw(st.sampled_from([b'"deep"', b'"res_obj"', b'"step_list"', b'"state"']))
        return b"{" + key + b":" + nested + (b"," + body[1:] if len(body) > 2 else b"}")
    return draw(st.sampled_from([b"\xef\xbb\xbf", b"[", b")]}'\n", b" "])) + body


# Every kind of body: valid in any style, mutated, retyped, corrupted (the wire test uses it).
any_body = st.one_of(
    st.builds(
        _dumps,
        st.tuples(documents, st.sampled_from(["snake", "camel"])).map(lambda pair: restyle(*pair)),
    ),
    mutated().map(_dumps),
    retyped().map(_dumps),
    corrupted(),
)


@pytest.mark.parametrize("parser", PARSERS)
@FUZZ
@given(body=corrupted())
def test_mutated_bytes(parser: str, body: bytes) -> None:
    """Truncated, corrupted, non-UTF-8, HTML or random bytes never escape as another error."""
    check(parser, body)


@pytest.mark.parametrize("parser", PARSERS)
@FUZZ_FEW
@given(
    count=st.integers(1_000, 5_000),
    bad_at=st.one_of(st.none(), st.integers(0, 4_999)),
    camel=st.booleans(),
)
def test_huge_lists(parser: str, count: int, bad_at: int | None, camel: bool) -> None:
    """Thousands of steps decode (or name the one bad item's index) in bounded time; only
    the last MAX_STEPS are kept (and checked), the others counted in steps_omitted."""
    items: list[Any] = [{"name": f"step {i}", "description": None} for i in range(count)]
    if bad_at is not None and bad_at < count:
        items[bad_at] = {"name": ["not", "text"]}
    doc = restyle(
        {"state": "IN_PROGRESS", "res_obj": {"step_list": items}}, "camel" if camel else "snake"
    )
    result = check(parser, _dumps(doc))
    if bad_at is None or bad_at >= count:
        assert result is not None
        assert len(result.steps) == min(count, MAX_STEPS)
        assert result.steps_omitted == max(0, count - MAX_STEPS)
