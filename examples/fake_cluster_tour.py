"""A short tour of the fake cluster's API-server semantics, printed step by step.

    python examples/fake_cluster_tour.py

Create, an optimistic-concurrency conflict, a finalizer holding a delete, garbage collection of
an owned object, and a watch resuming after its connection drops — all in virtual time.
"""

from __future__ import annotations

import asyncio

from rayop.fakes.cluster import FakeCluster
from rayop.fakes.faults import FaultPlan
from rayop.ray.kinds import RAYJOB
from rayop.runtime.client import CONFIGMAP, Obj
from rayop.runtime.clock import VirtualClock
from rayop.runtime.errors import Conflict, NotFound

NS = "default"


def say(step: str, text: str) -> None:
    print(f"[{step}] {text}")


async def tour(fake: FakeCluster) -> None:
    job: Obj = {"metadata": {"name": "demo"}, "spec": {"entrypoint": "python train.py"}}
    created = await fake.create(RAYJOB, job, namespace=NS)
    meta = created["metadata"]
    say("create", f"rayjobs/demo uid={meta['uid']} resourceVersion={meta['resourceVersion']} "
                  f"generation={meta['generation']}")

    stale = dict(created)
    await fake.patch(RAYJOB, "demo", {"spec": {"suspend": True}}, namespace=NS)
    try:
        await fake.replace(RAYJOB, dict(stale, spec={"entrypoint": "x"}), namespace=NS)
    except Conflict as exc:
        say("conflict", f"replace with stale resourceVersion {meta['resourceVersion']}: "
                        f"{exc.status_code} {exc.message}")

    await fake.patch(RAYJOB, "demo", {"metadata": {"finalizers": ["rayop.dev/stop-job"]}},
                     namespace=NS)
    held = await fake.delete(RAYJOB, "demo", namespace=NS)
    assert held is not None
    say("finalizer", f"delete held by {held['metadata']['finalizers']}, "
                     f"deletionTimestamp={held['metadata']['deletionTimestamp']}")
    await fake.patch(RAYJOB, "demo", {"metadata": {"finalizers": None}}, namespace=NS)
    try:
        await fake.get(RAYJOB, "demo", namespace=NS)
    except NotFound as exc:
        say("finalizer", f"last finalizer removed, then: {exc.message}")

    await garbage_collection(fake)
    await watch_resume(fake)


async def garbage_collection(fake: FakeCluster) -> None:
    owner = await fake.create(RAYJOB, {"metadata": {"name": "owner"}, "spec": {}}, namespace=NS)
    ref = {"apiVersion": "ray.io/v1", "kind": "RayJob", "name": "owner",
           "uid": owner["metadata"]["uid"], "controller": True}
    await fake.create(CONFIGMAP, {"metadata": {"name": "owner-config", "ownerReferences": [ref]}},
                      namespace=NS)
    say("gc", f"configmaps in {NS}: {[o['metadata']['name'] for o in fake.objects(CONFIGMAP)]}")
    await fake.delete(RAYJOB, "owner", namespace=NS)
    say("gc", f"after deleting rayjobs/owner (Background): configmaps in {NS}: "
              f"{[o['metadata']['name'] for o in fake.objects(CONFIGMAP)]}")


async def watch_resume(fake: FakeCluster) -> None:
    start = (await fake.list(RAYJOB, namespace=NS)).resource_version
    for name in ("w1", "w2", "w3"):
        await fake.create(RAYJOB, {"metadata": {"name": name}, "spec": {}}, namespace=NS)
    fake.faults.drop_watch(after_events=1, kind=RAYJOB)
    last = start
    async for event in fake.watch(RAYJOB, namespace=NS, resource_version=start):
        last = event.resource_version
        say("watch", f"{event.type} {event.object['metadata']['name']} (rv {last})")
    say("watch", f"stream dropped; resuming from resourceVersion {last}")
    async for event in fake.watch(RAYJOB, namespace=NS, resource_version=last,
                                  timeout_seconds=5, allow_bookmarks=False):
        say("watch", f"{event.type} {event.object['metadata']['name']} "
                     f"(rv {event.resource_version})")
    say("watch", "resumed without a gap or a duplicate; the server timeout ended the stream")


async def main() -> None:
    clock = VirtualClock(auto_advance=True)
    fake = FakeCluster(clock=clock, seed=42, faults=FaultPlan(seed=42))
    fake.register_kind(RAYJOB)
    try:
        await tour(fake)
        say("calls", f"{len(fake.calls)} requests recorded, cluster at resourceVersion "
                     f"{fake.resource_version}, virtual time {clock.monotonic():.0f} s")
    finally:
        await clock.aclose()


if __name__ == "__main__":
    asyncio.run(main())
