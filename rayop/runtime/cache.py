"""Reading from the informer cache, and not being fooled by it.

The cache a reconciler reads lags the API server by the watch latency. A reconciler that created
a child and is called again before the child's ADDED event arrives would see no child and create a
second one — the classic stale-cache bug of controllers (client-go's ReplicaSet controller guards
against it with "expectations"). rayop guards every controller the same way, with no code in the
reconcilers:

- :class:`Cache` reads objects from the shared informers' stores (private copies, never aliases);
- :class:`TrackingClient` wraps the :class:`~rayop.runtime.client.ClusterClient` that reconcilers
write
  through and remembers, for the request being reconciled, each write's resulting resourceVersion;
- before the next reconcile of that request, the controller waits (bounded, in Clock time) until
  the cache shows every remembered write — or defers the request — via :meth:`WriteTracker.wait`.

A write to a kind no informer watches, or outside the informer's namespace or label scope, is not
tracked: the cache would never show it.
"""

from __future__ import annotations

import builtins
import contextvars
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rayop.runtime.client import (
    ClusterClient,
    Kind,
    ListResult,
    Obj,
    PatchType,
    Preconditions,
    PropagationPolicy,
    WatchEvent,
)
from rayop.runtime.clock import Clock
from rayop.runtime.leader import LeaderElectionLost
from rayop.runtime.reconcile import Request

__all__ = ["Cache", "CacheSource", "TrackingClient", "WriteTracker", "current_request"]

current_request: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "rayop_current_request", default=None
)
"""The request the running reconcile works on; set by the controller's workers."""


class _StoreLike(Protocol):
    """What the cache needs of an informer's store."""

    def get(self, namespace: str, name: str) -> Obj | None: ...

    def list(
        self, namespace: str | None = None, label_selector: Any = None
    ) -> builtins.list[Obj]: ...

    def by_index(self, index_name: str, value: str) -> builtins.list[Obj]: ...

    async def wait_for_version(
        self, namespace: str, name: str, resource_version: str, *, timeout: float, clock: Clock
    ) -> bool: ...

    async def wait_for(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[Obj | None], bool],
        *,
        timeout: float,
        clock: Clock,
    ) -> bool: ...


class _InformerLike(Protocol):
    """What the cache needs of an informer: its store and its scope."""

    @property
    def store(self) -> Any: ...

    def in_scope(self, obj: Obj, namespace: str | None = None) -> bool: ...


class CacheSource(Protocol):
    """Where the cache finds the informer of a kind (the manager's shared informers)."""

    def informer_for(self, kind: Kind) -> _InformerLike | None:
        """Return the informer that watches ``kind``, or None."""
        ...


class Cache:
    """Read-only access to the objects the shared informers hold."""

    def __init__(self, source: CacheSource) -> None:
        self._source = source

    def _store(self, kind: Kind) -> _StoreLike:
        informer = self._source.informer_for(kind)
        if informer is None:
            raise LookupError(f"no informer watches {kind}; register the kind with the manager")
        store: _StoreLike = informer.store
        return store

    def get(self, kind: Kind, name: str, *, namespace: str = "") -> Obj | None:
        """Return a private copy of the cached object, or None."""
        return self._store(kind).get(namespace, name)

    def list(
        self, kind: Kind, *, namespace: str | None = None, label_selector: str | None = None
    ) -> builtins.list[Obj]:
        """Return private copies of the cached objects that match."""
        return self._store(kind).list(namespace, label_selector)

    def owned_by(self, kind: Kind, owner_uid: str) -> builtins.list[Obj]:
        """Return the cached objects of ``kind`` with an owner reference to ``owner_uid``."""
        return self._store(kind).by_index("owner_uid", owner_uid)


@dataclass(frozen=True)
class _Expectation:
    kind: Kind
    namespace: str
    name: str
    resource_version: str  # "" means: the object is gone
    recorded_at: float


