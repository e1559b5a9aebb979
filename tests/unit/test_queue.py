import asyncio
import itertools
import random
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from rayop.runtime.clock import VirtualClock
from rayop.runtime.metrics import WorkQueueMetrics
from rayop.runtime.queue import ShutDown, WorkQueue
from rayop.runtime.ratelimit import ExponentialFailureRateLimiter


def drain_ready(q: WorkQueue[str]) -> list[str]:
    """Take every ready key (get_nowait + done) and return them in order."""
    keys = []
    while len(q):
        key = q.get_nowait()
        q.done(key)
        keys.append(key)
    return keys


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# -- dedup, one worker per key, re-run after done ------------------------------------------------


async def test_a_key_queued_several_times_is_handed_out_once() -> None:
    q = WorkQueue[str](clock=VirtualClock())
    for key in ["a", "b", "a", "a", "b", "c"]:
        q.add(key)
    assert len(q) == 3
    assert drain_ready(q) == ["a", "b", "c"]
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    assert q.statistics().adds == 3


async def test_a_key_added_while_processing_waits_and_runs_exactly_once_more() -> None:
    q = WorkQueue[str](clock=VirtualClock())
    q.add("a")
    held = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # never handed to a second worker while held
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    q.done(held)
    assert drain_ready(q) == ["a"]
    assert len(q) == 0


async def test_keys_and_waiting_workers_are_served_first_in_first_out() -> None:
    q = WorkQueue[str](clock=VirtualClock())
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    assert q.statistics().getters == 3
    for key in ["x", "y", "z"]:
        q.add(key)
    assert [await g for g in getters] == ["x", "y", "z"]


async def test_a_worker_that_lost_a_key_to_a_faster_taker_keeps_its_place() -> None:
    q = WorkQueue[str](clock=VirtualClock())
    first = asyncio.create_task(q.get())
    await settle()
    second = asyncio.create_task(q.get())
    await settle()
    q.add("a")  # wakes `first`, but before it runs ...
    assert q.get_nowait() == "a"  # ... another task takes the key
    third = asyncio.create_task(q.get())
    await settle()
    q.add("b")
    q.add("c")
    q.add("d")
    assert [await first, await second, await third] == ["b", "c", "d"]


async def test_one_key_one_worker_under_concurrent_adds(virtual_clock: VirtualClock) -> None:
    rng = random.Random(7)
    q = WorkQueue[int](clock=virtual_clock)
    seq = itertools.count()
    last_add: dict[int, int] = {}
    last_get: dict[int, int] = {}
    holding: set[int] = set()
    double_holds: list[int] = []

    async def producer() -> None:
        for _ in range(60):
            key = rng.randrange(40)
            last_add[key] = next(seq)
            if rng.random() < 0.2:
                q.add_after(key, rng.choice([0.01, 0.5, 3.0]))
            else:
                q.add(key)
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)

    async def worker() -> None:
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            if key in holding:
                double_holds.append(key)
            holding.add(key)
            last_get[key] = next(seq)
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            holding.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await asyncio.gather(*(producer() for _ in range(50)))
    while (s := q.statistics()).depth or s.processing or s.waiting:
        await virtual_clock.sleep(0.1)
    q.shutdown()
    await asyncio.gather(*workers)
    assert double_holds == []
    assert set(last_get) == set(last_add)
    stale = [k for k in last_add if last_get[k] < last_add[k]]
    assert stale == []  # every key ran after its last add


async def test_done_for_a_key_not_being_processed_is_an_error() -> None:
    q = WorkQueue[str](clock=VirtualClock())
    q.add("a")
    with pytest.raises(ValueError, match="not being processed"):
        q.done("a")


async def test_a_cancelled_getter_passes_its_key_on() -> None:
    q = WorkQueue[str](clock=VirtualClock())
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("a")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "a"
    assert first.cancelled()


# -- delays --------------------------------------------------------------------------------------


async def test_delayed_keys_become_ready_in_deadline_order() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add_after("late", 9)
    q.add_after("early", 2)
    q.add_after("middle", 5)
    await clock.advance(1.9)
    assert len(q) == 0
    await clock.advance(0.1)
    assert drain_ready(q) == ["early"]
    await clock.advance(10)
    assert drain_ready(q) == ["middle", "late"]


async def test_the_earlier_deadline_wins_either_way() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add_after("a", 10)
    q.add_after("a", 3)  # moves it earlier
    q.add_after("b", 3)
    q.add_after("b", 10)  # cannot move it later
    assert q.statistics().waiting == 2
    await clock.advance(3)
    assert drain_ready(q) == ["a", "b"]
    await clock.advance(20)
    assert len(q) == 0  # neither runs a second time


