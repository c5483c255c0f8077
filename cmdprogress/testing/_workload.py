"""Workloads: many realistic commands generated from a seed."""

from __future__ import annotations

import math
import random

import attrs

from ._timeline import SERVICES, Kind, Timeline

__all__ = ["Workload"]

_SERVICES = SERVICES[:8]  # HDFS, Yarn, Mapreduce, ZooKeeper, Kafka, Hive, HBase, Spark2x
_KINDS: tuple[Kind, ...] = ("start", "stop", "save", "generic")
_ERRORS = ((-300, "Service does not respond."), (-324, "Failed to start the instance."))


@attrs.frozen
class Workload:
    """``count`` commands with long-tailed durations, some failures and WAITING states.

    The same seed always gives the same timelines.

    >>> w = Workload(count=20, seed=1)
    >>> len(w.timelines()), w.timelines() == w.timelines()
    (20, True)
    """

    count: int = 100
    seed: int = 0
    failure_rate: float = 0.1
    waiting_rate: float = 0.2
    camel_rate: float = 0.0
    min_duration: float = 2.0
    median_duration: float = 60.0
    max_duration: float = 1800.0
    max_steps: int = 8

    def __attrs_post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count!r}")
        for name in ("failure_rate", "waiting_rate", "camel_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if not 0 < self.min_duration <= self.median_duration <= self.max_duration:
            raise ValueError("durations must satisfy 0 < min <= median <= max")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps!r}")

    def timelines(self) -> list[Timeline]:
        """The commands' timelines, in order."""
        rng = random.Random(self.seed)
        mu = math.log(self.median_duration)
        out = []
        for _ in range(self.count):
            duration = min(max(rng.lognormvariate(mu, 1.2), self.min_duration), self.max_duration)
            kind = rng.choice(_KINDS)
            fail = rng.random() < self.failure_rate
            code, text = rng.choice(_ERRORS)
            waiting = rng.uniform(1.0, 30.0) if rng.random() < self.waiting_rate else 0.0
            out.append(
                Timeline.build(
                    steps=rng.randint(1, self.max_steps),
                    duration=round(duration, 3),
                    fail=fail,
                    style="camel" if rng.random() < self.camel_rate else "snake",
                    waiting=round(waiting, 3),
                    kind=kind,
                    service=rng.choice(_SERVICES),
                    error_code=code,
                    error_description=text,
                )
            )
        return out
