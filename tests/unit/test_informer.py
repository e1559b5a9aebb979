"""Informer behaviour in virtual time: precise cases on a scripted client, flows on FakeCluster."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest
from scripted_client import (
    Hang,
    Pause,
    ScriptedClient,
    added,
    bookmark,
    deleted,
    modified,
    obj,
)

from rayop.fakes.cluster import FakeCluster
from rayop.fakes.faults import FaultPlan
from rayop.runtime.client import CONFIGMAP, NAMESPACE, POD, ListResult, Obj
from rayop.runtime.clock import VirtualClock
from rayop.runtime.errors import Gone, ServerError, TooManyRequests
from rayop.runtime.handlers import EnqueueHandler, enqueue_self
from rayop.runtime.informer import FuncHandler, Informer
from rayop.runtime.reconcile import Request
from rayop.runtime.sharedinformers import SharedInformers


class Recorder:
    """A handler that writes down every call as (type, name, resourceVersion...)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    @staticmethod
    def _id(o: Obj) -> str:
        return f"{o['metadata']['name']}@{o['metadata']['resourceVersion']}"

    def on_add(self, o: Obj) -> None:
        self.calls.append(("add", self._id(o)))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.calls.append(("update", self._id(old), self._id(new)))

    def on_delete(self, o: Obj) -> None:
        self.calls.append(("delete", self._id(o)))



def make(client: ScriptedClient, clock: VirtualClock, **kw: Any) -> Informer:
    kw.setdefault("rng", random.Random(7))
    return Informer(client, CONFIGMAP, clock=clock, **kw)  # type: ignore[arg-type]


async def run_until(informer: Informer, client: ScriptedClient, verb: str, n: int) -> None:
    informer.start()
    try:
        await asyncio.wait_for(client.wait_calls(verb, n), timeout=5)
    finally:
        await informer.stop()


async def test_list_then_watch_flows_into_store_and_handlers(clock: VirtualClock) -> None:
    a, b, c = obj("a", 1), obj("b", 2), obj("c", 11)
    client = ScriptedClient(clock, lists=[ListResult([a, b], "10")], watches=[
        [added(c), modified(obj("a", 12, data={"x": "1"})), deleted(obj("b", 13))],
    ])
    informer = make(client, clock)
    rec = Recorder()
    informer.add_handler(rec)
    await run_until(informer, client, "watch", 2)

    assert rec.calls == [
        ("add", "a@1"), ("add", "b@2"), ("add", "c@11"), ("update", "a@1", "a@12"),
        ("delete", "b@13"),
    ]
    assert informer.store.keys() == [("default", "a"), ("default", "c")]
    assert informer.store.get("default", "a") == obj("a", 12, data={"x": "1"})
    watches = client.calls_of("watch")
    assert watches[0].kwargs["resource_version"] == "10"
    assert watches[0].kwargs["allow_bookmarks"] is True
    # The stream ended cleanly after events: the next watch resumes at once from the last one.
    assert watches[1].kwargs["resource_version"] == "13"
    assert watches[1].at == watches[0].at
    assert informer.has_synced
    stats = informer.statistics()
    counts = (stats.lists, stats.relists, stats.added, stats.updated, stats.deleted)
    assert counts == (1, 0, 3, 1, 1)


async def test_items_from_list_get_api_version_and_kind(clock: VirtualClock) -> None:
    bare = {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "1"}}
    client = ScriptedClient(clock, lists=[ListResult([bare], "1")])
    informer = make(client, clock)
    await run_until(informer, client, "watch", 1)
    got = informer.store.get("default", "a")
    assert got is not None
    assert (got["apiVersion"], got["kind"]) == ("v1", "ConfigMap")


async def test_resume_from_last_version_after_a_dropped_watch(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ListResult([], "10")], watches=[
        [added(obj("a", 11)), Pause(5), ServerError("connection reset")],
    ])
    informer = make(client, clock)
    await run_until(informer, client, "watch", 2)
    first, second = client.calls_of("watch")
    assert second.kwargs["resource_version"] == "11"
    assert 0.8 <= second.at - first.at - 5 <= 0.8 * 1.2
    assert len(client.calls_of("list")) == 1  # no relist for a plain drop
    assert informer.statistics().watch_errors == 1


