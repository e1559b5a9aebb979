"""Pure status helpers for RayCluster: what the pods and Service say about the cluster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rayop.ray.resources.raycluster import (
    CONDITION_HEAD_POD_READY,
    CONDITION_PROVISIONED,
    RayClusterSpec,
    WorkerGroupSpec,
)
from rayop.reconcilers.raycluster.pods import DEFAULT_HEAD_PORTS, head_service_name
from rayop.runtime.client import Obj
from rayop.runtime.conditions import Condition, ConditionStatus, set_condition

__all__ = [
    "cluster_status",
    "desired_replicas",
    "pod_failed",
    "pod_problem",
    "pod_ready",
    "pod_start_failure",
]

STARTING = frozenset({"ContainerCreating", "PodInitializing"})
"""Waiting reasons of a container on its normal way to running: not failures."""

_MAX_REPLICAS = 2147483647


def pod_ready(pod: Obj) -> bool:
    """True when the pod runs and its ``Ready`` condition is True."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def pod_failed(pod: Obj) -> bool:
    """True when the pod has ended (Failed or Succeeded): it will never run Ray again."""
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def pod_problem(pod: Obj) -> str | None:
    """Say why a pod is not ready, from its conditions and container states, if it says."""
    status = pod.get("status") or {}
    name = pod["metadata"]["name"]
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"pod {name}: {cond.get('reason', 'Unschedulable')}: {cond.get('message', '')}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return f"pod {name}: container {cs.get('name')}: {waiting['reason']}"
    if status.get("phase") == "Failed":
        return f"pod {name}: {status.get('reason', 'Failed')}: {status.get('message', '')}"
    return None


def pod_start_failure(pod: Obj) -> str | None:
    """Say why a pod cannot start (unschedulable, image missing, crash loop...).

    In the scheduler's and the kubelet's words; None while it is merely starting, or running.
    """
    status = pod.get("status") or {}
    name = pod["metadata"]["name"]
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"pod {name}: {cond.get('reason', 'Unschedulable')}: {cond.get('message', '')}"
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses")
                                                                or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] not in STARTING:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return f"pod {name}: container {cs.get('name')}: {waiting['reason']}{detail}"
    return None


def desired_replicas(group: WorkerGroupSpec) -> int:
    """``replicas`` clamped to ``[minReplicas, maxReplicas]``, times ``numOfHosts``."""
    low = group.min_replicas or 0
    high = _MAX_REPLICAS if group.max_replicas is None else group.max_replicas
    replicas = group.replicas if group.replicas is not None else low
    return max(low, min(high, replicas)) * (group.num_of_hosts or 1)


def _conditions(old: Any) -> list[Condition]:
    return [Condition.model_validate(c) for c in old or [] if isinstance(c, dict)]


def cluster_status(
    cluster: Obj,
    spec: RayClusterSpec,
    head_pods: list[Obj],
    workers: dict[str, list[Obj]],
    service: Obj | None,
    *,
    now: datetime,
) -> Obj:
    """Compute the whole status of a RayCluster from what it controls."""
    old = cluster.get("status") or {}
    generation = cluster["metadata"].get("generation")
    groups = spec.worker_group_specs or []
    desired = sum(0 if g.suspend else desired_replicas(g) for g in groups)
    all_workers = [p for pods in workers.values() for p in pods]
    ready_workers = sum(1 for p in all_workers if pod_ready(p))
    head = head_pods[0] if head_pods else None
    head_ready = head is not None and pod_ready(head)
    all_ready = head_ready and ready_workers >= desired
    problems = [m for p in [*head_pods, *all_workers] if (m := pod_problem(p))]
    conditions = _conditions(old.get("conditions"))
    head_status: ConditionStatus = "True" if head_ready else "False"
    conditions = set_condition(
        conditions, type_=CONDITION_HEAD_POD_READY, status=head_status,
        reason="HeadPodRunningAndReady" if head_ready else "HeadPodNotFound" if head is None
        else "HeadPodNotReady",
        message="" if head_ready else (pod_problem(head) or "") if head else "",
        observed_generation=generation, now=now,
    )
    provisioned = all_ready or _was_provisioned(old)
    conditions = set_condition(
        conditions, type_=CONDITION_PROVISIONED, status="True" if provisioned else "False",
        reason="AllPodRunningAndReadyFirstTime" if provisioned else "RayClusterPodsProvisioning",
        message="" if provisioned else "; ".join(problems),
        observed_generation=generation, now=now,
    )
    status: Obj = {
        "desiredWorkerReplicas": desired,
        "readyWorkerReplicas": ready_workers,
        "availableWorkerReplicas": sum(
            1 for p in all_workers if (p.get("status") or {}).get("phase") == "Running"),
        "minWorkerReplicas": sum((g.min_replicas or 0) for g in groups),
        "maxWorkerReplicas": sum(
            _MAX_REPLICAS if g.max_replicas is None else g.max_replicas for g in groups),
        "head": _head(cluster, head, service),
        "endpoints": _endpoints(service),
        "conditions": [c.model_dump(mode="json", by_alias=True, exclude_none=True)
                       for c in conditions],
        "observedGeneration": generation,
        "state": "suspended" if spec.suspend else ("ready" if all_ready else None),
        "reason": "; ".join(problems) if problems and not all_ready else None,
    }
    return status


def _was_provisioned(old: Obj) -> bool:
    return any(c.get("type") == CONDITION_PROVISIONED and c.get("status") == "True"
               for c in old.get("conditions") or [])


def _head(cluster: Obj, head: Obj | None, service: Obj | None) -> Obj:
    out: Obj = {"serviceName": head_service_name(cluster["metadata"]["name"])}
    if head is not None:
        out["podName"] = head["metadata"]["name"]
        if ip := (head.get("status") or {}).get("podIP"):
            out["podIP"] = ip
    if service is not None and (ip := (service.get("spec") or {}).get("clusterIP")):
        out["serviceIP"] = ip
    return out


def _endpoints(service: Obj | None) -> dict[str, str]:
    if service is None:
        return {name: str(port) for name, port in DEFAULT_HEAD_PORTS.items()}
    return {p.get("name", str(p["port"])): str(p["port"])
            for p in (service.get("spec") or {}).get("ports") or []}
