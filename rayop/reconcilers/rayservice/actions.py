"""The writes a RayService makes on objects other than itself: clusters, pods, Services.

Each method is one idempotent write with its event; a NotFound means someone else already did it.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable

from rayop.ray.kinds import RAYCLUSTER
from rayop.reconcilers.raycluster.pods import LABEL_CLUSTER, LABEL_NODE_TYPE
from rayop.reconcilers.raycluster.status import pod_ready
from rayop.reconcilers.rayservice.hash import cluster_annotations
from rayop.reconcilers.rayservice.services import LABEL_SERVE, service_update
from rayop.runtime.cache import Cache
from rayop.runtime.client import POD, SERVICE, ClusterClient, Kind, Obj
from rayop.runtime.errors import AlreadyExists, NotFound
from rayop.runtime.events import EventRecorder
from rayop.runtime.owners import controlled_by

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

    async def label_pods(self, svc: Obj, cluster: str, want: str | None, *,
                         exclude_head: bool,
                         confirm_removal: Callable[[], Awaitable[bool]] | None = None,
                         ) -> tuple[int, int]:
        """Set ``ray.io/serve`` to ``want`` (None: keep) on a cluster's pods.

        ``confirm_removal`` is awaited (once) before the first pod that serves is taken out of
        the serve Service; False keeps every label as it is (a stale cache must not stop
        traffic). Returns (pods relabelled, ready pods that serve once the labels are written).
        """
        changed = serving = 0
        removal: bool | None = None
        for pod in self._pods_of(svc["metadata"]["namespace"], cluster):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            labels = pod["metadata"].get("labels") or {}
            current = labels.get(LABEL_SERVE)
            head = labels.get(LABEL_NODE_TYPE) == "head"
            value = "false" if head and exclude_head else (want or current)
            if current == "true" and value == "false" and confirm_removal is not None:
                if removal is None:
                    removal = await confirm_removal()
                if not removal:
                    value = current
            if value and value != current:
                changed += await self._label_pod(pod, LABEL_SERVE, value)
            serving += value == "true" and pod_ready(pod)
        if changed:
            self.events.normal(svc, "ServeLabelsUpdated", f"Set {LABEL_SERVE}={want} on "
                               f"{changed} pods of RayCluster {cluster}")
        return changed, serving

    async def head_ready_live(self, namespace: str, cluster: str) -> bool:
        """True when the API server (not the cache) has a head pod of ``cluster`` Ready."""
        for pod in self._pods_of(namespace, cluster):
            if (pod["metadata"].get("labels") or {}).get(LABEL_NODE_TYPE) != "head":
                continue
            try:
                fresh = await self.client.get(POD, pod["metadata"]["name"], namespace=namespace)
            except NotFound:
                continue
            if pod_ready(fresh) and not fresh["metadata"].get("deletionTimestamp"):
                return True
        return False

    def _pods_of(self, namespace: str, cluster: str) -> list[Obj]:
        """The cached pods of a cluster, through the owner index when the cluster is cached.

        A label scan of every pod in the namespace is quadratic with thousands of clusters.
        """
        found = self.cache.get(RAYCLUSTER, cluster, namespace=namespace)
        if found is None:
            return self.cache.list(POD, namespace=namespace,
                                   label_selector=f"{LABEL_CLUSTER}={cluster}")
        pods = [p for p in self.cache.owned_by(POD, str(found["metadata"]["uid"]))
                if (p["metadata"].get("labels") or {}).get(LABEL_CLUSTER) == cluster]
        return sorted(pods, key=lambda p: str(p["metadata"]["name"]))

    async def _label_pod(self, pod: Obj, key: str, value: str) -> int:
        meta = pod["metadata"]
        try:
            await self.client.patch(
                POD, meta["name"], {"metadata": {"labels": {key: value}}},
                namespace=meta["namespace"])
        except NotFound:
            return 0
        return 1

    async def upsert_service(self, svc: Obj, desired: Obj, cluster: str, *,
                             confirm: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Create the Service, or point it (one replace) at ``cluster``; leave others' alone.

        ``confirm`` is awaited before changing an existing Service; False leaves it as it is.
        """
        name, namespace = desired["metadata"]["name"], svc["metadata"]["namespace"]
        current = self.cache.get(SERVICE, name, namespace=namespace)
        if current is None:
            try:
                await self.client.create(SERVICE, desired, namespace=namespace)
            except AlreadyExists:
                return  # the cache is behind: the next reconcile compares
            self.events.normal(svc, "CreatedService", f"Created Service {name} for "
                               f"RayCluster {cluster}")
        elif not controlled_by(current, svc["metadata"]["uid"]):
            self.events.warning(svc, "ServiceNotOwned", f"Service {name} exists and is not "
                                "this RayService's: left alone")
        elif (body := service_update(current, desired)) is not None:
            if confirm is not None and not await confirm():
                return
            await self.client.replace(SERVICE, body, namespace=namespace)
            self.events.normal(svc, "UpdatedService", f"Service {name} now selects RayCluster "
                               f"{cluster}")

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
