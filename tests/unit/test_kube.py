"""KubeClient over real HTTP against a scripted API server: requests, errors, retries, watch."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kube_server import KubeServer, StepClock, status_body
from kubernetes_asyncio.client import ApiClient, Configuration

from rayop.kube import KubeClient, KubeConfigError, RetryPolicy
from rayop.kube.config import open_api_client
from rayop.ray.kinds import RAYJOB
from rayop.runtime.client import (
    NAMESPACE,
    POD,
    ClusterClient,
    PatchType,
    Preconditions,
    PropagationPolicy,
)
from rayop.runtime.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    Timeout,
    TooManyRequests,
)

JOB_PATH = "/apis/ray.io/v1/namespaces/ns/rayjobs"


def rayjob(name: str = "a", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name, "namespace": "ns", **meta},
        "spec": {"entrypoint": "python main.py"},
    }


@pytest.fixture
async def server() -> AsyncIterator[KubeServer]:
    srv = KubeServer()
    await srv.start()
    yield srv
    await srv.close()


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


def make_client(server: KubeServer, clock: StepClock, **retry: Any) -> KubeClient:
    api = open_api_client(Configuration(host=server.url))
    policy = RetryPolicy(jitter=0.0, **retry)
    return KubeClient(api, owns_api_client=True, clock=clock, retry=policy)


@pytest.fixture
async def kube(server: KubeServer, clock: StepClock) -> AsyncIterator[KubeClient]:
    async with make_client(server, clock) as client:
        yield client


@pytest.fixture
async def once(server: KubeServer, clock: StepClock) -> AsyncIterator[KubeClient]:
    """A client that never retries, to look at one answer's mapping."""
    async with make_client(server, clock, max_attempts=1) as client:
        yield client


# -- request shapes ---------------------------------------------------------------------------


async def test_get_reads_one_object_as_a_plain_dict(kube: KubeClient, server: KubeServer) -> None:
    server.reply(200, rayjob(resourceVersion="7"))
    obj = await kube.get(RAYJOB, "a", namespace="ns")
    assert obj["metadata"]["resourceVersion"] == "7"
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("GET", f"{JOB_PATH}/a")
    assert seen.headers["Accept"] == "application/json"


async def test_list_sends_selectors_and_fills_kind_into_items(
    kube: KubeClient, server: KubeServer
) -> None:
    items = [{"metadata": {"name": "p1"}}, {"metadata": {"name": "p2"}}]
    meta = {"resourceVersion": "42", "continue": "tok2", "remainingItemCount": 3}
    server.reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items})
    result = await kube.list(
        POD,
        namespace="ns",
        label_selector="app in (a,b),!old",
        field_selector="status.phase=Running",
        limit=2,
        continue_token="tok1",
    )
    assert server.seen[0].path == "/api/v1/namespaces/ns/pods"
    assert server.seen[0].query == {
        "labelSelector": "app in (a,b),!old",
        "fieldSelector": "status.phase=Running",
        "limit": "2",
        "continue": "tok1",
    }
    assert [(i["apiVersion"], i["kind"]) for i in result.items] == [("v1", "Pod")] * 2
    assert (result.resource_version, result.continue_token) == ("42", "tok2")
    assert result.extra == {"remainingItemCount": 3}


async def test_list_all_namespaces_uses_the_cluster_wide_path(
    kube: KubeClient, server: KubeServer
) -> None:
    server.reply(200, {"metadata": {"resourceVersion": "1"}, "items": []})
    result = await kube.list(RAYJOB)
    assert server.seen[0].path == "/apis/ray.io/v1/rayjobs"
    assert server.seen[0].query == {}
    assert result.continue_token is None


