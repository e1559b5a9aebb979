"""Leader election on one FakeCluster in virtual time: the elector alone, then two managers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from rayop import (
    Cache,
    ClusterClient,
    LeaderElectionConfig,
    Manager,
    ManagerOptions,
    Obj,
    Request,
    Result,
    VirtualClock,
)
from rayop.fakes import FakeCluster, FaultPlan
from rayop.ray.dashboard import FencedDashboards
from rayop.runtime.client import CONFIGMAP, LEASE
from rayop.runtime.errors import ServerError
from rayop.runtime.leader import LeaderElectionLost, LeaderElector
from rayop.testing.pause import ProcessPause

NS = "default"
LEASE_NAME = "rayop-leader"



def config(identity: str, **kw: Any) -> LeaderElectionConfig:
    return LeaderElectionConfig(name=LEASE_NAME, namespace=NS, identity=identity, **kw)


class Candidate:
    """A LeaderElector in a task, with the times it started and stopped leading."""

    def __init__(self, client: ClusterClient, clock: VirtualClock, identity: str,
                 **kw: Any) -> None:
        self.clock = clock
        self.started: list[float] = []
        self.stopped: list[float] = []
        self.elector = LeaderElector(
            client, config(identity, **kw), clock=clock,
            on_started_leading=lambda: self.started.append(clock.monotonic()),
            on_stopped_leading=lambda: self.stopped.append(clock.monotonic()),
        )
        self.task = asyncio.get_running_loop().create_task(self.elector.run())

    async def cancel(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Partition:
    """A client that can be cut off from the API server (every call fails while ``cut``)."""

    def __init__(self, inner: FakeCluster) -> None:
        self.inner = inner
        self.cut = False
        self.writes_while_cut = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "watch" or not asyncio.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.cut:
                raise ServerError("connection refused")
            return await attr(*args, **kwargs)

        return call


async def lease(cluster: FakeCluster) -> Obj:
    return await cluster.get(LEASE, LEASE_NAME, namespace=NS)


async def watch_for_two_leaders(clock: VirtualClock, *leaders: Callable[[], bool],
                                step: float = 0.05) -> None:
    """Sample every ``step`` virtual seconds; fail the test if two claim to lead at once."""
    while True:
        assert sum(1 for is_leader in leaders if is_leader()) <= 1, clock.monotonic()
        await clock.sleep(step)


# -- the elector alone ---------------------------------------------------------------------------


async def test_acquire_creates_the_lease_and_renews_it(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    a = Candidate(cluster, clock, "a")
    await clock.sleep(0.5)
    assert a.elector.is_leader and a.started == [0.0]
    first = (await lease(cluster))["spec"]
    assert first["holderIdentity"] == "a" and first["leaseDurationSeconds"] == 15
    assert first["leaseTransitions"] == 0
    await clock.sleep(7)
    later = (await lease(cluster))["spec"]
    assert later["acquireTime"] == first["acquireTime"]
    assert later["renewTime"] > first["renewTime"]
    renews = [c for c in cluster.calls if c.verb == "replace" and c.kind == LEASE.resource]
    assert len(renews) == 3  # every retry period: at 2, 4 and 6 s
    await a.cancel()


async def test_a_second_candidate_waits_while_the_lease_is_renewed(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    a = Candidate(cluster, clock, "a")
    await clock.sleep(0.1)
    b = Candidate(cluster, clock, "b")
    await clock.sleep(120)
    assert a.elector.is_leader and not b.elector.is_leader
    assert b.elector.leader == "a"
    await a.cancel()
    await b.cancel()


async def test_release_on_stop_hands_over_within_one_retry_period(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    a = Candidate(cluster, clock, "a")
    await clock.sleep(0.1)
    b = Candidate(cluster, clock, "b")
    await clock.sleep(10)
    released_at = clock.monotonic()
    await a.cancel()
    assert (await lease(cluster))["spec"]["holderIdentity"] == ""
    await clock.sleep(5)
    assert b.started and b.started[0] - released_at <= 2.0 + 1e-9
    spec = (await lease(cluster))["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    await b.cancel()


async def test_failover_when_the_leader_stops_renewing(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    a = Candidate(cluster, clock, "a", release_on_cancel=False)  # a crash: no release
    await clock.sleep(0.1)
    b = Candidate(cluster, clock, "b")
    guard = asyncio.ensure_future(watch_for_two_leaders(
        clock, lambda: a.elector.is_leader, lambda: b.elector.is_leader))
    await clock.sleep(9)
    last_renew = max(c.at for c in cluster.calls if c.verb == "replace" and c.outcome == "ok")
    await a.cancel()
    await clock.sleep(40)
    assert not guard.done()
    guard.cancel()
    assert b.started, "the second candidate never took over"
    took = b.started[0] - last_renew
    # lease duration plus one retry period (the worst case adds a second: one to see the last
    # renew, one to act; here the two phases give 16.1 s)
    assert 15.0 <= took <= 15.0 + 2.0
    await b.cancel()


async def test_a_leader_that_cannot_renew_steps_down_before_anyone_takes_over(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    cut = Partition(cluster)
    a = Candidate(cut, clock, "a")  # type: ignore[arg-type]
    await clock.sleep(0.1)
    b = Candidate(cluster, clock, "b")
    guard = asyncio.ensure_future(watch_for_two_leaders(
        clock, lambda: a.elector.is_leader, lambda: b.elector.is_leader))
    await clock.sleep(5)
    cut.cut = True
    await clock.sleep(60)
    assert not guard.done()
    guard.cancel()
    assert a.task.done() and a.elector.lost.is_set()
    assert a.stopped and b.started
    assert a.stopped[0] <= 5 + 2 + 10  # renew deadline after the first failed renew
    assert b.started[0] > a.stopped[0]
    await b.cancel()


async def test_racing_candidates_elect_exactly_one(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    candidates = [Candidate(cluster, clock, f"c{i}") for i in range(5)]
    await clock.sleep(30)
    assert sum(c.elector.is_leader for c in candidates) == 1
    holder = (await lease(cluster))["spec"]["holderIdentity"]
    assert [c.elector.config.identity for c in candidates if c.elector.is_leader] == [holder]
    for c in candidates:
        await c.cancel()


async def test_expiry_is_judged_on_the_local_clock_not_the_writers_timestamps(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    # Another machine holds the lease and wrote a renewTime far in the past (clock skew).
    await cluster.create(LEASE, {"metadata": {"name": LEASE_NAME, "namespace": NS}, "spec": {
        "holderIdentity": "skewed", "leaseDurationSeconds": 15,
        "renewTime": "2000-01-01T00:00:00.000000Z", "leaseTransitions": 3}}, namespace=NS)
    b = Candidate(cluster, clock, "b")
    await clock.sleep(10)
    assert not b.elector.is_leader  # not yet: 15 s have not passed since b saw it change
    await clock.sleep(10)
    assert b.elector.is_leader and b.started[0] >= 15.0
    await b.cancel()


def test_config_refuses_inconsistent_durations() -> None:
    with pytest.raises(ValueError):
        config("a", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError):
        config("a", renew_deadline=1, retry_period=2)


# -- two managers --------------------------------------------------------------------------------


class Writer:
    """Patches its ConfigMap on every call and polls every second; records who wrote when."""

    def __init__(self, identity: str, clock: VirtualClock, log: list[tuple[str, float]]) -> None:
        self.identity, self.clock, self.log = identity, clock, log
        self.client: ClusterClient | None = None
        self.cache: Cache | None = None

    async def reconcile(self, request: Request) -> Result:
        assert self.client is not None
        await self.client.patch(CONFIGMAP, request.name, {"data": {"by": self.identity}},
                                namespace=request.namespace)
        self.log.append((self.identity, self.clock.monotonic()))
        return Result(requeue_after=1)


def leader_manager(client: Any, clock: VirtualClock, identity: str,
                   log: list[tuple[str, float]]) -> Manager:
    manager = Manager(client, clock=clock, options=ManagerOptions(
        leader_election=config(identity), graceful_shutdown_timeout=5))
    writer = Writer(identity, clock, log)
    writer.client, writer.cache = manager.client, manager.cache
    manager.add_controller("writer", writer, for_kind=CONFIGMAP)
    return manager


async def test_two_managers_one_writer_and_a_clean_handover(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    await cluster.create(CONFIGMAP, {"metadata": {"name": "x"}}, namespace=NS)
    log: list[tuple[str, float]] = []
    a = leader_manager(cluster, clock, "a", log)
    run_a = asyncio.ensure_future(a.run())
    await a.wait_started()
    b = leader_manager(cluster, clock, "b", log)
    run_b = asyncio.ensure_future(b.run())
    await clock.sleep(30)
    assert b.synced and not b.is_leader  # warm cache, no workers
    assert {who for who, _ in log} == {"a"}
    stop_at = clock.monotonic()
    a.request_stop()
    await run_a
    await b.wait_started()
    assert clock.monotonic() - stop_at <= 2.0 + 1e-9  # the lease was released
    await clock.sleep(5)
    assert log[-1][0] == "b"
    assert max(t for who, t in log if who == "a") <= min(t for who, t in log if who == "b")
    b.request_stop()
    await run_b


async def test_a_manager_that_loses_its_lease_stops_writing_and_raises(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    await cluster.create(CONFIGMAP, {"metadata": {"name": "x"}}, namespace=NS)
    log: list[tuple[str, float]] = []
    cut = Partition(cluster)
    a = leader_manager(cut, clock, "a", log)
    run_a = asyncio.ensure_future(a.run())
    await a.wait_started()
    b = leader_manager(cluster, clock, "b", log)
    run_b = asyncio.ensure_future(b.run())
    guard = asyncio.ensure_future(watch_for_two_leaders(clock, lambda: a.is_leader,
                                                        lambda: b.is_leader))
    await clock.sleep(5)
    cut.cut = True
    with pytest.raises(LeaderElectionLost):
        await run_a
    lost_at = clock.monotonic()
    assert lost_at <= 5 + 2 + 10 + 0.01
    assert all(not t.done() or t.cancelled() for t in a.controllers[0]._workers)
    with pytest.raises(LeaderElectionLost):  # the client is fenced: no write gets out
        await a.client.patch(CONFIGMAP, "x", {"data": {"late": "1"}}, namespace=NS)
    await b.wait_started()
    took_over = clock.monotonic()
    # within lease duration plus one retry period of the moment the leader went silent (5 s)
    assert took_over - 5 <= 15 + 2
    await clock.sleep(5)
    assert not guard.done()
    guard.cancel()
    assert [who for who, t in log if t > lost_at] and all(
        who == "b" for who, t in log if t >= lost_at)
    b.request_stop()
    await run_b


async def test_leader_election_waits_without_reconciling_until_stopped(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    await cluster.create(LEASE, {"metadata": {"name": LEASE_NAME, "namespace": NS}, "spec": {
        "holderIdentity": "someone", "leaseDurationSeconds": 15}}, namespace=NS)

    async def keep_renewing() -> None:
        while True:
            current = await lease(cluster)
            current["spec"]["renewTime"] = f"{clock.monotonic()}"
            await cluster.replace(LEASE, current, namespace=NS)
            await clock.sleep(2)

    renewer = asyncio.ensure_future(keep_renewing())
    log: list[tuple[str, float]] = []
    await cluster.create(CONFIGMAP, {"metadata": {"name": "x"}}, namespace=NS)
    a = leader_manager(cluster, clock, "a", log)
    run_a = asyncio.ensure_future(a.run())
    await clock.sleep(60)
    assert a.synced and not a.is_leader and log == []
    a.request_stop()
    await run_a  # a clean stop while waiting for the lease returns
    renewer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await renewer


async def test_a_stop_does_not_hang_on_a_server_that_never_answers_the_release(
    clock: VirtualClock,
) -> None:
    plan = FaultPlan(seed=1)
    cluster = FakeCluster(clock=clock, faults=plan)
    log: list[tuple[str, float]] = []
    a = leader_manager(cluster, clock, "a", log)
    run_a = asyncio.ensure_future(a.run())
    await a.wait_started()
    plan.latency(3600, verb="replace", kind=LEASE, times=None)  # renewals and release hang
    stop_at = clock.monotonic()
    a.request_stop()
    await run_a
    assert clock.monotonic() - stop_at <= 2.0 + 0.01  # one retry period for the release
    assert (await lease(cluster))["spec"]["holderIdentity"] == "a"  # not released: expires


# -- a paused process (SIGSTOP in virtual time) --------------------------------------------------


async def test_a_paused_leader_stops_leading_at_its_renew_deadline_not_when_it_wakes(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    pause = ProcessPause(clock)
    a = Candidate(pause.client(cluster), pause.clock, "a")  # type: ignore[arg-type]
    await clock.sleep(0.1)
    b = Candidate(cluster, clock, "b")
    guard = asyncio.ensure_future(watch_for_two_leaders(
        clock, lambda: a.elector.is_leader, lambda: b.elector.is_leader))
    await clock.sleep(3)
    last_renew = max(c.at for c in cluster.calls if c.verb == "replace" and c.outcome == "ok")
    frozen = asyncio.ensure_future(pause.pause_for(20))
    await clock.sleep(9.9 - (clock.monotonic() - last_renew))
    assert a.elector.is_leader  # still inside its renew deadline
    await clock.sleep(0.2)
    assert not a.elector.is_leader  # past it: no longer acting, although it has not run
    await frozen
    assert b.elector.is_leader and not a.elector.is_leader
    await clock.sleep(10)
    assert not guard.done()
    guard.cancel()
    assert a.task.done() and a.elector.lost.is_set() and a.stopped
    assert (await lease(cluster))["spec"]["holderIdentity"] == "b"
    await b.cancel()


async def test_a_paused_ex_leader_stopped_on_waking_leaves_the_new_leaders_lease_alone(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    pause = ProcessPause(clock)
    a = Candidate(pause.client(cluster), pause.clock, "a")  # type: ignore[arg-type]
    await clock.sleep(0.1)
    b = Candidate(cluster, clock, "b")
    await clock.sleep(3)
    await pause.pause_for(20)
    assert b.elector.is_leader
    taken = await lease(cluster)
    # a wakes and is stopped at once, its renew loop never having run: it must not release
    await a.cancel()
    after = await lease(cluster)
    assert after["spec"]["holderIdentity"] == "b"
    assert after["metadata"]["resourceVersion"] == taken["metadata"]["resourceVersion"]
    await clock.sleep(30)
    assert b.elector.is_leader
    await b.cancel()


async def test_a_leader_that_has_seen_another_holder_does_not_release_its_lease(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    a = Candidate(cluster, clock, "a")
    await clock.sleep(3)
    taken = await lease(cluster)  # someone else takes the lease over (another elector, a human)
    taken["spec"] = {**taken["spec"], "holderIdentity": "c"}
    taken = await cluster.replace(LEASE, taken, namespace=NS)
    await clock.sleep(1.5)  # a's next renew reads it: c holds it, not expired
    assert a.elector.leader == "c" and a.elector.is_leader  # within a's renew deadline still
    await a.cancel()  # a clean stop now must not release c's lease
    after = await lease(cluster)
    assert after["spec"]["holderIdentity"] == "c"
    assert after["metadata"]["resourceVersion"] == taken["metadata"]["resourceVersion"]


class RayCalls:
    """A dashboard provider whose clients record every call that reaches 'Ray', with its time."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, float]] = []

    def for_cluster(self, namespace: str, name: str) -> Any:
        return self

    async def stop_job(self, submission_id: str) -> bool:
        self.calls.append((submission_id, self.clock.monotonic()))
        return True


