"""The :class:`Client` a user opens with ``async with``."""

from __future__ import annotations

import contextlib
import logging
from hashlib import blake2b as _blake2b
from typing import TYPE_CHECKING, Any, Final, Literal, overload

from yarl import URL

from ._actions import (
    accepted_command_id,
    configurations_body,
    service_action,
    validate_cluster_id,
)
from ._auth import BasicAuth, CASAuth, Login, parse_http_url
from ._checkpoint import read_checkpoint
from ._client_args import check_auth, check_trace_configs, positive_int, setting
from ._convert import decode_action, decode_progress
from ._http import Timeouts, Transport
from ._ids import validate_command_id, validate_command_ids, validate_since
from ._loop import require_asyncio
from ._models import CommandState
from ._pacing import Pacer
from ._policy import PollPolicy
from ._retry import RetryPolicy
from ._scheduler import Engine
from ._stats import ClientStats
from ._tls import SSLArg, TLSSetting
from ._watcher import Watcher, wait_every, wait_one
from .exceptions import ClientClosedError, InvalidArgumentError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from types import TracebackType

    import aiohttp

    from ._convert import ActionResult
    from ._engine_inputs import Clock
    from ._events import WatchEvent, WatchStats
    from ._models import CommandProgress
    from .instrumentation._hooks import Instrumentation

__all__ = ["Client", "validate_command_id", "validate_since"]

logger = logging.getLogger("cmdprogress.client")

# Progress URL objects a client keeps for running commands (Client._poll_url).
_POLL_URLS_KEPT: Final = 1024
_COMPLETE: Final = CommandState.COMPLETE
_FAILED: Final = CommandState.FAILED


