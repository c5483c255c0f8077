"""Smoke tests of the pacing benchmarks' pieces: structure only, never timing thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks import pacing

if TYPE_CHECKING:
    from pathlib import Path


def test_write_section_replaces_only_its_own_section(tmp_path: Path) -> None:
    """Other sections of RESULTS.md stay byte for byte; the pacing one is replaced."""
    path = tmp_path / "RESULTS.md"
    before = "# results\n\n## 1. Overhead\n\nkept\n"
    path.write_text(before, encoding="utf-8")
    first = f"## {pacing.TITLE}\n\nold figures\n\n{pacing.END_MARK}\n"
    pacing.write_section(first, path)
    pacing.write_section(first.replace("old", "new"), path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(before)
    assert "new figures" in text
    assert "old figures" not in text
    assert text.count(pacing.TITLE) == 1


def test_settle_time_is_when_the_rate_enters_the_band_for_good() -> None:
    """A rate that enters the 15 % band at 3 s and stays there settled 3 s after the change."""
    trace = pacing.Trace()
    served = 0
    for i in range(41):  # 10 s, every 0.25 s
        t = i * pacing.SAMPLE
        trace.times.append(t)
        trace.served.append(served)
        trace.refused.append(0)
        trace.limit.append(None)
        served += round((100 if t < 1.0 else 30) * pacing.SAMPLE)  # hammering, then 30/s
    settled = pacing.settle_time(trace, 0.0, 10.0, 30.0)
    assert settled is not None
    assert 1.0 < settled <= 3.5


def test_adaptive_peer_cuts_by_the_published_factor() -> None:
    """The botocore-style limiter turns on at the first throttle, at 0.7 of the measured rate."""
    limiter = pacing.AdaptiveLimiter()
    assert not limiter.enabled
    limiter.measured = 100.0
    limiter.on_response(throttled=True)
    assert limiter.enabled
    assert limiter.w_max <= 100.0
    assert limiter.rate <= 0.7 * 100.0 + 1e-9
