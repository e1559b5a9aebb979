"""The ClusterClient contract suite's backends (the fixtures are in ``conftest.py``).

Every test here takes ``backend`` and speaks only the ``ClusterClient`` protocol, so the same
test runs on each backend in ``BACKENDS``. Adding a backend is one async context manager that
yields a :class:`Backend` plus one line in ``BACKENDS``; it may skip itself (``pytest.skip``)
when what it needs is missing. ``ensure_test_crd`` makes the ``Widget`` test kind exist there.

Tests that cannot run on a real server (they need to force history compaction, say) carry
``@pytest.mark.fake_only("why")`` and are not collected on real servers (deselected).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rayop.fakes.cluster import FakeCluster
from rayop.ray.crds import generate_crds
from rayop.runtime.client import ClusterClient, Kind, Obj, WatchEvent
from rayop.runtime.clock import Clock, RealClock, VirtualClock, timeout
from rayop.runtime.errors import Cause, NotFound

WIDGET = Kind("test.rayop.dev", "v1", "Widget", "widgets")
"""The test CRD kind: any spec, ``spec.size`` an integer >= 0, a status subresource."""

CRD_KIND = Kind(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
    namespaced=False,
)


@dataclass
class Backend:
    """One backend under test: a client, the clock it runs on, and what the tests may need."""

    name: str
    client: ClusterClient
    clock: Clock
    fake: FakeCluster | None = None
    namespace: str = ""

    async def eventually(
        self, check: Callable[[], Awaitable[bool]], *, within: float = 60.0, every: float = 0.2
    ) -> None:
        """Wait until ``check()`` is true (a real server's controllers act asynchronously)."""
        async with timeout(self.clock, within):
            while not await check():
                await self.clock.sleep(every)

    async def gone(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Return whether the object no longer exists."""
        try:
            await self.client.get(kind, name, namespace=namespace or self.namespace)
        except NotFound:
            return True
        return False

    async def deleting(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Return whether the object is marked for deletion (``deletionTimestamp`` set)."""
        got = await self.client.get(kind, name, namespace=namespace or self.namespace)
        return bool(got["metadata"].get("deletionTimestamp"))

    async def events(
        self, stream: Any, count: int, *, within: float = 30.0, bookmarks: bool = False
    ) -> list[WatchEvent]:
        """Take ``count`` events from a watch stream (bookmarks skipped unless asked for)."""
        taken: list[WatchEvent] = []
        async with timeout(self.clock, within):
            async for event in stream:
                if event.type == "BOOKMARK" and not bookmarks:
                    continue
                taken.append(event)
                if len(taken) == count:
                    break
        return taken


def widget_causes(obj: Obj) -> list[Cause]:
    """What the Widget CRD's schema refuses: a ``spec.size`` that is not an integer >= 0."""
    size = (obj.get("spec") or {}).get("size")
    if size is None:
        return []
    if not isinstance(size, int) or isinstance(size, bool):
        return [Cause("spec.size", f'Invalid value: "{size}": spec.size in body must be of '
                                   "type integer", "FieldValueTypeInvalid")]
    if size < 0:
        return [Cause("spec.size", f"Invalid value: {size}: spec.size in body should be greater "
                                   "than or equal to 0")]
    return []


WIDGET_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": WIDGET.resource},
    "spec": {
        "group": WIDGET.group,
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget",
                  "listKind": "WidgetList"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                             "properties": {"size": {"type": "integer", "minimum": 0}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }},
        }],
    },
}


# -- backends ---------------------------------------------------------------------------------

_fake_namespaces = itertools.count(1)


