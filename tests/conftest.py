"""Shared fixtures: every async test runs on asyncio (aiohttp cannot run on trio)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Pin the anyio pytest plugin to asyncio."""
    return "asyncio"