async def test_watch_request_failing_at_once_backs_off_and_retries(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ListResult([], "10")], watches=[
        [ServerError("unavailable")], [ServerError("unavailable")],
    ])
    informer = make(client, clock)
    await run_until(informer, client, "watch", 3)
    times = [c.at for c in client.calls_of("watch")]
    assert [c.kwargs["resource_version"] for c in client.calls_of("watch")] == ["10"] * 3
    assert 0.8 <= times[1] - times[0] <= 0.96
    assert 1.6 <= times[2] - times[1] <= 1.92


async def test_bookmark_advances_version_without_handler_calls(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ListResult([obj("a", 5)], "10")], watches=[
        [bookmark(20), Pause(1), bookmark(25)],
    ])
    informer = make(client, clock)
    rec = Recorder()
    informer.add_handler(rec)
    await run_until(informer, client, "watch", 2)
    assert client.calls_of("watch")[1].kwargs["resource_version"] == "25"
    assert informer.store.resource_version == "25"
    assert rec.calls == [("add", "a@5")]
    assert informer.statistics().bookmarks == 2


async def test_gone_relists_and_delivers_the_difference(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[
        ListResult([obj("a", 1), obj("b", 2), obj("c", 3)], "3"),
        ListResult([obj("a", 1), obj("b", 5), obj("d", 6)], "6"),
    ], watches=[[Gone("too old resource version")]])
    informer = make(client, clock)
    rec = Recorder()
    informer.add_handler(rec)
    await run_until(informer, client, "watch", 2)

    assert rec.calls[3:] == [("delete", "c@3"), ("update", "b@2", "b@5"), ("add", "d@6")]
    assert informer.store.keys() == [("default", "a"), ("default", "b"), ("default", "d")]
    lists, watches = client.calls_of("list"), client.calls_of("watch")
    assert watches[1].kwargs["resource_version"] == "6"
    assert 0.8 <= lists[1].at - watches[0].at <= 0.96  # relist after one backoff step
    stats = informer.statistics()
    assert (stats.gone, stats.lists, stats.relists) == (1, 2, 1)


async def test_gone_mid_stream_keeps_events_seen_before_it(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[
        ListResult([obj("a", 1)], "1"),
        ListResult([obj("a", 1), obj("b", 2)], "9"),
    ], watches=[[added(obj("b", 2)), Pause(3), Gone("expired")]])
    informer = make(client, clock)
    rec = Recorder()
    informer.add_handler(rec)
    await run_until(informer, client, "watch", 2)
    # b was seen on the stream with the same version the relist shows: no duplicate call.
    assert rec.calls == [("add", "a@1"), ("add", "b@2")]
    assert client.calls_of("watch")[1].kwargs["resource_version"] == "9"


async def test_reconnect_backoff_doubles_to_the_cap_then_resets(clock: VirtualClock) -> None:
    failures: list[list[Any]] = [[ServerError("down")] for _ in range(9)]
    # Then a stream that is stable for 150 s before failing: the backoff starts over.
    client = ScriptedClient(clock, lists=[ListResult([], "1")],
                            watches=[*failures, [Pause(150), ServerError("down")]])
    informer = make(client, clock)
    await run_until(informer, client, "watch", 11)
    times = [c.at for c in client.calls_of("watch")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    bases = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0]
    for gap, base in zip(gaps[:9], bases, strict=True):
        assert base - 1e-9 <= gap <= min(base * 1.2, 30.0) + 1e-9, (gap, base)
    assert len(set(gaps[:6])) == 6  # jittered, not a fixed ladder
    assert 0.8 <= gaps[9] - 150 <= 0.96


async def test_backoff_honours_retry_after(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ListResult([], "1")],
                            watches=[[TooManyRequests("slow down", retry_after=7)]])
    informer = make(client, clock)
    await run_until(informer, client, "watch", 2)
    first, second = client.calls_of("watch")
    assert second.at - first.at == pytest.approx(7.0)


