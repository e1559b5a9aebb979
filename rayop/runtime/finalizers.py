"""Finalizers the kube-rs way: ``apply`` while the object lives, ``cleanup`` once before it goes.

::

    finalizer = Finalizer(client, RAYJOB, "ray.io/rayjob-finalizer")

    async def reconcile(self, request):
        job = self.cache.get(RAYJOB, request.name, namespace=request.namespace)
        if job is None:
            return Result()
        return await finalizer.run(job, apply=self.apply, cleanup=self.cleanup)

:meth:`Finalizer.run` decides which to call, as kube-rs' ``finalizer()`` does:

- the object is being deleted and carries the finalizer → ``cleanup``; when it returns ``None``
  (done), the finalizer is removed and the API server finishes the delete; a :class:`Result`
  means "not done yet, look again" and the finalizer stays;
- being deleted without the finalizer → nothing (someone else's finalizer holds it);
- alive without the finalizer → the finalizer is added and nothing else: the update wakes the
  controller again, on an object that now carries it, so a crash in between never leaves work
  without its cleanup;
- alive with it → ``apply``.

Adding and removing are replaces carrying the resourceVersion read: an object changed since
fails with :class:`~rayop.runtime.errors.Conflict` and the controller retries on fresh data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rayop.runtime.client import ClusterClient, Kind, Obj
from rayop.runtime.reconcile import Result

__all__ = ["Finalizer"]


class Finalizer:
    """One finalizer on one kind; see the module docstring."""

    def __init__(self, client: ClusterClient, kind: Kind, name: str) -> None:
        self.client = client
        self.kind = kind
        self.name = name

    def present(self, obj: Obj) -> bool:
        """True when ``obj`` carries this finalizer."""
        return self.name in (obj["metadata"].get("finalizers") or [])

    async def run(self, obj: Obj, *, apply: Callable[[Obj], Awaitable[Result]],
                  cleanup: Callable[[Obj], Awaitable[Result | None]]) -> Result:
        """Call ``apply`` or ``cleanup`` for ``obj``; add or remove the finalizer around them."""
        if obj["metadata"].get("deletionTimestamp"):
            if not self.present(obj):
                return Result()
            pending = await cleanup(obj)
            if pending is not None:
                return pending
            await self._set(obj, present=False)
            return Result()
        if not self.present(obj):
            await self._set(obj, present=True)
            return Result()
        return await apply(obj)

    async def _set(self, obj: Obj, *, present: bool) -> None:
        meta = obj["metadata"]
        rest = [f for f in meta.get("finalizers") or [] if f != self.name]
        body = {**obj, "metadata": {**meta, "finalizers": [*rest, self.name] if present else rest}}
        await self.client.replace(self.kind, body, namespace=meta.get("namespace"))
