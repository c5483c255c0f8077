"""What the command line says for each kind of error, and how it reads its input (no server)."""

from __future__ import annotations

import io

import anyio
import pytest

from cmdprogress import exceptions as exc
from cmdprogress._cli import _unwrapped
from cmdprogress._cli._args import UsageError, collect_ids, resolve_password
from cmdprogress._cli._errors import describe, is_fatal


@pytest.mark.parametrize(
    ("error", "needles"),
    [
        (
            exc.SessionError("the session cookie was refused"),
            ["refused the session right after logging in", "cookie was refused"],
        ),
        (
            exc.AuthenticationError(
                "no CAS form; check cas_url", url="https://m:20009/cas/login", username="admin"
            ),
            ["login failed at m:20009", "no CAS form; check --cas-url"],
        ),
        (
            exc.TLSError(
                "TLS with m:28443 failed (CERTIFICATE_VERIFY_FAILED). If the Manager uses a "
                "private CA, pass it: ssl=ssl.create_default_context(cafile='ca.pem')",
                url="https://m:28443/web",
            ),
            ["not trusted by --ca-file ca.pem", "CERTIFICATE_VERIFY_FAILED", "--insecure"],
        ),
        (
            exc.RedirectError("redirect loop", url="https://m:28443/web"),
            ["could not talk to the Manager at m:28443", "redirect loop"],
        ),
        (
            exc.HTTPStatusError("x", status=500, command_id=9, body="<p>down</p>"),
            ["HTTP 500 for command 9", "<p>down</p>"],
        ),
        (
            exc.MalformedResponseError("x", errors=[]),
            ["is not a progress document; run with --debug"],
        ),
        (
            exc.InvalidArgumentError("base_url", "port 99999 is out of range"),
            ["--url: port 99999 is out of range"],
        ),
    ],
)
def test_each_error_kind_gets_its_own_one_line_message(
    error: BaseException, needles: list[str]
) -> None:
    """Session, login, TLS with --ca-file, transport, status and other errors each read clearly."""
    text = describe(error, url="https://fallback:1", ca_file="ca.pem")
    for needle in needles:
        assert needle in text
    assert "\n" not in text


def test_only_login_and_transport_errors_stop_every_watch() -> None:
    """Login and transport errors are fatal; a per-command error is not."""
    assert is_fatal(exc.LoginRejectedError("no"))
    assert is_fatal(exc.ConnectError("refused"))
    assert not is_fatal(exc.UnknownCommandError("404", status=404, command_id=1))
    assert not is_fatal(ValueError("x"))


def test_empty_typed_password_is_refused_before_anything_is_sent() -> None:
    """Pressing Enter at the password prompt is a usage error, not an empty login attempt."""
    with pytest.raises(UsageError, match="empty password for user 'admin'"):
        resolve_password(
            "admin", "u", environ={}, prompt=lambda _: "", terminal_available=lambda: True
        )


class _NoTerminalInfo(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def test_ids_are_read_from_input_that_cannot_say_if_it_is_a_terminal() -> None:
    """Standard input whose isatty() fails is read as piped input, not as a terminal."""
    assert collect_ids([], _NoTerminalInfo("5\n6\n5\n")) == (5, 6)
    assert collect_ids(["7", "-"], io.StringIO("8\n")) == (7, 8)


def _raise(error: BaseException) -> object:
    async def run() -> int:
        raise error

    return run


def test_a_group_of_one_error_is_shown_as_that_error() -> None:
    """Nested groups of one error are unwrapped; a group of several errors stays a group."""
    inner = exc.ConnectError("refused")
    with pytest.raises(exc.ConnectError) as one:
        anyio.run(_unwrapped, _raise(ExceptionGroup("a", [ExceptionGroup("b", [inner])])))
    assert one.value is inner
    several = ExceptionGroup("a", [inner, exc.TLSError("bad")])
    with pytest.raises(ExceptionGroup) as many:
        anyio.run(_unwrapped, _raise(several))
    assert many.value is several