async def test_list_errors_back_off_and_never_crash(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ServerError("etcd down"), RuntimeError("bug"),
                                          ListResult([obj("a", 1)], "4")])
    informer = make(client, clock)
    assert not informer.has_synced
    await run_until(informer, client, "watch", 1)
    lists = [c.at for c in client.calls_of("list")]
    assert 0.8 <= lists[1] - lists[0] <= 0.96
    assert 1.6 <= lists[2] - lists[1] <= 1.92
    assert informer.has_synced
    assert informer.statistics().list_errors == 2


async def test_silent_stream_is_restarted_after_the_inactivity_timeout(
    clock: VirtualClock,
) -> None:
    client = ScriptedClient(clock, lists=[ListResult([], "1")], watches=[
        [Pause(50), added(obj("a", 2)), Pause(50), added(obj("b", 3)), Hang()],
    ])
    informer = make(client, clock, inactivity_timeout=60.0)
    await run_until(informer, client, "watch", 2)
    first, second = client.calls_of("watch")
    # Events every 50 s kept it alive; 60 s of silence after the last one ended it.
    assert second.at - first.at == pytest.approx(160.0)
    assert second.kwargs["resource_version"] == "3"
    stats = informer.statistics()
    assert stats.inactivity_restarts == 1
    assert stats.watch_errors == 0
    assert informer.store.keys() == [("default", "a"), ("default", "b")]


async def test_watch_ends_at_the_jittered_server_timeout_and_restarts(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ListResult([obj("a", 1)], "5")])
    informer = make(client, clock, watch_timeout=300.0, inactivity_timeout=None)
    await run_until(informer, client, "watch", 3)
    watches = client.calls_of("watch")
    asked = [c.kwargs["timeout_seconds"] for c in watches]
    assert all(300.0 <= t < 600.0 for t in asked)
    assert len(set(asked)) == 3
    assert watches[1].at - watches[0].at == pytest.approx(asked[0])  # no backoff
    assert [c.kwargs["resource_version"] for c in watches] == ["5", "5", "5"]
    assert len(client.calls_of("list")) == 1


async def test_stream_ending_at_once_with_nothing_is_not_a_tight_loop(
    clock: VirtualClock,
) -> None:
    client = ScriptedClient(clock, lists=[ListResult([], "5")], watches=[[], [], []])
    informer = make(client, clock)
    await run_until(informer, client, "watch", 4)
    times = [c.at for c in client.calls_of("watch")]
    assert times[1] - times[0] >= 0.8
    assert times[3] - times[2] >= 3.2


async def test_handler_exception_is_isolated(clock: VirtualClock) -> None:
    def boom(_o: Obj) -> None:
        raise ValueError("handler bug")

    client = ScriptedClient(clock, lists=[ListResult([obj("a", 1)], "1")],
                            watches=[[added(obj("b", 2))]])
    informer = make(client, clock)
    informer.add_handler(FuncHandler(on_add=boom))
    rec = Recorder()
    informer.add_handler(rec)
    await run_until(informer, client, "watch", 2)
    assert rec.calls == [("add", "a@1"), ("add", "b@2")]
    assert informer.statistics().handler_errors == 2
    assert len(informer.store) == 2


async def test_handler_added_after_sync_hears_of_existing_objects(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ListResult([obj("b", 2), obj("a", 1)], "2")])
    informer = make(client, clock)
    informer.start()
    await informer.wait_for_sync()
    rec = Recorder()
    informer.add_handler(rec)
    await informer.stop()
    assert rec.calls == [("add", "a@1"), ("add", "b@2")]


async def test_scope_is_passed_to_list_and_watch(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ListResult([], "1")])
    informer = make(client, clock, namespace="team-a", label_selector="app=ray",
                     field_selector="status.phase=Running")
    await run_until(informer, client, "watch", 1)
    for call in (client.calls_of("list")[0], client.calls_of("watch")[0]):
        assert call.kwargs["namespace"] == "team-a"
        assert call.kwargs["label_selector"] == "app=ray"
        assert call.kwargs["field_selector"] == "status.phase=Running"


