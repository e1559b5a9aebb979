"""The rayop pytest plugin: fixtures for testing operators in virtual time.

Installed with rayop (entry point ``pytest11``), so any project that depends on rayop gets the
fixtures without importing anything:

================================  ================================================================
``rayop_seed``                    the seed: ``--rayop-seed N`` on the command line, else 0
``virtual_clock``                 a :class:`~rayop.runtime.clock.VirtualClock` in auto-advance mode
``fake_cluster``                  a :class:`~rayop.fakes.cluster.FakeCluster` on that clock, with
                                  rayop's kinds registered (and validated as the CRDs would)
``fake_dashboards``               :class:`~rayop.ray.fakes.dashboard.FakeDashboards`, one fake Ray
                                  head per RayCluster
``kubelet``                       a started :class:`~rayop.fakes.kubelet.KubeletSimulator` on the
                                  fake cluster, whose pods bring the fake Ray heads to life
``simulation``                    a started :class:`~rayop.testing.Simulation` built from
                                  ``rayop_simulation_options`` (override that fixture to add your
                                  kinds and controllers)
================================  ================================================================

For example, a test of your own operator::

    @pytest.fixture
    def rayop_simulation_options():
        return {"setup": add_widget_controller, "kinds": [WIDGET]}

    async def test_widget_gets_its_configmap(simulation):
        await simulation.apply(widget("w1"), kind=WIDGET)
        await simulation.run_until(lambda: simulation.get(CONFIGMAP, "w1-config") is not None,
                                   timeout=60)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from rayop.fakes.cluster import FakeCluster
from rayop.fakes.kubelet import KubeletSimulator
from rayop.ray.fakes import with_ray_kinds
from rayop.ray.fakes.dashboard import FakeDashboards
from rayop.runtime.clock import VirtualClock

__all__ = [
    "fake_cluster",
    "fake_dashboards",
    "kubelet",
    "pytest_addoption",
    "pytest_runtest_makereport",
    "rayop_seed",
    "rayop_simulation_options",
    "simulation",
    "virtual_clock",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--rayop-seed``."""
    group = parser.getgroup("rayop")
    group.addoption("--rayop-seed", type=int, default=None, metavar="N",
                    help="seed for rayop's fixtures and simulations (replays a sweep's seed)")


@pytest.fixture
def rayop_seed(request: pytest.FixtureRequest) -> int:
    """The seed: ``--rayop-seed N``, else 0."""
    seed = request.config.getoption("--rayop-seed", default=None)
    return 0 if seed is None else int(seed)


@pytest_asyncio.fixture
async def virtual_clock() -> AsyncIterator[VirtualClock]:
    """A :class:`~rayop.runtime.clock.VirtualClock` in auto-advance mode, closed after the test."""
    clock = VirtualClock(auto_advance=True)
    yield clock
    await clock.aclose()


@pytest.fixture
def fake_cluster(virtual_clock: VirtualClock, rayop_seed: int) -> FakeCluster:
    """A fake API server on the virtual clock, serving rayop's kinds with their validation."""
    return with_ray_kinds(FakeCluster(clock=virtual_clock, seed=rayop_seed))


@pytest.fixture
def fake_dashboards(virtual_clock: VirtualClock, rayop_seed: int) -> FakeDashboards:
    """One fake Ray head per RayCluster, dead until the kubelet runs its head pod."""
    return FakeDashboards(clock=virtual_clock, seed=rayop_seed, alive=False)


@pytest_asyncio.fixture
async def kubelet(
    fake_cluster: FakeCluster, virtual_clock: VirtualClock, fake_dashboards: FakeDashboards
) -> AsyncIterator[KubeletSimulator]:
    """The kubelet simulator, started on the fake cluster and wired to the fake Ray heads."""
    sim = KubeletSimulator(fake_cluster, clock=virtual_clock)
    sim.on_pod_change(fake_dashboards.observe_pod)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def rayop_simulation_options() -> dict[str, Any]:
    """Keyword arguments for the ``simulation`` fixture's :class:`~rayop.testing.Simulation`.

    Override it (in a module or conftest) to add your kinds, controllers or managers.
    """
    return {}


@pytest_asyncio.fixture
async def simulation(
    rayop_seed: int, rayop_simulation_options: dict[str, Any]
) -> AsyncIterator[Any]:
    """A started :class:`~rayop.testing.Simulation`; prints its timeline if the test fails.

    At teardown the invariants checked during the run (unhandled exceptions, writes after a lost
    lease, hot loops, undocumented status values, RayServices that stopped serving) must hold;
    call ``simulation.assert_invariants()`` in the test for the end-of-run ones too.
    """
    from rayop.testing import InvariantViolation, Simulation

    options = {"seed": rayop_seed, **rayop_simulation_options}
    async with Simulation(**options) as sim:
        yield sim
    if sim.violations:
        raise InvariantViolation(sim.report(list(sim.violations)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the simulation's timeline to the report of a failed test that used one."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    sim = funcargs.get("simulation")
    if sim is not None and hasattr(sim, "timeline"):
        report.sections.append((
            "rayop simulation timeline",
            f"seed {sim.seed} (replay with --rayop-seed {sim.seed})\n"
            f"{sim.timeline.format(last=200)}",
        ))
