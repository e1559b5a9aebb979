"""The work queue between event handlers and workers: keys in, each key to one worker at a time.

:class:`WorkQueue` keeps client-go's work-queue guarantees on one asyncio event loop:

- a key queued several times is queued once (handlers may add freely: events coalesce);
- a key is never handed to two workers at once;
- a key added while a worker holds it is handed out exactly once more, after ``done``;
- :meth:`~WorkQueue.add_after` delays a key, and a later call can only move it earlier;
- :meth:`~WorkQueue.add_rate_limited` delays it by its rate limiter (per-key backoff, overall
  bucket), :meth:`~WorkQueue.forget` resets its failures;
- keys are handed out first-in first-out, to workers in the order they started waiting;
- :meth:`~WorkQueue.shutdown` stops at once; :meth:`~WorkQueue.shutdown_with_drain` lets the
  workers finish;
- time comes only from the queue's :class:`~rayop.runtime.clock.Clock`.

Every method except :meth:`~WorkQueue.get` and :meth:`~WorkQueue.shutdown_with_drain` is
synchronous and never yields, so no lock is needed: one event loop runs them one at a time.
Delays cost one timer task, alive only while some key is delayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, NamedTuple, TypeVar

from rayop.runtime.clock import Clock, RealClock
from rayop.runtime.clock import timeout as clock_timeout
from rayop.runtime.errors import RayopError
from rayop.runtime.metrics import QueueMetrics, WorkQueueMetrics
from rayop.runtime.ratelimit import RateLimiter, default_controller_rate_limiter

__all__ = ["QueueStatistics", "ShutDown", "WorkQueue"]

K = TypeVar("K", bound=Hashable)

_NEVER = float("inf")


class ShutDown(RayopError):
    """Raised by ``get`` once the queue is shut down (with ``finish_queued``: and empty)."""


class QueueStatistics(NamedTuple):
    """A snapshot of a queue: what it holds now and what it has counted since it was made."""

    depth: int  # keys ready to be handed out
    processing: int  # keys held by workers (between get and done)
    waiting: int  # keys delayed by add_after / add_rate_limited
    getters: int  # workers waiting in get()
    adds: int  # keys that entered the queue (a duplicate of a queued key is not counted)
    retries: int  # delayed and rate-limited adds
    completed: int  # done() calls
    shutting_down: bool


class WorkQueue(Generic[K]):
    """A deduplicating, delaying, rate-limited work queue for one event loop.

    Usage: handlers call :meth:`add`; each worker loops ``key = await q.get()``, works, then
    :meth:`done` (always, in ``finally``) — after :meth:`forget` on success or
    :meth:`add_rate_limited` on failure.
    """

    # The invariant, kept by every method below (the one client-go's queue.go states):
    #
    #   _dirty       keys that need processing: queued, or to be queued again when done.
    #   _processing  keys handed out by get() and not yet done().
    #   _ready       the FIFO of keys to hand out. Every key in _ready is in _dirty and not in
    #                _processing, and appears in _ready once.
    #   _waiting     key -> deadline of a delayed key; never a key in _dirty (a dirty key is due
    #                already, and "earlier wins"). _heap holds (deadline, seq, key) for them, plus
    #                stale entries (moved earlier, or made ready by add()) skipped when popped.
    #
    # So a key is in _ready at most once (dedup), a key in _processing is never in _ready (one
    # worker per key), and done() moves a key that became dirty meanwhile back into _ready (it
    # runs exactly once more).

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_limiter: RateLimiter[K] | None = None,
        name: str = "",
        metrics: WorkQueueMetrics | None = None,
    ) -> None:
        self.name = name
        self._clock: Clock = clock if clock is not None else RealClock()
        self._limiter: RateLimiter[K] = (
            rate_limiter
            if rate_limiter is not None
            else default_controller_rate_limiter(clock=self._clock)
        )
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._timer: asyncio.Task[None] | None = None
        self._timer_deadline = _NEVER
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drain_waiter: asyncio.Future[bool] | None = None
        self._adds = 0
        self._retries = 0
        self._completed = 0
        self._metrics: QueueMetrics | None = (
            metrics.for_queue(name, clock=self._clock, depth=self.__len__)
            if metrics is not None
            else None
        )

    # -- adding --------------------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Mark ``key`` as needing work now; no-op if it is queued already or the queue is shut."""
        if self._shutting_down or key in self._dirty:
            return
        if self._waiting:
            self._waiting.pop(key, None)  # due now: a pending delay is superseded
        self._dirty.add(key)
        self._adds += 1
        if self._metrics is not None:
            self._metrics.add(key)
        if key in self._processing:
            return  # done() will queue it again
        self._ready.append(key)
        if self._getters:
            self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds, unless it is due earlier already (earlier wins)."""
        if self._shutting_down:
            return
        self._retries += 1
        if self._metrics is not None:
            self._metrics.retry()
        if delay <= 0:
            self.add(key)
            return
        if key in self._dirty:
            return
        deadline = self._clock.monotonic() + delay
        current = self._waiting.get(key)
        if current is not None and current <= deadline:
            return
        self._waiting[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), key))
        if len(self._heap) > 2 * len(self._waiting) + 64:
            self._compact_heap()
        if deadline < self._timer_deadline:
            self._arm_timer(deadline)

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` when its rate limiter allows (this counts one more failure of it)."""
        if self._shutting_down:
            return
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s failure count in the rate limiter (call it when work succeeds)."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Return how many failures of ``key`` the rate limiter counts."""
        return self._limiter.num_requeues(key)

    # -- taking --------------------------------------------------------------------------------

    async def get(self) -> K:
        """Wait for a key and hand it to the caller, who must call :meth:`done` with it.

        Raises :class:`ShutDown` once the queue is shut down — after a draining shutdown, only
        when no ready key is left.
        """
        ready = self._ready
        woken = False
        while not ready:
            if self._shutting_down:
                raise ShutDown(self.name)
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            # A worker woken for a key someone else took goes back to the front of the line.
            if woken:
                self._getters.appendleft(getter)
            else:
                self._getters.append(getter)
            try:
                await getter
            except asyncio.CancelledError:
                self._abandon(getter)
                raise
            woken = True
        return self._take()

    def get_nowait(self) -> K:
        """Hand out a ready key at once; raise ``asyncio.QueueEmpty`` (or :class:`ShutDown`)."""
        if self._ready:
            return self._take()
        if self._shutting_down:
            raise ShutDown(self.name)
        raise asyncio.QueueEmpty

    def done(self, key: K) -> None:
        """Finish the work on ``key``; if it was added meanwhile, queue it again."""
        try:
            self._processing.remove(key)
        except KeyError:
            raise ValueError(f"done({key!r}): the key is not being processed") from None
        self._completed += 1
        if self._metrics is not None:
            self._metrics.done(key)
        if key in self._dirty:
            self._ready.append(key)
            if self._getters:
                self._wake_one()
        elif self._drain_waiter is not None and not self._processing and not self._ready:
            self._finish_drain(True)

    # -- stopping ------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop now: drop every queued and delayed key, wake all getters (they raise ShutDown).

        Keys being processed stay so until their ``done``, which no longer queues them again.
        """
        self._shutting_down = True
        self._ready.clear()
        self._dirty.clear()
        self._drop_delayed()
        if self._metrics is not None:
            self._metrics.drop_pending()
        self._wake_all()
        if self._drain_waiter is not None:
            self._finish_drain(not self._processing)

    async def shutdown_with_drain(
        self, timeout: float | None = None, *, finish_queued: bool = False
    ) -> bool:
        """Shut down, then wait until every key in progress is done; True if that happened in time.

        By default this is :meth:`shutdown` plus the wait: ``get`` raises :class:`ShutDown` at
        once, queued keys are dropped, the workers finish the keys they hold. With
        ``finish_queued=True`` (client-go's ``ShutDownWithDrain``) only adds stop and delayed keys
        are dropped: keys already queued are still handed out, a key added while being processed
        still runs once more, and ``get`` raises :class:`ShutDown` when none is left; the wait
        lasts until the queue is empty too. If ``timeout`` (seconds of the queue's clock) passes
        first, the queue is shut down at once (:meth:`shutdown`) and False is returned.
        """
        if not self._shutting_down:
            if finish_queued:
                self._shutting_down = True
                self._drop_delayed()
                self._wake_all()
            else:
                self.shutdown()
        if not self._processing and not self._ready:
            return True
        if self._drain_waiter is None:
            self._drain_waiter = asyncio.get_running_loop().create_future()
        try:
            async with clock_timeout(self._clock, timeout):
                return await asyncio.shield(self._drain_waiter)
        except TimeoutError:
            self.shutdown()
            return False

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shutdown` or :meth:`shutdown_with_drain` was called."""
        return self._shutting_down

    # -- looking -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Return the depth: how many keys are ready to be handed out."""
        return len(self._ready)

    def statistics(self) -> QueueStatistics:
        """Return a snapshot of the queue's state and counters."""
        return QueueStatistics(
            depth=len(self._ready),
            processing=len(self._processing),
            waiting=len(self._waiting),
            getters=sum(1 for g in self._getters if not g.done()),
            adds=self._adds,
            retries=self._retries,
            completed=self._completed,
            shutting_down=self._shutting_down,
        )

    # -- internals -----------------------------------------------------------------------------

    def _take(self) -> K:
        key = self._ready.popleft()
        self._dirty.remove(key)
        self._processing.add(key)
        if self._metrics is not None:
            self._metrics.get(key)
        return key

    def _wake_one(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)

    def _abandon(self, getter: asyncio.Future[None]) -> None:
        """Clean up after a cancelled ``get``: pass on a wake-up it received but cannot use."""
        if getter.done() and not getter.cancelled():
            if self._ready:
                self._wake_one()
            return
        with contextlib.suppress(ValueError):
            self._getters.remove(getter)

    def _finish_drain(self, drained: bool) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(drained)

    # -- the delay timer -----------------------------------------------------------------------
    # One task sleeps on the clock until the earliest deadline, releases what is due, and sleeps
    # again; it ends when nothing is delayed. An earlier deadline replaces it with a new task.

    def _arm_timer(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_deadline = deadline
        self._timer = asyncio.get_running_loop().create_task(
            self._run_timer(), name=f"rayop-workqueue-timer-{self.name}"
        )

    async def _run_timer(self) -> None:
        clock = self._clock
        while True:
            self._release_due(clock.monotonic())
            if not self._heap:
                break
            self._timer_deadline = self._heap[0][0]
            await clock.sleep(self._timer_deadline - clock.monotonic())
        self._timer = None
        self._timer_deadline = _NEVER

    def _release_due(self, now: float) -> None:
        """Add every delayed key whose deadline has come, earliest first; drop stale entries."""
        heap, waiting = self._heap, self._waiting
        while heap:
            deadline, _, key = heap[0]
            if waiting.get(key) != deadline:
                heapq.heappop(heap)  # stale: moved earlier or already added
            elif deadline <= now:
                heapq.heappop(heap)
                del waiting[key]
                self.add(key)
            else:
                return

    def _compact_heap(self) -> None:
        self._heap = [e for e in self._heap if self._waiting.get(e[2]) == e[0]]
        heapq.heapify(self._heap)

    def _drop_delayed(self) -> None:
        self._waiting.clear()
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = _NEVER
