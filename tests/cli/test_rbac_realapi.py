"""The generated RBAC on a real kube-apiserver: rayop, as its ServiceAccount, is never denied.

`rayop manifests`' Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding and leader-election
Role are created on the real API server (RBAC authorization on); the manager then runs with a token
of that ServiceAccount — not the admin's — while the kubelet simulator (standing in for the
kubelet, with the admin token) runs the pods. A RayJob and a RayService go from creation to
Succeeded / RUNNING and are deleted; no request of the operator is answered 403. Runs in the real
API server tier (``RAYOP_REALAPI``), skipped naming the missing binaries otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import ssl
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from polling import eventually

from rayop.fakes.kubelet import KubeletSimulator
from rayop.kube import KubeClient
from rayop.operator.controllers import OperatorOptions, add_ray_controllers
from rayop.operator.manifests import ManifestOptions, build_manifests
from rayop.ray.fakes.dashboard import FakeDashboards
from rayop.ray.fakes.dashboard_state import AppScript, JobScript
from rayop.ray.kinds import RAYJOB, RAYSERVICE
from rayop.runtime.client import NAMESPACE, ClusterClient, Kind, Obj
from rayop.runtime.clock import RealClock
from rayop.runtime.errors import ApiError, Forbidden, NotFound
from rayop.runtime.leader import LeaderElectionConfig
from rayop.runtime.manager import Manager, ManagerOptions

pytest.importorskip("realapi.fixtures")
from realapi.cluster import RealApiServer

ROOT = Path(__file__).resolve().parents[2]
KINDS = {
    "Namespace": NAMESPACE,
    "ServiceAccount": Kind("", "v1", "ServiceAccount", "serviceaccounts"),
    "ClusterRole": Kind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles",
                        namespaced=False),
    "ClusterRoleBinding": Kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding",
                               "clusterrolebindings", namespaced=False),
    "Role": Kind("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    "RoleBinding": Kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
}


class DenialRecorder:
    """Passes every call on; remembers each one the API server answered 403."""

    def __init__(self, inner: ClusterClient) -> None:
        self.inner = inner
        self.denied: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name == "watch":
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except Forbidden as err:
                # A namespace being deleted (another test's, on the shared server) refuses new
                # content with a 403 too; that is no RBAC denial.
                if "because it is being terminated" not in str(err):
                    self.denied.append(f"{name} {args[0]}: {err}")
                raise

        return call


def service_account_token(server: RealApiServer, namespace: str, name: str) -> str:
    request = urllib.request.Request(
        f"{server.url}/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        data=json.dumps({"spec": {"expirationSeconds": 3600}}).encode(), method="POST",
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:
        return str(json.loads(answer.read())["status"]["token"])


def kubeconfig(server: RealApiServer, token: str, path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "real", "cluster": {"server": server.url,
                                                  "certificate-authority": str(server.ca_file)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "real", "user": "sa"}}],
    }))
    return path


def example(name: str, namespace: str) -> Obj:
    obj: Obj = copy.deepcopy(yaml.safe_load((ROOT / "examples" / "manifests" / name).read_text()))
    obj["metadata"]["namespace"] = namespace
    return obj


async def test_the_operator_as_its_service_account_is_never_denied(
    real_apiserver: RealApiServer, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    opts = ManifestOptions(namespace=f"rayop-sa-{suffix}", name=f"rayop-sa-{suffix}")
    work = f"rbac-work-{suffix}"
    clock = RealClock()
    admin = await KubeClient.from_kubeconfig(real_apiserver.kubeconfig)
    operator_client: KubeClient | None = None
    kubelet: KubeletSimulator | None = None
    try:
        await admin.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": work}})
        for obj in build_manifests(opts):
            if obj["kind"] in KINDS:
                await admin.create(KINDS[obj["kind"]], obj,
                                   namespace=obj["metadata"].get("namespace"))
        token = service_account_token(real_apiserver, opts.namespace, opts.name)
        operator_client = await KubeClient.from_kubeconfig(
            kubeconfig(real_apiserver, token, tmp_path / "sa-kubeconfig"))
        with pytest.raises(Forbidden):  # the token really is the ServiceAccount's, not admin's
            await operator_client.get(NAMESPACE, work)

        dashboards = FakeDashboards(clock=clock, seed=5, alive=False,
                                    default_job=JobScript(pending=0.1, running=0.2),
                                    default_app=AppScript(deploying=0.3), stop_delay=0.1,
                                    delete_delay=0.1)
        kubelet = KubeletSimulator(admin, clock=clock, schedule_delay=0.05, start_delay=0.1,
                                   ready_delay=0.05, namespace=work)
        kubelet.on_pod_change(dashboards.observe_pod)
        await kubelet.start()
        recorder = DenialRecorder(operator_client)
        election = LeaderElectionConfig(name=f"{opts.name}-leader", namespace=opts.namespace,
                                        identity="rbac-test")
        manager = Manager(recorder, clock=clock, options=ManagerOptions(
            leader_election=election, graceful_shutdown_timeout=5.0, sync_timeout=30.0))
        add_ray_controllers(manager, dashboards, options=OperatorOptions(
            seed=5, job_poll_interval=0.1, service_poll_interval=0.1))
        task = asyncio.ensure_future(manager.run())
        job = example("rayjob-sample.yaml", work)
        job["spec"]["ttlSecondsAfterFinished"] = 0
        await admin.create(RAYJOB, job, namespace=work)
        await admin.create(RAYSERVICE, example("rayservice-sample.yaml", work), namespace=work)

        async def status(kind: Kind, name: str) -> Obj:
            try:
                return dict((await admin.get(kind, name, namespace=work)).get("status") or {})
            except NotFound:
                return {}

        def denied() -> str:
            return f"not reached in 60 s; denied: {recorder.denied}"

        async def settled() -> bool:
            assert not task.done(), task
            return ((await status(RAYJOB, "rayjob-sample")).get("status") == "Succeeded"
                    and (await status(RAYSERVICE, "rayservice-sample")).get("status")
                    == "RUNNING")

        await eventually(settled, within=60.0, every=0.1, failure=denied)
        for kind, name in ((RAYJOB, "rayjob-sample"), (RAYSERVICE, "rayservice-sample")):
            await admin.delete(kind, name, namespace=work)

        async def gone() -> bool:
            assert not task.done(), task
            return not (await status(RAYJOB, "rayjob-sample")) and not (
                await status(RAYSERVICE, "rayservice-sample"))

        await eventually(gone, within=60.0, every=0.1, failure=denied)
        await manager.events.flush()
        manager.request_stop()
        await task
        assert recorder.denied == []
    finally:
        if kubelet is not None:
            await kubelet.stop()
        for ns in (work, opts.namespace):
            with contextlib.suppress(ApiError):
                await admin.delete(NAMESPACE, ns)
        for role_kind in ("ClusterRoleBinding", "ClusterRole"):
            with contextlib.suppress(ApiError):
                await admin.delete(KINDS[role_kind], opts.name)
        if operator_client is not None:
            await operator_client.close()
        await admin.close()
