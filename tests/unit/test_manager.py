"""The manager on a FakeCluster in virtual time: scope, sync, shutdown, cache lag, events, 410s."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop import (
    Cache,
    ClusterClient,
    Controller,
    EventRecorder,
    Kind,
    LeaderElectionConfig,
    Manager,
    ManagerOptions,
    Obj,
    Request,
    Result,
    VirtualClock,
    WatchEvent,
    enqueue_owner,
    enqueue_self,
)
from rayop.fakes import FakeCluster, FaultPlan
from rayop.operator.controllers import OperatorOptions, add_ray_controllers
from rayop.ray.dashboard import JobSubmission
from rayop.ray.kinds import RAY_KINDS, RAYCLUSTER, RAYJOB
from rayop.runtime.client import CONFIGMAP, EVENT, NAMESPACE, POD, SECRET
from rayop.runtime.errors import Forbidden
from rayop.runtime.leader import LeaderElectionLost
from rayop.runtime.sharedinformers import CacheSyncTimeout, MultiNamespaceInformer, SharedInformers
from rayop.testing.env import FakeEnv

MANIFESTS = Path(__file__).resolve().parents[2] / "examples" / "manifests"



def cm(name: str, namespace: str = "default", **labels: str) -> Obj:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {"v": "0"}}


class Seen:
    """A reconciler that records each request with the time and what the cache showed."""

    def __init__(self, clock: VirtualClock, kind: Kind = CONFIGMAP, work: float = 0.0) -> None:
        self.clock, self.kind, self.work = clock, kind, work
        self.cache: Cache | None = None
        self.client: ClusterClient | None = None
        self.calls: list[tuple[Request, float, Obj | None]] = []
        self.finished: list[Request] = []

    async def reconcile(self, request: Request) -> Result:
        assert self.cache is not None
        obj = self.cache.get(self.kind, request.name, namespace=request.namespace)
        self.calls.append((request, self.clock.monotonic(), obj))
        if self.work:
            await self.clock.sleep(self.work)
            if obj is not None and self.client is not None:
                await self.client.patch(self.kind, request.name, {"data": {"done": "yes"}},
                                        namespace=request.namespace)
        self.finished.append(request)
        return Result()

    @property
    def requests(self) -> set[Request]:
        return {r for r, _, _ in self.calls}


def manager_with(cluster: ClusterClient, clock: VirtualClock, rec: Seen,
                 **options: Any) -> Manager:
    manager = Manager(cluster, clock=clock, options=ManagerOptions(**options))
    rec.cache, rec.client = manager.cache, manager.client
    manager.add_controller("cm", rec, for_kind=rec.kind)
    return manager


@contextlib.asynccontextmanager
async def running(manager: Manager) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.get_running_loop().create_task(manager.run())
    started = asyncio.ensure_future(manager.wait_started())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    try:
        yield task
    finally:
        manager.request_stop()
        with contextlib.suppress(Exception):
            await task


# -- scope: namespaces and label selector ------------------------------------------------------


async def test_several_namespaces_get_one_watch_each_and_one_merged_view(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    for ns in ("a", "b", "c"):
        await cluster.create(NAMESPACE, {"metadata": {"name": ns}})
        await cluster.create(CONFIGMAP, cm(f"in-{ns}", ns), namespace=ns)
    rec = Seen(clock)
    manager = manager_with(cluster, clock, rec, namespaces=("b", "a"))
    informer = manager.informer(CONFIGMAP)
    assert isinstance(informer, MultiNamespaceInformer)
    assert informer.namespaces == ("a", "b")
    async with running(manager):
        await clock.sleep(1)
        assert cluster.open_watches == 2  # one per namespace, none cluster-wide
        watched = {c.namespace for c in cluster.calls if c.verb == "watch"}
        assert watched == {"a", "b"}
        await cluster.create(CONFIGMAP, cm("late", "b"), namespace="b")
        await cluster.create(CONFIGMAP, cm("late", "c"), namespace="c")
        await clock.sleep(1)
        assert rec.requests == {Request("a", "in-a"), Request("b", "in-b"), Request("b", "late")}
        names = [(o["metadata"]["namespace"], o["metadata"]["name"])
                 for o in manager.cache.list(CONFIGMAP)]
        assert names == [("a", "in-a"), ("b", "in-b"), ("b", "late")]
        assert manager.cache.get(CONFIGMAP, "in-c", namespace="c") is None
        assert [o["metadata"]["name"] for o in manager.cache.list(CONFIGMAP, namespace="b")] \
            == ["in-b", "late"]


async def test_writes_in_a_watched_namespace_are_tracked_and_others_are_not(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    for ns in ("a", "b", "c"):
        await cluster.create(NAMESPACE, {"metadata": {"name": ns}})
    manager = Manager(cluster, clock=clock, options=ManagerOptions(namespaces=("a", "b")))
    manager.informer(CONFIGMAP)
    async with running(manager):
        from rayop.runtime.cache import current_request

        request = Request("a", "owner")
        token = current_request.set(request)
        try:
            await manager.client.create(CONFIGMAP, cm("x", "b"), namespace="b")
            await manager.client.create(CONFIGMAP, cm("y", "c"), namespace="c")
        finally:
            current_request.reset(token)
        assert manager.tracker.pending(request) == 1  # only the write the cache can show
        assert await manager.tracker.wait(request, timeout=5)


async def test_the_label_selector_restricts_the_ray_kinds_only() -> None:
    env = FakeEnv(seed=1)
    env.manager = Manager(env.cluster, clock=env.clock,
                          options=ManagerOptions(label_selector="team=a",
                                                 selector_kinds=RAY_KINDS))
    add_ray_controllers(env.manager, env.dashboards, options=OperatorOptions(seed=1))
    assert env.manager.informer(RAYJOB).label_selector == "team=a"
    assert env.manager.informer(RAYCLUSTER).label_selector == "team=a"
    assert env.manager.informer(POD).label_selector is None  # pods carry rayop's labels
    async with env:
        mine = yaml.safe_load((MANIFESTS / "rayjob-sample.yaml").read_text())
        mine["metadata"]["labels"] = {"team": "a"}
        other = yaml.safe_load((MANIFESTS / "rayjob-sample.yaml").read_text())
        other["metadata"]["name"] = "not-mine"
        await env.apply(mine)
        await env.apply(other)
        await env.run_until(
            lambda: env.status(RAYJOB, mine["metadata"]["name"]).get("jobDeploymentStatus")
            == "Complete", timeout=600)
        assert env.status(RAYJOB, "not-mine") == {}  # never touched
        created = [c for c in env.cluster.calls
                   if c.verb == "create" and c.kind == RAYCLUSTER.resource and c.outcome == "ok"]
        assert len(created) == 1  # one cluster, for the selected job, created once


# -- start-up: a cache that never syncs ----------------------------------------------------------


async def test_informers_that_cannot_list_end_the_run_with_a_clear_error(
    clock: VirtualClock,
) -> None:
    plan = FaultPlan(seed=1)
    plan.fail(Forbidden("rayjobs.ray.io is forbidden"), verb="list", kind=SECRET, times=None)
    cluster = FakeCluster(clock=clock, faults=plan)
    rec = Seen(clock)
    manager = manager_with(cluster, clock, rec, sync_timeout=60)
    manager.informer(SECRET)
    with pytest.raises(CacheSyncTimeout) as info:
        await manager.run()
    assert clock.monotonic() == pytest.approx(60)
    assert info.value.unsynced == ["Secret/*"]
    assert "Secret/*" in str(info.value) and "RBAC" in str(info.value)
    assert "ConfigMap" not in str(info.value)  # the informer that synced is not blamed
    assert isinstance(info.value, TimeoutError)
    assert cluster.open_watches == 0  # informers stopped, nothing left running
    assert rec.calls == []  # no worker ever started


async def test_a_stop_while_the_informers_are_still_syncing_returns_at_once(
    clock: VirtualClock,
) -> None:
    plan = FaultPlan(seed=1)
    plan.fail(Forbidden("secrets is forbidden"), verb="list", kind=SECRET, times=None)
    cluster = FakeCluster(clock=clock, faults=plan)
    rec = Seen(clock)
    manager = manager_with(cluster, clock, rec, sync_timeout=600)
    manager.informer(SECRET)
    run = asyncio.ensure_future(manager.run())
    await clock.sleep(5)
    assert not run.done() and not manager.synced
    manager.request_stop()  # what SIGTERM does
    await run  # returns, no CacheSyncTimeout: the stop was asked for
    assert clock.monotonic() == pytest.approx(5)
    assert cluster.open_watches == 0 and rec.calls == []


# -- graceful shutdown ----------------------------------------------------------------------------


@pytest.mark.parametrize(("grace", "finished"), [(30.0, True), (5.0, False)])
async def test_stop_drains_a_slow_reconcile_within_the_grace_period(
    clock: VirtualClock, grace: float, finished: bool,
) -> None:
    cluster = FakeCluster(clock=clock)
    await cluster.create(CONFIGMAP, cm("slow"), namespace="default")
    rec = Seen(clock, work=20.0)
    manager = manager_with(cluster, clock, rec, graceful_shutdown_timeout=grace)
    task = asyncio.get_running_loop().create_task(manager.run())
    await manager.wait_started()
    await clock.sleep(1)
    assert len(rec.calls) == 1
    await cluster.create(CONFIGMAP, cm("queued"), namespace="default")
    await clock.sleep(0)
    stop_at = clock.monotonic()
    manager.request_stop()
    await task  # returns, does not raise
    stored = await cluster.get(CONFIGMAP, "slow", namespace="default")
    assert (stored["data"].get("done") == "yes") is finished
    expected_end = 20.0 if finished else stop_at + grace
    assert clock.monotonic() == pytest.approx(expected_end, abs=0.01)
    assert [r.name for r, _, _ in rec.calls] == ["slow"]  # nothing new taken after stop
    assert cluster.open_watches == 0


# -- stale cache: a reconciler never acts twice on a lagging cache ---------------------------------


class LaggingWatches:
    """A client whose watch events arrive ``lag`` seconds late (a slow watch connection)."""

    def __init__(self, inner: FakeCluster, clock: VirtualClock, lag: float) -> None:
        self.inner, self.clock, self.lag = inner, clock, lag

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def watch(self, kind: Kind, **kw: Any) -> AsyncIterator[WatchEvent]:
        async def lagging() -> AsyncIterator[WatchEvent]:
            stream = self.inner.watch(kind, **kw)
            try:
                async for event in stream:
                    await self.clock.sleep(self.lag)
                    yield event
            finally:
                await stream.aclose()  # type: ignore[attr-defined]

        return lagging()


class ChildMaker:
    """Creates one Secret (generateName) per ConfigMap, deciding from the cache; polls often."""

    def __init__(self, cache: Cache, client: ClusterClient) -> None:
        self.cache, self.client = cache, client

    async def reconcile(self, request: Request) -> Result:
        parent = self.cache.get(CONFIGMAP, request.name, namespace=request.namespace)
        if parent is None:
            return Result()
        if not self.cache.owned_by(SECRET, parent["metadata"]["uid"]):
            ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": request.name,
                   "uid": parent["metadata"]["uid"], "controller": True}
            await self.client.create(SECRET, {"metadata": {
                "generateName": f"{request.name}-", "ownerReferences": [ref]}},
                namespace=request.namespace)
        return Result(requeue_after=0.5)


async def test_no_duplicate_child_under_cache_lag(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    client = LaggingWatches(cluster, clock, lag=3.0)
    manager = Manager(client, clock=clock)  # type: ignore[arg-type]
    maker = ChildMaker(manager.cache, manager.client)
    controller = manager.add_controller("maker", maker, for_kind=CONFIGMAP, owns=(SECRET,))
    async with running(manager):
        for i in range(3):
            await cluster.create(CONFIGMAP, cm(f"p{i}"), namespace="default")
        await clock.sleep(60)
        per_parent = sorted(s["metadata"]["generateName"] for s in cluster.objects(SECRET))
        assert per_parent == ["p0-", "p1-", "p2-"]
        assert manager.tracker.deferred == 0  # the cache caught up within the wait
        assert controller.errors == 0


async def test_without_expectations_the_same_lag_duplicates_children(clock: VirtualClock) -> None:
    """The control experiment: the pieces wired without the write tracker do act twice."""
    cluster = FakeCluster(clock=clock)
    client = LaggingWatches(cluster, clock, lag=3.0)
    informers = SharedInformers(client, clock=clock, seed=1)  # type: ignore[arg-type]
    controller = Controller("maker", ChildMaker(Cache(informers), cluster), clock=clock)
    controller.watch(informers.get_or_create(CONFIGMAP), mapper=enqueue_self)
    controller.watch(informers.get_or_create(SECRET), mapper=enqueue_owner(CONFIGMAP))
    informers.start_all()
    await informers.wait_for_sync(timeout=10)
    controller.start()
    await cluster.create(CONFIGMAP, cm("p0"), namespace="default")
    await clock.sleep(60)
    assert len(cluster.objects(SECRET)) > 1
    await controller.cancel()
    await informers.stop_all()


# -- relist after 410 through the manager ------------------------------------------------------


async def test_a_delete_missed_while_the_watch_expired_reaches_the_reconciler(
    clock: VirtualClock,
) -> None:
    plan = FaultPlan(seed=1)
    plan.expire_watch(after_events=1, kind=CONFIGMAP)  # the first watch: Gone after one event
    cluster = FakeCluster(clock=clock, faults=plan)
    for name in ("keep", "gone"):
        await cluster.create(CONFIGMAP, cm(name), namespace="default")
    rec = Seen(clock)
    manager = manager_with(cluster, clock, rec)
    async with running(manager):
        await clock.sleep(1)
        rec.calls.clear()
        await cluster.patch(CONFIGMAP, "keep", {"data": {"v": "1"}}, namespace="default")
        await cluster.delete(CONFIGMAP, "gone", namespace="default")  # lost with the stream
        await clock.sleep(60)
        stats = manager.informer(CONFIGMAP).statistics()
        assert not isinstance(stats, dict)
        assert stats.gone == 1 and stats.relists == 1
        assert (Request("default", "gone"), ) == tuple(
            r for r, _, obj in rec.calls if obj is None)
        assert manager.cache.get(CONFIGMAP, "gone", namespace="default") is None


# -- events ------------------------------------------------------------------------------------


async def test_repeated_events_are_aggregated_by_count(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    job = await cluster.create(CONFIGMAP, cm("subject"), namespace="default")
    recorder = EventRecorder(cluster, component="rayop", clock=clock)
    for _ in range(3):
        recorder.warning(job, "BackOff", "restarting failed container")
        await recorder.flush()
        await clock.sleep(10)
    recorder.normal(job, "Created", "created pod")
    await recorder.flush()
    events = {e["reason"]: e for e in cluster.objects(EVENT, "default")}
    assert set(events) == {"BackOff", "Created"}
    backoff = events["BackOff"]
    assert backoff["count"] == 3 and events["Created"]["count"] == 1
    assert backoff["firstTimestamp"] < backoff["lastTimestamp"]
    assert backoff["involvedObject"]["uid"] == job["metadata"]["uid"]
    assert backoff["type"] == "Warning" and backoff["source"] == {"component": "rayop"}
    # an aggregated Event deleted meanwhile (TTL) is written afresh, not lost
    await cluster.delete(EVENT, backoff["metadata"]["name"], namespace="default")
    recorder.warning(job, "BackOff", "restarting failed container")
    await recorder.flush()
    fresh = [e for e in cluster.objects(EVENT, "default") if e["reason"] == "BackOff"]
    assert len(fresh) == 1 and fresh[0]["count"] == 1
    await recorder.aclose()


async def test_a_failing_event_write_never_reaches_the_reconcile(clock: VirtualClock) -> None:
    plan = FaultPlan(seed=1)
    plan.fail(Forbidden("events is forbidden"), verb="create", kind=EVENT, times=None)
    cluster = FakeCluster(clock=clock, faults=plan)
    recorder = EventRecorder(cluster, clock=clock)
    recorder.normal(cm("x"), "Created", "created")  # returns at once, never raises
    await recorder.flush()
    assert recorder.dropped == 1 and recorder.written == 0
    await recorder.aclose()


# -- metrics ------------------------------------------------------------------------------------

CONTROLLER_RUNTIME_NAMES = (
    "workqueue_depth", "workqueue_adds_total", "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds", "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds", "workqueue_retries_total",
    "controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds", "controller_runtime_active_workers",
    "controller_runtime_max_concurrent_reconciles",
)


def exposed_names(manager: Manager) -> Iterator[str]:
    from prometheus_client import generate_latest

    for line in generate_latest(manager.registry).decode().splitlines():
        if line.startswith("# TYPE "):
            yield line.split()[2]


async def test_manager_exposes_controller_runtime_metric_names(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    await cluster.create(CONFIGMAP, cm("x"), namespace="default")
    rec = Seen(clock)
    manager = manager_with(cluster, clock, rec)
    async with running(manager):
        await clock.sleep(1)
        text = set(exposed_names(manager))
        for name in CONTROLLER_RUNTIME_NAMES:
            base = name.removesuffix("_total")
            assert base in text or name in text, name
        total = manager.registry.get_sample_value(
            "controller_runtime_reconcile_total", {"controller": "cm", "result": "success"})
        assert total == 1



# -- bad options, and a stop that an unresponsive API server cannot hold up ------------------------


def test_a_malformed_label_selector_is_refused_naming_the_option() -> None:
    with pytest.raises(ValueError, match=r"ManagerOptions\.label_selector"):
        Manager(FakeCluster(), options=ManagerOptions(label_selector="team in (a"))


async def test_stop_gives_pending_events_a_bounded_time(clock: VirtualClock) -> None:
    plan = FaultPlan(seed=1)
    plan.latency(3600, verb="create", kind=EVENT, times=None)  # the Event writes hang
    cluster = FakeCluster(clock=clock, faults=plan)
    rec = Seen(clock)
    manager = manager_with(cluster, clock, rec)
    async with running(manager):
        manager.events.normal(cm("x"), "Hello", "an event that will not be written in time")
        await clock.sleep(1)
        stop_at = clock.monotonic()
    assert clock.monotonic() - stop_at <= 5.0 + 0.01
    assert manager.events.dropped == 1


# -- misuse and being killed -------------------------------------------------------------------


async def test_controllers_are_added_before_run_and_run_runs_once(clock: VirtualClock) -> None:
    cluster = FakeCluster(clock=clock)
    rec = Seen(clock)
    manager = manager_with(cluster, clock, rec)
    async with running(manager):
        with pytest.raises(RuntimeError, match=r"before Manager\.run"):
            manager.add_controller("late", Seen(clock), for_kind=SECRET)
        with pytest.raises(RuntimeError, match="already running"):
            await manager.run()


async def test_a_cancelled_run_stops_at_once_and_leaves_nothing_running(
    clock: VirtualClock,
) -> None:
    cluster = FakeCluster(clock=clock)
    await cluster.create(CONFIGMAP, cm("slow"), namespace="default")
    rec = Seen(clock, work=600.0)
    manager = manager_with(cluster, clock, rec)  # graceful_shutdown_timeout 30 s: not used
    task = asyncio.get_running_loop().create_task(manager.run())
    await manager.wait_started()
    await clock.sleep(1)
    killed_at = clock.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.monotonic() == killed_at  # no drain: the reconcile in progress was cancelled
    assert rec.finished == []
    assert cluster.open_watches == 0
    stored = await cluster.get(CONFIGMAP, "slow", namespace="default")
    assert "done" not in stored["data"]


async def test_a_selector_that_restricts_none_of_the_controllers_kinds_is_warned_about(
    clock: VirtualClock,
) -> None:
    from structlog.testing import capture_logs

    rec = Seen(clock)
    manager = manager_with(FakeCluster(clock=clock), clock, rec, label_selector="team=a",
                           selector_kinds=RAY_KINDS)
    assert manager.informer(CONFIGMAP).label_selector is None  # ConfigMap is not a ray.io kind
    with capture_logs() as logs:
        async with running(manager):
            pass
    assert any("restricts none of the controllers' kinds" in e["event"] for e in logs)
    scoped = Seen(clock)
    ok = manager_with(FakeCluster(clock=clock), clock, scoped, label_selector="team=a",
                      selector_kinds=[CONFIGMAP])
    assert ok.informer(CONFIGMAP).label_selector == "team=a"
    with capture_logs() as logs:
        async with running(ok):
            pass
    assert not any("restricts none" in e["event"] for e in logs)


async def test_the_operators_ray_calls_are_fenced_by_the_leader_lease() -> None:
    env = FakeEnv(seed=1)
    env.manager = Manager(env.cluster, clock=env.clock, options=ManagerOptions(
        leader_election=LeaderElectionConfig(name="rayop", namespace="default", identity="me")))
    controllers = add_ray_controllers(env.manager, env.dashboards,
                                      options=OperatorOptions(seed=1))
    assert not env.manager.is_leader  # never ran: holds no lease
    env.dashboards.for_cluster("default", "c").set_alive(True)  # Ray answers
    for controller in controllers:
        reconciler = controller.reconciler.inner  # type: ignore[attr-defined]
        dashboards = getattr(reconciler, "dashboards", None)
        if dashboards is None:
            continue  # RayCluster's reconciler does not call Ray
        ray = dashboards.for_cluster("default", "c")
        with pytest.raises(LeaderElectionLost):
            await ray.submit_job(JobSubmission(entrypoint="true", submission_id="x"))
        with pytest.raises(LeaderElectionLost):
            await ray.apply_serve_config({"applications": []})
        assert await ray.list_jobs() == []  # reads pass; nothing reached Ray
        assert not (await ray.get_serve_applications()).applications
