"""PollPolicy validation: every bad value names its argument."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cmdprogress import PollPolicy
from cmdprogress.exceptions import InvalidArgumentError


def test_defaults() -> None:
    """The defaults are the documented ones."""
    p = PollPolicy()
    assert (p.interval, p.max_interval, p.backoff, p.jitter) == (1.0, 15.0, 1.5, 0.1)
    assert p.max_requests_per_second is None
    assert p.stall_timeout is None
    assert p.outage_grace == 300.0
    assert p.max_commands == 100_000


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"interval": 0}, "interval"),
        ({"interval": -1}, "interval"),
        ({"interval": math.nan}, "interval"),
        ({"interval": "1"}, "interval"),
        ({"interval": True}, "interval"),
        ({"interval": 5, "max_interval": 1}, "max_interval"),
        ({"backoff": 0.5}, "backoff"),
        ({"jitter": 1.5}, "jitter"),
        ({"jitter": None}, "jitter"),
        ({"max_requests_per_second": 0}, "max_requests_per_second"),
        ({"max_requests_per_second": math.inf}, "max_requests_per_second"),
        ({"stall_timeout": -2}, "stall_timeout"),
        ({"outage_grace": -1}, "outage_grace"),
        ({"outage_grace": math.inf}, "outage_grace"),
        ({"outage_grace": "soon"}, "outage_grace"),
        ({"throttle_pause": 0}, "throttle_pause"),
        ({"max_commands": 0}, "max_commands"),
        ({"max_commands": 1.5}, "max_commands"),
    ],
)
def test_invalid_values_name_the_argument(kwargs: dict[str, Any], argument: str) -> None:
    """A bad value raises InvalidArgumentError naming the parameter."""
    with pytest.raises(InvalidArgumentError) as info:
        PollPolicy(**kwargs)
    assert info.value.argument == argument
    assert argument in str(info.value)


def test_zero_outage_grace_and_none_are_allowed() -> None:
    """outage_grace 0 (give up at once) and None (never) are both valid."""
    assert PollPolicy(outage_grace=0).outage_grace == 0
    assert PollPolicy(outage_grace=None).outage_grace is None
