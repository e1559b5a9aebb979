"""The RayService cluster hash and the upgrade decision, as tables."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rayop.reconcilers.rayservice.actions import in_place_spec
from rayop.reconcilers.rayservice.hash import (
    HASH_ANNOTATION,
    NUM_WORKER_GROUPS_ANNOTATION,
    ClusterAction,
    cluster_action,
    cluster_annotations,
    cluster_hash,
    only_worker_groups_appended,
)

Config = dict[str, Any]


def _group(name: str, **extra: Any) -> Config:
    return {"groupName": name, "replicas": 1, "minReplicas": 1, "maxReplicas": 5,
            "rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-worker", "image": "rayproject/ray:2.9.0"}]}}, **extra}


def _config(*groups: Config, image: str = "rayproject/ray:2.9.0") -> Config:
    config: Config = {"rayVersion": "2.9.0", "headGroupSpec": {
        "rayStartParams": {"dashboard-host": "0.0.0.0"},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": image}]}}}}
    if groups:
        config["workerGroupSpecs"] = list(groups)
    return config


BASE = _config(_group("small"))


def _edit(config: Config, path: tuple[Any, ...], value: Any) -> Config:
    out = copy.deepcopy(config)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DROP = object()


@pytest.mark.parametrize(("path", "value"), [
    (("workerGroupSpecs", 0, "replicas"), 4),
    (("workerGroupSpecs", 0, "minReplicas"), 0),
    (("workerGroupSpecs", 0, "maxReplicas"), 100),
    (("workerGroupSpecs", 0, "replicas"), _DROP),
    (("workerGroupSpecs", 0, "scaleStrategy"), {"workersToDelete": ["pod-a", "pod-b"]}),
    (("workerGroupSpecs", 0, "scaleStrategy"), {}),
    (("headGroupSpec", "serviceType"), None),
])
def test_autoscaling_fields_do_not_change_the_hash(path: tuple[Any, ...], value: Any) -> None:
    assert cluster_hash(_edit(BASE, path, value)) == cluster_hash(BASE)


@pytest.mark.parametrize(("path", "value"), [
    (("rayVersion",), "2.10.0"),
    (("headGroupSpec", "template", "spec", "containers", 0, "image"), "rayproject/ray:2.10.0"),
    (("workerGroupSpecs", 0, "groupName"), "large"),
    (("workerGroupSpecs", 0, "rayStartParams"), {"num-cpus": "2"}),
    (("workerGroupSpecs", 0, "suspend"), True),
    (("enableInTreeAutoscaling",), True),
])
def test_other_fields_change_the_hash(path: tuple[Any, ...], value: Any) -> None:
    assert cluster_hash(_edit(BASE, path, value)) != cluster_hash(BASE)


def test_hash_ignores_key_order_and_how_no_groups_are_written() -> None:
    reordered = dict(reversed(list(BASE.items())))
    assert cluster_hash(reordered) == cluster_hash(BASE)
    assert cluster_hash({**_config(), "workerGroupSpecs": []}) == cluster_hash(_config())


def test_annotations_name_the_hash_and_the_group_count() -> None:
    annotations = cluster_annotations(_config(_group("a"), _group("b")))
    assert annotations[NUM_WORKER_GROUPS_ANNOTATION] == "2"
    assert annotations[HASH_ANNOTATION] == cluster_hash(_config(_group("a"), _group("b")))


@pytest.mark.parametrize(("built_from", "desired", "appended"), [
    (_config(_group("a")), _config(_group("a"), _group("b")), True),
    (_config(_group("a")), _config(_group("a", replicas=3), _group("b"), _group("c")), True),
    (_config(), _config(_group("a")), True),
    (_config(_group("a")), _config(_group("a")), False),                  # nothing added
    (_config(_group("a")), _config(_group("b"), _group("a")), False),     # added in front
    (_config(_group("a")), _config(_group("a", rayStartParams={"x": "1"}), _group("b")), False),
    (_config(_group("a")), _config(_group("a"), _group("b"), image="other"), False),
    (_config(_group("a"), _group("b")), _config(_group("a")), False),     # removed
])
def test_only_worker_groups_appended(built_from: Config, desired: Config, appended: bool) -> None:
    assert only_worker_groups_appended(cluster_annotations(built_from), desired) is appended


def test_append_detection_needs_the_group_count() -> None:
    annotations = {HASH_ANNOTATION: cluster_hash(_config(_group("a")))}
    assert not only_worker_groups_appended(annotations, _config(_group("a"), _group("b")))


NEW = _config(_group("a"), image="new")
OLD = _config(_group("a"), image="old")
PLUS = _config(_group("a"), _group("b"), image="old")


def _ann(config: Config) -> dict[str, str]:
    return cluster_annotations(config)


@pytest.mark.parametrize(("active", "pending", "strategy", "unhealthy", "action"), [
    (None, None, None, False, ClusterAction.CREATE_PENDING),            # the first cluster
    (None, None, "None", False, ClusterAction.CREATE_PENDING),
    (NEW, None, None, False, ClusterAction.NOTHING),
    (OLD, None, None, False, ClusterAction.CREATE_PENDING),             # an upgrade
    (OLD, None, "NewCluster", False, ClusterAction.CREATE_PENDING),
    (OLD, None, "None", False, ClusterAction.HOLD),
    (NEW, None, None, True, ClusterAction.CREATE_PENDING),              # unhealthy: replace
    (NEW, None, "None", True, ClusterAction.CREATE_PENDING),
    (OLD, NEW, None, False, ClusterAction.NOTHING),                     # upgrade under way
    (OLD, OLD, None, False, ClusterAction.REPLACE_PENDING),             # changed again
    (None, OLD, None, False, ClusterAction.REPLACE_PENDING),            # first one, changed
    (NEW, OLD, None, False, ClusterAction.DROP_PENDING),                # change reverted
    (NEW, NEW, None, True, ClusterAction.NOTHING),                      # replacement under way
    (NEW, OLD, None, True, ClusterAction.REPLACE_PENDING),
])
def test_cluster_action(active: Config | None, pending: Config | None, strategy: str | None,
                        unhealthy: bool, action: ClusterAction) -> None:
    got = cluster_action(desired=NEW, active=_ann(active) if active else None,
                         pending=_ann(pending) if pending else None, strategy=strategy,
                         replace_unhealthy=unhealthy)
    assert got == action


@pytest.mark.parametrize("strategy", [None, "NewCluster", "None"])
def test_appended_worker_groups_update_the_active_cluster(strategy: str | None) -> None:
    action = cluster_action(desired=PLUS, active=_ann(OLD), pending=None, strategy=strategy)
    assert action == ClusterAction.UPDATE_ACTIVE


def test_in_place_spec_keeps_what_scaling_set_on_existing_groups() -> None:
    live = _config(_group("a", replicas=4, scaleStrategy={"workersToDelete": ["w-1"]}))
    desired = _config(_group("a", replicas=1), _group("b", replicas=2))
    spec = in_place_spec(live, desired)
    assert spec["workerGroupSpecs"][0]["replicas"] == 4
    assert spec["workerGroupSpecs"][0]["scaleStrategy"] == {"workersToDelete": ["w-1"]}
    assert spec["workerGroupSpecs"][1]["replicas"] == 2
    assert desired["workerGroupSpecs"][0]["replicas"] == 1  # the input is not modified