async def test_create_posts_to_the_argument_namespace_without_touching_the_callers_dict(
    kube: KubeClient, server: KubeServer
) -> None:
    obj = {"metadata": {"generateName": "job-"}, "spec": {"entrypoint": "x"}}
    server.reply(201, rayjob("job-x1"))
    created = await kube.create(RAYJOB, obj, namespace="ns")
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("POST", JOB_PATH)
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.json() == {"apiVersion": "ray.io/v1", "kind": "RayJob", **obj}
    assert "apiVersion" not in obj
    assert created["metadata"]["name"] == "job-x1"


async def test_create_prefers_the_objects_own_namespace(
    kube: KubeClient, server: KubeServer
) -> None:
    server.reply(201, rayjob())
    await kube.create(RAYJOB, rayjob(), namespace="other")
    assert server.seen[0].path == JOB_PATH


async def test_cluster_scoped_kinds_need_no_namespace(
    kube: KubeClient, server: KubeServer
) -> None:
    server.reply(201, {"metadata": {"name": "team"}})
    created = await kube.create(NAMESPACE, {"metadata": {"name": "team"}})
    assert server.seen[0].path == "/api/v1/namespaces"
    assert (created["apiVersion"], created["kind"]) == ("v1", "Namespace")


async def test_namespaced_kind_without_namespace_is_refused_before_sending(
    kube: KubeClient, server: KubeServer
) -> None:
    with pytest.raises(BadRequest, match="namespace is required"):
        await kube.get(RAYJOB, "a")
    with pytest.raises(BadRequest):
        await kube.create(RAYJOB, {"metadata": {"name": "a"}})
    assert server.seen == []


@pytest.mark.parametrize(("method", "suffix"), [("replace", ""), ("replace_status", "/status")])
async def test_replace_puts_the_object_at_its_path(
    kube: KubeClient, server: KubeServer, method: str, suffix: str
) -> None:
    obj = rayjob(resourceVersion="5") | {"status": {"jobStatus": "RUNNING"}}
    server.reply(200, obj)
    await getattr(kube, method)(RAYJOB, obj)
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("PUT", f"{JOB_PATH}/a{suffix}")
    assert seen.json() == obj


async def test_replace_without_a_name_is_invalid(kube: KubeClient, server: KubeServer) -> None:
    with pytest.raises(Invalid) as err:
        await kube.replace(RAYJOB, {"metadata": {}}, namespace="ns")
    assert err.value.fields == ("metadata.name",)
    assert server.seen == []


@pytest.mark.parametrize("patch_type", list(PatchType))
@pytest.mark.parametrize(("method", "suffix"), [("patch", ""), ("patch_status", "/status")])
async def test_patch_sends_the_patch_types_content_type(
    kube: KubeClient, server: KubeServer, patch_type: PatchType, method: str, suffix: str
) -> None:
    patch: Any = {"spec": {"suspend": True}}
    if patch_type is PatchType.JSON:
        patch = [{"op": "test", "path": "/spec/suspend", "value": False}]
    server.reply(200, rayjob())
    await getattr(kube, method)(RAYJOB, "a", patch, namespace="ns", patch_type=patch_type)
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("PATCH", f"{JOB_PATH}/a{suffix}")
    assert seen.headers["Content-Type"] == patch_type.value
    assert seen.json() == patch


async def test_delete_sends_delete_options(kube: KubeClient, server: KubeServer) -> None:
    server.reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
    gone = await kube.delete(
        RAYJOB,
        "a",
        namespace="ns",
        propagation_policy=PropagationPolicy.FOREGROUND,
        preconditions=Preconditions(uid="u1", resource_version="5"),
    )
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("DELETE", f"{JOB_PATH}/a")
    assert seen.json() == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Foreground",
        "preconditions": {"uid": "u1", "resourceVersion": "5"},
    }
    assert gone is None


