"""The controller's worker loop: the one decision, concurrency, timeouts, drain."""

from __future__ import annotations

import asyncio

import pytest
import structlog
from prometheus_client import CollectorRegistry

from rayop import Controller, Request, Result, TerminalError, VirtualClock
from rayop.runtime.metrics import ControllerMetrics

A = Request("ns", "a")
B = Request("ns", "b")


class Scripted:
    """A reconciler that does what each call's script says, and records the calls."""

    def __init__(self, clock: VirtualClock, *outcomes: object) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)
        self.calls: list[tuple[Request, float]] = []
        self.running = 0
        self.max_running = 0
        self.context: list[dict[str, object]] = []

    async def reconcile(self, request: Request) -> Result:
        self.calls.append((request, self.clock.monotonic()))
        self.context.append(structlog.contextvars.get_contextvars())
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            outcome = self.outcomes.pop(0) if self.outcomes else Result()
            if isinstance(outcome, (int, float)) and not isinstance(outcome, bool):
                await self.clock.sleep(outcome)
                return Result()
            if isinstance(outcome, BaseException):
                raise outcome
            assert isinstance(outcome, Result)
            return outcome
        finally:
            self.running -= 1


async def run_for(clock: VirtualClock, controller: Controller, seconds: float) -> None:
    controller.start()
    await clock.sleep(seconds)


async def test_error_is_retried_with_backoff_then_forgotten_on_success(
    virtual_clock: VirtualClock,
) -> None:
    rec = Scripted(virtual_clock, RuntimeError("1"), RuntimeError("2"), Result())
    ctl = Controller("c", rec, clock=virtual_clock)
    ctl.queue.add(A)
    await run_for(virtual_clock, ctl, 10)
    times = [t for _, t in rec.calls]
    assert len(times) == 3
    assert times[1] - times[0] == pytest.approx(0.005)  # 5 ms, then doubling
    assert times[2] - times[1] == pytest.approx(0.01)
    assert ctl.queue.num_requeues(A) == 0  # success forgets the backoff
    assert ctl.errors == 2
    await ctl.cancel()


async def test_terminal_error_is_not_retried(virtual_clock: VirtualClock) -> None:
    rec = Scripted(virtual_clock, TerminalError("bad spec"))
    ctl = Controller("c", rec, clock=virtual_clock)
    ctl.queue.add(A)
    await run_for(virtual_clock, ctl, 3600)
    assert len(rec.calls) == 1
    await ctl.cancel()


async def test_requeue_after_calls_again_after_the_delay(virtual_clock: VirtualClock) -> None:
    rec = Scripted(virtual_clock, Result(requeue_after=30), Result())
    ctl = Controller("c", rec, clock=virtual_clock)
    ctl.queue.add(A)
    await run_for(virtual_clock, ctl, 100)
    assert [t for _, t in rec.calls] == [0.0, 30.0]
    await ctl.cancel()


async def test_timeout_counts_as_an_error_and_the_worker_survives(
    virtual_clock: VirtualClock,
) -> None:
    rec = Scripted(virtual_clock, 500.0, Result())
    ctl = Controller("c", rec, clock=virtual_clock, reconcile_timeout=60)
    ctl.queue.add(A)
    await run_for(virtual_clock, ctl, 100)
    assert len(rec.calls) == 2 and ctl.errors == 1
    assert rec.calls[1][1] == pytest.approx(60.005)
    await ctl.cancel()


async def test_one_key_never_runs_twice_at_once_but_keys_run_in_parallel(
    virtual_clock: VirtualClock,
) -> None:
    rec = Scripted(virtual_clock, 10.0, 10.0, 10.0)
    ctl = Controller("c", rec, clock=virtual_clock, max_concurrent_reconciles=4)
    ctl.start()
    ctl.queue.add(A)
    ctl.queue.add(B)
    await virtual_clock.sleep(1)
    ctl.queue.add(A)  # while A is being worked on: runs once more, after
    ctl.queue.add(A)
    await virtual_clock.sleep(30)
    assert [r for r, _ in rec.calls] == [A, B, A]
    assert rec.calls[2][1] == 10.0  # the second run of A starts when the first ends
    assert rec.max_running == 2
    await ctl.cancel()


