"""Predicates, mappers and the enqueue handler."""

from __future__ import annotations

from typing import Any

import pytest
from scripted_client import obj

from rayop.ray.kinds import RAYCLUSTER, RAYJOB
from rayop.runtime.client import NAMESPACE
from rayop.runtime.handlers import (
    EnqueueHandler,
    Event,
    Predicate,
    always,
    and_,
    annotations_changed,
    enqueue_mapped,
    enqueue_owner,
    enqueue_self,
    generation_changed,
    labels_changed,
    not_,
    or_,
    resource_version_changed,
)
from rayop.runtime.reconcile import Request


def o(rv: int = 1, gen: int = 1, labels: dict[str, str] | None = None,
      annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out = obj("x", rv, generation=gen, labels=labels)
    if annotations is not None:
        out["metadata"]["annotations"] = annotations
    return out


BASE = o()
UPDATES = {
    "status only": o(rv=2),
    "spec": o(rv=2, gen=2),
    "labels": o(rv=2, labels={"a": "b"}),
    "annotations": o(rv=2, annotations={"k": "v"}),
    "nothing": o(),
}
TABLE = {
    # predicate:               status only, spec,  labels, annotations, nothing
    "generation_changed":       (False, True, False, False, False),
    "resource_version_changed": (True, True, True, True, False),
    "labels_changed":           (False, False, True, False, False),
    "annotations_changed":      (False, False, False, True, False),
}
PREDICATES = {
    "generation_changed": generation_changed,
    "resource_version_changed": resource_version_changed,
    "labels_changed": labels_changed,
    "annotations_changed": annotations_changed,
}


@pytest.mark.parametrize("name", list(TABLE))
@pytest.mark.parametrize("case", list(UPDATES))
def test_change_predicates_on_updates(name: str, case: str) -> None:
    expected = TABLE[name][list(UPDATES).index(case)]
    assert PREDICATES[name](Event("update", BASE, UPDATES[case])) is expected


@pytest.mark.parametrize("name", list(TABLE))
def test_change_predicates_pass_adds_and_deletes(name: str) -> None:
    assert PREDICATES[name](Event("add", None, BASE))
    assert PREDICATES[name](Event("delete", BASE, None))


def test_empty_and_missing_label_maps_are_the_same() -> None:
    a, b = o(), o(rv=2)
    b["metadata"]["labels"] = {}
    assert not labels_changed(Event("update", a, b))


@pytest.mark.parametrize(
    ("predicate", "case", "expected"),
    [
        (generation_changed | labels_changed, "labels", True),
        (generation_changed | labels_changed, "annotations", False),
        (generation_changed & labels_changed, "spec", False),
        (resource_version_changed & ~generation_changed, "status only", True),
        (resource_version_changed & ~generation_changed, "spec", False),
        (or_(generation_changed, labels_changed, annotations_changed), "annotations", True),
        (and_(resource_version_changed, not_(labels_changed)), "labels", False),
        (~always, "nothing", False),
    ],
)
def test_composition(predicate: Predicate, case: str, expected: bool) -> None:
    assert predicate(Event("update", BASE, UPDATES[case])) is expected


def test_custom_predicate_and_repr() -> None:
    def is_add(e: Event) -> bool:
        return e.type == "add"

    p = Predicate(is_add) | ~generation_changed
    assert repr(p) == "Predicate((is_add | ~generation_changed))"
    assert p(Event("add", None, BASE))
    assert p(Event("update", BASE, UPDATES["status only"]))
    assert not p(Event("update", BASE, UPDATES["spec"]))
    # Change predicates pass adds, so their negation drops adds (and deletes).
    assert not (~generation_changed)(Event("add", None, BASE))


def ref(kind: str, name: str, *, controller: bool = True,
        api_version: str = "ray.io/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": f"u-{name}",
            "controller": controller}


def test_enqueue_self() -> None:
    assert list(enqueue_self(obj("x", 1, namespace="ns"))) == [Request("ns", "x")]
    cluster_scoped = obj("n", 1, namespace="")
    assert list(enqueue_self(cluster_scoped)) == [Request("", "n")]


def test_enqueue_owner_matches_kind_group_and_controller() -> None:
    child = obj("pod", 1, namespace="ns", owners=[
        ref("RayCluster", "c1"),
        ref("RayCluster", "c2", controller=False),
        ref("RayJob", "j1"),
        ref("RayCluster", "old", api_version="ray.io/v1alpha1"),
    ])
    assert list(enqueue_owner(RAYCLUSTER)(child)) == [Request("ns", "c1")]
    assert list(enqueue_owner(RAYCLUSTER, controller_only=False)(child)) == [
        Request("ns", "c1"), Request("ns", "c2")]
    assert list(enqueue_owner(RAYJOB)(child)) == [Request("ns", "j1")]
    assert list(enqueue_owner(RAYJOB)(obj("orphan", 1))) == []


def test_enqueue_owner_of_a_cluster_scoped_owner() -> None:
    child = obj("cm", 1, namespace="ns", owners=[
        ref("Namespace", "ns", api_version="v1")])
    assert list(enqueue_owner(NAMESPACE)(child)) == [Request("", "ns")]


def test_enqueue_mapped() -> None:
    mapper = enqueue_mapped(lambda ob: [Request("a", ob["metadata"]["name"]), Request("b", "z")])
    assert list(mapper(obj("x", 1))) == [Request("a", "x"), Request("b", "z")]


class ListQueue:
    def __init__(self) -> None:
        self.keys: list[Request] = []

    def add(self, key: Request) -> None:
        self.keys.append(key)


def test_enqueue_handler_filters_and_maps() -> None:
    queue = ListQueue()
    handler = EnqueueHandler(queue, enqueue_self, generation_changed)
    handler.on_add(BASE)
    handler.on_update(BASE, UPDATES["status only"])  # filtered out
    handler.on_update(BASE, UPDATES["spec"])
    handler.on_delete(BASE)
    assert queue.keys == [Request("default", "x")] * 3


def test_enqueue_handler_update_wakes_old_and_new_owner() -> None:
    queue = ListQueue()
    handler = EnqueueHandler(queue, enqueue_owner(RAYCLUSTER))
    old = obj("pod", 1, owners=[ref("RayCluster", "c1")])
    new = obj("pod", 2, owners=[ref("RayCluster", "c2")])
    handler.on_update(old, new)
    assert queue.keys == [Request("default", "c2"), Request("default", "c1")]  # new owner first
    queue.keys.clear()
    handler.on_update(new, obj("pod", 3, owners=[ref("RayCluster", "c2")]))
    assert queue.keys == [Request("default", "c2")]  # once, not twice