class WriteTracker:
    """Remembers each request's writes until the cache shows them."""

    def __init__(self, source: CacheSource, *, clock: Clock, expire_after: float = 300.0) -> None:
        self._source = source
        self._clock = clock
        self._expire_after = expire_after
        self._pending: dict[Request, dict[tuple[Kind, str, str], _Expectation]] = {}
        self.deferred = 0

    def record(self, kind: Kind, obj: Obj | None, *, namespace: str, name: str) -> None:
        """Remember a successful write made while reconciling the current request.

        ``obj`` is what the server answered; None records a delete that removed the object.
        """
        request = current_request.get()
        if request is None:
            return
        informer = self._source.informer_for(kind)
        if informer is None or (obj is not None and not informer.in_scope(obj, namespace)):
            return
        rv = "" if obj is None else str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if obj is not None and not rv:
            return
        exp = _Expectation(kind, namespace, name, rv, self._clock.monotonic())
        self._pending.setdefault(request, {})[(kind, namespace, name)] = exp

    def pending(self, request: Request) -> int:
        """How many of the request's writes the cache does not show yet."""
        return len(self._pending.get(request, {}))

    async def wait(self, request: Request, *, timeout: float) -> bool:
        """Wait up to ``timeout`` until the cache shows every write; True if it does."""
        expectations = self._pending.get(request)
        if not expectations:
            return True
        deadline = self._clock.monotonic() + timeout
        for key, exp in list(expectations.items()):
            if self._clock.monotonic() - exp.recorded_at > self._expire_after:
                del expectations[key]
                continue
            informer = self._source.informer_for(exp.kind)
            if informer is None:
                del expectations[key]
                continue
            remaining = max(0.0, deadline - self._clock.monotonic())
            store: _StoreLike = informer.store
            if exp.resource_version:
                seen = await store.wait_for_version(
                    exp.namespace, exp.name, exp.resource_version,
                    timeout=remaining, clock=self._clock,
                )
            else:
                seen = await store.wait_for(
                    exp.namespace, exp.name, _absent, timeout=remaining, clock=self._clock
                )
            if not seen:
                self.deferred += 1
                return False
            del expectations[key]
        self._pending.pop(request, None)
        return True

    def forget(self, request: Request) -> None:
        """Drop what is remembered for ``request``."""
        self._pending.pop(request, None)


def _absent(obj: Obj | None) -> bool:
    return obj is None


class TrackingClient:
    """A :class:`~rayop.runtime.client.ClusterClient` telling a :class:`WriteTracker` every write.

    ``may_write`` fences writes: while it returns False (the manager lost its leader lease)
    every write raises :class:`~rayop.runtime.leader.LeaderElectionLost` before reaching the server,
    so a reconcile still running when the lease goes cannot act as a second leader.
    """

    def __init__(
        self, inner: ClusterClient, tracker: WriteTracker, *,
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        self.inner = inner
        self._tracker = tracker
        self._may_write = may_write

    def _fence(self) -> None:
        if self._may_write is not None and not self._may_write():
            raise LeaderElectionLost("not the leader: write refused")

    def _track(self, kind: Kind, obj: Obj | None, namespace: str | None) -> Obj | None:
        if obj is not None:
            meta = obj.get("metadata") or {}
            ns = namespace or meta.get("namespace") or ""
            self._tracker.record(kind, obj, namespace=ns, name=str(meta.get("name", "")))
        return obj

    async def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> Obj:
        """Read straight from the API server (bypassing the cache)."""
        return await self.inner.get(kind, name, namespace=namespace)

    async def list(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """List straight from the API server (bypassing the cache)."""
        return await self.inner.list(
            kind, namespace=namespace, label_selector=label_selector,
            field_selector=field_selector, limit=limit, continue_token=continue_token,
        )

    def watch(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: float | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]:
        """Watch through the inner client."""
        return self.inner.watch(
            kind, namespace=namespace, resource_version=resource_version,
            label_selector=label_selector, field_selector=field_selector,
            timeout_seconds=timeout_seconds, allow_bookmarks=allow_bookmarks,
        )

    async def create(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Create, and remember the write."""
        self._fence()
        return _some(self._track(kind, await self.inner.create(kind, obj, namespace=namespace),
                                 namespace))

    async def replace(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace, and remember the write."""
        self._fence()
        return _some(self._track(kind, await self.inner.replace(kind, obj, namespace=namespace),
                                 namespace))

    async def patch(
        self, kind: Kind, name: str, patch: Any, *, namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch, and remember the write."""
        self._fence()
        out = await self.inner.patch(kind, name, patch, namespace=namespace, patch_type=patch_type)
        return _some(self._track(kind, out, namespace))

    async def replace_status(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace status, and remember the write."""
        self._fence()
        out = await self.inner.replace_status(kind, obj, namespace=namespace)
        return _some(self._track(kind, out, namespace))

    async def patch_status(
        self, kind: Kind, name: str, patch: Any, *, namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch status, and remember the write."""
        self._fence()
        out = await self.inner.patch_status(
            kind, name, patch, namespace=namespace, patch_type=patch_type
        )
        return _some(self._track(kind, out, namespace))

    async def delete(
        self, kind: Kind, name: str, *, namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: Preconditions | None = None,
    ) -> Obj | None:
        """Delete; a delete held by finalizers is remembered like any write."""
        self._fence()
        out = await self.inner.delete(
            kind, name, namespace=namespace, propagation_policy=propagation_policy,
            preconditions=preconditions,
        )
        if out is None:
            self._tracker.record(kind, None, namespace=namespace or "", name=name)
        return self._track(kind, out, namespace)


def _some(obj: Obj | None) -> Obj:
    assert obj is not None
    return obj