async def test_add_supersedes_a_pending_delay() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add_after("a", 5)
    q.add("a")
    assert drain_ready(q) == ["a"]
    await clock.advance(10)
    assert len(q) == 0


async def test_a_delay_set_while_processing_runs_after_done() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add("a")
    key = await q.get()
    q.add_after(key, 5)  # the worker's requeue_after, before done
    q.done(key)
    assert len(q) == 0
    await clock.advance(5)
    assert drain_ready(q) == ["a"]


def timer_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if "workqueue-timer" in t.get_name() and not t.done()]


async def test_the_timer_exists_only_while_something_is_delayed() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add("a")
    await settle()
    assert clock.pending_timers == 0
    assert timer_tasks() == []
    q.add_after("b", 100)
    await settle()
    assert clock.next_deadline() == 100
    q.add_after("c", 1)  # re-arms the timer earlier; the old sleep is cancelled
    await settle()
    assert clock.pending_timers == 1
    assert clock.next_deadline() == 1
    await clock.advance(1)
    assert q.statistics().waiting == 1
    await clock.advance(99)
    assert q.statistics().waiting == 0
    assert clock.pending_timers == 0
    assert timer_tasks() == []


async def test_delays_fire_in_auto_advance_mode(virtual_clock: VirtualClock) -> None:
    q = WorkQueue[str](clock=virtual_clock)
    q.add_after("a", 30)
    q.add_after("b", 1000)
    assert await q.get() == "a"
    assert virtual_clock.monotonic() == 30
    assert await q.get() == "b"
    assert virtual_clock.monotonic() == 1000


# -- rate limiting -------------------------------------------------------------------------------


async def test_rate_limited_adds_back_off_per_key_until_forgotten() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock, rate_limiter=ExponentialFailureRateLimiter())
    ready_at = []
    for _ in range(3):
        q.add_rate_limited("a")
        while not len(q):
            await clock.advance(0.001)
        ready_at.append(round(clock.monotonic(), 3))
        drain_ready(q)
    assert ready_at == [0.005, 0.015, 0.035]  # 5 ms, then 10 ms, then 20 ms later
    assert q.num_requeues("a") == 3
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_default_limiter_holds_a_failure_storm_to_the_bucket() -> None:
    clock = VirtualClock()
    q = WorkQueue[int](clock=clock)  # controller-runtime's default, on the queue's clock
    for key in range(120):
        q.add_rate_limited(key)
    await clock.advance(0.005)
    assert len(q) == 100  # the burst, after each key's own 5 ms
    await clock.advance(1.0)
    assert len(q) == 110  # then 10 per second
    await clock.advance(1.0)
    assert len(q) == 120


# -- shutdown ------------------------------------------------------------------------------------


async def test_shutdown_wakes_every_getter_and_drops_pending_keys() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    getters = [asyncio.create_task(q.get()) for _ in range(4)]
    await settle()
    q.add_after("later", 5)
    q.shutdown()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in results)
    assert clock.pending_timers == 0
    q.add("new")
    await clock.advance(10)
    assert q.shutting_down
    assert len(q) == 0
    with pytest.raises(ShutDown):
        q.get_nowait()


async def test_shutdown_drops_queued_keys() -> None:
    q = WorkQueue[str](clock=VirtualClock())
    q.add("a")
    q.shutdown()
    with pytest.raises(ShutDown):
        await q.get()


async def test_drain_waits_for_keys_in_progress() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add("held")
    q.add("queued")
    held = await q.get()
    q.add(held)  # dirty while held: dropped by the drain
    drain = asyncio.create_task(q.shutdown_with_drain(timeout=10))
    await clock.advance(4)
    assert not drain.done()
    with pytest.raises(ShutDown):
        await q.get()  # no new keys are handed out
    q.done(held)
    assert await drain is True
    assert clock.monotonic() == 4
    assert len(q) == 0


async def test_drain_times_out_in_clock_time_and_then_shuts_down() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add("stuck")
    await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain(timeout=5))
    await clock.advance(4.9)
    assert not drain.done()
    await clock.advance(0.1)
    assert await drain is False
    assert clock.monotonic() == 5
    assert q.statistics().processing == 1  # the stuck worker still holds its key


async def test_drain_with_nothing_in_progress_returns_at_once() -> None:
    q = WorkQueue[str](clock=VirtualClock())
    q.add("a")
    assert await q.shutdown_with_drain(timeout=1) is True
    assert len(q) == 0


