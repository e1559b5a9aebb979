"""The invariants a simulation checks, during the run and after it.

During the run, a :class:`Monitor` sees every committed version of every RayJob, RayService,
RayCluster and Endpoints (straight from the fake cluster, untouched by faults) and flags:

- ``status-value``: a status field outside the documented values (docs/rayjob.md,
  docs/rayservice.md, DESIGN.md §3);
- ``serving``: a RayService's serve Service lost its last ready endpoint after it first had one
  (upgrades included), while the RayService was neither suspended nor being deleted.

The links flag ``write-after-lease-loss``; the simulation flags ``unhandled`` (an exception no one
retrieved, a manager task that died of something other than a lost lease).

After the run, :func:`check_world` looks at the world as it is:

- ``converge``: every RayJob terminal (its own cluster gone once it finished, if it asked for
  that), every RayService RUNNING with only its active cluster left, every RayCluster ready,
  each with ``observedGeneration == generation``;
- ``exactly-once``: no RayCluster's Ray head accepted two different submission ids, nor one id
  in two of its lives (a restarted head is a new Ray: the job would run again), and every
  RayJob that completed had its job accepted by its cluster's head;
- ``orphan``: every RayCluster, Pod and Service that belongs to rayop's objects has a live owner.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayop.fakes.kubelet import ready_endpoints
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import ENDPOINTS, POD, SERVICE, Obj

if TYPE_CHECKING:
    from rayop.testing.simulation import Simulation

__all__ = ["DOCUMENTED", "Monitor", "Violation", "check_world"]

DOCUMENTED: dict[str, dict[str, frozenset[Any]]] = {
    "RayJob": {
        "status": frozenset({None, "Pending", "Running", "Succeeded", "Failed", "Stopped",
                             "Suspended"}),
        "jobDeploymentStatus": frozenset({None, "", "Initializing", "Running", "Complete",
                                          "Failed", "Suspending", "Suspended", "Retrying",
                                          "Waiting", "ValidationFailed"}),
        "jobStatus": frozenset({None, "", "PENDING", "RUNNING", "STOPPED", "SUCCEEDED",
                                "FAILED"}),
    },
    "RayService": {
        "status": frozenset({None, "DEPLOYING", "RUNNING", "UNHEALTHY", "FAILED", "SUSPENDED"}),
        "serviceStatus": frozenset({None, "", "Running"}),
    },
    "RayCluster": {
        "state": frozenset({None, "ready", "suspended", "failed"}),
    },
}
"""Every status field the monitor checks, and the values the docs allow for it."""

_TERMINAL_JOB = frozenset({"Complete", "Failed", "ValidationFailed"})


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant: which, what exactly, and when (virtual seconds)."""

    invariant: str
    message: str
    at: float


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _slim(obj: Obj) -> Obj:
    """What the checks need of an object: metadata, status, and a few spec fields."""
    spec = obj.get("spec") or {}
    return {
        "metadata": obj.get("metadata") or {},
        "status": obj.get("status") or {},
        "spec": {k: spec.get(k) for k in ("suspend", "shutdownAfterJobFinishes",
                                          "clusterSelector", "submissionMode", "serveService")
                 if k in spec},
    }


