"""pytest fixtures for the Manager simulator, under anyio's pytest plugin or pytest-asyncio.

Enable with ``pytest_plugins = ["cmdprogress.testing.pytest_plugin"]`` in a
``conftest.py``. The simulator is started on the event loop of the test that
uses it, whichever plugin runs that test:

- **anyio's plugin** (``@pytest.mark.anyio``): pin it to asyncio (aiohttp
  cannot run on trio) with an ``anyio_backend`` fixture returning ``"asyncio"``;
- **pytest-asyncio** (``@pytest.mark.asyncio``, or its auto mode): nothing
  more to do; the simulator runs on the loop of the test's ``loop_scope``.

Fixtures:

- ``manager_sim``: a running :class:`ManagerSimulator` with the defaults.
- ``manager_sim_factory``: ``await manager_sim_factory(auth="cas", tls=True)``
  starts one with any configuration; all are closed after the test.

Example test::

    @pytest.mark.anyio  # or @pytest.mark.asyncio with pytest-asyncio
    async def test_it(manager_sim: ManagerSimulator) -> None:
        cid = manager_sim.add_command(Timeline.build())
        manager_sim.finish(cid)
        assert manager_sim.snapshot(cid).state == "COMPLETE"
"""

from __future__ import annotations

import contextlib
import importlib
from typing import TYPE_CHECKING, Any, Protocol, cast

import pytest

from ._server import ManagerSimulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

__all__ = ["ManagerSimFactory", "manager_sim", "manager_sim_factory"]

_LOOP_SCOPES = ("function", "class", "module", "package", "session")


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


async def _factory_fixture() -> AsyncIterator[ManagerSimFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def factory(**kwargs: Any) -> ManagerSimulator:
            return await stack.enter_async_context(ManagerSimulator(**kwargs))

        yield factory


async def _sim_fixture() -> AsyncIterator[ManagerSimulator]:
    async with ManagerSimulator() as sim:
        yield sim


# Run by anyio's plugin (it runs the async fixtures that take `anyio_backend`) on the
# test's own runner.
@pytest.fixture(name="_cmdprogress_factory_anyio")
async def _factory_anyio(anyio_backend: object) -> AsyncIterator[ManagerSimFactory]:
    _check_backend(anyio_backend)
    async for factory in _factory_fixture():
        yield factory


@pytest.fixture(name="_cmdprogress_sim_anyio")
async def _sim_anyio(anyio_backend: object) -> AsyncIterator[ManagerSimulator]:
    _check_backend(anyio_backend)
    async for sim in _sim_fixture():
        yield sim


def _register_pytest_asyncio_fixtures() -> None:  # pragma: no cover - run by `nox -s compat`
    """One pair of fixtures per ``loop_scope``, each run by pytest-asyncio on that loop."""
    try:
        pytest_asyncio = importlib.import_module("pytest_asyncio")
    except ImportError:
        return
    for scope in _LOOP_SCOPES:
        for what, func in (("factory", _factory_fixture), ("sim", _sim_fixture)):
            name = f"_cmdprogress_{what}_asyncio_{scope}"
            # A fresh function per fixture: pytest-asyncio marks the function it wraps.
            globals()[name] = pytest_asyncio.fixture(_copy(func), name=name, loop_scope=scope)


def _copy(  # pragma: no cover - run by `nox -s compat`
    func: Callable[[], AsyncIterator[Any]],
) -> Callable[[], AsyncIterator[Any]]:
    async def fixture() -> AsyncIterator[Any]:
        async for value in func():
            yield value

    return fixture


_register_pytest_asyncio_fixtures()


def _pytest_asyncio_loop_scope(request: pytest.FixtureRequest) -> str | None:
    """The ``loop_scope`` pytest-asyncio runs this test in; ``None`` if it does not run it."""
    if "anyio_backend" in request.fixturenames:
        return None  # anyio's plugin runs it
    marker = request.node.get_closest_marker("asyncio")
    if marker is None:
        return None
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if scope is None:
        scope = request.config.getini("asyncio_default_test_loop_scope")
    return str(scope)


def _variant(request: pytest.FixtureRequest, what: str) -> object:
    scope = _pytest_asyncio_loop_scope(request)
    if scope is None:
        return request.getfixturevalue(f"_cmdprogress_{what}_anyio")
    return request.getfixturevalue(f"_cmdprogress_{what}_asyncio_{scope}")  # pragma: no cover


@pytest.fixture
def manager_sim_factory(request: pytest.FixtureRequest) -> ManagerSimFactory:
    """A factory starting simulators with any configuration; each is closed after the test."""
    return cast("ManagerSimFactory", _variant(request, "factory"))


@pytest.fixture
def manager_sim(request: pytest.FixtureRequest) -> ManagerSimulator:
    """A running simulator with the defaults: no login, plain HTTP, manual clock."""
    return cast("ManagerSimulator", _variant(request, "sim"))
