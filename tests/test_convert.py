"""Decoding: every accepted variant and every kind of garbage (docs/decoding.md rows)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs
import cattrs
import pytest

from cmdprogress import _convert
from cmdprogress._convert import (
    ActionResult,
    _decode_progress,
    _loads_orjson,
    _loads_stdlib,
    decode_action,
    decode_progress,
)
from cmdprogress._models import CommandProgress, CommandState, FailedEntity, Step
from cmdprogress.exceptions import MalformedResponseError

if TYPE_CHECKING:
    from collections.abc import Callable

PARSERS = {"stdlib": _loads_stdlib}
try:
    import orjson  # noqa: F401
except ImportError:  # pragma: no cover
    pass
else:
    PARSERS["orjson"] = _loads_orjson


@pytest.fixture(params=sorted(PARSERS))
def decode(request: pytest.FixtureRequest) -> Callable[[bytes], CommandProgress]:
    """decode_progress for command 42, once with each JSON parser installed."""
    loads = PARSERS[request.param]
    return lambda body: _decode_progress(loads, 42, body, "https://m:28443/x")


def _body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


SNAKE = {
    "id": 7,
    "state": "FAILED",
    "error_code": -324,
    "error_description": "Failed to start HDFS",
    "total_progress": 66.5,
    "res_obj": {
        "cluster_id": 1,
        "step_list": [{"name": "Check", "description": "ok"}, {"name": "Start", "description": ""}],
        "fail_entity_list": [{"fail_entity": "DataNode@node-3", "operation_type": "START"}],
        "total_step_size": 2,
    },
}
CAMEL = {
    "id": 7,
    "state": "FAILED",
    "errorCode": -324,
    "errorDescription": "Failed to start HDFS",
    "totalProgress": 66.5,
    "resObj": {
        "clusterId": 1,
        "stepList": [{"name": "Check", "description": "ok"}, {"name": "Start", "description": ""}],
        "failEntityList": [{"failEntity": "DataNode@node-3", "operationType": "START"}],
        "totalStepSize": 2,
    },
}
FULL = CommandProgress(
    command_id=42,
    state=CommandState.FAILED,
    raw_state="FAILED",
    total_progress=66.5,
    error_code=-324,
    error_description="Failed to start HDFS",
    steps=(Step("Check", "ok"), Step("Start", "")),
    failed_entities=(FailedEntity("DataNode@node-3", "START"),),
    total_step_size=2,
    cluster_id=1,
    wire_id=7,
)
EMPTY = CommandProgress(command_id=42, state=CommandState.UNKNOWN, raw_state="", wire_id=-1)


def _with(base: CommandProgress, **changes: Any) -> CommandProgress:
    return attrs.evolve(base, **changes)


MIXED = {
    "id": 7,
    "state": "FAILED",
    "error_code": -324,
    "errorDescription": "Failed to start HDFS",
    "totalProgress": 66.5,
    "res_obj": {
        "clusterId": 1,
        "step_list": [{"name": "Check", "description": "ok"}, {"name": "Start", "description": ""}],
        "failEntityList": [{"fail_entity": "DataNode@node-3", "operationType": "START"}],
        "total_step_size": 2,
    },
}

# (id, JSON document or raw body, expected snapshot): one row each in docs/decoding.md.
ACCEPTED: list[tuple[str, Any, CommandProgress]] = [
    ("snake-case-keys", SNAKE, FULL),
    ("camel-case-keys", CAMEL, FULL),
    ("mixed-keys", MIXED, FULL),
    (
        "snake-wins-over-camel",
        {"error_code": -1, "errorCode": -2, "state": "NEW"},
        _with(EMPTY, state=CommandState.NEW, raw_state="NEW", error_code=-1),
    ),
    ("empty-object", {}, EMPTY),
    (
        "missing-res-obj",
        {k: v for k, v in SNAKE.items() if k != "res_obj"},
        _with(FULL, steps=(), failed_entities=(), total_step_size=0, cluster_id=None),
    ),
    (
        "null-res-obj",
        {**SNAKE, "res_obj": None},
        _with(FULL, steps=(), failed_entities=(), total_step_size=0, cluster_id=None),
    ),
    ("empty-res-obj", {"res_obj": {}}, EMPTY),
    ("overflowing-float-in-unknown-key", b'{"x": 1e999, "y": 123456789012345678901234}', EMPTY),
    (
        "null-text",
        {
            "error_description": None,
            "res_obj": {
                "step_list": [{"name": None, "description": None}],
                "fail_entity_list": [{"fail_entity": None, "operation_type": None}],
            },
        },
        _with(EMPTY, steps=(Step("", ""),), failed_entities=(FailedEntity("", ""),)),
    ),
    (
        "null-numbers",
        {
            "id": None,
            "error_code": None,
            "total_progress": None,
            "res_obj": {"cluster_id": None, "total_step_size": None},
        },
        EMPTY,
    ),
    (
        "null-lists",
        {"res_obj": {"step_list": None, "fail_entity_list": None}},
        EMPTY,
    ),
    ("missing-step-keys", {"res_obj": {"step_list": [{}]}}, _with(EMPTY, steps=(Step(),))),
    ("int-where-float", {"total_progress": 40}, _with(EMPTY, total_progress=40.0)),
    (
        "whole-float-where-int",
        {"error_code": -300.0, "res_obj": {"total_step_size": 12.0}},
        _with(EMPTY, error_code=-300, total_step_size=12),
    ),
    (
        "numeric-text-number",
        {"total_progress": "50", "error_code": "-300", "res_obj": {"cluster_id": "2"}},
        _with(EMPTY, total_progress=50.0, error_code=-300, cluster_id=2),
    ),
    ("numeric-text-decimal", {"total_progress": "12.5"}, _with(EMPTY, total_progress=12.5)),
    ("progress-out-of-range-kept", {"total_progress": 150}, _with(EMPTY, total_progress=150.0)),
    (
        "unknown-keys-ignored",
        {
            "state": "NEW",
            "token": "",
            "extra": {"deep": [1, 2, {"x": None}]},
            "res_obj": {"newField": 1, "step_list": [{"name": "a", "status": "RUNNING"}]},
        },
        _with(EMPTY, state=CommandState.NEW, raw_state="NEW", steps=(Step("a"),)),
    ),
    (
        "unknown-state",
        {"state": "WAITING"},
        _with(EMPTY, state=CommandState.UNKNOWN, raw_state="WAITING"),
    ),
    (
        "lower-case-state-is-unknown",
        {"state": "complete"},
        _with(EMPTY, state=CommandState.UNKNOWN, raw_state="complete"),
    ),
    ("null-state", {"state": None}, EMPTY),
    (
        "wire-unknown-state",
        {"state": "UNKNOWN"},
        _with(EMPTY, raw_state="UNKNOWN"),
    ),
    (
        "non-ascii-text",
        {"error_description": "启动失败 ✗"},
        _with(EMPTY, error_description="启动失败 ✗"),
    ),
    (
        "surrogate-pair-escape",
        {"error_description": "\U0001f600"},
        _with(EMPTY, error_description="\U0001f600"),
    ),
    (
        "whitespace-around",
        b' \r\n\t{"state": "NEW"}\n ',
        _with(EMPTY, state=CommandState.NEW, raw_state="NEW"),
    ),
]


@pytest.mark.parametrize(
    ("doc", "expected"), [(d, e) for _, d, e in ACCEPTED], ids=[i for i, _, _ in ACCEPTED]
)
def test_accepts(
    decode: Callable[[bytes], CommandProgress], doc: Any, expected: CommandProgress
) -> None:
    """Each accepted wire variant decodes to the documented snapshot."""
    body = doc if isinstance(doc, bytes) else _body(doc)
    assert decode(body) == expected


# (id, body, expected error path fragment): one row each in docs/decoding.md.
REJECTED: list[tuple[str, bytes, str]] = [
    ("invalid-json", b'{"state": NEW}', "not valid JSON (Expecting value: line 1 column 11"),
    ("truncated-json", _body(SNAKE)[:-7], "not valid JSON ("),
    ("empty-body", b"", "empty body, expected a JSON object @ $"),
    ("non-utf8", b'{"state": "\xff\xfe"}', "not valid UTF-8 (byte 11), expected a JSON object @ $"),
    ("utf8-bom", b"\xef\xbb\xbf{}", "byte order mark, which JSON does not allow @ $"),
    ("lone-surrogate", b'{"state": "\\ud800"}', "lone surrogate escape in a string) @ $"),
    ("top-level-list", b"[]", "expected a JSON object, got a list @ $"),
    ("top-level-string", b'"COMPLETE"', "expected a JSON object, got text 'COMPLETE' @ $"),
    ("top-level-number", b"42", "expected a JSON object, got the number 42 @ $"),
    ("top-level-null", b"null", "expected a JSON object, got null @ $"),
    ("nan-literal", b'{"total_progress": NaN}', "NaN is not a number JSON allows) @ $"),
    ("infinity-literal", b'{"total_progress": -Infinity}', "-Infinity is not a number"),
    (
        "overflowing-float",
        b'{"total_progress": 1e999}',
        "expected a finite number, got the number inf @ $.total_progress",
    ),
    ("deep-nesting", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ("list-where-object", b'{"res_obj": []}', "expected an object, got a list @ $.res_obj"),
    (
        "text-where-object",
        b'{"res_obj": "none"}',
        "expected an object, got text 'none' @ $.res_obj",
    ),
    (
        "list-where-step-object",
        b'{"res_obj": {"step_list": [["a", "b"]]}}',
        "expected an object, got a list @ $.res_obj.step_list[0]",
    ),
    (
        "null-step-item",
        b'{"res_obj": {"step_list": [{"name": "a"}, null]}}',
        "expected an object, got null @ $.res_obj.step_list[1]",
    ),
    (
        "text-where-number",
        b'{"total_progress": "abc"}',
        "expected a number, got text 'abc' @ $.total_progress",
    ),
    (
        "padded-numeric-text",
        b'{"total_progress": " 50"}',
        "expected a number, got text ' 50' @ $.total_progress",
    ),
    (
        "nan-text",
        b'{"total_progress": "NaN"}',
        "expected a number, got text 'NaN' @ $.total_progress",
    ),
    (
        "bool-where-number",
        b'{"total_progress": true}',
        "expected a number, got the boolean true @ $.total_progress",
    ),
    (
        "bool-where-int",
        b'{"error_code": false}',
        "expected a whole number, got the boolean false @ $.error_code",
    ),
    (
        "fraction-where-int",
        b'{"error_code": 1.9}',
        "expected a whole number, got the number 1.9 @ $.error_code",
    ),
    (
        "decimal-text-where-int",
        b'{"error_code": "1.0"}',
        "expected a whole number, got text '1.0' @ $.error_code",
    ),
    (
        "huge-int-where-float",
        b'{"total_progress": 1' + b"0" * 400 + b"}",
        "expected a number of sensible size, got the number 1000000",
    ),
    (
        "overflowing-numeric-text",
        b'{"total_progress": "1e999"}',
        "expected a finite number, got text '1e999' @ $.total_progress",
    ),
    (
        "int-beyond-64-bits",
        b'{"id": 99999999999999999999999}',
        "expected a whole number within 64 bits, got the number 99999999999999999999999 @ $.id",
    ),
    (
        "text-where-list",
        b'{"res_obj": {"step_list": "Check, Start"}}',
        "expected a list, got text 'Check, Start' @ $.res_obj.step_list",
    ),
    (
        "object-where-list",
        b'{"res_obj": {"failEntityList": {"fail_entity": "x"}}}',
        "expected a list, got an object @ $.res_obj.fail_entity_list",
    ),
    (
        "object-where-text",
        b'{"res_obj": {"step_list": [{"name": {"en": "Check"}}]}}',
        "expected text, got an object @ $.res_obj.step_list[0].name",
    ),
    (
        "number-where-text",
        b'{"errorDescription": 404}',
        "expected text, got the number 404 @ $.error_description",
    ),
    ("number-state", b'{"state": 3}', "expected text, got the number 3 @ $.state"),
    (
        "camel-nested-path",
        b'{"resObj": {"failEntityList": [{"failEntity": 1}]}}',
        "expected text, got the number 1 @ $.res_obj.fail_entity_list[0].fail_entity",
    ),
]


@pytest.mark.parametrize(
    ("body", "fragment"), [(b, f) for _, b, f in REJECTED], ids=[i for i, _, _ in REJECTED]
)
def test_rejects(decode: Callable[[bytes], CommandProgress], body: bytes, fragment: str) -> None:
    """Each kind of garbage raises MalformedResponseError naming the bad field's path."""
    with pytest.raises(MalformedResponseError) as info:
        decode(body)
    err = info.value
    assert any(fragment in e for e in err.errors), err.errors
    assert all(" @ $" in e for e in err.errors)
    assert fragment.split(" @ ")[0][:30] in str(err)
    assert err.command_id == 42
    assert err.url == "https://m:28443/x"


