"""Embed rayop's runtime in your own asyncio program: your controller, your loop, your metrics.

    python examples/embed_runtime.py

A small operator of its own — it mirrors every ConfigMap labelled ``mirror=yes`` into the
namespace ``mirror`` — runs on rayop's Manager beside the host program's other work. The
Manager runs in the caller's event loop, installs no signal handler, keeps no global state and
registers its metrics on the registry it is given; the host stops it with
``manager.request_stop()``.
Here it runs against the in-memory FakeCluster, so no Kubernetes is needed; with a real cluster,
pass ``await rayop.KubeClient.auto()`` instead (and ``add_ray_controllers(manager, ...)`` to
reconcile Ray's resources in the same process).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry

from rayop import (
    Cache,
    Clock,
    ClusterClient,
    EventRecorder,
    Manager,
    ManagerOptions,
    NotFound,
    Obj,
    RealClock,
    Request,
    Result,
    Watch,
    enqueue_mapped,
)
from rayop.fakes import FakeCluster
from rayop.runtime.client import CONFIGMAP, EVENT, NAMESPACE
from rayop.runtime.handlers import Predicate

MIRROR_NS = "mirror"
FROM = "example.rayop.dev/mirrored-from"


def labelled(obj: Obj) -> bool:
    """Whether the ConfigMap asks to be mirrored."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get("mirror") == "yes"


def source_of(copy: Obj) -> Iterable[Request]:
    """A copy's events wake the reconcile of its source (so a hand-edited copy is put back)."""
    origin = ((copy.get("metadata") or {}).get("annotations") or {}).get(FROM, "")
    namespace, _, name = origin.partition("/")
    return [Request(namespace, name)] if name else []


class MirrorReconciler:
    """Keeps ``mirror/<namespace>.<name>`` equal to a labelled ConfigMap; removes it after."""

    def __init__(self, client: ClusterClient, cache: Cache, events: EventRecorder) -> None:
        self.client, self.cache, self.events = client, cache, events

    async def reconcile(self, request: Request) -> Result:
        source = self.cache.get(CONFIGMAP, request.name, namespace=request.namespace)
        name = f"{request.namespace}.{request.name}"
        copy = self.cache.get(CONFIGMAP, name, namespace=MIRROR_NS)
        if source is None or not labelled(source):
            if copy is not None:
                with contextlib.suppress(NotFound):  # already gone: fine
                    await self.client.delete(CONFIGMAP, name, namespace=MIRROR_NS)
            return Result()
        data = source.get("data") or {}
        if copy is None:
            await self.client.create(CONFIGMAP, {"metadata": {
                "name": name, "annotations": {FROM: str(request)}}, "data": data},
                namespace=MIRROR_NS)
            self.events.normal(source, "Mirrored", f"copied to {MIRROR_NS}/{name}")
        elif copy.get("data") != data:
            await self.client.patch(CONFIGMAP, name, {"data": _replace(copy, data)},
                                    namespace=MIRROR_NS)
        return Result()


def _replace(current: Obj, data: dict[str, str]) -> dict[str, str | None]:
    """A merge patch that makes ``data`` exactly ``data`` (None deletes a key)."""
    gone: dict[str, str | None] = {k: None for k in (current.get("data") or {}) if k not in data}
    return {**gone, **data}


async def until(clock: Clock, check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Poll ``check`` (cheap: it reads the cache) until it holds."""
    deadline = clock.monotonic() + timeout
    while not check():
        if clock.monotonic() >= deadline:
            raise TimeoutError(what)
        await clock.sleep(0.01)
    print(f"  ok: {what}")


async def main(clock: Clock | None = None) -> None:
    clock = clock or RealClock()
    cluster = FakeCluster(clock=clock)  # production: client = await rayop.KubeClient.auto()
    registry = CollectorRegistry()  # the host's registry; rayop adds its series to it
    manager = Manager(cluster, clock=clock, options=ManagerOptions(
        registry=registry, graceful_shutdown_timeout=10))
    mirror = MirrorReconciler(manager.client, manager.cache, manager.events)
    manager.add_controller(
        "mirror", mirror, for_kind=CONFIGMAP,
        predicate=Predicate(lambda event: labelled(event.obj), name="labelled"),
        watches=[Watch(CONFIGMAP, mapper=enqueue_mapped(source_of))],
    )

    heartbeats = 0

    async def host_work() -> None:  # whatever else the program does, on the same loop
        nonlocal heartbeats
        while True:
            heartbeats += 1
            await clock.sleep(0.05)

    other = asyncio.create_task(host_work())
    runner = asyncio.create_task(manager.run())
    await manager.wait_started()
    print("manager started: informers synced, workers running")

    await cluster.create(NAMESPACE, {"metadata": {"name": MIRROR_NS}})
    cache = manager.cache

    def copy() -> Obj | None:
        return cache.get(CONFIGMAP, "default.app-config", namespace=MIRROR_NS)

    print("create default/app-config (mirror=yes)")
    await cluster.create(CONFIGMAP, {"metadata": {"name": "app-config", "labels": {
        "mirror": "yes"}}, "data": {"mode": "fast"}}, namespace="default")
    await until(clock, lambda: (copy() or {}).get("data") == {"mode": "fast"}, "copy created")

    print("change its data")
    await cluster.patch(CONFIGMAP, "app-config", {"data": {"mode": "safe", "retries": "3"}},
                        namespace="default")
    await until(clock, lambda: (copy() or {}).get("data") == {"mode": "safe", "retries": "3"},
                "copy updated")

    print("edit the copy by hand")
    await cluster.patch(CONFIGMAP, "default.app-config", {"data": {"mode": "oops"}},
                        namespace=MIRROR_NS)
    await until(clock, lambda: (copy() or {}).get("data", {}).get("mode") == "safe",
                "copy put back")

    print("delete the source")
    await cluster.delete(CONFIGMAP, "app-config", namespace="default")
    await until(clock, lambda: copy() is None, "copy removed")

    await manager.events.flush()
    reasons = [e["reason"] for e in cluster.objects(EVENT, "default")]
    print(f"events on the source: {reasons}")
    done = registry.get_sample_value("controller_runtime_reconcile_total",
                                     {"controller": "mirror", "result": "success"})
    print(f"controller_runtime_reconcile_total{{result=success}} = {done:.0f}")

    manager.request_stop()  # graceful: stop taking keys, finish what runs, stop informers
    await runner
    other.cancel()
    print(f"manager stopped; the host's own task ran beside it (heartbeats: {heartbeats})")


if __name__ == "__main__":
    asyncio.run(main())
