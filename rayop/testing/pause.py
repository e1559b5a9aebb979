"""A process pause in virtual time: SIGSTOP and SIGCONT for one simulated process.

A real process can stop for seconds without noticing — SIGSTOP, a stalled VM, a long
garbage-collection pause, a laptop lid — while the rest of the cluster moves on. When it runs again
its timers fire late, answers it was waiting for arrive at once, and its idea of who leads is
stale. :class:`ProcessPause` gives one process's parts (its clock, its API client, its Ray
dashboards) views that freeze together::

    pause = ProcessPause(clock)
    manager = Manager(pause.client(cluster), clock=pause.clock, options=...)
    ...
    await pause.pause_for(20.0)     # the process is frozen for 20 virtual seconds

While paused, nothing of the process gets past those views: a sleep that ends, an API call made or
answered, a watch event, a Ray call made or answered waits for the resume. The virtual clock keeps
going, so on resume the process sees the time jump, as a real one does. Code that runs without
awaiting any of them (CPU work between awaits) takes no virtual time, so it cannot tell either.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from rayop.ray.dashboard import DashboardClient, DashboardProvider
from rayop.runtime.client import ClusterClient
from rayop.runtime.clock import Clock

__all__ = ["ProcessPause"]

T = TypeVar("T")


class _PausedClock:
    """The process's view of the clock: the same time, sleeps that end only while it runs."""

    def __init__(self, base: Clock, pause: ProcessPause) -> None:
        self._base = base
        self._pause = pause

    def now(self) -> datetime:
        """The wall time (time passes while paused)."""
        return self._base.now()

    def monotonic(self) -> float:
        """The monotonic time (time passes while paused)."""
        return self._base.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the base clock, then wait for the process to be running."""
        await self._base.sleep(seconds)
        await self._pause.running()


class _Gated:
    """A proxy whose coroutine methods wait for the process to run, before and after the call."""

    def __init__(self, inner: Any, pause: ProcessPause) -> None:
        self._inner = inner
        self._pause = pause

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "watch":
            return self._watch(attr)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._pause.gate(lambda: attr(*args, **kwargs))

        return call

    def _watch(self, watch: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        pause = self._pause

        async def gated(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            await pause.running()
            async for event in watch(*args, **kwargs):
                await pause.running()
                yield event

        return gated


class _GatedDashboards:
    """A dashboard provider whose clients are gated by the pause."""

    def __init__(self, inner: DashboardProvider, pause: ProcessPause) -> None:
        self._inner = inner
        self._pause = pause
        self._clients: dict[tuple[str, str], tuple[DashboardClient, Any]] = {}

    def for_cluster(self, namespace: str, name: str) -> DashboardClient:
        """The gated client of the cluster (the same one while the inner one is the same)."""
        inner = self._inner.for_cluster(namespace, name)
        known = self._clients.get((namespace, name))
        if known is None or known[0] is not inner:
            known = self._clients[(namespace, name)] = (inner, _Gated(inner, self._pause))
        gated: DashboardClient = known[1]
        return gated


class ProcessPause:
    """Freezes one simulated process's clock, API client and Ray calls together (see module)."""

    def __init__(self, clock: Clock) -> None:
        self.base_clock = clock
        self.clock: Clock = _PausedClock(clock, self)
        self._running = asyncio.Event()
        self._running.set()
        self.pauses: list[tuple[float, float]] = []
        self._stopped_at = 0.0

    @property
    def paused(self) -> bool:
        """True while the process is frozen."""
        return not self._running.is_set()

    async def running(self) -> None:
        """Return once the process runs (at once, when it is not paused)."""
        if not self._running.is_set():
            await self._running.wait()

    async def gate(self, call: Callable[[], Awaitable[T]]) -> T:
        """Make ``call`` once the process runs; hand its answer over once it runs again."""
        await self.running()
        result = await call()
        await self.running()
        return result

    def client(self, inner: ClusterClient) -> ClusterClient:
        """The process's view of the API server."""
        gated: ClusterClient = _Gated(inner, self)
        return gated

    def dashboards(self, inner: DashboardProvider) -> DashboardProvider:
        """The process's view of Ray's dashboards."""
        return _GatedDashboards(inner, self)

    def stop(self) -> None:
        """SIGSTOP: freeze the process from now on."""
        if self._running.is_set():
            self._running.clear()
            self._stopped_at = self.base_clock.monotonic()

    def cont(self) -> None:
        """SIGCONT: let the process run again."""
        if not self._running.is_set():
            self.pauses.append((self._stopped_at, self.base_clock.monotonic()))
            self._running.set()

    async def pause_for(self, seconds: float) -> None:
        """Freeze the process for ``seconds`` of the base clock, then resume it."""
        self.stop()
        try:
            await self.base_clock.sleep(seconds)
        finally:
            self.cont()
