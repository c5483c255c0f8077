"""The polling engine's names under one module, for code that imports them from here.

Each lives in the module of its responsibility: :mod:`cmdprogress._scheduler`,
:mod:`cmdprogress._mailbox`, :mod:`cmdprogress._watcher`,
:mod:`cmdprogress._poll_errors` and :mod:`cmdprogress._events`; nothing in the
package imports this module.
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
