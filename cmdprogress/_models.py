"""The values cmdprogress hands out: frozen, comparable, hashable."""

from __future__ import annotations

import enum

import attrs

__all__ = [
    "MAX_FAILED_ENTITIES",
    "MAX_STEPS",
    "CommandProgress",
    "CommandState",
    "FailedEntity",
    "Step",
]

MAX_STEPS = 1000
"""The most steps one snapshot holds: the last ones the Manager listed (see ``steps_omitted``)."""
MAX_FAILED_ENTITIES = 10_000
"""The most failed instances one snapshot holds: the last ones listed (see
``failed_entities_omitted``)."""


class CommandState(enum.Enum):
    """The state of a Manager command.

    ``COMPLETE`` (success) and ``FAILED`` are terminal.  Any state text the
    library does not know becomes ``UNKNOWN`` (never terminal); the text itself
    stays on :attr:`CommandProgress.raw_state`.

    >>> CommandState.COMPLETE.is_terminal
    True
    >>> CommandState.parse("WAITING")
    <CommandState.UNKNOWN: 'UNKNOWN'>
    """

    NEW = "NEW"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True for ``COMPLETE`` and ``FAILED``."""
        return self is CommandState.COMPLETE or self is CommandState.FAILED

    @classmethod
    def parse(cls, raw: str | None) -> CommandState:
        """Map a wire state to a member; anything unknown (or ``None``) is ``UNKNOWN``.

        Matching is exact: the Manager sends upper-case names.
        """
        if raw is None or raw == "UNKNOWN":
            return cls.UNKNOWN
        return _BY_VALUE.get(raw, cls.UNKNOWN)


_BY_VALUE: dict[str, CommandState] = {s.value: s for s in CommandState}


@attrs.frozen
class Step:
    """One step of a command, as listed in ``res_obj.step_list``.

    >>> Step("Start HDFS", "Starting NameNode").name
    'Start HDFS'
    """

    name: str = ""
    description: str = ""


@attrs.frozen
class FailedEntity:
    """An instance a start/stop command failed on (``res_obj.fail_entity_list``).

    >>> FailedEntity("DataNode@node-3", "START").entity
    'DataNode@node-3'
    """

    entity: str = ""
    operation_type: str = ""


@attrs.frozen
class CommandProgress:
    """One snapshot of a command's progress.

    ``command_id`` is the id that was queried (the wire ``id`` is something
    else, often -1, and is kept as ``wire_id``).  Two snapshots are equal when
    every field is equal, so ``a != b`` means "something changed".

    Bounded: a snapshot keeps at most :data:`MAX_STEPS` steps and
    :data:`MAX_FAILED_ENTITIES` failed instances, the last ones the Manager
    listed; ``steps_omitted`` / ``failed_entities_omitted`` count what was left
    out (0 normally), so a truncated snapshot says so.

    ``missed`` is set on a snapshot a watcher hands out right after a gap: the
    number of this command's snapshots that watcher dropped just before it,
    because its consumer fell too far behind (see ``docs/guarantees.md``).  It
    is 0 normally, and not part of equality.

    >>> p = CommandProgress(command_id=7, state=CommandState.COMPLETE, total_progress=100.0)
    >>> p.is_terminal, p.raw_state
    (True, 'COMPLETE')
    """

    command_id: int
    state: CommandState
    total_progress: float = 0.0
    error_code: int = 0
    error_description: str = ""
    steps: tuple[Step, ...] = ()
    failed_entities: tuple[FailedEntity, ...] = ()
    total_step_size: int = 0
    cluster_id: int | None = None
    raw_state: str = attrs.field(
        default=attrs.Factory(lambda self: self.state.value, takes_self=True)
    )
    wire_id: int = -1
    steps_omitted: int = 0
    failed_entities_omitted: int = 0
    missed: int = attrs.field(default=0, eq=False, repr=False)

    @property
    def is_terminal(self) -> bool:
        """True once the command reached ``COMPLETE`` or ``FAILED``."""
        return self.state.is_terminal

    @property
    def succeeded(self) -> bool:
        """True when the command ended ``COMPLETE``."""
        return self.state is CommandState.COMPLETE

    @property
    def current_step(self) -> Step | None:
        """The most recent step the Manager listed, or ``None`` before the first."""
        return self.steps[-1] if self.steps else None
