"""Checks of the arguments of :class:`~cmdprogress.Client` (``ssl=`` is ``_tls.py``'s).

Each raises :class:`~cmdprogress.exceptions.InvalidArgumentError` naming the
argument, before the client does any I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from ._credentials import BasicAuth, CASAuth
from .exceptions import InvalidArgumentError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["check_auth", "check_trace_configs", "positive_int", "setting"]

_T = TypeVar("_T")


def check_auth(value: object) -> CASAuth | BasicAuth | None:
    """``auth=``: a :class:`CASAuth`, a :class:`BasicAuth` or ``None``."""
    if value is not None and not isinstance(value, CASAuth | BasicAuth):
        raise InvalidArgumentError(
            "auth", f"expected CASAuth, BasicAuth or None, got {type(value).__name__}"
        )
    return value


def positive_int(name: str, value: object) -> int:
    """An ``int`` (not a ``bool``) of at least 1.

    >>> positive_int("max_concurrency", 8)
    8
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(name, f"expected an int, got {type(value).__name__}")
    if value < 1:
        raise InvalidArgumentError(name, f"must be >= 1, got {value!r}")
    return value


def setting(name: str, value: object, kind: type[_T]) -> _T:
    """An instance of ``kind``; ``None`` gives its default, ``kind()``.

    >>> from cmdprogress import PollPolicy
    >>> setting("poll", None, PollPolicy) == PollPolicy()
    True
    """
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise InvalidArgumentError(name, f"expected a {kind.__name__}, got {type(value).__name__}")
    return value


def check_trace_configs(value: object) -> list[aiohttp.TraceConfig] | None:
    """``trace_configs=``: a list (or tuple) of ``aiohttp.TraceConfig``, copied, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise InvalidArgumentError("trace_configs", "expected a list of aiohttp.TraceConfig")
    return list(value)
