"""The informers a manager shares: one per kind and scope, and a scope of several namespaces.

:class:`SharedInformers` hands every controller of a manager the same informer for a kind, so a
kind is listed and watched once however many controllers read it. Its default scope comes from
the manager's options, as controller-runtime's cache options do:

- ``namespaces``: none (the whole cluster), one (one informer in that namespace) or several —
  then a :class:`MultiNamespaceInformer` runs one informer, and so one list and one watch, per
  namespace, and presents them as one: a merged read-only store view
  (:class:`MultiNamespaceStore`) and one stream of handler calls (controller-runtime's
  ``DefaultNamespaces`` / multi-namespace cache). A watch never covers a namespace it was not
  asked for, so RBAC can be granted per namespace.
- ``label_selector`` with ``selector_kinds``: the selector restricts the informers of those kinds
  only (``None``: of every kind). An operator's primary objects carry the user's labels; the
  children it creates (Pods, Services) carry labels of the operator's choosing, and the operator
  must still see them.

:meth:`SharedInformers.wait_for_sync` raises :class:`CacheSyncTimeout` — a ``TimeoutError`` that
names the informers that never synced — so a start-up that cannot list (RBAC, a missing CRD)
ends with a clear message rather than hanging.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import random
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeAlias

from rayop.runtime.client import ClusterClient, Kind, Obj
from rayop.runtime.clock import Clock, RealClock, timeout
from rayop.runtime.errors import RayopError
from rayop.runtime.informer import Informer, InformerStatistics, ResourceEventHandler
from rayop.runtime.selectors import LabelSelector
from rayop.runtime.store import IndexFunc, Key, Store

__all__ = [
    "CacheSyncTimeout",
    "MultiNamespaceInformer",
    "MultiNamespaceStore",
    "ScopedInformer",
    "SharedInformers",
]


class CacheSyncTimeout(RayopError, TimeoutError):
    """Informers did not sync in time; ``unsynced`` names them (kind/namespace/selectors)."""

    def __init__(self, unsynced: Sequence[str], seconds: float | None) -> None:
        self.unsynced = list(unsynced)
        self.seconds = seconds
        super().__init__(
            f"informers not synced after {seconds} s: {', '.join(self.unsynced)} "
            "(can the API server list them? check RBAC and that the CRDs are installed)"
        )


class MultiNamespaceStore:
    """A read-only view over one store per namespace, answering as one store would.

    Reads route by namespace (``get``, ``wait_for``) or merge every store in namespace order
    (``list`` without a namespace, ``by_index``). Objects come back as private copies, as from
    :class:`~rayop.runtime.store.Store`. A namespace outside the scope holds nothing.
    """

    def __init__(self, stores: dict[str, Store]) -> None:
        self._stores = dict(sorted(stores.items()))

    def _store(self, namespace: str) -> Store | None:
        return self._stores.get(namespace or "")

    def get(self, namespace: str, name: str) -> Obj | None:
        """Return a private copy of the object, or None."""
        store = self._store(namespace)
        return None if store is None else store.get(namespace, name)

    def list(
        self, namespace: str | None = None, label_selector: str | LabelSelector | None = None
    ) -> builtins.list[Obj]:
        """Return private copies of the matching objects, in (namespace, name) order."""
        if namespace is not None:
            store = self._store(namespace)
            return [] if store is None else store.list(namespace, label_selector)
        return [
            obj for store in self._stores.values() for obj in store.list(None, label_selector)
        ]

    def by_index(self, index_name: str, value: str) -> builtins.list[Obj]:
        """Return private copies of the objects filed under ``value`` in every namespace."""
        return [obj for store in self._stores.values() for obj in store.by_index(index_name, value)]

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Add an index to every namespace's store."""
        for store in self._stores.values():
            store.add_index(name, fn)

    @property
    def index_names(self) -> tuple[str, ...]:
        """The index names (the same in every namespace)."""
        return next(iter(self._stores.values())).index_names

    def keys(self) -> builtins.list[Key]:
        """Return the keys of every cached object."""
        keys: builtins.list[Key] = []
        for store in self._stores.values():
            keys.extend(store.keys())
        return keys

    def __len__(self) -> int:
        return sum(len(store) for store in self._stores.values())

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        store = self._store(str(key[0]))
        return store is not None and key in store

    def resource_version_of(self, namespace: str, name: str) -> str | None:
        """Return the cached object's resourceVersion, or None."""
        store = self._store(namespace)
        return None if store is None else store.resource_version_of(namespace, name)

    @property
    def resource_versions(self) -> dict[str, str]:
        """The version each namespace's informer reached, by namespace."""
        return {ns: store.resource_version for ns, store in self._stores.items()}

    async def wait_for(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[Obj | None], bool],
        *,
        timeout: float,
        clock: Clock,
    ) -> bool:
        """As :meth:`rayop.runtime.store.Store.wait_for`, in the namespace's store."""
        store = self._store(namespace)
        if store is None:
            return predicate(None)
        return await store.wait_for(namespace, name, predicate, timeout=timeout, clock=clock)

    async def wait_for_version(
        self, namespace: str, name: str, resource_version: str, *, timeout: float, clock: Clock
    ) -> bool:
        """As :meth:`rayop.runtime.store.Store.wait_for_version`; False outside the scope."""
        store = self._store(namespace)
        if store is None:
            return False
        return await store.wait_for_version(
            namespace, name, resource_version, timeout=timeout, clock=clock
        )


