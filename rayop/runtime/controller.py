"""The controller: a work queue, the handlers that fill it, and the workers that drain it.

A worker takes a :class:`~rayop.runtime.reconcile.Request` from the queue, calls the reconciler,
and makes
the one decision that follows (controller-runtime's ``reconcileHandler``):

==============================  ==============================================================
the reconcile ...               the worker ...
==============================  ==============================================================
raised ``TerminalError``        logs it, counts it, forgets the key (no retry until an event)
raised anything else            logs it, counts it, re-adds the key rate-limited (backoff)
timed out                       the same as any other error
returned ``requeue_after=s``    forgets the key's backoff and adds it again after ``s``
returned ``Result()``           forgets the key's backoff
==============================  ==============================================================

and in every case marks the key done. A worker never dies of a reconcile's exception.

Before calling the reconciler, the worker waits (briefly) until the cache shows the writes the
previous reconcile of that key made (:class:`~rayop.runtime.cache.WriteTracker`); if the cache
still lags,
the key is deferred instead of reconciled against stale data.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import structlog

from rayop.runtime.cache import WriteTracker, current_request
from rayop.runtime.clock import Clock, RealClock, timeout
from rayop.runtime.errors import TerminalError
from rayop.runtime.handlers import EnqueueHandler, Mapper, Predicate, enqueue_self
from rayop.runtime.metrics import ControllerMetrics
from rayop.runtime.queue import ShutDown, WorkQueue
from rayop.runtime.reconcile import Reconciler, Request, Result

__all__ = ["Controller"]

_log = structlog.get_logger("rayop.controller")


class Controller:
    """Runs one reconciler over the keys its watched informers enqueue."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        clock: Clock | None = None,
        queue: WorkQueue[Request] | None = None,
        max_concurrent_reconciles: int = 1,
        reconcile_timeout: float | None = None,
        tracker: WriteTracker | None = None,
        cache_lag_timeout: float = 5.0,
        cache_lag_retry: float = 1.0,
        metrics: ControllerMetrics | None = None,
        kind: str | None = None,
    ) -> None:
        if max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be >= 1")
        self.name = name
        self.kind = kind
        """The kind this controller reconciles; every log line of a reconcile carries it."""
        self._log_kind = {"kind": kind} if kind else {}
        self.reconciler = reconciler
        self._clock = clock or RealClock()
        # not `queue or ...`: an empty WorkQueue is falsy (it has __len__)
        self.queue: WorkQueue[Request] = (
            queue if queue is not None else WorkQueue(clock=self._clock, name=name)
        )
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.reconcile_timeout = reconcile_timeout
        self._tracker = tracker
        self._lag_timeout = cache_lag_timeout
        self._lag_retry = cache_lag_retry
        self._metrics = metrics
        self._workers: list[asyncio.Task[None]] = []
        self._ids = itertools.count(1)
        self.reconciles = 0
        self.errors = 0
        if metrics is not None:
            metrics.max_concurrent(name, max_concurrent_reconciles)

    # -- wiring --------------------------------------------------------------------------------

    def watch(
        self, informer: Any, *, mapper: Mapper = enqueue_self, predicate: Predicate | None = None
    ) -> None:
        """Enqueue the requests ``mapper`` derives from each event of ``informer`` that passes."""
        informer.add_handler(EnqueueHandler(self.queue, mapper, predicate))

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers in the running event loop."""
        if self._workers:
            return
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._worker(), name=f"rayop-{self.name}-worker-{i}")
            for i in range(self.max_concurrent_reconciles)
        ]

    async def wait(self) -> None:
        """Wait until every worker has stopped."""
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)

    async def stop(self, *, drain_timeout: float | None = 30.0) -> bool:
        """Stop taking keys, let reconciles in progress finish within ``drain_timeout``.

        Returns True when every reconcile in progress finished in time; the rest are cancelled.
        """
        drained = await self.queue.shutdown_with_drain(timeout=drain_timeout)
        await self.cancel()
        return drained

    async def cancel(self) -> None:
        """Stop at once: shut the queue and cancel every worker, mid-reconcile if need be."""
        self.queue.shutdown()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    # -- the worker ----------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            try:
                request = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._process(request)
            finally:
                self.queue.done(request)

    async def _process(self, request: Request) -> None:
        if self._tracker is not None and not await self._tracker.wait(
            request, timeout=self._lag_timeout
        ):
            _log.debug("cache lags behind own write; deferring", controller=self.name,
                       request=str(request))
            self.queue.add_after(request, self._lag_retry)
            return
        reconcile_id = f"{self.name}-{next(self._ids)}"
        # bind + reset by token: what bound_contextvars does, without its copy of the context
        tokens = structlog.contextvars.bind_contextvars(
            controller=self.name, namespace=request.namespace, name=request.name,
            reconcile_id=reconcile_id, **self._log_kind,
        )
        try:
            await self._reconcile(request)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)

    async def _reconcile(self, request: Request) -> None:
        token = current_request.set(request)
        started = self._clock.monotonic()
        outcome = "success"
        if self._metrics is not None:
            self._metrics.worker_started(self.name)
        try:
            async with timeout(self._clock, self.reconcile_timeout):
                result = await self.reconciler.reconcile(request)
            outcome = self._decide(request, result)
        except TerminalError as err:
            outcome = "terminal_error"
            self.errors += 1
            _log.error("reconcile failed terminally", error=str(err))
            self.queue.forget(request)
        except Exception as err:
            outcome = "error"
            self.errors += 1
            _log.warning("reconcile failed; retrying with backoff", error=repr(err),
                         retries=self.queue.num_requeues(request))
            self.queue.add_rate_limited(request)
        finally:
            current_request.reset(token)
            self.reconciles += 1
            if self._metrics is not None:
                self._metrics.observe(self.name, outcome, self._clock.monotonic() - started)


    def _decide(self, request: Request, result: Result) -> str:
        """The worker's one decision for a reconcile that returned."""
        self.queue.forget(request)
        if result.requeue_after is not None:
            self.queue.add_after(request, result.requeue_after)
            return "requeue_after"
        return "success"
