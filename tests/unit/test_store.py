"""The store: private copies, indexes, selectors, atomic replace, waiting for a version."""

from __future__ import annotations

import asyncio

import pytest
from scripted_client import obj

from rayop.runtime.clock import VirtualClock
from rayop.runtime.selectors import LabelSelector
from rayop.runtime.store import Store, compare_versions


def owner(uid: str) -> dict[str, object]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": uid, "uid": uid}


def filled() -> Store:
    store = Store()
    store.put(obj("a", 1, labels={"app": "ray", "tier": "head"}, owners=[owner("u1")]))
    store.put(obj("b", 2, labels={"app": "ray"}, owners=[owner("u1"), owner("u2")]))
    store.put(obj("c", 3, namespace="other", labels={"app": "web"}))
    return store


def names(objs: list[dict[str, object]]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]  # type: ignore[index]


def test_reads_are_private_copies() -> None:
    store = filled()
    got = store.get("default", "a")
    assert got is not None
    got["metadata"]["labels"]["app"] = "mutated"
    got["spec"] = {"evil": True}
    for listed in (store.list(), store.by_index("owner_uid", "u1")):
        listed[0]["metadata"]["name"] = "renamed"
    again = store.get("default", "a")
    assert again == obj("a", 1, labels={"app": "ray", "tier": "head"}, owners=[owner("u1")])
    assert names(store.list()) == ["a", "b", "c"]


def test_writer_input_is_not_aliased() -> None:
    store = Store()
    source = obj("a", 1, labels={"app": "ray"})
    store.put(source)
    source["metadata"]["labels"]["app"] = "changed"
    assert store.list(label_selector="app=ray") != []
    assert store.get("default", "a") == obj("a", 1, labels={"app": "ray"})


def test_get_missing_and_len_and_keys() -> None:
    store = filled()
    assert store.get("default", "zzz") is None
    assert len(store) == 3
    assert store.keys() == [("default", "a"), ("default", "b"), ("other", "c")]
    assert ("other", "c") in store
    assert store.resource_version == "3"


@pytest.mark.parametrize(
    ("namespace", "selector", "expected"),
    [
        (None, None, ["a", "b", "c"]),
        ("default", None, ["a", "b"]),
        ("other", None, ["c"]),
        ("nowhere", None, []),
        (None, "app=ray", ["a", "b"]),
        (None, "app in (ray,web),!tier", ["b", "c"]),
        ("default", LabelSelector.parse("tier=head"), ["a"]),
        ("other", "app=ray", []),
    ],
)
def test_list_by_namespace_and_labels(
    namespace: str | None, selector: str | LabelSelector | None, expected: list[str]
) -> None:
    assert names(filled().list(namespace, selector)) == expected


def test_builtin_indexes_follow_updates_and_deletes() -> None:
    store = filled()
    assert names(store.by_index("owner_uid", "u1")) == ["a", "b"]
    assert names(store.by_index("owner_uid", "u2")) == ["b"]
    assert names(store.by_index("namespace", "other")) == ["c"]
    store.put(obj("b", 4, owners=[owner("u2")]))  # b no longer owned by u1
    assert names(store.by_index("owner_uid", "u1")) == ["a"]
    store.remove(obj("a", 5))
    assert store.by_index("owner_uid", "u1") == []
    assert store.resource_version == "5"
    with pytest.raises(KeyError):
        store.by_index("nope", "x")


def test_custom_index_files_existing_and_new_objects() -> None:
    store = filled()
    store.add_index("app", lambda o: [o["metadata"].get("labels", {}).get("app", "")])
    assert names(store.by_index("app", "ray")) == ["a", "b"]
    store.put(obj("d", 6, labels={"app": "ray"}))
    store.put(obj("a", 7, labels={"app": "web"}))
    assert names(store.by_index("app", "ray")) == ["b", "d"]
    assert names(store.by_index("app", "web")) == ["a", "c"]
    with pytest.raises(ValueError, match="already exists"):
        store.add_index("app", lambda o: [])


def test_replace_swaps_everything_and_reports_the_difference() -> None:
    store = filled()
    diff = store.replace(
        [obj("a", 1, labels={"app": "ray", "tier": "head"}, owners=[owner("u1")]),
         obj("b", 9), obj("d", 10)],
        "10",
    )
    assert names(diff.added) == ["d"]
    assert [(o["metadata"]["resourceVersion"], n["metadata"]["resourceVersion"])
            for o, n in diff.updated] == [("2", "9")]
    assert names(diff.deleted) == ["c"]
    assert len(diff) == 3
    assert store.keys() == [("default", "a"), ("default", "b"), ("default", "d")]
    assert names(store.by_index("owner_uid", "u1")) == ["a"]
    assert store.by_index("namespace", "other") == []
    assert store.resource_version == "10"


