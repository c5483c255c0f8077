"""Where users run it: any asyncio loop, other packages installed, errors that keep their type."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cmdprogress import CASAuth, Client, CommandState, PollPolicy, RetryPolicy, WatchEvent
from cmdprogress.exceptions import (
    AsyncioRequiredError,
    ClientClosedError,
    CommandErrorGroup,
    LoginRejectedError,
    UnknownCommandError,
)
from cmdprogress.testing import Fault, ManagerSimulator, Timeline

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

FAST = PollPolicy(interval=0.005, max_interval=0.02, throttle_pause=0.02)
QUICK_RETRY = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.005, max_retry_after=0.01)


async def wait_all_of_50(speed: float = 200.0) -> dict[int, CommandState]:
    """Run 50 commands on a real-clock simulator and wait for them all."""
    async with ManagerSimulator(clock="real", speed=speed) as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=1.0 + i / 50)) for i in range(50)]
        async with Client(sim.url, poll=FAST, retry=QUICK_RETRY) as client:
            finals = await client.wait_all(ids)
    return {cid: p.state for cid, p in finals.items()}


def run_guarded(
    factory: Callable[[], Coroutine[Any, Any, Any]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> Any:
    """Run ``factory()`` on a fresh loop; a hang becomes a TimeoutError, not a stuck run."""

    async def guarded() -> Any:
        return await asyncio.wait_for(factory(), 30)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(guarded())


class _OpaqueHandle(asyncio.Handle):
    """A timer handle with only the ``Handle`` API: no ``when()``, as on other loops."""

    def __init__(self, inner: asyncio.TimerHandle, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(lambda: None, (), loop)
        self._inner = inner

    def cancel(self) -> None:
        self._inner.cancel()
        super().cancel()

    def when(self) -> float:
        raise AssertionError("TimerHandle.when() is not part of every loop's API")


class _PublicApiLoop(asyncio.SelectorEventLoop):
    """An event loop whose timers give back handles without ``when()`` (like uvloop's)."""

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        return _OpaqueHandle(super().call_at(when, callback, *args, context=context), self)


def test_engine_needs_nothing_but_the_public_loop_api() -> None:
    """wait_all over 50 commands ends on a loop whose timer handles have no when()."""
    states = run_guarded(wait_all_of_50, _PublicApiLoop)
    assert len(states) == 50
    assert set(states.values()) <= {CommandState.COMPLETE}


def test_engine_runs_on_uvloop() -> None:
    """uvloop.run-style: wait_all over 50 commands ends, each COMPLETE."""
    uvloop = pytest.importorskip("uvloop")
    states = run_guarded(wait_all_of_50, uvloop.new_event_loop)
    assert len(states) == 50
    assert set(states.values()) == {CommandState.COMPLETE}


async def login_throttle_expiry() -> list[str]:
    """CAS login, a 503 slow-down, a session expiry mid-watch, then wait and watch_many."""
    async with ManagerSimulator(auth="cas") as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=1000.0)) for _ in range(3)]
        sim.faults.inject(Fault.status(503), times=1, command_id=ids[0])
        assert sim.cas_url is not None
        auth = CASAuth(sim.username, sim.password, cas_url=sim.cas_url)
        async with Client(sim.url, auth=auth, poll=FAST, retry=QUICK_RETRY) as client:
            seen: list[str] = []
            async for p in client.watch_many(ids):
                seen.append(p.state.value)
                if not p.is_terminal and p.command_id == ids[-1]:
                    sim.expire_sessions()
                    sim.finish_all()
            final = await client.wait(ids[0])
            assert client.stats.relogins >= 1
            assert client.stats.throttled >= 1
        return [*seen[-3:], final.state.value]


def test_engine_runs_under_plain_asyncio_with_sniffio_installed() -> None:
    """With sniffio importable (trio and many SDKs bring it), asyncio.run + wait ends."""
    pytest.importorskip("sniffio")

    async def main() -> CommandState:
        async with ManagerSimulator() as sim:
            cid = sim.add_command(Timeline.build(steps=2, duration=1000.0))
            sim.finish(cid)
            async with Client(sim.url, poll=FAST) as client:
                return (await client.wait(cid)).state

    assert run_guarded(main) is CommandState.COMPLETE


