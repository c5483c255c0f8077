"""The simulated commands: each follows its timeline on the simulator's clock."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import attrs

from ._timeline import Kind, Timeline, encode_snapshot

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._config import SimConfig

__all__ = ["Command", "CommandStore", "Rejection", "default_action_timeline"]


def default_action_timeline(kind: Kind, service: str) -> Timeline:
    """The timeline a command created by start/stop/save follows (3 steps, 30 s)."""
    return Timeline.build(steps=3, duration=30.0, kind=kind, service=service)


@attrs.define
class Command:
    """One command: its timeline, when it started, and how far a test pushed it."""

    timeline: Timeline
    wire_id: int | None
    started: float
    forced: int = 0
    times: list[float] = attrs.field(factory=list)
    indexes: list[int] = attrs.field(factory=list)
    bodies: list[bytes | None] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        for i, snap in enumerate(self.timeline.snapshots):
            if snap.at is not None:
                self.times.append(snap.at)
                self.indexes.append(i)
        self.bodies = [None] * len(self.timeline.snapshots)

    def index(self, now: float) -> int:
        """The current snapshot: the latest one due by ``now``, or the forced one if further."""
        pos = bisect.bisect_right(self.times, now - self.started)
        by_time = self.indexes[pos - 1] if pos else 0
        return by_time if by_time > self.forced else self.forced

    def body(self, index: int) -> bytes:
        """The wire JSON of snapshot ``index``, encoded once and kept."""
        cached = self.bodies[index]
        if cached is None:
            cached = encode_snapshot(
                self.timeline.snapshots[index], style=self.timeline.style, wire_id=self.wire_id
            )
            self.bodies[index] = cached
        return cached


@attrs.define
class Rejection:
    """The next ``remaining`` start/stop/save calls answer FAILED with this error."""

    remaining: int
    error_code: int
    error_description: str


@attrs.define(eq=False)
class CommandStore:
    """Every command by id, in creation order, and the queued action rejections.

    ``notify`` is called after every change a test may wait for.
    """

    _cfg: SimConfig
    _notify: Callable[[], None]
    _commands: dict[int, Command] = attrs.field(factory=dict)
    _next_id: int = 1
    _rejections: list[Rejection] = attrs.field(factory=list)

    def add(self, timeline: Timeline, command_id: int | None) -> int:
        """Create a command following ``timeline``, starting now; returns its id."""
        if not isinstance(timeline, Timeline):
            raise TypeError(f"add_command() needs a Timeline, got {type(timeline).__name__}")
        if command_id is None:
            while self._next_id in self._commands:
                self._next_id += 1
            command_id = self._next_id
            self._next_id += 1
        elif not isinstance(command_id, int) or command_id < 0:
            raise ValueError(f"command_id must be an int >= 0, got {command_id!r}")
        elif command_id in self._commands:
            raise ValueError(f"command {command_id} already exists")
        wid = timeline.wire_id
        wire_id = command_id if wid == "command" else wid
        self._commands[command_id] = Command(timeline, wire_id, self._cfg.clock.now())
        self._notify()
        return command_id

    @property
    def ids(self) -> list[int]:
        """Every command id, in creation order."""
        return list(self._commands)

    def get(self, command_id: int) -> Command:
        """The command, or ``KeyError`` naming the id."""
        try:
            return self._commands[command_id]
        except KeyError:
            raise KeyError(f"no command {command_id!r} in this simulator") from None

    def body_now(self, command_id: int | None) -> bytes | None:
        """The current wire JSON of a command, or ``None`` for an unknown id."""
        cmd = self._commands.get(command_id) if command_id is not None else None
        return cmd.body(cmd.index(self._cfg.clock.now())) if cmd is not None else None

    def index(self, command_id: int) -> int:
        """The position of the command's current snapshot in its timeline."""
        return self.get(command_id).index(self._cfg.clock.now())

    def advance(self, command_id: int, n: int) -> None:
        """Move a command ``n`` snapshots further (never past the last)."""
        if n < 0:
            raise ValueError(f"advance() needs n >= 0, got {n!r}")
        cmd = self.get(command_id)
        last = len(cmd.timeline.snapshots) - 1
        cmd.forced = min(cmd.index(self._cfg.clock.now()) + n, last)
        self._notify()

    def finish(self, command_id: int) -> None:
        """Jump a command to its terminal snapshot."""
        cmd = self.get(command_id)
        cmd.forced = len(cmd.timeline.snapshots) - 1
        self._notify()

    def reject(self, times: int, error_code: int, error_description: str) -> None:
        """Queue a rejection of the next ``times`` start/stop/save calls."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        self._rejections.append(Rejection(times, error_code, error_description))

    def take_rejection(self) -> Rejection | None:
        """The rejection the next action gets (counting it down), or ``None``."""
        if not self._rejections:
            return None
        rej = self._rejections[0]
        rej.remaining -= 1
        if rej.remaining <= 0:
            self._rejections.pop(0)
        return rej
