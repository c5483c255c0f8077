"""Argument parsing for ``cmdprogress``: options, command ids, the password.

Everything here runs before any request: a bad id or a bad option ends the
program with exit status 2 and a one-line message, and nothing is sent.
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
from typing import TYPE_CHECKING, Literal, TextIO

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "PASSWORD_ENV",
    "DemoSettings",
    "UsageError",
    "WatchSettings",
    "build_parser",
    "parse_command_ids",
    "resolve_password",
]

PASSWORD_ENV = "CMDPROGRESS_PASSWORD"
"""The environment variable the password is read from (never a command-line argument)."""

MAX_COMMAND_ID = 2**63 - 1  # the Manager's ids are Java longs

AuthMode = Literal["cas", "basic", "none"]

_ID = re.compile(r"[0-9]+")


class UsageError(Exception):
    """A mistake in the command line or its input; exit status 2, nothing was sent."""


@attrs.frozen
class WatchSettings:
    """What ``cmdprogress watch`` was asked to do (the password is kept out of the repr).

    >>> WatchSettings(url="https://10.0.0.5:28443", ids=(7,)).auth
    'none'
    """

    url: str
    ids: tuple[int, ...]
    auth: AuthMode = "none"
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    cas_url: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    json: bool = False
    debug: bool = False
    interval: float = 1.0
    max_interval: float = 15.0
    max_concurrency: int = 32

    def ssl_context(self) -> ssl.SSLContext | bool | None:
        """The ``ssl`` argument for the client: a context trusting ``--ca-file``,
        ``False`` for ``--insecure``, ``None`` (system CAs) otherwise.

        Raises :class:`UsageError` when the CA file cannot be read.
        """
        if self.insecure:
            return False
        if self.ca_file is None:
            return None
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise UsageError(
                f"--ca-file {self.ca_file}: cannot load it as a PEM CA bundle ({reason}); "
                "pass the Manager's CA certificate in PEM form"
            ) from None


@attrs.frozen
class DemoSettings:
    """What ``cmdprogress demo`` was asked to do.

    >>> DemoSettings().commands
    60
    """

    commands: int = 60
    speed: float = 1.0
    seed: int = 7
    json: bool = False
    debug: bool = False


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


_EXIT_STATUS = """\
exit status:
  0    every command completed (demo: the demo ran as planned)
  1    at least one command ended FAILED
  2    usage, connection, login, certificate or unknown-id error
  130  interrupted (Ctrl-C); nothing was sent to the Manager
  141  the reader of standard output went away (e.g. '| head -1')"""

_WATCH_EXAMPLES = f"""\
examples:
  # a security cluster with a private CA (prompts for the password)
  cmdprogress watch --url https://10.0.0.5:28443 --user admin --ca-file ca.pem 1234 1235

  # in CI: the password from the environment, JSON lines to a file
  {PASSWORD_ENV}=... cmdprogress watch --url https://10.0.0.5:28443 --user ci \\
      --ca-file ca.pem --json 1234 > progress.jsonl

  # ids from another tool, one per line
  some-tool --print-ids | cmdprogress watch --url https://10.0.0.5:28443 --user admin -

  # the simulator (python -m cmdprogress.testing serve prints its URL, user and ids)
  {PASSWORD_ENV}='Sim-Passw0rd!' cmdprogress watch --url http://127.0.0.1:PORT \\
      --user admin 1 2 3"""

_DEMO_EXAMPLES = """\
examples:
  cmdprogress demo                              # 60 commands, about 30 seconds
  cmdprogress demo --commands 6 --speed 3       # a bar per command, a few seconds
  cmdprogress demo --json | jq -c 'select(.state == "FAILED")'

exit status: 0 when the demo ran as planned (its failures are scripted), 2 if a
command ended with an error or the watch could not run, 130 interrupted, 141 the
reader of standard output went away."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps the description, keeps the examples' lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)