def test_html_page_message(decode: Callable[[bytes], CommandProgress]) -> None:
    """An HTML page (a login or error page) is named as such, with what probably happened."""
    body = b"\n  <!DOCTYPE html><html><head><title>CAS Login</title></head><body></body></html>"
    with pytest.raises(MalformedResponseError) as info:
        decode(body)
    assert (
        "got an HTML page, not JSON: the Manager may have redirected to a login or error page"
        in (str(info.value))
    )
    assert info.value.errors[0].endswith(" @ $")
    assert info.value.body_excerpt.startswith("<!DOCTYPE html>")


def test_every_error_is_listed(decode: Callable[[bytes], CommandProgress]) -> None:
    """All bad fields are reported at once, the message shows three and counts the rest."""
    body = _body(
        {
            "state": 1,
            "error_code": "x",
            "total_progress": [],
            "res_obj": {"step_list": [{"name": 1}, {"description": 2}], "cluster_id": True},
        }
    )
    with pytest.raises(MalformedResponseError) as info:
        decode(body)
    paths = sorted(e.rsplit(" @ ", 1)[1] for e in info.value.errors)
    assert paths == [
        "$.error_code",
        "$.res_obj.cluster_id",
        "$.res_obj.step_list[0].name",
        "$.res_obj.step_list[1].description",
        "$.state",
        "$.total_progress",
    ]
    assert "(and 3 more)" in str(info.value)