@contextlib.asynccontextmanager
async def fake_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The in-memory FakeCluster on an auto-advancing VirtualClock."""
    clock = VirtualClock(auto_advance=True)
    fake = FakeCluster(clock=clock, seed=1, history=1000)
    fake.register_kind(WIDGET, validator=widget_causes)
    try:
        yield Backend("fake", fake, clock, fake=fake, namespace=f"t{next(_fake_namespaces)}")
    finally:
        await clock.aclose()


@contextlib.asynccontextmanager
async def kube_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """A real cluster through KubeClient, when RAYOP_TEST_KUBECONFIG names a kubeconfig."""
    path = os.environ.get("RAYOP_TEST_KUBECONFIG")
    if not path:
        pytest.skip("set RAYOP_TEST_KUBECONFIG to run the contract suite on a real cluster")
    from rayop.kube import KubeClient  # lazily: only this backend needs it

    client = await KubeClient.from_kubeconfig(path)
    backend = Backend("kube", client, RealClock(), namespace=f"rayop-test-{uuid.uuid4().hex[:8]}")
    try:
        await ensure_test_crd(backend)
        yield backend
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def realapi_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The session's real kube-apiserver (tests/realapi) through KubeClient.

    Skips with the reason when the binaries are not built (``tests/realapi/prepare.sh``), and
    fails instead under ``RAYOP_REALAPI=require``. The Widget CRD is installed with the server,
    before its garbage collector starts (see ``conftest.py``).
    """
    server = request.getfixturevalue("real_apiserver")
    from rayop.kube import KubeClient  # lazily: only the real backends need it

    client = await KubeClient.from_kubeconfig(server.kubeconfig)
    backend = Backend("realapi", client, RealClock(), namespace=f"c-{uuid.uuid4().hex[:10]}")
    try:
        yield backend
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def http_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The fake cluster behind its REST front (rayop.fakes.apiserver), through KubeClient.

    Real HTTP on 127.0.0.1, so real time: bookmarks every second keep the bookmark test short.
    Plain HTTP (KubeClient sends its token without TLS; kubectl would not): with TLS the test
    that makes 1,001 patches took 5.6 s instead of 1.5 s; TLS is exercised by tests/e2e and
    tests/kubectl.
    """
    from rayop.fakes.apiserver import ApiServer  # lazily: only this backend needs them
    from rayop.kube import KubeClient

    clock = RealClock()
    fake = FakeCluster(clock=clock, seed=1, history=1000, bookmark_interval=1.0)
    fake.register_kind(WIDGET, validator=widget_causes)
    async with ApiServer(fake, crds=generate_crds(), tls=False) as server:
        path = server.write_kubeconfig(request.getfixturevalue("tmp_path") / "kubeconfig")
        client = await KubeClient.from_kubeconfig(path)
        try:
            yield Backend("http", client, clock, fake=fake, namespace=f"h{next(_fake_namespaces)}")
        finally:
            await client.close()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], contextlib.AbstractAsyncContextManager[
    Backend]]] = {
    "fake": fake_backend,
    "http": http_backend,
    "realapi": realapi_backend,
}
# A cluster of your own joins only when named: CI's real server is the ``realapi`` backend, so
# an unconfigured ``kube`` backend would be 70-odd skips that say nothing.
if os.environ.get("RAYOP_TEST_KUBECONFIG"):
    BACKENDS["kube"] = kube_backend


async def ensure_test_crd(backend: Backend) -> None:
    """Make the Widget kind exist: register it on a fake, create and await its CRD elsewhere."""
    if backend.fake is not None:
        backend.fake.register_kind(WIDGET, validator=widget_causes)
        return
    with contextlib.suppress(Exception):
        await backend.client.create(CRD_KIND, WIDGET_CRD)

    async def established() -> bool:
        crd = await backend.client.get(CRD_KIND, WIDGET.resource)
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in conditions)

    async def served() -> bool:  # the resource is served a moment after Established
        try:
            await backend.client.list(WIDGET, namespace=backend.namespace)
        except NotFound:
            return False
        return True

    await backend.eventually(established, within=60)
    await backend.eventually(served, within=30)


def owned_by(owner: Obj, name: str, *, block: bool = False, finalizers: Any = None) -> Obj:
    """A ConfigMap body named ``name`` with one ownerReference to ``owner``."""
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    if block:
        ref["blockOwnerDeletion"] = True
    meta: dict[str, Any] = {"name": name, "ownerReferences": [ref]}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"metadata": meta, "data": {"k": "v"}}


def widget(name: str = "w", **fields: Any) -> Obj:
    """A Widget body with ``spec`` fields and optional ``labels`` / ``metadata`` extras."""
    labels = fields.pop("labels", None)
    metadata = {"name": name, **fields.pop("metadata", {})}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": WIDGET.api_version, "kind": WIDGET.kind, "metadata": metadata,
            "spec": fields or {"size": 1}}