class MultiNamespaceInformer:
    """One informer per namespace of one kind, seen as one informer.

    Handlers registered here are registered on every namespace's informer, so they hear one
    stream of every namespace's changes; :attr:`store` reads all of them.
    """

    def __init__(self, informers: Sequence[Informer]) -> None:
        if len(informers) < 2:
            raise ValueError("a multi-namespace informer needs at least two namespaces")
        kinds = {i.kind for i in informers}
        if len(kinds) != 1:
            raise ValueError("every informer of a multi-namespace informer has the same kind")
        self.informers = sorted(informers, key=lambda i: i.namespace or "")
        self.kind = informers[0].kind
        self.namespaces = tuple(i.namespace or "" for i in self.informers)
        self.label_selector = informers[0].label_selector
        self.field_selector = informers[0].field_selector
        self.name = f"{self.kind.group_kind}/{','.join(self.namespaces)}"
        self.store = MultiNamespaceStore({i.namespace or "": i.store for i in self.informers})

    def add_handler(self, handler: ResourceEventHandler) -> None:
        """Register ``handler`` on every namespace's informer."""
        for informer in self.informers:
            informer.add_handler(handler)

    def remove_handler(self, handler: ResourceEventHandler) -> None:
        """Stop calling ``handler``."""
        for informer in self.informers:
            informer.remove_handler(handler)

    def in_scope(self, obj: Obj, namespace: str | None = None) -> bool:
        """True when ``obj`` is in one of the namespaces and matches the selectors."""
        ns = str((obj.get("metadata") or {}).get("namespace") or namespace or "")
        return any(i.namespace == ns and i.in_scope(obj, ns) for i in self.informers)

    @property
    def has_synced(self) -> bool:
        """True once every namespace's informer has synced."""
        return all(i.has_synced for i in self.informers)

    async def wait_for_sync(self) -> None:
        """Wait until :attr:`has_synced`."""
        for informer in self.informers:
            await informer.wait_for_sync()

    @property
    def running(self) -> bool:
        """True while every namespace's informer runs."""
        return all(i.running for i in self.informers)

    def start(self) -> None:
        """Start every namespace's informer."""
        for informer in self.informers:
            informer.start()

    async def stop(self) -> None:
        """Stop every namespace's informer."""
        for informer in self.informers:
            await informer.stop()

    def statistics(self) -> dict[str, InformerStatistics]:
        """Each namespace informer's counters, by namespace."""
        return {i.namespace or "": i.statistics() for i in self.informers}


ScopedInformer: TypeAlias = Informer | MultiNamespaceInformer
"""What :meth:`SharedInformers.get_or_create` returns: one informer, or one per namespace."""


class _Unset(enum.Enum):
    UNSET = 0


_UNSET = _Unset.UNSET
_ScopeKey = tuple[Kind, tuple[str, ...], str | None, str | None]


