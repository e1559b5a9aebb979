"""The generated RBAC grants exactly what the controllers do: every call recorded, nothing more.

The manager's client is wrapped to record every (verb, group, resource) rayop's controllers and
leader election send while RayClusters, RayJobs and RayServices go through their lives on the fake
cluster: create, ready, scale, job success and failure, suspend and resume, a Serve upgrade on a
new cluster, invalid objects, deletion with finalizers. The union must equal what the generated
roles grant. ``blockOwnerDeletion`` owner references add ``<owner>/finalizers: update`` (the API
server's OwnerReferencesPermissionEnforcement admission asks for it; the fake cannot).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.cli.documents import read_documents
from rayop.fakes.cluster import FakeCluster
from rayop.fakes.kubelet import KubeletSimulator
from rayop.operator.controllers import add_ray_controllers
from rayop.operator.manifests import (
    LEADER_ELECTION_RULES,
    RECONCILE_RULES,
    ManifestOptions,
    build_manifests,
    granted,
)
from rayop.ray.fakes import with_ray_kinds
from rayop.ray.fakes.dashboard import FakeDashboards
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import (
    NAMESPACE,
    SERVICE,
    ClusterClient,
    Kind,
    ListResult,
    Obj,
    WatchEvent,
)
from rayop.runtime.clock import VirtualClock
from rayop.runtime.errors import NotFound
from rayop.runtime.leader import LeaderElectionConfig
from rayop.runtime.manager import Manager, ManagerOptions

ROOT = Path(__file__).resolve().parents[2]
RAY_KINDS = {k.kind: k for k in (RAYCLUSTER, RAYJOB, RAYSERVICE)}
Grant = tuple[str, str, str]


class RecordingClient:
    """A ClusterClient that records each request as RBAC sees it, then passes it on."""

    def __init__(self, inner: ClusterClient) -> None:
        self.inner = inner
        self.grants: set[Grant] = set()
        self.namespaces: dict[Grant, set[str | None]] = {}

    def _note(self, verb: str, kind: Kind, namespace: str | None, sub: str = "") -> None:
        grant = (verb, kind.group, kind.plural + (f"/{sub}" if sub else ""))
        self.grants.add(grant)
        self.namespaces.setdefault(grant, set()).add(namespace)

    def _note_owners(self, obj: Obj, namespace: str | None) -> None:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            owner = RAY_KINDS.get(ref.get("kind"))
            if ref.get("blockOwnerDeletion") and owner is not None:
                self._note("update", owner, namespace, "finalizers")

    async def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> Obj:
        self._note("get", kind, namespace)
        return await self.inner.get(kind, name, namespace=namespace)

    async def list(self, kind: Kind, **options: Any) -> ListResult:
        self._note("list", kind, options.get("namespace"))
        return await self.inner.list(kind, **options)

    def watch(self, kind: Kind, **options: Any) -> AsyncIterator[WatchEvent]:
        self._note("watch", kind, options.get("namespace"))
        return self.inner.watch(kind, **options)

    async def create(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        self._note("create", kind, namespace)
        self._note_owners(obj, namespace)
        return await self.inner.create(kind, obj, namespace=namespace)

    async def replace(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        self._note("update", kind, namespace)
        self._note_owners(obj, namespace)
        return await self.inner.replace(kind, obj, namespace=namespace)

    async def patch(self, kind: Kind, name: str, patch: Any, **options: Any) -> Obj:
        self._note("patch", kind, options.get("namespace"))
        return await self.inner.patch(kind, name, patch, **options)

    async def replace_status(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        self._note("update", kind, namespace, "status")
        return await self.inner.replace_status(kind, obj, namespace=namespace)

    async def patch_status(self, kind: Kind, name: str, patch: Any, **options: Any) -> Obj:
        self._note("patch", kind, options.get("namespace"), "status")
        return await self.inner.patch_status(kind, name, patch, **options)

    async def delete(self, kind: Kind, name: str, **options: Any) -> Obj | None:
        self._note("delete", kind, options.get("namespace"))
        return await self.inner.delete(kind, name, **options)


def manifests(namespace: str) -> list[tuple[Kind, Obj]]:
    out = []
    for path in sorted((ROOT / "examples" / "manifests").glob("*.yaml")):
        for doc in read_documents(path):
            doc = copy.deepcopy(doc)
            doc["metadata"]["namespace"] = namespace
            out.append((RAY_KINDS[doc["kind"]], doc))
    seed = json.loads((ROOT / "examples" / "seeds" / "rayservice-example.json").read_text())
    seed["metadata"] = {**seed.get("metadata", {}), "namespace": namespace}
    out.append((RAYSERVICE, seed))  # invalid: a FAILED status and a Warning event
    return out


async def lifecycle(namespaces: tuple[str, ...], watch: str) -> RecordingClient:
    """Drive the examples through their lives in ``watch``; return what the manager sent."""
    clock = VirtualClock(auto_advance=True)
    cluster = with_ray_kinds(FakeCluster(clock=clock, seed=11))
    kubelet = KubeletSimulator(cluster, clock=clock)
    dashboards = FakeDashboards(clock=clock, seed=11, alive=False)
    kubelet.on_pod_change(dashboards.observe_pod)
    for ns in {watch, "rayop-system", *namespaces}:
        await cluster.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns}})
    recorder = RecordingClient(cluster)
    election = LeaderElectionConfig(name="rayop-leader", namespace="rayop-system",
                                    identity="test")
    manager = Manager(recorder, clock=clock, options=ManagerOptions(
        namespaces=namespaces, leader_election=election))
    add_ray_controllers(manager, dashboards)
    await kubelet.start()
    task = asyncio.ensure_future(manager.run())

    async def until(check: Callable[[], bool], limit: float = 900.0) -> None:
        start = clock.monotonic()
        while not check():
            assert not task.done(), task.exception()
            assert clock.monotonic() - start < limit, "not reached in virtual time"
            await clock.sleep(1.0)

    def status(kind: Kind, name: str) -> Obj:
        for obj in cluster.objects(kind):
            if obj["metadata"]["name"] == name and obj["metadata"]["namespace"] == watch:
                return dict(obj.get("status") or {})
        return {}

    for kind, obj in manifests(watch):
        await cluster.create(kind, obj, namespace=watch)
    await until(lambda: status(RAYSERVICE, "rayservice-sample").get("status") == "RUNNING"
                and status(RAYJOB, "rayjob-sample").get("status") == "Succeeded"
                and status(RAYJOB, "rayjob-on-sample-cluster").get("status") == "Succeeded")

    # scale the standalone cluster, suspend a job, upgrade a RayService on a new cluster
    rc = await cluster.get(RAYCLUSTER, "raycluster-sample", namespace=watch)
    rc["spec"]["workerGroupSpecs"][0]["replicas"] = 1
    await cluster.replace(RAYCLUSTER, rc, namespace=watch)
    suspended = yaml.safe_load((ROOT / "examples/manifests/rayjob-sample.yaml").read_text())
    suspended["metadata"] = {"name": "rayjob-suspended", "namespace": watch}
    suspended["spec"]["suspend"] = True
    await cluster.create(RAYJOB, suspended, namespace=watch)
    svc = await cluster.get(RAYSERVICE, "rayservice-sample", namespace=watch)
    head = svc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["image"] = "rayproject/ray:2.9.3"
    await cluster.replace(RAYSERVICE, svc, namespace=watch)
    await until(lambda: status(RAYSERVICE, "rayservice-sample").get("status") == "RUNNING"
                and status(RAYJOB, "rayjob-suspended").get("status") == "Suspended"
                and len(cluster.objects(RAYCLUSTER)) <= 4)

    # a worker group appended: the serving cluster is updated in place
    graph = await cluster.get(RAYSERVICE, "rayservice-graph", namespace=watch)
    groups = graph["spec"]["rayClusterConfig"].setdefault("workerGroupSpecs", [])
    groups.append({"groupName": "extra", "replicas": 1, "rayStartParams": {},
                   "template": {"spec": {"containers": [
                       {"name": "ray-worker", "image": "rayproject/ray:2.9.0"}]}}})
    await cluster.replace(RAYSERVICE, graph, namespace=watch)
    # a head Service lost twice: the same Event again is a count bump (a patch)
    for _ in range(2):
        await cluster.delete(SERVICE, "raycluster-sample-head-svc", namespace=watch)
        await until(lambda: any(s["metadata"]["name"] == "raycluster-sample-head-svc"
                                and not s["metadata"].get("deletionTimestamp")
                                for s in cluster.objects(SERVICE)))
        await manager.events.flush()
    await until(lambda: any(g.get("groupName") == "extra"
                            for c in cluster.objects(RAYCLUSTER)
                            if c["metadata"]["name"].startswith("rayservice-graph")
                            for g in c["spec"].get("workerGroupSpecs") or []))
    job = await cluster.get(RAYJOB, "rayjob-suspended", namespace=watch)
    job["spec"]["suspend"] = False
    await cluster.replace(RAYJOB, job, namespace=watch)
    await until(lambda: status(RAYJOB, "rayjob-suspended").get("status") == "Succeeded")

    # delete everything; finalizers are removed by the controllers
    for kind in (RAYJOB, RAYSERVICE, RAYCLUSTER):
        for obj in cluster.objects(kind):
            if obj["metadata"]["namespace"] == watch and not obj["metadata"].get(
                    "ownerReferences"):
                with contextlib.suppress(NotFound):
                    await cluster.delete(kind, obj["metadata"]["name"], namespace=watch)
    await until(lambda: not any(o["metadata"]["namespace"] == watch
                                for k in RAY_KINDS.values() for o in cluster.objects(k)))
    await manager.events.flush()
    manager.request_stop()
    await task
    await kubelet.stop()
    await clock.aclose()
    return recorder


@pytest.mark.parametrize("namespaces", [(), ("team-a",), ("team-a", "team-b")],
                         ids=["all-namespaces", "one-namespace", "two-namespaces"])
async def test_generated_rbac_grants_exactly_the_calls_made(namespaces: tuple[str, ...]) -> None:
    recorder = await lifecycle(namespaces, "team-a")
    allowed = granted(RECONCILE_RULES + LEADER_ELECTION_RULES)
    assert recorder.grants - allowed == set(), "calls the role does not allow"
    assert allowed - recorder.grants == set(), "permissions no controller used"
    lease_calls = {g for g in recorder.grants if g[2] == "leases"}
    assert lease_calls == granted(LEADER_ELECTION_RULES)
    for grant in lease_calls:
        assert recorder.namespaces[grant] == {"rayop-system"}  # the leader-election Role's
    if namespaces:
        # a namespaced install never asks for anything cluster-wide: a Role is enough
        for grant, seen in recorder.namespaces.items():
            assert None not in seen, grant


def test_roles_in_the_manifests_are_these_rules() -> None:
    rules = [r.to_obj() for r in RECONCILE_RULES]
    objs = {(o["kind"], o["metadata"].get("namespace")): o for o in build_manifests()}
    assert objs[("ClusterRole", None)]["rules"] == rules
    assert objs[("Role", "rayop-system")]["rules"] == [r.to_obj() for r in LEADER_ELECTION_RULES]
    namespaced = build_manifests(ManifestOptions(watch_namespaces=("team-a", "team-b")))
    kinds = [(o["kind"], o["metadata"].get("namespace")) for o in namespaced]
    assert ("ClusterRole", None) not in kinds and ("ClusterRoleBinding", None) not in kinds
    for ns in ("team-a", "team-b"):
        role = next(o for o in namespaced if (o["kind"], o["metadata"].get("namespace")) == (
            "Role", ns))
        assert role["rules"] == rules
        assert ("RoleBinding", ns) in kinds
