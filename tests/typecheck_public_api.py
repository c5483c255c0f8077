"""Uses the whole public API; checked by `mypy --strict` (nox -s typing), never run.

A change that breaks a user's typed code breaks this file first.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

import aiohttp

import cmdprogress
from cmdprogress import (
    BasicAuth,
    CASAuth,
    Client,
    ClientStats,
    CommandFailed,
    CommandProgress,
    CommandState,
    FailedEntity,
    PollPolicy,
    RetryPolicy,
    Step,
    Timeouts,
    WatchStats,
)
from cmdprogress import exceptions as exc

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable

log = logging.getLogger(__name__)


def describe(p: CommandProgress) -> str:
    """Every field of a snapshot, typed."""
    step: Step | None = p.current_step
    failed: tuple[FailedEntity, ...] = p.failed_entities
    names: list[str] = [s.name + s.description for s in p.steps]
    entities: list[str] = [f.entity + f.operation_type for f in failed]
    cluster: int | None = p.cluster_id
    return (
        f"{p.command_id} {p.state.value} {p.raw_state} {p.total_progress:.1f} "
        f"{p.error_code} {p.error_description} {p.total_step_size} {p.wire_id} "
        f"{p.is_terminal} {p.succeeded} {step} {names} {entities} {cluster}"
    )


async def main(password: str, ca_file: str) -> dict[int, CommandProgress]:
    """A typical orchestration script."""
    ctx: ssl.SSLContext = ssl.create_default_context(cafile=ca_file)
    trace = aiohttp.TraceConfig()
    auth: CASAuth | BasicAuth = CASAuth("admin", password, cas_url=None)
    if password.startswith("basic:"):
        auth = BasicAuth("admin", password)
    client = Client(
        "https://10.0.0.5:28443",
        auth=auth,
        ssl=ctx,
        max_concurrency=16,
        poll=PollPolicy(interval=1.0, max_interval=15.0),
        retry=RetryPolicy(attempts=5, backoff=0.5, max_backoff=10.0, max_retry_after=60.0),
        timeout=Timeouts(connect=5.0, read=30.0, total=None),
        max_body_size=1 << 20,
        trace_configs=[trace],
    )
    Client("https://10.0.0.5:28443", ssl=False)
    Client("https://10.0.0.5:28443", ssl=ca_file)
    async with client:
        base: str = client.base_url
        is_open: bool = client.is_open
        stats: ClientStats = client.stats
        policy: PollPolicy = client.poll
        log.info("%s %s %d %s", base, is_open, stats.requests, policy.interval)
        remove: Callable[[], None] = client.add_listener(lambda e: log.info("%s", e.kind))
        remove()
        watch_stats: WatchStats = client.watch_stats
        sent: int = client.requests_for("1234")
        per_command: Counter[int] = stats.requests_by_command
        log.info("%d %d %d", watch_stats.polls, sent, per_command[1234])
        snapshot = await client.get_progress(1234)
        snapshot = await client.get_progress("1234")
        state: CommandState = snapshot.state
        if state is CommandState.UNKNOWN:
            log.info("unknown state %s", snapshot.raw_state)
        started: int = await client.start_service("HDFS")
        stopped: int = await client.stop_service("Yarn", cluster_id=1)
        saved: int = await client.save_configurations({"a": 1}, cluster_id=1)
        async for p in client.watch(started):
            log.info(describe(p))
        async for p in client.watch_many([stopped, saved]):
            log.info(describe(p))
        try:
            final: CommandProgress = await client.wait(started)
        except CommandFailed as e:
            final = e.progress
            log.error("command %d failed: %s", e.command_id, e)
        log.info(describe(final))
        try:
            results: dict[int, CommandProgress] = await client.wait_all([stopped, saved])
        except exc.CmdProgressError as e:
            log.error("%s", e)
            results = {}
        either = await client.wait_all([started], return_exceptions=True)
        for cid, outcome in either.items():
            if isinstance(outcome, Exception):
                log.error("%d: %s", cid, outcome)
        return results


def handle(error: Exception) -> str:
    """Every branch of the exception tree, with its typed context."""
    if isinstance(error, exc.InvalidCommandIdError):
        return f"{error.argument} {error.value!r}"
    if isinstance(error, exc.InvalidArgumentError):
        return error.argument
    if isinstance(error, exc.UnknownCommandError):
        return f"{error.command_id} {error.status}"
    if isinstance(error, exc.HTTPStatusError):
        return f"{error.status} {error.url} {error.body_excerpt} {error.retry_after}"
    if isinstance(error, exc.TLSError | exc.ConnectError | exc.RequestTimeoutError):
        return error.url
    if isinstance(error, exc.RedirectError | exc.TransportError):
        return error.url
    if isinstance(
        error,
        exc.LoginRejectedError
        | exc.AccountLockedError
        | exc.PasswordChangeRequiredError
        | exc.SessionError,
    ):
        return f"{error.username} {error.url}"
    if isinstance(error, exc.ResponseTooLargeError | exc.MalformedResponseError):
        return f"{error.errors} {error.body_excerpt} {error.command_id}"
    if isinstance(error, exc.ActionRejectedError):
        return f"{error.error_code} {error.error_description}"
    if isinstance(error, exc.CommandStalledError):
        return f"{error.command_id} {error.stalled_for}"
    if isinstance(error, exc.ClientClosedError | exc.AuthenticationError):
        return str(error)
    return cmdprogress.__version__


async def restart_and_trace(url: str, stored: str) -> str:
    """Checkpoints, snapshots as data and OpenTelemetry (issue 14), typed."""
    import json

    from cmdprogress.instrumentation.otel import instrument_client

    client: Client = instrument_client(Client(url), http_metrics=False)
    async with client:
        resume: dict[str, object] = json.loads(stored)
        async with client.watcher(resume_from=resume, keep_results=False) as w:
            async for p in w:
                data: dict[str, object] = cmdprogress.progress_to_dict(p)
                back: CommandProgress = cmdprogress.progress_from_dict(data)
                assert back == p
                stored = json.dumps(w.checkpoint())
    return stored
