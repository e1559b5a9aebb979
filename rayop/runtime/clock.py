"""Time as rayop sees it: the :class:`Clock` protocol, the real clock, a virtual clock for tests.

Nothing in rayop reads the wall clock or sleeps except through a ``Clock``. In tests the
:class:`VirtualClock` stands in: its time moves only when told (:meth:`VirtualClock.advance`) or,
in auto-advance mode, jumps straight to the next pending timer whenever every task is waiting —
so a 1000-second backoff runs in milliseconds and the same run gives the same result every time.

Auto-advance judges "every task is waiting" from the event loop's ready queue, so it is meant for
in-process runs (the fake cluster, the simulators); a test that waits on real sockets should drive
the clock with :meth:`VirtualClock.advance` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "RealClock", "VirtualClock", "format_time", "parse_time", "timeout"]


@runtime_checkable
class Clock(Protocol):
    """Where rayop gets the time and how it waits."""

    def now(self) -> datetime:
        """Return the wall time as an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Return seconds on a clock that never goes back; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class RealClock:
    """The process's clocks: ``datetime.now(UTC)``, ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> datetime:
        """Return the current wall time (UTC)."""
        return datetime.now(UTC)

    # the C function itself, no Python frame: hot paths (queue metrics) call it per operation
    monotonic = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        """Wait with ``asyncio.sleep``."""
        await asyncio.sleep(max(0.0, seconds))


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class VirtualClock:
    """A clock whose time moves only when told, or (``auto_advance``) when every task waits.

    Timers fire in deadline order, ties in the order they were set, so runs are reproducible.
    """

    def __init__(
        self, *, start: datetime = _EPOCH, auto_advance: bool = False, idle_rounds: int = 3
    ) -> None:
        self._start = start
        self._elapsed = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._auto = auto_advance
        self._idle_rounds = idle_rounds
        self._jumper: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None

    # -- reading -------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Return the virtual wall time."""
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        """Return virtual seconds since the clock was made."""
        return self._elapsed

    @property
    def pending_timers(self) -> int:
        """How many sleeps are waiting for their deadline."""
        return sum(1 for _, _, f in self._timers if not f.done())

    def next_deadline(self) -> float | None:
        """Return the monotonic time of the earliest pending timer, or None."""
        self._drop_done()
        return self._timers[0][0] if self._timers else None

    # -- waiting -------------------------------------------------------------------------------

    async def sleep(self, seconds: float) -> None:
        """Wait until the virtual time has moved ``seconds`` on."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._timers, (self._elapsed + max(0.0, seconds), next(self._seq), fut))
        if self._auto:
            self._ensure_jumper()
        await fut

    # -- moving --------------------------------------------------------------------------------

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` on, firing every timer due on the way, each at its own time.

        Between timers the woken tasks run, so a timer they set inside the window fires too.
        """
        target = self._elapsed + max(0.0, seconds)
        while True:
            await _yield(self._idle_rounds)
            self._drop_done()
            if not self._timers or self._timers[0][0] > target:
                break
            self._fire_next()
        self._elapsed = max(self._elapsed, target)
        await _yield(self._idle_rounds)

    def set_auto_advance(self, enabled: bool) -> None:
        """Turn auto-advance on or off."""
        self._auto = enabled
        if enabled and self._timers:
            self._ensure_jumper()
        if not enabled and self._jumper is not None:
            self._jumper.cancel()
            self._jumper = None

    async def aclose(self) -> None:
        """Stop the auto-advance task, if any."""
        if self._jumper is not None:
            self._jumper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._jumper
            self._jumper = None

    # -- internals -----------------------------------------------------------------------------

    def _drop_done(self) -> None:
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)

    def _fire_next(self) -> None:
        deadline, _, fut = heapq.heappop(self._timers)
        self._elapsed = max(self._elapsed, deadline)
        # Fire every timer with the same deadline together, in the order they were set.
        fut.set_result(None)
        while self._timers and self._timers[0][0] <= deadline:
            _, _, other = heapq.heappop(self._timers)
            if not other.done():
                other.set_result(None)

    def _ensure_jumper(self) -> None:
        loop = asyncio.get_running_loop()
        jumper = self._jumper
        if jumper is not None and not jumper.done() and jumper.get_loop() is loop:
            return
        self._jumper = loop.create_task(self._autojump(), name="rayop-virtual-clock")

    async def _autojump(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not await _idle(loop, self._idle_rounds):
                continue
            self._drop_done()
            if not self._timers:
                # Nothing to wake: park until a sleep arrives (checked again shortly).
                await asyncio.sleep(0)
                if not self._timers:
                    await _park(loop)
                continue
            self._fire_next()


async def _yield(rounds: int) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def _idle(loop: asyncio.AbstractEventLoop, rounds: int) -> bool:
    """Return True when the loop had nothing else ready for ``rounds`` turns in a row."""
    for _ in range(rounds):
        await asyncio.sleep(0)
        if len(getattr(loop, "_ready", ())) > 0:
            return False
    return True


async def _park(loop: asyncio.AbstractEventLoop) -> None:
    # A real, tiny wait: only reached when no virtual timer exists at all, so no task can be
    # waiting on virtual time; the loop is either idle or waiting on real I/O.
    await asyncio.sleep(0.001)


@contextlib.asynccontextmanager
async def timeout(clock: Clock, seconds: float | None) -> AsyncIterator[None]:
    """Raise ``TimeoutError`` in the body if it runs longer than ``seconds`` of ``clock``'s time.

    The ``Clock`` counterpart of ``asyncio.timeout``: with a virtual clock, virtual seconds count;
    on the real clock it is ``asyncio.timeout`` itself.
    """
    if seconds is None:
        yield
        return
    if type(clock) is RealClock:
        # the same deadline as an event-loop timer: no watcher task per use
        async with asyncio.timeout(seconds):
            yield
        return
    task = asyncio.current_task()
    assert task is not None, "timeout() needs a running task"
    fired = False

    async def _watch() -> None:
        nonlocal fired
        await clock.sleep(seconds)
        fired = True
        task.cancel()

    watcher = asyncio.get_running_loop().create_task(_watch())
    try:
        yield
    except asyncio.CancelledError:
        if fired and task.uncancel() == 0:
            raise TimeoutError(f"timed out after {seconds} s") from None
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def format_time(value: datetime) -> str:
    """Format an aware datetime as Kubernetes does (RFC 3339, seconds, ``Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp as written by Kubernetes into an aware datetime."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
