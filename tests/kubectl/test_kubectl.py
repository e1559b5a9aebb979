"""kubectl, an independent client, against rayop dev's cluster over the Kubernetes API.

What a user of ``rayop dev --write-kubeconfig`` does: apply the examples, look at them with the
CRDs' printer columns, wait for a RayJob, watch changes, describe, delete with cascade — and get
kubectl's own error messages for what the server refuses.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import yaml
from kubectl_tool import KUBECTL, Kubectl

from rayop.ray.kinds import RAYCLUSTER
from rayop.runtime.client import POD, SERVICE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"
CRDS = Path(__file__).resolve().parents[2] / "deploy" / "crds"


async def test_apply_get_wait_describe_delete(kubectl: Kubectl) -> None:
    _, out, _ = await kubectl.run("apply", "-f", str(CRDS))  # as an install would, first
    assert out.split("\n")[0] == (
        "customresourcedefinition.apiextensions.k8s.io/rayclusters.ray.io created")
    _, out, _ = await kubectl.run("get", "crd", "-o", "name")
    assert len(out.split()) == 3
    _, out, _ = await kubectl.run("apply", "-f", str(EXAMPLES))
    created = sorted(line.split()[0] for line in out.splitlines())
    assert created == ["raycluster.ray.io/raycluster-sample",
                       "rayjob.ray.io/rayjob-on-sample-cluster", "rayjob.ray.io/rayjob-sample",
                       "rayjob.ray.io/rayjob-shutdown", "rayservice.ray.io/rayservice-graph",
                       "rayservice.ray.io/rayservice-sample"]
    _, out, _ = await kubectl.run("get", "rayjobs")
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "JOB", "ID", "CLUSTER", "START",
                                           "END", "AGE"]
    await kubectl.wait_jsonpath("rayjob/rayjob-sample", ".status.status", "Succeeded")
    await kubectl.run("wait", "--for=condition=Complete", "rayjob/rayjob-sample",
                      "--timeout=60s")  # the RayJob's own condition (any kubectl version)
    _, out, _ = await kubectl.run("get", "rayjob", "rayjob-sample", "-o",
                                  "jsonpath={.status.jobStatus} {.status.jobDeploymentStatus}")
    assert out == "SUCCEEDED Complete"
    _, out, _ = await kubectl.run("get", "rjob", "rayjob-sample", "--no-headers")
    assert out.split()[:2] == ["rayjob-sample", "Succeeded"]
    _, out, _ = await kubectl.run("describe", "rayjob", "rayjob-sample")
    assert re.search(r"Job Deployment Status:\s+Complete", out)
    assert "Submitted" in out and "JobFinished" in out  # the Events section, from the events API

    await kubectl.wait_jsonpath("raycluster/raycluster-sample", ".status.state", "ready")
    _, out, _ = await kubectl.run("get", "pods", "-l", "ray.io/cluster=raycluster-sample",
                                  "-o", "name")
    assert len(out.split()) == 3  # head and two workers
    _, out, _ = await kubectl.run("delete", "raycluster", "raycluster-sample", "--timeout=60s")
    assert out.strip() == 'raycluster.ray.io "raycluster-sample" deleted'
    owned = [o for kind in (POD, SERVICE) for o in kubectl.env.cluster.objects(kind)
             if o["metadata"]["name"].startswith("raycluster-sample-")]
    assert owned == []  # garbage-collected with their owner, before kubectl returned
    assert all(c["metadata"]["name"] != "raycluster-sample"
               for c in kubectl.env.cluster.objects(RAYCLUSTER))


async def test_get_watch_prints_each_change(kubectl: Kubectl) -> None:
    watch = await asyncio.create_subprocess_exec(
        *kubectl.argv("get", "rayjobs", "--watch", "--output-watch-events"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert watch.stdout is not None
    try:
        # Whether the RayJob comes in the initial list or on the watch, it is ADDED first.
        await kubectl.run("apply", "-f", str(EXAMPLES / "rayjob-sample.yaml"))
        header = await asyncio.wait_for(watch.stdout.readline(), 30)
        assert header.split()[:3] == [b"EVENT", b"NAME", b"STATUS"]
        seen: list[list[str]] = []
        while not any(row[:3] == ["MODIFIED", "rayjob-sample", "Succeeded"] for row in seen):
            line = await asyncio.wait_for(watch.stdout.readline(), 60)
            assert line, "kubectl get -w ended"
            seen.append(line.decode().split())
        assert seen[0][:2] == ["ADDED", "rayjob-sample"]
        statuses = [row[2] for row in seen if row[0] == "MODIFIED" and len(row) > 2]
        assert "Running" in statuses or "Pending" in statuses
    finally:
        watch.terminate()
        await watch.wait()


async def test_server_errors_read_as_kubectl_prints_them(kubectl: Kubectl, tmp_path: Path
                                                         ) -> None:
    code, _, err = await kubectl.run("get", "rayjob", "missing", check=False)
    assert code == 1
    assert err.strip() == 'Error from server (NotFound): rayjobs.ray.io "missing" not found'

    bad = yaml.safe_load((EXAMPLES / "rayjob-sample.yaml").read_text())
    bad["metadata"]["name"] = "bad-ttl"
    bad["spec"]["ttlSecondsAfterFinished"] = -5
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    code, _, err = await kubectl.run("apply", "-f", str(tmp_path / "bad.yaml"), check=False)
    assert code == 1
    assert err.startswith('The RayJob "bad-ttl" is invalid: spec.ttlSecondsAfterFinished: ')

    config = yaml.safe_load(kubectl.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    (tmp_path / "wrong").write_text(yaml.safe_dump(config))
    proc = await asyncio.create_subprocess_exec(
        KUBECTL or "kubectl", "--kubeconfig", str(tmp_path / "wrong"), "get", "rayjobs",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err_bytes = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert "You must be logged in to the server" in err_bytes.decode()


async def test_rayop_dev_writes_a_kubeconfig_kubectl_can_use(tmp_path: Path) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (apt-get install kubernetes-client)")
    config = tmp_path / "kubeconfig"
    empty = tmp_path / "manifests"
    empty.mkdir()
    dev = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rayop.cli.main", "dev", str(empty), "--keep-running",
        "--write-kubeconfig", str(config), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert dev.stdout is not None
    lines: list[str] = []
    try:
        while not any(line.startswith("running until") for line in lines):
            line = await asyncio.wait_for(dev.stdout.readline(), 60)
            assert line, f"rayop dev ended: {lines}"
            lines.append(line.decode())
        assert any(f"kubeconfig written to {config}" in line for line in lines)
        assert oct(config.stat().st_mode & 0o777) == "0o600"
        ctl = [KUBECTL, "--kubeconfig", str(config)]
        proc = await asyncio.create_subprocess_exec(
            *ctl, "apply", "-f", str(EXAMPLES / "rayjob-sample.yaml"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == "rayjob.ray.io/rayjob-sample created"
        proc = await asyncio.create_subprocess_exec(
            *ctl, "get", "rayjobs,rayclusters", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert "rayjob.ray.io/rayjob-sample" in out.decode()
        assert "DESIRED WORKERS" in out.decode()  # the RayCluster printer columns
    finally:
        if dev.returncode is None:
            dev.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(dev.stdout.read(), 60)
        code = await dev.wait()
    assert code == 0, [*lines, rest.decode()]