def test_never_str_of_none() -> None:
    """The converter never turns null into the text 'None' (cattrs' default would)."""
    progress = decode_progress(1, b'{"state": null, "error_description": null}')
    assert progress.raw_state == ""
    assert progress.error_description == ""
    assert _convert.converter is not cattrs.global_converter


def test_public_decode_progress() -> None:
    """decode_progress uses the queried id, keeps the wire id apart, and is terminal on COMPLETE."""
    progress = decode_progress(1234, b'{"id": -1, "state": "COMPLETE", "totalProgress": 100}')
    assert progress.command_id == 1234
    assert progress.wire_id == -1
    assert progress.is_terminal
    assert progress.total_progress == 100.0


def test_public_decode_progress_rejects() -> None:
    """decode_progress raises MalformedResponseError with the body excerpt on garbage."""
    with pytest.raises(MalformedResponseError, match=r"command 5") as info:
        decode_progress(5, b'{"total_progress": "abc"}', url="https://m/x")
    assert info.value.body_excerpt == '{"total_progress": "abc"}'
    assert isinstance(info.value, ValueError)


ACTIONS: list[tuple[str, bytes, ActionResult]] = [
    (
        "snake",
        b'{"id": 12, "state": "NEW", "error_code": 0, "error_description": null}',
        ActionResult(12, CommandState.NEW, "NEW", 0, ""),
    ),
    (
        "camel-failed",
        b'{"id": -1, "state": "FAILED", "errorCode": -300, "errorDescription": "busy",'
        b' "total_progress": 0}',
        ActionResult(-1, CommandState.FAILED, "FAILED", -300, "busy"),
    ),
    ("empty", b"{}", ActionResult(-1, CommandState.UNKNOWN, "", 0, "")),
    ("numeric-text-id", b'{"id": "77"}', ActionResult(77, CommandState.UNKNOWN, "", 0, "")),
    (
        "overflowing-unknown-key",
        b'{"id": 5, "x": 1e999}',
        ActionResult(5, CommandState.UNKNOWN, "", 0, ""),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [(b, e) for _, b, e in ACTIONS], ids=[i for i, _, _ in ACTIONS]
)
def test_decode_action(body: bytes, expected: ActionResult) -> None:
    """The start/stop/save answer decodes with the same rules as progress."""
    assert decode_action(body) == expected


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html><body>Bad Request</body></html>", "got an HTML page"),
        (b"[12]", "expected a JSON object, got a list @ $"),
        (b'{"id": 1.5}', "expected a whole number, got the number 1.5 @ $.id"),
        (b'{"id": 1, "errorDescription": []}', "expected text, got a list @ $.error_description"),
    ],
)
def test_decode_action_rejects(body: bytes, fragment: str) -> None:
    """A bad start/stop/save answer raises MalformedResponseError with the path."""
    with pytest.raises(MalformedResponseError) as info:
        decode_action(body, url="https://m/start")
    assert any(fragment in e for e in info.value.errors)
    assert info.value.command_id is None
    assert info.value.url == "https://m/start"


