"""The Simulation and the kit's fixtures: settle, crashes at chosen points, leader changes, the
invariants' detectors, the failure report."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rayop.fakes.cluster import FakeCluster
from rayop.fakes.kubelet import KubeletSimulator
from rayop.ray.kinds import RAYCLUSTER, RAYJOB
from rayop.runtime.client import CONFIGMAP, POD, Obj
from rayop.runtime.clock import VirtualClock
from rayop.runtime.manager import Manager
from rayop.runtime.reconcile import Request, Result
from rayop.testing import (
    InvariantViolation,
    LinkState,
    NotSettled,
    Simulation,
    Submission,
    Timeline,
    rayjob_manifest,
)


def job_phase(sim: Simulation, name: str = "job-0") -> Any:
    return sim.status(RAYJOB, name).get("jobDeploymentStatus")


async def test_settle_returns_once_a_rayjob_is_done() -> None:
    async with Simulation(seed=3, controllers=("raycluster", "rayjob")) as sim:
        await sim.apply(rayjob_manifest("job-0"))
        waited = await sim.settle(horizon=30, timeout=600)
        assert sim.status(RAYJOB, "job-0")["status"] == "Succeeded"
        assert sim.objects(RAYCLUSTER) == []  # shutdownAfterJobFinishes
        assert waited > 0
        sim.assert_invariants()


class Churner:
    """Bumps a counter annotation on its ConfigMap every second, forever."""

    def __init__(self, manager: Manager, *, write: bool) -> None:
        self.manager, self.write = manager, write

    async def reconcile(self, request: Request) -> Result:
        cm = self.manager.cache.get(CONFIGMAP, request.name, namespace=request.namespace)
        if cm is None:
            return Result()
        if self.write:
            count = int((cm["metadata"].get("annotations") or {}).get("count", "0")) + 1
            await self.manager.client.patch(CONFIGMAP, request.name, {
                "metadata": {"annotations": {"count": str(count)}}}, namespace=request.namespace)
        return Result(requeue_after=1.0)


def churner(write: bool) -> Any:
    def setup(manager: Manager, dashboards: object) -> None:
        manager.add_controller("churner", Churner(manager, write=write), for_kind=CONFIGMAP)
    return setup


CM: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-1"}, "data": {}}


async def test_settle_names_the_key_that_keeps_writing() -> None:
    """A reconciler that writes on every pass wakes itself forever with no virtual time passing:
    the hot-loop guard flags it and lets time pass, and settle() names the key."""
    async with Simulation(seed=1, setup=churner(write=True)) as sim:
        await sim.apply(CM, kind=CONFIGMAP)
        with pytest.raises(NotSettled, match=r"churner default/cm-1: \d+ reconciles"):
            await sim.settle(horizon=5, timeout=15, polling_ok=True)
        assert [v.invariant for v in sim.violations] == ["hot-loop"]


async def test_a_key_that_only_polls_settles_when_polling_is_allowed() -> None:
    async with Simulation(seed=1, setup=churner(write=False)) as sim:
        await sim.apply(CM, kind=CONFIGMAP)
        await sim.settle(horizon=10, timeout=60, polling_ok=True)
        with pytest.raises(NotSettled, match="churner default/cm-1"):
            await sim.settle(horizon=10, timeout=30)


async def test_a_manager_killed_right_after_ray_accepted_the_job_does_not_submit_it_again() -> None:
    async with Simulation(seed=5, controllers=("raycluster", "rayjob")) as sim:
        sim.crash_after_write_matching("submit_job")
        await sim.apply(rayjob_manifest("job-0"))
        await sim.run_until(lambda: job_phase(sim) == "Complete", timeout=900)
        crashes = sim.timeline.select(what="fault")
        assert any("crashes right after this write" in e.detail for e in crashes)
        assert sim.restarts == 1 and sim.slots[0].identity == "m0.2"
        assert [s.submission_id for s in sim.submissions] == [
            sim.status(RAYJOB, "job-0")["jobId"]]
        sim.assert_invariants()


async def _leader_with_a_job_started(sim: Simulation) -> tuple[int, str]:
    """Wait for a leader, start a RayJob; the leader's slot and identity."""
    await sim.run_until(lambda: sim.leader() is not None, timeout=60)
    first = sim.leader()
    assert first is not None
    await sim.apply(rayjob_manifest("job-0"))
    await sim.run_until(lambda: job_phase(sim) == "Initializing", timeout=120)
    return first, sim.slots[first].identity


async def test_a_partitioned_leader_loses_its_lease_and_the_other_manager_finishes() -> None:
    async with Simulation(seed=8, managers=2) as sim:
        first, old = await _leader_with_a_job_started(sim)
        sim.partition(first, True)
        await sim.run_until(lambda: sim.leader() not in (None, first), timeout=120)
        sim.partition(first, False)
        await sim.run_until(lambda: job_phase(sim) == "Complete", timeout=900)
        lost = [e for e in sim.timeline.select(what="manager") if "lost the lease" in e.detail]
        assert [e.actor for e in lost] == [old]
        writers = {e.actor for e in sim.timeline.select(obj="RayJob default/job-0", what="write")}
        assert len(writers) >= 2  # the job was carried on by the new leader
        sim.assert_invariants()  # among them: no write after a lease was lost


