"""Contract: replace (optimistic), patches, the status subresource, generation."""

from __future__ import annotations

import pytest
from cluster_backends import WIDGET, Backend, widget

from rayop.runtime.client import CONFIGMAP, Obj, PatchType
from rayop.runtime.errors import Conflict, Invalid


async def _make(backend: Backend, **spec: object) -> Obj:
    return await backend.client.create(WIDGET, widget("a", **spec), namespace=backend.namespace)


async def test_replace_with_stale_resource_version_is_conflict(backend: Backend) -> None:
    stale = await _make(backend)
    fresh = dict(stale, spec={"size": 2})
    await backend.client.replace(WIDGET, fresh, namespace=backend.namespace)
    stale["spec"] = {"size": 3}
    with pytest.raises(Conflict) as caught:
        await backend.client.replace(WIDGET, stale, namespace=backend.namespace)
    assert caught.value.message == (
        'Operation cannot be fulfilled on widgets.test.rayop.dev "a": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )


async def test_replace_of_builtin_kind_without_resource_version_is_unconditional(
    backend: Backend,
) -> None:
    ns = backend.namespace
    created = await backend.client.create(CONFIGMAP, {"metadata": {"name": "c"},
                                                      "data": {"k": "1"}}, namespace=ns)
    await backend.client.patch(CONFIGMAP, "c", {"data": {"k": "2"}}, namespace=ns)
    body = {"metadata": {"name": "c"}, "data": {"k": "5"}}
    replaced = await backend.client.replace(CONFIGMAP, body, namespace=ns)
    assert replaced["data"] == {"k": "5"}
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]


async def test_replace_of_custom_resource_needs_a_resource_version(backend: Backend) -> None:
    await _make(backend)
    body = {"metadata": {"name": "a"}, "spec": {"size": 5}, "status": {"phase": "x"}}
    for write in (backend.client.replace, backend.client.replace_status):
        with pytest.raises(Invalid) as caught:
            await write(WIDGET, body, namespace=backend.namespace)
        assert caught.value.fields == ("metadata.resourceVersion",)
        assert caught.value.message == (
            'widgets.test.rayop.dev "a" is invalid: metadata.resourceVersion: Invalid value: 0: '
            "must be specified for an update"
        )


