"""Contract: create, get, generateName, AlreadyExists, NotFound, validation, copies."""

from __future__ import annotations

import pytest
from cluster_backends import WIDGET, Backend, widget

from rayop.runtime.client import CONFIGMAP, NAMESPACE, Kind
from rayop.runtime.errors import AlreadyExists, Invalid, NotFound, ServerError


async def test_create_sets_server_fields(backend: Backend) -> None:
    created = await backend.client.create(WIDGET, widget("a"), namespace=backend.namespace)
    meta = created["metadata"]
    assert meta["name"] == "a" and meta["namespace"] == backend.namespace
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert meta["generation"] == 1
    assert created["apiVersion"] == "test.rayop.dev/v1" and created["kind"] == "Widget"


async def test_resource_versions_increase_across_objects(backend: Backend) -> None:
    ns = backend.namespace
    first = await backend.client.create(WIDGET, widget("a"), namespace=ns)
    second = await backend.client.create(CONFIGMAP, {"metadata": {"name": "b"}}, namespace=ns)
    third = await backend.client.patch(WIDGET, "a", {"spec": {"size": 2}}, namespace=ns)
    versions = [int(o["metadata"]["resourceVersion"]) for o in (first, second, third)]
    assert versions == sorted(versions) and len(set(versions)) == 3


async def test_get_returns_what_create_stored(backend: Backend) -> None:
    created = await backend.client.create(WIDGET, widget("a", size=3), namespace=backend.namespace)
    got = await backend.client.get(WIDGET, "a", namespace=backend.namespace)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert got["spec"] == {"size": 3}


async def test_get_missing_is_not_found_with_kubernetes_message(backend: Backend) -> None:
    with pytest.raises(NotFound) as caught:
        await backend.client.get(WIDGET, "nope", namespace=backend.namespace)
    assert caught.value.message == 'widgets.test.rayop.dev "nope" not found'


async def test_generate_name_appends_five_characters(backend: Backend) -> None:
    body = {"metadata": {"generateName": "job-"}, "spec": {"size": 1}}
    first = await backend.client.create(WIDGET, body, namespace=backend.namespace)
    second = await backend.client.create(WIDGET, body, namespace=backend.namespace)
    for made in (first, second):
        name = made["metadata"]["name"]
        assert name.startswith("job-") and len(name) == len("job-") + 5
    assert first["metadata"]["name"] != second["metadata"]["name"]


async def test_create_existing_name_is_already_exists(backend: Backend) -> None:
    await backend.client.create(WIDGET, widget("a"), namespace=backend.namespace)
    with pytest.raises(AlreadyExists) as caught:
        await backend.client.create(WIDGET, widget("a"), namespace=backend.namespace)
    assert caught.value.message == 'widgets.test.rayop.dev "a" already exists'


async def test_create_existing_cluster_scoped_name_is_already_exists(backend: Backend) -> None:
    with pytest.raises(AlreadyExists) as caught:
        await backend.client.create(NAMESPACE, {"metadata": {"name": backend.namespace}})
    assert caught.value.message == f'namespaces "{backend.namespace}" already exists'
    got = await backend.client.get(NAMESPACE, backend.namespace)
    assert got["status"]["phase"] == "Active"


async def test_create_in_missing_namespace_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as caught:
        await backend.client.create(WIDGET, widget("a"), namespace="no-such-namespace-x")
    assert 'namespaces "no-such-namespace-x" not found' in caught.value.message


async def test_create_with_resource_version_is_refused(backend: Backend) -> None:
    body = widget("a", metadata={"resourceVersion": "12"})
    # kube-apiserver 1.36 answers 500 InternalError here (its storage layer refuses it).
    with pytest.raises(ServerError) as caught:
        await backend.client.create(WIDGET, body, namespace=backend.namespace)
    assert caught.value.message == "resourceVersion should not be set on objects to be created"


async def test_invalid_object_names_the_field(backend: Backend) -> None:
    with pytest.raises(Invalid) as caught:
        await backend.client.create(WIDGET, widget("a", size=-1), namespace=backend.namespace)
    assert "spec.size" in caught.value.fields


async def test_unknown_kind_is_not_found(backend: Backend) -> None:
    core = Kind("", "v1", "Nothing", "nothings")
    with pytest.raises(NotFound) as caught:
        await backend.client.get(core, "x", namespace=backend.namespace)
    assert caught.value.message == "the server could not find the requested resource"
    # Outside the built-in groups (where CRDs live) the server answers a plain-text 404.
    for unknown in (Kind("nothing.rayop.dev", "v1", "Nothing", "nothings"),
                    Kind(WIDGET.group, WIDGET.version, "Nothing", "nothings"),
                    Kind(WIDGET.group, "v9", WIDGET.kind, WIDGET.plural)):
        with pytest.raises(NotFound) as caught:
            await backend.client.get(unknown, "x", namespace=backend.namespace)
        assert caught.value.message == "404 page not found"


async def test_returned_objects_are_copies(backend: Backend) -> None:
    body = widget("a", size=1)
    created = await backend.client.create(WIDGET, body, namespace=backend.namespace)
    body["spec"]["size"] = 99
    created["spec"]["size"] = 98
    created["metadata"]["labels"] = {"mutated": "yes"}
    got = await backend.client.get(WIDGET, "a", namespace=backend.namespace)
    assert got["spec"] == {"size": 1} and "labels" not in got["metadata"]
    got["spec"]["size"] = 97
    listed = await backend.client.list(WIDGET, namespace=backend.namespace)
    assert listed.items[0]["spec"] == {"size": 1}
