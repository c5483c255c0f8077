"""A watching process for tests/test_checkpoint_process.py (run as a script, killed by the test).

``python tests/resume_worker.py URL STATE_FILE (--ids 1 2 3 | --resume-from OLD_STATE_FILE)``

Watches the commands and, after each snapshot handed out, replaces
STATE_FILE (atomically: write, then rename) with what it delivered so far
and the watcher's checkpoint, in one document: the way a service stores
its checkpoint together with the effect of what it handled, so a SIGKILL
at any instant leaves the two consistent. Then prints ``delivered <json>``.
Prints ``done`` when the watch ended.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import anyio

from cmdprogress import Client, PollPolicy, progress_to_dict


def _store(path: str, state: dict[str, object]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def _checkpoint_in(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)["checkpoint"]


async def main(args: argparse.Namespace) -> None:
    resume_from = _checkpoint_in(args.resume_from) if args.resume_from else None
    delivered: list[dict[str, object]] = []
    poll = PollPolicy(interval=0.005, max_interval=0.02)
    async with (
        Client(args.url, poll=poll) as client,
        client.watcher(args.ids or (), resume_from=resume_from) as w,
    ):
        async for p in w:
            delivered.append(progress_to_dict(p))
            _store(args.state, {"delivered": delivered, "checkpoint": w.checkpoint()})
            sys.stdout.write(f"delivered {json.dumps(progress_to_dict(p))}\n")
            sys.stdout.flush()
    sys.stdout.write("done\n")
    sys.stdout.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("state")
    parser.add_argument("--ids", type=int, nargs="*")
    parser.add_argument("--resume-from")
    anyio.run(main, parser.parse_args())
