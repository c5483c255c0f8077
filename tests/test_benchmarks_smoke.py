"""Smoke tests of the benchmark harness: tiny sizes, structure only, never timing thresholds."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

from benchmarks import freshness, overhead, replay
from benchmarks._results import Results, fmt, ratio
from benchmarks._sim import SimInfo, start_sim
from benchmarks._simserver import arrivals, workload_timelines
from cmdprogress.testing import Snapshot, Timeline

if TYPE_CHECKING:
    from pathlib import Path


def test_lag_counts_a_skipped_change_with_the_next_snapshot_received() -> None:
    """A change polled past is counted as arriving with the first later snapshot received."""
    timeline = Timeline(
        snapshots=(
            Snapshot(at=0.0, state="NEW"),
            Snapshot(at=1.0, state="IN_PROGRESS", total_progress=10.0, steps=(("a", "x"),)),
            Snapshot(at=2.0, state="IN_PROGRESS", total_progress=60.0, steps=(("a", "x"),)),
            Snapshot(at=3.0, state="COMPLETE", total_progress=100.0, steps=(("a", "x"),)),
        )
    )
    sim = SimInfo("http://x", epoch_monotonic=100.0, speed=2.0, ids=[7], added_at=[0.0])
    rec = freshness.Recorder([7])
    rec.received[0] = [
        (100.0, ("NEW", 0.0, 0)),
        (101.5, ("IN_PROGRESS", 60.0, 1)),  # at 1 s current at 100.5, at 2 s at 101.0
        (101.75, ("COMPLETE", 100.0, 1)),  # current at 101.5
    ]
    out = freshness.analyse("t", sim, [timeline], rec, wall=1.0, cpu=0.1)
    assert sorted(out.lags) == [
        1.0,
        2.0,
    ]  # simulated seconds: (101.5 - 101.0) * 2, (... - 100.5) * 2
    assert out.terminal_lags == [0.5]
    assert out.missing == 0


def test_results_render_the_ratio_next_to_the_baseline() -> None:
    """The results file lists the machine, each headline and each section's table."""
    results = Results({"Python": "3.11"}, "python -m benchmarks")
    section = results.section("s", "1. Something", "intro")
    section.table(["variant", "x bare"], [["bare", fmt(ratio(2.0, 2.0))]])
    results.headline("throughput", "0.95x", ">= 0.9x", True)
    text = results.render()
    assert "| Python | 3.11 |" in text
    assert "| throughput | 0.95x | >= 0.9x | yes |" in text
    assert "| bare | 1 |" in text


def test_workload_arrivals_are_seeded_and_shift_the_timeline() -> None:
    """The benchmark process rebuilds the simulator's shifted workload from the seed alone."""
    starts = arrivals(5, seed=3, spread=100.0)
    assert starts == arrivals(5, seed=3, spread=100.0)
    assert starts[0] == 0.0
    assert all(0.0 <= s <= 100.0 for s in starts)
    timelines = workload_timelines(5, seed=3, spread=100.0, max_duration=60.0)
    for start, timeline in zip(starts, timelines, strict=True):
        assert timeline.snapshots[0].at == 0.0
        assert timeline.snapshots[-1].at is not None
        assert timeline.snapshots[-1].at >= start


@pytest.mark.anyio
async def test_overhead_variants_send_exactly_the_requests_asked_for() -> None:
    """Against the simulator process, bare and get_progress send exactly the requested count."""
    with start_sim("frozen", "--commands", "8") as (server, sim):
        assert sim.url.startswith("http://127.0.0.1:")
        assert sim.ids == list(range(1, 9))
        bare = await overhead.measure("bare", sim, server, 4, 120)
        client = await overhead.measure("get_progress", sim, server, 4, 120)
        engine = await overhead.measure("watch_many", sim, server, 4, 120)
    assert bare.requests == client.requests == 120
    assert engine.requests >= 120
    assert bare.wall > 0
    assert client.cpu > 0


