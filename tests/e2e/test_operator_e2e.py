"""The whole operator over a real API (the fake cluster's REST front, or any e2e backend).

What a user would notice: a RayJob runs to Succeeded, a RayService upgrade never leaves the serve
Service without a ready endpoint, and deleting a RayJob or RayService leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from e2e_backends import E2EBackend
from e2e_harness import Operator, example

from rayop.fakes.kubelet import ready_endpoints
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import ENDPOINTS, POD, SERVICE

SERVICE_NAME = "rayservice-sample"


async def test_a_rayjob_runs_to_succeeded(operator: Operator) -> None:
    ns = operator.backend.namespace
    await operator.api.create(RAYJOB, example("rayjob-sample.yaml", ns,
                                              ttlSecondsAfterFinished=0), namespace=ns)

    async def succeeded() -> bool:
        return (await operator.status(RAYJOB, "rayjob-sample")).get("status") == "Succeeded"

    await operator.until(succeeded)
    st = await operator.status(RAYJOB, "rayjob-sample")
    assert st["jobStatus"] == "SUCCEEDED" and st["jobDeploymentStatus"] == "Complete"
    assert st["startTime"] and st["endTime"] and st["jobId"].startswith("rayjob-sample-")

    async def cluster_shut_down() -> bool:  # shutdownAfterJobFinishes, TTL 0
        return await operator.names(RAYCLUSTER) == [] and await operator.names(POD) == []

    await operator.until(cluster_shut_down)


async def test_a_rayservice_upgrade_keeps_serving(operator: Operator) -> None:
    ns = operator.backend.namespace
    body = example("rayservice-sample.yaml", ns, rayClusterDeletionDelaySeconds=1)
    await operator.api.create(RAYSERVICE, body, namespace=ns)

    async def running() -> bool:
        st = await operator.status(RAYSERVICE, SERVICE_NAME)
        return st.get("status") == "RUNNING" and bool(st.get("rayClusterName"))

    await operator.until(running)
    old = (await operator.status(RAYSERVICE, SERVICE_NAME))["rayClusterName"]
    watcher = await operator.backend.client()
    listed = await watcher.list(ENDPOINTS, namespace=ns)
    versions: list[list[str]] = []

    async def record() -> None:
        async for event in watcher.watch(ENDPOINTS, namespace=ns,
                                         resource_version=listed.resource_version,
                                         field_selector=f"metadata.name={SERVICE_NAME}-serve-svc"):
            if event.type != "BOOKMARK":
                versions.append(ready_endpoints(event.object)
                                if event.type != "DELETED" else [])

    recorder = asyncio.get_running_loop().create_task(record())
    try:
        current = await operator.get(RAYSERVICE, SERVICE_NAME)
        assert current is not None
        head = current["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
        head["containers"][0]["image"] = "rayproject/ray:2.10.0"
        await operator.api.replace(RAYSERVICE, current, namespace=ns)

        async def switched_and_cleaned() -> bool:
            st = await operator.status(RAYSERVICE, SERVICE_NAME)
            clusters = await operator.names(RAYCLUSTER)
            return st.get("rayClusterName") not in (None, old) and clusters == [
                st["rayClusterName"]] and st.get("status") == "RUNNING"

        await operator.until(switched_and_cleaned)
    finally:
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder
    new = (await operator.status(RAYSERVICE, SERVICE_NAME))["rayClusterName"]
    svc = await operator.get(SERVICE, f"{SERVICE_NAME}-serve-svc")
    assert svc is not None and svc["spec"]["selector"]["ray.io/cluster"] == new
    assert versions, "the serve Service's Endpoints never changed during the upgrade"
    assert all(versions), f"an Endpoints version had no ready address: {versions}"


async def test_deleting_leaves_nothing_behind(operator: Operator) -> None:
    ns = operator.backend.namespace
    await operator.api.create(RAYSERVICE, example("rayservice-sample.yaml", ns), namespace=ns)
    job = example("rayjob-sample.yaml", ns, shutdownAfterJobFinishes=False,
                  ttlSecondsAfterFinished=None)
    await operator.api.create(RAYJOB, job, namespace=ns)

    async def both_up() -> bool:
        svc = await operator.status(RAYSERVICE, SERVICE_NAME)
        rj = await operator.status(RAYJOB, "rayjob-sample")
        return svc.get("status") == "RUNNING" and rj.get("status") == "Succeeded"

    await operator.until(both_up)
    assert len(await operator.names(RAYCLUSTER)) == 2
    await operator.api.delete(RAYSERVICE, SERVICE_NAME, namespace=ns)
    await operator.api.delete(RAYJOB, "rayjob-sample", namespace=ns)

    async def empty() -> bool:
        for kind in (RAYSERVICE, RAYJOB, RAYCLUSTER, POD, SERVICE):
            if await operator.names(kind):
                return False
        return True

    await operator.until(empty)


async def test_one_object_nested_300_levels_deep_stops_nothing(e2e: E2EBackend) -> None:
    # Accepted by kube-apiserver (the pod template's schema is open); past orjson's 254 levels
    # and Python's recursion limit. It exists before the operator starts, so the first list of
    # RayJobs holds it.
    ns = e2e.namespace
    deep: Any = 1
    for _ in range(300):
        deep = {"x": deep}
    bad = example("rayjob-sample.yaml", ns)
    bad["metadata"]["name"] = "deep"
    bad["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["x"] = deep
    admin = await e2e.client()
    await admin.create(RAYJOB, bad, namespace=ns)
    async with Operator(e2e) as operator:
        await operator.api.create(RAYJOB, example("rayjob-sample.yaml", ns), namespace=ns)

        async def settled() -> bool:
            good = await operator.status(RAYJOB, "rayjob-sample")
            refused = await operator.status(RAYJOB, "deep")
            return good.get("status") == "Succeeded" and refused.get("status") == "Failed"

        await operator.until(settled)
        st = await operator.status(RAYJOB, "deep")
        assert st["reason"] == "ValidationFailed"
        assert st["message"].startswith("spec.rayClusterSpec.headGroupSpec.template.x.x"), st
        assert "nests deeper than 64 levels" in st["message"]
        assert [n for n in await operator.names(RAYCLUSTER) if n.startswith("deep")] == []


async def test_a_pod_the_api_server_refuses_is_reported_once_naming_the_template(
        operator: Operator) -> None:
    # kube-apiserver validates the whole pod spec (restartPolicy must be Always, OnFailure or
    # Never); the fake checks containers only (docs/fake-vs-real.md, difference 30), so there the
    # same cluster starts.
    ns = operator.backend.namespace
    cluster = example("raycluster-sample.yaml", ns)
    cluster["spec"]["headGroupSpec"]["template"]["spec"]["restartPolicy"] = "Sometimes"
    await operator.api.create(RAYCLUSTER, cluster, namespace=ns)
    name = cluster["metadata"]["name"]
    want = "failed" if operator.backend.name == "realapi" else "ready"

    async def settled() -> bool:
        return (await operator.status(RAYCLUSTER, name)).get("state") == want

    await operator.until(settled)
    if want == "ready":
        return
    st = await operator.status(RAYCLUSTER, name)
    assert st["reason"] == "ValidationFailed"
    assert st["message"].startswith(
        "spec.headGroupSpec.template: the API server refused the Pod built from it"), st
    assert "restartPolicy" in st["message"]
    assert await operator.names(POD) == []
