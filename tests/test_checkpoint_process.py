"""A watch survives a SIGKILL: a second process resumes from the first one's last checkpoint.

Three real processes: ``python -m cmdprogress.testing serve --clock manual
--control`` (the Manager; time moves only when this test writes
``advance_all 1`` to it) and two runs of ``tests/resume_worker.py``. The
test waits on the processes' output lines, never on time.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from cmdprogress import CommandProgress, progress_from_dict
from cmdprogress._convert import decode_progress
from cmdprogress.testing._serve import _timelines, parse_args
from cmdprogress.testing._timeline import encode_snapshot

if TYPE_CHECKING:
    from cmdprogress.testing import Timeline

WORKER = pathlib.Path(__file__).parent / "resume_worker.py"
SERVE_ARGS = ["serve", "--clock", "manual", "--control", "--workload", "10", "--seed", "7"]
SERVE_ARGS += ["--failure-rate", "0.3"]
DOWN_STEPS = 2
"""Snapshots every command moves on while no watcher runs."""


def _load(path: str) -> Any:
    return json.loads(pathlib.Path(path).read_text())


def _decoded(cid: int, timeline: Timeline) -> list[CommandProgress]:
    """What the client decodes at each index of a command's timeline."""
    wire_id = cid if timeline.wire_id == "command" else timeline.wire_id
    assert wire_id is None or isinstance(wire_id, int)
    return [
        decode_progress(cid, encode_snapshot(s, style=timeline.style, wire_id=wire_id))
        for s in timeline.snapshots
    ]


def _first_index(timeline: Timeline) -> int:
    """The index a command shows at simulated time 0 (the manual clock never moves)."""
    at_zero = [i for i, s in enumerate(timeline.snapshots) if s.at is not None and s.at <= 0]
    return max(at_zero, default=0)


