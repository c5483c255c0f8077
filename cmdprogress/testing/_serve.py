"""``python -m cmdprogress.testing serve``: the simulator in its own process.

With no options it serves a small, lively workload (:data:`NEWCOMER`) that a
new user can poll and watch at once, and prints what a client needs: the URL,
the ids and, when login is on, the user name and the password.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shlex
import signal
import sys
from typing import TYPE_CHECKING

import attrs

from ._capacity import Capacity
from ._faults import Fault
from ._server import ManagerSimulator
from ._timeline import Style, Timeline
from ._workload import Workload

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["NEWCOMER", "main", "parse_args", "serve"]

NEWCOMER = Workload(
    count=8, seed=0, min_duration=20.0, median_duration=45.0, max_duration=150.0, max_steps=5
)
"""What ``serve`` runs with neither ``--workload`` nor ``--commands``: 8 commands
lasting from 20 s to about 3 minutes; with seed 0 two fail and one waits first."""

_DEFAULT_FAILURE_RATE = 0.1

_FAULTS = {
    "500": lambda: Fault.status(500),
    "502": lambda: Fault.status(502),
    "503": lambda: Fault.status(503, retry_after=1.0),
    "429": lambda: Fault.status(429, retry_after=1.0),
    "reset": Fault.reset,
    "malformed": Fault.malformed_json,
    "truncated": Fault.truncated,
    "login_page": Fault.login_page,
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cmdprogress.testing",
        description="The cmdprogress Manager simulator.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser(
        "serve",
        help="serve until SIGTERM/SIGINT; the first line printed is the web URL",
        description=(
            "Serve a simulated Manager on 127.0.0.1 until SIGTERM or SIGINT. Prints the web URL "
            "as the first line, then cas_url=, ca_file=, auth=/username=, commands= lines."
        ),
    )
    s.add_argument("--auth", choices=("none", "cas", "basic"), default="none")
    s.add_argument("--username", default="admin")
    s.add_argument("--password", default="Sim-Passw0rd!")
    s.add_argument("--tls", action="store_true", help="HTTPS with a generated private CA")
    s.add_argument("--clock", choices=("real", "manual"), default="real")
    s.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    s.add_argument(
        "--workload",
        type=int,
        default=None,
        metavar="N",
        help="N seeded commands (default: 8 short ones when --commands is not given either; "
        "0: none)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--failure-rate",
        type=float,
        default=None,
        metavar="R",
        help="share of commands that fail, for --workload and --commands "
        f"(default: {_DEFAULT_FAILURE_RATE} for --workload, 0 for --commands)",
    )
    s.add_argument("--commands", type=int, default=0, metavar="N", help="N built commands")
    s.add_argument("--steps", type=int, default=4, help="steps of each --commands command")
    s.add_argument("--duration", type=float, default=600.0, help="of each --commands command")
    s.add_argument("--advance", type=int, default=0, help="move every command K snapshots on")
    s.add_argument(
        "--control",
        action="store_true",
        help="read 'advance_all K' / 'advance ID K' lines on stdin; answer 'ok' or 'error: ...'",
    )
    s.add_argument("--style", choices=("snake", "camel", "mixed"), default="snake")
    s.add_argument("--fault", choices=sorted(_FAULTS), default="503")
    s.add_argument("--fault-rate", type=float, default=0.0, help="share of progress requests")
    s.add_argument("--session-idle-timeout", type=float, default=1200.0)
    s.add_argument(
        "--require-token",
        action="store_true",
        help="login_check issues a token that every later request must send back "
        "(header X-HW-FI-Auth-Token and cookie FI_Auth_Token), like MRS 3.x",
    )
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--cas-port", type=int, default=0)
    s.add_argument("--log-limit", type=int, default=100_000)
    s.add_argument(
        "--capacity",
        type=float,
        default=None,
        metavar="RATE",
        help="answers per second the Manager can give; more are refused (default: no limit)",
    )
    s.add_argument("--capacity-status", type=int, choices=(429, 503), default=429)
    s.add_argument("--capacity-retry-after", type=float, default=1.0, metavar="SECONDS")
    s.add_argument(
        "--capacity-burst", type=float, default=None, metavar="ANSWERS", help="default: 0.1 s worth"
    )
    s.add_argument(
        "--capacity-queue",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="how long a request may wait for capacity (answering slower) before a refusal",
    )
    s.add_argument(
        "--capacity-schedule",
        type=_schedule,
        default=(),
        metavar="T:RATE,...",
        help="change the capacity T seconds after start, e.g. 20:30,40:100",
    )
    return p


def _schedule(text: str) -> tuple[tuple[float, float], ...]:
    """Parse ``T:RATE,T:RATE`` (seconds after start: answers per second)."""
    out = []
    for part in text.split(","):
        at, sep, rate = part.partition(":")
        try:
            if not sep:
                raise ValueError
            out.append((float(at), float(rate)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected T:RATE pairs separated by commas, such as 20:30,40:100; got {part!r}"
            ) from None
    return tuple(sorted(out))


def _capacity(args: argparse.Namespace) -> Capacity | None:
    if args.capacity is None:
        if args.capacity_schedule:
            raise ValueError("--capacity-schedule needs --capacity (the starting rate)")
        return None
    return Capacity(
        args.capacity,
        status=args.capacity_status,
        retry_after=args.capacity_retry_after,
        burst=args.capacity_burst,
        queue=args.capacity_queue,
    )


async def _follow_schedule(cap: Capacity, schedule: Sequence[tuple[float, float]]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for at, rate in schedule:
        await asyncio.sleep(max(0.0, start + at - loop.time()))
        cap.set_rate(rate)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a ``serve`` command line."""
    return _parser().parse_args(argv)


