"""Contract: what kube-apiserver 1.36 was found to do where the fake once did otherwise.

Each test here pins a behaviour observed on the real server (the "realapi" backend) that the
fake cluster got wrong before; docs/fake-vs-real.md lists them all with what was done.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cluster_backends import WIDGET, Backend, owned_by, widget

from rayop.runtime.client import (
    CONFIGMAP,
    LEASE,
    NAMESPACE,
    POD,
    SERVICE,
    PatchType,
    PropagationPolicy,
)
from rayop.runtime.clock import timeout
from rayop.runtime.errors import BadRequest, Invalid, UnsupportedMediaType

NAME_REGEX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}], **spec}}


async def test_generation_only_on_kinds_that_have_it(backend: Backend) -> None:
    ns = backend.namespace
    made = {
        "Widget": await backend.client.create(WIDGET, widget("w"), namespace=ns),
        "Pod": await backend.client.create(POD, pod("p"), namespace=ns),
        "ConfigMap": await backend.client.create(CONFIGMAP, {"metadata": {"name": "c"}},
                                                 namespace=ns),
        "Lease": await backend.client.create(LEASE, {"metadata": {"name": "l"}, "spec": {}},
                                             namespace=ns),
    }
    assert {k: o["metadata"].get("generation") for k, o in made.items()} == {
        "Widget": 1, "Pod": 1, "ConfigMap": None, "Lease": None}
    changed = await backend.client.patch(CONFIGMAP, "c", {"data": {"a": "b"}}, namespace=ns)
    assert "generation" not in changed["metadata"]


@pytest.mark.parametrize(
    ("labels", "annotations", "field"),
    [
        ({"bad key!": "v"}, None, "metadata.labels"),
        ({"ok": "bad value!"}, None, "metadata.labels"),
        ({"ok": "x" * 64}, None, "metadata.labels"),
        ({"a/b/c": "v"}, None, "metadata.labels"),
        (None, {"bad key!": "v"}, "metadata.annotations"),
    ],
)
async def test_labels_and_annotations_are_validated(
    backend: Backend, labels: Any, annotations: Any, field: str
) -> None:
    meta: dict[str, Any] = {"name": "m"}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    with pytest.raises(Invalid) as caught:
        await backend.client.create(CONFIGMAP, {"metadata": meta}, namespace=backend.namespace)
    assert caught.value.fields == (field,)
    fine = {"metadata": {"name": "fine", "labels": {"example.com/app": "ray_1.x", "empty": ""},
                         "annotations": {"Example.com/Note": "anything at all!"}}}
    await backend.client.create(CONFIGMAP, fine, namespace=backend.namespace)


async def test_owner_reference_fields_are_named_without_an_index(backend: Backend) -> None:
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}
    body = {"metadata": {"name": "o", "ownerReferences": [ref]}}
    with pytest.raises(Invalid) as caught:
        await backend.client.create(CONFIGMAP, body, namespace=backend.namespace)
    assert caught.value.fields == ("metadata.ownerReferences.uid",)


async def test_names_are_refused_in_the_servers_words(backend: Backend) -> None:
    with pytest.raises(Invalid) as caught:
        await backend.client.create(WIDGET, widget("Bad_Name"), namespace=backend.namespace)
    assert caught.value.message == (
        'Widget.test.rayop.dev "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        f"regex used for validation is '{NAME_REGEX}')"
    )
    def service(name: str) -> dict[str, Any]:
        return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}

    with pytest.raises(Invalid) as caught:  # a Service's name is an RFC 1123 label: no dots
        await backend.client.create(SERVICE, service("a.b"), namespace=backend.namespace)
    assert caught.value.fields == ("metadata.name",)
    assert caught.value.message.endswith('Invalid value: "a.b": must not contain dots')
    # ... but no longer a DNS-1035 label only (1.36): a leading digit is fine.
    await backend.client.create(SERVICE, service("1svc"), namespace=backend.namespace)
    with pytest.raises(Invalid) as caught:
        await backend.client.create(WIDGET, {"metadata": {"generateName": "UP-"}, "spec": {}},
                                    namespace=backend.namespace)
    assert set(caught.value.fields) == {"metadata.generateName", "metadata.name"}


async def test_a_body_of_another_kind_or_version_is_refused(backend: Backend) -> None:
    ns = backend.namespace
    other_version = {"apiVersion": "test.rayop.dev/v9", "kind": "Widget",
                     "metadata": {"name": "v"}, "spec": {}}
    with pytest.raises(BadRequest) as caught:
        await backend.client.create(WIDGET, other_version, namespace=ns)
    assert caught.value.message == ("the API version in the data (test.rayop.dev/v9) does not "
                                    "match the expected API version (test.rayop.dev/v1)")
    other_kind = {"apiVersion": "test.rayop.dev/v1", "kind": "Gadget",
                  "metadata": {"name": "k"}, "spec": {}}
    with pytest.raises(Invalid) as invalid:  # a custom resource: 422 naming "kind"
        await backend.client.create(WIDGET, other_kind, namespace=ns)
    assert invalid.value.fields == ("kind",)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    with pytest.raises(BadRequest) as caught:  # a built-in kind: 400, it cannot be converted
        await backend.client.create(CONFIGMAP, secret, namespace=ns)
    assert caught.value.message.startswith(
        'Secret in version "v1" cannot be handled as a ConfigMap')


async def test_a_patch_cannot_rename(backend: Backend) -> None:
    await backend.client.create(WIDGET, widget("w"), namespace=backend.namespace)
    for patch, patch_type in (({"metadata": {"name": "other"}}, PatchType.MERGE),
                              ([{"op": "replace", "path": "/metadata/name", "value": "other"}],
                               PatchType.JSON)):
        with pytest.raises(BadRequest) as caught:
            await backend.client.patch(WIDGET, "w", patch, namespace=backend.namespace,
                                       patch_type=patch_type)
        assert caught.value.message == (
            "the name of the object (other) does not match the name on the URL (w)")


async def test_custom_resources_take_no_strategic_merge_patch(backend: Backend) -> None:
    await backend.client.create(WIDGET, widget("w"), namespace=backend.namespace)
    with pytest.raises(UnsupportedMediaType) as caught:
        await backend.client.patch(WIDGET, "w", {"spec": {"size": 3}},
                                   namespace=backend.namespace, patch_type=PatchType.STRATEGIC)
    assert "application/merge-patch+json" in caught.value.message


async def test_a_pod_needs_containers_and_keeps_its_spec(backend: Backend) -> None:
    ns = backend.namespace
    with pytest.raises(Invalid) as caught:
        await backend.client.create(POD, {"metadata": {"name": "empty"}, "spec": {}},
                                    namespace=ns)
    assert caught.value.fields == ("spec.containers",)
    await backend.client.create(POD, pod("p"), namespace=ns)
    # (A JSON patch of the image alone: a merge patch would replace the whole container, and
    # the real server defaults what it leaves out again, maybe differently.)
    new_image = [{"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:2"}]
    changed = await backend.client.patch(POD, "p", new_image, namespace=ns,
                                         patch_type=PatchType.JSON)
    assert changed["spec"]["containers"][0]["image"] == "busybox:2"
    assert changed["metadata"]["generation"] == 2
    with pytest.raises(Invalid) as caught:
        await backend.client.patch(POD, "p", {"spec": {"hostname": "elsewhere"}}, namespace=ns)
    assert caught.value.fields == ("spec",)
    assert "pod updates may not change fields other than" in caught.value.message


async def test_watch_from_a_version_not_reached_yet_waits_for_it(backend: Backend) -> None:
    ns = backend.namespace
    start = int((await backend.client.list(WIDGET, namespace=ns)).resource_version)
    ahead = str(start + 2)  # the second write from now: the stream starts after it

    async def write_later() -> None:
        for name in ("a", "b", "c", "d"):
            await backend.clock.sleep(0.2)
            await backend.client.create(WIDGET, widget(name), namespace=ns)

    writer = asyncio.ensure_future(write_later())
    stream = backend.client.watch(WIDGET, namespace=ns, resource_version=ahead,
                                  timeout_seconds=20, allow_bookmarks=False)
    events = []
    try:
        async with timeout(backend.clock, 20):
            async for event in stream:
                events.append(event)
                if event.object["metadata"]["name"] == "d":
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await writer
    names = [e.object["metadata"]["name"] for e in events]
    # Only what came after the requested version (other writes on a shared real server may
    # reach it sooner than "b" does).
    assert all(int(e.resource_version) > int(ahead) for e in events)
    assert names == ["a", "b", "c", "d"][-len(names):] and "a" not in names


async def test_foreground_delete_of_an_object_already_deleting(backend: Backend) -> None:
    ns = backend.namespace
    owner = await backend.client.create(
        WIDGET, widget("owner", metadata={"finalizers": ["test.rayop.dev/hold"]}), namespace=ns)
    dependent = owned_by(owner, "dep", block=True, finalizers=["test.rayop.dev/hold"])
    await backend.client.create(CONFIGMAP, dependent, namespace=ns)
    await backend.client.delete(WIDGET, "owner", namespace=ns)  # background: just marked
    await backend.client.delete(WIDGET, "owner", namespace=ns,
                                propagation_policy=PropagationPolicy.FOREGROUND)
    await backend.eventually(lambda: backend.deleting(CONFIGMAP, "dep"))
    held = await backend.client.get(WIDGET, "owner", namespace=ns)
    assert held["metadata"]["finalizers"] == ["test.rayop.dev/hold", "foregroundDeletion"]
    for kind, name in ((CONFIGMAP, "dep"), (WIDGET, "owner")):
        await backend.client.patch(kind, name, {"metadata": {"finalizers": None}}, namespace=ns)
    await backend.eventually(lambda: backend.gone(WIDGET, "owner"))


async def test_deleting_a_namespace_answers_it_while_its_content_is_held(backend: Backend) -> None:
    doomed = f"{backend.namespace}-held"
    await backend.client.create(NAMESPACE, {"metadata": {"name": doomed}})
    held = {"metadata": {"name": "held", "finalizers": ["test.rayop.dev/hold"]}}
    await backend.client.create(CONFIGMAP, held, namespace=doomed)
    answered = await backend.client.delete(NAMESPACE, doomed)
    assert answered is not None and answered["status"]["phase"] == "Terminating"
    assert answered["metadata"]["deletionTimestamp"]
    await backend.eventually(lambda: backend.deleting(CONFIGMAP, "held", doomed), within=120)
    again = await backend.client.delete(NAMESPACE, doomed)
    assert again is not None and again["status"]["phase"] == "Terminating"
    await backend.client.patch(CONFIGMAP, "held", {"metadata": {"finalizers": None}},
                               namespace=doomed)
    await backend.eventually(lambda: backend.gone(NAMESPACE, doomed), within=120)


async def test_orphan_delete_of_an_object_already_deleting_releases_dependents(
    backend: Backend,
) -> None:
    ns = backend.namespace
    owner = await backend.client.create(
        WIDGET, widget("owner", metadata={"finalizers": ["test.rayop.dev/hold"]}), namespace=ns)
    await backend.client.create(CONFIGMAP, owned_by(owner, "dep"), namespace=ns)
    await backend.client.delete(WIDGET, "owner", namespace=ns)  # background: just marked
    await backend.client.delete(WIDGET, "owner", namespace=ns,
                                propagation_policy=PropagationPolicy.ORPHAN)

    async def released() -> bool:
        got = await backend.client.get(CONFIGMAP, "dep", namespace=ns)
        return not got["metadata"].get("ownerReferences")

    await backend.eventually(released)
    await backend.client.patch(WIDGET, "owner", {"metadata": {"finalizers": None}}, namespace=ns)
    await backend.eventually(lambda: backend.gone(WIDGET, "owner"))
    assert not await backend.gone(CONFIGMAP, "dep")
