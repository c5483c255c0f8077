"""cmdprogress: watch MRS / FusionInsight Manager commands from asyncio.

>>> import cmdprogress
>>> cmdprogress.CommandState.FAILED.is_terminal
True
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from . import exceptions
from ._auth import BasicAuth, CASAuth
from ._client import Client
from ._events import WatchEvent, WatchStats
from ._http import Timeouts
from ._models import CommandProgress, CommandState, FailedEntity, Step
from ._policy import PollPolicy
from ._retry import RetryPolicy
from ._snapshot_dict import progress_from_dict, progress_to_dict
from ._stats import ClientStats
from ._watcher import Watcher
from .exceptions import CommandFailed

# A library leaves logging to the application: without its configuration nothing is
# printed (no last-resort handler on stderr). Transient retries and re-logins are
# logged at DEBUG/INFO; WARNING is kept for what the user must act on.
logging.getLogger("cmdprogress").addHandler(logging.NullHandler())

try:
    __version__ = version("cmdprogress")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BasicAuth",
    "CASAuth",
    "Client",
    "ClientStats",
    "CommandFailed",
    "CommandProgress",
    "CommandState",
    "FailedEntity",
    "PollPolicy",
    "RetryPolicy",
    "Step",
    "Timeouts",
    "WatchEvent",
    "WatchStats",
    "Watcher",
    "__version__",
    "exceptions",
    "progress_from_dict",
    "progress_to_dict",
]


def __getattr__(name: str) -> object:
    # ``cmdprogress.Engine`` is internal (the client is the way in): the name still
    # resolves, with a DeprecationWarning, and is imported only when asked for.
    if name == "Engine":
        import warnings

        from ._scheduler import Engine

        warnings.warn(
            "cmdprogress.Engine is internal: use the client's watch/wait methods, "
            "client.add_listener and client.watch_stats",
            DeprecationWarning,
            stacklevel=2,
        )
        return Engine
    raise AttributeError(f"module 'cmdprogress' has no attribute {name!r}")