def test_repeated_steps_are_one_object() -> None:
    """Successive answers listing the same step share one Step object, equal to a fresh one."""
    body = _body(SNAKE)
    first, second = decode_progress(1, body), decode_progress(2, body)
    assert first.steps == (Step("Check", "ok"), Step("Start", ""))
    assert all(a is b for a, b in zip(first.steps, second.steps, strict=True))


def test_steps_outside_the_interning_path() -> None:
    """A step with a null or missing text or extra keys decodes as ever; a wrong kind is refused."""
    doc = {"res_obj": {"step_list": [{"name": None, "description": "d"}, {"name": "n", "x": 1}]}}
    progress = decode_progress(1, _body(doc))
    assert progress.steps == (Step("", "d"), Step("n", ""))
    bad = {"res_obj": {"step_list": [{"name": ["n"], "description": "d"}]}}
    with pytest.raises(MalformedResponseError) as info:
        decode_progress(1, _body(bad))
    assert info.value.errors == ["expected text, got a list @ $.res_obj.step_list[0].name"]


def test_step_interning_is_bounded() -> None:
    """The interned steps start again once STEPS_KEPT distinct ones were seen (bounded memory)."""
    from cmdprogress._converter import STEPS_KEPT, _interning_step_hook

    hook = _interning_step_hook(lambda obj, _: Step(obj["name"], obj["description"]))
    first = hook({"name": "0", "description": ""}, Step)
    assert hook({"name": "0", "description": ""}, Step) is first
    for k in range(1, STEPS_KEPT + 1):  # the last one starts the table again
        hook({"name": str(k), "description": ""}, Step)
    again = hook({"name": "0", "description": ""}, Step)
    assert again == first
    assert again is not first


def test_long_steps_are_not_interned() -> None:
    """A step longer than STEP_TEXT_KEPT is built for each answer, never remembered."""
    from cmdprogress._converter import STEP_TEXT_KEPT

    doc = {"res_obj": {"step_list": [{"name": "n", "description": "d" * STEP_TEXT_KEPT}]}}
    first, second = decode_progress(1, _body(doc)), decode_progress(1, _body(doc))
    assert first.steps == second.steps
    assert first.steps[0] is not second.steps[0]
