"""The standard seeded world the sweep runs: a few RayJobs and a RayService under faults.

:func:`run_world` draws everything from the seed — how many managers (one, or two with leader
election), the fault schedule, when each RayJob arrives and how long its Ray job runs, when the
RayService is upgraded (a new cluster) and when its Serve config changes (in place) — plays it in
virtual time, lets the world converge once the faults stop, and checks every invariant::

    result = asyncio.run(run_world(17))
    assert not result.violations, result.report

``python -m rayop.testing replay 17`` replays seed 17 and prints its timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from rayop.operator.controllers import ControllerSpec
from rayop.ray.fakes.dashboard import FakeDashboard
from rayop.ray.kinds import RAYSERVICE
from rayop.runtime.client import Obj
from rayop.testing.chaos import PROFILES, FaultMix, FaultSchedule, draw_faults, run_chaos
from rayop.testing.invariants import Violation
from rayop.testing.simulation import Setup, Simulation
from rayop.testing.timeline import Timeline

__all__ = ["SeedResult", "rayjob_manifest", "rayservice_manifest", "replay_command", "run_world"]

_IMAGE = "rayproject/ray:2.9.0"


def _cluster_spec(image: str = _IMAGE, workers: int = 1) -> Obj:
    return {
        "rayVersion": "2.9.0",
        "headGroupSpec": {
            "rayStartParams": {"dashboard-host": "0.0.0.0"},
            "template": {"spec": {"containers": [{
                "name": "ray-head", "image": image,
                "ports": [{"containerPort": 6379, "name": "gcs-server"},
                          {"containerPort": 8265, "name": "dashboard"},
                          {"containerPort": 8000, "name": "serve"}],
                "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}]}},
        },
        "workerGroupSpecs": [{
            "groupName": "small-group", "replicas": workers, "minReplicas": workers,
            "maxReplicas": workers + 2, "rayStartParams": {},
            "template": {"spec": {"containers": [{
                "name": "ray-worker", "image": image,
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}},
        }],
    }


def rayjob_manifest(name: str, *, shutdown: bool = True, ttl: int = 0, backoff_limit: int = 4,
                    namespace: str = "default") -> Obj:
    """A small RayJob whose entrypoint names it (``python train.py --job <name>``)."""
    return {
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "entrypoint": f"python train.py --job {name}",
            "shutdownAfterJobFinishes": shutdown,
            "ttlSecondsAfterFinished": ttl,
            "backoffLimit": backoff_limit,
            "rayClusterSpec": _cluster_spec(),
        },
    }


def rayservice_manifest(name: str, *, image: str = _IMAGE, price: int = 1,
                        namespace: str = "default") -> Obj:
    """A small RayService with one Serve application; ``price`` is a Serve-only knob."""
    serve = {"applications": [{
        "name": "fruit", "import_path": "fruit.deployment_graph", "route_prefix": "/fruit",
        "deployments": [{"name": "MangoStand", "num_replicas": 1,
                         "user_config": {"price": price}}],
    }]}
    return {
        "apiVersion": "ray.io/v1", "kind": "RayService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "deploymentUnhealthySecondThreshold": 300,
            "deploymentUnhealthyRestartThreshold": 3,
            "rayClusterDeletionDelaySeconds": 30,
            "upgradeStrategy": {"type": "NewCluster"},
            "serveConfigV2": yaml.safe_dump(serve, sort_keys=False),
            "rayClusterConfig": _cluster_spec(image),
        },
    }


def replay_command(seed: int, *, broken: str | None = None, profile: str = "ci") -> str:
    """The command that replays ``seed`` exactly."""
    extra = f" --broken {broken}" if broken else ""
    extra += f" --profile {profile}" if profile != "ci" else ""
    return f"python -m rayop.testing replay {seed}{extra}"


@dataclass
class SeedResult:
    """What one seed did: its draw, the faults injected, the work done, what broke."""

    seed: int
    managers: int
    schedule: FaultSchedule
    faults: Counter[str]
    reconciles: int
    writes: int
    virtual_seconds: float
    wall_seconds: float
    violations: list[Violation] = field(default_factory=list)
    report: str = ""
    timeline: Timeline | None = None

    @property
    def faults_injected(self) -> int:
        """Every fault that fired: API answers, timed actions, Ray calls hit."""
        return sum(self.faults.values())

    def line(self) -> str:
        """One line for sweep output."""
        verdict = "ok" if not self.violations else f"{len(self.violations)} VIOLATIONS"
        return (f"seed {self.seed:4d}: {self.managers} manager(s), {self.faults_injected:3d} "
                f"faults, {self.reconciles:4d} reconciles, {self.virtual_seconds:6.0f} virtual s,"
                f" {self.wall_seconds:5.2f} wall s: {verdict}")


async def run_world(
    seed: int,
    *,
    mix: FaultMix | None = None,
    profile: str | None = None,
    setup: Setup | None = None,
    controllers: Iterable[str | ControllerSpec] | None = None,
    jobs: int = 3,
    services: int = 1,
    managers: int | None = None,
    converge_timeout: float = 1500.0,
    replay: str | None = None,
    keep_timeline: bool = False,
) -> SeedResult:
    """Run the standard world for ``seed`` (see the module docstring) and check its invariants."""
    started = time.perf_counter()
    rng = random.Random(f"rayop-world/{seed}")
    if profile is not None:
        mix = mix or PROFILES[profile]
        if profile == "harsh":
            managers = managers or 2
    managers = managers or rng.choice((1, 1, 2))
    schedule = draw_faults(seed, mix, managers=managers)
    sim = Simulation(seed=seed, managers=managers, setup=setup, controllers=controllers,
                     replay=replay or replay_command(seed, profile=profile or "ci"))
    async with sim:
        durations = {f"job-{i}": rng.uniform(5.0, 90.0) for i in range(jobs)}

        def script(fake: FakeDashboard) -> None:
            for name, running in durations.items():
                fake.script_job(entrypoint=f"--job {name}$", pending=2.0, running=running)

        sim.env.on_every_dashboard(script)
        chaos = asyncio.ensure_future(run_chaos(sim, schedule))
        work = asyncio.ensure_future(_workload(sim, rng, jobs, services, schedule.window))
        try:
            await work
            faults = await chaos
        finally:
            for task in (chaos, work):
                task.cancel()
        with contextlib.suppress(TimeoutError):  # check_invariants names what did not converge
            await sim.run_until(sim.converged, timeout=converge_timeout, step=2.0)
        violations = sim.check_invariants()
        report = sim.report(violations) if violations else ""
        writes = sim.timeline.count("write")
        virtual = sim.clock.monotonic()
    return SeedResult(seed, managers, schedule, faults, sim.reconciles, writes, virtual,
                      time.perf_counter() - started, violations, report,
                      sim.timeline if keep_timeline else None)


async def _workload(sim: Simulation, rng: random.Random, jobs: int, services: int,
                    window: float) -> None:
    """Create the RayJobs and RayServices at seeded times; upgrade the services mid-window."""
    plan: list[tuple[float, str, Any]] = []
    for i in range(jobs):
        manifest = rayjob_manifest(f"job-{i}", shutdown=rng.random() < 0.7,
                                   ttl=rng.choice((0, 0, 10, 30)))
        plan.append((rng.uniform(0.0, window / 2), "apply", manifest))
    for i in range(services):
        name = f"svc-{i}"
        plan.append((rng.uniform(0.0, 10.0), "apply", rayservice_manifest(name)))
        if rng.random() < 0.8:
            plan.append((rng.uniform(60.0, window), "apply",
                         rayservice_manifest(name, image="rayproject/ray:2.9.1")))
        if rng.random() < 0.5:
            plan.append((rng.uniform(30.0, window), "apply-late", name))
    plan.sort(key=lambda item: item[0])
    for at, what, payload in plan:
        await sim.clock.sleep(max(0.0, at - sim.clock.monotonic()))
        if what == "apply":
            sim.timeline.add(sim.clock.monotonic(), "note", f"{payload['kind']} default/"
                             f"{payload['metadata']['name']}", "test", "applied")
            await sim.apply(copy.deepcopy(payload))
        else:
            current = _head_image(sim.get(RAYSERVICE, payload))
            await sim.apply(rayservice_manifest(payload, image=current, price=7))
            sim.timeline.add(sim.clock.monotonic(), "note", f"RayService default/{payload}",
                             "test", "Serve config changed (in place)")


def _head_image(service: Obj | None) -> str:
    try:
        spec = (service or {})["spec"]["rayClusterConfig"]["headGroupSpec"]
        return str(spec["template"]["spec"]["containers"][0]["image"])
    except (KeyError, IndexError, TypeError):
        return _IMAGE
