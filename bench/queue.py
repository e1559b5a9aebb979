"""Work queue throughput: add/get/done cycles per second beside a bare asyncio.Queue put/get.

Run: ``python bench/queue.py`` (about 15 s on this machine; ``--quick`` for a smaller run).
Every WorkQueue guarantee is on (dedup, one key per worker, re-run after done; delays and rate
limiting available); the baseline is a bare ``asyncio.Queue`` driven with the same
pattern in the same run. One cycle is add + get + done for the WorkQueue and put + get +
task_done for the baseline. Patterns:

- ``same-task``: all N keys are added, then W workers take them with no await between keys, so
  one worker does nearly all the work: the cost of the operations themselves (DESIGN.md 8:
  "a same-task put/get runs about 1-2M/s").
- ``cross-task``: all N keys are added, then W workers each ``await asyncio.sleep(0)`` between
  get and done, as a reconcile that awaits something does: every key costs a task switch.
- ``fed``: a producer task adds keys in batches of 100 and yields after each batch, while W
  workers wait in ``get`` and are woken per key: the waiting-getter path.

Keys are distinct strings (a str caches its hash); one extra row uses ``Request`` keys, whose
dataclass hash is computed in Python on every set operation, as a controller's keys are.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from rayop.runtime.metrics import WorkQueueMetrics
from rayop.runtime.queue import ShutDown, WorkQueue
from rayop.runtime.reconcile import Request

# -- WorkQueue runs ------------------------------------------------------------------------------


async def _wq_worker(q: WorkQueue[Any], yield_between: bool) -> None:
    while True:
        try:
            key = await q.get()
        except ShutDown:
            return
        if yield_between:
            await asyncio.sleep(0)
        q.done(key)


async def _wq_run(keys: Sequence[Hashable], workers: int, pattern: str, **kw: Any) -> float:
    q: WorkQueue[Any] = WorkQueue(**kw)
    started = time.perf_counter()
    tasks = [asyncio.create_task(_wq_worker(q, pattern == "cross-task")) for _ in range(workers)]
    if pattern == "fed":
        for i in range(0, len(keys), 100):
            for key in keys[i : i + 100]:
                q.add(key)
            await asyncio.sleep(0)
    else:
        for key in keys:
            q.add(key)
    # The queue's join: wait (on a future, not spinning) until every key is done.
    assert await q.shutdown_with_drain(finish_queued=True)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    assert q.statistics().completed == len(keys)
    return len(keys) / elapsed


# -- asyncio.Queue runs --------------------------------------------------------------------------


async def _aq_worker(q: asyncio.Queue[Any], yield_between: bool) -> None:
    while True:
        item = await q.get()
        if item is None:
            q.task_done()
            return
        if yield_between:
            await asyncio.sleep(0)
        q.task_done()


async def _aq_run(keys: Sequence[Hashable], workers: int, pattern: str) -> float:
    q: asyncio.Queue[Any] = asyncio.Queue()
    started = time.perf_counter()
    tasks = [asyncio.create_task(_aq_worker(q, pattern == "cross-task")) for _ in range(workers)]
    if pattern == "fed":
        for i in range(0, len(keys), 100):
            for key in keys[i : i + 100]:
                q.put_nowait(key)
            await asyncio.sleep(0)
    else:
        for key in keys:
            q.put_nowait(key)
    await q.join()
    for _ in tasks:
        q.put_nowait(None)
    await asyncio.gather(*tasks)
    return len(keys) / (time.perf_counter() - started)


# -- driver --------------------------------------------------------------------------------------


async def _best(run: Callable[[], Awaitable[float]], repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        gc.collect()
        rates.append(await run())
    return max(rates)


async def _row(
    label: str, keys: Sequence[Hashable], workers: int, pattern: str, repeats: int, **kw: Any
) -> float:
    wq = await _best(lambda: _wq_run(keys, workers, pattern, **kw), repeats)
    aq = await _best(lambda: _aq_run(keys, workers, pattern), repeats)
    print(
        f"{label:<22}{pattern:<12}{workers:>4}{len(keys):>9,}{wq:>14,.0f}{aq:>14,.0f}"
        f"{wq / aq:>8.0%}"
    )
    return wq / aq


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k keys only, best of two")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs per row")
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else [10_000, 100_000]
    repeats = 2 if args.quick else args.repeats
    print(
        f"{'':<22}{'pattern':<12}{'W':>4}{'keys':>9}{'WorkQueue/s':>14}{'asyncio.Q/s':>14}"
        f"{'ratio':>8}"
    )
    ratios: list[float] = []
    for pattern in ("same-task", "cross-task", "fed"):
        for size in sizes:
            keys = [f"ns-{i % 97}/object-{i}" for i in range(size)]
            for workers in (1, 4, 16):
                ratios.append(await _row("WorkQueue", keys, workers, pattern, repeats))
    big = sizes[-1]
    metrics = WorkQueueMetrics(CollectorRegistry())
    keys = [f"ns-{i % 97}/object-{i}" for i in range(big)]
    await _row("  with metrics", keys, 1, "same-task", repeats, metrics=metrics, name="bench")
    requests = [Request(f"ns-{i % 97}", f"object-{i}") for i in range(big)]
    await _row("  Request keys", requests, 1, "same-task", repeats)
    print(
        f"median ratio over the table: {statistics.median(ratios):.0%} (lowest {min(ratios):.0%})"
    )


if __name__ == "__main__":
    asyncio.run(main())
