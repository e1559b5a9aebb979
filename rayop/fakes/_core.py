"""The fake API server's synchronous core: objects, versions, writes and their rules.

Everything here runs without awaiting, so each request is atomic; :class:`FakeCluster` wraps it
with faults, latency, copies and the async protocol. Garbage collection lives in ``_gc.py``.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from rayop.fakes import _gc as _gc
from rayop.fakes import _rules
from rayop.fakes._state import (
    Change,
    ChangeType,
    Entry,
    History,
    KindInfo,
    KindKey,
    ObjKey,
    already_exists,
    conflict,
    invalid,
    kind_key,
    not_found,
    unknown_kind,
)
from rayop.runtime.client import NAMESPACE, Kind, Obj, PatchType, Preconditions, PropagationPolicy
from rayop.runtime.clock import Clock, format_time
from rayop.runtime.errors import (
    BadRequest,
    Cause,
    Conflict,
    Forbidden,
    Invalid,
    ServerError,
    UnsupportedMediaType,
)
from rayop.runtime.patch import MalformedPatch, PatchFailed, json_patch, merge_patch

_NS_KEY = kind_key(NAMESPACE)
_PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


class Core:
    """Objects by kind and key, one resourceVersion counter, the change history, the indexes."""

    def __init__(self, *, clock: Clock, rng: random.Random, history: int) -> None:
        self.clock = clock
        self.rng = rng
        self.rv = 0
        self.kinds: dict[KindKey, KindInfo] = {}
        self.buckets: dict[KindKey, dict[ObjKey, Entry]] = {}
        self.history = History(history)
        self.by_uid: dict[str, tuple[KindKey, ObjKey]] = {}
        self.dependents: dict[str, set[tuple[KindKey, ObjKey]]] = {}
        self.ns_objects: Counter[str] = Counter()
        self.listeners: list[Callable[[Change], None]] = []

    # -- kinds and reads ---------------------------------------------------------------------

    def register(self, info: KindInfo) -> None:
        """Serve a kind (replacing any earlier registration of the same group and plural)."""
        key = kind_key(info.kind)
        self.kinds[key] = info
        self.buckets.setdefault(key, {})

    def info(self, kind: Kind) -> KindInfo:
        """Return the registration of ``kind``; ``NotFound`` for a resource the server lacks."""
        info = self.kinds.get(kind_key(kind))
        if info is None or info.kind.version != kind.version:
            raise unknown_kind(kind, builtin_group=self.builtin_group(kind.group))
        return info

    def builtin_group(self, group: str) -> bool:
        """Whether ``group`` is core or the group of a built-in kind (not a CRD's group)."""
        return not group or any(i.builtin and i.kind.group == group for i in self.kinds.values())

    def object_key(self, kind: Kind, name: str, namespace: str | None) -> ObjKey:
        """Return the key of a named object, checking the namespace rule."""
        if not kind.namespaced:
            return ("", name)
        if not namespace:
            raise BadRequest(f"{kind} is namespaced: a namespace is required", name=name)
        return (namespace, name)

    def lookup(self, kind: Kind, name: str, namespace: str | None) -> Entry:
        """Return the stored entry; ``NotFound`` if there is none."""
        self.info(kind)
        entry = self.buckets[kind_key(kind)].get(self.object_key(kind, name, namespace))
        if entry is None:
            raise not_found(kind, name)
        return entry

    # -- create --------------------------------------------------------------------------------

    def create(self, kind: Kind, body: Obj, namespace: str | None) -> Entry:
        """Store a new object with server fields set; the body is the caller's private copy."""
        info = self.info(kind)
        body = _rules.body_of(body, kind, builtin=info.builtin)
        meta = body["metadata"]
        ns = _rules.namespace_of(kind, meta, namespace)
        if meta.get("resourceVersion"):
            # Yes, a 500: the storage layer refuses it after admission, as an internal error.
            raise ServerError("resourceVersion should not be set on objects to be created")
        name = self._name_for(kind, meta)
        if ns:
            self._check_namespace(kind, ns, name)
        elif ("", name) in self.buckets[kind_key(kind)]:  # cluster-scoped: same rule
            raise already_exists(kind, name)
        causes = _rules.name_causes(kind, name)
        if not meta.get("name") and meta.get("generateName"):
            causes = _rules.generate_name_causes(kind, str(meta["generateName"])) + causes
        causes += _rules.metadata_causes(meta) + _rules.owner_ref_causes(meta)
        causes += _rules.builtin_causes(kind, body, None)
        meta.update(name=name, uid=self._uid(), creationTimestamp=format_time(self.clock.now()))
        meta.pop("generation", None)
        if info.generation:
            meta["generation"] = 1
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(key, None)
        if info.status_subresource:
            body.pop("status", None)
        if kind_key(kind) == _NS_KEY:
            body["spec"] = {"finalizers": ["kubernetes"]}
            body["status"] = {"phase": "Active"}
        self._validate(info, name, body, causes)
        entry = self.commit(kind_key(kind), (ns, name), "ADDED", body, None)
        self.after_write(kind_key(kind), entry.meta, None)
        return entry

    def _name_for(self, kind: Kind, meta: dict[str, Any]) -> str:
        if meta.get("name"):
            return str(meta["name"])
        prefix = meta.get("generateName")
        if not prefix:
            raise invalid(kind, "", [Cause("metadata.name", "Required value: name or "
                                           "generateName is required", "FieldValueRequired")])
        bucket = self.buckets[kind_key(kind)]
        ns = meta.get("namespace", "")
        for _ in range(8):
            suffix = "".join(self.rng.choice(_rules.GENERATE_ALPHABET) for _ in range(5))
            if (ns, f"{prefix}{suffix}") not in bucket:
                return f"{prefix}{suffix}"
        raise already_exists(kind, f"{prefix}{suffix}")

    def _uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _check_namespace(self, kind: Kind, ns: str, name: str) -> None:
        ns_entry = self.buckets[_NS_KEY].get(("", ns))
        if ns_entry is None:
            raise not_found(NAMESPACE, ns)
        if ns_entry.meta.get("deletionTimestamp"):
            raise Forbidden(
                f'{kind.resource} "{name}" is forbidden: unable to create new content in '
                f"namespace {ns} because it is being terminated",
                kind=kind.plural, group=kind.group, name=name,
            )
        if (ns, name) in self.buckets[kind_key(kind)]:
            raise already_exists(kind, name)

    def _validate(self, info: KindInfo, name: str, obj: Obj, causes: list[Cause]) -> None:
        if info.validator is not None:
            causes = causes + list(info.validator(obj))
        if causes:
            raise invalid(info.kind, name, causes)

    # -- update, patch -------------------------------------------------------------------------

    def update(self, kind: Kind, body: Obj, namespace: str | None, *, status: bool) -> Entry:
        """Replace an object (or its status); a given resourceVersion must be the current one."""
        self.info(kind)
        body = _rules.body_of(body, kind)
        meta = body["metadata"]
        ns = _rules.namespace_of(kind, meta, namespace)
        if not meta.get("name"):
            required = Cause("metadata.name", "Required value", "FieldValueRequired")
            raise invalid(kind, "", [required])
        entry = self.lookup(kind, str(meta["name"]), ns or None)
        uid = meta.get("uid")
        if uid and uid != entry.meta["uid"]:
            raise _uid_precondition_failed(kind, entry, str(uid), self.info(kind).builtin)
        given = meta.get("resourceVersion")
        if not given and not self.info(kind).unconditional_update:
            cause = Cause("metadata.resourceVersion",
                          "Invalid value: 0: must be specified for an update")
            raise invalid(kind, entry.meta["name"], [cause], by_resource=True)
        if given and str(given) != entry.meta["resourceVersion"]:
            raise conflict(kind, entry.meta["name"])
        return self._write(kind, entry, body, status=status)

    def patch(
        self, kind: Kind, name: str, namespace: str | None, patch: Any, patch_type: PatchType,
        *, status: bool,
    ) -> Entry:
        """Apply a merge or JSON patch to the stored object (or its status) and store it."""
        entry = self.lookup(kind, name, namespace)
        result = _apply_patch(entry.obj, patch, patch_type, kind, self.info(kind).builtin)
        meta = result.get("metadata")
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be a JSON object")
        if meta.get("name") != name:
            raise BadRequest(f"the name of the object ({meta.get('name')}) does not match the "
                             f"name on the URL ({name})")
        if meta.get("namespace", "") != entry.meta.get("namespace", ""):
            raise BadRequest("the namespace of the provided object does not match the namespace "
                             "sent on the request")
        given = meta.get("resourceVersion")
        if given and str(given) != entry.meta["resourceVersion"]:
            raise conflict(kind, name)
        body = _rules.body_of(dict(result), kind, builtin=self.info(kind).builtin)
        return self._write(kind, entry, body, status=status)

    def _write(self, kind: Kind, entry: Entry, body: Obj, *, status: bool) -> Entry:
        info = self.info(kind)
        name = entry.meta["name"]
        causes = [] if status else _rules.immutable_causes(entry.meta, body["metadata"])
        old = entry.obj
        new = _rules.updated(old, body, status=status, status_subresource=info.status_subresource,
                             generation=info.generation)
        causes += _rules.finalizer_causes(entry.meta, new["metadata"])
        causes += _rules.metadata_causes(new["metadata"]) + _rules.owner_ref_causes(new["metadata"])
        if not status:
            causes += _rules.builtin_causes(kind, new, old)
        self._validate(info, name, new, causes)
        if _rules.same_content(old, new):
            return entry
        kk, key = kind_key(kind), (entry.meta.get("namespace", ""), name)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self.remove(kk, key, final=new)
        written = self.commit(kk, key, "MODIFIED", new, entry)
        self.after_write(kk, written.meta, entry.meta)
        return written

    # -- delete --------------------------------------------------------------------------------

    def delete(
        self, kind: Kind, name: str, namespace: str | None, *,
        policy: PropagationPolicy | None, preconditions: Preconditions | None,
    ) -> Entry | None:
        """Delete (or start deleting) an object; return it while something holds it."""
        entry = self.lookup(kind, name, namespace)
        if preconditions is not None:
            _check_preconditions(kind, entry, preconditions)
        kk, key = kind_key(kind), (entry.meta.get("namespace", ""), name)
        if kk == _NS_KEY:
            return self._delete_namespace(name)
        return _gc.delete(self, kk, key, policy or PropagationPolicy.BACKGROUND)

    def _delete_namespace(self, name: str) -> Entry | None:
        if name in _PROTECTED_NAMESPACES:
            raise Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                            kind="namespaces", name=name)
        entry = self.buckets[_NS_KEY][("", name)]
        if not entry.meta.get("deletionTimestamp"):
            obj = _gc.marked_deleting(entry, self.clock)
            obj["status"] = {"phase": "Terminating"}
            self.commit(_NS_KEY, ("", name), "MODIFIED", obj, entry)
            for kk in sorted(self.buckets):
                for key in sorted(k for k in self.buckets[kk] if k[0] == name):
                    if key in self.buckets[kk]:
                        _gc.delete(self, kk, key, PropagationPolicy.BACKGROUND)
        self.finish_namespace(name)
        return self.buckets[_NS_KEY].get(("", name))

    def finish_namespace(self, name: str) -> None:
        """Remove a terminating namespace once nothing is left in it."""
        entry = self.buckets[_NS_KEY].get(("", name))
        if entry and entry.meta.get("deletionTimestamp") and not self.ns_objects[name]:
            self.remove(_NS_KEY, ("", name))

    # -- committing ----------------------------------------------------------------------------

    def commit(
        self, kk: KindKey, key: ObjKey, type: ChangeType, obj: Obj, old: Entry | None
    ) -> Entry:
        """Version and store one write, index it, record it, and tell the listeners."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        entry = Entry.of(obj)
        bucket = self.buckets[kk]
        if type == "DELETED":
            del bucket[key]
        else:
            bucket[key] = entry
        self._index(kk, key, old, None if type == "DELETED" else entry)
        change = Change(self.rv, kk, key, type, entry, old)
        self.history.append(change)
        for listener in self.listeners:
            listener(change)
        return entry

    def remove(self, kk: KindKey, key: ObjKey, *, final: Obj | None = None) -> Entry:
        """Delete an object for good (DELETED), then let the collector react."""
        old = self.buckets[kk][key]
        obj = final if final is not None else {**old.obj, "metadata": dict(old.meta)}
        entry = self.commit(kk, key, "DELETED", obj, old)
        _gc.after_removal(self, entry)
        if key[0]:
            self.finish_namespace(key[0])
        return entry

    def after_write(self, kk: KindKey, meta: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Let the collector react to changed owner references."""
        _gc.after_write(self, kk, (meta.get("namespace", ""), meta["name"]), meta, old)

    def _index(self, kk: KindKey, key: ObjKey, old: Entry | None, new: Entry | None) -> None:
        old_owners = _gc.owner_uids(old.meta) if old else set()
        new_owners = _gc.owner_uids(new.meta) if new else set()
        for uid in old_owners - new_owners:
            deps = self.dependents.get(uid)
            if deps is not None:
                deps.discard((kk, key))
                if not deps:
                    del self.dependents[uid]
        for uid in new_owners - old_owners:
            self.dependents.setdefault(uid, set()).add((kk, key))
        if new is None and old is not None:
            self.by_uid.pop(old.meta["uid"], None)
            if key[0]:
                self.ns_objects[key[0]] -= 1
        elif new is not None and old is None:
            self.by_uid[new.meta["uid"]] = (kk, key)
            if key[0]:
                self.ns_objects[key[0]] += 1

    def entries(self, kk: KindKey) -> Iterator[tuple[ObjKey, Entry]]:
        """Yield the current objects of a kind, unordered."""
        yield from self.buckets[kk].items()