class Recorder:
    """A client that records the time of every write reaching the server through it."""

    def __init__(self, inner: FakeCluster, clock: VirtualClock) -> None:
        self.inner, self.clock = inner, clock
        self.writes: list[float] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in {"create", "replace", "patch", "delete", "patch_status", "replace_status"}:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.writes.append(self.clock.monotonic())
            return await attr(*args, **kwargs)

        return call


class ActsOnRay(Writer):
    """Waits a second (a slow step), then stops a Ray job and writes its ConfigMap."""

    dashboards: Any = None

    async def reconcile(self, request: Request) -> Result:
        await self.clock.sleep(1)
        await self.dashboards.for_cluster(NS, "x").stop_job(self.identity)
        await super().reconcile(request)
        return Result(requeue_after=0.5)


async def test_a_paused_ex_leader_neither_writes_nor_calls_ray_when_it_wakes(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    await cluster.create(CONFIGMAP, {"metadata": {"name": "x"}}, namespace=NS)
    ray = RayCalls(clock)
    pause = ProcessPause(clock)
    recorded = Recorder(cluster, clock)
    log: list[tuple[str, float]] = []
    managers = []
    for identity, client, own_clock in (("a", pause.client(recorded), pause.clock),
                                        ("b", cluster, clock)):
        manager = Manager(client, clock=own_clock, options=ManagerOptions(  # type: ignore[arg-type]
            leader_election=config(identity), graceful_shutdown_timeout=5))
        writer = ActsOnRay(identity, own_clock, log)  # type: ignore[arg-type]
        writer.client = manager.client
        writer.dashboards = FencedDashboards(
            pause.dashboards(ray) if identity == "a" else ray,  # type: ignore[arg-type]
            lambda m=manager: m.is_leader)
        manager.add_controller("writer", writer, for_kind=CONFIGMAP)
        managers.append(manager)
    a, b = managers
    run_a = asyncio.ensure_future(a.run())
    await a.wait_started()
    run_b = asyncio.ensure_future(b.run())
    await clock.sleep(5.7)  # a is inside a reconcile's slow step (5.5 to 6.5)
    assert {who for who, _ in ray.calls} == {"a"}
    last_renew = max(c.at for c in cluster.calls if c.verb == "replace" and c.outcome == "ok"
                     and c.kind == LEASE.resource)
    await pause.pause_for(20)
    with pytest.raises(LeaderElectionLost):
        await run_a
    await clock.sleep(5)
    deadline = last_renew + 10
    assert [t for t in recorded.writes if t >= deadline] == []  # no API write, not even a release
    assert [t for who, t in ray.calls if who == "a" and t >= deadline] == []  # no Ray call
    assert (await lease(cluster))["spec"]["holderIdentity"] == "b"
    assert any(who == "b" for who, _ in ray.calls)
    b.request_stop()
    await run_b
