"""Tests of the Widget operator, written with rayop's testing kit (the ``simulation`` fixture,
seeded fault schedules, the timeline printed when a test fails)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from widget import PHASES, WIDGET, add_widget_controller, desired_configmap

from rayop.fakes.cluster import FakeCluster
from rayop.runtime.client import CONFIGMAP, EVENT, Obj
from rayop.testing import FaultMix, Simulation, draw_faults, run_chaos

HERE = Path(__file__).resolve().parent


@pytest.fixture
def rayop_simulation_options() -> dict[str, Any]:
    """The kit's ``simulation`` fixture runs this operator (and none of rayop's)."""
    return {"setup": add_widget_controller, "kinds": [WIDGET], "controllers": ()}


def widget(name: str, message: Any = "hi", copies: Any = 1) -> Obj:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"message": message, "copies": copies}}


def settled(sim: Simulation, names: list[str]) -> bool:
    """Every widget Ready for its current spec, its ConfigMap holding what the spec says."""
    for name in names:
        obj = sim.get(WIDGET, name)
        if obj is None:
            return False
        status = obj.get("status") or {}
        if status.get("phase") != "Ready" or \
                status.get("observedGeneration") != obj["metadata"]["generation"]:
            return False
        cm = sim.get(CONFIGMAP, f"{name}-config")
        if cm is None or cm.get("data") != desired_configmap(obj)["data"]:
            return False
    return True


def test_the_crd_serves_the_widget_kind() -> None:
    crd = yaml.safe_load((HERE / "crd.yaml").read_text())
    assert FakeCluster().register_crd(crd) == WIDGET


async def test_a_widget_gets_its_configmap(simulation: Simulation) -> None:
    await simulation.apply(widget("w1", "hi", 2), kind=WIDGET)
    await simulation.run_until(lambda: settled(simulation, ["w1"]), timeout=60)
    cm = simulation.get(CONFIGMAP, "w1-config")
    assert cm is not None
    assert cm["data"] == {"message": "hi hi"}
    owner = cm["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("Widget", "w1")
    await simulation.settle(horizon=10)  # nothing keeps being reconciled


async def test_a_spec_change_rewrites_the_configmap(simulation: Simulation) -> None:
    await simulation.apply(widget("w1", "hi", 1), kind=WIDGET)
    await simulation.run_until(lambda: settled(simulation, ["w1"]), timeout=60)
    await simulation.apply(widget("w1", "bye", 3), kind=WIDGET)
    await simulation.run_until(lambda: settled(simulation, ["w1"]), timeout=60)
    assert (simulation.get(CONFIGMAP, "w1-config") or {})["data"] == {"message": "bye bye bye"}


async def test_an_invalid_spec_gets_a_status_and_a_warning_naming_the_field(
        simulation: Simulation) -> None:
    await simulation.apply(widget("bad", copies=-2), kind=WIDGET)
    await simulation.settle(horizon=10)
    status = simulation.status(WIDGET, "bad")
    assert status["phase"] == "Invalid"
    assert status["message"] == "spec.copies: must be a whole number >= 0, not -2"
    warnings = [e for e in simulation.objects(EVENT) if e.get("type") == "Warning"]
    assert [e["reason"] for e in warnings] == ["InvalidSpec"]
    assert "spec.copies" in warnings[0]["message"]
    assert simulation.get(CONFIGMAP, "bad-config") is None


async def test_deleting_a_widget_deletes_its_configmap(simulation: Simulation) -> None:
    await simulation.apply(widget("w1"), kind=WIDGET)
    await simulation.run_until(lambda: settled(simulation, ["w1"]), timeout=60)
    await simulation.delete(WIDGET, "w1")
    await simulation.run_until(lambda: simulation.get(CONFIGMAP, "w1-config") is None,
                               timeout=60)


@pytest.mark.parametrize("seed", range(12))
async def test_widgets_converge_under_seeded_faults_and_crashes(seed: int) -> None:
    """API errors, watch drops, stale reads and manager crashes, drawn from the seed: every
    widget still ends Ready with the right ConfigMap, and nothing went unhandled."""
    mix = FaultMix(window=120.0, timed={"crash": 3, "lag": 1})
    names = [f"w{i}" for i in range(4)]
    async with Simulation(seed=seed, setup=add_widget_controller, kinds=[WIDGET],
                          controllers=(), managers=1 + seed % 2) as sim:
        chaos = asyncio.ensure_future(run_chaos(sim, draw_faults(seed, mix,
                                                                  managers=1 + seed % 2)))
        for i, name in enumerate(names):
            await sim.apply(widget(name, f"m{i}", i), kind=WIDGET)
        await sim.clock.sleep(30)
        await sim.apply(widget("w0", "changed", 2), kind=WIDGET)
        faults = await chaos
        await sim.run_until(lambda: settled(sim, names), timeout=600)
        assert sum(faults.values()) > 0
        assert {sim.status(WIDGET, n)["phase"] for n in names} <= PHASES
        assert sim.violations == [], sim.report()