async def test_replace_with_another_uid_is_conflict(backend: Backend) -> None:
    created = await _make(backend)
    stored_uid = created["metadata"]["uid"]
    created["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(Conflict) as caught:
        await backend.client.replace(WIDGET, created, namespace=backend.namespace)
    assert caught.value.message.endswith(
        "Precondition failed: UID in precondition: 00000000-0000-4000-8000-000000000000, "
        f"UID in object meta: {stored_uid}"
    )


async def test_replace_keeps_the_stored_creation_timestamp(backend: Backend) -> None:
    created = await _make(backend)
    body = dict(created, spec={"size": 2})
    body["metadata"] = dict(created["metadata"], creationTimestamp="2001-01-01T00:00:00Z")
    replaced = await backend.client.replace(WIDGET, body, namespace=backend.namespace)
    assert replaced["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert replaced["spec"] == {"size": 2}


async def test_merge_patch_merges_and_null_removes(backend: Backend) -> None:
    await _make(backend, size=1, color="red", shape="round")
    patched = await backend.client.patch(
        WIDGET, "a", {"spec": {"color": None, "size": 4}, "metadata": {"labels": {"x": "y"}}},
        namespace=backend.namespace,
    )
    assert patched["spec"] == {"size": 4, "shape": "round"}
    assert patched["metadata"]["labels"] == {"x": "y"}


async def test_json_patch_applies_operations(backend: Backend) -> None:
    await _make(backend, size=1, items=["a"])
    ops = [
        {"op": "test", "path": "/spec/size", "value": 1},
        {"op": "replace", "path": "/spec/size", "value": 2},
        {"op": "add", "path": "/spec/items/-", "value": "b"},
    ]
    patched = await backend.client.patch(
        WIDGET, "a", ops, namespace=backend.namespace, patch_type=PatchType.JSON
    )
    assert patched["spec"] == {"size": 2, "items": ["a", "b"]}


async def test_json_patch_failing_test_is_invalid_and_changes_nothing(backend: Backend) -> None:
    created = await _make(backend, size=1)
    ops = [
        {"op": "replace", "path": "/spec/size", "value": 7},
        {"op": "test", "path": "/spec/size", "value": 1},
    ]
    with pytest.raises(Invalid):
        await backend.client.patch(
            WIDGET, "a", ops, namespace=backend.namespace, patch_type=PatchType.JSON
        )
    got = await backend.client.get(WIDGET, "a", namespace=backend.namespace)
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_merge_patch_with_stale_resource_version_is_conflict(backend: Backend) -> None:
    created = await _make(backend)
    await backend.client.patch(WIDGET, "a", {"spec": {"size": 2}}, namespace=backend.namespace)
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
             "spec": {"size": 3}}
    with pytest.raises(Conflict):
        await backend.client.patch(WIDGET, "a", stale, namespace=backend.namespace)


async def test_create_drops_status(backend: Backend) -> None:
    body = widget("a")
    body["status"] = {"phase": "Made up"}
    created = await backend.client.create(WIDGET, body, namespace=backend.namespace)
    assert "status" not in created


async def test_replace_and_patch_ignore_status(backend: Backend) -> None:
    created = await _make(backend)
    await backend.client.patch_status(WIDGET, "a", {"status": {"phase": "Real"}},
                                      namespace=backend.namespace)
    current = await backend.client.get(WIDGET, "a", namespace=backend.namespace)
    current["status"] = {"phase": "Overwritten"}
    current["spec"] = created["spec"] | {"size": 3}
    replaced = await backend.client.replace(WIDGET, current, namespace=backend.namespace)
    patched = await backend.client.patch(WIDGET, "a", {"status": {"phase": "Patched"}},
                                         namespace=backend.namespace)
    assert replaced["status"] == {"phase": "Real"} and patched["status"] == {"phase": "Real"}


async def test_status_writes_change_only_status(backend: Backend) -> None:
    created = await _make(backend, size=1)
    body = dict(created, spec={"size": 9}, status={"phase": "Running"})
    body["metadata"] = dict(created["metadata"], labels={"sneaky": "yes"})
    written = await backend.client.replace_status(WIDGET, body, namespace=backend.namespace)
    assert written["status"] == {"phase": "Running"}
    assert written["spec"] == {"size": 1} and "labels" not in written["metadata"]
    patched = await backend.client.patch_status(
        WIDGET, "a", {"spec": {"size": 8}, "status": {"ready": True}}, namespace=backend.namespace
    )
    assert patched["spec"] == {"size": 1}
    assert patched["status"] == {"phase": "Running", "ready": True}
    assert int(patched["metadata"]["resourceVersion"]) > int(written["metadata"]["resourceVersion"])


async def test_generation_bumps_on_spec_change_only(backend: Backend) -> None:
    ns = backend.namespace
    await _make(backend, size=1)
    labelled = await backend.client.patch(WIDGET, "a", {"metadata": {"labels": {"l": "1"}}},
                                          namespace=ns)
    assert labelled["metadata"]["generation"] == 1
    with_status = await backend.client.patch_status(WIDGET, "a", {"status": {"s": 1}},
                                                    namespace=ns)
    assert with_status["metadata"]["generation"] == 1
    changed = await backend.client.patch(WIDGET, "a", {"spec": {"size": 2}}, namespace=ns)
    assert changed["metadata"]["generation"] == 2


async def test_write_that_changes_nothing_keeps_the_version(backend: Backend) -> None:
    created = await _make(backend, size=1)
    again = await backend.client.patch(WIDGET, "a", {"spec": {"size": 1}},
                                       namespace=backend.namespace)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
