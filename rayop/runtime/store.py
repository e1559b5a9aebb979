"""The informer's cache: one writer (the informer), many readers, never an alias into the cache.

Representation (measured in ``bench/informer.py``; DESIGN.md section 8): each object is kept as its
compact JSON bytes (``jsoncodec.dumps``: orjson, whatever the nesting) beside the little parsed
metadata the store itself needs — resourceVersion, labels and the values of each index. Every read
decodes the bytes (``jsoncodec.loads``), so every object a reader gets is its own private copy:
mutating it can never change the cache, and no reader has to remember to copy. The alternatives
cost more: keeping dicts and ``copy.deepcopy`` on read is about 11x slower than ``orjson.loads``,
and a dict costs about 5x its JSON size in memory while bytes cost about 1x.

Writes are plain synchronous method calls with no ``await`` inside, so on one event loop every
write — including :meth:`Store.replace`, the whole-cache swap of a relist — is atomic for readers.

Keys are ``(namespace, name)``; cluster-scoped objects have namespace ``""``. Built-in indexes:
``"namespace"`` and ``"owner_uid"`` (one value per ``metadata.ownerReferences[].uid``);
:meth:`Store.add_index` adds more.

Waiting for one's own write (:meth:`Store.wait_for_version`): resourceVersions are opaque strings
by the API's contract, but every real API server (etcd) and the fake cluster issue integers that
only grow, so when both versions parse as integers they are compared as numbers; otherwise only
equality (or a delete seen while waiting) counts.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rayop.runtime import jsoncodec
from rayop.runtime.client import Obj
from rayop.runtime.clock import Clock, timeout
from rayop.runtime.selectors import LabelSelector

__all__ = ["IndexFunc", "Key", "ReplaceDiff", "Store", "compare_versions"]

Key = tuple[str, str]
"""``(namespace, name)``; namespace ``""`` for cluster-scoped objects."""

IndexFunc = Callable[[Obj], Iterable[str]]
"""Maps an object to the index values it is filed under."""

_NO_LABELS: dict[str, str] = {}


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def key_of(obj: Obj) -> Key:
    """Return the store key of an object."""
    meta = _meta(obj)
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _index_namespace(obj: Obj) -> Iterable[str]:
    return (str(_meta(obj).get("namespace") or ""),)


def _index_owner_uid(obj: Obj) -> Iterable[str]:
    refs = _meta(obj).get("ownerReferences") or ()
    return tuple(str(r["uid"]) for r in refs if isinstance(r, dict) and r.get("uid"))


def compare_versions(a: str, b: str) -> int | None:
    """Compare two resourceVersions: -1, 0 or 1 when both are integers; 0 if equal; else None."""
    if a == b:
        return 0
    if a.isdigit() and b.isdigit():
        return -1 if int(a) < int(b) else 1
    return None


class _Entry:
    """One cached object: its bytes plus the parsed bits the store indexes on."""

    __slots__ = ("index_values", "labels", "raw", "rv")

    def __init__(self, raw: bytes, rv: str, labels: dict[str, str], index_values: tuple[Any, ...]):
        self.raw = raw
        self.rv = rv
        self.labels = labels
        self.index_values = index_values

    def decode(self) -> Obj:
        obj: Obj = jsoncodec.loads(self.raw)
        return obj


@dataclass
class ReplaceDiff:
    """What a :meth:`Store.replace` changed: objects added, updated ``(old, new)`` and deleted."""

    added: list[Obj] = field(default_factory=list)
    updated: list[tuple[Obj, Obj]] = field(default_factory=list)
    deleted: list[Obj] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.added) + len(self.updated) + len(self.deleted)


_Check = Callable[["_Entry | None", bool], bool]


class Store:
    """A cache of one kind's objects, filled by an informer and read by anyone."""

    def __init__(self) -> None:
        self._items: dict[Key, _Entry] = {}
        self._index_names: list[str] = []
        self._index_fns: list[IndexFunc] = []
        self._indexes: list[dict[str, set[Key]]] = []
        self._waiters: dict[Key, list[tuple[_Check, asyncio.Future[None]]]] = {}
        self._deleted_while_waiting: set[Key] = set()
        self.resource_version = ""
        self.add_index("namespace", _index_namespace)
        self.add_index("owner_uid", _index_owner_uid)

    # -- reading -------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Obj | None:
        """Return a private copy of the object, or None."""
        entry = self._items.get((namespace or "", name))
        return None if entry is None else entry.decode()

    def list(
        self,
        namespace: str | None = None,
        label_selector: str | LabelSelector | None = None,
    ) -> builtins.list[Obj]:
        """Return private copies of the objects in ``namespace`` (all if None) that match.

        Objects come in key order (namespace, then name).
        """
        selector = (
            LabelSelector.parse(label_selector)
            if label_selector is None or isinstance(label_selector, str)
            else label_selector
        )
        if namespace is None:
            entries: Iterable[_Entry] = self._entries(self._items)
        else:
            entries = self._entries(self._indexes[0].get(namespace or "", ()))
        if selector.empty:
            return [e.decode() for e in entries]
        return [e.decode() for e in entries if selector.matches(e.labels)]

    def by_index(self, index_name: str, value: str) -> builtins.list[Obj]:
        """Return private copies of the objects filed under ``value`` in the named index."""
        try:
            index = self._indexes[self._index_names.index(index_name)]
        except ValueError:
            raise KeyError(f"no index named {index_name!r}") from None
        return [e.decode() for e in self._entries(index.get(value, ()))]

    def keys(self) -> builtins.list[Key]:
        """Return the keys of every cached object."""
        return builtins.list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def resource_version_of(self, namespace: str, name: str) -> str | None:
        """Return the cached object's resourceVersion without decoding it, or None."""
        entry = self._items.get((namespace or "", name))
        return None if entry is None else entry.rv

    def _entries(self, keys: Iterable[Key]) -> Iterator[_Entry]:
        items = self._items
        return (items[k] for k in sorted(keys))

    # -- indexes -------------------------------------------------------------------------------

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Add an index; existing objects are filed at once."""
        if name in self._index_names:
            raise ValueError(f"index {name!r} already exists")
        self._index_names.append(name)
        self._index_fns.append(fn)
        index: dict[str, set[Key]] = {}
        self._indexes.append(index)
        for key, entry in self._items.items():
            values = tuple(fn(entry.decode()))
            entry.index_values = (*entry.index_values, values)
            for value in values:
                index.setdefault(value, set()).add(key)

    @property
    def index_names(self) -> tuple[str, ...]:
        """The names of the indexes, built-in first."""
        return tuple(self._index_names)

    def _file(self, key: Key, entry: _Entry) -> None:
        for index, values in zip(self._indexes, entry.index_values, strict=True):
            for value in values:
                bucket = index.get(value)
                if bucket is None:
                    index[value] = {key}
                else:
                    bucket.add(key)

    def _unfile(self, key: Key, entry: _Entry) -> None:
        for index, values in zip(self._indexes, entry.index_values, strict=True):
            for value in values:
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]

    # -- writing (the informer) ----------------------------------------------------------------

    def _entry(self, obj: Obj) -> _Entry:
        meta = _meta(obj)
        labels = meta.get("labels")
        return _Entry(
            # orjson returns its growing buffer without shrinking it (about 5x the JSON for a
            # 3 KB object); an exact-size copy costs under a microsecond and keeps memory at 1x.
            memoryview(jsoncodec.dumps(obj)).tobytes(),
            str(meta.get("resourceVersion") or ""),
            dict(labels) if labels else _NO_LABELS,
            tuple(tuple(fn(obj)) for fn in self._index_fns),
        )

    def put(self, obj: Obj) -> bytes | None:
        """Add or overwrite the object; return the previous version's bytes (None if new)."""
        key = key_of(obj)
        entry = self._entry(obj)
        old = self._items.get(key)
        if old is None:
            self._file(key, entry)
        elif old.index_values != entry.index_values:
            self._unfile(key, old)
            self._file(key, entry)
        self._items[key] = entry
        if entry.rv:
            self.resource_version = entry.rv
        self._notify(key, entry)
        return None if old is None else old.raw

    def remove(self, obj: Obj) -> bytes | None:
        """Remove the object; return the removed version's bytes (None if it was not cached)."""
        key = key_of(obj)
        old = self._items.pop(key, None)
        if old is not None:
            self._unfile(key, old)
        rv = str(_meta(obj).get("resourceVersion") or "")
        if rv:
            self.resource_version = rv
        if key in self._waiters:
            self._deleted_while_waiting.add(key)
        self._notify(key, None)
        return None if old is None else old.raw

    def set_resource_version(self, resource_version: str) -> None:
        """Record the version the informer reached (a bookmark); wakes waiters that it settles."""
        self.resource_version = resource_version
        self._notify_all()

    def replace(self, items: Iterable[Obj], resource_version: str) -> ReplaceDiff:
        """Swap the whole content for ``items`` at once (a relist) and return what changed.

        An object counts as updated when its resourceVersion differs from the cached one.
        """
        new_entries = {key_of(obj): (obj, self._entry(obj)) for obj in items}
        diff = ReplaceDiff()
        for key, old in self._items.items():
            if key not in new_entries:
                diff.deleted.append(old.decode())
                if key in self._waiters:
                    self._deleted_while_waiting.add(key)
        for key, (obj, entry) in new_entries.items():
            previous = self._items.get(key)
            if previous is None:
                diff.added.append(obj)
            elif previous.rv != entry.rv:
                diff.updated.append((previous.decode(), obj))
        self._items = {}
        for index in self._indexes:
            index.clear()
        for key, (_, entry) in new_entries.items():
            self._items[key] = entry
            self._file(key, entry)
        self.resource_version = resource_version
        self._notify_all()
        return diff

    # -- waiting for a change ------------------------------------------------------------------

    def _notify(self, key: Key, entry: _Entry | None) -> None:
        waiters = self._waiters.get(key)
        if not waiters:
            return
        deleted = key in self._deleted_while_waiting
        for check, fut in waiters:
            if not fut.done() and check(entry, deleted):
                fut.set_result(None)

    def _notify_all(self) -> None:
        for key in builtins.list(self._waiters):
            self._notify(key, self._items.get(key))

    async def _wait(self, key: Key, check: _Check, *, timeout_s: float, clock: Clock) -> bool:
        if check(self._items.get(key), False):
            return True
        if timeout_s <= 0:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(key, [])
        waiters.append((check, fut))
        try:
            async with timeout(clock, timeout_s):
                await fut
            return True
        except TimeoutError:
            return False
        finally:
            waiters.remove((check, fut))
            if not waiters:
                del self._waiters[key]
                self._deleted_while_waiting.discard(key)

    async def wait_for(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[Obj | None], bool],
        *,
        timeout: float,
        clock: Clock,
    ) -> bool:
        """Wait until ``predicate`` holds for the cached object (None when absent).

        Checked now and on every change of that key; False if ``timeout`` (Clock seconds) passes.
        """

        def check(entry: _Entry | None, _deleted: bool) -> bool:
            return predicate(None if entry is None else entry.decode())

        return await self._wait((namespace or "", name), check, timeout_s=timeout, clock=clock)

    async def wait_for_version(
        self, namespace: str, name: str, resource_version: str, *, timeout: float, clock: Clock
    ) -> bool:
        """Wait until the cache shows ``resource_version`` of the object, or a later state.

        True once the cached object has that version or a newer one, or once the object is gone
        and the cache has reached a version at or after ``resource_version`` (it was deleted
        after the write). With versions that are not integers: once the cached object has
        exactly that version, or a delete of it was seen while waiting.
        """

        def check(entry: _Entry | None, deleted: bool) -> bool:
            if entry is not None:
                order = compare_versions(entry.rv, resource_version)
                return order is not None and order >= 0
            order = compare_versions(self.resource_version, resource_version)
            return deleted if order is None else order >= 0

        return await self._wait((namespace or "", name), check, timeout_s=timeout, clock=clock)
