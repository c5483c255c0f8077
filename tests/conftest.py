"""Shared fixtures: every async test runs on asyncio (aiohttp cannot run on trio).

``CMDPROGRESS_TEST_LOOP=uvloop`` runs them on uvloop's event loop (``nox -s compat``).
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def anyio_backend() -> str | tuple[str, dict[str, object]]:
    """Pin the anyio pytest plugin to asyncio (on uvloop's loop when asked to)."""
    if os.environ.get("CMDPROGRESS_TEST_LOOP") == "uvloop":  # pragma: no cover - nox -s compat
        import uvloop

        return ("asyncio", {"loop_factory": uvloop.new_event_loop})
    return "asyncio"