async def test_a_leader_cut_from_the_api_but_not_from_ray_stops_calling_ray() -> None:
    # Ray still answers it, so only the lease fences it: once it stops leading (its renew
    # deadline), it neither writes nor calls Ray, and the new leader finishes the job once.
    async with Simulation(seed=8, managers=2) as sim:
        first, old = await _leader_with_a_job_started(sim)
        sim.partition(first, True, ray=False)
        await sim.run_until(lambda: sim.leader() not in (None, first), timeout=120)
        await sim.run_until(lambda: job_phase(sim) == "Complete", timeout=900)
        sim.partition(first, False)
        ray_calls = [e for e in sim.timeline.select(what="write")
                     if e.actor == old and e.obj.startswith("RayHead")]
        lost = [e for e in sim.timeline.select(what="manager") if "lost the lease" in e.detail]
        assert [e.actor for e in lost] == [old]
        assert all(e.at < lost[0].at for e in ray_calls)
        assert len(sim.submissions) == 1
        sim.assert_invariants()  # among them: no write or Ray call after the lease was lost


def test_a_write_after_the_lease_was_lost_is_flagged() -> None:
    flagged: list[str] = []
    lost = SimpleNamespace(is_set=lambda: True)
    state = LinkState(identity="m0.1", clock=VirtualClock(), timeline=Timeline(),
                      on_crash=lambda s: None, on_violation=flagged.append, submissions=[],
                      manager=SimpleNamespace(elector=SimpleNamespace(lost=lost)))  # type: ignore[arg-type]
    state.wrote("Lease", "default/rayop", "replace")  # the lease itself is not a change
    state.wrote("RayJob", "default/job-0", "patch_status")
    assert flagged == ["m0.1 wrote patch_status RayJob default/job-0 at 0.00s after it lost its "
                       "leader lease"]


async def test_an_undocumented_status_value_is_flagged() -> None:
    # rayop's schema refuses it; a cluster whose CRD does not enumerate status values (kinds=
    # re-registers RayJob without a validator) takes it, and the monitor flags it.
    async with Simulation(seed=2, controllers=(), kinds=[RAYJOB]) as sim:
        await sim.apply(rayjob_manifest("job-0"))
        await sim.cluster.patch_status(RAYJOB, "job-0", {"status": {"status": "Done"}},
                                       namespace="default")
        found = [v for v in sim.check_invariants() if v.invariant == "status-value"]
        assert [v.message for v in found] == [
            "RayJob default/job-0 has status.status = 'Done', not a documented value"]


async def test_a_lost_submission_and_an_orphan_are_flagged() -> None:
    async with Simulation(seed=2, controllers=()) as sim:
        await sim.apply(rayjob_manifest("job-0"))
        await sim.cluster.patch_status(RAYJOB, "job-0", {"status": {
            "jobDeploymentStatus": "Complete", "status": "Succeeded", "jobId": "job-0-abcde",
            "rayClusterName": "job-0-xyz12", "observedGeneration": 1}}, namespace="default")
        orphan = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {
            "name": "stray", "labels": {"ray.io/originated-from-crd": "RayJob"}},
            "spec": rayjob_manifest("x")["spec"]["rayClusterSpec"]}
        await sim.apply(orphan)
        found = {(v.invariant, v.message) for v in sim.check_invariants()}
        assert ("exactly-once", "RayJob default/job-0 completed, but its Ray job 'job-0-abcde' "
                "was never accepted by cluster job-0-xyz12 (a lost submission)") in found
        assert ("orphan", "RayCluster default/stray has no owner") in found


async def test_one_submission_id_accepted_by_two_lives_of_a_head_is_flagged() -> None:
    # The same id twice is no duplicate to one Ray head, but a head restarted is a new Ray that
    # remembers nothing: accepting the id again runs the job again.
    async with Simulation(seed=2, controllers=()) as sim:
        sim.submissions.extend([Submission("default", "c", "job-0-abcde", 1.0, "m0.1", 0),
                                Submission("default", "c", "job-0-abcde", 9.0, "m0.1", 1)])
        found = {(v.invariant, v.message) for v in sim.check_invariants()}
        assert ("exactly-once", "RayCluster default/c: Ray job 'job-0-abcde' was accepted by 2 "
                "lives of its head (the job ran again after a head restart)") in found


async def test_the_failure_report_names_the_violation_the_replay_and_the_timeline() -> None:
    async with Simulation(seed=4, controllers=("raycluster", "rayjob"),
                          replay="python -m rayop.testing replay 4") as sim:
        await sim.apply(rayjob_manifest("job-0"))
        await sim.run_until(lambda: job_phase(sim) == "Complete", timeout=900)
        sim.violate("serving", "RayService default/x stopped serving")
        with pytest.raises(InvariantViolation) as caught:
            sim.assert_invariants()
    text = str(caught.value)
    assert "[serving] at" in text and "RayService default/x stopped serving" in text
    assert "replay: python -m rayop.testing replay 4" in text
    assert "reconcile m0.1       rayjob default/job-0" in text


async def test_the_kit_fixtures_run_pods(fake_cluster: FakeCluster,
                                         kubelet: KubeletSimulator) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await fake_cluster.create(POD, pod, namespace="default")
    clock = kubelet.clock
    assert isinstance(clock, VirtualClock)
    await clock.sleep(10)
    running = await fake_cluster.get(POD, "p", namespace="default")
    assert running["status"]["phase"] == "Running" and running["status"]["podIP"]


async def test_the_simulation_fixture_runs_rayop(simulation: Simulation) -> None:
    await simulation.apply(rayjob_manifest("job-0"))
    await simulation.run_until(lambda: job_phase(simulation) == "Complete", timeout=900)
    assert simulation.status(RAYJOB, "job-0")["jobStatus"] == "SUCCEEDED"
    simulation.assert_invariants()
