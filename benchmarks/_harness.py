"""The pieces every benchmark uses: a server in another process, CPU and memory meters.

- :class:`ServerProcess` starts a server command line in its own process, reads
  its URL from the first line of standard output, and stops it cleanly.
- :class:`Meter` measures wall time, the CPU time of this (client) process and
  of the server process around the measured part.
- :func:`traced_peak` measures the peak Python memory of a coroutine.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

T = TypeVar("T")

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ServerError(RuntimeError):
    """The server process did not start, or died while it was measured."""


def simulator_command(*args: str) -> list[str]:
    """The command line of the out-of-process simulator with ``args``."""
    return [sys.executable, "-m", "cmdprogress.testing", "serve", *args]


class ServerProcess:
    """A server in its own process, its URL read from the first line it prints.

    Example::

        with ServerProcess(simulator_command("--commands", "100")) as server:
            print(server.url, server.cpu_seconds())
    """

    def __init__(self, argv: Sequence[str], *, start_timeout: float = 30.0) -> None:
        self.argv = list(argv)
        self.start_timeout = start_timeout
        self.url = ""
        self.first_line = ""
        self.pid = 0
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self._tail: collections.deque[str] = collections.deque(maxlen=50)
        self._drain: threading.Thread | None = None

    def __enter__(self) -> ServerProcess:
        self._stderr = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        self.pid = self._proc.pid
        assert self._proc.stdout is not None
        # The first line is the URL; a timer kills a server that never prints it.
        killer = threading.Timer(self.start_timeout, self._proc.kill)
        killer.start()
        try:
            line = self._proc.stdout.readline()
        finally:
            killer.cancel()
        if not line:
            self._stop()
            raise ServerError(
                f"{' '.join(self.argv[1:])} printed no URL and exited "
                f"(status {self._proc.returncode}): {self.stderr_tail()}"
            )
        self.first_line = line.strip()
        self.url = self.first_line.split()[0] if self.first_line else ""
        # Drain the rest so a chatty server never blocks on a full pipe.
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _drain_stdout(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._tail.append(line.rstrip("\n"))

    def _stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._proc = None

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what the server wrote to standard error."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return str(self._stderr.read())[-limit:]

    def alive(self) -> bool:
        """True while the server process runs."""
        return self._proc is not None and self._proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process used so far."""
        return proc_cpu_seconds(self.pid)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def rss_bytes() -> int:
    """The resident set size of this process now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


@attrs.define
class Meter:
    """Wall time and CPU time of this process (and optionally a server) over a block.

    Example::

        with Meter(server_pid=server.pid) as m:
            ...
        print(m.wall, m.cpu, m.server_cpu)
    """

    server_pid: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0
    _t0: float = 0.0
    _c0: float = 0.0
    _s0: float = 0.0

    def __enter__(self) -> Meter:
        gc.collect()
        self._s0 = proc_cpu_seconds(self.server_pid) if self.server_pid else 0.0
        self._c0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = time.process_time() - self._c0
        if self.server_pid:
            self.server_cpu = proc_cpu_seconds(self.server_pid) - self._s0


async def traced_peak(run: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """Run ``run()`` under tracemalloc; return its result and the peak bytes it added."""
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = await run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - base


def machine_info() -> dict[str, str]:
    """What the figures were measured on: CPU, cores, OS, Python, package versions."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "CPU": f"{cpu} ({os.cpu_count()} logical cores)",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    for name in (
        "cmdprogress",
        "aiohttp",
        "attrs",
        "cattrs",
        "anyio",
        "orjson",
        "azure-core",
        "tenacity",
    ):
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    return info


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect first, then keep the cyclic GC out of a measured block (restored after)."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