@pytest.mark.anyio
async def test_fixed_interval_poller_sees_every_command_end() -> None:
    """A tiny sped-up workload run: every terminal snapshot arrives, none is missed."""
    scenario = freshness.Scenario(count=6, seed=2, speed=400.0, spread=20.0, max_duration=20.0)
    out = await freshness.measure("fixed", freshness.fixed_interval(2.0), scenario)
    assert out.missing == 0
    assert len(out.terminal_lags) == 6
    assert out.requests >= 6


def _replayed(name: str, per_command: float, lag: float) -> replay.Replayed:
    """A made-up strategy: ``per_command`` requests per command, every lag equal to ``lag``."""
    return replay.Replayed(name, 10, round(10 * per_command), [lag] * 20, [lag] * 10)


def test_the_fixed_interval_curve_is_interpolated_in_the_interval() -> None:
    """At 15 requests per command, between 10 (lag 6) and 30 (lag 2): halfway in 1 / requests."""
    fixed = [_replayed("fixed 1 s", 30.0, 2.0), _replayed("fixed 3 s", 10.0, 6.0)]
    x = 1 / (0.5 * (1 / 30 + 1 / 10))  # 15 requests per command
    assert freshness.fixed_at(fixed, x, "lags", 0.95) == pytest.approx(4.0)
    assert freshness.fixed_at(fixed, 40.0, "lags", 0.5) is None  # off the measured range
    ours = _replayed("cmdprogress (x)", x, 3.9)
    (point,) = freshness.frontier([ours], fixed, {"cmdprogress (x)": 12.0})
    assert point.below == (True, True, True, True)
    (point,) = freshness.frontier([_replayed("y", x, 4.1)], fixed, {"y": 12.0})
    assert point.below == (False, False, False, False)


def test_a_run_of_the_freshness_part_alone_rewrites_only_its_sections() -> None:
    """Other sections and target rows stay as they were; this part's are replaced in place."""
    old = Results({"Python": "3.11"}, "python -m benchmarks")
    old.headline("engine throughput", "0.97x", ">= 0.9x", True)
    old.headline("median lag: default policy vs fixed 1 s", "0.8 s", "close", True)
    old.headline("pacing settles", "3 s", "<= 5 s", True)
    old.section("overhead", "1. Overhead").text("overhead figures")
    old.section("freshness", freshness.TITLE).text("old freshness figures")
    old.section("pacing", "7. Pacing").text("pacing figures")
    new = Results({"Python": "3.11"}, "python -m benchmarks freshness")
    new.headline("cmdprogress (default policy) below the curve", "0.5x", "< 1x", True)
    new.section("freshness", freshness.TITLE).text("new freshness figures")
    text = freshness.merge_into(old.render(), new)
    assert "old freshness figures" not in text
    assert text.index("overhead figures") < text.index("new freshness figures")
    assert text.index("new freshness figures") < text.index("pacing figures")
    cells = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ")]
    assert [c for c in cells if c not in ("|", "| Target", "| Python")] == [
        "| engine throughput",
        "| cmdprogress (default policy) below the curve",
        "| pacing settles",
    ]
    assert freshness.merge_into(text, new) == text  # idempotent


def test_the_offline_replay_polls_a_fixed_interval_as_the_benchmark_does() -> None:
    """Fixed 2 s with latency 0.1: every lag below 2.15 s, about one request per 2.1 s."""
    timelines = workload_timelines(20, seed=3, spread=100.0, max_duration=60.0)
    starts = arrivals(20, seed=3, spread=100.0)
    cmds = replay.commands(timelines, starts)
    out = replay.replay_fixed("fixed 2 s", cmds, 2.0, latency=0.1)
    assert max(out.lags + out.terminal_lags) <= 2.0 + 1.5 * 0.1 + 1e-9  # seen at t + 0.05
    assert len(out.terminal_lags) == 20
    busy = sum(t.snapshots[-1].at - s for t, s in zip(timelines, starts, strict=True))
    assert out.requests == pytest.approx(busy / 2.1 + 20, rel=0.1)
    lines = replay.frontier_lines(timelines, starts, [("default", {})])
    assert lines[-1].startswith("default")
    assert lines[-1].endswith("of 4")


