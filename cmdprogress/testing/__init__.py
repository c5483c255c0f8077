"""A simulated MRS / FusionInsight Manager for tests, demos and benchmarks.

It serves the command progress endpoint and the start/stop/save actions on
127.0.0.1, logs in like the real Manager (none, CAS or Basic), speaks TLS with
a private CA on demand, and misbehaves on demand.  Commands follow explicit
:class:`Timeline` s on a clock the test moves, so tests never sleep.  It never
imports the client side of cmdprogress.  Full reference: ``docs/testing.md``.

>>> import anyio
>>> from cmdprogress.testing import ManagerSimulator, Timeline
>>> async def main() -> tuple[str, str]:
...     async with ManagerSimulator() as sim:
...         cid = sim.add_command(Timeline.build(steps=2, duration=10.0, fail=True))
...         before = sim.snapshot_json(cid)["state"]
...         sim.clock.advance(10.0)
...         return before, sim.snapshot_json(cid)["state"]
>>> anyio.run(main)
('NEW', 'FAILED')

With pytest: ``pytest_plugins = ["cmdprogress.testing.pytest_plugin"]`` gives
the ``manager_sim`` and ``manager_sim_factory`` fixtures.  Out of process:
``python -m cmdprogress.testing serve --workload 100`` prints its URL first.
"""

from __future__ import annotations

from ._capacity import Capacity
from ._clock import ManualClock, RealClock
from ._commands import default_action_timeline
from ._faults import Fault, FaultPlan
from ._server import ManagerSimulator
from ._stats import RequestRecord, SimStats
from ._timeline import Snapshot, Timeline
from ._workload import Workload

__all__ = [
    "Capacity",
    "Fault",
    "FaultPlan",
    "ManagerSimulator",
    "ManualClock",
    "RealClock",
    "RequestRecord",
    "SimStats",
    "Snapshot",
    "Timeline",
    "Workload",
    "default_action_timeline",
]
