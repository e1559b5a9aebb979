"""RayService scenarios: the whole operator on the fake cluster, kubelet and Ray heads, in virtual
time. Each test is what a user of a RayService would notice: it serves, traffic never stops during
an upgrade, a Serve-only change does not rebuild the cluster, status tells the truth, old clusters
go away."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from scenario_kit import StatusLog, pods_of

from rayop.fakes.faults import FaultPlan
from rayop.fakes.kubelet import PodScript, ready_endpoints
from rayop.ray.dashboard import ServeApplicationStatus
from rayop.ray.fakes.dashboard import FakeDashboard
from rayop.ray.kinds import RAYCLUSTER, RAYSERVICE
from rayop.reconcilers.rayservice.hash import NUM_WORKER_GROUPS_ANNOTATION
from rayop.reconcilers.rayservice.reconciler import DELETE_AFTER_ANNOTATION
from rayop.runtime.client import ENDPOINTS, EVENT, POD, SERVICE, Obj
from rayop.runtime.clock import parse_time
from rayop.runtime.errors import ApiError, Conflict, ServerError
from rayop.testing.env import FakeEnv

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SAMPLE: Obj = yaml.safe_load((EXAMPLES / "manifests" / "rayservice-sample.yaml").read_text())
NAME = "rayservice-sample"


def manifest(**spec: Any) -> Obj:
    """The sample RayService, with top-level spec fields replaced."""
    obj = copy.deepcopy(SAMPLE)
    obj["spec"].update(spec)
    return obj


def with_image(obj: Obj, image: str) -> Obj:
    """``obj`` with a new head image: a cluster change that needs a new cluster."""
    obj = copy.deepcopy(obj)
    obj["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "image"] = image
    return obj


def status(env: FakeEnv) -> Obj:
    return env.status(RAYSERVICE, NAME)


def active(env: FakeEnv) -> str:
    return str(status(env).get("rayClusterName") or "")


def clusters(env: FakeEnv) -> list[str]:
    return sorted(c["metadata"]["name"] for c in env.cluster.objects(RAYCLUSTER))


def serve_ips(env: FakeEnv) -> list[str]:
    return ready_endpoints(env.get(ENDPOINTS, f"{NAME}-serve-svc"))


def condition(env: FakeEnv, type_: str) -> Obj:
    return next((c for c in status(env).get("conditions") or [] if c["type"] == type_), {})


def reasons(env: FakeEnv) -> list[str]:
    return [e.get("reason", "") for e in env.cluster.objects(EVENT)]


def dashboard(env: FakeEnv, cluster: str) -> FakeDashboard:
    return env.dashboards.for_cluster("default", cluster)


async def until_running(env: FakeEnv, *, timeout: float = 300) -> None:
    await env.run_until(lambda: status(env).get("status") == "RUNNING", timeout=timeout)


class Sampler:
    """Samples the serve Service's ready endpoints and the clusters at every virtual step."""

    def __init__(self, env: FakeEnv) -> None:
        self.env = env
        self.empty_at: list[float] = []
        self.seen: set[str] = set(clusters(env))
        self.upgrading = False

    def __call__(self) -> None:
        if not serve_ips(self.env):
            self.empty_at.append(self.env.clock.monotonic())
        self.seen.update(clusters(self.env))
        self.upgrading |= condition(self.env, "UpgradeInProgress").get("status") == "True"


class EndpointsLog:
    """Every version of the serve Service's Endpoints, from a watch: catches a gap that lasts no
    virtual time at all (a sampler only sees states that outlive a step)."""

    def __init__(self, env: FakeEnv) -> None:
        self.env = env
        self.versions: list[list[str]] = []
        self.task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        listed = await self.env.cluster.list(ENDPOINTS, namespace="default")
        version = listed.resource_version
        while True:
            async for event in self.env.cluster.watch(ENDPOINTS, namespace="default",
                                                      resource_version=version):
                version = event.resource_version or version
                if event.object.get("metadata", {}).get("name") == f"{NAME}-serve-svc":
                    self.versions.append(ready_endpoints(event.object)
                                         if event.type != "DELETED" else [])

    def __enter__(self) -> EndpointsLog:
        self.task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()

    def empty_versions(self) -> int:
        return sum(1 for ips in self.versions if not ips)


