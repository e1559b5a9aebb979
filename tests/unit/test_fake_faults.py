"""Fault injection in the fake cluster: every fault type, and seeded determinism."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from rayop.fakes.cluster import FakeCluster
from rayop.fakes.faults import FaultPlan
from rayop.ray.kinds import RAYJOB
from rayop.runtime.client import CONFIGMAP, Obj, PatchType, PropagationPolicy, WatchEvent
from rayop.runtime.clock import VirtualClock
from rayop.runtime.errors import (
    ApiError,
    Conflict,
    Gone,
    NotFound,
    ServerError,
    Timeout,
    TooManyRequests,
)

NS = "default"


def job(name: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": spec or {"entrypoint": "python main.py"}}



def make(clock: VirtualClock, plan: FaultPlan | None = None, **kwargs: Any) -> FakeCluster:
    fake = FakeCluster(clock=clock, faults=plan, **kwargs)
    fake.register_kind(RAYJOB)
    return fake


async def test_fail_the_nth_matching_call_only(clock: VirtualClock) -> None:
    plan = FaultPlan()
    plan.fail(ServerError("etcd hiccup"), verb="create", kind=RAYJOB, nth=2)
    fake = make(clock, plan)
    await fake.create(CONFIGMAP, {"metadata": {"name": "cm"}}, namespace=NS)
    await fake.create(RAYJOB, job("a"), namespace=NS)
    with pytest.raises(ServerError, match="etcd hiccup"):
        await fake.create(RAYJOB, job("b"), namespace=NS)
    await fake.create(RAYJOB, job("c"), namespace=NS)
    assert [o["metadata"]["name"] for o in fake.objects(RAYJOB)] == ["a", "c"]
    assert [c.outcome for c in fake.calls] == ["ok", "ok", "ServerError", "ok"]
    assert plan.fired[0].effect == "ServerError" and plan.fired[0].name == "b"


async def test_fail_by_name_several_times(clock: VirtualClock) -> None:
    plan = FaultPlan()
    plan.fail(Conflict("busy"), verb="get", name="a", times=2)
    fake = make(clock, plan)
    await fake.create(RAYJOB, job("a"), namespace=NS)
    await fake.create(RAYJOB, job("b"), namespace=NS)
    outcomes = []
    for name in ("a", "b", "a", "a"):
        try:
            await fake.get(RAYJOB, name, namespace=NS)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("Conflict")
    assert outcomes == ["Conflict", "ok", "Conflict", "ok"]


async def test_after_commit_failure_writes_all_the_same(clock: VirtualClock) -> None:
    plan = FaultPlan()
    plan.timeout(verb="create", after_commit=True)
    fake = make(clock, plan)
    with pytest.raises(Timeout):
        await fake.create(RAYJOB, job("a"), namespace=NS)
    assert (await fake.get(RAYJOB, "a", namespace=NS))["metadata"]["name"] == "a"
    assert fake.calls[0].outcome == "Timeout" and fake.calls[0].name == "a"


async def test_throttle_answers_429_with_retry_after(clock: VirtualClock) -> None:
    plan = FaultPlan()
    plan.throttle(retry_after=7, verb="patch")
    fake = make(clock, plan)
    await fake.create(RAYJOB, job("a"), namespace=NS)
    with pytest.raises(TooManyRequests) as caught:
        await fake.patch(RAYJOB, "a", {"spec": {"x": 1}}, namespace=NS)
    assert caught.value.retry_after == 7 and caught.value.status_code == 429
    assert (await fake.get(RAYJOB, "a", namespace=NS))["spec"] == {"entrypoint": "python main.py"}


async def test_latency_is_virtual_time(clock: VirtualClock) -> None:
    plan = FaultPlan()
    plan.latency(30, verb="get")
    fake = make(clock, plan)
    await fake.create(RAYJOB, job("a"), namespace=NS)
    before = clock.monotonic()
    await fake.get(RAYJOB, "a", namespace=NS)
    await fake.get(RAYJOB, "a", namespace=NS)
    assert clock.monotonic() - before == 60
    assert [c.at for c in fake.calls] == [0, 30, 60]


async def test_probability_draws_from_the_plan_seed(clock: VirtualClock) -> None:
    async def outcomes(seed: int) -> list[str]:
        plan = FaultPlan(seed=seed)
        plan.fail(ServerError("flaky"), verb="list", probability=0.5, times=None)
        fake = make(clock, plan)
        for _ in range(40):
            with contextlib.suppress(ServerError):
                await fake.list(RAYJOB, namespace=NS)
        return [c.outcome for c in fake.calls]

    first, again, other = await outcomes(1), await outcomes(1), await outcomes(2)
    assert first == again and first != other
    assert 5 < first.count("ServerError") < 35


async def test_stale_reads_serve_an_older_revision(clock: VirtualClock) -> None:
    plan = FaultPlan()
    fake = make(clock, plan)
    await fake.create(RAYJOB, job("a", step=1), namespace=NS)
    await fake.patch(RAYJOB, "a", {"spec": {"step": 2}}, namespace=NS)
    await fake.create(RAYJOB, job("b"), namespace=NS)
    plan.stale_reads(2, times=2)
    old = await fake.get(RAYJOB, "a", namespace=NS)
    listed = await fake.list(RAYJOB, namespace=NS)
    assert old["spec"] == {"step": 1}
    assert [i["metadata"]["name"] for i in listed.items] == ["a"]
    assert int(listed.resource_version) == int(fake.resource_version) - 2
    plan.stale_reads(1, verb="get", times=1)
    with pytest.raises(NotFound):
        await fake.get(RAYJOB, "b", namespace=NS)
    assert (await fake.get(RAYJOB, "a", namespace=NS))["spec"] == {"step": 2}


async def _drain(stream: AsyncIterator[WatchEvent]) -> list[str]:
    return [e.object["metadata"]["name"] async for e in stream if e.type != "BOOKMARK"]


async def test_dropped_watch_ends_and_resumes(clock: VirtualClock) -> None:
    plan = FaultPlan()
    plan.drop_watch(after_events=2, kind=RAYJOB)
    fake = make(clock, plan)
    for name in "abcd":
        await fake.create(RAYJOB, job(name), namespace=NS)
    seen = []
    async for event in fake.watch(RAYJOB, namespace=NS, resource_version="1"):
        seen.append(event)
    assert [e.object["metadata"]["name"] for e in seen] == ["a", "b"]
    rest = fake.watch(RAYJOB, namespace=NS, resource_version=seen[-1].resource_version,
                      timeout_seconds=10)
    assert await _drain(rest) == ["c", "d"]


async def test_expired_watch_raises_gone_mid_stream(clock: VirtualClock) -> None:
    plan = FaultPlan()
    plan.expire_watch(after_events=1)
    fake = make(clock, plan)
    for name in "ab":
        await fake.create(RAYJOB, job(name), namespace=NS)
    seen: list[str] = []

    async def consume() -> None:
        async for event in fake.watch(RAYJOB, namespace=NS):
            seen.append(event.object["metadata"]["name"])

    with pytest.raises(Gone):
        await consume()
    assert seen == ["a"]


async def test_slow_watcher_is_ended_and_can_resume(clock: VirtualClock) -> None:
    fake = make(clock, watch_buffer=3)
    start = fake.resource_version
    stream = fake.watch(RAYJOB, namespace=NS, resource_version=start, timeout_seconds=5)
    first = await anext(stream)  # opens the watch; nothing to see yet but a pre-timeout bookmark
    assert first.type == "BOOKMARK"
    for i in range(6):
        await fake.create(RAYJOB, job(f"j{i}"), namespace=NS)
    delivered = await _drain(stream)
    assert delivered == ["j0", "j1", "j2"]
    last = fake.objects(RAYJOB)[2]["metadata"]["resourceVersion"]
    resumed = fake.watch(RAYJOB, namespace=NS, resource_version=last, timeout_seconds=1)
    assert await _drain(resumed) == ["j3", "j4", "j5"]


async def test_continue_token_past_history_is_gone(clock: VirtualClock) -> None:
    fake = make(clock, history=5)
    for name in "abc":
        await fake.create(RAYJOB, job(name), namespace=NS)
    page = await fake.list(RAYJOB, namespace=NS, limit=1)
    for i in range(6):
        await fake.patch(RAYJOB, "c", {"spec": {"i": i}}, namespace=NS)
    with pytest.raises(Gone):
        await fake.list(RAYJOB, namespace=NS, limit=1, continue_token=page.continue_token)


# -- determinism -------------------------------------------------------------------------------


def random_plan(rng: random.Random, seed: int) -> FaultPlan:
    plan = FaultPlan(seed=seed)
    verbs = ["get", "list", "create", "patch", "patch_status", "delete", "replace", "watch"]
    for _ in range(8):
        verb = rng.choice(verbs)
        choice = rng.randrange(5)
        kwargs: dict[str, Any] = {"verb": verb, "probability": rng.choice([0.1, 0.3, 0.5]),
                                  "times": None}
        if choice == 0:
            plan.fail(ServerError("injected"), after_commit=rng.random() < 0.5, **kwargs)
        elif choice == 1:
            plan.throttle(retry_after=rng.randint(1, 5), **kwargs)
        elif choice == 2:
            plan.timeout(after_commit=True, **kwargs)
        elif choice == 3:
            plan.latency(rng.choice([0.5, 2.0]), **kwargs)
        elif verb in ("get", "list"):
            plan.stale_reads(rng.randint(1, 4), **kwargs)
    plan.drop_watch(after_events=2, probability=0.5, times=None)
    return plan


async def random_run(seed: int) -> bytes:
    rng = random.Random(seed)
    clock = VirtualClock(auto_advance=True)
    fake = make(clock, random_plan(rng, seed), seed=seed)
    results: list[Any] = []
    for _ in range(250):
        name = f"j{rng.randrange(6)}"
        verb = rng.choice(["create", "generate", "get", "list", "patch", "status", "delete",
                           "jsonpatch", "replace", "watch"])
        try:
            results.append(["ok", await _call(fake, verb, name, rng)])
        except ApiError as exc:
            results.append([type(exc).__name__, exc.message])
    await clock.aclose()
    calls = [dataclasses.asdict(c) for c in fake.calls]
    fired = [dataclasses.asdict(f) for f in fake.faults.fired]
    return orjson.dumps({"calls": calls, "results": results, "fired": fired,
                         "objects": fake.objects(RAYJOB)})


async def _call(fake: FakeCluster, verb: str, name: str, rng: random.Random) -> Any:
    match verb:
        case "create":
            return await fake.create(RAYJOB, job(name), namespace=NS)
        case "generate":
            body = {"metadata": {"generateName": "gen-"}, "spec": {}}
            return await fake.create(RAYJOB, body, namespace=NS)
        case "get":
            return await fake.get(RAYJOB, name, namespace=NS)
        case "list":
            return (await fake.list(RAYJOB, namespace=NS, limit=3)).items
        case "patch":
            return await fake.patch(RAYJOB, name, {"spec": {"n": rng.randrange(3)}}, namespace=NS)
        case "status":
            return await fake.patch_status(RAYJOB, name, {"status": {"s": rng.randrange(3)}},
                                           namespace=NS)
        case "jsonpatch":
            ops = [{"op": "test", "path": "/spec/n", "value": 1}]
            return await fake.patch(RAYJOB, name, ops, namespace=NS, patch_type=PatchType.JSON)
        case "replace":
            current = await fake.get(RAYJOB, name, namespace=NS)
            current["spec"] = {"replaced": rng.randrange(3)}
            return await fake.replace(RAYJOB, current, namespace=NS)
        case "delete":
            return await fake.delete(RAYJOB, name, namespace=NS,
                                     propagation_policy=PropagationPolicy.FOREGROUND)
        case _:
            stream = fake.watch(RAYJOB, namespace=NS, resource_version="0", timeout_seconds=3)
            return [[e.type, e.object] async for e in stream]


async def test_same_seed_same_run_byte_for_byte() -> None:
    first = await random_run(11)
    assert first == await random_run(11)
    assert first != await random_run(12)
    assert b"ServerError" in first and b"TooManyRequests" in first
