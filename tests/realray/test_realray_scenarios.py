"""rayop end to end with a real Ray head: the cluster is the fake one, the dashboard is Ray's.

A RayJob's real entrypoint runs, prints, and the RayJob ends ``Succeeded``; a RayService's real
Serve application answers over HTTP and the RayService reports ``RUNNING`` with its deployments.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from realray_kit import RAY_ADDRESS, SERVE_PORT, OneRayHead

from rayop.operator.controllers import OperatorOptions
from rayop.ray.kinds import RAYJOB, RAYSERVICE
from rayop.runtime.client import Obj
from rayop.testing.env import FakeEnv

FAST_KUBELET = {"schedule_delay": 0.1, "start_delay": 0.3, "ready_delay": 0.1}
HEAD: Obj = {
    "rayStartParams": {},
    "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}},
}


@pytest_asyncio.fixture
async def head() -> AsyncIterator[OneRayHead]:
    provider = OneRayHead(RAY_ADDRESS, SERVE_PORT)
    try:
        yield provider
    finally:
        await provider.aclose()


def env_for(head: OneRayHead) -> FakeEnv:
    options = OperatorOptions(seed=0, job_poll_interval=0.5, service_poll_interval=0.5)
    return FakeEnv(seed=0, provider=head, paced=True, kubelet=FAST_KUBELET, operator=options)


async def test_a_rayjob_runs_its_real_entrypoint_to_succeeded(head: OneRayHead) -> None:
    name = f"e2e-{uuid.uuid4().hex[:6]}"          # the head outlives this test: fresh ids
    word = uuid.uuid4().hex
    job = {"apiVersion": "ray.io/v1", "kind": "RayJob",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"entrypoint": "python -c \"import os; print('rayop says', "
                                  "os.environ['WORD'], 6 * 7)\"",
                    "runtimeEnvYAML": f"env_vars:\n  WORD: {word}\n",
                    "metadata": {"origin": "rayop-realray"},
                    "shutdownAfterJobFinishes": True,
                    "rayClusterSpec": {"headGroupSpec": HEAD}}}
    async with env_for(head) as env:
        await env.apply(job)
        await env.run_until(lambda: env.status(RAYJOB, name).get("jobDeploymentStatus")
                            in ("Complete", "Failed"), timeout=180, step=0.2)
        status = env.status(RAYJOB, name)
        assert (status["status"], status["jobStatus"]) == ("Succeeded", "SUCCEEDED"), status
        logs = await head.client.job_logs(status["jobId"])
        assert f"rayop says {word} 42" in logs
        details = await head.client.get_job(status["jobId"])
        assert details is not None and details.metadata == {"origin": "rayop-realray"}
        assert [c for c in head.asked if c[1] == status["rayClusterName"]]
        assert status["startTime"] <= status["endTime"]


async def test_a_rayservice_serves_a_real_application_and_reports_running(
        head: OneRayHead) -> None:
    name = f"e2e-svc-{uuid.uuid4().hex[:4]}"
    config = (f"http_options:\n  host: 127.0.0.1\n  port: {SERVE_PORT}\n"
              "applications:\n  - name: greet\n    route_prefix: /greet\n"
              "    import_path: serve_app:app\n")
    svc = {"apiVersion": "ray.io/v1", "kind": "RayService",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"serveConfigV2": config, "rayClusterConfig": {"headGroupSpec": HEAD}}}
    async with env_for(head) as env:
        try:
            await env.apply(svc)
            await env.run_until(lambda: env.status(RAYSERVICE, name).get("status") == "RUNNING",
                                timeout=240, step=0.5)
            status = env.status(RAYSERVICE, name)
            apps = status["activeServiceStatus"]["applicationStatuses"]
            assert apps["greet"]["status"] == "RUNNING"
            assert status["appStatus"]["status"] == "HEALTHY"
            assert [(d["application"], d["name"], d["status"])
                    for d in status["deploymentStatuses"]] == [("greet", "Greeter", "HEALTHY")]
            async with aiohttp.ClientSession() as session, session.get(
                    f"http://127.0.0.1:{SERVE_PORT}/greet",
                    timeout=aiohttp.ClientTimeout(total=10)) as answer:
                assert answer.status == 200
                assert await answer.text() == "hello from rayop"
        finally:
            await head.client.delete_serve_applications()