@pytest.mark.parametrize(
    ("meta", "present"),
    [
        ({"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["ray.io/x"]}, True),
        ({"deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}, True),
        ({"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": []}, False),
        ({}, False),
    ],
    ids=["finalizers", "grace-period", "no-finalizers-left", "deleted-at-once"],
)
async def test_delete_returns_the_object_only_while_something_holds_it(
    kube: KubeClient, server: KubeServer, meta: dict[str, Any], present: bool
) -> None:
    server.reply(200, {"metadata": {"name": "a", **meta}})
    result = await kube.delete(RAYJOB, "a", namespace="ns")
    assert (result is not None) is present
    if result is not None:
        assert result["kind"] == "RayJob"


# -- error mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "details", "expected"),
    [
        (403, "Forbidden", {}, Forbidden),
        (404, "NotFound", {"name": "a", "group": "ray.io", "kind": "rayjobs"}, NotFound),
        (409, "AlreadyExists", {"name": "a"}, AlreadyExists),
        (409, "Conflict", {"name": "a"}, Conflict),
        (410, "Expired", {}, Gone),
        (500, "InternalError", {}, ServerError),
        (504, "Timeout", {}, Timeout),
    ],
)
async def test_status_answers_map_to_typed_errors(
    once: KubeClient,
    server: KubeServer,
    code: int,
    reason: str,
    details: dict[str, Any],
    expected: type[ApiError],
) -> None:
    server.status(code, reason, f"the {reason} message", **details)
    with pytest.raises(expected) as err:
        await once.patch(RAYJOB, "a", {}, namespace="ns")
    assert type(err.value) is expected
    assert (err.value.status_code, err.value.reason) == (code, reason)
    assert err.value.message == f"the {reason} message"
    assert (err.value.name, err.value.namespace) == ("a", "ns")


async def test_invalid_keeps_the_causes(once: KubeClient, server: KubeServer) -> None:
    causes = [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.entrypoint"},
        {"reason": "FieldValueInvalid", "message": "bad", "field": "metadata.name"},
    ]
    server.status(422, "Invalid", 'RayJob "a" is invalid', kind="RayJob", causes=causes)
    with pytest.raises(Invalid) as err:
        await once.create(RAYJOB, rayjob())
    assert err.value.fields == ("spec.entrypoint", "metadata.name")
    assert err.value.causes[0].reason == "FieldValueRequired"
    assert err.value.kind == "RayJob"


async def test_retry_after_header_is_read(once: KubeClient, server: KubeServer) -> None:
    server.status(429, "TooManyRequests", "slow down", headers={"Retry-After": "7"})
    with pytest.raises(TooManyRequests) as err:
        await once.get(RAYJOB, "a", namespace="ns")
    assert err.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (503, "upstream connect error or disconnect/reset before headers", ServerError),
        (404, "<html><body>404 page not found</body></html>", NotFound),
        (502, "", ServerError),
    ],
)
async def test_answers_that_are_not_status_map_by_http_code(
    once: KubeClient, server: KubeServer, code: int, text: str, expected: type[ApiError]
) -> None:
    server.reply(code, text)
    with pytest.raises(expected) as err:
        await once.get(RAYJOB, "a", namespace="ns")
    assert err.value.status_code == code
    assert err.value.message == (text or f"HTTP {code} from GET {JOB_PATH}/a")


async def test_a_success_that_is_not_json_is_a_server_error(
    once: KubeClient, server: KubeServer
) -> None:
    server.reply(200, "<html>proxy login</html>")
    with pytest.raises(ServerError, match="not JSON"):
        await once.get(RAYJOB, "a", namespace="ns")


# -- retries ----------------------------------------------------------------------------------


async def test_429_is_retried_after_retry_after(
    kube: KubeClient, server: KubeServer, clock: StepClock
) -> None:
    server.status(429, "TooManyRequests", "throttled", headers={"Retry-After": "3"})
    server.reply(200, rayjob())
    assert (await kube.get(RAYJOB, "a", namespace="ns"))["metadata"]["name"] == "a"
    assert len(server.seen) == 2
    assert clock.sleeps == [3.0]
    assert clock.monotonic() == 3.0


async def test_retry_after_seconds_in_the_status_details_count_too(
    kube: KubeClient, server: KubeServer, clock: StepClock
) -> None:
    server.status(429, "TooManyRequests", "throttled", retryAfterSeconds=2)
    server.reply(200, rayjob())
    await kube.get(RAYJOB, "a", namespace="ns")
    assert clock.sleeps == [2.0]


async def test_retry_after_as_an_http_date(
    kube: KubeClient, server: KubeServer, clock: StepClock
) -> None:
    at_ten = {"Retry-After": "Thu, 01 Jan 2026 00:00:10 GMT"}  # the clock reads 00:00:00
    server.status(503, "ServiceUnavailable", "", headers=at_ten)
    server.reply(200, rayjob())
    await kube.get(RAYJOB, "a", namespace="ns")
    assert clock.sleeps == [10.0]


async def test_server_errors_back_off_exponentially_up_to_max_attempts(
    kube: KubeClient, server: KubeServer, clock: StepClock
) -> None:
    for _ in range(5):
        server.status(500, "InternalError", "etcd leader changed")
    with pytest.raises(ServerError, match="etcd leader changed"):
        await kube.list(RAYJOB, namespace="ns")
    assert len(server.seen) == 5
    assert clock.sleeps == [0.2, 0.4, 0.8, 1.6]


async def test_retries_stop_when_the_time_budget_is_spent(
    kube: KubeClient, server: KubeServer, clock: StepClock
) -> None:
    server.status(429, "TooManyRequests", "throttled", headers={"Retry-After": "100"})
    with pytest.raises(TooManyRequests) as err:
        await kube.get(RAYJOB, "a", namespace="ns")
    assert err.value.retry_after == 100.0
    assert (len(server.seen), clock.sleeps) == (1, [])


async def test_other_4xx_are_never_retried(
    kube: KubeClient, server: KubeServer, clock: StepClock
) -> None:
    server.status(400, "BadRequest", "unable to parse requirement")
    with pytest.raises(BadRequest):
        await kube.list(RAYJOB, namespace="ns", label_selector="a in (")
    assert (len(server.seen), clock.sleeps) == (1, [])


@pytest.mark.parametrize("verb", ["create", "patch", "replace-without-version", "plain-delete"])
async def test_writes_that_may_have_applied_are_not_retried_on_5xx(
    kube: KubeClient, server: KubeServer, clock: StepClock, verb: str
) -> None:
    server.status(500, "InternalError", "boom")
    writes = {
        "create": lambda: kube.create(RAYJOB, rayjob()),
        "patch": lambda: kube.patch(RAYJOB, "a", {"spec": {}}, namespace="ns"),
        "replace-without-version": lambda: kube.replace(RAYJOB, rayjob()),
        "plain-delete": lambda: kube.delete(RAYJOB, "a", namespace="ns"),
    }
    with pytest.raises(ServerError):
        await writes[verb]()
    assert (len(server.seen), clock.sleeps) == (1, [])


async def test_a_create_is_retried_on_429_because_the_server_did_not_run_it(
    kube: KubeClient, server: KubeServer
) -> None:
    server.status(429, "TooManyRequests", "throttled", headers={"Retry-After": "1"})
    server.reply(201, rayjob())
    await kube.create(RAYJOB, rayjob())
    assert [s.method for s in server.seen] == ["POST", "POST"]


async def test_a_replace_with_a_resource_version_is_retried(
    kube: KubeClient, server: KubeServer
) -> None:
    server.status(503, "ServiceUnavailable", "apiserver restarting")
    server.status(409, "Conflict", "the object has been modified")
    with pytest.raises(Conflict):
        await kube.replace(RAYJOB, rayjob(resourceVersion="5"))
    assert len(server.seen) == 2


async def test_a_delete_with_preconditions_retried_into_not_found_means_gone(
    kube: KubeClient, server: KubeServer
) -> None:
    server.status(504, "Timeout", "etcd request timed out")
    server.status(404, "NotFound", 'rayjobs.ray.io "a" not found')
    result = await kube.delete(RAYJOB, "a", namespace="ns", preconditions=Preconditions(uid="u1"))
    assert result is None
    assert len(server.seen) == 2


async def test_a_first_not_found_on_delete_is_still_not_found(
    kube: KubeClient, server: KubeServer
) -> None:
    server.status(429, "TooManyRequests", "throttled", headers={"Retry-After": "1"})
    server.status(404, "NotFound", 'rayjobs.ray.io "a" not found')
    with pytest.raises(NotFound):
        await kube.delete(RAYJOB, "a", namespace="ns", preconditions=Preconditions(uid="u1"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_server_is_a_503_after_retries_even_for_create(
    clock: StepClock,
) -> None:
    api = ApiClient(Configuration(host=f"http://127.0.0.1:{free_port()}"))
    async with KubeClient(
        api, owns_api_client=True, clock=clock, retry=RetryPolicy(max_attempts=3, jitter=0.0)
    ) as client:
        with pytest.raises(ServerError) as err:
            await client.create(RAYJOB, rayjob())
    assert (err.value.status_code, err.value.reason) == (503, "ServiceUnavailable")
    assert "could not be reached" in err.value.message
    assert clock.sleeps == [0.2, 0.4]


def test_backoff_is_jittered_downwards_and_capped() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=4.0, jitter=0.5)
    rng = random.Random(3)
    waits = [policy.backoff_for(n, rng) for n in range(1, 7)]
    caps = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert all(cap / 2 <= w <= cap for w, cap in zip(waits, caps, strict=True))
    again = random.Random(3)
    assert waits == [policy.backoff_for(n, again) for n in range(1, 7)]
    assert len(set(waits[2:])) == 4  # jitter spreads the capped waits


# -- watch ------------------------------------------------------------------------------------


def event(kind: str, name: str, rv: str) -> dict[str, Any]:
    return {"type": kind, "object": {"metadata": {"name": name, "resourceVersion": rv}}}


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [e async for e in stream]


async def test_watch_streams_events_until_the_server_ends_it(
    kube: KubeClient, server: KubeServer
) -> None:
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "13"}}}
    server.stream(
        event("ADDED", "a", "11"),
        event("MODIFIED", "a", "12"),
        bookmark,
        event("DELETED", "a", "14"),
    )
    events = await collect(
        kube.watch(
            RAYJOB,
            namespace="ns",
            resource_version="10",
            label_selector="app=x",
            field_selector="metadata.name=a",
            timeout_seconds=2.5,
        )
    )
    assert [(e.type, e.resource_version) for e in events] == [
        ("ADDED", "11"), ("MODIFIED", "12"), ("BOOKMARK", "13"), ("DELETED", "14")
    ]
    assert all(e.object["apiVersion"] == "ray.io/v1" for e in events)
    assert server.seen[0].path == JOB_PATH
    assert server.seen[0].query == {
        "watch": "true",
        "resourceVersion": "10",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "3",
        "labelSelector": "app=x",
        "fieldSelector": "metadata.name=a",
    }


