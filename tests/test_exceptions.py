"""The exception tree: one base, builtin bases where the meaning matches, context kept."""

from __future__ import annotations

import inspect

import pytest

import cmdprogress
from cmdprogress import CommandProgress, CommandState, FailedEntity, exceptions


def test_every_exception_derives_from_the_base() -> None:
    """Catching CmdProgressError catches every error the library defines."""
    classes = [
        obj
        for _, obj in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == exceptions.__name__
    ]
    assert len(classes) >= 20
    for cls in classes:
        assert issubclass(cls, exceptions.CmdProgressError), cls


def test_tree_in_docstring_names_every_exception() -> None:
    """The module docstring's tree lists every public exception."""
    doc = exceptions.__doc__ or ""
    for name in exceptions.__all__:
        assert name in doc, name


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (exceptions.InvalidArgumentError, ValueError),
        (exceptions.InvalidCommandIdError, ValueError),
        (exceptions.MalformedResponseError, ValueError),
        (exceptions.RequestTimeoutError, TimeoutError),
        (exceptions.CommandStalledError, TimeoutError),
        (exceptions.ConnectError, ConnectionError),
        (exceptions.UnknownCommandError, LookupError),
        (exceptions.ClientClosedError, RuntimeError),
    ],
)
def test_builtin_bases(cls: type[Exception], builtin: type[Exception]) -> None:
    """Code that only knows builtins still catches the matching errors."""
    assert issubclass(cls, builtin)


def test_transport_and_status_errors_are_apart() -> None:
    """Transport failures, HTTP status failures and auth failures are separate branches."""
    e = exceptions
    assert not issubclass(e.TransportError, e.HTTPStatusError)
    assert not issubclass(e.HTTPStatusError, e.TransportError)
    assert not issubclass(e.AuthenticationError, e.TransportError | e.HTTPStatusError)  # type: ignore[arg-type]
    assert not issubclass(e.MalformedResponseError, e.HTTPStatusError)


def test_invalid_command_id_message_is_bounded_and_helpful() -> None:
    """A bad id is shown truncated, with what to pass instead."""
    err = exceptions.InvalidCommandIdError("x" * 500)
    assert err.argument == "command_id"
    assert len(str(err)) < 200
    assert "non-negative integer" in str(err)


def test_http_status_error_keeps_context_and_short_excerpt() -> None:
    """Status errors carry status, URL, command id and a one-line excerpt of at most 200 chars."""
    body = b"<html>\n<body>" + b"oops " * 200 + b"</body></html>"
    err = exceptions.UnknownCommandError(
        "command 9 is unknown", status=404, url="https://m/x", body=body, command_id=9
    )
    assert (err.status, err.url, err.command_id) == (404, "https://m/x", 9)
    assert len(err.body_excerpt) <= 200
    assert "\n" not in err.body_excerpt
    assert err.body_excerpt.startswith("<html> <body>oops")


def test_command_failed_carries_progress_and_says_why() -> None:
    """CommandFailed holds the terminal snapshot and names the error and failed instances."""
    p = CommandProgress(
        command_id=42,
        state=CommandState.FAILED,
        error_code=-324,
        error_description="Failed to start HDFS",
        failed_entities=(FailedEntity("DataNode@node-3", "START"),),
    )
    err = cmdprogress.CommandFailed(p)
    assert err.progress is p
    assert err.command_id == 42
    assert "-324" in str(err)
    assert "Failed to start HDFS" in str(err)
    assert "DataNode@node-3" in str(err)


def test_malformed_response_keeps_paths() -> None:
    """MalformedResponseError keeps the readable error paths."""
    err = exceptions.MalformedResponseError(
        "bad", errors=["expected a number @ $.total_progress"], body=None, command_id=3
    )
    assert err.errors == ["expected a number @ $.total_progress"]
    assert err.body_excerpt == ""
    assert err.command_id == 3


def test_stalled_error_describes_last_state() -> None:
    """CommandStalledError says how long and where the command stood still."""
    p = CommandProgress(command_id=5, state=CommandState.UNKNOWN, raw_state="WAITING")
    err = exceptions.CommandStalledError(p, 600.0)
    assert err.command_id == 5
    assert "600s" in str(err)
    assert "WAITING" in str(err)


def test_error_group_finds_command_ids_and_keeps_them_when_split() -> None:
    """A CommandErrorGroup maps errors to their command ids; split groups (`except*`) keep both."""
    unknown = exceptions.UnknownCommandError("404", status=404, command_id=5)
    stalled_cmd = CommandProgress(command_id=6, state=CommandState.IN_PROGRESS)
    stalled = exceptions.CommandStalledError(stalled_cmd, 600.0)
    other = exceptions.ConnectError("refused")  # about no single command
    done = CommandProgress(command_id=7, state=CommandState.COMPLETE, total_progress=100.0)
    group = exceptions.CommandErrorGroup("3 failed", [unknown, stalled, other], {7: done})
    assert group.errors == {5: unknown, 6: stalled}
    matched, rest = group.split(exceptions.HTTPStatusError)
    assert isinstance(matched, exceptions.CommandErrorGroup)
    assert isinstance(rest, exceptions.CommandErrorGroup)
    assert (matched.errors, matched.results) == ({5: unknown}, {7: done})
    assert (rest.errors, rest.results) == ({6: stalled}, {7: done})
    assert len(rest.exceptions) == 2
