"""OpenTelemetry (the ``otel`` extra): spans and metrics of a short watch, read from the SDK's
in-memory exporter and reader; without it, nothing of OpenTelemetry is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from cmdprogress import BasicAuth, CASAuth, Client, PollPolicy, RetryPolicy
from cmdprogress.exceptions import ActionRejectedError, InvalidArgumentError
from cmdprogress.instrumentation.otel import instrument_client
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

FAST = PollPolicy(interval=0.005, max_interval=0.02)
QUICK_RETRY = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.005, max_retry_after=0.01)


class Telemetry:
    """An SDK tracer and meter provider writing to memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def instrument(self, client: Client) -> Client:
        return instrument_client(
            client, tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def spans(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == name]

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        assert span.context is not None
        return [
            s
            for s in self.exporter.get_finished_spans()
            if s.parent is not None and s.parent.span_id == span.context.span_id
        ]

    def metrics(self) -> dict[str, dict[tuple[Any, ...], Any]]:
        data = self.reader.get_metrics_data()
        assert data is not None
        out: dict[str, dict[tuple[Any, ...], Any]] = {}
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    points = out.setdefault(m.name, {})
                    for point in m.data.data_points:
                        key = tuple(sorted(point.attributes.items())) if point.attributes else ()
                        points[key] = getattr(point, "value", None)
        return out


@pytest.mark.anyio
async def test_a_short_watch_gives_the_documented_spans_and_metrics() -> None:
    """Login, action and polls are spans with command id, state and retry count; the HTTP
    requests are aiohttp-instrumentation spans beneath them; the counters are metrics."""
    tel = Telemetry()
    async with ManagerSimulator(auth="cas") as sim:
        a, b = (sim.add_command(Timeline.build(steps=2, duration=1000.0)) for _ in "ab")
        assert sim.cas_url is not None
        auth = CASAuth(sim.username, sim.password, cas_url=sim.cas_url)
        client = tel.instrument(Client(sim.url, auth=auth, poll=FAST, retry=QUICK_RETRY))
        async with client:
            started = await client.start_service("HDFS")
            # A 500: retried in the transport (a throttled poll goes back to the engine).
            sim.faults.inject(Fault.status(500), times=1, command_id=a)
            seen = 0
            async for _p in client.watch_many([a, b]):
                seen += 1
                if seen == 2:  # both first snapshots: move on, with a session expiry between
                    sim.expire_sessions()
                    sim.finish_all()
            metrics = tel.metrics()
            stats, wstats = client.stats, client.watch_stats
            polls = wstats.polls
            port = ("server.port", int(sim.url.rsplit(":", 1)[1]))

    host = ("server.address", "127.0.0.1")
    # -- logins: the first one and the one after the expiry, each with its HTTP requests
    logins = tel.spans("cmdprogress.login")
    assert [s.attributes["cmdprogress.login.relogin"] for s in logins] == [False, True]
    for login in logins:
        assert login.attributes["cmdprogress.login.kind"] == "cas"
        assert login.attributes["cmdprogress.retry_count"] == 0
        http = tel.children(login)
        assert {s.attributes["http.method"] for s in http} == {"GET", "POST"}
        assert all("ticket=" not in str(s.attributes["http.url"]) for s in http)
    # -- the action
    (action,) = tel.spans("cmdprogress.action")
    assert action.attributes["cmdprogress.action"] == "start"
    assert action.attributes["cmdprogress.command.id"] == started
    assert action.attributes["cmdprogress.command.state"] in {"NEW", "IN_PROGRESS"}
    assert action.attributes["cmdprogress.retry_count"] == 0
    under_action = tel.children(action)
    assert [s.attributes["http.method"] for s in under_action if s.name != logins[0].name] == [
        "POST"
    ]
    assert logins[0] in under_action  # the first request of the client logged in
    # -- polls: one span per engine poll; the 500 is a retry of the first poll of `a`
    poll_spans = tel.spans("cmdprogress.poll")
    assert len(poll_spans) == polls
    by_id = {
        cid: [s for s in poll_spans if s.attributes["cmdprogress.command.id"] == cid]
        for cid in (a, b)
    }
    assert len(by_id[a]) + len(by_id[b]) == polls
    first_a = min(by_id[a], key=lambda s: s.start_time or 0)
    assert first_a.attributes["cmdprogress.retry_count"] == 1
    statuses = [s.attributes["http.status_code"] for s in tel.children(first_a)]
    assert sorted(statuses) == [200, 500]
    for cid in (a, b):
        last = max(by_id[cid], key=lambda s: s.start_time or 0)
        assert last.attributes["cmdprogress.command.state"] == "COMPLETE"
        assert last.attributes["cmdprogress.command.progress"] == 100.0
        assert last.attributes["cmdprogress.command.changed"] is True
    assert sum(s.attributes["cmdprogress.retry_count"] for s in poll_spans) == 1
    # The re-login ran inside the poll that met the expired session.
    relogin = logins[1]
    assert relogin.parent is not None
    assert relogin.parent.span_id in {s.context.span_id for s in poll_spans if s.context}
    # -- metrics: the counters as they were when collected
    assert metrics["cmdprogress.client.requests"][(host, port)] == stats.requests
    assert metrics["cmdprogress.client.logins"][(host, port)] == 2
    assert metrics["cmdprogress.client.relogins"][(host, port)] == 1
    assert metrics["cmdprogress.client.retries"][(host, port)] == 1
    assert metrics["cmdprogress.watch.polls"][(host, port)] == polls
    assert metrics["cmdprogress.watch.terminal"][(host, port)] == wstats.terminal == 2
    assert metrics["cmdprogress.watch.delivered"][(host, port)] == wstats.delivered
    assert metrics["cmdprogress.watch.watched"][(host, port)] == 0
    assert "http.client.duration" in metrics  # the aiohttp instrumentation's own histogram
    # Closed: the client is no longer reported.
    assert (
        "cmdprogress.client.requests" not in tel.metrics()
        or not tel.metrics()["cmdprogress.client.requests"]
    )


@pytest.mark.anyio
async def test_a_refused_action_and_a_failed_login_are_error_spans() -> None:
    """An action the Manager refuses and a rejected password end their spans with ERROR."""
    tel = Telemetry()
    async with ManagerSimulator(auth="basic") as sim:
        sim.reject_actions(times=1)
        client = tel.instrument(
            Client(sim.url, auth=BasicAuth(sim.username, sim.password), retry=QUICK_RETRY)
        )
        async with client:
            with pytest.raises(ActionRejectedError):
                await client.stop_service("HDFS")
        (action,) = tel.spans("cmdprogress.action")
        assert action.status.status_code is StatusCode.ERROR
        assert action.attributes["cmdprogress.action"] == "stop"
        wrong = tel.instrument(Client(sim.url, auth=BasicAuth(sim.username, "wrong")))
        async with wrong:
            with pytest.raises(Exception, match="rejected"):
                await wrong.get_progress(1)
    failed = [s for s in tel.spans("cmdprogress.login") if s.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1
    assert failed[0].attributes["cmdprogress.login.kind"] == "basic"
    assert "wrong" not in str(failed[0].events)  # the password is nowhere in the span


@pytest.mark.anyio
async def test_a_failing_poll_counts_its_retries() -> None:
    """A poll whose every attempt fails (a connection reset mid-answer, then 502s) is an
    ERROR span; retry_count = attempts - 1."""
    tel = Telemetry()
    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=1, duration=10.0))
        sim.faults.inject(Fault.reset(), times=1, command_id=cid)
        sim.faults.inject(Fault.status(502), times=2, command_id=cid)
        async with tel.instrument(Client(sim.url, poll=FAST, retry=QUICK_RETRY)) as client:
            async for p in client.watch(cid):
                if p.state.value == "NEW":
                    sim.finish(cid)
    failing = tel.spans("cmdprogress.poll")[0]
    assert failing.status.status_code is StatusCode.ERROR
    assert failing.attributes["cmdprogress.retry_count"] == 2
    assert len(tel.children(failing)) == 3


def test_instrument_refuses_an_open_client_or_another_object() -> None:
    """instrument_client checks its argument like every public function."""
    with pytest.raises(InvalidArgumentError, match="expected a Client, got str"):
        instrument_client("http://x")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_instrumenting_an_open_client_is_refused() -> None:
    """The session is built on open: instrumenting later would silently miss its requests."""
    async with ManagerSimulator() as sim, Client(sim.url) as client:
        with pytest.raises(InvalidArgumentError, match="before `async with client:`"):
            instrument_client(client)


def test_without_the_extra_nothing_of_opentelemetry_is_imported() -> None:
    """A watch without instrument_client imports no opentelemetry module."""
    code = textwrap.dedent(
        """
        import sys, anyio
        import cmdprogress, cmdprogress.instrumentation
        from cmdprogress.testing import ManagerSimulator, Timeline

        async def main():
            async with ManagerSimulator() as sim:
                cid = sim.add_command(Timeline.build(steps=1, duration=1.0))
                sim.finish(cid)
                async with cmdprogress.Client(sim.url) as client:
                    await client.wait(cid)

        anyio.run(main)
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
