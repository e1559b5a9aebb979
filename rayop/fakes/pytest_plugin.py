"""The rayop pytest plugin: fixtures for testing operators in virtual time.

Installed with rayop (entry point ``pytest11``), so any project that depends on rayop gets the
fixtures without importing anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from rayop.clock import VirtualClock


@pytest_asyncio.fixture
async def virtual_clock() -> AsyncIterator[VirtualClock]:
    """A :class:`~rayop.clock.VirtualClock` in auto-advance mode, closed after the test."""
    clock = VirtualClock(auto_advance=True)
    yield clock
    await clock.aclose()
