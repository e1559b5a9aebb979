"""Writing status the one way: typed status in, the smallest merge patch out, never on a stale read.

:class:`StatusWriter` is how a reconciler ends: it is given the object as read and the status it
should have (a typed :class:`~rayop.runtime.models.WireModel` or a mapping), and

- writes nothing when nothing changed (fields named ``volatile``, bookkeeping timestamps, are not
  compared);
- otherwise sends the JSON merge patch (RFC 7386) from the old status to the new one — fields gone
  from the new status become ``null`` — to the ``status`` subresource, with the resourceVersion
  read as a precondition, so a decision made on a stale cache fails with
  :class:`~rayop.runtime.errors.Conflict` (the controller retries on fresh data) instead of
  overwriting a newer status.

:meth:`StatusWriter.reject` is the invalid-spec path every controller shares: the status says
``reason: ValidationFailed`` with every problem, a Warning ``InvalidSpec`` event names them, and
:func:`spec_rejected` tells the next reconcile to wait for the spec to change instead of
retrying.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from rayop.runtime.client import ClusterClient, Kind, Obj, PatchType
from rayop.runtime.clock import Clock, format_time
from rayop.runtime.events import EventRecorder
from rayop.runtime.models import to_wire

__all__ = [
    "INVALID_SPEC_REASON",
    "StatusWriter",
    "merge_patch_between",
    "spec_rejected",
]

INVALID_SPEC_REASON = "ValidationFailed"
"""``status.reason`` of an object whose spec cannot be used (KubeRay's word)."""


def merge_patch_between(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Obj:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``.

    The inverse of :func:`rayop.runtime.patch.merge_patch`, which applies such a patch:
    ``merge_patch(old, merge_patch_between(old, new)) == new`` for None-free ``new``.

    Keys gone from ``new`` (or set to None) become null; maps are patched key by key, so an
    application that disappeared from a status map is removed, not left behind.
    """
    old = old or {}
    patch: Obj = {}
    for key in old:
        if new.get(key) is None and old[key] is not None:
            patch[key] = None
    for key, value in new.items():
        if value is None:
            continue
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = merge_patch_between(before, value)
            if sub:
                patch[key] = sub
        elif before != value:
            patch[key] = value
    return patch


def spec_rejected(obj: Obj) -> bool:
    """True when the status already rejects this generation's spec: wait for it to change."""
    status = obj.get("status") or {}
    return (status.get("reason") == INVALID_SPEC_REASON
            and status.get("observedGeneration") == obj["metadata"].get("generation"))


class StatusWriter:
    """Writes one kind's status subresource; see the module docstring.

    ``stamp``: a field set to the clock's time on every write (``lastUpdateTime``), never
    compared; ``volatile``: more fields never compared.
    """

    def __init__(self, client: ClusterClient, kind: Kind, *, events: EventRecorder,
                 clock: Clock, stamp: str | None = None, volatile: Collection[str] = ()) -> None:
        self.client = client
        self.kind = kind
        self.events = events
        self.clock = clock
        self.stamp = stamp
        self._ignored = frozenset(volatile) | ({stamp} if stamp else set())

    def changed(self, obj: Obj, status: BaseModel | Mapping[str, Any]) -> bool:
        """True when writing ``status`` would change what ``obj`` shows."""
        return self._compared(obj.get("status")) != self._compared(_wire(status))

    async def write(self, obj: Obj, status: BaseModel | Mapping[str, Any]) -> bool:
        """Make ``obj``'s status ``status``; True when a write was sent (False: unchanged).

        Raises :class:`~rayop.runtime.errors.Conflict` when the object changed since it was read
        and :class:`~rayop.runtime.errors.NotFound` when it is gone.
        """
        new = {k: v for k, v in _wire(status).items() if v is not None}
        old = obj.get("status") or {}
        if self._compared(old) == self._compared(new):
            return False
        if self.stamp:
            new[self.stamp] = format_time(self.clock.now())
        meta = obj["metadata"]
        patch: Obj = {"metadata": {"resourceVersion": meta["resourceVersion"]},
                      "status": merge_patch_between(old, new)}
        await self.client.patch_status(self.kind, meta["name"], patch,
                                       namespace=meta.get("namespace"),
                                       patch_type=PatchType.MERGE)
        return True

    async def reject(self, obj: Obj, problems: Sequence[str],
                     status: Mapping[str, Any] | None = None) -> bool:
        """Say that ``obj``'s spec cannot be used: status and a Warning event naming every problem.

        ``status``: the kind's own fields for the failure (a state or phase), merged over the
        current status with ``reason: ValidationFailed``, the problems as ``message`` and the
        generation as ``observedGeneration``. The event goes out only when the status changed, so
        a repeated reconcile does not repeat it. True when written.
        """
        message = self.events.scrub(obj, "; ".join(problems))
        new = {**(obj.get("status") or {}), **(status or {}), "reason": INVALID_SPEC_REASON,
               "message": message, "observedGeneration": obj["metadata"].get("generation")}
        if not await self.write(obj, new):
            return False
        self.events.warning(obj, "InvalidSpec", message)
        return True

    def _compared(self, status: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (status or {}).items()
                if v is not None and k not in self._ignored}


def _wire(status: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    return to_wire(status) if isinstance(status, BaseModel) else dict(status)
