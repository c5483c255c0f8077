"""The peers, written the way their users would write them for this endpoint.

- azure-core: an ``AsyncPollingMethod`` for the progress endpoint driven by an
  ``AsyncLROPoller``, over azure-core's stock ``AsyncPipelineClient``;
- tenacity: ``AsyncRetrying`` retrying one poll while the command is not done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from azure.core import AsyncPipelineClient
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.polling import AsyncLROPoller, AsyncPollingMethod
from azure.core.rest import HttpRequest
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    retry_if_result,
    stop_never,
    wait_exponential,
)

TERMINAL = frozenset({"COMPLETE", "FAILED"})
OnAnswer = Callable[[Any], None]


@contextlib.asynccontextmanager
async def azure_pipeline_client(
    base_url: str, session: aiohttp.ClientSession
) -> AsyncIterator[AsyncPipelineClient[Any, Any]]:
    """azure-core's standard pipeline client on an aiohttp session we own."""
    transport = AioHttpTransport(session=session, session_owner=False)
    client: AsyncPipelineClient[Any, Any] = AsyncPipelineClient(base_url, transport=transport)
    async with client:
        yield client


class ProgressPollingMethod(AsyncPollingMethod[dict[str, Any]]):
    """Poll ``GET .../progress`` every ``interval`` seconds until COMPLETE or FAILED.

    Honours ``Retry-After`` on 429/503 like azure-core's own polling methods.
    """

    def __init__(self, path: str, interval: float, on_answer: OnAnswer) -> None:
        self._path = path
        self._interval = interval
        self._on_answer = on_answer
        self._client: AsyncPipelineClient[Any, Any] | None = None
        self._body: dict[str, Any] = {}
        self._retry_after: float | None = None
        self._deserialize: Callable[[Any], dict[str, Any]] = dict

    def initialize(
        self,
        client: Any,
        initial_response: Any,
        deserialization_callback: Callable[[Any], dict[str, Any]],
    ) -> None:
        self._client = client
        self._body = initial_response
        self._deserialize = deserialization_callback

    async def run(self) -> None:
        while not self.finished():
            await asyncio.sleep(self._retry_after or self._interval)
            await self.update_status()

    async def update_status(self) -> None:
        """One poll."""
        assert self._client is not None
        response = await self._client.send_request(
            HttpRequest("GET", self._client.format_url(self._path))
        )
        self._retry_after = None
        if response.status_code in (429, 503):
            with contextlib.suppress(ValueError, TypeError):
                self._retry_after = float(response.headers.get("Retry-After", ""))
            return
        if response.status_code != 200:
            return
        body = json.loads(response.content)
        self._on_answer(body)
        self._body = body

    def status(self) -> str:
        return str(self._body.get("state", ""))

    def finished(self) -> bool:
        return self.status() in TERMINAL

    def resource(self) -> dict[str, Any]:
        return self._deserialize(self._body)

    def get_continuation_token(self) -> str:
        return self._path

    @classmethod
    def from_continuation_token(cls, continuation_token: str, **kwargs: Any) -> Any:
        raise NotImplementedError


async def azure_poll_command(
    client: AsyncPipelineClient[Any, Any], path: str, interval: float, on_answer: OnAnswer
) -> dict[str, Any]:
    """Poll one command to its end through an ``AsyncLROPoller``; return the last body."""
    first = await client.send_request(HttpRequest("GET", client.format_url(path)))
    body = json.loads(first.content)
    on_answer(body)
    poller: AsyncLROPoller[dict[str, Any]] = AsyncLROPoller(
        client, body, lambda b: b, ProgressPollingMethod(path, interval, on_answer)
    )
    return await poller.result()


async def tenacity_poll_command(
    session: aiohttp.ClientSession,
    url: str,
    first_wait: float,
    max_wait: float,
    on_answer: OnAnswer,
) -> Any:
    """Poll one command until it ends, tenacity deciding when to poll again."""

    async def poll() -> Any:
        async with session.get(url) as resp:
            resp.raise_for_status()
            body = await resp.read()
        data = json.loads(body)
        on_answer(data)
        return data

    retrying = AsyncRetrying(
        retry=retry_if_result(lambda d: d.get("state") not in TERMINAL)
        | retry_if_exception_type((aiohttp.ClientError, ValueError)),
        wait=wait_exponential(multiplier=first_wait, min=first_wait, max=max_wait),
        stop=stop_never,
        reraise=True,
    )
    return await retrying(poll)
