"""SharedInformers' scopes: one informer per namespace seen as one, and per-kind label selectors."""

from __future__ import annotations

import asyncio

import pytest

from rayop import Obj, VirtualClock
from rayop.fakes import FakeCluster, FaultPlan
from rayop.ray.kinds import RAYJOB
from rayop.runtime.client import CONFIGMAP, NAMESPACE, POD
from rayop.runtime.errors import Forbidden
from rayop.runtime.informer import Informer
from rayop.runtime.sharedinformers import (
    CacheSyncTimeout,
    MultiNamespaceInformer,
    MultiNamespaceStore,
    SharedInformers,
)
from rayop.runtime.store import Store


def obj(ns: str, name: str, rv: int, owner: str = "", **labels: str) -> Obj:
    meta: Obj = {"namespace": ns, "name": name, "resourceVersion": str(rv), "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "kind": "X", "name": "x"}]
    return {"metadata": meta}


def stores() -> tuple[Store, Store, MultiNamespaceStore]:
    a, b = Store(), Store()
    a.put(obj("a", "one", 1, owner="u1", app="web"))
    a.put(obj("a", "two", 2))
    b.put(obj("b", "one", 3, owner="u1", app="web"))
    return a, b, MultiNamespaceStore({"b": b, "a": a})


def names(objs: list[Obj]) -> list[str]:
    return [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in objs]


def test_merged_store_reads_route_by_namespace_and_merge_in_key_order() -> None:
    _, _, view = stores()
    assert names(view.list()) == ["a/one", "a/two", "b/one"]
    assert names(view.list(label_selector="app=web")) == ["a/one", "b/one"]
    assert names(view.list("b")) == ["b/one"]
    assert view.list("elsewhere") == []
    assert view.get("a", "two") is not None and view.get("c", "two") is None
    assert names(view.by_index("owner_uid", "u1")) == ["a/one", "b/one"]
    assert view.keys() == [("a", "one"), ("a", "two"), ("b", "one")]
    assert len(view) == 3 and ("b", "one") in view and ("c", "one") not in view
    assert view.resource_version_of("b", "one") == "3"
    got = view.get("a", "one")
    assert got is not None
    got["metadata"]["name"] = "mutated"  # a private copy
    assert view.get("a", "one") is not None


def test_merged_store_adds_an_index_to_every_namespace() -> None:
    _, _, view = stores()
    view.add_index("app", lambda o: [o["metadata"].get("labels", {}).get("app", "")])
    assert names(view.by_index("app", "web")) == ["a/one", "b/one"]
    assert "app" in view.index_names


async def test_merged_store_waits_in_the_right_namespace(clock: VirtualClock) -> None:
    a, _, view = stores()
    waiting = asyncio.ensure_future(view.wait_for_version("a", "two", "9", timeout=5, clock=clock))
    await asyncio.sleep(0)
    a.put(obj("a", "two", 9))
    assert await waiting
    assert not await view.wait_for_version("z", "two", "1", timeout=5, clock=clock)
    assert await view.wait_for("z", "gone", lambda o: o is None, timeout=1, clock=clock)


def test_default_scope_one_namespace_several_or_all() -> None:
    cluster = FakeCluster()
    assert isinstance(SharedInformers(cluster).get_or_create(POD), Informer)
    one = SharedInformers(cluster, namespaces=["ml"]).get_or_create(POD)
    assert isinstance(one, Informer) and one.namespace == "ml"
    shared = SharedInformers(cluster, namespaces=["b", "a", "b"])
    several = shared.get_or_create(POD)
    assert isinstance(several, MultiNamespaceInformer) and several.namespaces == ("a", "b")
    assert [i.namespace for i in several.informers] == ["a", "b"]
    assert shared.get_or_create(POD) is several
    assert isinstance(shared.get_or_create(NAMESPACE), Informer)  # cluster-scoped: one
    assert shared.get_or_create(POD, namespace="a") is not several
    assert shared.informer_for(POD) is several


def test_the_label_selector_applies_to_the_kinds_named() -> None:
    shared = SharedInformers(FakeCluster(), label_selector="team=a", selector_kinds=[RAYJOB])
    assert shared.get_or_create(RAYJOB).label_selector == "team=a"
    assert shared.get_or_create(POD).label_selector is None
    assert shared.get_or_create(POD, label_selector="x=y").label_selector == "x=y"
    everything = SharedInformers(FakeCluster(), label_selector="team=a")
    assert everything.get_or_create(POD).label_selector == "team=a"


def test_in_scope_follows_namespaces_and_selectors() -> None:
    shared = SharedInformers(FakeCluster(), namespaces=["a", "b"], label_selector="team=x")
    informer = shared.get_or_create(CONFIGMAP)
    assert informer.in_scope(obj("a", "n", 1, team="x"))
    assert not informer.in_scope(obj("c", "n", 1, team="x"))
    assert not informer.in_scope(obj("b", "n", 1, team="y"))
    assert informer.in_scope({"metadata": {"name": "n", "labels": {"team": "x"}}}, "b")


async def test_sync_timeout_names_only_the_namespaces_that_did_not_sync(
    clock: VirtualClock,
) -> None:
    plan = FaultPlan(seed=1)
    plan.fail(Forbidden("no"), verb="list", kind=CONFIGMAP, namespace="b", times=None)
    cluster = FakeCluster(clock=clock, faults=plan)
    shared = SharedInformers(cluster, clock=clock, namespaces=["a", "b"], seed=1)
    shared.get_or_create(CONFIGMAP)
    shared.start_all()
    with pytest.raises(CacheSyncTimeout) as info:
        await shared.wait_for_sync(timeout=30)
    assert info.value.unsynced == ["ConfigMap/b"]
    await shared.stop_all()
