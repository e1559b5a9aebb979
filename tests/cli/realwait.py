"""Waiting on a real process or server: every wait polls its condition, with a wall-clock bound.

The tests in this directory drive real subprocesses and loopback servers, whose progress no
virtual clock controls; they wait through these two helpers instead of sleeping a fixed time.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rayop.clock import RealClock

T = TypeVar("T")


def poll(check: Callable[[], T], limit: float = 20.0, every: float = 0.1) -> T:
    """Call ``check`` until it returns something truthy or ``limit`` seconds pass; its last answer.

    For synchronous tests; the caller asserts on the answer, so a timeout reads as its message.
    """
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every)


async def until(check: Callable[[], bool | Awaitable[bool]], limit: float = 30.0,
                every: float = 0.05, explain: Callable[[], object] | None = None) -> None:
    """Await until ``check`` (plain or async) holds; fail the test after ``limit`` seconds.

    ``explain()``, if given, is added to the failure message (what the test saw meanwhile).
    """
    wall = RealClock()
    deadline = wall.monotonic() + limit
    while True:
        answer = check()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return
        assert wall.monotonic() < deadline, (f"not reached in {limit:g} s"
                                             + (f": {explain()}" if explain else ""))
        await wall.sleep(every)