def _timelines(args: argparse.Namespace) -> list[Timeline]:
    camel_rate = {"snake": 0.0, "camel": 1.0, "mixed": 0.5}[args.style]
    rate = args.failure_rate
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise ValueError(f"--failure-rate must be between 0 and 1, got {rate!r}")
    if args.workload is None and args.commands == 0:
        workload = attrs.evolve(NEWCOMER, seed=args.seed, camel_rate=camel_rate)
        if rate is not None:
            workload = attrs.evolve(workload, failure_rate=rate)
    else:
        workload = Workload(
            count=args.workload or 0,
            seed=args.seed,
            failure_rate=_DEFAULT_FAILURE_RATE if rate is None else rate,
            camel_rate=camel_rate,
        )
    out = workload.timelines()
    # --commands draws its failures from its own generator, so adding them never
    # changes the --workload commands of the same seed.
    rng = random.Random(f"commands-{args.seed}")
    for i in range(args.commands):
        camel = args.style == "camel" or (args.style == "mixed" and i % 2 == 1)
        style: Style = "camel" if camel else "snake"
        fail = rate is not None and rng.random() < rate
        out.append(
            Timeline.build(
                steps=args.steps, duration=args.duration, kind="start", style=style, fail=fail
            )
        )
    return out


def _watch_hint(
    args: argparse.Namespace, url: str, cas_url: str | None, ca_file: str | None, ids: list[int]
) -> str:
    """The ``cmdprogress watch`` command line that watches this simulator's commands."""
    parts = ["cmdprogress", "watch", "--url", url]
    env = ""
    if args.auth != "none":
        env = f"CMDPROGRESS_PASSWORD={shlex.quote(args.password)} "
        parts += ["--user", args.username]
        if args.auth == "basic":
            parts += ["--auth", "basic"]
        elif cas_url:
            parts += ["--cas-url", cas_url]
    if ca_file:
        parts += ["--ca-file", ca_file]
    shown = [str(i) for i in ids] if len(ids) <= 12 else [f"$(seq {ids[0]} {ids[-1]})"]
    return "# watch them: " + env + " ".join(map(shlex.quote, parts)) + " " + " ".join(shown)


async def serve(args: argparse.Namespace, *, stop: asyncio.Event | None = None) -> None:
    """Run the simulator described by ``args`` until ``stop`` is set (or a signal arrives)."""
    sim = ManagerSimulator(
        auth=args.auth,
        username=args.username,
        password=args.password,
        tls=args.tls,
        clock=args.clock,
        speed=args.speed,
        session_idle_timeout=args.session_idle_timeout,
        require_token=args.require_token,
        port=args.port,
        cas_port=args.cas_port,
        log_limit=args.log_limit,
        capacity=_capacity(args),
    )
    async with sim:
        ids = [sim.add_command(t) for t in _timelines(args)]
        if args.advance:
            sim.advance_all(args.advance)
        if args.fault_rate > 0:
            sim.faults.set_rate(_FAULTS[args.fault](), rate=args.fault_rate, seed=args.seed)
        span = f"{ids[0]}-{ids[-1]}" if ids else ""
        login = f" username={args.username}"
        if args.auth != "none":
            login += f" password={args.password}"
        lines = [
            sim.url,
            f"cas_url={sim.cas_url or ''}",
            f"ca_file={sim.ca_file or ''}",
            f"auth={args.auth}{login}",
            f"commands={span}",
        ]
        if ids:
            lines.append(_watch_hint(args, sim.url, sim.cas_url, sim.ca_file, ids))
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        # Only now: whoever reads the URL may signal us at once.
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        helpers = []
        if args.control:
            helpers.append(asyncio.create_task(_control(sim)))
        if sim.capacity is not None and args.capacity_schedule:
            helpers.append(
                asyncio.create_task(_follow_schedule(sim.capacity, args.capacity_schedule))
            )
        try:
            await stop.wait()
        finally:
            for helper in helpers:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper


def _apply(sim: ManagerSimulator, line: str) -> str:
    """Run one control line: ``advance_all K`` or ``advance ID K``; the answer to print."""
    words = line.split()
    try:
        if len(words) == 2 and words[0] == "advance_all":
            sim.advance_all(int(words[1]))
        elif len(words) == 3 and words[0] == "advance":
            sim.advance(int(words[1]), int(words[2]))
        else:
            return (
                f"error: unknown control line {line.strip()!r}; "
                "use 'advance_all K' or 'advance ID K'"
            )
    except (ValueError, KeyError, LookupError) as exc:
        return f"error: {exc}"
    return "ok"


async def _control(sim: ManagerSimulator) -> None:
    """Serve control lines from stdin until it closes (``--control``)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while line := (await reader.readline()).decode():
            sys.stdout.write(_apply(sim, line) + "\n")
            sys.stdout.flush()
    finally:
        transport.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line entry point; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(serve(args))
    except (ValueError, RuntimeError, OSError) as exc:
        sys.stderr.write(f"cmdprogress.testing serve: {exc}\n")
        return 2
    return 0
