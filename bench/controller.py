"""Controller end-to-end throughput: watch event -> reconcile, beside a naive loop in the same run.

Run: ``python bench/controller.py`` (about 10 s; ``--events``, ``--objects``, ``--repeat``).

The same in-process feed as ``bench/informer.py`` streams N watch events of a RayService-sized
object (about 3.4 KB of JSON, decoded from bytes per event as a real backend does) over K
distinct objects. A run ends when every event has been delivered and every key is reconciled
after its last event. The reconciler reads its object from the cache and returns ``Result()``.
Rows:

- ``naive``: the loop many hand-written Python operators run: ``cache[key] = obj`` and
  ``asyncio.Queue.put(key)`` per event, one worker that reads the dict. No dedup (every event
  is a reconcile), no copies (the reconciler holds the cache's own dict), no backoff, no metrics;
- ``Controller, W workers``: rayop's informer -> store -> ``EnqueueHandler`` -> ``WorkQueue``
  (dedup: events for a key already queued coalesce) -> ``Controller`` workers; each reconcile
  reads a private copy from the store;
- ``Manager, 1 worker``: the same through ``Manager.add_controller``: plus the write tracker,
  the per-reconcile log context, and the Prometheus metrics; ``120 s timeout``: plus a
  per-reconcile timeout, as ``add_ray_controllers`` sets.

Two feeds: ``burst`` delivers every event without yielding to the event loop (a relist, or a
backlog read at once), so rayop's queue coalesces each key's events into one reconcile; ``paced``
yields after every event, as events trickling in from a socket do, so workers run between events
and nearly every event costs a reconcile.

Columns: events delivered per second, reconciles run per second, and events/s as a ratio of the
naive loop's on the same feed. Rows are interleaved over ``--repeat`` rounds and the best round
of each row is kept (the machine is shared; the best run is the least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

from informer import FeedClient, events, feed_bytes, rayservice

from rayop.ray.kinds import RAYSERVICE
from rayop.runtime.client import Obj
from rayop.runtime.clock import RealClock
from rayop.runtime.controller import Controller
from rayop.runtime.handlers import enqueue_self
from rayop.runtime.informer import Informer
from rayop.runtime.manager import Manager, ManagerOptions
from rayop.runtime.reconcile import Request, Result
from rayop.runtime.store import Store


class PacedFeed(FeedClient):
    """The same events, yielding to the event loop after each one."""

    async def _stream(self) -> Any:
        if self._fed:
            await asyncio.Event().wait()
        self._fed = True
        for event in events(self.raws, self.n):
            yield event
            await asyncio.sleep(0)
        self.done.set()
        await asyncio.Event().wait()


FEEDS: dict[str, type[FeedClient]] = {"burst": FeedClient, "paced": PacedFeed}


class CountingReconciler:
    """Reads its object from a store (a private copy) and counts the call."""

    def __init__(self) -> None:
        self.store: Any = None
        self.calls = 0

    async def reconcile(self, request: Request) -> Result:
        self.calls += 1
        self.store.get(request.namespace, request.name)
        return Result()


async def naive(raws: list[bytes], n: int, feed: type[FeedClient]) -> tuple[float, int]:
    client = feed(raws, n)
    cache: dict[tuple[str, str], Obj] = {}
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    calls = 0

    async def feed() -> None:
        await client.list(RAYSERVICE)
        async for event in client.watch(RAYSERVICE):
            meta = event.object["metadata"]
            key = (meta["namespace"], meta["name"])
            cache[key] = event.object
            queue.put_nowait(key)

    async def worker() -> None:
        nonlocal calls
        while True:
            key = await queue.get()
            cache.get(key)
            calls += 1
            queue.task_done()

    start = time.perf_counter()
    tasks = [asyncio.create_task(feed()), asyncio.create_task(worker())]
    await client.done.wait()
    await queue.join()
    elapsed = time.perf_counter() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return elapsed, calls


async def controller(
    raws: list[bytes], n: int, workers: int, feed: type[FeedClient]
) -> tuple[float, int]:
    client = feed(raws, n)
    clock = RealClock()
    informer = Informer(client, RAYSERVICE, clock=clock, inactivity_timeout=None)  # type: ignore[arg-type]
    rec = CountingReconciler()
    rec.store = informer.store
    ctl = Controller("bench", rec, clock=clock, max_concurrent_reconciles=workers)
    ctl.watch(informer, mapper=enqueue_self)
    start = time.perf_counter()
    informer.start()
    ctl.start()
    await client.done.wait()
    assert await ctl.queue.shutdown_with_drain(finish_queued=True)
    elapsed = time.perf_counter() - start
    await ctl.cancel()
    await informer.stop()
    return elapsed, rec.calls


async def manager(
    raws: list[bytes], n: int, feed: type[FeedClient], reconcile_timeout: float | None = None
) -> tuple[float, int]:
    client = feed(raws, n)
    mgr = Manager(client, clock=RealClock(), options=ManagerOptions())  # type: ignore[arg-type]
    rec = CountingReconciler()
    ctl = mgr.add_controller("bench", rec, for_kind=RAYSERVICE,
                             reconcile_timeout=reconcile_timeout)
    store: Store = mgr.informer(RAYSERVICE).store  # type: ignore[assignment]
    rec.store = store
    start = time.perf_counter()
    run = asyncio.create_task(mgr.run())
    await client.done.wait()
    assert await ctl.queue.shutdown_with_drain(finish_queued=True)
    elapsed = time.perf_counter() - start
    mgr.request_stop()
    await run
    return elapsed, rec.calls


Run = Callable[[], Awaitable[tuple[float, int]]]


def table(raws: list[bytes], n: int, feed: type[FeedClient]) -> list[tuple[str, Run]]:
    return [
        ("naive (dict + asyncio.Queue)", lambda: naive(raws, n, feed)),
        ("Controller, 1 worker", lambda: controller(raws, n, 1, feed)),
        ("Controller, 4 workers", lambda: controller(raws, n, 4, feed)),
        ("Manager, 1 worker", lambda: manager(raws, n, feed)),
        ("Manager, 1 worker, 120 s timeout", lambda: manager(raws, n, feed, 120.0)),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--objects", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    raws = feed_bytes(rayservice(), args.objects)
    size = sum(len(r) for r in raws) / len(raws)
    print(f"object: RayService, {size:.0f} bytes of JSON; {args.events} events over "
          f"{args.objects} objects")
    for feed_name, feed in FEEDS.items():
        rows = table(raws, args.events, feed)
        best: dict[str, tuple[float, int]] = {}
        for _ in range(args.repeat):
            for label, run in rows:
                gc.collect()
                result = await run()
                best[label] = min(result, best.get(label, result))
        print(f"{feed_name + ' feed':<34}{'events/s':>11}{'reconciles/s':>14}{'reconciles':>12}"
              f"{'vs naive':>10}")
        base = args.events / best[rows[0][0]][0]
        for label, _ in rows:
            seconds, calls = best[label]
            rate = args.events / seconds
            print(f"{label:<34}{rate:>11,.0f}{calls / seconds:>14,.0f}{calls:>12,}"
                  f"{rate / base:>10.0%}")


if __name__ == "__main__":
    asyncio.run(main())