def test_put_and_remove_return_the_previous_bytes() -> None:
    store = Store()
    assert store.put(obj("a", 1)) is None
    assert store.put(obj("a", 2)) is not None
    assert store.remove(obj("a", 3)) is not None
    assert store.remove(obj("a", 4)) is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("5", "5", 0), ("9", "10", -1), ("10", "9", 1), ("abc", "abc", 0), ("abc", "5", None),
     ("", "5", None)],
)
def test_compare_versions(a: str, b: str, expected: int | None) -> None:
    assert compare_versions(a, b) == expected


async def test_wait_for_version_wakes_on_the_awaited_write(clock: VirtualClock) -> None:
    store = Store()
    store.put(obj("a", 8))

    async def writer() -> None:
        await clock.sleep(2)
        store.put(obj("a", 9))
        await clock.sleep(2)
        store.put(obj("a", 12))

    task = asyncio.ensure_future(writer())
    assert await store.wait_for_version("default", "a", "10", timeout=30, clock=clock)
    assert clock.monotonic() == pytest.approx(4.0)  # 9 was not enough; 12 is newer than 10
    await task


async def test_wait_for_version_times_out_in_clock_time(clock: VirtualClock) -> None:
    store = Store()
    store.put(obj("a", 8))
    assert not await store.wait_for_version("default", "a", "10", timeout=5, clock=clock)
    assert clock.monotonic() == pytest.approx(5.0)
    assert await store.wait_for_version("default", "a", "8", timeout=0, clock=clock)
    assert not await store.wait_for_version("default", "a", "9", timeout=0, clock=clock)


async def test_wait_for_version_of_an_object_deleted_after_the_write(clock: VirtualClock) -> None:
    store = Store()
    store.put(obj("a", 10))

    async def delete_later() -> None:
        await clock.sleep(1)
        store.remove(obj("a", 11))

    task = asyncio.ensure_future(delete_later())
    # Waiting for version 10's successor 11 of "a": the delete is at 11.
    assert await store.wait_for_version("default", "a", "11", timeout=30, clock=clock)
    await task
    # Absent, and the cache has passed the version: it was deleted after that write.
    assert await store.wait_for_version("default", "a", "11", timeout=0, clock=clock)
    assert not await store.wait_for_version("default", "a", "12", timeout=0, clock=clock)


async def test_wait_for_version_settled_by_a_relist_or_bookmark(clock: VirtualClock) -> None:
    store = Store()

    async def advance() -> None:
        await clock.sleep(1)
        store.replace([obj("b", 3)], "5")
        await clock.sleep(1)
        store.set_resource_version("20")

    task = asyncio.ensure_future(advance())
    # "x" was created at 15 and deleted at 16 without the watch ever showing it.
    assert await store.wait_for_version("default", "x", "15", timeout=30, clock=clock)
    assert clock.monotonic() == pytest.approx(2.0)
    await task


async def test_opaque_versions_need_equality_or_a_delete(clock: VirtualClock) -> None:
    store = Store()
    store.put(obj("a", "abc"))
    assert await store.wait_for_version("default", "a", "abc", timeout=0, clock=clock)
    assert not await store.wait_for_version("default", "a", "xyz", timeout=1, clock=clock)


async def test_wait_for_predicate(clock: VirtualClock) -> None:
    store = Store()

    async def writer() -> None:
        await clock.sleep(3)
        store.put(obj("a", 1, labels={"ready": "no"}))
        await clock.sleep(3)
        store.put(obj("a", 2, labels={"ready": "yes"}))

    def ready(o: dict[str, object] | None) -> bool:
        return o is not None and o["metadata"]["labels"]["ready"] == "yes"  # type: ignore[index]

    task = asyncio.ensure_future(writer())
    assert await store.wait_for("default", "a", ready, timeout=60, clock=clock)
    assert clock.monotonic() == pytest.approx(6.0)
    await task
    assert await store.wait_for("default", "gone", lambda o: o is None, timeout=0, clock=clock)
    assert not await store.wait_for("default", "a", lambda o: o is None, timeout=2, clock=clock)


async def test_an_older_delete_does_not_settle_a_newer_version(clock: VirtualClock) -> None:
    store = Store()
    store.put(obj("a", 10))

    async def churn() -> None:
        await clock.sleep(1)
        store.remove(obj("a", 15))  # the old incarnation goes
        await clock.sleep(1)
        store.put(obj("a", 20))  # the awaited create

    task = asyncio.ensure_future(churn())
    assert await store.wait_for_version("default", "a", "20", timeout=30, clock=clock)
    assert clock.monotonic() == pytest.approx(2.0)
    await task
