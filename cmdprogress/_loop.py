"""The one check that cmdprogress runs on asyncio (aiohttp does not run on trio)."""

from __future__ import annotations

import asyncio
import sys

from .exceptions import AsyncioRequiredError

__all__ = ["require_asyncio"]


def _running_library() -> str | None:
    """The async library running now, as sniffio names it (``None``: none or unknown)."""
    sniffio = sys.modules.get("sniffio")  # trio imports it; never imported here for nothing
    if sniffio is None:
        return None
    try:
        return str(sniffio.current_async_library())
    except Exception:
        return None


def require_asyncio(what: str) -> asyncio.AbstractEventLoop:
    """Return the running asyncio loop, or raise :class:`AsyncioRequiredError` naming ``what``.

    >>> require_asyncio("Client")
    Traceback (most recent call last):
    ...
    cmdprogress.exceptions.AsyncioRequiredError: Client needs a running asyncio event loop ...
    """
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    library = _running_library()
    where = f"it runs under {library}" if library else "no asyncio event loop is running"
    raise AsyncioRequiredError(
        f"{what} needs a running asyncio event loop ({where}): cmdprogress is built on "
        "aiohttp, which runs on asyncio only (any asyncio loop, uvloop included); run it "
        'with asyncio.run(), uvloop.run() or anyio.run(..., backend="asyncio")'
    )
