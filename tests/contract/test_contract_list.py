"""Contract: list, label selectors (equality and set-based), field selectors, pagination."""

from __future__ import annotations

import pytest
from cluster_backends import WIDGET, Backend, widget

from rayop.runtime.client import CONFIGMAP


async def _names(backend: Backend, **kwargs: object) -> list[str]:
    result = await backend.client.list(WIDGET, namespace=backend.namespace, **kwargs)  # type: ignore[arg-type]
    return [item["metadata"]["name"] for item in result.items]


@pytest.fixture
async def widgets(backend: Backend) -> Backend:
    specs = {
        "c": {"app": "ray", "tier": "head"},
        "a": {"app": "ray", "tier": "worker"},
        "b": {"app": "web"},
        "d": {},
    }
    for name, labels in specs.items():
        body = widget(name, labels=labels)
        await backend.client.create(WIDGET, body, namespace=backend.namespace)
    return backend


async def test_list_sorted_with_kind_and_version(widgets: Backend) -> None:
    result = await widgets.client.list(WIDGET, namespace=widgets.namespace)
    assert [i["metadata"]["name"] for i in result.items] == ["a", "b", "c", "d"]
    assert all(i["kind"] == "Widget" and i["apiVersion"] == "test.rayop.dev/v1"
               for i in result.items)
    newest = max(int(i["metadata"]["resourceVersion"]) for i in result.items)
    assert int(result.resource_version) >= newest


async def test_list_is_scoped_to_its_namespace(widgets: Backend) -> None:
    await widgets.client.create(CONFIGMAP, {"metadata": {"name": "x"}}, namespace=widgets.namespace)
    mine = await widgets.client.list(CONFIGMAP, namespace=widgets.namespace)
    everywhere = await widgets.client.list(CONFIGMAP)
    assert [i["metadata"]["name"] for i in mine.items if i["metadata"]["name"] == "x"] == ["x"]
    namespaces = {i["metadata"]["namespace"] for i in everywhere.items}
    assert widgets.namespace in namespaces


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=ray", ["a", "c"]),
        ("app==ray,tier=head", ["c"]),
        ("app!=ray", ["b", "d"]),
        ("tier in (head,worker)", ["a", "c"]),
        ("app notin (ray)", ["b", "d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
    ],
)
async def test_label_selectors(widgets: Backend, selector: str, expected: list[str]) -> None:
    assert await _names(widgets, label_selector=selector) == expected


async def test_field_selector_on_name(widgets: Backend) -> None:
    assert await _names(widgets, field_selector="metadata.name=b") == ["b"]
    assert await _names(widgets, field_selector="metadata.name!=b") == ["a", "c", "d"]


async def test_pagination_with_limit_and_continue(widgets: Backend) -> None:
    first = await widgets.client.list(WIDGET, namespace=widgets.namespace, limit=3)
    assert [i["metadata"]["name"] for i in first.items] == ["a", "b", "c"]
    assert first.continue_token
    # A write between pages does not show up: the pages come from one snapshot.
    await widgets.client.create(WIDGET, widget("e"), namespace=widgets.namespace)
    second = await widgets.client.list(
        WIDGET, namespace=widgets.namespace, limit=3, continue_token=first.continue_token
    )
    assert [i["metadata"]["name"] for i in second.items] == ["d"]
    assert not second.continue_token
    assert second.resource_version == first.resource_version
