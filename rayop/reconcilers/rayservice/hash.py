"""When a RayService's cluster must change, and how: the spec hash and the upgrade decision.

Each RayCluster a RayService creates carries, in annotations, a hash of the ``rayClusterConfig``
it was built from and its number of worker groups (KubeRay's annotation names). The hash leaves out
what the autoscaler (or a user scaling by hand) changes — each worker group's ``replicas``,
``minReplicas``, ``maxReplicas`` and ``scaleStrategy.workersToDelete`` — so scaling never looks
like a new configuration. Comparing the desired hash with the annotations decides everything,
without reading the live spec the autoscaler keeps editing.

:func:`cluster_action` is the whole upgrade policy as one pure function of what exists.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = [
    "HASH_ANNOTATION",
    "NUM_WORKER_GROUPS_ANNOTATION",
    "ClusterAction",
    "cluster_action",
    "cluster_annotations",
    "cluster_hash",
    "only_worker_groups_appended",
]

HASH_ANNOTATION = "ray.io/hash-without-replicas-and-workers-to-delete"
NUM_WORKER_GROUPS_ANNOTATION = "ray.io/num-worker-groups"

_SCALING_FIELDS = ("replicas", "minReplicas", "maxReplicas")


def _without_nulls(value: Any) -> Any:
    """Drop null members: in Kubernetes an explicit null and an absent field mean the same."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def cluster_hash(config: Mapping[str, Any]) -> str:
    """Hash a ``rayClusterConfig``, ignoring the fields autoscaling changes."""
    spec = _without_nulls(copy.deepcopy(dict(config)))
    for group in spec.get("workerGroupSpecs") or []:
        if not isinstance(group, dict):
            continue
        for key in _SCALING_FIELDS:
            group.pop(key, None)
        strategy = group.get("scaleStrategy")
        if isinstance(strategy, dict):
            strategy.pop("workersToDelete", None)
            if not strategy:
                group.pop("scaleStrategy")
    if not spec.get("workerGroupSpecs"):
        spec.pop("workerGroupSpecs", None)  # no groups, however written
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _groups(config: Mapping[str, Any]) -> list[Any]:
    groups = config.get("workerGroupSpecs")
    return list(groups) if isinstance(groups, list) else []


def cluster_annotations(config: Mapping[str, Any]) -> dict[str, str]:
    """The annotations a cluster built from ``config`` carries."""
    return {
        HASH_ANNOTATION: cluster_hash(config),
        NUM_WORKER_GROUPS_ANNOTATION: str(len(_groups(config))),
    }


def only_worker_groups_appended(annotations: Mapping[str, str], config: Mapping[str, Any]) -> bool:
    """True when ``config`` is the annotated cluster's config with worker groups added at the end.

    The groups the cluster has must be unchanged (outside the ignored fields), in order; anything
    else — a group removed, reordered or edited, the head changed — is not an append.
    """
    try:
        had = int(annotations.get(NUM_WORKER_GROUPS_ANNOTATION, ""))
    except ValueError:
        return False
    groups = _groups(config)
    if had < 0 or len(groups) <= had:
        return False
    prefix = {**dict(config), "workerGroupSpecs": groups[:had]}
    return annotations.get(HASH_ANNOTATION) == cluster_hash(prefix)


class ClusterAction(StrEnum):
    """What the RayService must do to its clusters next."""

    NOTHING = "Nothing"
    """The clusters are what they should be."""
    CREATE_PENDING = "CreatePending"
    """Name (then build) a new pending cluster from the desired config."""
    REPLACE_PENDING = "ReplacePending"
    """The pending cluster is out of date: abandon it, name a new one."""
    DROP_PENDING = "DropPending"
    """The active cluster matches the desired config again: abandon the pending one."""
    UPDATE_ACTIVE = "UpdateActive"
    """Worker groups were only appended: update the active cluster in place."""
    HOLD = "Hold"
    """The config changed but ``upgradeStrategy.type`` is ``None``: leave the cluster as it is."""


def cluster_action(
    *,
    desired: Mapping[str, Any],
    active: Mapping[str, str] | None,
    pending: Mapping[str, str] | None,
    strategy: str | None,
    replace_unhealthy: bool = False,
) -> ClusterAction:
    """Decide the next cluster action.

    ``active`` and ``pending`` are the annotations of the active and pending clusters (None when
    there is none); a pending cluster named in status but not built yet passes its would-be
    annotations. ``replace_unhealthy`` asks for a new cluster even when the config is unchanged.
    """
    want = cluster_hash(desired)
    if pending is not None:
        if pending.get(HASH_ANNOTATION) == want:
            return ClusterAction.NOTHING
        if active is not None and active.get(HASH_ANNOTATION) == want and not replace_unhealthy:
            return ClusterAction.DROP_PENDING
        return ClusterAction.REPLACE_PENDING
    if active is None or replace_unhealthy:
        return ClusterAction.CREATE_PENDING
    if active.get(HASH_ANNOTATION) == want:
        return ClusterAction.NOTHING
    if only_worker_groups_appended(active, desired):
        return ClusterAction.UPDATE_ACTIVE
    if strategy == "None":
        return ClusterAction.HOLD
    return ClusterAction.CREATE_PENDING
