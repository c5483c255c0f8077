"""Smoke tests of the issue-14 benchmarks: structure only, never timing thresholds."""

from __future__ import annotations

from benchmarks import checkpoint_size, otel_cost
from benchmarks._results import Results

OTHER = "# results\n\n## 1. Overhead\n\nkeep me\n\n## 6. Decoding cost\n\nkeep me too\n"


def test_only_its_own_section_is_rewritten() -> None:
    """`python -m benchmarks otel` adds its section once, then replaces just that section."""
    first = Results({}, "x")
    first.section("otel", otel_cost.TITLE).text("figures A")
    added = otel_cost._replace_section(OTHER, first.render())
    assert added.startswith(OTHER.rstrip())
    assert "figures A" in added
    second = Results({}, "x")
    second.section("otel", otel_cost.TITLE).text("figures B")
    replaced = otel_cost._replace_section(added + "\n## 8. Later\n\nafter\n", second.render())
    assert "figures A" not in replaced
    assert replaced.count(otel_cost.TITLE) == 1
    assert "keep me too" in replaced
    assert replaced.index("figures B") < replaced.index("## 8. Later")


def test_checkpoint_sizes_are_measured_per_command() -> None:
    """The size table has its three rows; an empty checkpoint entry is a few dozen bytes."""
    results = Results({}, "x")
    section = results.section("otel", otel_cost.TITLE)
    sizes = checkpoint_size.measure(section, quick=True)
    assert list(sizes) == ["nothing handed out yet", "middle snapshot", "last before the end"]
    assert 20 < sizes["nothing handed out yet"] < sizes["middle snapshot"]
    assert sum(line.startswith("| ") for line in section.lines) == 1 + 3  # header, rows
