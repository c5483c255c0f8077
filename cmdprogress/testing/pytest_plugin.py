"""pytest fixtures for the Manager simulator.

Enable with ``pytest_plugins = ["cmdprogress.testing.pytest_plugin"]`` in a
``conftest.py``, and pin the anyio plugin to asyncio (aiohttp cannot run on
trio) with an ``anyio_backend`` fixture returning ``"asyncio"``.

- ``manager_sim``: a running :class:`ManagerSimulator` with the defaults.
- ``manager_sim_factory``: ``await manager_sim_factory(auth="cas", tls=True)``
  starts one with any configuration; all are closed after the test.

Example test::

    @pytest.mark.anyio
    async def test_it(manager_sim: ManagerSimulator) -> None:
        cid = manager_sim.add_command(Timeline.build())
        manager_sim.finish(cid)
        assert manager_sim.snapshot(cid).state == "COMPLETE"
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from ._server import ManagerSimulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["ManagerSimFactory", "manager_sim", "manager_sim_factory"]


class ManagerSimFactory(Protocol):
    """The type of the ``manager_sim_factory`` fixture."""

    async def __call__(self, **kwargs: Any) -> ManagerSimulator:
        """Start a ``ManagerSimulator(**kwargs)``, closed after the test."""


def _check_backend(anyio_backend: object) -> None:
    name = anyio_backend[0] if isinstance(anyio_backend, tuple) else anyio_backend
    if name != "asyncio":
        pytest.skip(
            "the Manager simulator runs on asyncio only (aiohttp): add an `anyio_backend` "
            'fixture returning "asyncio" to your conftest.py'
        )


@pytest.fixture
async def manager_sim_factory(anyio_backend: object) -> AsyncIterator[ManagerSimFactory]:
    """A factory starting simulators with any configuration; each is closed after the test."""
    _check_backend(anyio_backend)
    async with contextlib.AsyncExitStack() as stack:

        async def factory(**kwargs: Any) -> ManagerSimulator:
            return await stack.enter_async_context(ManagerSimulator(**kwargs))

        yield factory


@pytest.fixture
async def manager_sim(manager_sim_factory: ManagerSimFactory) -> ManagerSimulator:
    """A running simulator with the defaults: no login, plain HTTP, manual clock."""
    return await manager_sim_factory()
