import asyncio
import time

import pytest

from rayop import VirtualClock
from rayop.runtime.clock import timeout


async def test_advance_fires_timers_in_deadline_order() -> None:
    clock = VirtualClock()
    order: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("b", 5), ("a", 2), ("c", 9)]]
    await clock.advance(6)
    assert order == [("a", 2.0), ("b", 5.0)]
    assert clock.monotonic() == 6.0
    await clock.advance(3)
    assert order[-1] == ("c", 9.0)
    await asyncio.gather(*tasks)


async def test_timers_set_by_woken_tasks_fire_inside_the_window() -> None:
    clock = VirtualClock()
    seen: list[float] = []

    async def chain() -> None:
        for _ in range(3):
            await clock.sleep(1)
            seen.append(clock.monotonic())

    task = asyncio.create_task(chain())
    await clock.advance(10)
    assert seen == [1.0, 2.0, 3.0]
    await task


async def test_auto_advance_runs_long_sleeps_instantly() -> None:
    clock = VirtualClock(auto_advance=True)
    started = time.perf_counter()
    await clock.sleep(1000)
    await clock.sleep(3600 * 24)
    assert clock.monotonic() == 1000 + 86400
    assert time.perf_counter() - started < 2
    await clock.aclose()


async def test_auto_advance_waits_for_busy_tasks() -> None:
    clock = VirtualClock(auto_advance=True)
    steps = 0

    async def busy() -> None:
        nonlocal steps
        for _ in range(200):
            steps += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(busy())
    await clock.sleep(5)
    # Time only jumped once the busy task had finished yielding.
    assert steps == 200
    await task
    await clock.aclose()


async def test_timeout_counts_virtual_seconds() -> None:
    clock = VirtualClock(auto_advance=True)
    with pytest.raises(TimeoutError):
        async with timeout(clock, 30):
            await clock.sleep(31)
    assert clock.monotonic() == 30
    async with timeout(clock, 30):
        await clock.sleep(29)
    await clock.aclose()


async def test_now_moves_with_virtual_time() -> None:
    clock = VirtualClock()
    before = clock.now()
    await clock.advance(90)
    assert (clock.now() - before).total_seconds() == 90