def build_parser() -> argparse.ArgumentParser:
    """The ``cmdprogress`` parser with its two sub-commands, ``watch`` and ``demo``."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="cmdprogress",
        description="Watch MRS / FusionInsight Manager commands from a terminal.",
        epilog=_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{watch,demo}", required=True)

    watch = sub.add_parser(
        "watch",
        help="watch commands on a Manager until they end",
        description="Watch commands on a Manager until every one has ended, then print a "
        "summary. Ids come from the arguments and, with '-' or when none are given and "
        "standard input is not a terminal, from standard input (one per line). "
        f"The password is read from ${PASSWORD_ENV} or prompted for; never pass it "
        "as an argument.",
        epilog=_WATCH_EXAMPLES + "\n\n" + _EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    watch.add_argument(
        "--url",
        required=True,
        help="the Manager's web address, e.g. https://10.0.0.5:28443",
    )
    watch.add_argument("--user", help="the Manager user name (needed for --auth cas|basic)")
    watch.add_argument(
        "--auth",
        choices=("cas", "basic", "none"),
        help="how to log in: cas (security clusters), basic (MRS 3.x), none "
        "(non-security clusters); default: cas with --user, none without",
    )
    watch.add_argument(
        "--cas-url",
        help="the CAS login server, when not the Manager's host on port 20009",
    )
    tls = watch.add_mutually_exclusive_group()
    tls.add_argument(
        "--ca-file",
        metavar="PEM",
        help="trust the Manager's certificate through this CA bundle (PEM)",
    )
    tls.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the Manager's certificate (not recommended)",
    )
    watch.add_argument(
        "--interval",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="first delay between two polls of a command (default: 1)",
    )
    watch.add_argument(
        "--max-interval",
        type=_positive_float,
        default=15.0,
        metavar="SECONDS",
        help="longest delay between two polls of an unchanged command (default: 15)",
    )
    watch.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=32,
        metavar="N",
        help="at most N requests in flight at once (default: 32)",
    )
    _common(watch)
    watch.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="command ids to watch; '-' reads more from standard input",
    )

    demo = sub.add_parser(
        "demo",
        help="run a simulated Manager in-process and watch its commands",
        description="Start the built-in Manager simulator with a realistic workload "
        "(CAS login, a session expiry half-way, a few failures) and watch it with the "
        "same display as 'watch'. Takes well under a minute.",
        epilog=_DEMO_EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    demo.add_argument(
        "--commands",
        type=_positive_int,
        default=60,
        metavar="N",
        help="number of commands (default: 60)",
    )
    demo.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="run the simulated clock X times faster than real time (default: 1)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=7,
        metavar="S",
        help="seed of the workload; the same seed gives the same commands (default: 7)",
    )
    _common(demo)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per change on standard output (JSON lines), nothing else",
    )
    p.add_argument(
        "--debug",
        action="store_true",
        help="log every request to standard error and show tracebacks",
    )


def parse_command_ids(tokens: Iterable[str], *, source: str = "argument") -> list[int]:
    """Turn texts into command ids, refusing anything that is not a plain number.

    Blank tokens are skipped.  Raises :class:`UsageError` naming the first bad one.

    >>> parse_command_ids(["12", " 7 "])
    [12, 7]
    """
    ids: list[int] = []
    for raw in tokens:
        token = raw.strip()
        if not token:
            continue
        if not _ID.fullmatch(token) or int(token) > MAX_COMMAND_ID:
            shown = token if len(token) <= 40 else token[:37] + "..."
            raise UsageError(
                f"{shown!r} ({source}) is not a command id: pass non-negative whole "
                "numbers such as 1234, the id the start/stop/save request returned"
            )
        ids.append(int(token))
    return ids


def read_ids_from(stream: TextIO) -> list[int]:
    """Read ids from a stream: one per line (blank lines and ``#`` comments ignored)."""
    tokens: list[str] = []
    for line in stream:
        text = line.split("#", 1)[0].strip()
        if text:
            tokens.append(text)
    return parse_command_ids(tokens, source="standard input")


def collect_ids(args: Sequence[str], stdin: TextIO | None) -> tuple[int, ...]:
    """The ids to watch, in order, without duplicates.

    Standard input is read when ``-`` is given, or when no id is given and
    standard input is not a terminal (so ``... | cmdprogress watch`` works).
    ``stdin`` is ``None`` when standard input is closed (``sys.stdin`` after ``<&-``).
    """
    ids = parse_command_ids((a for a in args if a != "-"), source="argument")
    if stdin is None:
        if "-" in args:
            raise UsageError(
                "'-' reads ids from standard input, but it is closed: give the ids as arguments"
            )
    elif "-" in args or (not args and not _isatty(stdin)):
        ids.extend(read_ids_from(stdin))
    if not ids:
        raise UsageError(
            "no command ids: give them as arguments, or one per line on standard input"
        )
    return tuple(dict.fromkeys(ids))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _terminal_available() -> bool:
    """True when a prompt can be shown on the controlling terminal."""
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:
        return _isatty(sys.stdin)


def resolve_password(
    user: str,
    url: str,
    *,
    environ: dict[str, str] | os._Environ[str] = os.environ,
    prompt: Callable[[str], str] | None = None,
    terminal_available: Callable[[], bool] = _terminal_available,
) -> str:
    """The password, from ``$CMDPROGRESS_PASSWORD`` or an interactive prompt.

    Raises :class:`UsageError` when neither is possible (no terminal to prompt on).
    """
    password = environ.get(PASSWORD_ENV)
    if password:
        return password
    if not terminal_available():
        raise UsageError(
            f"no password for user {user!r}: set {PASSWORD_ENV} in the environment "
            "(there is no terminal to prompt on)"
        )
    if prompt is None:
        import getpass

        prompt = getpass.getpass
    password = prompt(f"Password for {user} at {url}: ")
    if not password:
        raise UsageError(f"empty password for user {user!r}: nothing was sent")
    return password


_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)?[^/?#@]*@")


def _check_url(option: str, value: str, example: str) -> str:
    """``value`` stripped, or :class:`UsageError` naming ``option``.

    A user name or password in the URL is refused without showing it.
    """
    url = value.strip()
    if _USERINFO.match(url):
        raise UsageError(
            f"{option} must not contain a user name or password: pass --user NAME; the "
            f"password is read from ${PASSWORD_ENV} or prompted for"
        )
    if not re.match(r"^https?://[^/\s?#]+", url):
        raise UsageError(
            f"{option} {url!r} is not a web address: pass it with scheme and host, e.g. {example}"
        )
    if "?" in url or "#" in url:
        raise UsageError(
            f"{option} must not have a query string or fragment ('?...', '#...'): pass the "
            f"address only, e.g. {example}"
        )
    return url


def watch_settings(ns: argparse.Namespace, stdin: TextIO | None) -> WatchSettings:
    """Check the ``watch`` options together and build the settings (no password yet)."""
    url = _check_url("--url", str(ns.url), "https://10.0.0.5:28443")
    if ns.cas_url is not None:
        _check_url("--cas-url", str(ns.cas_url), "https://10.0.0.5:20009/cas")
    auth: AuthMode = ns.auth or ("cas" if ns.user else "none")
    if auth != "none" and not ns.user:
        raise UsageError(f"--auth {auth} needs --user NAME (the Manager account to log in with)")
    if ns.max_interval < ns.interval:
        raise UsageError(
            f"--max-interval {ns.max_interval:g} is shorter than --interval {ns.interval:g}"
        )
    if ns.cas_url is not None and auth != "cas":
        raise UsageError("--cas-url only applies with --auth cas")
    ids = collect_ids(ns.ids, stdin)
    return WatchSettings(
        url=url,
        ids=ids,
        auth=auth,
        user=ns.user if auth != "none" else None,
        cas_url=ns.cas_url,
        ca_file=ns.ca_file,
        insecure=bool(ns.insecure),
        json=bool(ns.json),
        debug=bool(ns.debug),
        interval=ns.interval,
        max_interval=ns.max_interval,
        max_concurrency=ns.max_concurrency,
    )


def demo_settings(ns: argparse.Namespace) -> DemoSettings:
    """Build the ``demo`` settings."""
    return DemoSettings(
        commands=ns.commands,
        speed=ns.speed,
        seed=ns.seed,
        json=bool(ns.json),
        debug=bool(ns.debug),
    )
