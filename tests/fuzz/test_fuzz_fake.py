"""The fuzzer tier on the fake cluster: a few hundred hostile objects, in virtual time.

Each batch applies its cases beside a good RayJob and RayService in one FakeEnv, lets 300
virtual seconds pass, and asserts what a user would check: every object the API server accepted
has a status for its generation (a refusal naming the field, with one Warning saying so), the
good neighbours converged, the manager never stopped, and the event loop was never blocked for
long (a YAML bomb walked on the loop blocks it for minutes). ``RAYOP_FUZZ_SEED`` moves the
seeds, ``RAYOP_FUZZ_CASES`` sets the count (a soak: thousands).
"""

from __future__ import annotations

import os

import pytest

from fuzz.cases import TALLIES, Tally, converged, draw, failures, good, peak_rss_mb
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import EVENT, Obj
from rayop.runtime.errors import ApiError
from rayop.runtime.status import INVALID_SPEC_REASON
from rayop.testing.env import FakeEnv
from rayop.testing.fuzz import LoopLag

BATCH = 50
CASES = int(os.environ.get("RAYOP_FUZZ_CASES", "300"))
FIRST_SEED = int(os.environ.get("RAYOP_FUZZ_SEED", "9100"))
MAX_LAG = 2.0  # seconds of wall time: a hang guard, not a performance bound


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + max(1, CASES // BATCH)))
async def test_hostile_objects_each_get_a_status_and_the_rest_converge(seed: int) -> None:
    tally = TALLIES.setdefault("fake", Tally())
    cases = draw(seed, BATCH, "default")
    async with LoopLag() as lag, FakeEnv(seed=seed) as env:
        for kind, obj in good("default"):
            await env.apply(obj, kind=kind)
        accepted = []
        for case in cases:
            try:
                await env.apply(case.fuzz.obj, kind=case.kind)
            except ApiError:
                tally.refused_by_server += 1
            else:
                accepted.append(case)
        await env.run_until(lambda: converged(_objects(env)), timeout=600, step=5)
        settled = env.clock.monotonic()  # a minute more: refusals must not be retried
        await env.run_until(lambda: env.clock.monotonic() - settled >= 60, timeout=61, step=5)
        objs = _objects(env)
        problems = failures(accepted, objs, env.cluster.objects(EVENT), seed)
        manager_alive = env.manager_running
    tally.cases += len(cases)
    tally.accepted += len(accepted)
    tally.rejected_by_rayop += sum(
        1 for c in accepted
        if ((objs.get(c.name) or {}).get("status") or {}).get("reason") == INVALID_SPEC_REASON)
    tally.manager_stops += 0 if manager_alive else 1
    tally.max_lag = max(tally.max_lag, lag.max)
    tally.peak_rss = max(tally.peak_rss, peak_rss_mb())
    assert problems == []
    assert manager_alive
    assert lag.max < MAX_LAG, f"the event loop was blocked for {lag.max:.2f} s"


def _objects(env: FakeEnv) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for kind in (RAYJOB, RAYSERVICE, RAYCLUSTER)
            for o in env.cluster.objects(kind)}
