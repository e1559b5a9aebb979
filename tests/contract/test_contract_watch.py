"""Contract: watch streams — initial state, resume, Gone, bookmarks, timeouts, selectors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from cluster_backends import WIDGET, Backend, widget

from rayop.runtime.client import CONFIGMAP, WatchEvent
from rayop.runtime.errors import Gone


@contextlib.asynccontextmanager
async def watching(backend: Backend, **kwargs: object) -> AsyncIterator[AsyncIterator[WatchEvent]]:
    stream = backend.client.watch(WIDGET, namespace=backend.namespace, **kwargs)  # type: ignore[arg-type]
    try:
        yield stream
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def summary(events: list[WatchEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.object["metadata"]["name"]) for e in events]


async def test_watch_without_version_starts_with_the_current_objects(backend: Backend) -> None:
    for name in ("a", "b"):
        await backend.client.create(WIDGET, widget(name), namespace=backend.namespace)
    async with watching(backend) as stream:
        events = await backend.events(stream, 2)
    assert sorted(summary(events)) == [("ADDED", "a"), ("ADDED", "b")]


async def test_watch_from_version_sees_later_changes_in_order(backend: Backend) -> None:
    ns = backend.namespace
    await backend.client.create(WIDGET, widget("a"), namespace=ns)
    start = (await backend.client.list(WIDGET, namespace=ns)).resource_version
    await backend.client.create(WIDGET, widget("b"), namespace=ns)
    await backend.client.patch(WIDGET, "a", {"spec": {"size": 2}}, namespace=ns)
    await backend.client.delete(WIDGET, "b", namespace=ns)
    async with watching(backend, resource_version=start) as stream:
        events = await backend.events(stream, 3)
    assert summary(events) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    versions = [int(e.resource_version) for e in events]
    assert versions == sorted(versions) and versions[0] > int(start)
    assert events[1].object["spec"] == {"size": 2}


async def test_watch_resumes_from_the_last_version_seen(backend: Backend) -> None:
    ns = backend.namespace
    start = (await backend.client.list(WIDGET, namespace=ns)).resource_version
    await backend.client.create(WIDGET, widget("a"), namespace=ns)
    async with watching(backend, resource_version=start) as stream:
        first = await backend.events(stream, 1)
    await backend.client.create(WIDGET, widget("b"), namespace=ns)
    await backend.client.create(WIDGET, widget("c"), namespace=ns)
    async with watching(backend, resource_version=first[0].resource_version) as stream:
        rest = await backend.events(stream, 2)
    assert summary(first + rest) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


async def test_live_events_arrive_while_watching(backend: Backend) -> None:
    ns = backend.namespace
    start = (await backend.client.list(WIDGET, namespace=ns)).resource_version
    async with watching(backend, resource_version=start) as stream:
        await backend.client.create(WIDGET, widget("late"), namespace=ns)
        events = await backend.events(stream, 1)
    assert summary(events) == [("ADDED", "late")]


@pytest.mark.fake_only("forcing history past a version needs a small, known history window")
async def test_watch_from_too_old_version_is_gone(backend: Backend) -> None:
    ns = backend.namespace
    await backend.client.create(WIDGET, widget("a"), namespace=ns)
    old = (await backend.client.list(WIDGET, namespace=ns)).resource_version
    for i in range(1001):
        await backend.client.patch(WIDGET, "a", {"spec": {"size": i + 10}}, namespace=ns)
    with pytest.raises(Gone) as caught:
        async with watching(backend, resource_version=old) as stream:
            await backend.events(stream, 1)
    assert caught.value.message.startswith(f"too old resource version: {old} (")


async def test_bookmark_carries_the_current_version(backend: Backend) -> None:
    ns = backend.namespace
    await backend.client.create(WIDGET, widget("a"), namespace=ns)
    start = (await backend.client.list(WIDGET, namespace=ns)).resource_version
    # kube-apiserver sends a bookmark only once its watch cache of the kind has moved past the
    # watch's version: through a write of that kind, or through etcd's progress notification,
    # which a consistent list requests. Without either (nothing happening), no bookmark comes.
    moved = await backend.client.create(CONFIGMAP, {"metadata": {"name": "later"}}, namespace=ns)
    await backend.client.list(WIDGET, namespace=ns)
    async with watching(backend, resource_version=start, timeout_seconds=5,
                        allow_bookmarks=True) as stream:
        events = await backend.events(stream, 1, bookmarks=True)
    assert events and events[0].type == "BOOKMARK"
    assert int(events[0].resource_version) >= int(moved["metadata"]["resourceVersion"])
    assert events[0].object["kind"] == "Widget"


async def test_watch_ends_after_its_timeout(backend: Backend) -> None:
    start = (await backend.client.list(WIDGET, namespace=backend.namespace)).resource_version
    began = backend.clock.monotonic()
    async with watching(backend, resource_version=start, timeout_seconds=2,
                        allow_bookmarks=False) as stream:
        events = await backend.events(stream, 1, within=60)
    assert events == []
    assert 2 <= backend.clock.monotonic() - began < 60


async def test_selector_transitions_arrive_as_added_and_deleted(backend: Backend) -> None:
    ns = backend.namespace
    start = (await backend.client.list(WIDGET, namespace=ns)).resource_version
    await backend.client.create(WIDGET, widget("x", labels={"app": "web"}), namespace=ns)
    await backend.client.patch(WIDGET, "x", {"metadata": {"labels": {"app": "ray"}}}, namespace=ns)
    await backend.client.patch(WIDGET, "x", {"spec": {"size": 5}}, namespace=ns)
    await backend.client.patch(WIDGET, "x", {"metadata": {"labels": {"app": "web"}}}, namespace=ns)
    async with watching(backend, resource_version=start, label_selector="app=ray") as stream:
        events = await backend.events(stream, 3)
    assert summary(events) == [("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x")]


async def test_field_selector_filters_the_stream(backend: Backend) -> None:
    ns = backend.namespace
    start = (await backend.client.list(WIDGET, namespace=ns)).resource_version
    for name in ("a", "b", "c"):
        await backend.client.create(WIDGET, widget(name), namespace=ns)
    async with watching(backend, resource_version=start,
                        field_selector="metadata.name=b") as stream:
        events = await backend.events(stream, 1)
    assert summary(events) == [("ADDED", "b")]
