"""The RayCluster reconciler: head pod, worker pods per group, head Service, status.

Each reconcile compares what the cluster's spec asks for with the pods and Service the cache shows
(only those the cluster controls, by owner uid) and takes the smallest step towards it:

1. suspended → delete every pod, report ``suspended``;
2. the head Service ``<cluster>-head-svc`` exists;
3. one head pod: a failed or missing one is replaced;
4. per worker group: pods named in ``scaleStrategy.workersToDelete`` go first, failed pods are
   replaced, and the count moves to ``replicas`` (clamped to ``[minReplicas, maxReplicas]``) —
   scaling down removes pods that are not ready first, then the newest, never a healthy pod
   while an unhealthy one is left;
5. the status — state, replica counts, head IPs, endpoints, conditions — is written only when it
   changed.

A spec the validation let through but from which no valid pod or Service can be made — rayop's
builder fails on it, or the API server refuses what was built (422, or 400 for a value of the
wrong type in a field the pod's schema types) — is refused like an invalid
spec (``ValidationFailed`` naming the template, one Warning event), instead of failing the same
way on every reconcile.

Pods are created with ``generateName``; the manager's write tracking makes sure the next reconcile
sees them in the cache before counting again, so a lagging cache never doubles a group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from rayop.ray.kinds import RAYCLUSTER
from rayop.ray.resources.raycluster import RayClusterSpec, RayClusterStatus, WorkerGroupSpec
from rayop.ray.resources.validation import parse_raycluster
from rayop.reconcilers.raycluster.pods import (
    HEAD_GROUP,
    LABEL_CLUSTER,
    LABEL_GROUP,
    LABEL_NODE_TYPE,
    build_head_pod,
    build_head_service,
    build_worker_pod,
    head_service_name,
)
from rayop.reconcilers.raycluster.status import (
    cluster_status,
    desired_replicas,
    pod_failed,
    pod_ready,
    pod_start_failure,
)
from rayop.runtime.cache import Cache
from rayop.runtime.client import POD, SERVICE, ClusterClient, Kind, Obj
from rayop.runtime.clock import Clock
from rayop.runtime.errors import AlreadyExists, BadRequest, Invalid, NotFound, TerminalError
from rayop.runtime.events import EventRecorder
from rayop.runtime.owners import controlled_by
from rayop.runtime.reconcile import Request, Result
from rayop.runtime.status import StatusWriter, spec_rejected

__all__ = ["RayClusterReconciler"]

_log = structlog.get_logger("rayop.raycluster")


_BUILD_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError)


@dataclass(frozen=True)
class _Observed:
    cluster: Obj
    spec: RayClusterSpec
    head_pods: list[Obj]
    workers: dict[str, list[Obj]]
    service: Obj | None


class RayClusterReconciler:
    """Reconciles ``ray.io/v1`` RayClusters into pods and a head Service."""

    def __init__(
        self, client: ClusterClient, cache: Cache, events: EventRecorder, *, clock: Clock
    ) -> None:
        self.client = client
        self.cache = cache
        self.events = events
        self.clock = clock
        self.status = StatusWriter(client, RAYCLUSTER, events=events, clock=clock,
                                   stamp="lastUpdateTime")
        # (namespace, name) -> uid of a cluster the server said is gone while the cache still
        # shows it: acting on it again would recreate pods that garbage collection deletes, and
        # their events would wake this reconciler at once, in a loop, until the watch catches up
        self._gone: dict[tuple[str, str], str] = {}

    async def reconcile(self, request: Request) -> Result:
        """Move the RayCluster named by ``request`` one step towards its spec."""
        cluster = self.cache.get(RAYCLUSTER, request.name, namespace=request.namespace)
        key = (request.namespace, request.name)
        if cluster is None:
            self._gone.pop(key, None)
            return Result()  # owner references delete the pods and the Service
        if cluster["metadata"].get("deletionTimestamp") or self._gone.get(key) == (
                cluster["metadata"].get("uid")):
            return Result()
        if spec_rejected(cluster):
            return Result()  # no retry loop: wait for the spec to change
        parsed = parse_raycluster(cluster)
        if isinstance(parsed, list):
            await self.status.reject(cluster, [str(p) for p in parsed], {"state": "failed"})
            return Result()
        spec = parsed.spec
        observed = self._observe(cluster, spec)
        if spec.suspend:
            await self._delete_pods(cluster, [*observed.head_pods, *_flat(observed.workers)],
                                    reason="suspended")
        else:
            groups = spec.worker_group_specs or []
            try:
                await self._ensure_service(observed)
                await self._reconcile_head(observed)
                for index, group in enumerate(groups):
                    await self._reconcile_group(observed, group, index)
            except TerminalError as refused:  # no valid child from this spec: say so, once
                await self.status.reject(cluster, [str(refused)], {"state": "failed"})
                return Result()
            known = {g.group_name for g in groups}
            orphans = [p for name, pods in observed.workers.items() if name not in known
                       for p in pods]
            await self._delete_pods(cluster, orphans, reason="group removed from spec")
        await self._write_status(self._observe(cluster, spec))
        return Result()

    # -- reading -------------------------------------------------------------------------------

    def _observe(self, cluster: Obj, spec: RayClusterSpec) -> _Observed:
        meta = cluster["metadata"]
        # Through the owner index, not a label scan of every pod in the namespace (quadratic
        # with thousands of clusters); sorted, as a list would be, so runs replay exactly.
        pods = sorted((
            p for p in self.cache.owned_by(POD, meta["uid"])
            if (p["metadata"].get("labels") or {}).get(LABEL_CLUSTER) == meta["name"]
            and controlled_by(p, meta["uid"]) and not p["metadata"].get("deletionTimestamp")
        ), key=lambda p: str(p["metadata"]["name"]))
        head = [p for p in pods if p["metadata"]["labels"].get(LABEL_NODE_TYPE) == "head"]
        workers: dict[str, list[Obj]] = {}
        for p in pods:
            if p["metadata"]["labels"].get(LABEL_NODE_TYPE) == "worker":
                workers.setdefault(p["metadata"]["labels"].get(LABEL_GROUP, ""), []).append(p)
        service = self.cache.get(SERVICE, head_service_name(meta["name"]),
                                 namespace=meta["namespace"])
        return _Observed(cluster, spec, _by_age(head), {k: _by_age(v) for k, v in workers.items()},
                         service)

    # -- acting --------------------------------------------------------------------------------

    async def _ensure_service(self, observed: _Observed) -> None:
        if observed.service is not None:
            return
        try:
            created = await self._create_built(
                SERVICE, lambda: build_head_service(observed.cluster, observed.spec),
                "spec.headGroupSpec")
        except AlreadyExists:
            return
        self.events.normal(observed.cluster, "CreatedService",
                           f"Created head Service {created['metadata']['name']}")

    async def _reconcile_head(self, observed: _Observed) -> None:
        failed = [p for p in observed.head_pods if pod_failed(p)]
        await self._delete_pods(observed.cluster, failed, reason="failed")
        alive = [p for p in observed.head_pods if not pod_failed(p)]
        if not alive:
            await self._create_pod(
                observed.cluster,
                lambda: build_head_pod(observed.cluster, observed.spec.head_group_spec),
                HEAD_GROUP, "spec.headGroupSpec.template")
        elif len(alive) > 1:
            await self._delete_pods(observed.cluster, alive[1:], reason="extra head")

    async def _reconcile_group(self, observed: _Observed, group: WorkerGroupSpec,
                               index: int) -> None:
        pods = observed.workers.get(group.group_name, [])
        doomed = set((group.scale_strategy.workers_to_delete or []) if group.scale_strategy
                     else [])
        failed = [p for p in pods if pod_failed(p) or p["metadata"]["name"] in doomed]
        await self._delete_pods(observed.cluster, failed, reason="failed or listed in "
                                "scaleStrategy.workersToDelete")
        alive = [p for p in pods if p not in failed]
        want = 0 if group.suspend else desired_replicas(group)
        if len(alive) < want:
            for _ in range(want - len(alive)):
                await self._create_pod(observed.cluster,
                                       lambda: build_worker_pod(observed.cluster, group),
                                       group.group_name, f"spec.workerGroupSpecs[{index}].template")
        elif len(alive) > want:
            # Not-ready pods go first, then the newest: healthy old pods are kept.
            newest_first = sorted(alive, key=_created, reverse=True)
            surplus = sorted(newest_first, key=pod_ready)[: len(alive) - want]
            await self._delete_pods(observed.cluster, surplus, reason="scale down")

    async def _create_pod(self, cluster: Obj, build: Callable[[], Obj], group: str,
                          where: str) -> None:
        created = await self._create_built(POD, build, where)
        self.events.normal(cluster, "CreatedPod",
                           f"Created {group} pod {created['metadata']['name']}")

    async def _create_built(self, kind: Kind, build: Callable[[], Obj], where: str) -> Obj:
        """Build a child from the spec part at ``where`` and create it.

        Raises :class:`~rayop.runtime.errors.TerminalError` naming that part when it cannot
        give a valid one.
        """
        try:
            body = build()
        except _BUILD_ERRORS as err:
            _log.warning("cannot build a child from the spec", field=where, exc_info=True)
            raise TerminalError(f"{where}: rayop cannot build a {kind.kind} from it "
                               f"({type(err).__name__}: {str(err)[:200]})") from err
        try:
            return await self.client.create(kind, body, namespace=body["metadata"]["namespace"])
        except (Invalid, BadRequest) as err:  # 400: a wrong type in a typed field of the pod
            raise TerminalError(f"{where}: the API server refused the {kind.kind} built from it: "
                               f"{err.message[:1000]}") from err

    async def _delete_pods(self, cluster: Obj, pods: list[Obj], *, reason: str) -> None:
        for pod in pods:
            name = pod["metadata"]["name"]
            try:
                await self.client.delete(POD, name, namespace=pod["metadata"]["namespace"])
            except NotFound:
                continue
            self.events.normal(cluster, "DeletedPod", f"Deleted pod {name} ({reason})")

    # -- status --------------------------------------------------------------------------------

    async def _write_status(self, observed: _Observed) -> None:
        cluster = observed.cluster
        status = cluster_status(
            cluster, observed.spec, observed.head_pods, observed.workers, observed.service,
            now=self.clock.now(),
        )
        try:
            if not await self.status.write(cluster, RayClusterStatus.model_validate(status)):
                return
        except NotFound:
            meta = cluster["metadata"]
            self._gone[(meta["namespace"], meta["name"])] = meta.get("uid", "")
            return  # deleted: the watch will say so; until then, leave it alone
        old_state = (cluster.get("status") or {}).get("state")
        if status.get("state") != old_state and status.get("state"):
            self.events.normal(cluster, "StateChanged", f"RayCluster is {status['state']}")
        if status.get("reason") != (cluster.get("status") or {}).get("reason"):
            # a pod that cannot start is said on the RayCluster too, where its owner looks
            # (KubeRay leaves it to the kubelet's events on the pod)
            pods = [*observed.head_pods, *_flat(observed.workers)]
            if failures := [f for p in pods if (f := pod_start_failure(p))]:
                self.events.warning(cluster, "PodStartFailed", "; ".join(failures))


def _created(pod: Obj) -> tuple[str, str]:
    meta = pod["metadata"]
    return (meta.get("creationTimestamp") or "", meta["name"])


def _by_age(pods: list[Obj]) -> list[Obj]:
    return sorted(pods, key=_created)


def _flat(groups: dict[str, list[Obj]]) -> list[Obj]:
    return [p for pods in groups.values() for p in pods]
