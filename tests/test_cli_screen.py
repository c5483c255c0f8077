"""The terminal view as a person sees it: the CLI in a pseudo-terminal, its screen read
by a terminal emulator (pyte), at 120 and 60 columns.

Each test runs ``cmdprogress`` under ``pexpect`` with a real pseudo-terminal, feeds
everything it wrote (and what the terminal echoed) to an emulated screen, and checks
what is left on it after the run: no stale frame lines, every message present, ids and
states never cut.  The simulator runs in its own process (``python -m
cmdprogress.testing serve``) or in the demo; speeds are high so the runs stay short.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import attrs
import pytest

pexpect = pytest.importorskip("pexpect")
pyte = pytest.importorskip("pyte")

if TYPE_CHECKING:
    from collections.abc import Iterator

WIDTHS = (120, 60)
ROWS = 40
PASSWORD = "Sim-Passw0rd!"
FAST = ("--interval", "0.02", "--max-interval", "0.05")


@attrs.frozen
class Screen:
    """What a person sees after the run: every line (scrolled-off ones first)."""

    lines: tuple[str, ...]
    raw: str
    status: int | None

    @property
    def text(self) -> str:
        """The non-blank lines, joined."""
        return "\n".join(line for line in self.lines if line)

    @property
    def flowing(self) -> str:
        """All the text with line breaks and repeated spaces folded (for wrapped messages)."""
        return " ".join(" ".join(self.lines).split())

    def count(self, pattern: str) -> int:
        """How many lines match ``pattern`` (a regular expression, searched)."""
        return sum(1 for line in self.lines if re.search(pattern, line))


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CMDPROGRESS_PASSWORD", "NO_COLOR", "COLUMNS", "LINES", "FORCE_COLOR")
    }
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def _spawn(args: list[str], cols: int, **env: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "cmdprogress", *args],
        dimensions=(ROWS, cols),
        env=_env(**env),
        encoding="utf-8",
        codec_errors="replace",
        timeout=60,
    )


def _screen(child: pexpect.spawn, cols: int, before: str = "") -> Screen:
    """Read the child to its end and emulate the terminal it wrote to."""
    raw = before + child.read()
    child.close()
    screen = pyte.HistoryScreen(cols, ROWS, history=10_000)
    # A terminal draws no glyph for ETX (the raw Ctrl-C the line discipline echoes when
    # ECHOCTL is off); pyte would draw one, so it is left out as a terminal would.
    pyte.Stream(screen).feed(raw.replace("\x03", ""))
    top = ["".join(line[x].data for x in range(cols)) for line in screen.history.top]
    lines = [line.rstrip() for line in [*top, *screen.display]]
    while lines and not lines[-1]:
        lines.pop()
    return Screen(tuple(lines), raw, child.exitstatus)


def run_on_screen(args: list[str], cols: int, **env: str) -> Screen:
    """Run ``cmdprogress ARGS`` on a ``cols``-wide terminal to its end."""
    return _screen(_spawn(args, cols, **env), cols)


@attrs.frozen
class Served:
    url: str
    cas_url: str
    ids: tuple[str, ...]


@contextlib.contextmanager
def serving(*args: str) -> Iterator[Served]:
    """``python -m cmdprogress.testing serve ARGS`` for the length of the block."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmdprogress.testing", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(5)]
        first, last = lines[4].removeprefix("commands=").split("-")
        ids = tuple(str(i) for i in range(int(first), int(last) + 1))
        yield Served(lines[0], lines[1].removeprefix("cas_url="), ids)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _assert_fits(screen: Screen, cols: int) -> None:
    assert all(len(line) <= cols for line in screen.lines)


# -- the demo: many commands (overall view) and a few (a bar each) --------------------


@pytest.mark.parametrize("cols", WIDTHS)
def test_demo_many_leaves_one_frame_and_every_message(cols: int) -> None:
    """30 commands: the session-expiry message is readable above the view, the view's
    header, bar and counts appear once (no stale frames), failure lines keep their ids."""
    screen = run_on_screen(["demo", "--commands", "30", "--speed", "25"], cols)
    assert screen.status == 0, screen.text
    _assert_fits(screen, cols)
    flowing = screen.flowing
    assert "demo: a simulated Manager at http://127.0.0.1:" in flowing
    assert (
        "demo: the Manager expired every session after 15 of 30 commands ended; the client "
        "logs in again, once, and goes on" in flowing
    )
    assert screen.count(r"^Watching 30 commands on 127\.0\.0\.1:\d+$") == 1
    assert screen.count(r"\d+/30 ended") == 1
    assert screen.count(r"30/30 ended \d+\.\ds$") == 1
    assert screen.count(r"^latest failures:$") == 1
    assert screen.count(r"^complete \d+ · failed \d+ · error 0$") == 1  # never split
    summary = [line for line in screen.lines if "commands in" in line]
    assert len(summary) == 1
    assert summary[0].startswith("30 commands in ")
    start = screen.lines.index("latest failures:") + 1
    end = screen.lines.index("", start)
    latest = [re.match(r"^ *(\d+) FAILED -3\d\d: \S", line) for line in screen.lines[start:end]]
    assert latest, screen.text
    assert all(latest), screen.lines[start:end]
    head = screen.lines.index(summary[0])
    table = "\n".join(screen.lines[head:])
    failed = re.findall(r"^[│ ]*(\d+)[│ ]+FAILED[│ ]+(?:\d|unknown)", table, re.M)
    # the ids on the failure lines are whole: the same as the summary's failed commands
    assert sorted(m[1] for m in latest if m) == sorted(failed), screen.text


