"""The fuzzer tier through a real API: the fake's REST front (``http``) and kube-apiserver.

The same generated cases as ``tests/fuzz`` (other seeds), created through rayop's KubeClient
beside a good RayJob and RayService while the operator runs, in real time: whatever the server
accepts gets a status naming what is wrong, the good ones converge, the manager never stops,
the loop is never blocked for long. Seeds: ``RAYOP_FUZZ_E2E_SEED``; count:
``RAYOP_FUZZ_E2E_CASES``.
"""

from __future__ import annotations

import os

from e2e_harness import Operator
from fuzz.cases import TALLIES, Tally, converged, draw, failures, good, peak_rss_mb

from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import EVENT, Obj
from rayop.runtime.errors import ApiError
from rayop.runtime.status import INVALID_SPEC_REASON
from rayop.testing.fuzz import LoopLag

CASES = int(os.environ.get("RAYOP_FUZZ_E2E_CASES", "60"))
SEED = int(os.environ.get("RAYOP_FUZZ_E2E_SEED", "9300"))
MAX_LAG = 2.0  # seconds: a hang guard, not a performance bound


async def test_hostile_objects_through_a_real_api_each_get_a_status(operator: Operator) -> None:
    backend = operator.backend
    ns = backend.namespace
    tally = TALLIES.setdefault(backend.name, Tally())
    cases = draw(SEED, CASES, ns)
    async with LoopLag() as lag:
        for kind, obj in good(ns):
            await operator.api.create(kind, obj, namespace=ns)
        accepted = []
        for case in cases:
            try:
                await operator.api.create(case.kind, case.fuzz.obj, namespace=ns)
            except ApiError:
                tally.refused_by_server += 1
            else:
                accepted.append(case)

        async def objects() -> dict[str, Obj]:
            out = {}
            for kind in (RAYJOB, RAYSERVICE, RAYCLUSTER):
                for obj in (await operator.api.list(kind, namespace=ns)).items:
                    out[obj["metadata"]["name"]] = obj
            return out

        async def handled() -> bool:
            objs = await objects()
            events = (await operator.api.list(EVENT, namespace=ns)).items
            return converged(objs) and not failures(accepted, objs, events, SEED)

        try:
            await operator.until(handled, within=120, every=0.5)
        except TimeoutError:
            objs = await objects()
            events = (await operator.api.list(EVENT, namespace=ns)).items
            raise AssertionError(
                f"not settled: good ones converged: {converged(objs)}; "
                f"{failures(accepted, objs, events, SEED)}") from None
        objs = await objects()
    tally.cases += len(cases)
    tally.accepted += len(accepted)
    tally.rejected_by_rayop += sum(
        1 for c in accepted
        if ((objs.get(c.name) or {}).get("status") or {}).get("reason") == INVALID_SPEC_REASON)
    tally.max_lag = max(tally.max_lag, lag.max)
    tally.peak_rss = max(tally.peak_rss, peak_rss_mb())
    assert lag.max < MAX_LAG, f"the event loop was blocked for {lag.max:.2f} s"