async def test_watch_without_version_or_bookmarks_asks_for_neither(
    kube: KubeClient, server: KubeServer
) -> None:
    server.stream()
    assert await collect(kube.watch(RAYJOB, allow_bookmarks=False)) == []
    assert server.seen[0].path == "/apis/ray.io/v1/rayjobs"
    assert server.seen[0].query == {"watch": "true"}


async def test_watch_joins_an_event_split_across_chunks(
    kube: KubeClient, server: KubeServer
) -> None:
    server.stream(b'{"type":"ADDED","obj', b'ect":{"metadata":{"resourceVersion":"3"}}}\n\n')
    events = await collect(kube.watch(RAYJOB, namespace="ns"))
    assert [(e.type, e.resource_version) for e in events] == [("ADDED", "3")]


async def test_an_in_stream_410_is_gone_after_the_events_before_it(
    kube: KubeClient, server: KubeServer
) -> None:
    expired = status_body(410, "Expired", "too old resource version: 5 (90)")
    server.stream(event("ADDED", "a", "91"), {"type": "ERROR", "object": expired})
    seen: list[str] = []

    async def consume() -> None:
        async for ev in kube.watch(RAYJOB, namespace="ns", resource_version="5"):
            seen.append(ev.resource_version)

    with pytest.raises(Gone, match="too old resource version"):
        await consume()
    assert seen == ["91"]
    assert len(server.seen) == 1