async def test_log_context_is_bound_per_reconcile(virtual_clock: VirtualClock) -> None:
    rec = Scripted(virtual_clock)
    ctl = Controller("rayjob", rec, clock=virtual_clock)
    ctl.queue.add(A)
    await run_for(virtual_clock, ctl, 1)
    (ctx,) = rec.context
    assert ctx["controller"] == "rayjob" and ctx["namespace"] == "ns" and ctx["name"] == "a"
    assert str(ctx["reconcile_id"]).startswith("rayjob-")
    await ctl.cancel()


async def test_stop_drains_in_flight_reconciles(virtual_clock: VirtualClock) -> None:
    rec = Scripted(virtual_clock, 20.0)
    ctl = Controller("c", rec, clock=virtual_clock)
    ctl.queue.add(A)
    ctl.start()
    await virtual_clock.sleep(1)
    ctl.queue.add(B)  # queued, not started: dropped by the stop
    drained = await ctl.stop(drain_timeout=30)
    assert drained is True
    assert virtual_clock.monotonic() == 20.0
    assert [r for r, _ in rec.calls] == [A]


async def test_stop_gives_up_after_the_drain_timeout(virtual_clock: VirtualClock) -> None:
    rec = Scripted(virtual_clock, 500.0)
    ctl = Controller("c", rec, clock=virtual_clock)
    ctl.queue.add(A)
    ctl.start()
    await virtual_clock.sleep(1)
    assert await ctl.stop(drain_timeout=30) is False
    assert virtual_clock.monotonic() == 31.0


async def test_metrics_count_results(virtual_clock: VirtualClock) -> None:
    registry = CollectorRegistry()
    metrics = ControllerMetrics(registry)
    rec = Scripted(virtual_clock, RuntimeError("x"), Result(requeue_after=5), Result(),
                   TerminalError("t"))
    ctl = Controller("c", rec, clock=virtual_clock, metrics=metrics)
    ctl.queue.add(A)
    await run_for(virtual_clock, ctl, 10)
    ctl.queue.add(B)
    await virtual_clock.sleep(1)

    def value(name: str, **labels: str) -> float:
        got = registry.get_sample_value(name, {"controller": "c", **labels})
        return got or 0.0

    assert value("controller_runtime_reconcile_total", result="error") == 1
    assert value("controller_runtime_reconcile_total", result="requeue_after") == 1
    assert value("controller_runtime_reconcile_total", result="success") == 1
    assert value("controller_runtime_reconcile_total", result="terminal_error") == 1
    assert value("controller_runtime_reconcile_errors_total") == 2
    assert value("controller_runtime_max_concurrent_reconciles") == 1
    assert value("controller_runtime_active_workers") == 0
    assert value("controller_runtime_reconcile_time_seconds_count") == 4
    # controller-runtime's buckets, 5 ms to 60 s; virtual-time reconciles take no time
    assert value("controller_runtime_reconcile_time_seconds_bucket", le="0.005") == 4
    assert value("controller_runtime_reconcile_time_seconds_bucket", le="60.0") == 4
    assert value("controller_runtime_terminal_reconcile_errors_total") == 1
    await ctl.cancel()


async def test_a_worker_survives_an_unexpected_exception_from_the_reconcile(
    virtual_clock: VirtualClock,
) -> None:
    rec = Scripted(virtual_clock, KeyError("x"), Result())  # not an ApiError: a bug
    ctl = Controller("c", rec, clock=virtual_clock)
    ctl.queue.add(A)
    await run_for(virtual_clock, ctl, 5)
    assert len(rec.calls) == 2 and ctl.errors == 1  # counted, retried, then succeeded
    assert all(not t.done() for t in ctl._workers)
    await ctl.cancel()
    assert ctl._workers == []


async def test_the_timeout_on_the_real_clock_uses_the_loops_timer() -> None:
    """On the real clock the deadline is asyncio's own timer; a hung reconcile still ends."""
    hung, second = asyncio.Event(), asyncio.Event()

    class Hangs:
        calls = 0

        async def reconcile(self, request: Request) -> Result:
            Hangs.calls += 1
            if Hangs.calls == 1:
                await hung.wait()  # never set: only the timeout ends this call
            second.set()
            return Result()

    ctl = Controller("c", Hangs(), reconcile_timeout=0.01)  # RealClock
    ctl.queue.add(A)
    ctl.start()
    async with asyncio.timeout(5):
        await second.wait()  # the retry after the timed-out call
    assert ctl.errors == 1 and Hangs.calls == 2
    await ctl.cancel()
