"""OpenTelemetry for cmdprogress: spans for polls, logins and actions; counters as metrics.

Needs the ``otel`` extra (``pip install 'cmdprogress[otel]'``): the
OpenTelemetry API and its aiohttp client instrumentation. Configure the SDK
(exporters, sampling) as the service already does, then instrument each
client before opening it::

    from cmdprogress.instrumentation.otel import instrument_client

    client = instrument_client(Client(url, auth=auth))
    async with client:
        ...

What it records (``docs/engine.md`` has the table):

- a span ``cmdprogress.poll`` per poll of the engine (retries included),
  ``cmdprogress.login`` per login actually made (not for requests that wait
  for someone else's), ``cmdprogress.action`` per start / stop / save, with
  the attributes ``cmdprogress.command.id``, ``cmdprogress.command.state``
  and ``cmdprogress.retry_count``; the HTTP requests under them are spans of
  OpenTelemetry's aiohttp instrumentation (URLs without their query string,
  where CAS puts its tickets);
- every counter of ``client.stats`` and ``client.watch_stats`` as an
  observable instrument (``cmdprogress.client.*``, ``cmdprogress.watch.*``),
  read only when the SDK collects.
"""

from __future__ import annotations

import contextvars
import weakref
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.metrics import CallbackOptions, NoOpMeterProvider, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import __version__
from .._auth import BasicAuth, CASAuth, Login
from .._models import CommandState
from ..exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping
    from types import SimpleNamespace

    import aiohttp
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider
    from yarl import URL

    from .._client import Client
    from .._convert import ActionResult
    from .._http import Transport
    from .._models import CommandProgress
    from .._stats import ClientStats
    from ._hooks import ActionFn, OpenClient, PollFn

__all__ = ["instrument_client"]

_EXPIRED: Final = frozenset({302, 401})
_CLIENT_COUNTERS: Final = ("requests", "retries", "errors", "logins", "relogins", "throttled")
_WATCH_COUNTERS: Final = (
    "polls",
    "changes",
    "delivered",
    "coalesced",
    "overflowed",
    "retried",
    "terminal",
    "watch_errors",
)
_GAUGES: Final = (("client", "in_flight"), ("watch", "watched"), ("watch", "watchers"))


class _Tally:
    """The HTTP requests of one span, as aiohttp's trace reports them: its retries.

    A request sent again to the same method and URL is a retry, unless the
    answer before it said the session expired (302 to the login page, 401):
    that repeat follows a re-login and is no retry.
    """

    __slots__ = ("expired", "sent")

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str], int] = {}
        self.expired: dict[tuple[str, str], int] = {}

    @property
    def retries(self) -> int:
        expired = self.expired
        return sum(max(n - 1 - expired.get(key, 0), 0) for key, n in self.sent.items())


_TALLY: contextvars.ContextVar[_Tally | None] = contextvars.ContextVar(
    "cmdprogress_otel_tally", default=None
)


async def _on_start(
    _s: Any, _ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
) -> None:
    tally = _TALLY.get()
    if tally is not None:
        key = (params.method, str(params.url))
        tally.sent[key] = tally.sent.get(key, 0) + 1


