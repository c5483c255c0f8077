"""Timelines: the explicit, inspectable sequence of snapshots a simulated command goes through."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["SERVICES", "Snapshot", "Style", "Timeline", "encode_snapshot"]

SERVICES = (
    "HDFS",
    "Yarn",
    "Mapreduce",
    "ZooKeeper",
    "Kafka",
    "Hive",
    "HBase",
    "Spark2x",
    "Spark",
    "Flink",
    "Oozie",
    "Hue",
    "Flume",
    "Loader",
    "Tez",
    "Ranger",
    "ClickHouse",
    "KrbServer",
    "LdapServer",
    "DBService",
)
"""The services the simulator knows by default, spelt as the Manager spells them
(``Yarn``, not ``YARN``; ``Spark2x`` on MRS 3.0, ``Spark`` later)."""

Style = Literal["snake", "camel"]
Kind = Literal["start", "stop", "save", "generic"]

_TERMINAL = frozenset({"COMPLETE", "FAILED"})

_OMITTABLE = frozenset(
    {
        "id",
        "state",
        "error_code",
        "error_description",
        "total_progress",
        "res_obj",
        "cluster_id",
        "step_list",
        "fail_entity_list",
        "total_step_size",
    }
)

_CAMEL = {
    "id": "id",
    "state": "state",
    "error_code": "errorCode",
    "error_description": "errorDescription",
    "total_progress": "totalProgress",
    "res_obj": "resObj",
    "cluster_id": "clusterId",
    "step_list": "stepList",
    "fail_entity_list": "failEntityList",
    "total_step_size": "totalStepSize",
    "name": "name",
    "description": "description",
    "fail_entity": "failEntity",
    "operation_type": "operationType",
}

Pair = tuple[str | None, str | None]


def _pairs(value: Iterable[Sequence[str | None]]) -> tuple[Pair, ...]:
    out: list[Pair] = []
    for item in value:
        first, second = item
        out.append((first, second))
    return tuple(out)


def _omit(value: Iterable[str]) -> frozenset[str]:
    keys = frozenset(value)
    unknown = keys - _OMITTABLE
    if unknown:
        raise ValueError(
            f"Snapshot.omit has unknown keys {sorted(unknown)}; use snake names from "
            f"{sorted(_OMITTABLE)}"
        )
    return keys


@attrs.frozen
class Snapshot:
    """What the progress endpoint answers for a command at one point of its timeline.

    ``None`` texts and numbers are sent as JSON ``null``; keys in ``omit`` are
    left out.  ``at`` is the simulated time (seconds after the command was
    added) from which this snapshot is current; ``None`` means only
    ``advance()``/``finish()`` reach it.

    >>> s = Snapshot(at=0.0, total_progress=50.0, steps=[("Start", "NameNode")])
    >>> s.steps, s.is_terminal
    ((('Start', 'NameNode'),), False)
    """

    at: float | None = None
    state: str | None = "IN_PROGRESS"
    total_progress: float | int | None = 0.0
    error_code: int | None = 0
    error_description: str | None = ""
    steps: tuple[Pair, ...] = attrs.field(default=(), converter=_pairs)
    failed_entities: tuple[Pair, ...] = attrs.field(default=(), converter=_pairs)
    total_step_size: int | None = attrs.field(default=None)
    cluster_id: int | None = 1
    omit: frozenset[str] = attrs.field(default=frozenset(), converter=_omit)

    @property
    def is_terminal(self) -> bool:
        """True for ``COMPLETE`` and ``FAILED``."""
        return self.state in _TERMINAL

    def to_wire(self, *, style: Style = "snake", wire_id: int | None = -1) -> dict[str, object]:
        """The JSON document for this snapshot (``wire_id=None`` leaves ``id`` out).

        >>> Snapshot(state="NEW", omit={"res_obj"}).to_wire(style="camel", wire_id=3)
        {'id': 3, 'state': 'NEW', 'errorCode': 0, 'errorDescription': '', 'totalProgress': 0.0}
        """
        omit = self.omit
        names = _CAMEL if style == "camel" else None

        def key(name: str) -> str:
            return names[name] if names is not None else name

        doc: dict[str, object] = {}
        if wire_id is not None and "id" not in omit:
            doc["id"] = wire_id
        for name, value in (
            ("state", self.state),
            ("error_code", self.error_code),
            ("error_description", self.error_description),
            ("total_progress", self.total_progress),
        ):
            if name not in omit:
                doc[key(name)] = value
        if "res_obj" not in omit:
            res: dict[str, object] = {}
            if "cluster_id" not in omit:
                res[key("cluster_id")] = self.cluster_id
            if "step_list" not in omit:
                res[key("step_list")] = [
                    {key("name"): n, key("description"): d} for n, d in self.steps
                ]
            if "fail_entity_list" not in omit:
                res[key("fail_entity_list")] = [
                    {key("fail_entity"): e, key("operation_type"): o}
                    for e, o in self.failed_entities
                ]
            if "total_step_size" not in omit:
                size = self.total_step_size
                res[key("total_step_size")] = len(self.steps) if size is None else size
            doc[key("res_obj")] = res
        return doc


def encode_snapshot(snapshot: Snapshot, *, style: Style, wire_id: int | None) -> bytes:
    """Compact JSON bytes of :meth:`Snapshot.to_wire`."""
    return json.dumps(
        snapshot.to_wire(style=style, wire_id=wire_id), separators=(",", ":")
    ).encode()


def _snapshots(value: Iterable[Snapshot]) -> tuple[Snapshot, ...]:
    snaps = tuple(value)
    if not snaps:
        raise ValueError("a Timeline needs at least one Snapshot")
    last = 0.0
    for i, snap in enumerate(snaps):
        if not isinstance(snap, Snapshot):
            raise TypeError(f"Timeline snapshot {i} is {type(snap).__name__}, not Snapshot")
        if snap.at is not None:
            if not snap.at >= last:
                raise ValueError(
                    f"Timeline snapshot {i} has at={snap.at!r}, before an earlier snapshot "
                    f"({last!r}); times must not decrease"
                )
            last = snap.at
    return snaps


_STEP_NAMES: dict[str, tuple[str, ...]] = {
    "start": ("Check {s} dependencies", "Start {s} instances", "Wait for {s} to be healthy"),
    "stop": ("Check {s} dependants", "Stop {s} instances", "Confirm {s} is stopped"),
    "save": ("Validate configurations", "Distribute configurations", "Synchronize {s}"),
    "generic": ("Prepare", "Execute", "Verify"),
}

_FAILURE_TEXT: dict[str, str] = {
    "start": "Failed to start {s}",
    "stop": "Failed to stop {s}",
    "save": "Failed to save the configuration of {s}",
    "generic": "The {s} command failed",
}

_INSTANCES = ("NameNode@node-1", "DataNode@node-2", "DataNode@node-3", "JournalNode@node-1")


@attrs.frozen
class Timeline:
    """A command's whole life: its snapshots (the last is terminal) and wire style.

    ``wire_id`` is what the ``id`` key carries: ``"command"`` (the command id),
    an int, or ``None`` to leave ``id`` out.

    >>> t = Timeline.build(steps=2, duration=10.0)
    >>> [s.state for s in t.snapshots]
    ['NEW', 'IN_PROGRESS', 'IN_PROGRESS', 'IN_PROGRESS', 'IN_PROGRESS', 'COMPLETE']
    >>> t.snapshots[-1].total_progress, t.duration
    (100.0, 10.0)
    """

    snapshots: tuple[Snapshot, ...] = attrs.field(converter=_snapshots)
    style: Style = attrs.field(default="snake")
    wire_id: int | Literal["command"] | None = "command"

    @style.validator
    def _check_style(self, _attr: object, value: str) -> None:
        if value not in ("snake", "camel"):
            raise ValueError(f"style must be 'snake' or 'camel', got {value!r}")

    @property
    def final(self) -> Snapshot:
        """The last (terminal) snapshot."""
        return self.snapshots[-1]

    @property
    def duration(self) -> float:
        """Simulated seconds until the last timed snapshot."""
        times = [s.at for s in self.snapshots if s.at is not None]
        return max(times, default=0.0)

    @classmethod
    def build(
        cls,
        steps: int = 3,
        duration: float = 10.0,
        *,
        fail: bool = False,
        style: Style = "snake",
        waiting: float = 0.0,
        kind: Kind = "generic",
        service: str = "HDFS",
        error_code: int = -324,
        error_description: str | None = None,
        null_texts: bool = False,
        int_progress: bool = False,
        omit_res_obj: bool = False,
        cluster_id: int | None = 1,
    ) -> Timeline:
        """A realistic timeline: NEW, maybe WAITING, steps one by one, then COMPLETE or FAILED.

        ``kind`` names the steps (``"generic"``: Prepare, Execute, Verify); a failed
        start or stop lists a failed instance.  Without ``error_description`` a
        failure says what failed, per kind (``"Failed to start HDFS: an instance
        did not respond."``).

        >>> Timeline.build(steps=1, fail=True, kind="start").final.failed_entities
        (('DataNode@node-2', 'START'),)
        >>> Timeline.build(steps=2, fail=True).final.error_description
        'The HDFS command failed: an instance did not respond.'
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps!r}")
        if not duration > 0:
            raise ValueError(f"duration must be > 0, got {duration!r}")
        if not waiting >= 0:
            raise ValueError(f"waiting must be >= 0, got {waiting!r}")
        if fail and error_code >= 0:
            raise ValueError(f"error_code of a failure must be negative, got {error_code!r}")
        if kind not in _STEP_NAMES:
            raise ValueError(f"kind must be one of {sorted(_STEP_NAMES)}, got {kind!r}")
        omit = frozenset({"res_obj"}) if omit_res_obj else frozenset()
        names = _STEP_NAMES[kind]

        def progress(value: float) -> float | int:
            return int(value) if int_progress else round(value, 1)

        def step(i: int) -> Pair:
            name = names[i % len(names)].format(s=service)
            if i >= len(names):
                name = f"{name} ({i // len(names) + 1})"
            desc = None if null_texts else f"{name}: step {i + 1} of {steps}"
            return (name, desc)

        all_steps = [step(i) for i in range(steps)]
        common = {"cluster_id": cluster_id, "omit": omit, "total_step_size": steps}
        empty_text = None if null_texts else ""
        snaps = [
            Snapshot(
                at=0.0,
                state="NEW",
                total_progress=progress(0.0),
                error_description=empty_text,
                **common,  # type: ignore[arg-type]
            )
        ]
        start = 0.0
        if waiting > 0:
            snaps.append(
                Snapshot(
                    at=min(0.001, waiting / 2),
                    state="WAITING",
                    total_progress=progress(0.0),
                    error_description=empty_text,
                    **common,  # type: ignore[arg-type]
                )
            )
            start = waiting
        per = duration / steps
        for i in range(steps):
            for half in (0, 1):
                snaps.append(
                    Snapshot(
                        at=start + per * (i + 0.25 + 0.5 * half),
                        state="IN_PROGRESS",
                        total_progress=progress(100.0 * (i + 0.5 * half) / steps),
                        error_description=empty_text,
                        steps=all_steps[: i + 1],
                        **common,  # type: ignore[arg-type]
                    )
                )
        end = start + duration
        if fail:
            if error_description is None and not null_texts:
                what = _FAILURE_TEXT[kind].format(s=service)
                error_description = f"{what}: an instance did not respond."
            failed: list[Pair] = []
            if kind in ("start", "stop"):
                failed.append((_INSTANCES[1], kind.upper()))
            snaps.append(
                Snapshot(
                    at=end,
                    state="FAILED",
                    total_progress=progress(100.0 * (steps - 0.5) / steps),
                    error_code=error_code,
                    error_description=error_description,
                    steps=all_steps,
                    failed_entities=failed,
                    **common,  # type: ignore[arg-type]
                )
            )
        else:
            snaps.append(
                Snapshot(
                    at=end,
                    state="COMPLETE",
                    total_progress=progress(100.0),
                    error_description=empty_text,
                    steps=all_steps,
                    **common,  # type: ignore[arg-type]
                )
            )
        return cls(snapshots=tuple(snaps), style=style)
