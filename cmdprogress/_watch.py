"""The names the polling engine's modules used to share, re-exported from where they live now.

The engine is split by responsibility: :mod:`cmdprogress._scheduler`,
:mod:`cmdprogress._mailbox`, :mod:`cmdprogress._watcher`,
:mod:`cmdprogress._poll_errors` and :mod:`cmdprogress._events`.
"""

from __future__ import annotations

from ._events import WatchEvent, WatchStats
from ._mailbox import MAX_PENDING_BYTES, _footprint, _Inbox
from ._poll_errors import MAX_MALFORMED
from ._scheduler import KEEP_POLL_COUNTS, Engine
from ._watcher import Watcher

__all__ = [
    "KEEP_POLL_COUNTS",
    "MAX_MALFORMED",
    "MAX_PENDING_BYTES",
    "Engine",
    "WatchEvent",
    "WatchStats",
    "Watcher",
    "_Inbox",
    "_footprint",
]
