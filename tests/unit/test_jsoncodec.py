"""Objects as deep as the API server accepts survive every serialiser, the store and a list."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from rayop.fakes.cluster import FakeCluster
from rayop.ray.fakes.cluster import with_ray_kinds
from rayop.ray.kinds import RAYJOB
from rayop.runtime import jsoncodec
from rayop.runtime.errors import BadRequest
from rayop.runtime.store import Store


def nested(depth: int) -> Any:
    """``depth`` levels of ``{"x": ...}`` around a 1 (``nesting_depth`` of it is ``depth``)."""
    value: Any = 1
    for _ in range(depth):
        value = {"x": value}
    return value


def rayjob(name: str, depth: int) -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"entrypoint": "python x.py", "deep": nested(depth)}}


@pytest.mark.parametrize("depth", [10, 300, 1_500, 9_990])
def test_round_trips_at_any_depth_the_api_server_accepts(depth: int) -> None:
    value = nested(depth)
    raw = jsoncodec.dumps(value)
    assert raw == b'{"x":' * depth + b"1" + b"}" * depth   # orjson's compact form at any depth
    back = jsoncodec.loads(raw)
    assert jsoncodec.nesting_depth(back) == depth      # (== would recurse too deep to compare)
    assert jsoncodec.dumps(back) == raw


def test_shallow_documents_take_orjson_s_path_unchanged() -> None:
    value = {"a": [1, 2.5, "é", None, True], "b": {"c": {}}}
    assert jsoncodec.dumps(value) == orjson.dumps(value)


def test_deeper_than_the_api_server_is_refused_as_it_refuses() -> None:
    with pytest.raises(jsoncodec.TooDeep, match="max depth of 10000"):
        jsoncodec.dumps(nested(10_001))
    with pytest.raises(jsoncodec.TooDeep):
        jsoncodec.loads(b"[" * 10_001 + b"]" * 10_001)
    with pytest.raises(ValueError):  # malformed stays a ValueError, as before
        jsoncodec.loads(b"{")


def test_the_store_holds_and_copies_a_deep_object() -> None:
    store = Store()
    obj = rayjob("deep", 5_000)
    obj["metadata"]["resourceVersion"] = "1"
    store.put(obj)
    copy = store.get("default", "deep")
    assert copy is not None and copy is not obj
    assert jsoncodec.dumps(copy) == jsoncodec.dumps(obj)
    assert [o["metadata"]["name"] for o in store.list()] == ["deep"]


async def test_one_deep_object_never_stops_a_list() -> None:
    cluster = FakeCluster()
    with_ray_kinds(cluster)
    await cluster.create(RAYJOB, rayjob("shallow", 3))
    await cluster.create(RAYJOB, rayjob("deep", 5_000))
    with pytest.raises(BadRequest, match="max depth"):
        await cluster.create(RAYJOB, rayjob("deeper", 10_001))
    listed = await cluster.list(RAYJOB, namespace="default")
    assert sorted(o["metadata"]["name"] for o in listed.items) == ["deep", "shallow"]