def test_the_frontier_plots_are_written_beside_the_results(tmp_path: Path) -> None:
    """Two PNG files (changes, terminal) in the results' directory, created if missing."""
    pytest.importorskip("matplotlib")
    fixed = [_replayed(f"fixed {s} s", 30.0 / s, s / 2) for s in (1, 3, 10)]
    ours = [_replayed("cmdprogress (default policy)", 12.0, 0.5)]
    points = freshness.frontier(ours, fixed, {"cmdprogress (default policy)": 9.0})
    written = freshness.plot([*fixed, *ours], points, {"x": 9.0}, tmp_path / "new")
    assert [p.name for p in written] == ["freshness_lag.png", "freshness_terminal.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_a_run_of_the_overhead_part_alone_rewrites_only_its_section() -> None:
    """Other sections and target rows stay; the overhead section and its rows are replaced."""
    old = Results({"Python": "3.11"}, "python -m benchmarks")
    old.headline("engine throughput vs bare aiohttp @ 16", "0.97x", ">= 0.9x", True)
    old.headline("pacing settles", "3 s", "<= 5 s", True)
    old.section("overhead", overhead.TITLE).text("old overhead figures")
    old.section("pacing", "8. Pacing").text("pacing figures")
    new = Results({"Python": "3.11"}, "python -m benchmarks overhead")
    new.headline("watch_many throughput vs bare aiohttp, moving @ 16", "0.9x", ">= 0.9x", True)
    new.section("overhead", overhead.TITLE).text("new overhead figures")
    text = overhead.merge_into(old.render(), new)
    assert "old overhead figures" not in text
    assert text.index("new overhead figures") < text.index("pacing figures")
    cells = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ")]
    assert [c for c in cells if c not in ("|", "| Target", "| Python")] == [
        "| watch_many throughput vs bare aiohttp, moving @ 16",
        "| pacing settles",
    ]
    assert overhead.merge_into(text, new) == text  # idempotent


@pytest.mark.anyio
async def test_the_moving_simulator_answers_news_on_every_request() -> None:
    """Each answer for an id differs from the one before; the consumer gets one per poll."""
    import aiohttp

    with start_sim("moving", "--commands", "2") as (server, sim):
        url = sim.url + overhead.PATH.format(sim.ids[0])
        async with aiohttp.ClientSession() as session:
            bodies = []
            for _ in range(5):
                async with session.get(url) as resp:
                    bodies.append(await resp.read())
        assert all(a != b for a, b in itertools.pairwise(bodies))
        run = await overhead.measure("watch_many", sim, server, 2, 60)
    # Every poll is news; only a consumer lagging behind would see two coalesced.
    assert run.delivered > run.requests // 2


def test_trees_compares_two_installs_round_by_round(tmp_path: Path) -> None:
    """Both sides run in their own processes against one simulator; the section is rewritten
    in place, every other section kept."""
    import sys

    from benchmarks import trees

    runs = trees.measure(
        sys.executable, sys.executable, workloads=["frozen"], concs=[4], requests=40, rounds=2
    )
    assert {key[2:] for key in runs} == {
        ("bare", "bare"),
        ("get_progress", "baseline"),
        ("get_progress", "candidate"),
        ("watch_many", "baseline"),
        ("watch_many", "candidate"),
    }
    for (_, _, variant, _), got in runs.items():
        assert len(got) == 2
        assert all(r["requests"] >= 40 and r["wall"] > 0 and r["cpu"] > 0 for r in got)
        if variant == "watch_many":
            assert all(r["delivered"] == 0 for r in got)  # frozen: nothing new to hand over
    rows = trees.table(runs)
    assert len(rows) == 2 + 5
    assert rows[-1].startswith("| frozen: watch_many @ 4 | candidate |")
    out = tmp_path / "RESULTS.md"
    out.write_text("# R\n\n## 1. Other\n\nkept\n", encoding="utf-8")
    trees.write_section(out, [f"## {trees.TITLE}", "", "first"])
    trees.write_section(out, [f"## {trees.TITLE}", "", "second"])
    text = out.read_text(encoding="utf-8")
    assert "kept" in text
    assert "second" in text
    assert "first" not in text
    assert text.count(trees.TITLE) == 1
