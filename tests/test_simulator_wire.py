"""Property tests of the simulator's wire encoding: any snapshot, either style."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from cmdprogress.testing import Snapshot, Timeline
from cmdprogress.testing._timeline import encode_snapshot

texts = st.none() | st.text(max_size=20)
pairs = st.lists(st.tuples(texts, texts), max_size=4)
omittable = st.frozensets(
    st.sampled_from(["error_description", "res_obj", "fail_entity_list", "cluster_id", "id"])
)
snapshots = st.builds(
    Snapshot,
    state=st.none() | st.sampled_from(["NEW", "WAITING", "IN_PROGRESS", "COMPLETE", "FAILED"]),
    total_progress=st.none() | st.integers(0, 100) | st.floats(0, 100, allow_nan=False),
    error_code=st.none() | st.integers(-1000, 0),
    error_description=texts,
    steps=pairs,
    failed_entities=pairs,
    total_step_size=st.none() | st.integers(0, 100),
    cluster_id=st.none() | st.integers(0, 10),
    omit=omittable,
)


@given(snapshots, st.sampled_from(["snake", "camel"]), st.none() | st.integers(-1, 10**9))
def test_encoding_keeps_every_value_under_the_style_keys(
    snap: Snapshot, style: str, wire_id: int | None
) -> None:
    """Encoded JSON holds each value (null for None) under snake or camel keys, minus omitted."""
    doc = json.loads(encode_snapshot(snap, style=style, wire_id=wire_id))  # type: ignore[arg-type]
    camel = style == "camel"
    assert ("id" in doc) == (wire_id is not None and "id" not in snap.omit)
    assert doc.get("state", "absent") == snap.state
    assert doc.get("errorCode" if camel else "error_code") == snap.error_code
    desc_key = "errorDescription" if camel else "error_description"
    assert (desc_key in doc) == ("error_description" not in snap.omit)
    assert doc.get("totalProgress" if camel else "total_progress") == snap.total_progress
    res = doc.get("resObj" if camel else "res_obj")
    assert (res is None) == ("res_obj" in snap.omit)
    if res is not None:
        steps = res["stepList" if camel else "step_list"]
        assert [(s["name"], s["description"]) for s in steps] == list(snap.steps)
        fail_key = "failEntityList" if camel else "fail_entity_list"
        assert (fail_key in res) == ("fail_entity_list" not in snap.omit)
        size = res["totalStepSize" if camel else "total_step_size"]
        assert size == (len(snap.steps) if snap.total_step_size is None else snap.total_step_size)


@given(
    st.integers(1, 12),
    st.floats(0.5, 5000, allow_nan=False),
    st.booleans(),
    st.floats(0, 100, allow_nan=False),
)
def test_built_timelines_are_ordered_and_end_terminal(
    steps: int, duration: float, fail: bool, waiting: float
) -> None:
    """Built timelines: times never decrease, progress never drops, only the last is terminal."""
    t = Timeline.build(steps=steps, duration=duration, fail=fail, waiting=waiting, kind="stop")
    times = [s.at for s in t.snapshots]
    assert times == sorted(times)  # type: ignore[type-var]
    progress = [s.total_progress for s in t.snapshots]
    assert progress == sorted(progress)  # type: ignore[type-var]
    assert [s.is_terminal for s in t.snapshots] == [False] * (len(t.snapshots) - 1) + [True]
    assert t.final.state == ("FAILED" if fail else "COMPLETE")
    assert len(t.final.steps) == steps
