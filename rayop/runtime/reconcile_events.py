"""A Warning Event on the object whenever its reconcile fails, for every controller alike.

Reconcilers record an Event for each action they take and for the failures they understand
(an invalid spec, a failed Ray job). Everything else that makes a reconcile raise — the API
server refusing a write, a timeout, a bug — would only reach the operator's log, where the
object's owner cannot see it. :class:`FailureEvents` wraps a reconciler: when a reconcile raises,
the object (read from the cache) gets a ``Warning`` Event ``ReconcileError`` naming the error,
and the error goes on to the controller, which retries with backoff as before. The same error
again bumps that Event's count instead of writing a new one (the recorder aggregates).

Not reported: :class:`~rayop.runtime.errors.Conflict` (an optimistic-concurrency race, retried at
once
and normal under load), :class:`~rayop.runtime.errors.TerminalError` (the reconciler reported it)
and
cancellation.
"""

from __future__ import annotations

from rayop.runtime.cache import Cache
from rayop.runtime.client import Kind
from rayop.runtime.errors import ApiError, Conflict, TerminalError
from rayop.runtime.events import EventRecorder
from rayop.runtime.reconcile import Reconciler, Request, Result
from rayop.runtime.redaction import use_secrets

__all__ = ["FailureEvents"]

REASON = "ReconcileError"


class FailureEvents:
    """A reconciler that reports its wrapped reconciler's failures as Warning Events."""

    def __init__(self, inner: Reconciler, *, kind: Kind, cache: Cache,
                 events: EventRecorder) -> None:
        self.inner = inner
        self.kind = kind
        self._cache = cache
        self._events = events

    async def reconcile(self, request: Request) -> Result:
        """Run the wrapped reconcile; on failure record the Event, then re-raise."""
        try:
            return await self.inner.reconcile(request)
        except (Conflict, TerminalError):
            raise
        except Exception as err:
            obj = self._cache.get(self.kind, request.name, namespace=request.namespace)
            if obj is not None:
                use_secrets(self._events.secrets_of(obj))  # the controller logs the error next
                self._events.warning(obj, REASON, f"reconcile failed, retrying: {_describe(err)}")
            raise


def _describe(err: Exception) -> str:
    if isinstance(err, ApiError):
        return str(err)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