class _Proc:
    """A child process whose stdout lines are read one by one."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self) -> str:
        assert self.proc.stdout is not None
        raw = await self.proc.stdout.readline()
        if not raw:
            assert self.proc.stderr is not None
            err = (await self.proc.stderr.read()).decode()
            raise AssertionError(f"the child process ended early: {err}")
        return raw.decode().rstrip("\n")

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


async def _spawn(*args: str, stdin: bool = False) -> _Proc:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return _Proc(proc)


class _Watching:
    """A worker process and what it delivered, as its output lines tell."""

    def __init__(self, proc: _Proc, last: dict[int, CommandProgress | None]) -> None:
        self.proc = proc
        self.last = last  # per command still owed: the last snapshot it delivered

    async def next_delivery(self) -> CommandProgress:
        line = await self.proc.line()
        kind, _, data = line.partition(" ")
        assert kind == "delivered", line
        p = progress_from_dict(json.loads(data))
        self.last[p.command_id] = p
        return p

    async def catch_up(self, current: dict[int, CommandProgress]) -> None:
        """Wait until it delivered the current snapshot of every command it watches."""
        while any(self.last[cid] != current[cid] for cid in self.last):
            await self.next_delivery()


@pytest.mark.anyio
async def test_a_watch_killed_mid_run_resumes_from_its_checkpoint(tmp_path: pathlib.Path) -> None:
    """Union of both processes' deliveries = one uninterrupted watch, less snapshots skipped
    while no process ran (each in the state of a delivered neighbour); no duplicates."""
    started = time.monotonic()
    timelines = _timelines(parse_args(SERVE_ARGS))
    cids = list(range(1, len(timelines) + 1))
    decoded = {cid: _decoded(cid, t) for cid, t in zip(cids, timelines, strict=True)}
    last_index = {cid: len(decoded[cid]) - 1 for cid in cids}
    index = {cid: _first_index(t) for cid, t in zip(cids, timelines, strict=True)}

    # Odd commands move in the kill round and while no process runs; even ones stand
    # still then (resuming must not hand out their stored snapshot again). The kill
    # round is chosen from the timelines so that some commands ended before it, some
    # odd ones end while down, and some of each kind are still running afterwards.
    moving = [c for c in cids if c % 2 == 1]

    def left(cid: int, rounds: int) -> int:
        """Snapshots left after ``rounds`` full rounds."""
        return last_index[cid] - index[cid] - rounds

    kill_round = next(
        k
        for k in range(1, 20)
        if any(left(c, k - 1) <= 0 for c in cids)
        and any(0 < left(c, k) <= DOWN_STEPS for c in moving)
        and any(left(c, k) > DOWN_STEPS + 1 for c in moving)
        and any(left(c, k - 1) > 1 for c in cids if c not in moving)
    )

    serve = await _spawn("-m", "cmdprogress.testing", *SERVE_ARGS, stdin=True)
    workers: list[_Proc] = []
    state1, state2 = str(tmp_path / "state1.json"), str(tmp_path / "state2.json")
    try:
        with anyio.fail_after(60):
            url = await serve.line()
            while not (await serve.line()).startswith("commands="):
                pass

            async def answer() -> str:
                """The next control answer (hint lines after the header start with #)."""
                while (line := await serve.line()).startswith("#"):
                    pass
                return line

            def current() -> dict[int, CommandProgress]:
                return {cid: decoded[cid][index[cid]] for cid in cids}

            async def advance(steps: int, only: list[int] | None = None) -> None:
                assert serve.proc.stdin is not None
                lines = [f"advance_all {steps}"] if only is None else []
                lines += [f"advance {cid} {steps}" for cid in only or ()]
                serve.proc.stdin.write("".join(f"{line}\n" for line in lines).encode())
                await serve.proc.stdin.drain()
                for _ in lines:
                    assert await answer() == "ok"
                for cid in cids if only is None else only:
                    index[cid] = min(index[cid] + steps, last_index[cid])

            ids = [str(c) for c in cids]
            w1 = _Watching(
                await _spawn(str(WORKER), url, state1, "--ids", *ids), dict.fromkeys(cids)
            )
            workers.append(w1.proc)
            await w1.catch_up(current())
            for _ in range(kill_round - 1):
                await advance(1)
                await w1.catch_up(current())
            # Mid-run: the next round of changes is being delivered when SIGKILL lands.
            await advance(1, only=moving)
            await w1.next_delivery()
            w1.proc.proc.send_signal(signal.SIGKILL)
            assert await w1.proc.proc.wait() == -signal.SIGKILL

            await advance(DOWN_STEPS, only=moving)  # changes while nobody watches
            at_restart = dict(index)
            first = _load(state1)
            checkpoint = first["checkpoint"]
            checkpoint_bytes = len(json.dumps(checkpoint))
            owed = {e["id"]: e["last"] for e in checkpoint["commands"]}

            w2 = _Watching(
                await _spawn(str(WORKER), url, state2, "--resume-from", state1),
                {cid: None if d is None else progress_from_dict(d) for cid, d in owed.items()},
            )
            workers.append(w2.proc)
            await w2.catch_up(current())
            while any(index[c] < last_index[c] for c in cids):
                await advance(1)
                await w2.catch_up(current())
            assert await w2.proc.line() == "done"
            assert await w2.proc.proc.wait() == 0
    finally:
        for proc in workers:
            await proc.stop()
        if serve.proc.returncode is None:
            serve.proc.terminate()
        await serve.proc.wait()

    second = _load(state2)
    got1 = [progress_from_dict(d) for d in first["delivered"]]
    got2 = [progress_from_dict(d) for d in second["delivered"]]
    assert second["checkpoint"]["commands"] == []  # nothing owed any more

    skipped_total = 0
    ended_while_down = 0
    unchanged = 0
    for cid in cids:
        # One uninterrupted watch: every distinct snapshot from the first index on.
        full: list[CommandProgress] = []
        for p in decoded[cid][_first_index(timelines[cid - 1]) :]:
            if not full or full[-1] != p:
                full.append(p)
        mine1 = [p for p in got1 if p.command_id == cid]
        mine2 = [p for p in got2 if p.command_id == cid]
        union = mine1 + mine2
        positions = [full.index(p) for p in union]
        assert positions == sorted(set(positions)), f"command {cid}: repeated or out of order"
        assert union[-1] == full[-1]  # the terminal one, once
        assert full[-1].is_terminal
        assert sum(p.is_terminal for p in union) == 1
        if not mine2:  # ended before the kill: the second process left it alone
            assert cid not in owed
            assert positions == list(range(len(full)))
            continue
        # Skipped: exactly what changed between the last snapshot the first process
        # stored and the one current at the restart.
        last_stored = full.index(mine1[-1])
        restart_pos = full.index(decoded[cid][at_restart[cid]])
        resumed_at = max(restart_pos, last_stored + 1)  # unchanged: the next change
        if cid not in moving:
            assert restart_pos == last_stored  # it stood still: nothing handed out twice
            unchanged += 1
        assert mine2[0] == full[resumed_at]
        assert positions == [*range(last_stored + 1), *range(resumed_at, len(full))]
        for pos in range(last_stored + 1, restart_pos):
            assert full[pos].state in {full[last_stored].state, full[restart_pos].state}
        skipped_total += max(restart_pos - last_stored - 1, 0)
        if full[restart_pos].is_terminal and restart_pos > last_stored:
            ended_while_down += 1
            assert mine2 == [full[-1]]
    assert ended_while_down >= 1
    assert unchanged >= 1
    print(  # the figures of the closing note (pytest -s shows them)
        f"\nresume: {len(cids)} commands, {len(got1)} delivered before SIGKILL, "
        f"{len(got2)} after, {skipped_total} skipped while down, {ended_while_down} ended "
        f"while down, {unchanged} unchanged; checkpoint {checkpoint_bytes} B for "
        f"{len(owed)} commands "
        f"({checkpoint_bytes / max(len(owed), 1):.0f} B each); {time.monotonic() - started:.1f}s"
    )
