"""The polling engine (placeholder until the engine lands).

The client enters an :class:`Engine` in ``__aenter__`` and leaves it in
``__aexit__``; the engine owns the scheduler task and the watcher streams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

    from ._client import Client


class Engine:
    """One scheduler per client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