class Client:
    """An asyncio client for one MRS / FusionInsight Manager.

    Open it with ``async with``: that creates one HTTP session (a connection
    pool of ``max_concurrency`` connections, a cookie jar for the Manager)
    and the polling engine; leaving the block closes both.

    - ``base_url``: the Manager's web address, e.g. ``"https://10.0.0.5:28443"``.
    - ``auth``: :class:`CASAuth` (security clusters), :class:`BasicAuth`
      (MRS 3.x) or ``None`` (non-security clusters).
    - ``ssl``: ``None`` verifies with the system CAs; an ``ssl.SSLContext`` is
      used as given; a path to a CA bundle (PEM) trusts that CA; ``False``
      turns verification off (logged as a warning once).
    - ``max_concurrency``: the most requests in flight at once; waiting for a
      slot does not count against ``timeout``.
    - ``poll``: the cadence of :meth:`watch` / :meth:`wait` (see :class:`PollPolicy`).
    - ``retry``: how transient failures are retried (see :class:`RetryPolicy`).
    - ``timeout``: per-request limits (see :class:`Timeouts`).
    - ``max_body_size``: the largest answer read, in bytes (default 1 MiB).
    - ``trace_configs``: ``aiohttp.TraceConfig`` objects for tracing/metrics.

    Example::

        async with Client("https://10.0.0.5:28443", auth=CASAuth("admin", pw),
                          ssl="manager-ca.pem") as client:
            cid = await client.start_service("HDFS")
            progress = await client.get_progress(cid)
            print(progress.state, progress.total_progress)
    """

    def __init__(
        self,
        base_url: str | URL,
        *,
        auth: CASAuth | BasicAuth | None = None,
        ssl: SSLArg = None,
        max_concurrency: int = 32,
        poll: PollPolicy | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeouts | None = None,
        max_body_size: int = 1 << 20,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        # Checked in the order of the signature: the first bad argument is the one named.
        self._base_url = parse_http_url("base_url", base_url)
        self._auth = check_auth(auth)
        self._tls = TLSSetting(ssl)
        self._max_concurrency = positive_int("max_concurrency", max_concurrency)
        self._max_body_size = positive_int("max_body_size", max_body_size)
        self._poll_policy = poll = setting("poll", poll, PollPolicy)
        self._retry = setting("retry", retry, RetryPolicy)
        self._timeout = setting("timeout", timeout, Timeouts)
        self._trace_configs = check_trace_configs(trace_configs)
        self.stats = ClientStats()
        self._pacer = Pacer.from_policy(poll, self.stats)
        self._transport: Transport | None = None
        self._engine: Engine | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        base = str(self._base_url)
        self._progress_prefix = base + "/web/v1/common/command/"
        # Progress URLs are built from this one by appending to its path: no URL is
        # parsed per poll.
        self._progress_root = URL(self._progress_prefix, encoded=True)
        self._progress_path = self._progress_root.raw_path
        # One URL object per command get_progress polls (see _poll_url).
        self._poll_urls: dict[int, URL] = {}
        self._maintain_prefix = base + "/web/v1/maintain/cluster/"
        self._config_prefix = base + "/web/v1/config/cluster/"

    @property
    def poll(self) -> PollPolicy:
        """The cadence of :meth:`watch` / :meth:`wait`; replacing it applies to the next polls."""
        return self._poll_policy

    @poll.setter
    def poll(self, policy: PollPolicy) -> None:
        if not isinstance(policy, PollPolicy):
            raise InvalidArgumentError(
                "poll", f"expected a PollPolicy, got {type(policy).__name__}"
            )
        self._poll_policy = policy
        if self._engine is not None:
            self._engine.policy = policy

    _instrumentation: Instrumentation | None = None
    """Set by an integration's ``instrument_client`` (``cmdprogress.instrumentation``)."""
    _clock: Clock | None = None
    """The engine's and the pacer's clock, if set before ``async with`` (tests drive it by
    hand); else the loop."""

    def __repr__(self) -> str:
        state = "open" if self._transport is not None else "closed"
        return (
            f"Client({str(self._base_url)!r}, auth={self._auth!r}, "
            f"max_concurrency={self._max_concurrency}, {state})"
        )

    @property
    def base_url(self) -> str:
        """The Manager's web address this client talks to (no trailing slash)."""
        return str(self._base_url)

    @property
    def is_open(self) -> bool:
        """True inside the ``async with`` block."""
        return self._transport is not None

    # -- lifecycle ----------------------------------------------------------

    async def __aenter__(self) -> Client:
        require_asyncio("`async with Client(...)`")
        if self._stack is not None:
            raise ClientClosedError(
                "this Client is already open; use one `async with` block at a time"
            )
        ssl = self._tls.context(self._base_url.origin())
        stack = contextlib.AsyncExitStack()
        self._stack = stack
        inst = self._instrumentation
        trace_configs = self._trace_configs
        if inst is not None:
            trace_configs = [*(trace_configs or ()), *inst.trace_configs()]
        try:
            transport = Transport(
                self._base_url,
                ssl=ssl,
                max_concurrency=self._max_concurrency,
                retry=self._retry,
                timeout=self._timeout,
                max_body_size=self._max_body_size,
                trace_configs=trace_configs,
                stats=self.stats,
                pacer=self._pacer,
            )
            stack.push_async_callback(transport.close)
            if self._clock is not None:
                self._pacer.use_clock(self._clock)
            if self._auth is not None:
                make_login = Login if inst is None else inst.login
                login = make_login(self._auth, transport, self._base_url, self.stats)
                transport.keeper = login
                stack.push_async_callback(login.aclose)  # before the transport closes
            self._transport = transport
            # Only an instrumented client's polls go through the spans.
            poll = self._poll_progress if inst is None else inst.wrap_poll(self._poll_progress)
            engine = Engine(
                poll,
                policy=self._poll_policy,
                max_workers=self._max_concurrency,
                poll_stretch=self._pacer.poll_stretch,
                max_retry_after=self._retry.max_retry_after,
                request_counts=self.stats.requests_by_command,
                clock=self._clock,
            )
            self._engine = await stack.enter_async_context(engine)
            if inst is not None:
                # Instance attributes over the methods: only an instrumented client
                # goes through the spans; the others pay nothing per call.
                self._poll_progress = poll  # type: ignore[method-assign,assignment]
                self._send_action = inst.wrap_action(  # type: ignore[method-assign,assignment]
                    Client._send_action.__get__(self)
                )
                inst.opened(self)
                stack.callback(self._uninstrument, inst)
        except BaseException:
            self._transport = self._engine = self._stack = None
            await stack.aclose()
            raise
        return self

    def _uninstrument(self, inst: Instrumentation) -> None:
        vars(self).pop("_poll_progress", None)
        vars(self).pop("_send_action", None)
        inst.closed(self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = self._stack
        if stack is None:
            return
        # No task group here (the engine owns its workers as plain asyncio tasks):
        # whatever the block raised leaves it as it was raised, groups included.
        try:
            await stack.__aexit__(exc_type, exc, tb)
        finally:
            self._transport = self._engine = self._stack = None

    def _open_transport(self) -> Transport:
        transport = self._transport
        if transport is None:
            raise ClientClosedError(
                "the Client is not open; use it inside `async with Client(...) as client:`"
            )
        return transport

    # -- progress -----------------------------------------------------------

    async def get_progress(self, command_id: int | str) -> CommandProgress:
        """Fetch one snapshot of a command's progress.

        Raises ``InvalidCommandIdError`` (before any request) for an id that
        is not a non-negative integer, ``UnknownCommandError`` when the
        Manager does not know it, and the transport, status and
        authentication errors of :mod:`cmdprogress.exceptions`.

        Example::

            p = await client.get_progress(1234)
            print(f"{p.state.value} {p.total_progress:.0f}%")
        """
        cid = validate_command_id(command_id)
        transport = self._transport
        if transport is None:
            transport = self._open_transport()
        url = self._poll_url(cid)
        ended = True  # the poll failed or the command ended: its URL is not kept
        try:
            answer = await transport.request("GET", url, command_id=cid, progress=True)
            try:
                progress = decode_progress(cid, answer.body, url=url)
            except BaseException:
                self.stats.errors += 1
                raise
            state = progress.state
            ended = state is _COMPLETE or state is _FAILED
            return progress
        finally:
            if ended:
                self._poll_urls.pop(cid, None)
            engine = self._engine
            if engine is not None:
                engine.retire(cid)  # its count on stats.requests_by_command stays bounded

    def _progress_url(self, command_id: int) -> str:
        return self._progress_prefix + str(command_id) + "/progress"

    def _poll_url(self, command_id: int) -> URL:
        """The progress URL of ``command_id`` as one object for all its polls.

        aiohttp reads a URL's host, port and origin on every request, and yarl
        computes them once per URL object; reusing the object spares that.
        :meth:`get_progress` drops it once the command ended (or the poll
        failed), the engine's :meth:`_poll_progress` once it ended; at most
        :data:`_POLL_URLS_KEPT` are kept, then the table starts again.
        """
        urls = self._poll_urls
        url = urls.get(command_id)
        if url is None:
            if len(urls) >= _POLL_URLS_KEPT:
                urls.clear()
            path = self._progress_path + str(command_id) + "/progress"
            url = urls[command_id] = self._progress_root.with_path(path, encoded=True)
        return url

    async def _poll_progress(
        self, command_id: int, previous: CommandProgress | None, digest: bytes
    ) -> tuple[CommandProgress, bytes]:
        """The engine's poll: :meth:`get_progress` that skips decoding a repeated body.

        ``digest`` is what this method returned with ``previous`` (``b""`` at
        first); a body with the same digest is the same document, so
        ``previous`` itself is returned. Returns the snapshot and its body's digest.
        """
        transport = self._transport
        if transport is None:
            transport = self._open_transport()
        url = self._poll_url(command_id)
        answer = await transport.request(
            "GET", url, command_id=command_id, progress=True, retry_throttled=False
        )
        body = answer.body
        new = _blake2b(body, digest_size=16).digest()
        if new == digest and previous is not None:
            return previous, digest
        try:
            progress = decode_progress(command_id, body, url=url)
        except BaseException:
            self.stats.errors += 1
            raise
        state = progress.state
        if state is _COMPLETE or state is _FAILED:
            self._poll_urls.pop(command_id, None)  # its last poll: the URL is not kept
        return progress, new

    # -- actions ------------------------------------------------------------

    async def start_service(self, service: str, *, cluster_id: int = 1) -> int:
        """Start a service; return the command id to poll.

        Raises ``ActionRejectedError`` when the Manager refuses (e.g. an
        unknown service).

        Example::

            cid = await client.start_service("HDFS")
            final = await client.wait(cid)
        """
        return await self._service_action(service, cluster_id, "start")

    async def stop_service(self, service: str, *, cluster_id: int = 1) -> int:
        """Stop a service; return the command id to poll.

        Example::

            cid = await client.stop_service("Yarn")
        """
        return await self._service_action(service, cluster_id, "stop")

    async def save_configurations(
        self, configurations_summary: Mapping[str, Any], *, cluster_id: int = 1
    ) -> int:
        """Save service configurations; return the command id to poll.

        ``configurations_summary`` is the Manager's mandatory JSON object,
        sent as given.

        Example::

            cid = await client.save_configurations({"services": [...]})
        """
        cluster = validate_cluster_id(cluster_id)
        body = configurations_body(configurations_summary)
        return await self._action(f"{self._config_prefix}{cluster}/save", body)

    async def _service_action(self, service: str, cluster_id: int, verb: str) -> int:
        url, body = service_action(self._maintain_prefix, service, cluster_id, verb)
        return await self._action(url, body)

    async def _send_action(self, url: str, body: Mapping[str, Any]) -> ActionResult:
        """POST an action and decode the answer (accepted or not)."""
        transport = self._open_transport()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("action POST %s", url)
        answer = await transport.request(
            "POST", URL(url, encoded=True), idempotent=False, json_body=body
        )
        try:
            return decode_action(answer.body, url=url)
        except BaseException:
            self.stats.errors += 1
            raise

    async def _action(self, url: str, body: Mapping[str, Any]) -> int:
        result = await self._send_action(url, body)
        return accepted_command_id(result, url, self.stats)

    # -- watching: thin wrappers over the polling engine (cmdprogress._scheduler) --

    def _open_engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            raise ClientClosedError(
                "the Client is not open; use it inside `async with Client(...) as client:`"
            )
        return engine

    @property
    def engine(self) -> Engine:
        """The polling engine of this open client (internal; use the methods below)."""
        return self._open_engine()

    @property
    def watch_stats(self) -> WatchStats:
        """The counters of the polling engine of this open client (see :class:`WatchStats`).

        Example::

            client.watch_stats.watched  # commands being polled right now
        """
        return self._open_engine().stats

    def add_listener(self, listener: Callable[[WatchEvent], object]) -> Callable[[], None]:
        """Call ``listener(event)`` for every :class:`WatchEvent` of this open client.

        Returns a function that removes the listener. Listeners run
        synchronously in the scheduler: keep them quick. An exception in a
        listener is logged and otherwise ignored.

        Example::

            remove = client.add_listener(lambda event: print(event.kind, event.command_id))
            await client.wait(1234)
            remove()
        """
        return self._open_engine().add_listener(listener)

    def requests_for(self, command_id: int | str) -> int:
        """Progress requests sent for a command so far (retries included).

        Example::

            await client.wait(1234)
            client.requests_for(1234)  # e.g. 7
        """
        return int(self.stats.requests_by_command[validate_command_id(command_id)])

    def watch(self, command_id: int | str, *, since: CommandProgress | None = None) -> Watcher:
        """Stream a command's snapshots: the first one, then each change, then the terminal one.

        ``since`` resumes a watch: only snapshots different from it are
        yielded (nothing if it is terminal). Errors (``UnknownCommandError``,
        ``CommandStalledError``, ...) are raised from the loop. Leaving the
        loop stops polling at once.

        Example::

            async for p in client.watch(1234):
                print(f"{p.state.value} {p.total_progress:.0f}%")
        """
        cid = validate_command_id(command_id)
        if since is not None:
            validate_since(since)
        if since is not None and since.command_id != cid:
            raise InvalidArgumentError(
                "since", f"is a snapshot of command {since.command_id}, not of {cid}"
            )
        return Watcher(
            self._open_engine(), (cid,), since=() if since is None else (since,), group_errors=False
        )

    def watch_many(
        self, command_ids: Iterable[int | str], *, since: Iterable[CommandProgress] = ()
    ) -> Watcher:
        """Stream the snapshots of many commands, merged; ends when all have ended.

        Per command the order is kept; a lagging consumer may skip
        intermediate snapshots of the same state, never a state change or the
        terminal one. Per-command errors are raised after the others ended,
        as a ``CommandErrorGroup`` (even of one) with the others' ``.results``.
        ``since`` holds last seen snapshots to resume from. The returned :class:`Watcher` also
        takes ``add``/``discard`` while it runs.

        Example::

            async for p in client.watch_many([11, 12, 13]):
                print(p.command_id, p.state.value)
        """
        ids = validate_command_ids(command_ids, single="watch(id)")
        return Watcher(self._open_engine(), ids, since=since)

    def watcher(
        self,
        command_ids: Iterable[int | str] = (),
        *,
        since: Iterable[CommandProgress] = (),
        close_when_done: bool = True,
        keep_results: bool = True,
        resume_from: Mapping[str, Any] | None = None,
    ) -> Watcher:
        """A multi-command watch to add ids to and drop ids from while it runs.

        With ``close_when_done=False`` the stream waits for more ids when all
        have ended, until ``close()`` or the end of the ``async with`` block.
        A watcher that runs for ever should pass ``keep_results=False``: it
        then keeps no terminal snapshot on ``.results`` (memory stays flat
        however many commands pass through; errors are still kept until raised).
        ``resume_from`` takes what :meth:`Watcher.checkpoint` returned (in this
        process or an earlier one): its commands are watched again and only what
        differs from the last snapshot handed out is delivered (``docs/engine.md``).

        Example::

            async with client.watcher(close_when_done=False) as w:
                w.add(await client.start_service("HDFS"))
                async for p in w:
                    if p.is_terminal and p.command_id == first:
                        w.add(await client.start_service("Yarn"))
        """
        ids = validate_command_ids(command_ids, single="watch(id)")
        since = list(since)
        if resume_from is not None:
            resumed = read_checkpoint(resume_from)
            ids = [*resumed, *ids]
            since += [p for p in resumed.values() if p is not None]
        return Watcher(
            self._open_engine(),
            ids,
            since=since,
            close_when_done=close_when_done,
            keep_results=keep_results,
        )

    async def wait(self, command_id: int | str) -> CommandProgress:
        """Wait for a command to end; return its COMPLETE snapshot.

        Raises ``CommandFailed`` (with ``.progress``) if it ended FAILED.

        Example::

            final = await client.wait(await client.start_service("HDFS"))
        """
        cid = validate_command_id(command_id)
        return await wait_one(self._open_engine(), cid)

    @overload
    async def wait_all(
        self, command_ids: Iterable[int | str], *, return_exceptions: Literal[False] = False
    ) -> dict[int, CommandProgress]: ...
    @overload
    async def wait_all(
        self, command_ids: Iterable[int | str], *, return_exceptions: Literal[True]
    ) -> dict[int, CommandProgress | Exception]: ...

    async def wait_all(
        self, command_ids: Iterable[int | str], *, return_exceptions: bool = False
    ) -> dict[int, CommandProgress] | dict[int, CommandProgress | Exception]:
        """Wait for every command; return ``{id: terminal snapshot}``, FAILED ones included.

        A command whose watch ends with an error is reported after all the
        others ended, as a ``CommandErrorGroup`` (even of one) (whose ``.results`` holds the others'
        snapshots). With ``return_exceptions=True`` errors are values instead.

        Example::

            finals = await client.wait_all(ids)
            failed = [cid for cid, p in finals.items() if not p.succeeded]
        """
        ids = validate_command_ids(command_ids, single="wait(id)")
        return await wait_every(self._open_engine(), ids, return_exceptions=return_exceptions)
