"""Contract: delete, finalizers, preconditions, owner-reference GC, namespace deletion."""

from __future__ import annotations

import pytest
from cluster_backends import WIDGET, Backend, owned_by, widget

from rayop.runtime.client import CONFIGMAP, NAMESPACE, Preconditions, PropagationPolicy
from rayop.runtime.errors import Conflict, Invalid, NotFound


async def test_delete_without_finalizers_removes_at_once(backend: Backend) -> None:
    await backend.client.create(WIDGET, widget("a"), namespace=backend.namespace)
    assert await backend.client.delete(WIDGET, "a", namespace=backend.namespace) is None
    with pytest.raises(NotFound):
        await backend.client.get(WIDGET, "a", namespace=backend.namespace)


async def test_finalizer_holds_delete_until_removed(backend: Backend) -> None:
    ns = backend.namespace
    body = widget("a", metadata={"finalizers": ["test.rayop.dev/hold"]})
    created = await backend.client.create(WIDGET, body, namespace=ns)
    held = await backend.client.delete(WIDGET, "a", namespace=ns)
    assert held is not None and held["metadata"]["deletionTimestamp"]
    got = await backend.client.get(WIDGET, "a", namespace=ns)
    assert got["metadata"]["deletionTimestamp"] == held["metadata"]["deletionTimestamp"]
    # Starting deletion bumps generation (as the API server's registry does).
    assert got["metadata"]["generation"] == created["metadata"]["generation"] + 1
    await backend.client.patch(WIDGET, "a", {"metadata": {"finalizers": None}}, namespace=ns)
    await backend.eventually(lambda: backend.gone(WIDGET, "a"))


async def test_no_new_finalizers_once_deleting(backend: Backend) -> None:
    ns = backend.namespace
    body = widget("a", metadata={"finalizers": ["test.rayop.dev/hold"]})
    await backend.client.create(WIDGET, body, namespace=ns)
    await backend.client.delete(WIDGET, "a", namespace=ns)
    more = {"metadata": {"finalizers": ["test.rayop.dev/hold", "test.rayop.dev/other"]}}
    with pytest.raises(Invalid):
        await backend.client.patch(WIDGET, "a", more, namespace=ns)
    await backend.client.patch(WIDGET, "a", {"metadata": {"finalizers": []}}, namespace=ns)


async def test_delete_preconditions(backend: Backend) -> None:
    ns = backend.namespace
    created = await backend.client.create(WIDGET, widget("a"), namespace=ns)
    with pytest.raises(Conflict):
        await backend.client.delete(WIDGET, "a", namespace=ns, preconditions=Preconditions(
            uid="00000000-0000-4000-8000-000000000000"))
    with pytest.raises(Conflict):
        await backend.client.delete(WIDGET, "a", namespace=ns, preconditions=Preconditions(
            resource_version=str(int(created["metadata"]["resourceVersion"]) - 1)))
    exact = Preconditions(uid=created["metadata"]["uid"],
                          resource_version=created["metadata"]["resourceVersion"])
    assert await backend.client.delete(WIDGET, "a", namespace=ns, preconditions=exact) is None


async def test_background_deletion_collects_dependents(backend: Backend) -> None:
    ns = backend.namespace
    owner = await backend.client.create(WIDGET, widget("owner"), namespace=ns)
    await backend.client.create(CONFIGMAP, owned_by(owner, "dep"), namespace=ns)
    await backend.client.delete(WIDGET, "owner", namespace=ns)
    await backend.eventually(lambda: backend.gone(CONFIGMAP, "dep"))


async def test_dependent_of_missing_owner_is_collected(backend: Backend) -> None:
    ns = backend.namespace
    ghost = {"apiVersion": WIDGET.api_version, "kind": "Widget",
             "metadata": {"name": "ghost", "uid": "00000000-0000-4000-8000-0000000000aa"}}
    await backend.client.create(CONFIGMAP, owned_by(ghost, "orphaned"), namespace=ns)
    await backend.eventually(lambda: backend.gone(CONFIGMAP, "orphaned"))


async def test_foreground_deletion_waits_for_blocking_dependents(backend: Backend) -> None:
    ns = backend.namespace
    owner = await backend.client.create(WIDGET, widget("owner"), namespace=ns)
    dep = owned_by(owner, "dep", block=True, finalizers=["test.rayop.dev/hold"])
    await backend.client.create(CONFIGMAP, dep, namespace=ns)
    await backend.client.delete(WIDGET, "owner", namespace=ns,
                                propagation_policy=PropagationPolicy.FOREGROUND)
    await backend.eventually(lambda: backend.deleting(CONFIGMAP, "dep"))
    waiting = await backend.client.get(WIDGET, "owner", namespace=ns)
    assert waiting["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in waiting["metadata"]["finalizers"]
    await backend.client.patch(CONFIGMAP, "dep", {"metadata": {"finalizers": None}}, namespace=ns)
    await backend.eventually(lambda: backend.gone(CONFIGMAP, "dep"))
    await backend.eventually(lambda: backend.gone(WIDGET, "owner"))


async def test_orphan_deletion_keeps_dependents(backend: Backend) -> None:
    ns = backend.namespace
    owner = await backend.client.create(WIDGET, widget("owner"), namespace=ns)
    await backend.client.create(CONFIGMAP, owned_by(owner, "dep"), namespace=ns)
    await backend.client.delete(WIDGET, "owner", namespace=ns,
                                propagation_policy=PropagationPolicy.ORPHAN)
    await backend.eventually(lambda: backend.gone(WIDGET, "owner"))

    async def released() -> bool:
        got = await backend.client.get(CONFIGMAP, "dep", namespace=ns)
        return not got["metadata"].get("ownerReferences")

    await backend.eventually(released)


async def test_deleting_a_namespace_deletes_its_objects(backend: Backend) -> None:
    doomed = f"{backend.namespace}-doomed"
    await backend.client.create(NAMESPACE, {"metadata": {"name": doomed}})
    await backend.client.create(WIDGET, widget("a"), namespace=doomed)
    await backend.client.create(CONFIGMAP, {"metadata": {"name": "b"}}, namespace=doomed)
    await backend.client.delete(NAMESPACE, doomed)
    await backend.eventually(lambda: backend.gone(WIDGET, "a", doomed), within=120)
    await backend.eventually(lambda: backend.gone(CONFIGMAP, "b", doomed), within=120)
    await backend.eventually(lambda: backend.gone(NAMESPACE, doomed), within=120)