async def run_for(env: FakeEnv, seconds: float, on_step: Callable[[], None] | None = None,
                  step: float = 1.0) -> None:
    start = env.clock.monotonic()
    await env.run_until(lambda: env.clock.monotonic() - start >= seconds, timeout=seconds + 1,
                        on_step=on_step, step=step)


# -- serving ------------------------------------------------------------------------------------

async def test_a_valid_rayservice_serves_with_services_and_status() -> None:
    async with FakeEnv(seed=1) as env:
        await env.apply(manifest())
        await until_running(env)
        st = status(env)
        name = active(env)
        assert clusters(env) == [name] and name.startswith(f"{NAME}-")
        assert st["serviceStatus"] == "Running"
        assert st["appStatus"] == {"status": "HEALTHY", "message": ""}
        assert st["activeServiceStatus"]["rayClusterName"] == name
        apps = st["activeServiceStatus"]["applicationStatuses"]
        assert {a: apps[a]["status"] for a in apps} == {"fruit_app": "RUNNING",
                                                       "math_app": "RUNNING"}
        assert set(apps["math_app"]["serveDeploymentStatuses"]) == {"Adder", "Multiplier",
                                                                    "Router"}
        assert len(st["deploymentStatuses"]) == 7
        assert all(d["status"] == "HEALTHY" for d in st["deploymentStatuses"])
        assert "pendingServiceStatus" not in st and "endTime" not in st
        assert st["startTime"] and st["observedGeneration"] == 1
        assert condition(env, "Ready")["status"] == "True"
        assert condition(env, "UpgradeInProgress")["status"] == "False"
        assert st["numServeEndpoints"] == 2 == len(serve_ips(env))   # head + one worker

        cluster = env.get(RAYCLUSTER, name)
        assert cluster is not None
        assert cluster["metadata"]["labels"] == {"ray.io/originated-from-crd": "RayService",
                                                 "ray.io/originated-from-cr-name": NAME}
        assert cluster["metadata"]["ownerReferences"][0]["kind"] == "RayService"
        head_svc = env.get(SERVICE, f"{NAME}-head-svc")
        assert head_svc is not None
        assert head_svc["spec"]["selector"] == {"ray.io/cluster": name,
                                                "ray.io/node-type": "head"}
        assert {p["name"] for p in head_svc["spec"]["ports"]} == {
            "gcs-server", "dashboard", "client", "serve"}
        serve_svc = env.get(SERVICE, f"{NAME}-serve-svc")
        assert serve_svc is not None
        assert serve_svc["spec"]["selector"] == {"ray.io/cluster": name, "ray.io/serve": "true"}
        assert dashboard(env, name).route("/fruit") == "ok"

        # Nothing changes: the config is not resubmitted and the status not rewritten, even
        # across a manager restart (the deployed config is read back from Ray).
        version = env.get(RAYSERVICE, NAME)["metadata"]["resourceVersion"]  # type: ignore[index]
        await env.restart_manager()
        await run_for(env, 60)
        assert len(dashboard(env, name).calls_to("apply_serve_config")) == 1
        assert env.get(RAYSERVICE, NAME)["metadata"]["resourceVersion"] == version  # type: ignore[index]
        assert {"CreatedRayCluster", "ServeConfigApplied", "SwitchedTraffic",
                "CreatedService"} <= set(reasons(env))