class SharedInformers:
    """One informer per (kind, scope), shared by every controller of a manager.

    Informers asked for after :meth:`start_all` start at once. ``options`` are passed to every
    :class:`~rayop.runtime.informer.Informer` made (``watch_timeout``, ``inactivity_timeout``, ...);
    each gets its own random generator drawn from ``seed``, so a seeded run replays.
    ``namespace`` is shorthand for ``namespaces=(namespace,)``.
    """

    def __init__(
        self,
        client: ClusterClient,
        *,
        clock: Clock | None = None,
        namespace: str | None = None,
        namespaces: Sequence[str] = (),
        label_selector: str | None = None,
        selector_kinds: Collection[Kind] | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or RealClock()
        scope = tuple(namespaces) or ((namespace,) if namespace else ())
        self.namespaces: tuple[str, ...] = tuple(sorted(set(scope)))
        self.label_selector = label_selector
        self.selector_kinds = None if selector_kinds is None else frozenset(selector_kinds)
        self._rng = random.Random(seed)
        self._options = options
        self._informers: dict[_ScopeKey, ScopedInformer] = {}
        self._started = False

    @property
    def namespace(self) -> str | None:
        """The one namespace of the default scope, or None (all, or several)."""
        return self.namespaces[0] if len(self.namespaces) == 1 else None

    def default_label_selector(self, kind: Kind) -> str | None:
        """The label selector ``kind``'s informer gets by default."""
        if self.selector_kinds is None or kind in self.selector_kinds:
            return self.label_selector
        return None

    def _key(
        self,
        kind: Kind,
        namespace: str | _Unset | None = _UNSET,
        label_selector: str | _Unset | None = _UNSET,
        field_selector: str | None = None,
    ) -> _ScopeKey:
        """The scope an informer of ``kind`` gets; unset parts take the defaults."""
        namespaces = self.namespaces if namespace is _UNSET else _one(namespace)
        if not kind.namespaced:
            namespaces = ()
        labels = (
            self.default_label_selector(kind) if label_selector is _UNSET else label_selector
        )
        return (kind, namespaces, labels, field_selector)

    def get_or_create(
        self,
        kind: Kind,
        *,
        namespace: str | _Unset | None = _UNSET,
        label_selector: str | _Unset | None = _UNSET,
        field_selector: str | None = None,
    ) -> ScopedInformer:
        """Return the informer for ``kind`` in this scope (the registry's by default).

        ``namespace`` (one namespace, or None for all) overrides the default namespaces.
        """
        key = self._key(kind, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = self._make(*key)
            self._informers[key] = informer
            if self._started:
                informer.start()
        return informer

    def _make(
        self, kind: Kind, namespaces: tuple[str, ...], labels: str | None, fields: str | None
    ) -> ScopedInformer:
        def one(namespace: str | None) -> Informer:
            return Informer(
                self.client, kind, clock=self.clock, namespace=namespace, label_selector=labels,
                field_selector=fields, rng=random.Random(self._rng.getrandbits(64)),
                **self._options,
            )

        if len(namespaces) <= 1:
            return one(namespaces[0] if namespaces else None)
        return MultiNamespaceInformer([one(ns) for ns in namespaces])

    def informer_for(self, kind: Kind) -> ScopedInformer | None:
        """Return the informer of ``kind`` in the default scope, else any of ``kind``, or None."""
        found = self._informers.get(self._key(kind))
        if found is not None:
            return found
        return next((i for (k, *_), i in self._informers.items() if k == kind), None)

    @property
    def informers(self) -> list[ScopedInformer]:
        """Every informer made so far, in creation order."""
        return list(self._informers.values())

    @property
    def has_synced(self) -> bool:
        """True when every informer has synced."""
        return all(i.has_synced for i in self._informers.values())

    def start_all(self) -> None:
        """Start every informer (and any made later)."""
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def wait_for_sync(self, *, timeout: float | None = None) -> None:
        """Wait until every informer has synced; :class:`CacheSyncTimeout` after ``timeout``."""
        waits = [i.wait_for_sync() for i in self._informers.values()]
        try:
            async with _clock_timeout(self.clock, timeout):
                await asyncio.gather(*waits)
        except TimeoutError:
            unsynced = [_describe(i) for i in self._informers.values() if not i.has_synced]
            raise CacheSyncTimeout(unsynced, timeout) from None

    async def stop_all(self) -> None:
        """Stop every informer."""
        self._started = False
        for informer in self._informers.values():
            await informer.stop()


def _one(namespace: str | None) -> tuple[str, ...]:
    return (namespace,) if namespace else ()


def _describe(informer: ScopedInformer) -> str:
    if isinstance(informer, MultiNamespaceInformer):
        return ", ".join(i.name for i in informer.informers if not i.has_synced)
    return informer.name


_clock_timeout = timeout
