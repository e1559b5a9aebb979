"""Soak: 10,000 RayJobs and 1,000 RayServices driven to completion in virtual time under faults.

One :class:`~rayop.testing.Simulation` (two managers with leader election by default) runs rayop's
controllers while a seeded fault schedule plays for ``--window`` virtual seconds: API errors,
watch drops and 410s, stale reads, reordered delivery, pod crashes, evictions, head-pod loss,
dashboard outages and slow answers, manager crashes and leader changes. The RayServices come
first and must reach RUNNING (a tenth of them are upgraded to a new cluster on the way); the
RayJobs arrive in waves of ``--concurrency`` and must all finish. Then every invariant is
checked, as in the sweep.

Printed: wall and CPU time, virtual time, reconciles and reconciles per CPU second, faults injected,
peak memory (``ru_maxrss``), invariant violations — side by side with a baseline: the same
workload at a tenth of the size with no faults, so the ratios show what scale and faults cost.

    python bench/soak.py                               # the full soak (minutes)
    python bench/soak.py --jobs 1000 --services 100    # a quick one
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass

from rayop.operator.controllers import OperatorOptions
from rayop.ray.fakes.dashboard import FakeDashboard
from rayop.testing import (
    FaultMix,
    Simulation,
    draw_faults,
    rayjob_manifest,
    rayservice_manifest,
    run_chaos,
)
from rayop.testing.__main__ import quiet_logs


@dataclass
class Outcome:
    """What one soak run did."""

    jobs: int
    services: int
    wall: float
    cpu: float
    virtual: float
    reconciles: int
    faults: int
    violations: list[str]
    peak_rss_mb: float

    @property
    def per_second(self) -> float:
        """Reconciles per CPU second (the machine may be shared: wall time says less)."""
        return self.reconciles / self.cpu if self.cpu else 0.0


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def soak(*, jobs: int, services: int, concurrency: int, seed: int, managers: int,
               window: float, faults: bool) -> Outcome:
    """Run one soak and check its invariants."""
    started = time.perf_counter()
    cpu = time.process_time()
    options = OperatorOptions(seed=seed, service_poll_interval=30.0, job_poll_interval=5.0,
                              max_concurrent_reconciles=4)
    sim = Simulation(seed=seed, managers=managers, operator=options, timeline_limit=20_000,
                     replay=f"python bench/soak.py --seed {seed}")
    async with sim:
        sim.env.on_every_dashboard(_script)
        chaos: asyncio.Future[Counter[str]] | None = None
        if faults:
            mix = FaultMix(window=window, max_rate=0.02, timed={
                "lag": 6, "pod-crash": 30, "eviction": 10, "head-loss": 10,
                "dashboard-outage": 20, "dashboard-slow": 10, "crash": 8, "leader-change": 6})
            chaos = asyncio.ensure_future(run_chaos(sim, draw_faults(seed, mix,
                                                                     managers=managers)))
        await _services(sim, services)
        await _jobs(sim, jobs, concurrency, started)
        counts = await chaos if chaos is not None else Counter[str]()
        await sim.run_until(sim.converged, timeout=3600, step=10.0)
        violations = [f"[{v.invariant}] {v.message}" for v in sim.check_invariants()]
        virtual = sim.clock.monotonic()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Outcome(jobs, services, time.perf_counter() - started, time.process_time() - cpu,
                   virtual, sim.reconciles, sum(counts.values()), violations, rss)


def _script(fake: FakeDashboard) -> None:
    fake.script_job(entrypoint="--job job-", pending=2.0, running=20.0)


async def _services(sim: Simulation, count: int) -> None:
    for i in range(count):
        await sim.apply(rayservice_manifest(f"svc-{i}"))
    await sim.run_until(lambda: _running(sim) >= count, timeout=3600, step=10.0)
    for i in range(0, count, 10):  # a tenth are upgraded: a new cluster, zero downtime
        await sim.apply(rayservice_manifest(f"svc-{i}", image="rayproject/ray:2.9.1"))
    _log(f"  {count} RayServices RUNNING at {sim.clock.monotonic():.0f} virtual s")


def _running(sim: Simulation) -> int:
    latest = sim.monitor.latest["RayService"]
    return sum(1 for s in latest.values() if s["status"].get("status") == "RUNNING")


async def _jobs(sim: Simulation, count: int, concurrency: int, started: float) -> None:
    created = loops = 0
    while created < count or sim.monitor.open_jobs:
        loops += 1
        while created < count and len(sim.monitor.open_jobs) < concurrency:
            manifest = rayjob_manifest(f"job-{created}", ttl=0)
            await sim.apply(copy.deepcopy(manifest))
            created += 1
        await sim.clock.sleep(10.0)
        if loops % 30 == 0 or not sim.monitor.open_jobs:
            done = created - len(sim.monitor.open_jobs)
            _log(f"  {done}/{count} RayJobs finished at {sim.clock.monotonic():.0f} virtual s, "
                 f"{time.perf_counter() - started:.0f} wall s, {sim.reconciles} reconciles")


def _row(name: str, run: Outcome) -> str:
    return (f"{name:<9} {run.jobs:>7} {run.services:>8} {run.wall:>9.1f} {run.cpu:>8.1f} "
            f"{run.virtual:>9.0f} "
            f"{run.reconciles:>10} {run.per_second:>11.0f} {run.faults:>7} "
            f"{run.peak_rss_mb:>9.0f} {len(run.violations):>10}")


def main() -> int:
    """Run the baseline, then the soak; print both side by side."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--managers", type=int, default=2)
    parser.add_argument("--window", type=float, default=1800.0)
    args = parser.parse_args()
    with quiet_logs():
        _log("baseline: a tenth of the workload, no faults")
        base = asyncio.run(soak(jobs=max(1, args.jobs // 10), services=max(1, args.services // 10),
                                concurrency=max(1, args.concurrency // 10), seed=args.seed,
                                managers=args.managers, window=args.window, faults=False))
        _log("soak: the whole workload, under faults")
        full = asyncio.run(soak(jobs=args.jobs, services=args.services,
                                concurrency=args.concurrency, seed=args.seed,
                                managers=args.managers, window=args.window, faults=True))
    print(f"{'run':<9} {'RayJobs':>7} {'RaySvcs':>8} {'wall s':>9} {'CPU s':>8} {'virtual s':>9} "
          f"{'reconciles':>10} {'reconc/CPUs':>11} {'faults':>7} {'peak MB':>9} {'violations':>10}")
    print(_row("baseline", base))
    print(_row("soak", full))
    objects = (full.jobs + full.services) / max(1, base.jobs + base.services)
    print(f"ratios soak/baseline: {objects:.0f}x the objects, "
          f"{full.reconciles / max(1, base.reconciles):.1f}x the reconciles, "
          f"{full.wall / max(base.wall, 1e-9):.1f}x the wall time, "
          f"{full.cpu / max(base.cpu, 1e-9):.1f}x the CPU time, "
          f"reconciles/s {full.per_second / max(base.per_second, 1e-9):.2f}x; "
          f"virtual/wall time: baseline {base.virtual / base.wall:.0f}x, "
          f"soak {full.virtual / full.wall:.0f}x")
    print("(peak MB is the process's ru_maxrss so far: the soak's includes the baseline's)")
    for text in full.violations[:20]:
        print("violation:", text)
    return 1 if full.violations else 0


if __name__ == "__main__":
    sys.exit(main())