@pytest.mark.parametrize("loop", ["asyncio", "uvloop", "public-api"])
def test_login_throttling_and_expiry_outside_anyio(loop: str) -> None:
    """Login, 503 slow-down and re-login under a plain asyncio runner, on each kind of loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop == "uvloop":
        factory = pytest.importorskip("uvloop").new_event_loop
    elif loop == "public-api":
        factory = _PublicApiLoop
    assert run_guarded(login_throttle_expiry, factory) == ["COMPLETE"] * 4


# -- asyncio only: a typed error elsewhere -------------------------------------------------


def _enter_outside_any_loop(enter: Awaitable[object]) -> BaseException:
    coro = enter.__await__()
    with pytest.raises(AsyncioRequiredError) as info:
        coro.send(None)
    coro.close()
    return info.value


def test_client_outside_asyncio_says_asyncio_only() -> None:
    """Entering a Client with no asyncio loop running raises AsyncioRequiredError, saying why."""
    error = _enter_outside_any_loop(Client("http://127.0.0.1:9").__aenter__())
    assert isinstance(error, RuntimeError)
    assert "asyncio" in str(error)
    assert "uvloop" in str(error)


def test_simulator_outside_asyncio_says_asyncio_only() -> None:
    """Starting the simulator with no asyncio loop running raises AsyncioRequiredError."""
    error = _enter_outside_any_loop(ManagerSimulator().start())
    assert "ManagerSimulator" in str(error)


def test_under_trio_client_and_simulator_raise_asyncio_required() -> None:
    """Under trio, `async with Client` and ManagerSimulator raise the typed error naming trio."""
    pytest.importorskip("trio")
    errors: list[BaseException] = []

    async def main() -> None:
        for opener in (Client("http://127.0.0.1:9"), ManagerSimulator()):
            try:
                async with opener:
                    pass
            except AsyncioRequiredError as e:
                errors.append(e)

    anyio.run(main, backend="trio")
    assert len(errors) == 2
    assert all("under trio" in str(e) for e in errors)
    assert "`async with Client(...)`" in str(errors[0])


# -- the workers are owned by the engine ---------------------------------------------------


def _workers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "cmdprogress fetch worker"]


@pytest.mark.anyio
async def test_workers_are_cancelled_and_awaited_when_the_client_closes() -> None:
    """Leaving `async with Client` leaves no fetch worker behind, finished or not."""
    async with ManagerSimulator() as sim:
        ids = [sim.add_command(Timeline.build(steps=2, duration=1000.0)) for _ in range(8)]
        with anyio.fail_after(10):
            async with Client(sim.url, poll=FAST, max_concurrency=4) as client:
                watcher = client.watch_many(ids)
                seen = 0
                async for _ in watcher:
                    seen += 1
                    if seen == len(ids):
                        break
                running = _workers()
                assert running
        assert _workers() == []
        assert all(t.done() for t in running)


class _ListenerBug(BaseException):
    """Not an Exception: escapes the listener guard, like a bug in the engine would."""


@pytest.mark.anyio
async def test_a_worker_that_dies_ends_the_watches_and_its_error_leaves_the_block() -> None:
    """A worker's error is not swallowed: watches end at once, the block raises it as itself."""

    def listener(event: WatchEvent) -> None:
        if event.kind == "poll":
            raise _ListenerBug("poll listener bug")

    got: list[BaseException] = []

    async def block(sim: ManagerSimulator, cid: int) -> None:
        async with Client(sim.url, poll=FAST) as client:
            client.add_listener(listener)
            try:
                await client.wait(cid)
            except ClientClosedError as e:
                got.append(e)

    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=1000.0))
        with anyio.fail_after(10), pytest.raises(_ListenerBug) as info:
            await block(sim, cid)
    assert str(info.value) == "poll listener bug"
    (closed_error,) = got  # what the waiting watch got, at once
    assert isinstance(closed_error, ClientClosedError)
    assert closed_error.__cause__ is info.value
    assert "_ListenerBug" in str(closed_error)


# -- what is raised inside `async with Client` leaves it as raised -------------------------


@pytest.mark.anyio
async def test_command_error_group_of_wait_all_leaves_the_block_as_itself() -> None:
    """wait_all([done, unknown]) inside the block: `except CommandErrorGroup` outside catches it."""
    async with ManagerSimulator() as sim:
        done = sim.add_command(Timeline.build(steps=2, duration=1000.0))
        sim.finish(done)
        with anyio.fail_after(10), pytest.raises(CommandErrorGroup) as info:
            async with Client(sim.url, poll=FAST) as client:
                await client.wait_all([done, 424242])
    assert type(info.value) is CommandErrorGroup
    assert isinstance(info.value.errors[424242], UnknownCommandError)
    assert info.value.results[done].state is CommandState.COMPLETE


@pytest.mark.anyio
async def test_command_error_group_of_watch_many_leaves_the_block_as_itself() -> None:
    """A watch_many loop's CommandErrorGroup crosses `async with Client` unchanged."""
    async with ManagerSimulator() as sim:
        done = sim.add_command(Timeline.build(steps=2, duration=1000.0))
        sim.finish(done)

        async def block() -> None:
            async with Client(sim.url, poll=FAST) as client:
                async for _ in client.watch_many([done, 424242]):
                    pass

        with anyio.fail_after(10), pytest.raises(CommandErrorGroup) as info:
            await block()
    assert type(info.value) is CommandErrorGroup
    assert list(info.value.errors) == [424242]


@pytest.mark.anyio
async def test_wrong_password_with_wait_all_leaves_the_block_as_a_command_error_group() -> None:
    """A wrong password under wait_all: a CommandErrorGroup of LoginRejectedError, unwrapped."""
    async with ManagerSimulator(auth="cas") as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=1000.0))
        assert sim.cas_url is not None
        auth = CASAuth(sim.username, "wrong-password", cas_url=sim.cas_url)
        with anyio.fail_after(10), pytest.raises(CommandErrorGroup) as info:
            async with Client(sim.url, auth=auth, poll=FAST, retry=QUICK_RETRY) as client:
                await client.wait_all([cid])
    assert type(info.value) is CommandErrorGroup
    assert isinstance(info.value.errors[cid], LoginRejectedError)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "raised",
    [
        ExceptionGroup("mine", [ValueError("one")]),
        ExceptionGroup("mine", [ValueError("one"), KeyError("two")]),
        BaseExceptionGroup("mine", [KeyboardInterrupt()]),
        ValueError("plain"),
    ],
    ids=["group-of-one", "group-of-two", "base-group", "plain"],
)
async def test_whatever_the_block_raises_leaves_it_as_raised(raised: BaseException) -> None:
    """Any exception, groups included, comes out of `async with Client` as the same object."""

    async def block(sim: ManagerSimulator, cid: int) -> None:
        async with Client(sim.url, poll=FAST) as client:
            watcher = client.watch(cid)
            await anext(watcher)  # a worker runs while the block raises
            raise raised

    async with ManagerSimulator() as sim:
        cid = sim.add_command(Timeline.build(steps=2, duration=1000.0))
        with pytest.raises(type(raised)) as info:
            await block(sim, cid)
    assert info.value is raised
    assert sys.exc_info() == (None, None, None)