async def test_drain_finish_queued_hands_out_what_is_queued_first() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    for key in ["a", "b", "c"]:
        q.add(key)
    q.add_after("delayed", 1)
    held = await q.get()
    q.add(held)  # added while held: runs once more
    drain = asyncio.create_task(q.shutdown_with_drain(finish_queued=True))
    await settle()
    q.add("too-late")
    seen = [held]
    for _ in range(2):
        key = await q.get()
        q.done(key)
        seen.append(key)
    q.done(held)
    key = await q.get()
    seen.append(key)
    assert not drain.done()
    q.done(key)
    assert await drain is True
    assert seen == ["a", "b", "c", "a"]
    with pytest.raises(ShutDown):
        await q.get()


# -- statistics and metrics ----------------------------------------------------------------------


async def test_statistics_describe_the_queue() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add("a")
    q.add("b")
    q.add("b")
    q.add_after("c", 3)
    q.add_rate_limited("d")
    await q.get()
    s = q.statistics()
    assert (s.depth, s.processing, s.waiting, s.getters) == (1, 1, 2, 0)
    assert (s.adds, s.retries, s.completed, s.shutting_down) == (2, 2, 0, False)
    q.done("a")
    assert q.statistics().completed == 1


def sample(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name, {"name": "rq", "controller": "rq"})


async def test_metrics_follow_controller_runtime() -> None:
    clock = VirtualClock()
    registry = CollectorRegistry()
    q = WorkQueue[str](clock=clock, name="rq", metrics=WorkQueueMetrics(registry))
    q.add("a")
    q.add("a")
    q.add("b")
    q.add_after("c", 1)
    await clock.advance(2)
    key = await q.get()
    await clock.advance(3)
    assert sample(registry, "workqueue_depth") == 2
    assert sample(registry, "workqueue_adds_total") == 3
    assert sample(registry, "workqueue_retries_total") == 1
    assert sample(registry, "workqueue_queue_duration_seconds_count") == 1
    assert sample(registry, "workqueue_queue_duration_seconds_sum") == 2
    assert sample(registry, "workqueue_unfinished_work_seconds") == 3
    assert sample(registry, "workqueue_longest_running_processor_seconds") == 3
    q.done(key)
    assert sample(registry, "workqueue_work_duration_seconds_sum") == 3
    assert sample(registry, "workqueue_unfinished_work_seconds") == 0
    assert sample(registry, "workqueue_longest_running_processor_seconds") == 0


async def test_two_queues_share_one_metrics_object() -> None:
    registry = CollectorRegistry()
    metrics = WorkQueueMetrics(registry)
    first = WorkQueue[str](clock=VirtualClock(), name="one", metrics=metrics)
    second = WorkQueue[str](clock=VirtualClock(), name="two", metrics=metrics)
    first.add("a")
    second.add("a")
    second.add("b")
    one, two = {"name": "one", "controller": "one"}, {"name": "two", "controller": "two"}
    assert registry.get_sample_value("workqueue_depth", two) == 2
    assert registry.get_sample_value("workqueue_adds_total", one) == 1


async def test_a_drain_that_times_out_drops_what_is_still_queued() -> None:
    clock = VirtualClock()
    q = WorkQueue[str](clock=clock)
    q.add("stuck")
    q.add("queued")
    await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain(timeout=5, finish_queued=True))
    await clock.advance(5)
    assert await drain is False
    assert len(q) == 0
    with pytest.raises(ShutDown):
        q.get_nowait()


async def test_a_queue_made_again_under_its_name_continues_the_counters() -> None:
    registry = CollectorRegistry()
    metrics = WorkQueueMetrics(registry)
    old = WorkQueue[str](clock=VirtualClock(), name="rq", metrics=metrics)
    old.add("a")
    old.add("b")
    new = WorkQueue[str](clock=VirtualClock(), name="rq", metrics=metrics)
    new.add("c")
    assert sample(registry, "workqueue_adds_total") == 3  # a counter never goes back
    assert sample(registry, "workqueue_depth") == 1  # the depth is the new queue's


def test_the_example_in_the_docs_runs(capsys: pytest.CaptureFixture[str]) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "workqueue.md").read_text()
    example = doc.split("## Example", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(example, "docs/workqueue.md", "exec"), {"__name__": "docs_example"})
    assert capsys.readouterr().out == "{'flaky': 3, 'poll': 2, 'plain': 1} at t=60s\n"
