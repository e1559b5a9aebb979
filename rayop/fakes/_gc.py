"""Deletion and the garbage collector of the fake cluster, run synchronously inside each request.

Kubernetes' collector is a controller that acts shortly after a write; here the same decisions
are taken before the request returns, in a fixed order (dependents sorted by kind, namespace,
name), so a test sees the end state at once and every run is the same. The rules:

- an object whose owners are all gone (or never existed) is deleted, in the background;
- an object with an owner left loses its references to the owners that are gone;
- Foreground: the owner gets ``deletionTimestamp`` and the ``foregroundDeletion`` finalizer, its
  dependents are deleted, and the finalizer goes (and with it the owner) once no dependent with
  ``blockOwnerDeletion: true`` is left;
- Orphan: the dependents lose their references to the owner first, then the owner is deleted
  (the real server does this through an ``orphan`` finalizer; the end state is the same).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayop.fakes._state import Entry, KindKey, ObjKey
from rayop.runtime.client import PropagationPolicy
from rayop.runtime.clock import Clock, format_time

if TYPE_CHECKING:
    from rayop.fakes._core import Core

FOREGROUND = "foregroundDeletion"


def owner_uids(meta: dict[str, Any]) -> set[str]:
    """Return the uids ``meta`` names as owners."""
    return {str(r.get("uid")) for r in meta.get("ownerReferences") or [] if isinstance(r, dict)}


def marked_deleting(entry: Entry, clock: Clock) -> dict[str, Any]:
    """Return a new object: ``entry`` with deletionTimestamp set and its generation bumped."""
    meta = dict(entry.meta)
    meta["deletionTimestamp"] = format_time(clock.now())
    meta["deletionGracePeriodSeconds"] = 0
    if meta.get("generation"):
        meta["generation"] = int(meta["generation"]) + 1
    return {**entry.obj, "metadata": meta}


def delete(core: Core, kk: KindKey, key: ObjKey, policy: PropagationPolicy) -> Entry | None:
    """Delete or start deleting one object; return it while finalizers hold it."""
    entry = core.buckets[kk][key]
    uid = str(entry.meta["uid"])
    if entry.meta.get("deletionTimestamp"):
        return _delete_again(core, kk, key, uid, policy)
    if policy == PropagationPolicy.ORPHAN:
        _orphan(core, uid)
        entry = core.buckets[kk][key]
    finalizers = list(entry.meta.get("finalizers") or [])
    if policy == PropagationPolicy.FOREGROUND and FOREGROUND not in finalizers:
        finalizers.append(FOREGROUND)
    if not finalizers:
        core.remove(kk, key)
        return None
    obj = marked_deleting(entry, core.clock)
    obj["metadata"]["finalizers"] = finalizers
    core.commit(kk, key, "MODIFIED", obj, entry)
    if policy == PropagationPolicy.FOREGROUND:
        _collect_foreground(core, uid)
    return core.buckets[kk].get(key)


def _delete_again(
    core: Core, kk: KindKey, key: ObjKey, uid: str, policy: PropagationPolicy
) -> Entry | None:
    """Delete an object already being deleted: Foreground or Orphan still take effect.

    The real server adds the ``foregroundDeletion`` (or ``orphan``) finalizer and its collector
    acts on it; here, as always, the collector's work is done at once.
    """
    if policy == PropagationPolicy.ORPHAN:
        _orphan(core, uid)
    elif policy == PropagationPolicy.FOREGROUND:
        entry = core.buckets[kk][key]
        finalizers = list(entry.meta.get("finalizers") or [])
        if FOREGROUND not in finalizers:
            meta = {**entry.meta, "finalizers": [*finalizers, FOREGROUND]}
            core.commit(kk, key, "MODIFIED", {**entry.obj, "metadata": meta}, entry)
        _collect_foreground(core, uid)
    return core.buckets[kk].get(key)


def _collect_foreground(core: Core, uid: str) -> None:
    """Collect every dependent of a Foreground-deleted owner, then release it if none blocks."""
    for dependent in sorted(core.dependents.get(uid, ())):
        _collect(core, *dependent)
    _finish_foreground(core, uid)


def after_removal(core: Core, entry: Entry) -> None:
    """React to an object gone for good: collect its dependents, release waiting owners."""
    for dependent in sorted(core.dependents.get(str(entry.meta["uid"]), ())):
        _collect(core, *dependent)
    for uid in sorted(owner_uids(entry.meta)):
        _finish_foreground(core, uid)


def after_write(
    core: Core, kk: KindKey, key: ObjKey, meta: dict[str, Any], old: dict[str, Any] | None
) -> None:
    """React to a write: dangling owners mean collection; a dropped owner may be released."""
    new_owners = owner_uids(meta)
    for uid in sorted(owner_uids(old or {}) - new_owners):
        _finish_foreground(core, uid)
    if new_owners:
        _collect(core, kk, key)


def _owner_state(core: Core, ref: dict[str, Any], namespace: str) -> str:
    """Return "absent", "waiting" (deleting in the foreground) or "solid" for one reference."""
    where = core.by_uid.get(str(ref.get("uid")))
    if where is None:
        return "absent"
    kk, (owner_ns, owner_name) = where
    if owner_name != ref.get("name") or (owner_ns and owner_ns != namespace):
        return "absent"
    owner = core.buckets[kk][(owner_ns, owner_name)]
    if owner.meta.get("deletionTimestamp") and FOREGROUND in (owner.meta.get("finalizers") or []):
        return "waiting"
    return "solid"


def _collect(core: Core, kk: KindKey, key: ObjKey) -> None:
    """Decide about one object whose owners may have changed."""
    entry = core.buckets[kk].get(key)
    if entry is None:
        return
    refs = [r for r in entry.meta.get("ownerReferences") or [] if isinstance(r, dict)]
    states = [_owner_state(core, r, key[0]) for r in refs]
    if "solid" in states:
        keep = [r for r, s in zip(refs, states, strict=True) if s == "solid"]
        if len(keep) != len(refs):
            meta = dict(entry.meta)
            meta["ownerReferences"] = keep
            core.commit(kk, key, "MODIFIED", {**entry.obj, "metadata": meta}, entry)
            core.after_write(kk, meta, entry.meta)
        return
    if entry.meta.get("deletionTimestamp"):
        return
    waiting = "waiting" in states and str(entry.meta["uid"]) in core.dependents
    delete(core, kk, key, PropagationPolicy.FOREGROUND if waiting else PropagationPolicy.BACKGROUND)


def _finish_foreground(core: Core, uid: str) -> None:
    """Drop ``foregroundDeletion`` from a waiting owner once no blocking dependent is left."""
    where = core.by_uid.get(uid)
    if where is None:
        return
    kk, key = where
    entry = core.buckets[kk][key]
    finalizers = list(entry.meta.get("finalizers") or [])
    if not entry.meta.get("deletionTimestamp") or FOREGROUND not in finalizers:
        return
    for dep_kk, dep_key in core.dependents.get(uid, ()):
        dep = core.buckets[dep_kk][dep_key]
        for ref in dep.meta.get("ownerReferences") or []:
            if ref.get("uid") == uid and ref.get("blockOwnerDeletion"):
                return
    finalizers.remove(FOREGROUND)
    meta = {**entry.meta, "finalizers": finalizers}
    if not finalizers:
        core.remove(kk, key, final={**entry.obj, "metadata": meta})
    else:
        core.commit(kk, key, "MODIFIED", {**entry.obj, "metadata": meta}, entry)


def _orphan(core: Core, uid: str) -> None:
    """Remove every reference to owner ``uid`` from its dependents."""
    for kk, key in sorted(core.dependents.get(uid, ())):
        entry = core.buckets[kk][key]
        meta = dict(entry.meta)
        meta["ownerReferences"] = [
            r for r in entry.meta.get("ownerReferences") or [] if r.get("uid") != uid
        ]
        if not meta["ownerReferences"]:
            del meta["ownerReferences"]
        core.commit(kk, key, "MODIFIED", {**entry.obj, "metadata": meta}, entry)