async def test_the_seed_example_is_rejected_naming_serve_config_v2() -> None:
    seed = json.loads((EXAMPLES / "seeds" / "rayservice-example.json").read_text())
    seed.pop("status")
    async with FakeEnv(seed=2) as env:
        await env.apply(seed)
        name = seed["metadata"]["name"]
        await env.run_until(lambda: env.status(RAYSERVICE, name).get("status") == "FAILED",
                            timeout=30)
        st = env.status(RAYSERVICE, name)
        assert st["message"].startswith("spec.serveConfigV2: not a Serve config")
        assert st["reason"] == "ValidationFailed"
        ready = next(c for c in st["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "ValidationFailed")
        version = env.get(RAYSERVICE, name)["metadata"]["resourceVersion"]  # type: ignore[index]
        await run_for(env, 60)
        assert env.get(RAYSERVICE, name)["metadata"]["resourceVersion"] == version  # type: ignore[index]
        assert clusters(env) == []
        assert "InvalidSpec" in reasons(env)

        fixed = manifest()
        fixed["metadata"]["name"] = name
        await env.apply(fixed)
        await env.run_until(lambda: env.status(RAYSERVICE, name).get("status") == "RUNNING",
                            timeout=300)


BOMB = (  # 9**8 applications from 300 bytes, once the aliases are expanded
    "l0: &l0 {name: app, import_path: fruit:deployment_graph}\n"
    + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
    + "applications: *l8\n"
)


async def test_a_yaml_bomb_in_serve_config_is_refused_and_the_others_keep_serving() -> None:
    async with FakeEnv(seed=4) as env:
        await env.apply(manifest())
        await until_running(env)
        bomb = manifest(serveConfigV2=BOMB)
        bomb["metadata"]["name"] = "bomb"
        await env.apply(bomb)
        await env.run_until(lambda: env.status(RAYSERVICE, "bomb").get("status") == "FAILED",
                            timeout=30)
        st = env.status(RAYSERVICE, "bomb")
        assert st["reason"] == "ValidationFailed"
        assert st["message"].startswith("spec.serveConfigV2: not a Serve config"), st["message"]
        assert "expands to more than" in st["message"]
        version = env.get(RAYSERVICE, "bomb")["metadata"]["resourceVersion"]  # type: ignore[index]
        await run_for(env, 60)
        assert env.get(RAYSERVICE, "bomb")["metadata"]["resourceVersion"] == version  # type: ignore[index]
        assert status(env)["status"] == "RUNNING"
        assert [c for c in clusters(env) if c.startswith("bomb")] == []


async def test_a_serve_only_change_is_applied_in_place() -> None:
    async with FakeEnv(seed=3) as env:
        await env.apply(manifest())
        await until_running(env)
        name = active(env)
        sampler = Sampler(env)
        changed = manifest(serveConfigV2=SAMPLE["spec"]["serveConfigV2"].replace(
            "price: 3", "price: 4"))
        await env.apply(changed)
        fake = dashboard(env, name)
        await env.run_until(lambda: len(fake.calls_to("apply_serve_config")) == 2, timeout=30,
                            on_step=sampler)
        await until_running(env)
        await run_for(env, 30, sampler)
        assert sampler.seen == {name} and active(env) == name
        assert not sampler.upgrading
        deployed = fake.calls_to("apply_serve_config")[-1].args[0]
        assert "price: 4" in yaml.safe_dump(deployed)
        assert status(env)["observedGeneration"] == 2


# -- upgrades -------------------------------------------------------------------------------------

async def test_a_cluster_change_is_upgraded_with_zero_downtime() -> None:
    async with FakeEnv(seed=4) as env:
        await env.apply(manifest())
        await until_running(env)
        old = active(env)
        sampler = Sampler(env)
        with EndpointsLog(env) as log:
            await env.apply(with_image(manifest(), "rayproject/ray:2.10.0"))
            await env.run_until(lambda: active(env) != old, timeout=300, on_step=sampler, step=0.5)
            new = active(env)
            switched = env.clock.monotonic()
            assert sampler.upgrading and sampler.seen == {old, new}
            old_cluster = env.get(RAYCLUSTER, old)
            assert old_cluster is not None
            deadline = parse_time(old_cluster["metadata"]["annotations"][DELETE_AFTER_ANNOTATION])
            assert 59 <= (deadline - env.clock.now()).total_seconds() <= 60
            await env.run_until(lambda: old not in clusters(env), timeout=120, on_step=sampler,
                                step=0.5)
            assert env.clock.monotonic() - switched >= 59
        assert sampler.empty_at == []          # traffic never stopped...
        assert log.versions and log.empty_versions() == 0   # ...not even for an instant
        assert clusters(env) == [new]
        st = status(env)
        assert st["status"] == "RUNNING" and "pendingServiceStatus" not in st
        assert condition(env, "UpgradeInProgress")["status"] == "False"
        assert env.get(SERVICE, f"{NAME}-serve-svc")["spec"]["selector"][  # type: ignore[index]
            "ray.io/cluster"] == new
        assert {"UpgradeStarted", "SwitchedTraffic", "DeletedRayCluster"} <= set(reasons(env))


async def test_a_change_during_an_upgrade_replaces_the_pending_cluster() -> None:
    async with FakeEnv(seed=5) as env:
        await env.apply(manifest())
        await until_running(env)
        old = active(env)
        sampler = Sampler(env)
        await env.apply(with_image(manifest(), "rayproject/ray:2.10.0"))
        await env.run_until(lambda: len(clusters(env)) == 2, timeout=30, on_step=sampler)
        first = next(c for c in clusters(env) if c != old)
        await env.apply(with_image(manifest(), "rayproject/ray:2.11.0"))
        await env.run_until(lambda: first not in clusters(env), timeout=30, on_step=sampler)
        assert active(env) == old                 # the abandoned one never served
        await env.run_until(lambda: active(env) not in (old, first), timeout=300,
                            on_step=sampler)
        final = env.get(RAYCLUSTER, active(env))
        assert final is not None
        image = final["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "rayproject/ray:2.11.0"
        assert sampler.empty_at == [] and len(sampler.seen) == 3
        assert "UpgradeRestarted" in reasons(env)


async def test_appended_worker_groups_update_the_cluster_in_place() -> None:
    async with FakeEnv(seed=6) as env:
        await env.apply(manifest())
        await until_running(env)
        name = active(env)
        bigger = manifest()
        groups = bigger["spec"]["rayClusterConfig"]["workerGroupSpecs"]
        groups.append({**copy.deepcopy(groups[0]), "groupName": "gpu-group", "replicas": 2})
        sampler = Sampler(env)
        await env.apply(bigger)

        def gpu_pods() -> int:
            return len([p for p in env.cluster.objects(POD)
                        if p["metadata"]["labels"].get("ray.io/group") == "gpu-group"])

        await env.run_until(lambda: gpu_pods() == 2, timeout=60, on_step=sampler)
        await run_for(env, 30, sampler)
        cluster = env.get(RAYCLUSTER, name)
        assert cluster is not None
        assert [g["groupName"] for g in cluster["spec"]["workerGroupSpecs"]] == [
            "small-group", "gpu-group"]
        assert cluster["metadata"]["annotations"][NUM_WORKER_GROUPS_ANNOTATION] == "2"
        assert sampler.seen == {name} and sampler.empty_at == []
        assert "UpdatedRayCluster" in reasons(env)


async def test_autoscaler_replica_changes_do_not_upgrade() -> None:
    async with FakeEnv(seed=7) as env:
        await env.apply(manifest())
        await until_running(env)
        name = active(env)
        sampler = Sampler(env)
        # The autoscaler scales the live cluster: rayop neither reverts it nor upgrades.
        cluster = env.get(RAYCLUSTER, name)
        assert cluster is not None
        cluster["spec"]["workerGroupSpecs"][0]["replicas"] = 3
        cluster["spec"]["workerGroupSpecs"][0]["scaleStrategy"] = {"workersToDelete": []}
        await env.cluster.replace(RAYCLUSTER, cluster, namespace="default")
        # And the user edits the scaling fields in the RayService.
        scaled = manifest()
        group = scaled["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
        group.update(replicas=2, minReplicas=0, maxReplicas=10)
        await env.apply(scaled)
        await run_for(env, 60, sampler)
        assert sampler.seen == {name}
        live = env.get(RAYCLUSTER, name)
        assert live is not None and live["spec"]["workerGroupSpecs"][0]["replicas"] == 3
        assert status(env)["status"] == "RUNNING" and status(env)["observedGeneration"] == 2


async def test_upgrade_strategy_none_keeps_the_cluster() -> None:
    async with FakeEnv(seed=8) as env:
        await env.apply(manifest(upgradeStrategy={"type": "None"}))
        await until_running(env)
        name = active(env)
        sampler = Sampler(env)
        await env.apply(with_image(manifest(upgradeStrategy={"type": "None"}), "other:1"))
        await run_for(env, 120, sampler)
        assert sampler.seen == {name} and not sampler.upgrading
        upgrade = condition(env, "UpgradeInProgress")
        assert (upgrade["status"], upgrade["reason"]) == ("False", "UpgradeStrategyNone")
        assert status(env)["status"] == "RUNNING"


async def test_the_deletion_delay_survives_a_manager_restart() -> None:
    async with FakeEnv(seed=9) as env:
        await env.apply(manifest(rayClusterDeletionDelaySeconds=90))
        await until_running(env)
        old = active(env)
        await env.apply(with_image(manifest(rayClusterDeletionDelaySeconds=90), "new:1"))
        await env.run_until(lambda: active(env) != old, timeout=300)
        switched = env.clock.monotonic()
        await run_for(env, 30)
        await env.restart_manager()
        await run_for(env, 50)
        assert old in clusters(env)              # not deleted early by the new manager
        await env.run_until(lambda: old not in clusters(env), timeout=30)
        assert 89 <= env.clock.monotonic() - switched <= 95   # nor late: the deadline was kept


# -- health ---------------------------------------------------------------------------------------

async def test_unhealthy_clusters_are_replaced_until_the_restart_threshold() -> None:
    async with FakeEnv(seed=10) as env:
        def flaky(fake: FakeDashboard) -> None:
            fake.script_app(import_path=".", unhealthy_after=60)   # every app, 60 s after RUNNING

        env.on_every_dashboard(flaky)
        spec = {"deploymentUnhealthySecondThreshold": 30, "deploymentUnhealthyRestartThreshold": 1}
        await env.apply(manifest(**spec))
        await until_running(env)
        first = active(env)
        await env.run_until(lambda: status(env).get("status") == "UNHEALTHY", timeout=120)
        assert status(env)["appStatus"]["status"] == "UNHEALTHY"
        await env.run_until(lambda: active(env) != first, timeout=300)
        assert status(env)["unhealthyReplacements"] == 1
        await env.run_until(lambda: status(env).get("status") == "FAILED", timeout=300)
        st = status(env)
        assert st["reason"] == "UnhealthyRestartThresholdExceeded" and st["endTime"]
        assert condition(env, "Ready")["reason"] == "UnhealthyRestartThresholdExceeded"
        seen = set(clusters(env))
        await run_for(env, 200)
        assert set(clusters(env)) <= seen and status(env)["status"] == "FAILED"
        assert "ReplacingUnhealthyCluster" in reasons(env)

        await env.apply(manifest(**{**spec, "deploymentUnhealthyRestartThreshold": 2}))
        await env.run_until(lambda: status(env).get("unhealthyReplacements") == 1
                            and status(env).get("status") != "FAILED", timeout=300)


async def test_a_lost_head_pod_gets_its_applications_back() -> None:
    async with FakeEnv(seed=11) as env:
        await env.apply(manifest())
        await until_running(env)
        name = active(env)
        [head] = pods_of(env, name, node_type="head")
        env.kubelet.fail_pod("default", head["metadata"]["name"])
        await env.run_until(lambda: status(env).get("status") == "UNHEALTHY", timeout=30)
        await until_running(env)
        assert active(env) == name and clusters(env) == [name]
        assert len(dashboard(env, name).calls_to("apply_serve_config")) == 2
        assert dashboard(env, name).route("/calc") == "ok"


async def test_a_pending_cluster_that_never_gets_ready_leaves_the_active_one_serving() -> None:
    async with FakeEnv(seed=12) as env:
        await env.apply(manifest())
        await until_running(env)
        name = active(env)
        env.kubelet.script(PodScript(selector=f"ray.io/cluster!={name}",
                                     outcome="never_schedule", message="0/1 nodes available"))
        sampler = Sampler(env)
        await env.apply(with_image(manifest(), "huge:1"))
        await run_for(env, 600, sampler, step=2.0)
        st = status(env)
        assert active(env) == name and sampler.empty_at == []
        assert st["status"] == "RUNNING" and st["pendingServiceStatus"]["rayClusterName"] != name
        assert condition(env, "UpgradeInProgress")["status"] == "True"


# -- suspend and delete ---------------------------------------------------------------------------

async def test_suspend_deletes_everything_and_resume_starts_over() -> None:
    async with FakeEnv(seed=13) as env:
        await env.apply(manifest())
        await until_running(env)
        first, started = active(env), status(env)["startTime"]
        await env.apply(manifest(suspend=True))
        await env.run_until(lambda: status(env).get("status") == "SUSPENDED"
                            and not clusters(env) and not env.cluster.objects(SERVICE),
                            timeout=60)
        st = status(env)
        assert st["serviceStatus"] == "" and st["endTime"] and "rayClusterName" not in st
        assert condition(env, "Ready")["reason"] == "Suspended"
        await run_for(env, 30)
        await env.apply(manifest(suspend=False))
        await until_running(env)
        assert active(env) != first and status(env)["startTime"] > started
        assert "endTime" not in status(env)
        assert {"Suspended", "Resumed"} <= set(reasons(env))


async def test_delete_leaves_nothing_behind() -> None:
    async with FakeEnv(seed=14) as env:
        await env.apply(manifest())
        await until_running(env)
        await env.cluster.delete(RAYSERVICE, NAME, namespace="default")
        await env.run_until(
            lambda: not any(env.cluster.objects(k) for k in (RAYSERVICE, RAYCLUSTER, POD,
                                                             SERVICE)),
            timeout=60)


# -- gaps of issue 7's list, covered here ---------------------------------------------------------

async def test_a_serve_change_during_an_upgrade_goes_only_to_the_pending_cluster() -> None:
    async with FakeEnv(seed=15) as env:
        await env.apply(manifest())
        await until_running(env)
        old = active(env)
        env.kubelet.script(PodScript(selector=f"ray.io/cluster!={old}", start_delay=60))
        await env.apply(with_image(manifest(), "rayproject/ray:2.10.0"))
        await env.run_until(lambda: len(clusters(env)) == 2, timeout=30)
        pending = next(c for c in clusters(env) if c != old)
        changed = SAMPLE["spec"]["serveConfigV2"].replace("price: 3", "price: 4")
        await env.apply(with_image(manifest(serveConfigV2=changed), "rayproject/ray:2.10.0"))
        sampler = Sampler(env)
        await env.run_until(lambda: active(env) == pending, timeout=300, on_step=sampler)
        assert len(dashboard(env, old).calls_to("apply_serve_config")) == 1   # never touched
        applied = dashboard(env, pending).calls_to("apply_serve_config")
        assert applied and "price: 4" in yaml.safe_dump(applied[-1].args[0])
        assert all("price: 4" in yaml.safe_dump(c.args[0]) for c in applied)
        assert sampler.empty_at == []


async def test_a_dashboard_silent_past_the_threshold_replaces_the_cluster() -> None:
    async with FakeEnv(seed=16) as env:
        await env.apply(manifest(deploymentUnhealthySecondThreshold=30))
        await until_running(env)
        first = active(env)
        dashboard(env, first).inject(unreachable=True, times=None)
        sampler = Sampler(env)
        await env.run_until(lambda: active(env) not in ("", first), timeout=300,
                            on_step=sampler)
        assert status(env)["unhealthyReplacements"] == 1
        assert "ReplacingUnhealthyCluster" in reasons(env)
        await until_running(env)
        await env.run_until(lambda: first not in clusters(env), timeout=120)


async def test_exclude_head_pod_from_serve_svc_leaves_only_workers_behind_it() -> None:
    async with FakeEnv(seed=17) as env:
        await env.apply(manifest(excludeHeadPodFromServeSvc=True))
        await until_running(env)
        name = active(env)
        await env.run_until(lambda: status(env).get("numServeEndpoints") == 1, timeout=30)
        [head] = pods_of(env, name, node_type="head")
        head_ip = head["status"]["podIP"]
        assert serve_ips(env) and head_ip not in serve_ips(env)


async def test_a_bad_import_path_reports_deploy_failed_with_the_reason() -> None:
    async with FakeEnv(seed=18) as env:
        env.on_every_dashboard(lambda d: d.script_app(
            import_path="fruit", outcome=ServeApplicationStatus.DEPLOY_FAILED,
            message="ModuleNotFoundError: No module named 'fruit'"))
        await env.apply(manifest())
        await env.run_until(
            lambda: (status(env).get("appStatus") or {}).get("status") == "DEPLOY_FAILED",
            timeout=120)
        st = status(env)
        apps = (st.get("activeServiceStatus") or st.get("pendingServiceStatus")
                or {}).get("applicationStatuses") or {}
        assert apps["fruit_app"]["status"] == "DEPLOY_FAILED"
        assert "No module named 'fruit'" in apps["fruit_app"]["message"]
        assert st["status"] != "RUNNING"


async def test_a_stale_list_after_a_restart_never_deletes_the_serving_cluster() -> None:
    plan = FaultPlan(seed=19)
    async with FakeEnv(seed=19, faults=plan) as env:
        await env.apply(manifest())
        await until_running(env)
        before_upgrade = int(env.cluster.resource_version)
        old = active(env)
        await env.apply(with_image(manifest(), "rayproject/ray:2.10.0"))
        await env.run_until(lambda: active(env) not in ("", old), timeout=300)
        new = active(env)
        with StatusLog(env, RAYSERVICE, NAME) as log:
            await run_for(env, 1)
            seen = len(log.versions)
            # The restarted operator's first list of RayServices is served from a cache as old
            # as the first version (a watch cache can be): it shows `old` active, no upgrade.
            plan.stale_reads(int(env.cluster.resource_version) - before_upgrade, verb="list",
                             kind=RAYSERVICE, times=1)
            plan.latency(30, verb="watch", kind=RAYSERVICE, times=1)  # and stays so a while
            sampler = Sampler(env)
            await env.restart_manager()
            await run_for(env, 120, sampler)
        assert [f for f in plan.fired if f.effect.startswith("stale")]
        assert new in clusters(env) and active(env) == new
        assert sampler.empty_at == []
        after = [v.get("rayClusterName") for v in log.versions[seen:]]
        assert old not in after                  # the status never went back either


@pytest.mark.parametrize("seed", range(6))
async def test_chaos_upgrades_under_faults_and_crashes_never_stop_traffic(seed: int) -> None:
    """Upgrades, Serve changes and operator crashes at random, with conflicts, 500s (some after
    the write), stale reads and dropped watches: traffic never stops, one cluster is left."""
    rng = random.Random(seed)
    plan = FaultPlan(seed=seed)
    async with FakeEnv(seed=seed, faults=plan) as env:
        await env.apply(manifest())
        await until_running(env)
        plan.fail(Conflict("the object has been modified"), kind=RAYSERVICE,
                  verb=("patch_status", "replace", "patch"), probability=0.2, times=None)
        plan.fail(ServerError("etcd leader changed"), after_commit=True, probability=0.1,
                  verb=("patch_status", "replace", "create", "patch", "delete"), times=None)
        plan.stale_reads(rng.randint(1, 5), kind=RAYSERVICE, probability=0.2)
        plan.drop_watch(after_events=rng.randint(1, 5), times=rng.randint(1, 4))
        sampler = Sampler(env)
        for image in range(rng.randint(3, 8)):
            await run_for(env, rng.choice([1, 3, 7, 15, 40]), sampler, step=0.5)
            action = rng.random()
            with contextlib.suppress(ApiError):       # the faults hit the test's writes too
                if action < 0.4:
                    await env.apply(with_image(manifest(), f"rayproject/ray:2.{image}.0"))
                elif action < 0.6:
                    price = f"price: {rng.randint(4, 99)}"
                    await env.apply(manifest(serveConfigV2=SAMPLE["spec"]["serveConfigV2"]
                                             .replace("price: 3", price)))
                elif action < 0.8:
                    await env.restart_manager()
        plan.clear()
        await env.run_until(lambda: status(env).get("status") == "RUNNING"
                            and "pendingServiceStatus" not in status(env), timeout=600,
                            on_step=sampler, step=0.5)
        await run_for(env, 120, sampler)
        assert sampler.empty_at == []
        assert clusters(env) == [active(env)]
