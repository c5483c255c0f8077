"""What the client asks of an instrumentation (no telemetry package imported here).

Below the client: the hooks see the client only as an :class:`OpenClient`, so
``_client`` and this module do not import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping
    from typing import Any, TypeAlias

    import aiohttp
    from yarl import URL

    from .._auth import BasicAuth, CASAuth, Login
    from .._convert import ActionResult
    from .._http import Transport
    from .._models import CommandProgress
    from .._scheduler import Engine
    from .._stats import ClientStats

    PollFn: TypeAlias = Callable[
        [int, CommandProgress | None, bytes], Coroutine[Any, Any, tuple[CommandProgress, bytes]]
    ]
    ActionFn: TypeAlias = Callable[[str, Mapping[str, Any]], Coroutine[Any, Any, ActionResult]]

__all__ = ["Instrumentation", "OpenClient"]


class OpenClient(Protocol):
    """What an instrumentation reads of the :class:`~cmdprogress.Client` it reports on."""

    @property
    def stats(self) -> ClientStats:
        """The client's counters."""

    @property
    def _engine(self) -> Engine | None:
        """The polling engine (its ``stats``); ``None`` once the client is closing."""

    @property
    def _base_url(self) -> URL:
        """The Manager's address (host and port label the metrics)."""


class Instrumentation(Protocol):
    """The hooks a :class:`~cmdprogress.Client` calls when it is instrumented (internal).

    Set with an integration's ``instrument_client(client)``; the client then
    polls, logs in and acts through what these return. An uninstrumented
    client calls none of them and pays nothing per poll.
    """

    def trace_configs(self) -> list[aiohttp.TraceConfig]:
        """aiohttp trace configs added to the client's own when its session opens."""

    def login(
        self, auth: CASAuth | BasicAuth, transport: Transport, base_url: URL, stats: ClientStats
    ) -> Login:
        """The login side of the client (a traced ``Login``)."""

    def wrap_poll(self, poll: PollFn) -> PollFn:
        """The engine's poll, traced."""

    def wrap_action(self, send: ActionFn) -> ActionFn:
        """The start / stop / save request, traced."""

    def opened(self, client: OpenClient) -> None:
        """The client is open (its engine too): start reporting its counters."""

    def closed(self, client: OpenClient) -> None:
        """The client closed: stop reporting its counters."""
