"""From informer events to work-queue keys: predicates filter, mappers map, one handler glues.

An informer tells its handlers ``on_add(obj)``, ``on_update(old, new)`` and ``on_delete(obj)``.
:class:`EnqueueHandler` turns each call into an :class:`Event` — ``add`` (``old`` None),
``update`` (both), ``delete`` (``new`` None, ``old`` the last state known) — drops it unless its
:class:`Predicate` says yes, asks its :class:`Mapper` which objects to reconcile, and adds those
:class:`~rayop.runtime.reconcile.Request` keys to a queue. On an update the mapper sees both the
old and
the new object, so a child that changed owner wakes both owners (controller-runtime does the same).

Predicates are small values combined with ``&``, ``|`` and ``~`` (or :func:`and_`, :func:`or_`,
:func:`not_`). The change predicates (:data:`generation_changed` and friends) judge updates only:
adds and deletes always pass them, as in controller-runtime — so a negated change predicate
(``~generation_changed``) drops adds and deletes too::

    predicate = generation_changed | labels_changed
    controller.watch(informer, mapper=enqueue_self, predicate=predicate)

Objects handed to predicates and mappers are shared by every handler of one event: treat them as
read-only (the cache itself is safe either way; see :mod:`rayop.runtime.store`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rayop.runtime.client import Kind, Obj
from rayop.runtime.reconcile import Request

__all__ = [
    "Event",
    "EventKind",
    "Mapper",
    "Predicate",
    "QueueLike",
    "always",
    "and_",
    "annotations_changed",
    "enqueue_mapped",
    "enqueue_owner",
    "enqueue_self",
    "generation_changed",
    "labels_changed",
    "not_",
    "or_",
    "resource_version_changed",
]

EventKind = Literal["add", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Event:
    """One change as a handler sees it: ``add`` (old None), ``update``, ``delete`` (new None)."""

    type: EventKind
    old: Obj | None
    new: Obj | None

    @property
    def obj(self) -> Obj:
        """The object the event is about: the new state, or the last one for a delete."""
        obj = self.new if self.new is not None else self.old
        assert obj is not None, "an event has at least one object"
        return obj


class Predicate:
    """A yes/no filter over events; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ("fn", "name")

    def __init__(self, fn: Callable[[Event], bool], *, name: str | None = None) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "predicate"))

    def __call__(self, event: Event) -> bool:
        """Return whether ``event`` passes."""
        return self.fn(event)

    def __and__(self, other: Predicate) -> Predicate:
        return and_(self, other)

    def __or__(self, other: Predicate) -> Predicate:
        return or_(self, other)

    def __invert__(self) -> Predicate:
        return not_(self)

    def __repr__(self) -> str:
        return f"Predicate({self.name})"


def and_(*predicates: Predicate) -> Predicate:
    """Pass an event only when every predicate passes it."""
    parts = tuple(predicates)
    return Predicate(lambda e: all(p(e) for p in parts), name=_join(" & ", parts))


def or_(*predicates: Predicate) -> Predicate:
    """Pass an event when any predicate passes it."""
    parts = tuple(predicates)
    return Predicate(lambda e: any(p(e) for p in parts), name=_join(" | ", parts))


def not_(predicate: Predicate) -> Predicate:
    """Pass an event exactly when ``predicate`` does not."""
    return Predicate(lambda e: not predicate(e), name=f"~{predicate.name}")


def _join(sep: str, parts: tuple[Predicate, ...]) -> str:
    return "(" + sep.join(p.name for p in parts) + ")"


def _meta(obj: Obj | None) -> dict[str, Any]:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _on_update(name: str, changed: Callable[[Obj, Obj], bool]) -> Predicate:
    """A predicate that passes adds and deletes, and updates for which ``changed`` holds."""

    def check(event: Event) -> bool:
        if event.type != "update" or event.old is None or event.new is None:
            return True
        return changed(event.old, event.new)

    return Predicate(check, name=name)


def _field_changed(field: str) -> Callable[[Obj, Obj], bool]:
    def changed(old: Obj, new: Obj) -> bool:
        return bool(_meta(old).get(field) != _meta(new).get(field))

    return changed


