"""The controllers add_ray_controllers wires: every cache read hits a started informer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rayop import Kind, Obj
from rayop.operator.controllers import CONTROLLERS, READS
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.sharedinformers import ScopedInformer
from rayop.testing.env import FakeEnv

MANIFESTS = Path(__file__).resolve().parents[2] / "examples" / "manifests"
SAMPLES = {
    "raycluster": "raycluster-sample.yaml",
    "rayjob": "rayjob-sample.yaml",
    "rayservice": "rayservice-sample.yaml",
}


def sample(controller: str) -> Obj:
    doc: Obj = yaml.safe_load((MANIFESTS / SAMPLES[controller]).read_text())
    return doc


class ReadSpy:
    """Wraps ``informer_for`` of the manager's shared informers and checks every lookup."""

    def __init__(self, env: FakeEnv) -> None:
        self.informers = env.manager.informers
        self.inner = self.informers.informer_for
        self.reads: dict[Kind, list[tuple[bool, bool]]] = {}
        self.missing: list[Kind] = []
        self.informers.informer_for = self.spy  # type: ignore[method-assign]

    def spy(self, kind: Kind) -> ScopedInformer | None:
        informer = self.inner(kind)
        if informer is None:
            self.missing.append(kind)
        else:
            self.reads.setdefault(kind, []).append((informer.running, informer.has_synced))
        return informer


@pytest.mark.parametrize("controller", CONTROLLERS)
async def test_each_controller_alone_reads_only_from_started_synced_informers(
    controller: str,
) -> None:
    async with FakeEnv(seed=3, controllers=[controller]) as env:
        spy = ReadSpy(env)
        await env.apply(sample(controller))
        await env.clock.sleep(120)
        assert spy.missing == [], f"{controller} read kinds no informer caches"
        assert spy.reads, f"{controller} read nothing"
        assert set(spy.reads) <= set(READS[controller])
        assert all(running and synced for seen in spy.reads.values() for running, synced in seen)
        primary = {"raycluster": RAYCLUSTER, "rayjob": RAYJOB, "rayservice": RAYSERVICE}
        assert primary[controller] in spy.reads


async def test_every_informer_the_readers_need_is_registered_and_started() -> None:
    for controller in CONTROLLERS:
        async with FakeEnv(seed=1, controllers=[controller]) as env:
            for kind in READS[controller]:
                informer = env.manager.informers.informer_for(kind)
                assert informer is not None, (controller, kind)
                assert informer.running and informer.has_synced


async def test_rayservice_metrics_are_on_the_manager_registry() -> None:
    async with FakeEnv(seed=1, controllers=["rayservice"]) as env:
        await env.apply(sample("rayservice"))
        await env.clock.sleep(30)
        names = {m.name for m in env.manager.registry.collect()}
        assert "rayop_rayservice_upgrades" in names  # counters drop the _total suffix here
        assert "rayop_rayservice_ready" in names
