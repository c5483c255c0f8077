"""``cmdprogress demo``: the simulator in-process, watched with the ``watch`` display.

The workload is built here from the seed, so that it always finishes in well
under a minute at speed 1: durations from 3 s to 30 s (long-tailed, median
about 10 s), a short ``WAITING`` state for some, a few failures of start/stop
commands with failed instances.  The simulator logs in with CAS, and its
sessions are expired once half of the commands have ended: the client logs
in again, once, and nothing is lost.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from ._track import ExitCode, Tracker

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..testing import Timeline
    from ..testing._timeline import Kind
    from ._args import DemoSettings
    from ._display import Display

__all__ = ["demo_timelines", "run_demo"]

USER = "admin"
_SERVICES = ("HDFS", "Yarn", "HBase", "Hive", "ZooKeeper", "Kafka", "Spark2x", "Flink")
_FAILURES = (
    (-324, "Failed to start the instance."),
    (-300, "Service does not respond."),
    (-301, "Failed to stop the role instance."),
)


def demo_timelines(count: int, seed: int) -> list[Timeline]:
    """The demo's commands: the same seed gives the same list.

    At least one failure when there are five commands or more, about one in
    twelve otherwise; every failure is a start or stop with failed instances.
    """
    from ..testing import Timeline

    rng = random.Random(seed)
    n_fail = 0 if count < 5 else max(1, round(count / 12))
    failing = set(rng.sample(range(count), n_fail))
    out: list[Timeline] = []
    for i in range(count):
        duration = min(max(rng.lognormvariate(math.log(10.0), 0.7), 3.0), 28.0)
        fail = i in failing
        kinds: tuple[Kind, ...] = ("start", "stop") if fail else ("start", "stop", "save")
        kind = rng.choice(kinds)
        code, text = rng.choice(_FAILURES)
        out.append(
            Timeline.build(
                steps=rng.randint(2, 6),
                duration=round(duration, 2),
                fail=fail,
                waiting=round(rng.uniform(0.5, 2.0), 2) if rng.random() < 0.15 else 0.0,
                kind=kind,
                service=rng.choice(_SERVICES),
                error_code=code,
                error_description=text,
            )
        )
    return out


async def run_demo(
    settings: DemoSettings,
    display: Display,
    *,
    password: str,
    counters: Callable[[Any], dict[str, Any]],
) -> int:
    """Start the simulator, watch its workload, print the summary; return the exit status.

    The exit status is 0 when the demo ran as planned: every command ended,
    COMPLETE or FAILED (its failures are scripted, so they are not the run's);
    2 if a command ended with an error or a whole-watch error occurred.
    """
    from .._auth import CASAuth
    from .._client import Client
    from .._policy import PollPolicy
    from ..testing import ManagerSimulator
    from ._run import Fatal, follow, title_for

    speed = settings.speed
    async with ManagerSimulator(
        auth="cas", clock="real", speed=speed, username=USER, password=password
    ) as sim:
        ids = [sim.add_command(t) for t in demo_timelines(settings.commands, settings.seed)]
        tracker = Tracker(ids)
        half = max(1, len(ids) // 2)
        expired = False

        def on_change(t: Tracker) -> None:
            nonlocal expired
            if not expired and t.done >= half:
                expired = True
                sim.expire_sessions()
                display.note(
                    f"demo: the Manager expired every session after {t.done} of {len(t)} "
                    "commands ended; the client logs in again, once, and goes on"
                )

        client = Client(
            sim.url,
            auth=CASAuth(USER, password, cas_url=sim.cas_url),
            poll=PollPolicy(interval=max(0.01, 0.5 / speed), max_interval=max(0.02, 2.0 / speed)),
        )
        display.note(
            f"demo: a simulated Manager at {sim.url} (CAS login at {sim.cas_url}), "
            f"{len(ids)} commands, speed {speed:g}, seed {settings.seed}"
        )
        fatal: Fatal | None = None
        try:
            async with client:
                await follow(
                    client,
                    tracker,
                    display,
                    title=title_for(len(ids), sim.url),
                    user=USER,
                    on_change=on_change,
                )
        except Fatal as e:
            fatal = e  # raised below, outside the simulator's task group
        finally:
            display.stop()
    if fatal is not None:
        raise fatal
    display.summary(tracker, counters(client))
    code = tracker.exit_code()
    return int(ExitCode.OK if code is ExitCode.FAILED else code)