def _map_changed(field: str) -> Callable[[Obj, Obj], bool]:
    def changed(old: Obj, new: Obj) -> bool:
        return bool((_meta(old).get(field) or {}) != (_meta(new).get(field) or {}))

    return changed


always = Predicate(lambda _e: True, name="always")
"""Passes every event."""

generation_changed = _on_update("generation_changed", _field_changed("generation"))
"""Updates where ``metadata.generation`` changed (spec changes; status-only writes are dropped).

Kinds without a generation (ConfigMap, ...) never pass an update through it."""

resource_version_changed = _on_update(
    "resource_version_changed", _field_changed("resourceVersion")
)
"""Updates where ``metadata.resourceVersion`` changed (drops relist no-op updates)."""

labels_changed = _on_update("labels_changed", _map_changed("labels"))
"""Updates where ``metadata.labels`` changed."""

annotations_changed = _on_update("annotations_changed", _map_changed("annotations"))
"""Updates where ``metadata.annotations`` changed."""


# -- mappers ---------------------------------------------------------------------------------

Mapper = Callable[[Obj], Iterable[Request]]
"""Maps one object to the requests to reconcile because of it."""


def _request_of(obj: Obj) -> Request:
    meta = _meta(obj)
    return Request(str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def enqueue_self(obj: Obj) -> Iterable[Request]:
    """Reconcile the object itself."""
    return (_request_of(obj),)


def enqueue_owner(kind: Kind, *, controller_only: bool = True) -> Mapper:
    """Reconcile the object's owners of ``kind`` (by apiVersion and kind in ownerReferences).

    With ``controller_only`` (the default) only the owner reference marked ``controller: true``
    counts. Owners live in the object's namespace (cluster-scoped owners: namespace ``""``).
    """
    api_version, kind_name, namespaced = kind.api_version, kind.kind, kind.namespaced

    def mapper(obj: Obj) -> Iterable[Request]:
        namespace = str(_meta(obj).get("namespace") or "") if namespaced else ""
        out = []
        for ref in _meta(obj).get("ownerReferences") or ():
            if not isinstance(ref, dict) or ref.get("kind") != kind_name:
                continue
            if ref.get("apiVersion") != api_version:
                continue
            if controller_only and not ref.get("controller"):
                continue
            out.append(Request(namespace, str(ref.get("name", ""))))
        return out

    mapper.__name__ = f"enqueue_owner({kind.group_kind})"
    return mapper


def enqueue_mapped(fn: Callable[[Obj], Iterable[Request]]) -> Mapper:
    """Reconcile whatever ``fn`` returns for the object (a name for readability; ``fn`` is it)."""
    return fn


# -- the glue --------------------------------------------------------------------------------


class QueueLike(Protocol):
    """The one thing a handler needs of a work queue."""

    def add(self, key: Request) -> None:
        """Queue ``key`` (deduplicated by the queue)."""
        ...


class EnqueueHandler:
    """An informer handler: filter events by a predicate, map them to requests, queue those."""

    __slots__ = ("mapper", "predicate", "queue")

    def __init__(
        self, queue: QueueLike, mapper: Mapper = enqueue_self, predicate: Predicate | None = None
    ) -> None:
        self.queue = queue
        self.mapper = mapper
        self.predicate = predicate

    def _handle(self, event: Event) -> None:
        if self.predicate is not None and not self.predicate(event):
            return
        add = self.queue.add
        if event.type == "update" and event.old is not None and event.new is not None:
            new = list(self.mapper(event.new))
            for request in new:
                add(request)
            for request in self.mapper(event.old):
                if request not in new:
                    add(request)
            return
        for request in self.mapper(event.obj):
            add(request)

    def on_add(self, obj: Obj) -> None:
        """Handle an added object."""
        self._handle(Event("add", None, obj))

    def on_update(self, old: Obj, new: Obj) -> None:
        """Handle an updated object."""
        self._handle(Event("update", old, new))

    def on_delete(self, obj: Obj) -> None:
        """Handle a deleted object (``obj`` is its last known state)."""
        self._handle(Event("delete", obj, None))