@pytest.mark.parametrize("cols", WIDTHS)
def test_demo_few_has_one_row_per_command_with_id_and_state_whole(cols: int) -> None:
    """6 commands: a row each, once, id and state whole; the bar shrinks at 60 columns;
    the summary reads at both widths without breaking words."""
    screen = run_on_screen(["demo", "--commands", "6", "--speed", "25"], cols)
    assert screen.status == 0, screen.text
    _assert_fits(screen, cols)
    assert screen.count(r"^Watching 6 commands on 127\.0\.0\.1:\d+$") == 1
    rows = {cid: screen.count(rf"^{cid} (COMPLETE|FAILED) +━+[━╸╺]* +\d+% ") for cid in range(1, 7)}
    assert rows == dict.fromkeys(range(1, 7), 1), screen.text
    assert "the client logs in again, once, and goes on" in screen.flowing
    assert screen.count("DataNode@node-$") == 0  # no word broken in the summary
    assert "failed: DataNode@node-2" in screen.flowing


# -- watch against a simulator in its own process -------------------------------------


@pytest.mark.parametrize("cols", WIDTHS)
def test_wrong_password_is_one_line_and_no_live_view(cols: int) -> None:
    """A wrong password: one line on the screen (no log record, no empty live view), exit 2."""
    with serving("--auth", "cas", "--clock", "manual", "--commands", "2") as sim:
        screen = run_on_screen(
            ["watch", "--url", sim.url, "--user", "admin", "--cas-url", sim.cas_url, *sim.ids],
            cols,
            CMDPROGRESS_PASSWORD="Not-the-password",
        )
    assert screen.status == 2
    assert screen.flowing.startswith("error: login rejected for user 'admin' at 127.0.0.1:")
    assert screen.flowing.count("error") == 1
    assert "ERROR" not in screen.raw
    assert "Watching" not in screen.raw


@pytest.mark.parametrize("cols", WIDTHS)
def test_ctrl_c_leaves_the_header_once(cols: int) -> None:
    """Ctrl-C while the view is live: its header and rows once (the ^C echo does not push
    the last frame down), the interruption said, exit 130."""
    with serving("--clock", "manual", "--commands", "3") as sim:
        child = _spawn(["watch", "--url", sim.url, *FAST, *sim.ids], cols)
        child.expect(r"NEW .* 0\.[3-9]s")  # a later frame: the view is live
        before = child.before + child.after
        child.sendintr()
        screen = _screen(child, cols, before)
    assert screen.status == 130
    assert screen.count(r"^Watching 3 commands on 127\.0\.0\.1:\d+$") == 1, screen.text
    for cid in sim.ids:
        assert screen.count(rf"^{cid} NEW ") == 1, screen.text
    assert "interrupted: stopped watching" in screen.flowing  # below the view
    assert screen.raw.endswith(
        "interrupted: stopped watching (nothing was sent to the Manager)\r\n"
    )


def test_ctrl_c_at_the_password_prompt_says_nothing_started() -> None:
    """Ctrl-C at the prompt: the message on its own line, not 'stopped watching', exit 130."""
    with serving("--auth", "cas", "--clock", "manual", "--commands", "1") as sim:
        child = _spawn(
            ["watch", "--url", sim.url, "--user", "admin", "--cas-url", sim.cas_url, "1"], 120
        )
        child.expect("Password for admin at ")
        before = child.before + child.after
        child.sendintr()
        screen = _screen(child, 120, before)
    assert screen.status == 130
    assert screen.lines[-2].startswith("Password for admin at http://127.0.0.1:")
    assert screen.lines[-1] == "interrupted at the password prompt: nothing was sent"
    assert "stopped watching" not in screen.raw