async def test_other_in_stream_errors_map_like_http_errors(
    kube: KubeClient, server: KubeServer
) -> None:
    server.stream({"type": "ERROR", "object": status_body(500, "InternalError", "watch chan")})
    with pytest.raises(ServerError, match="watch chan"):
        await collect(kube.watch(RAYJOB, namespace="ns"))


async def test_an_http_410_is_gone_and_not_retried(kube: KubeClient, server: KubeServer) -> None:
    server.status(410, "Expired", "too old resource version: 1 (50)")
    with pytest.raises(Gone):
        await collect(kube.watch(RAYJOB, namespace="ns", resource_version="1"))
    assert len(server.seen) == 1


async def test_opening_a_watch_is_retried_on_5xx(
    kube: KubeClient, server: KubeServer, clock: StepClock
) -> None:
    server.status(503, "ServiceUnavailable", "starting")
    server.stream(event("ADDED", "a", "2"))
    assert len(await collect(kube.watch(RAYJOB, namespace="ns"))) == 1
    assert (len(server.seen), clock.sleeps) == (2, [0.2])


async def test_leaving_the_loop_closes_the_stream(kube: KubeClient, server: KubeServer) -> None:
    server.stream(event("ADDED", "a", "2"), hold=True)
    async for _ in kube.watch(RAYJOB, namespace="ns"):
        break
    await asyncio.wait_for(server.client_left.wait(), timeout=5)