class Monitor:
    """Watches every committed version of the objects the invariants are about."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.latest: dict[str, dict[tuple[str, str], Obj]] = {
            "RayJob": {}, "RayService": {}, "RayCluster": {}}
        self.open_jobs: set[tuple[str, str]] = set()
        self.versions = 0
        self._serve_svc: dict[tuple[str, str], tuple[str, str]] = {}
        self._serving: set[tuple[str, str]] = set()
        self._exempt: set[tuple[str, str]] = set()

    def attach(self) -> None:
        """Start listening to the simulation's fake cluster."""
        self.sim.cluster.on_change(self._on_change,
                                   kinds=(RAYJOB, RAYSERVICE, RAYCLUSTER, ENDPOINTS))

    def _on_change(self, type_: str, obj: Obj) -> None:
        self.versions += 1
        kind = str(obj.get("kind") or "")
        key = _key(obj)
        if kind == "Endpoints":
            self._endpoints(type_, key, obj)
            return
        self._check_values(kind, key, obj)
        latest = self.latest.get(kind)
        if latest is None:
            return
        if type_ == "DELETED":
            latest.pop(key, None)
        else:
            latest[key] = _slim(obj)
        if kind == "RayJob":
            self._track_job(type_, key, obj)
        elif kind == "RayService":
            self._track_service(type_, key, obj)

    def _check_values(self, kind: str, key: tuple[str, str], obj: Obj) -> None:
        status = obj.get("status") or {}
        for field_name, allowed in DOCUMENTED.get(kind, {}).items():
            value = status.get(field_name)
            if value not in allowed:
                self.sim.violate("status-value", f"{kind} {key[0]}/{key[1]} has status."
                                 f"{field_name} = {value!r}, not a documented value")

    def _track_job(self, type_: str, key: tuple[str, str], obj: Obj) -> None:
        phase = (obj.get("status") or {}).get("jobDeploymentStatus")
        if type_ == "DELETED" or phase in _TERMINAL_JOB:
            self.open_jobs.discard(key)
        else:
            self.open_jobs.add(key)

    def _track_service(self, type_: str, key: tuple[str, str], obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        svc_meta = ((spec.get("serveService") or {}).get("metadata") or {})
        svc_name = str(svc_meta.get("name") or f"{key[1]}-serve-svc")
        self._serve_svc[(key[0], svc_name)] = key
        if type_ == "DELETED" or meta.get("deletionTimestamp") or spec.get("suspend"):
            self._exempt.add(key)
        else:
            self._exempt.discard(key)

    def _endpoints(self, type_: str, key: tuple[str, str], obj: Obj) -> None:
        service = self._serve_svc.get(key)
        if service is None:
            return
        ready = [] if type_ == "DELETED" else ready_endpoints(obj)
        if ready:
            self._serving.add(service)
        elif service in self._serving and service not in self._exempt:
            self._serving.discard(service)  # report each outage once
            self.sim.violate("serving", f"RayService {service[0]}/{service[1]} stopped serving: "
                             f"its serve Service has no ready endpoint ({type_} Endpoints)")


def check_world(sim: Simulation, *, final: bool) -> list[Violation]:
    """The invariants about the world as it is now (see the module docstring)."""
    now = sim.clock.monotonic()
    found = [Violation("converge", text, now) for text in _unconverged(sim)]
    if final:
        found += [Violation("exactly-once", text, now) for text in _exactly_once(sim)]
        found += [Violation("orphan", text, now) for text in _orphans(sim)]
    return found


def _observed(obj: Obj) -> bool:
    return bool(obj["status"].get("observedGeneration") == obj["metadata"].get("generation"))


def _unconverged(sim: Simulation) -> list[str]:
    latest = sim.monitor.latest
    out: list[str] = []
    clusters_by_owner: dict[str, list[str]] = defaultdict(list)
    for (ns, name), cluster in latest["RayCluster"].items():
        for ref in cluster["metadata"].get("ownerReferences") or []:
            clusters_by_owner[str(ref.get("uid"))].append(name)
        if cluster["metadata"].get("deletionTimestamp"):
            continue
        if not _observed(cluster) or cluster["status"].get("state") not in ("ready", "suspended"):
            out.append(f"RayCluster {ns}/{name} not ready/observed: "
                       f"state={cluster['status'].get('state')!r}")
    for (ns, name), job in latest["RayJob"].items():
        status = job["status"]
        phase = status.get("jobDeploymentStatus")
        if phase not in _TERMINAL_JOB or not _observed(job):
            out.append(f"RayJob {ns}/{name} not terminal: {phase!r}")
        elif (phase != "ValidationFailed" and job["spec"].get("shutdownAfterJobFinishes")
              and not job["spec"].get("clusterSelector")
              and clusters_by_owner.get(str(job["metadata"].get("uid")))):
            out.append(f"RayJob {ns}/{name} finished but its cluster is still there")
    for (ns, name), svc in latest["RayService"].items():
        status = svc["status"]
        if svc["spec"].get("suspend"):
            continue
        owned = sorted(clusters_by_owner.get(str(svc["metadata"].get("uid")), []))
        if status.get("status") != "RUNNING" or not _observed(svc):
            out.append(f"RayService {ns}/{name} not RUNNING: {status.get('status')!r}")
        elif owned != [status.get("rayClusterName")]:
            out.append(f"RayService {ns}/{name} still has clusters {owned}, "
                       f"active {status.get('rayClusterName')!r}")
    return out


def _exactly_once(sim: Simulation) -> list[str]:
    out: list[str] = []
    by_cluster: dict[tuple[str, str], list[str]] = defaultdict(list)
    lives: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for sub in sim.submissions:
        ids = by_cluster[(sub.namespace, sub.cluster)]
        if sub.submission_id not in ids:
            ids.append(sub.submission_id)
        lives[(sub.namespace, sub.cluster, sub.submission_id)].add(sub.incarnation)
    for (ns, cluster), ids in sorted(by_cluster.items()):
        if len(ids) > 1:
            out.append(f"RayCluster {ns}/{cluster} was given {len(ids)} Ray jobs: {ids} "
                       "(a Ray job submitted twice)")
    for (ns, cluster, sid), heads in sorted(lives.items()):
        if len(heads) > 1:  # the same id, but each new Ray head ran it again
            out.append(f"RayCluster {ns}/{cluster}: Ray job {sid!r} was accepted by "
                       f"{len(heads)} lives of its head (the job ran again after a head restart)")
    for (ns, name), job in sorted(sim.monitor.latest["RayJob"].items()):
        status = job["status"]
        if status.get("jobDeploymentStatus") != "Complete" or \
                job["spec"].get("submissionMode") == "InteractiveMode":
            continue
        cluster, sid = status.get("rayClusterName"), status.get("jobId")
        if sid not in by_cluster.get((ns, str(cluster)), []):
            out.append(f"RayJob {ns}/{name} completed, but its Ray job {sid!r} was never "
                       f"accepted by cluster {cluster} (a lost submission)")
    return out


def _orphans(sim: Simulation) -> list[str]:
    owners = {str(o["metadata"]["uid"]) for kind in (RAYJOB, RAYSERVICE)
              for o in sim.objects(kind)}
    clusters = {str(o["metadata"]["uid"]): o for o in sim.objects(RAYCLUSTER)}
    out: list[str] = []
    for cluster in clusters.values():
        meta = cluster["metadata"]
        refs = meta.get("ownerReferences") or []
        labels = meta.get("labels") or {}
        if labels.get("ray.io/originated-from-crd") and not refs:
            out.append(f"RayCluster {meta['namespace']}/{meta['name']} has no owner")
        if refs and not any(str(r.get("uid")) in owners for r in refs):
            out.append(f"RayCluster {meta['namespace']}/{meta['name']}'s owner is gone")
    for kind, allowed in ((POD, set(clusters)), (SERVICE, set(clusters) | owners)):
        for obj in sim.objects(kind):
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            ray_owned = "ray.io/cluster" in (meta.get("labels") or {})
            if (ray_owned and not refs) or (refs and not any(str(r.get("uid")) in allowed
                                                              for r in refs)):
                out.append(f"{kind.kind} {meta['namespace']}/{meta['name']} has no live owner")
    return out