async def _on_end(_s: Any, _ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
    tally = _TALLY.get()
    if tally is not None and params.response.status in _EXPIRED:
        key = (params.method, str(params.url))
        tally.expired[key] = tally.expired.get(key, 0) + 1


def _strip_query(url: URL) -> str:
    return str(url.with_query(None).with_fragment(None))


class _Metrics:
    """Observable instruments over the counters of the open clients (one set per meter)."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.clients: weakref.WeakSet[OpenClient] = weakref.WeakSet()
        for name in _CLIENT_COUNTERS:
            meter.create_observable_counter(
                f"cmdprogress.client.{name}", [self._reader("client", name)], unit="1"
            )
        for name in _WATCH_COUNTERS:
            meter.create_observable_counter(
                f"cmdprogress.watch.{name}", [self._reader("watch", name)], unit="1"
            )
        for part, name in _GAUGES:
            meter.create_observable_up_down_counter(
                f"cmdprogress.{part}.{name}", [self._reader(part, name)], unit="1"
            )

    def _reader(self, part: str, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            totals: dict[tuple[str, int], int] = {}
            for client in list(self.clients):
                engine = client._engine
                stats: object = client.stats if part == "client" else engine and engine.stats
                if stats is None:
                    continue
                url = client._base_url
                key = (url.host or "", url.port or 0)
                totals[key] = totals.get(key, 0) + getattr(stats, name)
            return [
                Observation(value, {"server.address": host, "server.port": port})
                for (host, port), value in totals.items()
            ]

        return observe


_METRICS: weakref.WeakKeyDictionary[object, _Metrics] = weakref.WeakKeyDictionary()


class _OpenTelemetry:
    """The :class:`~cmdprogress.instrumentation._hooks.Instrumentation` of OpenTelemetry."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        http_metrics: bool,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._http_metrics = http_metrics
        self._tracer = trace.get_tracer("cmdprogress", __version__, tracer_provider)
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        found = _METRICS.get(provider)
        if found is None:
            found = _METRICS[provider] = _Metrics(provider.get_meter("cmdprogress", __version__))
        self._metrics = found

    def trace_configs(self) -> list[aiohttp.TraceConfig]:
        http = create_trace_config(
            url_filter=_strip_query,
            tracer_provider=self._tracer_provider,
            meter_provider=self._meter_provider if self._http_metrics else NoOpMeterProvider(),
        )
        # The retry tally rides on the same trace config: aiohttp pays per config per request.
        http.on_request_start.append(_on_start)
        http.on_request_end.append(_on_end)
        return [http]

    def _span(self, name: str, attributes: dict[str, Any]) -> Any:
        return self._tracer.start_as_current_span(
            name, kind=SpanKind.INTERNAL, attributes=attributes
        )

    def login(
        self, auth: CASAuth | BasicAuth, transport: Transport, base_url: URL, stats: ClientStats
    ) -> Login:
        return _TracedLogin(self, auth, transport, base_url, stats)

    def wrap_poll(self, poll: PollFn) -> PollFn:
        async def traced_poll(
            cid: int, previous: CommandProgress | None, digest: bytes
        ) -> tuple[CommandProgress, bytes]:
            with self._span("cmdprogress.poll", {"cmdprogress.command.id": cid}) as span:
                tally = _Tally()
                token = _TALLY.set(tally)
                try:
                    p, new = await poll(cid, previous, digest)
                except BaseException:
                    span.set_attribute("cmdprogress.retry_count", tally.retries)
                    raise
                finally:
                    _TALLY.reset(token)
                span.set_attributes(
                    {
                        "cmdprogress.command.state": p.raw_state,
                        "cmdprogress.command.progress": p.total_progress,
                        "cmdprogress.command.changed": p is not previous and p != previous,
                        "cmdprogress.retry_count": tally.retries,
                    }
                )
                return p, new

        return traced_poll

    def wrap_action(self, send: ActionFn) -> ActionFn:
        async def traced_action(url: str, body: Mapping[str, Any]) -> ActionResult:
            verb = url.rsplit("/", 1)[-1]
            with self._span("cmdprogress.action", {"cmdprogress.action": verb}) as span:
                tally = _Tally()
                token = _TALLY.set(tally)
                try:
                    result = await send(url, body)
                except BaseException:
                    span.set_attribute("cmdprogress.retry_count", tally.retries)
                    raise
                finally:
                    _TALLY.reset(token)
                span.set_attributes(
                    {
                        "cmdprogress.command.id": result.id,
                        "cmdprogress.command.state": result.raw_state,
                        "cmdprogress.retry_count": tally.retries,
                    }
                )
                if result.state is CommandState.FAILED or result.id < 0:
                    span.set_status(Status(StatusCode.ERROR, "the Manager refused the action"))
                return result

        return traced_action

    def opened(self, client: OpenClient) -> None:
        self._metrics.clients.add(client)

    def closed(self, client: OpenClient) -> None:
        self._metrics.clients.discard(client)

    async def traced_login(self, login: _TracedLogin, run: Awaitable[None]) -> None:
        relogin = login.generation > 0
        kind = "cas" if isinstance(login.auth, CASAuth) else "basic"
        attributes = {"cmdprogress.login.kind": kind, "cmdprogress.login.relogin": relogin}
        with self._span("cmdprogress.login", attributes) as span:
            tally = _Tally()
            token = _TALLY.set(tally)
            try:
                await run
            except BaseException:
                span.set_attribute("cmdprogress.retry_count", tally.retries)
                raise
            finally:
                _TALLY.reset(token)
            span.set_attribute("cmdprogress.retry_count", tally.retries)


class _TracedLogin(Login):
    """``Login`` whose real logins (not the waits for another request's) are spans."""

    def __init__(
        self,
        otel: _OpenTelemetry,
        auth: CASAuth | BasicAuth,
        transport: Transport,
        base_url: URL,
        stats: ClientStats,
    ) -> None:
        super().__init__(auth, transport, base_url, stats)
        self._otel = otel

    async def _cas_login(self, auth: CASAuth) -> None:
        await self._otel.traced_login(self, super()._cas_login(auth))

    async def _basic_login(self, auth: BasicAuth) -> None:
        await self._otel.traced_login(self, super()._basic_login(auth))


def instrument_client(
    client: Client,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    http_metrics: bool = True,
) -> Client:
    """Make ``client`` report to OpenTelemetry; call it before ``async with client``.

    ``tracer_provider`` / ``meter_provider`` default to the global ones
    (``opentelemetry.trace.set_tracer_provider`` ...). ``http_metrics=False``
    leaves out the aiohttp instrumentation's request-duration histogram, the
    largest part of the cost per poll (``benchmarks/RESULTS.md``, section 7).
    Returns ``client``.

    Example::

        from opentelemetry.sdk.trace import TracerProvider

        client = instrument_client(Client(url), tracer_provider=TracerProvider())
        async with client:
            await client.wait(1234)  # a cmdprogress.poll span per poll
    """
    from .._client import Client

    if not isinstance(client, Client):
        raise InvalidArgumentError("client", f"expected a Client, got {type(client).__name__}")
    if client.is_open:
        raise InvalidArgumentError(
            "client", "is already open; instrument it before `async with client:`"
        )
    client._instrumentation = _OpenTelemetry(tracer_provider, meter_provider, http_metrics)
    return client
