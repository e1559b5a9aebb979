"""Bounded polls for tests that wait on something real: a process, a socket, a server's handler.

Tests on the fake cluster wait on the VirtualClock; these are for the few places where the other
side runs in wall time (the real apiserver's binaries, kubectl, an aiohttp handler noticing a
closed connection). Each poll has a deadline and says what it waited for when it runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def wait_until(check: Callable[[], bool], *, within: float, every: float,
               failure: Callable[[], str]) -> None:
    """Call ``check`` every ``every`` seconds until it is true; raise ``TimeoutError(failure())``
    once ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(failure())
        time.sleep(every)


async def eventually(check: Callable[[], bool | Awaitable[bool]], *, within: float,
                     every: float, failure: Callable[[], str]) -> None:
    """The async :func:`wait_until`: ``check`` may be a plain or an async predicate."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(failure())
        await asyncio.sleep(every)
