"""The seed sweep: rayop's operator in the standard world under seeded faults, invariants checked.

Every seed draws its own world (one manager, or two with leader election), its own faults and
timing; once the faults stop, the world must converge and every invariant must hold
(``rayop.testing.invariants``). A failing seed prints the command that replays it exactly.

Two profiles (``rayop.testing.chaos.PROFILES``): ``ci``, the standard mix, on seeds 0..; and
``harsh`` — per seed, any number of the nine API fault kinds at up to 20 % of requests each, more
timed faults, always two managers — on seeds from 60000.

``pytest tests/sim --rayop-seed N`` runs seed N alone (of both profiles). ``RAYOP_SWEEP_SEEDS``
(default 300), ``RAYOP_SWEEP_HARSH_SEEDS`` (default 100) and ``RAYOP_SWEEP_WORKERS`` (default:
up to 2 processes) size the sweeps.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from rayop.testing import SeedResult, replay_command, run_world
from rayop.testing.__main__ import quiet_logs
from rayop.testing.planted import planted

SEEDS = int(os.environ.get("RAYOP_SWEEP_SEEDS", "300"))
HARSH_SEEDS = int(os.environ.get("RAYOP_SWEEP_HARSH_SEEDS", "100"))
HARSH_FIRST = 60_000
WORKERS = int(os.environ.get("RAYOP_SWEEP_WORKERS", str(min(2, os.cpu_count() or 1))))


def run_seed(seed: int, profile: str = "ci") -> dict[str, Any]:
    """One seed of the standard world, summarised (runs in a worker process)."""
    with quiet_logs():
        result = asyncio.run(run_world(seed, profile=profile))
    return {"seed": seed, "profile": profile, "line": result.line(), "faults": dict(result.faults),
            "injected": result.faults_injected, "reconciles": result.reconciles,
            "managers": result.managers, "report": result.report,
            "failed": bool(result.violations)}


def _seeds(config: pytest.Config, first: int, count: int) -> list[int]:
    chosen = config.getoption("--rayop-seed", default=None)
    return [int(chosen)] if chosen is not None else list(range(first, first + count))


def test_sweep_invariants_hold(pytestconfig: pytest.Config,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """Every invariant holds on every seed; the numbers of seeds, faults and reconciles shown."""
    _sweep(_seeds(pytestconfig, 0, SEEDS), "ci", capsys)


def test_harsh_sweep_invariants_hold(pytestconfig: pytest.Config,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The same under the harsh profile: every API fault kind possible, two managers."""
    _sweep(_seeds(pytestconfig, HARSH_FIRST, HARSH_SEEDS), "harsh", capsys)


def _sweep(seeds: list[int], profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    if len(seeds) == 1 or WORKERS < 2:
        results = [run_seed(s, profile) for s in seeds]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context) as pool:
            results = list(pool.map(functools.partial(run_seed, profile=profile), seeds,
                                    chunksize=4))
    wall = time.perf_counter() - started
    faults: Counter[str] = Counter()
    for r in results:
        faults.update(r["faults"])
    failed = [r for r in results if r["failed"]]
    two = sum(r["managers"] == 2 for r in results)
    summary = (f"sweep ({profile}): {len(results)} seeds ({two} with two "
               f"managers), {sum(r['injected'] for r in results)} faults injected, "
               f"{sum(r['reconciles'] for r in results)} reconciles, {len(failed)} failed, "
               f"{wall:.1f} s wall on {WORKERS if len(seeds) > 1 else 1} process(es)\n"
               f"faults by kind: {dict(sorted(faults.items()))}")
    with capsys.disabled():
        print("\n" + summary)
        for r in failed:
            print(r["line"])
            print(f"   replay: {replay_command(r['seed'], profile=profile)}  (or: pytest "
                  f"tests/sim -k sweep --rayop-seed {r['seed']})")
    assert len(results) == len(seeds)
    assert sum(r["injected"] for r in results) > 0
    assert not failed, "\n\n".join(r["report"] for r in failed[:3])


def _hunt(broken: str, seeds: int) -> tuple[SeedResult, SeedResult, SeedResult]:
    """Sweep seeds 0.. with bug ``broken`` planted until one fails; then replay that seed with
    the bug and run it with rayop's own reconciler. Returns (found, replayed, correct)."""
    controllers, setup = planted(broken)
    found = None
    with quiet_logs():
        for seed in range(seeds):
            result = asyncio.run(run_world(seed, controllers=controllers, setup=setup,
                                           replay=replay_command(seed, broken=broken)))
            if result.violations:
                found = result
                break
        assert found is not None, f"{seeds} seeds did not catch {broken}"
        again = asyncio.run(run_world(found.seed, controllers=controllers, setup=setup))
        correct = asyncio.run(run_world(found.seed))
    assert f"python -m rayop.testing replay {found.seed} --broken {broken}" in found.report
    assert [(v.invariant, v.message) for v in again.violations] == \
        [(v.invariant, v.message) for v in found.violations]
    assert not correct.violations, correct.report
    return found, again, correct


def test_a_planted_bug_is_found_with_a_seed_that_replays_it() -> None:
    """Submitting before the submission id is recorded: the sweep finds it, the seed it names
    fails the same way again, and rayop's own reconciler passes that seed (the control)."""
    found, _, _ = _hunt("submit-before-record", seeds=80)
    assert any(v.invariant == "exactly-once" and "submitted twice" in v.message
               for v in found.violations), found.report


def test_switching_services_before_the_pending_cluster_is_ready_is_found() -> None:
    """Pointing the Services at a pending cluster that does not serve yet: during an upgrade the
    serve Service loses its endpoints, the ``serving`` invariant names the RayService, the seed
    replays the same outage, and rayop's own RayService reconciler passes that seed."""
    found, _, _ = _hunt("switch-before-ready", seeds=20)
    assert [v.invariant for v in found.violations] == ["serving"], found.report
    assert "RayService default/svc-0 stopped serving" in found.violations[0].message


def test_a_seed_replays_exactly() -> None:
    """The same seed gives the same run: the same timeline, entry for entry."""
    with quiet_logs():
        first = asyncio.run(run_world(22, keep_timeline=True))
        second = asyncio.run(run_world(22, keep_timeline=True))
    assert first.managers == 2 and first.faults_injected > 0
    assert first.timeline is not None and second.timeline is not None
    assert first.timeline.format() == second.timeline.format()
    assert first.faults == second.faults


@pytest.mark.parametrize(("seed", "what"), [
    (221, "a RayCluster deleted behind a stale cache: its pods were recreated in a hot loop"),
    (256, "a head pod's status write answered 504 after it took effect: Ray never came up"),
])
def test_seeds_that_once_failed_pass(seed: int, what: str) -> None:
    """Regressions the sweep found, pinned whatever ``RAYOP_SWEEP_SEEDS`` says."""
    with quiet_logs():
        result = asyncio.run(run_world(seed))
    assert not result.violations, f"{what}\n{result.report}"


@pytest.mark.parametrize("seed", [60005, 70076, 62216])
def test_harsh_seeds_that_once_failed_pass(seed: int) -> None:
    """60005: an ambiguous create left two head pods and the fake Ray followed the wrong one (the
    pending cluster never served); 70076: a new leader whose RayCluster cache lagged relabelled
    the serving pods out of the serve Service (now a live read confirms first); 62216: the new
    leader's RayCluster status, written from a lagging pod cache, said "not ready" while the head
    pod served (the live check now reads the head pod too)."""
    result = run_seed(seed, "harsh")
    assert not result["failed"], result["report"]
