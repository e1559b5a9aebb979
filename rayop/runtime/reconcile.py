"""The reconcile contract: :class:`Request` in, :class:`Result` out.

A reconciler is level-based: it is told only *which* object to look at, never *what* changed. It
reads the object and everything around it (from the informer cache), compares with what should
be, acts through the :class:`~rayop.runtime.client.ClusterClient`, and returns. Whatever happened
since
the last call — one event or fifty, a restart, a missed watch — the same call makes it right.

Example::

    class ConfigMapCopier:
        '''Keep a copy of every ConfigMap labelled copy=yes in the namespace "mirror".'''

        def __init__(self, client: ClusterClient, cache: Store) -> None:
            self.client, self.cache = client, cache

        async def reconcile(self, request: Request) -> Result:
            source = self.cache.get(request.namespace, request.name)
            if source is None:
                return Result()                     # deleted: owner references clean up
            await ensure_copy(self.client, source)  # create or replace, idempotently
            return Result()

Return ``Result(requeue_after=s)`` to be called again after ``s`` seconds (to poll something
that sends no events); raise :class:`~rayop.runtime.errors.TerminalError` for a failure that
retrying
cannot fix; raise anything else to be retried with per-key exponential backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["Reconciler", "Request", "Result"]


class Request(NamedTuple):
    """The object to reconcile, by namespace and name (namespace ``""`` for cluster-scoped).

    A tuple, so hashing and comparing it — which the work queue does several times per key —
    run in C.
    """

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next: nothing (the default), or another call after a delay."""

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError("requeue_after must be >= 0")


@runtime_checkable
class Reconciler(Protocol):
    """Anything with ``async def reconcile(request) -> Result``."""

    async def reconcile(self, request: Request) -> Result:
        """Make the cluster match the object named by ``request``; see the module docstring."""
        ...
