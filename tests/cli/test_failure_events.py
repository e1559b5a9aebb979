"""Every failure reaches the object as an Event: a refused write shows on the RayCluster/RayJob."""

from __future__ import annotations

from rayop.fakes.faults import FaultPlan
from rayop.ray.kinds import RAYCLUSTER, RAYJOB
from rayop.runtime.client import EVENT, POD, Obj
from rayop.runtime.errors import Conflict, ServerError
from rayop.testing.env import FakeEnv

CLUSTER: Obj = {
    "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "demo"},
    "spec": {"headGroupSpec": {"template": {"spec": {"containers": [
        {"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}},
}
JOB: Obj = {
    "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "job"},
    "spec": {"entrypoint": "python x.py", "rayClusterSpec": CLUSTER["spec"]},
}


def warnings(env: FakeEnv, name: str) -> list[Obj]:
    return [e for e in env.cluster.objects(EVENT) if e["type"] == "Warning"
            and e["involvedObject"]["name"] == name]


async def test_a_refused_write_is_a_warning_event_then_the_retry_succeeds() -> None:
    plan = FaultPlan(seed=5)
    plan.fail(ServerError("etcd leader changed"), verb="create", kind=POD, times=3)
    # the test's own create of "demo" is the first; the RayJob's cluster the next ones
    plan.fail(ServerError("admission webhook timed out"), verb="create", kind=RAYCLUSTER,
              nth=2, times=2)
    async with FakeEnv(seed=5, faults=plan) as env:
        await env.apply(CLUSTER)
        await env.apply(JOB)
        await env.run_until(lambda: env.status(RAYCLUSTER, "demo").get("state") == "ready"
                            and env.status(RAYJOB, "job").get("status") == "Succeeded",
                            timeout=600)
        await env.manager.events.flush()
        on_cluster = warnings(env, "demo")
        on_job = warnings(env, "job")
    assert [e["reason"] for e in on_cluster] == ["ReconcileError"]
    assert "etcd leader changed" in on_cluster[0]["message"]
    assert on_cluster[0]["count"] == 3  # the same failure again is counted, not repeated
    assert [e["reason"] for e in on_job] == ["ReconcileError"]
    assert "admission webhook timed out" in on_job[0]["message"]
    assert on_job[0]["count"] == 2


async def test_conflicts_are_not_reported() -> None:
    plan = FaultPlan(seed=6)
    plan.fail(Conflict("the object has been modified"), verb="patch_status", kind=RAYCLUSTER,
              times=2)
    async with FakeEnv(seed=6, faults=plan) as env:
        await env.apply(CLUSTER)
        await env.run_until(lambda: env.status(RAYCLUSTER, "demo").get("state") == "ready",
                            timeout=600)
        await env.manager.events.flush()
        assert warnings(env, "demo") == []
        assert len(plan.fired) == 2  # the conflicts happened, and were retried quietly
