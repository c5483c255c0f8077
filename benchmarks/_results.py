"""Collect figures while the benchmarks run, then write ``RESULTS.md``.

Each figure sits next to its baseline and the ratio between them; each section
ends with its findings (what was measured to limit a figure that missed).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from pathlib import Path


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, thousands separated; '-' for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 10**digits:
        return f"{value:,.0f}"
    text = f"{value:.{digits}g}"
    if "e" in text:
        return f"{value:.2e}"
    return text


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or ``None`` when either is missing or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


@attrs.define
class Headline:
    """One target of the issue: the figure reached, the target, met or not."""

    label: str
    reached: str
    target: str
    met: bool | None


@attrs.define
class Section:
    """One benchmark's part of the results file."""

    key: str
    title: str
    intro: str = ""
    lines: list[str] = attrs.Factory(list)
    findings: list[str] = attrs.Factory(list)
    raw: dict[str, Any] = attrs.Factory(dict)

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        """Append a markdown table."""
        self.lines.append("| " + " | ".join(headers) + " |")
        self.lines.append(
            "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"
        )
        self.lines.extend("| " + " | ".join(row) + " |" for row in rows)
        self.lines.append("")

    def text(self, *paragraphs: str) -> None:
        """Append paragraphs."""
        for p in paragraphs:
            self.lines.extend([p, ""])


@attrs.define
class Results:
    """Everything one run of ``python -m benchmarks`` measured."""

    machine: dict[str, str]
    command: str
    started: dt.datetime = attrs.Factory(lambda: dt.datetime.now(dt.UTC))
    sections: list[Section] = attrs.Factory(list)
    headlines: list[Headline] = attrs.Factory(list)
    errors: list[str] = attrs.Factory(list)
    duration: float = 0.0

    def section(self, key: str, title: str, intro: str = "") -> Section:
        """Start a section (in the order they are written)."""
        s = Section(key, title, intro)
        self.sections.append(s)
        return s

    def headline(self, label: str, reached: str, target: str, met: bool | None) -> None:
        """Record one target and what was reached."""
        self.headlines.append(Headline(label, reached, target, met))

    def render(self) -> str:
        """The whole results file as markdown."""
        out = [
            "# cmdprogress benchmark results",
            "",
            "Written by `python -m benchmarks` (`nox -s bench`); do not edit by hand.",
            f"Run started {self.started:%Y-%m-%d %H:%M} UTC, took {self.duration / 60:.1f} min: "
            f"`{self.command}`.",
            "",
            "Every figure is measured in this one run, side by side with its baseline "
            "(same simulator build, same request count, same concurrency; variants "
            "interleaved). The simulator runs in its own process, the client in the "
            "benchmark process: one core each. CPU figures are the client process's "
            "CPU time (user + system) over the measured part.",
            "",
            "## Machine",
            "",
            "| | |",
            "|---|---|",
        ]
        out += [f"| {k} | {v} |" for k, v in self.machine.items()]
        out.append("")
        if self.headlines:
            out += ["## Targets", "", "| Target | Reached | Goal | Met |", "|---|---:|---:|:-:|"]
            for h in self.headlines:
                mark = "-" if h.met is None else ("yes" if h.met else "**no**")
                out.append(f"| {h.label} | {h.reached} | {h.target} | {mark} |")
            out.append("")
        if self.errors:
            out += ["## Benchmarks that did not run", ""]
            out += [f"- {e}" for e in self.errors]
            out.append("")
        for s in self.sections:
            out += [f"## {s.title}", ""]
            if s.intro:
                out += [s.intro, ""]
            out += s.lines
            if s.findings:
                out += ["**Findings.**", ""]
                out += [f"- {f}" for f in s.findings]
                out.append("")
        return "\n".join(out).rstrip() + "\n"

    def write(self, path: Path, raw_path: Path | None = None) -> None:
        """Write the markdown file (and the raw figures as JSON, if asked)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        if raw_path is not None:
            raw_path.parent.mkdir(parents=True, exist_ok=True)
            raw = {
                "machine": self.machine,
                "started": self.started.isoformat(),
                "duration": self.duration,
                "sections": {s.key: s.raw for s in self.sections},
                "headlines": [attrs.asdict(h) for h in self.headlines],
                "errors": self.errors,
            }
            raw_path.write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