async def test_aclose_closes_the_stream(kube: KubeClient, server: KubeServer) -> None:
    server.stream(event("ADDED", "a", "2"), hold=True)
    async with contextlib.aclosing(kube.watch(RAYJOB, namespace="ns")) as stream:
        first = await anext(aiter(stream))
    assert first.resource_version == "2"
    await asyncio.wait_for(server.client_left.wait(), timeout=5)


# -- configuration and lifecycle ----------------------------------------------------------------


async def test_kubeconfig_context_and_token_are_used(server: KubeServer, tmp_path: Path) -> None:
    tokens = {"a": "tok-a", "b": "tok-b"}
    path = server.kubeconfig(tmp_path / "config", contexts=tokens, current="a")
    for context, token in [(None, "tok-a"), ("b", "tok-b")]:
        server.reply(200, rayjob())
        async with await KubeClient.from_kubeconfig(path, context=context) as client:
            await client.get(RAYJOB, "a", namespace="ns")
        assert server.seen[-1].headers["Authorization"] == f"Bearer {token}"
        assert client.host == server.url


async def test_kubeconfig_defaults_to_the_kubeconfig_variable(
    server: KubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = server.kubeconfig(tmp_path / "config", contexts={"a": "tok-a"}, current="a")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{path}")
    server.reply(200, rayjob())
    async with await KubeClient.auto() as client:
        await client.get(RAYJOB, "a", namespace="ns")
    assert server.seen[0].headers["Authorization"] == "Bearer tok-a"


async def test_bad_kubeconfigs_are_config_errors(server: KubeServer, tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="no kubeconfig"):
        await KubeClient.from_kubeconfig(tmp_path / "missing")
    path = server.kubeconfig(tmp_path / "config", contexts={"a": "tok-a"}, current="a")
    with pytest.raises(KubeConfigError, match="nope"):
        await KubeClient.from_kubeconfig(path, context="nope")


@pytest.fixture
def no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment with no kubeconfig anywhere and no pod; returns the fake home."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


async def test_auto_without_any_configuration_says_so(no_cluster: Path) -> None:
    with pytest.raises(KubeConfigError, match="not in a pod"):
        await KubeClient.auto()


async def test_auto_falls_back_to_the_home_kubeconfig(
    no_cluster: Path, server: KubeServer
) -> None:
    (no_cluster / ".kube").mkdir()
    server.kubeconfig(no_cluster / ".kube" / "config", contexts={"h": "tok-h"}, current="h")
    async with await KubeClient.auto() as client:
        assert client.host == server.url


async def test_auto_prefers_the_pod_over_the_home_kubeconfig(
    no_cluster: Path, server: KubeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (no_cluster / ".kube").mkdir()
    server.kubeconfig(no_cluster / ".kube" / "config", contexts={"h": "tok-h"}, current="h")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(KubeConfigError, match="not running in a Kubernetes pod"):
        await KubeClient.auto()  # chose in-cluster; this test process has no service account


@pytest.fixture
def cluster_ca() -> str:
    """Any valid PEM bundle stands in for the cluster CA (it is loaded, never used)."""
    ca = ssl.get_default_verify_paths().cafile
    if ca is None or not Path(ca).is_file():
        pytest.skip("no CA bundle on this machine to stand in for the cluster CA")
    return ca


async def test_in_cluster_uses_the_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster_ca: str
) -> None:
    ca = cluster_ca
    token = tmp_path / "token"
    token.write_text("sa-token")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    async with await KubeClient.in_cluster(token_file=str(token), ca_file=ca) as client:
        assert client.host == "https://10.0.0.1:443"
        auth = await client.api_client.configuration.auth_settings()
        assert auth["BearerToken"]["value"] == "Bearer sa-token"


async def test_the_environments_proxy_is_used_for_remote_hosts(
    server: KubeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", server.url)
    target = "kube.invalid:6443"  # never resolved: only the proxy (on loopback) is contacted
    api = open_api_client(Configuration(host=f"http://{target}"))
    server.reply(200, rayjob())
    async with KubeClient(api, owns_api_client=True, retry=RetryPolicy(max_attempts=1)) as client:
        await client.get(RAYJOB, "a", namespace="ns")
    assert [(s.path, s.headers["Host"]) for s in server.seen] == [(f"{JOB_PATH}/a", target)]


async def test_no_proxy_bypasses_the_environments_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:3128")
    api = open_api_client(Configuration(host="http://kube.invalid:6443"))
    assert api.rest_client.proxy == "http://127.0.0.1:3128"
    await api.close()
    monkeypatch.setenv("no_proxy", "kube.invalid")
    api = open_api_client(Configuration(host="http://kube.invalid:6443"))
    assert not api.rest_client.proxy
    await api.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
async def test_loopback_is_never_proxied_even_without_no_proxy(
    server: KubeServer, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", server.url)
    api = open_api_client(Configuration(host=f"http://{host}:{free_port()}"))
    assert not api.rest_client.proxy
    async with KubeClient(api, owns_api_client=True, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(ServerError, match="could not be reached"):
            await client.get(RAYJOB, "a", namespace="ns")
    assert server.seen == []  # the proxy never saw it


async def test_close_ends_the_session_only_when_owned(server: KubeServer) -> None:
    api = ApiClient(Configuration(host=server.url))
    borrowed = KubeClient(api)
    assert isinstance(borrowed, ClusterClient)
    await borrowed.close()
    assert not api.rest_client.pool_manager.closed
    async with KubeClient(api, owns_api_client=True):
        pass
    assert api.rest_client.pool_manager.closed
