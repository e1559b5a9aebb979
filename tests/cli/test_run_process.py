"""`rayop run` as a process against an API server: kubeconfig, endpoints, leader lease, SIGTERM.

The API server is the fake cluster's REST front (TLS, bearer token) on 127.0.0.1, in this test's
event loop with the kubelet simulator; `rayop run` is a real subprocess that finds it through a
kubeconfig given as ``RAYOP_KUBECONFIG``. It reconciles a RayCluster to ready, serves metrics and
probes, holds the lease, and on SIGTERM drains, releases the lease and exits 0. Waits poll with a
bound; nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from polling import eventually

from rayop.cli.main import build_parser
from rayop.fakes.apiserver import ApiServer
from rayop.fakes.cluster import FakeCluster
from rayop.fakes.kubelet import KubeletSimulator
from rayop.ray.crds import generate_crds
from rayop.ray.fakes import with_ray_kinds
from rayop.ray.kinds import RAYCLUSTER
from rayop.runtime.client import LEASE, NAMESPACE, Obj
from rayop.runtime.clock import RealClock

ROOT = Path(__file__).resolve().parents[2]
CLUSTER: Obj = {
    "apiVersion": "ray.io/v1", "kind": "RayCluster",
    "metadata": {"name": "demo", "namespace": "default"},
    "spec": {"headGroupSpec": {"template": {"spec": {"containers": [
        {"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}},
        "workerGroupSpecs": [{"groupName": "w", "replicas": 2, "template": {"spec": {
            "containers": [{"name": "ray-worker", "image": "rayproject/ray:2.9.0"}]}}}]},
}


async def test_rayop_run_reconciles_serves_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    clock = RealClock()
    cluster = with_ray_kinds(FakeCluster(clock=clock))
    await cluster.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": "ops"}})
    kubelet = KubeletSimulator(cluster, clock=clock, schedule_delay=0.05, start_delay=0.1,
                               ready_delay=0.05)
    async with ApiServer(cluster, crds=generate_crds()) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        await kubelet.start()
        env = {**os.environ, "RAYOP_KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1",
               "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", "RAYOP_LOG_FORMAT": "json",
               "RAYOP_LEADER_ELECT": "true", "RAYOP_LEADER_ELECTION_NAMESPACE": "ops"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rayop.cli.main", "run", "--controllers=raycluster",
            "--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0",
            "--graceful-shutdown-timeout=5", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            assert proc.stderr is not None
            lines: list[str] = []

            async def endpoints_line() -> re.Match[str] | None:
                line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()  # type: ignore[union-attr]
                lines.append(line)
                assert line, "".join(lines)
                return re.search(r'"metrics": "127\.0\.0\.1:(\d+)", "probes": '
                                 r'"127\.0\.0\.1:(\d+)"', line)

            found = None
            while found is None:
                found = await endpoints_line()
            metrics, probes = (f"http://127.0.0.1:{p}" for p in found.groups())
            await cluster.create(RAYCLUSTER, CLUSTER, namespace="default")

            async def ready() -> bool:
                obj = await cluster.get(RAYCLUSTER, "demo", namespace="default")
                return bool((obj.get("status") or {}).get("state") == "ready")

            await eventually(ready, within=30.0, every=0.05,
                             failure=lambda: "rayop run did not reconcile in 30 s")
            async with aiohttp.ClientSession() as http:
                async with http.get(probes + "/readyz") as answer:
                    assert answer.status == 200
                async with http.get(probes + "/healthz") as answer:
                    assert answer.status == 200
                async with http.get(metrics + "/metrics") as answer:
                    text = await answer.text()
            assert re.search(r'controller_runtime_reconcile_total\{controller="raycluster",'
                             r'result="success"\} [1-9]', text)
            lease = await cluster.get(LEASE, "rayop-leader", namespace="ops")
            assert lease["spec"]["holderIdentity"]  # held by the process

            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 10)  # drain bound 5 s, plus start-up slack
            rest = (await proc.stderr.read()).decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await kubelet.stop()
    assert code == 0, rest
    assert '"exiting: stopped cleanly"' in rest
    lease = await cluster.get(LEASE, "rayop-leader", namespace="ops")
    assert lease["spec"]["holderIdentity"] == ""  # released: a successor takes over at once


async def test_proxy_dashboard_access_goes_through_the_api_server_with_its_tls_and_token(
    tmp_path: Path,
) -> None:
    """`--dashboard-access proxy`: the dashboard is asked through the API server's service
    proxy, on the kube client's TLS session (the kubeconfig's CA) with its bearer token."""
    from rayop.cli.run import dashboards_for
    from rayop.kube import KubeClient
    from rayop.ray.dashboard import DashboardError

    cluster = FakeCluster(clock=RealClock())
    async with ApiServer(cluster, crds=generate_crds()) as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
        before = server.requests
        async with await KubeClient.from_kubeconfig(path) as client:
            dashboards = dashboards_for(client, "proxy")
            dashboard = dashboards.for_cluster("team-a", "demo")
            assert dashboard.address.dashboard_url == (
                f"{client.host}/api/v1/namespaces/team-a/services/demo-head-svc:dashboard/proxy")
            # The front serves no service proxy: its 404 Status proves the request got in
            # (TLS verified against the kubeconfig's CA, the token accepted — not a 401).
            with pytest.raises(DashboardError) as info:
                await dashboard.list_jobs()
            assert info.value.status == 404, info.value
            await dashboards.aclose()
        assert server.requests > before


async def test_in_cluster_configuration_when_there_is_no_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --kubeconfig, no $KUBECONFIG, no ~/.kube/config, KUBERNETES_SERVICE_HOST set: the pod's
    service account is used (its token and CA files, here pointed at the REST front's)."""
    import base64

    from rayop.cli import run as cli_run
    from rayop.kube import KubeClient

    clock = RealClock()
    cluster = with_ray_kinds(FakeCluster(clock=clock))
    kubelet = KubeletSimulator(cluster, clock=clock, schedule_delay=0.05, start_delay=0.1,
                               ready_delay=0.05)
    async with ApiServer(cluster, crds=generate_crds()) as server:
        ca = base64.b64decode(server.kubeconfig()["clusters"][0]["cluster"][
            "certificate-authority-data"])
        (tmp_path / "ca.crt").write_bytes(ca)
        (tmp_path / "token").write_text(server.token)
        for name in ("KUBECONFIG", "RAYOP_KUBECONFIG", "RAYOP_CONTEXT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
        used: list[bool] = []
        original = KubeClient.in_cluster.__func__  # type: ignore[attr-defined]

        async def in_cluster(cls: type[KubeClient], **options: object) -> KubeClient:
            used.append(True)  # the service-account files live elsewhere in a test
            return await original(cls, token_file=str(tmp_path / "token"),  # type: ignore[no-any-return]
                                  ca_file=str(tmp_path / "ca.crt"), **options)

        monkeypatch.setattr(KubeClient, "in_cluster", classmethod(in_cluster))
        await kubelet.start()
        await cluster.create(RAYCLUSTER, CLUSTER, namespace="default")
        args = cli_run.resolve_flags(build_parser().parse_args([
            "run", "--controllers=raycluster", "--metrics-bind-address=0",
            "--health-probe-bind-address=0"]), {})

        async def stop_when_ready() -> None:
            async def ready() -> bool:
                obj = await cluster.get(RAYCLUSTER, "demo", namespace="default")
                return bool((obj.get("status") or {}).get("state") == "ready")

            await eventually(ready, within=30.0, every=0.05,
                             failure=lambda: "rayop run did not reconcile in 30 s")
            os.kill(os.getpid(), signal.SIGTERM)

        stopper = asyncio.ensure_future(stop_when_ready())
        code = await cli_run._run(args)  # what `rayop run` runs, after parsing
        await stopper
        await kubelet.stop()
    assert used == [True] and code == 0