@pytest.mark.parametrize("cols", WIDTHS)
def test_commands_that_ended_before_the_watch_have_an_unknown_duration(cols: int) -> None:
    """Commands already COMPLETE at the first answer: their duration reads 'unknown'."""
    with serving("--clock", "manual", "--commands", "2", "--advance", "99") as sim:
        screen = run_on_screen(["watch", "--url", sim.url, *FAST, *sim.ids], cols)
    assert screen.status == 0, screen.text
    assert screen.count(r"^1 COMPLETE .* 100% +unknown ") == 1, screen.text
    assert screen.count(r"^[│ ]*1[│ ]+COMPLETE[│ ]+unknown[│ ]+100%") == 1, screen.text
    assert "unknown: the command had already ended when the watch began" in screen.flowing
    assert not re.search(r"COMPLETE\s+0\.\ds", screen.text)


def test_dumb_terminal_gets_plain_lines_as_they_come() -> None:
    """TERM=dumb: no cursor movement, the plain lines a pipe gets, one per change."""
    with serving("--clock", "manual", "--commands", "2", "--advance", "99") as sim:
        screen = run_on_screen(["watch", "--url", sim.url, *FAST, *sim.ids], 80, TERM="dumb")
    assert screen.status == 0
    assert "\x1b[" not in screen.raw
    assert screen.lines[0] == f"Watching 2 commands on {sim.url.removeprefix('http://')}"
    assert screen.count(r"^\[ +\d+\.\ds\] +[12] COMPLETE +100%") == 2


# -- secrets and the words of the command line ---------------------------------------


@pytest.mark.parametrize("password", ["a", "the"])
def test_short_passwords_alter_no_message(password: str) -> None:
    """The password 'a' or 'the' (the right one) leaves every message whole, on a terminal
    and through a pipe: nothing is masked, as no message holds a secret (a masker once
    printed 'W***tching' and 'M***n***ger')."""
    with serving("--auth", "cas", "--password", password, "--clock", "manual",
                 "--commands", "2", "--advance", "99") as sim:  # fmt: skip
        args = ["watch", "--url", sim.url, "--user", "admin", "--cas-url", sim.cas_url, *FAST,
                *sim.ids, "99"]  # fmt: skip
        screen = run_on_screen(args, 120, CMDPROGRESS_PASSWORD=password)
        piped = subprocess.run(
            [sys.executable, "-m", "cmdprogress", *args],
            env=_env(CMDPROGRESS_PASSWORD=password),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    host = sim.url.removeprefix("http://")
    unknown = (
        "command 99 is unknown to the Manager (HTTP 404): check the id; ids are the numbers "
        "the start/stop/save requests returned"
    )
    assert screen.status == piped.returncode == 2  # the unknown id
    assert "***" not in screen.raw + piped.stdout + piped.stderr
    assert screen.count(rf"^Watching 3 commands on {host}$") == 1
    assert screen.count(r"^3 commands in \d+\.\ds: complete 2, failed 0, error 1 · requests") == 1
    assert piped.stdout.splitlines()[0] == f"Watching 3 commands on {host}"
    assert f"      99 ERROR         {unknown}" in piped.stdout
    assert unknown in piped.stdout.split("3 commands in ")[1]  # in the summary too


def test_wrong_password_message_does_not_depend_on_the_password() -> None:
    """The same wrong-password line whatever the password typed ('a', 'the', a long one)."""
    seen = set()
    with serving("--auth", "cas", "--clock", "manual", "--commands", "1") as sim:
        for password in ("a", "the", "Wrong-Passw0rd-4242"):
            screen = run_on_screen(
                ["watch", "--url", sim.url, "--user", "admin", "--cas-url", sim.cas_url, "1"],
                120,
                CMDPROGRESS_PASSWORD=password,
            )
            assert screen.status == 2
            seen.add(screen.text)
    (line,) = seen
    assert line.startswith("error: login rejected for user 'admin' at 127.0.0.1:")
    assert "check the user name and the password (CMDPROGRESS_PASSWORD)" in line


def test_login_needed_names_the_user_option() -> None:
    """A Manager that asks for a login, watched without --user: the message names --user,
    not the library's auth=CASAuth(user, password)."""
    with serving("--auth", "cas", "--clock", "manual", "--commands", "1") as sim:
        screen = run_on_screen(["watch", "--url", sim.url, "1"], 120)
    assert screen.status == 2
    assert "asks for a login: pass --user NAME" in screen.flowing
    assert "CASAuth" not in screen.raw
    assert "auth=" not in screen.raw


def test_the_terminal_settings_are_restored_after_the_view() -> None:
    """The ^C echo (ECHOCTL) is off only while the view is live: `stty -a` after the run
    shows it on again."""
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", f"'{sys.executable}' -m cmdprogress demo --commands 3 --speed 25; stty -a"],
        dimensions=(ROWS, 120),
        env=_env(),
        encoding="utf-8",
        timeout=60,
    )
    screen = _screen(child, 120)
    assert "Watching 3 commands" in screen.raw
    assert re.search(r"(?<![-\w])echoctl\b", screen.raw)
    assert "-echoctl" not in screen.raw