async def test_list_pages_and_falls_back_when_the_continue_token_expires(
    clock: VirtualClock,
) -> None:
    client = ScriptedClient(clock, lists=[
        ListResult([obj("a", 1)], "7", continue_token="p2"),
        Gone("continue token expired"),
        ListResult([obj("a", 1), obj("b", 8)], "8"),
    ])
    informer = make(client, clock, page_size=1)
    await run_until(informer, client, "watch", 1)
    lists = client.calls_of("list")
    assert [(c.kwargs["limit"], c.kwargs["continue_token"]) for c in lists] == [
        (1, None), (1, "p2"), (None, None)]
    assert informer.store.keys() == [("default", "a"), ("default", "b")]
    assert client.calls_of("watch")[0].kwargs["resource_version"] == "8"


async def test_same_seed_gives_the_same_timeouts(clock: VirtualClock) -> None:
    asked = []
    for _ in range(2):
        client = ScriptedClient(clock, lists=[ListResult([], "1")])
        informer = make(client, clock, rng=random.Random(42))
        await run_until(informer, client, "watch", 2)
        asked.append([c.kwargs["timeout_seconds"] for c in client.calls_of("watch")])
    assert asked[0] == asked[1]


# -- SharedInformers ---------------------------------------------------------------------------


async def test_shared_informers_share_per_kind_and_scope(clock: VirtualClock) -> None:
    client = ScriptedClient(clock)
    shared = SharedInformers(client, clock=clock, namespace="ns1", seed=1)  # type: ignore[arg-type]
    pods = shared.get_or_create(POD)
    assert shared.get_or_create(POD) is pods
    assert pods.namespace == "ns1"
    other = shared.get_or_create(POD, namespace=None)
    assert other is not pods
    assert other.namespace is None
    assert shared.get_or_create(NAMESPACE).namespace is None  # cluster-scoped kind
    assert shared.informer_for(POD) is pods
    assert shared.informer_for(CONFIGMAP) is None

    shared.start_all()
    await asyncio.wait_for(shared.wait_for_sync(timeout=10), timeout=5)
    assert shared.has_synced
    late = shared.get_or_create(CONFIGMAP)
    assert late.running  # made after start_all: started at once
    await shared.stop_all()
    assert not any(i.running for i in shared.informers)


async def test_wait_for_sync_times_out_in_clock_time(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ServerError("down")] * 100)
    shared = SharedInformers(client, clock=clock, seed=1)  # type: ignore[arg-type]
    shared.get_or_create(POD)
    shared.start_all()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(shared.wait_for_sync(timeout=60), timeout=5)
    await shared.stop_all()
    assert clock.monotonic() == pytest.approx(60.0)


async def test_stream_repeating_a_bookmark_without_progress_backs_off(
    clock: VirtualClock,
) -> None:
    client = ScriptedClient(clock, lists=[ListResult([], "5")],
                            watches=[[bookmark(5)], [bookmark(5)], [bookmark(6)], [bookmark(7)]])
    informer = make(client, clock)
    await run_until(informer, client, "watch", 5)
    times = [c.at for c in client.calls_of("watch")]
    assert times[1] - times[0] >= 0.8  # no progress: backoff
    assert times[2] - times[1] >= 1.6
    assert times[3] == times[2]  # progress (6): resumed at once
    assert client.calls_of("watch")[4].kwargs["resource_version"] == "7"


async def test_handlers_run_after_the_store_shows_the_change(clock: VirtualClock) -> None:
    client = ScriptedClient(clock, lists=[ListResult([], "1")],
                            watches=[[added(obj("a", 2)), deleted(obj("a", 3))]])
    informer = make(client, clock)
    seen: list[tuple[str, bool]] = []
    informer.add_handler(FuncHandler(
        on_add=lambda o: seen.append(("add", informer.store.get("default", "a") is not None)),
        on_delete=lambda o: seen.append(("delete", informer.store.get("default", "a") is None)),
    ))
    await run_until(informer, client, "watch", 2)
    assert seen == [("add", True), ("delete", True)]