def _apply_patch(obj: Obj, patch: Any, patch_type: PatchType, kind: Kind, builtin: bool) -> Obj:
    if patch_type == PatchType.STRATEGIC and not builtin:
        raise UnsupportedMediaType(  # what the real server says: no strategic patch for a CR
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml"
        )
    if patch_type == PatchType.STRATEGIC:
        raise UnsupportedMediaType(
            f"the fake cluster does not implement strategic merge patch (for {kind}); "
            "accepted media types include: application/json-patch+json, "
            "application/merge-patch+json"
        )
    try:
        if patch_type == PatchType.JSON:
            result = json_patch(obj, patch)
        else:
            if not isinstance(patch, dict):
                raise MalformedPatch("a merge patch for an object must be a JSON object")
            result = merge_patch(obj, patch)
    except MalformedPatch as exc:
        raise BadRequest(str(exc)) from None
    except PatchFailed as exc:
        raise Invalid(str(exc)) from None
    if not isinstance(result, dict):
        raise BadRequest("the patched document is not a JSON object")
    return result


def _check_preconditions(kind: Kind, entry: Entry, pre: Preconditions) -> None:
    name = entry.meta["name"]
    if pre.uid is not None and pre.uid != entry.meta["uid"]:
        raise conflict(kind, name, f"Precondition failed: UID in precondition: {pre.uid}, "
                                   f"UID in object meta: {entry.meta['uid']}")
    rv = entry.meta["resourceVersion"]
    if pre.resource_version is not None and pre.resource_version != rv:
        raise conflict(kind, name, "Precondition failed: ResourceVersion in precondition: "
                                   f"{pre.resource_version}, ResourceVersion in object meta: {rv}")



def _uid_precondition_failed(kind: Kind, entry: Entry, given: str, builtin: bool) -> Conflict:
    """An update whose body names another uid: the storage layer's precondition fails (409)."""
    ns, name = entry.meta.get("namespace", ""), entry.meta["name"]
    prefix = kind.plural if builtin else f"{kind.group}/{kind.plural}"  # the etcd key's
    key = "/".join(p for p in ("/registry", prefix, ns, name) if p)
    return conflict(kind, name, f"StorageError: invalid object, Code: 4, Key: {key}, "
                                f"ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: "
                                f"UID in precondition: {given}, UID in object meta: "
                                f"{entry.meta['uid']}")
