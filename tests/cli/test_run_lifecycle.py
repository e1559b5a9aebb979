"""`rayop run`'s life cycle on the fake cluster: SIGTERM drains and exits 0, a lost lease exits 1.

`operate` is what `rayop run` runs once it has a client; here the client is the fake cluster and
time is virtual, so the lease's 15 s / 10 s / 2 s terms pass in milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import signal

from rayop.cli.main import build_parser
from rayop.cli.run import operate, resolve_flags
from rayop.fakes.cluster import FakeCluster
from rayop.fakes.faults import FaultPlan
from rayop.fakes.kubelet import KubeletSimulator
from rayop.ray.fakes import with_ray_kinds
from rayop.ray.fakes.dashboard import FakeDashboards
from rayop.ray.kinds import RAYCLUSTER, RAYJOB
from rayop.runtime.client import LEASE, POD
from rayop.runtime.clock import VirtualClock
from rayop.runtime.errors import ServerError

CLUSTER = {
    "apiVersion": "ray.io/v1", "kind": "RayCluster",
    "metadata": {"name": "demo", "namespace": "default"},
    "spec": {"headGroupSpec": {"template": {"spec": {"containers": [
        {"name": "ray-head", "image": "rayproject/ray:2.9.0"}]}}}},
}


def fake_cluster(clock: VirtualClock, plan: FaultPlan | None = None) -> FakeCluster:
    return with_ray_kinds(FakeCluster(clock=clock, faults=plan))


def run_args(*argv: str) -> object:
    args = build_parser().parse_args(["run", "--metrics-bind-address=0",
                                      "--health-probe-bind-address=0", *argv])
    return resolve_flags(args, {})


async def wait_for(clock: VirtualClock, condition: object, limit: float = 120.0) -> None:
    start = clock.monotonic()
    while not condition():  # type: ignore[operator]
        assert clock.monotonic() - start < limit, "condition not met in virtual time"
        await clock.sleep(0.5)


async def test_sigterm_drains_releases_the_lease_and_exits_0() -> None:
    clock = VirtualClock(auto_advance=True)
    cluster = fake_cluster(clock)
    kubelet = KubeletSimulator(cluster, clock=clock)
    await kubelet.start()
    await cluster.create(RAYCLUSTER, CLUSTER, namespace="default")
    args = run_args("--leader-elect", "--leader-election-namespace=default",
                    "--controllers=raycluster")

    def ready() -> bool:
        obj = cluster.objects(RAYCLUSTER)[0]
        return (obj.get("status") or {}).get("state") == "ready"

    async def terminate_when_ready() -> None:
        await wait_for(clock, ready)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = asyncio.ensure_future(terminate_when_ready())
    code = await operate(cluster, FakeDashboards(clock=clock), args, clock=clock)  # type: ignore[arg-type]
    await killer
    await kubelet.stop()
    await clock.aclose()
    assert code == 0
    lease = await cluster.get(LEASE, "rayop-leader", namespace="default")
    assert lease["spec"]["holderIdentity"] == ""  # released, so a successor need not wait
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler removed on the way out


async def test_losing_the_lease_exits_1() -> None:
    clock = VirtualClock(auto_advance=True)
    plan = FaultPlan(seed=3)
    cluster = fake_cluster(clock, plan)
    # the first lease write (the create) works; every renewal after it fails
    plan.fail(ServerError("etcd unavailable"), verb="replace", kind=LEASE, nth=1, times=None)
    args = run_args("--leader-elect", "--leader-election-namespace=default")
    started = clock.monotonic()
    code = await operate(cluster, FakeDashboards(clock=clock), args, clock=clock)  # type: ignore[arg-type]
    elapsed = clock.monotonic() - started
    await clock.aclose()
    assert code == 1
    assert 10.0 <= elapsed <= 15.0  # renew deadline (10 s) passed, before the lease would expire


async def test_informers_that_cannot_sync_exit_1() -> None:
    clock = VirtualClock(auto_advance=True)
    cluster = FakeCluster(clock=clock)  # no ray.io kinds: as if the CRDs were not installed
    code = await operate(cluster, FakeDashboards(clock=clock), run_args(), clock=clock)  # type: ignore[arg-type]
    await clock.aclose()
    assert code == 1


JOB = {
    "apiVersion": "ray.io/v1", "kind": "RayJob",
    "metadata": {"name": "ours", "namespace": "default", "labels": {"owner": "rayop"}},
    "spec": {"entrypoint": "python x.py", "rayClusterSpec": CLUSTER["spec"]},
}


async def test_selector_leaves_other_operators_objects_alone() -> None:
    """`--selector owner=rayop`: labelled objects are reconciled, the rest never touched."""
    clock = VirtualClock(auto_advance=True)
    cluster = fake_cluster(clock)
    kubelet = KubeletSimulator(cluster, clock=clock)
    dashboards = FakeDashboards(clock=clock, alive=False)
    kubelet.on_pod_change(dashboards.observe_pod)
    await kubelet.start()
    await cluster.create(RAYJOB, JOB, namespace="default")
    theirs = {**JOB, "metadata": {"name": "theirs", "namespace": "default"}}
    await cluster.create(RAYJOB, theirs, namespace="default")
    theirs_cluster = {**CLUSTER, "metadata": {"name": "theirs-cluster", "namespace": "default"}}
    await cluster.create(RAYCLUSTER, theirs_cluster, namespace="default")

    def job(name: str) -> dict[str, object]:
        return next(o for o in cluster.objects(RAYJOB) if o["metadata"]["name"] == name)

    async def terminate_when_done() -> None:
        await wait_for(clock, lambda: (job("ours").get("status") or {}).get("status")
                       == "Succeeded")
        os.kill(os.getpid(), signal.SIGTERM)

    killer = asyncio.ensure_future(terminate_when_done())
    code = await operate(cluster, dashboards, run_args("--selector", "owner=rayop"),  # type: ignore[arg-type]
                         clock=clock)
    await killer
    await kubelet.stop()
    await clock.aclose()
    assert code == 0
    # the RayJob's cluster carries the job's labels, so rayop's RayCluster controller sees it
    made = [c for c in cluster.objects(RAYCLUSTER) if c["metadata"]["name"].startswith("ours-")]
    assert made and made[0]["metadata"]["labels"]["owner"] == "rayop"
    # the unlabelled objects: no status, no finalizer, no cluster, no pods — left to the other
    assert "status" not in job("theirs") and not job("theirs")["metadata"].get("finalizers")
    assert not [c for c in cluster.objects(RAYCLUSTER) if c["metadata"]["name"].startswith(
        "theirs-") and c["metadata"]["name"] != "theirs-cluster"]
    other = next(c for c in cluster.objects(RAYCLUSTER)
                 if c["metadata"]["name"] == "theirs-cluster")
    assert "status" not in other
    assert not [p for p in cluster.objects(POD)
                if p["metadata"]["labels"].get("ray.io/cluster") == "theirs-cluster"]