async def test_waiting_for_a_write_to_reach_a_lagging_cache(clock: VirtualClock) -> None:
    # The write (version 11) reaches the watch 3 s after it was made.
    client = ScriptedClient(clock, lists=[ListResult([], "10")],
                            watches=[[Pause(3), added(obj("child", 11))]])
    informer = make(client, clock)
    informer.start()
    await informer.wait_for_sync()
    store = informer.store
    assert not await store.wait_for_version("default", "child", "11", timeout=2, clock=clock)
    assert await store.wait_for_version("default", "child", "11", timeout=5, clock=clock)
    assert clock.monotonic() == pytest.approx(3.0)
    await informer.stop()


# -- on FakeCluster --------------------------------------------------------------------------



def cm(name: str, *, labels: dict[str, str] | None = None, data: str = "1") -> Obj:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": data}}


class ListQueue:
    def __init__(self) -> None:
        self.keys: list[Request] = []

    def add(self, key: Request) -> None:
        self.keys.append(key)


async def settle(informer: Informer, fake: FakeCluster, clock: VirtualClock) -> None:
    """Wait until the informer's store has reached the cluster's current version."""
    target = int(fake.resource_version)
    for _ in range(1000):
        rv = informer.store.resource_version
        if rv.isdigit() and int(rv) >= target:
            return
        await clock.sleep(0.1)
    raise AssertionError("informer never caught up")


def contents(informer: Informer) -> list[tuple[str, str]]:
    return [(o["metadata"]["name"], o["data"]["v"]) for o in informer.store.list()]


def fake_contents(fake: FakeCluster, **kw: Any) -> list[tuple[str, str]]:
    return [(o["metadata"]["name"], o["data"]["v"]) for o in fake.objects(CONFIGMAP, "default")
            if all(o["metadata"].get("labels", {}).get(k) == v for k, v in kw.items())]


async def test_fake_cluster_changes_flow_to_store_and_queue(clock: VirtualClock) -> None:
    fake = FakeCluster(clock=clock, seed=1)
    await fake.create(CONFIGMAP, cm("a"), namespace="default")
    await fake.create(CONFIGMAP, cm("b"), namespace="default")
    informer = Informer(fake, CONFIGMAP, clock=clock, namespace="default", rng=random.Random(1))
    rec, queue = Recorder(), ListQueue()
    informer.add_handler(rec)
    informer.add_handler(EnqueueHandler(queue, enqueue_self))
    informer.start()
    await informer.wait_for_sync()
    await fake.create(CONFIGMAP, cm("c"), namespace="default")
    await fake.patch(CONFIGMAP, "a", {"data": {"v": "2"}}, namespace="default")
    await fake.delete(CONFIGMAP, "b", namespace="default")
    await settle(informer, fake, clock)
    await informer.stop()

    assert contents(informer) == [("a", "2"), ("c", "1")] == fake_contents(fake)
    assert [c[0] for c in rec.calls] == ["add", "add", "add", "update", "delete"]
    assert queue.keys == [Request("default", n) for n in ("a", "b", "c", "a", "b")]


async def test_fake_cluster_dropped_watch_resumes_without_relist(clock: VirtualClock) -> None:
    plan = FaultPlan(seed=3)
    plan.drop_watch(after_events=1, times=2)
    fake = FakeCluster(clock=clock, seed=3, faults=plan)
    informer = Informer(fake, CONFIGMAP, clock=clock, namespace="default", rng=random.Random(1))
    informer.start()
    await informer.wait_for_sync()
    for i in range(5):
        await fake.create(CONFIGMAP, cm(f"x{i}"), namespace="default")
    await settle(informer, fake, clock)
    await informer.stop()
    assert contents(informer) == fake_contents(fake)
    stats = informer.statistics()
    assert stats.lists == 1
    assert stats.watches >= 3
    assert stats.added == 5


