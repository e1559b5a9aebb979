"""The writes a RayService makes on objects other than itself: clusters, pods, Services.

Each method is one idempotent write with its event; a NotFound means someone else already did it.
"""

from __future__ import annotations

import copy

from ..cache import Cache
from ..client import POD, RAYCLUSTER, SERVICE, ClusterClient, Kind, Obj
from ..errors import NotFound
from ..events import EventRecorder
from .rayservice_hash import cluster_annotations

__all__ = ["Actions", "in_place_spec"]


def in_place_spec(live: Obj, desired: Obj) -> Obj:
    """``desired`` for a running cluster: existing groups keep the replicas scaling gave them."""
    spec = copy.deepcopy(desired)
    live_groups = {g.get("groupName"): g for g in live.get("workerGroupSpecs") or []}
    for group in spec.get("workerGroupSpecs") or []:
        current = live_groups.get(group.get("groupName"))
        if current is None:
            continue
        for key in ("replicas", "scaleStrategy"):
            if key in current:
                group[key] = copy.deepcopy(current[key])
    return spec


class Actions:
    """Writes through the client, reads through the cache, tells the events recorder."""

    def __init__(self, client: ClusterClient, cache: Cache, events: EventRecorder) -> None:
        self.client = client
        self.cache = cache
        self.events = events

    async def update_in_place(self, svc: Obj, cluster: Obj) -> Obj:
        """Give the active cluster the appended worker groups (optimistic: its resourceVersion)."""
        desired = svc["spec"]["rayClusterConfig"]
        meta = cluster["metadata"]
        body = {
            **cluster,
            "metadata": {**meta, "annotations": {**(meta.get("annotations") or {}),
                                                 **cluster_annotations(desired)}},
            "spec": in_place_spec(cluster.get("spec") or {}, desired),
        }
        updated = await self.client.replace(RAYCLUSTER, body, namespace=meta["namespace"])
        self.events.normal(svc, "UpdatedRayCluster", f"Worker groups appended: updated "
                           f"RayCluster {meta['name']} in place")
        return updated

    async def label_pod(self, pod: Obj, key: str, value: str) -> int:
        """Set one label on a pod; 1 if written, 0 if the pod is gone."""
        meta = pod["metadata"]
        try:
            await self.client.patch(
                POD, meta["name"], {"metadata": {"labels": {key: value}}},
                namespace=meta["namespace"])
        except NotFound:
            return 0
        return 1

    async def annotate(self, obj: Obj, key: str, value: str) -> Obj:
        """Set one annotation on a RayCluster; return it as stored."""
        meta = obj["metadata"]
        return await self.client.patch(RAYCLUSTER, meta["name"],
                                       {"metadata": {"annotations": {key: value}}},
                                       namespace=meta["namespace"])

    async def delete(self, svc: Obj, kind: Kind, name: str, why: str) -> None:
        """Delete one object the RayService owns, with an event."""
        try:
            await self.client.delete(kind, name, namespace=svc["metadata"]["namespace"])
        except NotFound:
            return
        self.events.normal(svc, f"Deleted{kind.kind}", f"Deleted {kind.kind} {name}: {why}")

    async def delete_other_services(self, svc: Obj, *, keep: set[str]) -> None:
        """Delete owned Services not named in ``keep`` (a renamed ``serveService``)."""
        for obj in self.cache.owned_by(SERVICE, svc["metadata"]["uid"]):
            name = obj["metadata"]["name"]
            if name not in keep and not obj["metadata"].get("deletionTimestamp"):
                await self.delete(svc, SERVICE, name, "no longer one of the RayService's")

    async def delete_all(self, svc: Obj, *, reason: str) -> int:
        """Delete every cluster and Service the RayService owns; return how many remain."""
        remaining = 0
        for kind in (RAYCLUSTER, SERVICE):
            for obj in self.cache.owned_by(kind, svc["metadata"]["uid"]):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    await self.delete(svc, kind, obj["metadata"]["name"], reason)
        return remaining

