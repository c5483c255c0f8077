"""Issue 14's costs: checkpoint size, and OpenTelemetry's CPU per poll, on and off.

``python -m benchmarks otel [--quick]`` measures and rewrites only its own
section of ``benchmarks/RESULTS.md`` (the full ``python -m benchmarks`` run
includes it too). The checkpoint sizes come from ``checkpoint_size.py``.

One simulator process serves 256 commands frozen mid-run (every poll is
answered, nothing changes). Interleaved over the rounds, each variant polls
them through the engine as fast as the policy allows (the overhead
benchmark's engine run), concurrency 16, after a warm-up:

- ``off``: a plain client: no OpenTelemetry module is even imported for it;
- ``on``: ``instrument_client`` with the SDK: a ``TracerProvider`` whose
  ``BatchSpanProcessor`` hands every span to an exporter that drops it (the
  cost of building, ending and batching spans, not of any network), and a
  ``MeterProvider`` with a reader (the aiohttp instrumentation records its
  duration histogram on every request; cmdprogress' own counters cost only
  when the SDK collects);
- ``off + empty TraceConfig``: ``off`` with one aiohttp ``TraceConfig`` that
  has no callbacks: what aiohttp's own tracing machinery costs any
  ``trace_configs`` user, OpenTelemetry or not;
- ``on, no HTTP histogram``: the same with ``http_metrics=False``;
- ``on, sampled out``: ``on`` with the ``ALWAYS_OFF`` sampler, the usual
  setting for a busy service that samples a few traces.

Figures: the client process's CPU per progress request (a poll is one
request here), median over the rounds, and its ratio to ``off``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from . import checkpoint_size
from ._harness import Meter, machine_info
from ._results import Results, fmt, ratio
from ._sim import start_sim
from .overhead import _make_client, engine_run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._harness import ServerProcess
    from ._sim import SimInfo

HERE = Path(__file__).resolve().parent
TITLE = "7. Restarts and tracing: checkpoint size, OpenTelemetry cost (issue 14)"
VARIANTS = ("off", "off + empty TraceConfig", "on", "on, no HTTP histogram", "on, sampled out")
CONCURRENCY = 16


def _instrumented(url: str, sampled: bool, http_metrics: bool) -> tuple[Any, list[Any]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    from cmdprogress.instrumentation.otel import instrument_client

    class DropExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider(sampler=ALWAYS_ON if sampled else ALWAYS_OFF)
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    client = instrument_client(
        _make_client(url, CONCURRENCY),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        http_metrics=http_metrics,
    )
    return client, [tracer_provider, meter_provider]


_PARTS = (
    ("OpenTelemetry aiohttp instrumentation", "opentelemetry/instrumentation/aiohttp_client/"),
    ("OpenTelemetry SDK", "opentelemetry/sdk/"),
    ("OpenTelemetry API, semconv, util", "opentelemetry/"),
    ("cmdprogress.instrumentation", "cmdprogress/instrumentation/"),
)


def _shares(profile: cProfile.Profile) -> list[tuple[str, float]]:
    """Share of the profiled CPU (own time) spent in each telemetry layer."""
    stats = pstats.Stats(profile)
    own: dict[str, float] = {}
    total = 0.0
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        tottime = row[2]
        total += tottime
        for label, prefix in _PARTS:
            if prefix in filename.replace("\\", "/"):
                own[label] = own.get(label, 0.0) + tottime
                break
    return [(label, own.get(label, 0.0) / total) for label, _ in _PARTS]


async def measure(
    variant: str,
    sim: SimInfo,
    server: ServerProcess,
    total: int,
    profile: cProfile.Profile | None = None,
) -> float:
    """Client CPU microseconds per progress request of one warmed-up run."""
    providers: list[Any] = []
    if variant == "off":
        client = _make_client(sim.url, CONCURRENCY)
    elif variant == "off + empty TraceConfig":
        client = _make_client(sim.url, CONCURRENCY)
        client._trace_configs = [aiohttp.TraceConfig()]
    else:
        client, providers = _instrumented(
            sim.url, sampled="sampled out" not in variant, http_metrics="no HTTP" not in variant
        )
    meter = Meter(server_pid=server.pid)
    async with client:
        done = await engine_run(client, sim.ids, total, meter, profile)
    for provider in providers:
        provider.shutdown()
    if not server.alive():
        raise RuntimeError(f"the simulator died during {variant}: {server.stderr_tail()}")
    return 1e6 * meter.cpu / done


async def run(results: Results, *, quick: bool = False) -> None:
    """Measure, then write the tracing-cost section of ``results``."""
    total = 300 if quick else 6000
    rounds = 1 if quick else 5
    section = results.section("otel", TITLE)
    section.text(
        f"Measured {results.started:%Y-%m-%d %H:%M} UTC with Python "
        f"{sys.version.split()[0]}, the machine of the header (shared: other processes run)."
    )
    sizes = checkpoint_size.measure(section, quick=quick)
    section.text(
        f"**Tracing cost** (`benchmarks/otel_cost.py`, `python -m benchmarks otel`): "
        f"{total:,} progress requests "
        f"per run through the engine (`watch_many` over 256 frozen commands, polling as fast as "
        f"the policy allows, `max_concurrency={CONCURRENCY}`), {rounds} rounds, variants "
        "interleaved; the median per variant. *on*: `instrument_client` with the SDK (batch "
        "span processor to an exporter that drops the spans; a metric reader). *sampled out*: "
        "the same with the `ALWAYS_OFF` sampler. *no HTTP histogram*: "
        "`instrument_client(..., http_metrics=False)`. *empty TraceConfig*: no OpenTelemetry, "
        "one aiohttp `TraceConfig` without callbacks (aiohttp's own cost of tracing).",
    )
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with start_sim("frozen", "--commands", "256") as (server, sim):
        for _ in range(rounds):
            for variant in VARIANTS:
                cpu[variant].append(await measure(variant, sim, server, total))
        # One profiled run (not among the figures): where the added CPU goes.
        profile = cProfile.Profile()
        await measure("on", sim, server, min(total, 3000), profile)
    shares = _shares(profile)
    median = {v: statistics.median(xs) for v, xs in cpu.items()}
    base = median["off"]
    rows = [
        [f"`{v}`", fmt(median[v], 1), fmt(ratio(median[v], base)), fmt(median[v] - base, 1)]
        for v in VARIANTS
    ]
    section.table(["variant", "client CPU us / poll", "x off", "added us / poll"], rows)
    on_cost = median["on"] - base
    out_cost = median["on, sampled out"] - base
    no_hist = median["on, no HTTP histogram"] - base
    section.text(
        "Where the CPU of a traced run goes (one profiled `on` run, own time per layer): "
        + ", ".join(f"{label} {100 * share:.0f} %" for label, share in shares)
        + "; the rest is the client itself, aiohttp and asyncio."
    )
    machinery = median["off + empty TraceConfig"] - base
    section.findings += [
        f"Traced, a poll costs {fmt(ratio(median['on'], base))}x the CPU of an uninstrumented "
        f"one ({fmt(on_cost, 1)} us more: the poll span, the aiohttp instrumentation's HTTP "
        "span and its duration histogram).",
        f"Of that, aiohttp's own tracing machinery (signals sent on every request once any "
        f"`TraceConfig` is set) is {fmt(machinery, 1)} us per poll, OpenTelemetry or not.",
        f"Without the aiohttp instrumentation's duration histogram (`http_metrics=False`) "
        f"the added cost is {fmt(no_hist, 1)} us per poll "
        f"({fmt(ratio(median['on, no HTTP histogram'], base))}x).",
        f"Sampled out, the added cost is {fmt(out_cost, 1)} us per poll "
        f"({fmt(ratio(median['on, sampled out'], base))}x): non-recording spans and the "
        "histogram remain.",
        "Without the `otel` extra nothing is imported and an uninstrumented client runs the "
        "plain methods (`tests/test_otel.py::test_without_the_extra_nothing_of_opentelemetry"
        "_is_imported`); the *off* row is that client.",
    ]
    section.findings.insert(
        0,
        f"A checkpoint costs {sizes['nothing handed out yet']:.0f} bytes per command before "
        f"its first snapshot and {sizes['middle snapshot']:.0f} bytes mid-run (steps listed).",
    )
    section.raw = {"cpu_us_per_poll": cpu, "median": median, "checkpoint_bytes": sizes}


def _replace_section(text: str, rendered: str) -> str:
    """``text`` with this benchmark's section replaced by the one in ``rendered`` (or added)."""
    pattern = re.compile(rf"^## {re.escape(TITLE)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(rendered)
    assert found is not None
    mine = found.group(0).rstrip() + "\n\n"
    if pattern.search(text):
        return pattern.sub(lambda _m: mine, text, count=1).rstrip() + "\n"
    return text.rstrip() + "\n\n" + mine.rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks otel``: measure and rewrite only this section of RESULTS.md."""
    p = argparse.ArgumentParser(prog="python -m benchmarks otel", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = p.parse_args(argv)
    results = Results(machine_info(), "python -m benchmarks otel")
    asyncio.run(run(results, quick=args.quick))
    old = args.out.read_text(encoding="utf-8") if args.out.exists() else results.render()
    args.out.write_text(_replace_section(old, results.render()), encoding="utf-8")
    print(f"[bench] wrote the section {TITLE!r} of {args.out}", file=sys.stderr)
    return 0