async def test_fake_cluster_resume_after_history_expired_relists(clock: VirtualClock) -> None:
    fake = FakeCluster(clock=clock, seed=4, history=5)
    for name in ("a", "b", "c"):
        await fake.create(CONFIGMAP, cm(name), namespace="default")
    informer = Informer(fake, CONFIGMAP, clock=clock, namespace="default", rng=random.Random(1))
    rec = Recorder()
    informer.add_handler(rec)
    informer.start()
    await informer.wait_for_sync()
    await informer.stop()
    # While the informer is away, more changes than the fake's history holds.
    await fake.delete(CONFIGMAP, "a", namespace="default")
    await fake.patch(CONFIGMAP, "b", {"data": {"v": "2"}}, namespace="default")
    for i in range(8):
        await fake.create(CONFIGMAP, cm(f"n{i}"), namespace="default")
    rec.calls.clear()
    informer.start()
    await settle(informer, fake, clock)
    await informer.stop()

    assert contents(informer) == fake_contents(fake)
    kinds = [(c[0], c[1].split("@")[0]) for c in rec.calls]
    assert kinds[:2] == [("delete", "a"), ("update", "b")]
    assert sorted(kinds[2:]) == [("add", f"n{i}") for i in range(8)]
    stats = informer.statistics()
    assert (stats.gone, stats.relists) == (1, 1)


async def test_fake_cluster_gone_mid_stream_delivers_what_vanished(clock: VirtualClock) -> None:
    plan = FaultPlan(seed=5)
    plan.expire_watch(after_events=1)
    fake = FakeCluster(clock=clock, seed=5, faults=plan)
    await fake.create(CONFIGMAP, cm("a"), namespace="default")
    await fake.create(CONFIGMAP, cm("b"), namespace="default")
    informer = Informer(fake, CONFIGMAP, clock=clock, namespace="default", rng=random.Random(1))
    rec = Recorder()
    informer.add_handler(rec)
    informer.start()
    await informer.wait_for_sync()
    await fake.create(CONFIGMAP, cm("x"), namespace="default")  # delivered
    await fake.delete(CONFIGMAP, "a", namespace="default")  # the stream answers Gone
    await fake.patch(CONFIGMAP, "b", {"data": {"v": "2"}}, namespace="default")
    await settle(informer, fake, clock)
    await informer.stop()
    assert contents(informer) == [("b", "2"), ("x", "1")] == fake_contents(fake)
    assert [(c[0], c[1].split("@")[0]) for c in rec.calls[3:]] == [("delete", "a"), ("update", "b")]
    assert informer.statistics().gone == 1


async def test_fake_cluster_label_scope_and_bookmarks(clock: VirtualClock) -> None:
    fake = FakeCluster(clock=clock, seed=6, bookmark_interval=60.0)
    await fake.create(CONFIGMAP, cm("in", labels={"app": "ray"}), namespace="default")
    await fake.create(CONFIGMAP, cm("out"), namespace="default")
    informer = Informer(fake, CONFIGMAP, clock=clock, label_selector="app=ray",
                        rng=random.Random(1))
    informer.start()
    await informer.wait_for_sync()
    assert contents(informer) == [("in", "1")]
    await fake.patch(CONFIGMAP, "in", {"metadata": {"labels": {"app": None}}},
                     namespace="default")  # leaves the scope: DELETED for the informer
    await settle(informer, fake, clock)
    assert contents(informer) == []
    await clock.sleep(500)  # quiet: bookmarks keep the stream alive and the version fresh
    await informer.stop()
    stats = informer.statistics()
    assert stats.bookmarks >= 5
    assert stats.inactivity_restarts == 0
    assert stats.watch_errors == 0


async def test_fake_cluster_throttled_list_honours_retry_after(clock: VirtualClock) -> None:
    plan = FaultPlan(seed=7)
    plan.throttle(retry_after=5.0, verb="list")
    fake = FakeCluster(clock=clock, seed=7, faults=plan)
    informer = Informer(fake, CONFIGMAP, clock=clock, rng=random.Random(1))
    informer.start()
    await informer.wait_for_sync()
    assert clock.monotonic() == pytest.approx(5.0)
    await informer.stop()
    assert informer.statistics().list_errors == 1
