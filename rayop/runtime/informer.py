"""The informer: list, then watch, forever — keeping a :class:`~rayop.runtime.store.Store` in step.

The loop (client-go's reflector, kube-rs's watcher)::

    list (paged) -> store.replace -> handlers -> watch from the list's resourceVersion
        event     -> store.put/remove -> handlers; remember the event's resourceVersion
        BOOKMARK  -> remember its resourceVersion (no handler call)
        stream ended by the server's timeout  -> watch again from the last version, at once
        stream silent past inactivity_timeout -> treated as dead: watch again from the last version
        error (network, 5xx, 429 ...)         -> back off, then watch again from the last version
        Gone (410: the version is too old)    -> back off, then relist: the store is replaced at
                                                 once and handlers hear DELETED for what vanished,
                                                 updates for what changed, adds for what is new
        list failed                           -> back off, list again

Guarantees: the store and the handlers see every change in resourceVersion order, or — after a
Gone — the difference between the last state seen and the relisted state; a handler is called
synchronously, in registration order, after the store already shows the change; a handler's
exception is logged and counted and never stops the informer; no error is fatal and no failure
loops tightly: reconnects back off exponentially (``backoff_initial`` 0.8 s doubling to
``backoff_max`` 30 s, each delay stretched by up to ``backoff_jitter``; the sequence starts over
when ``backoff_reset_after`` seconds pass without a failure). Each watch asks the server to end it
after a random ``timeoutSeconds`` in ``[watch_timeout, 2 * watch_timeout)``, so many informers do
not reconnect in step. A stream that ends cleanly at once without progress counts as a failure.

Time is the :class:`~rayop.runtime.clock.Clock`'s (virtual in tests), randomness a
``random.Random``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, NamedTuple, Protocol

import structlog

from rayop.runtime import jsoncodec
from rayop.runtime.client import ClusterClient, Kind, Obj, WatchEvent
from rayop.runtime.clock import Clock, RealClock, timeout
from rayop.runtime.errors import ApiError, Gone
from rayop.runtime.selectors import FieldSelector, LabelSelector
from rayop.runtime.store import Store

__all__ = [
    "FuncHandler",
    "Informer",
    "InformerStatistics",
    "ResourceEventHandler",
]

_log = structlog.get_logger("rayop.informer")

_MIN_STREAM_SECONDS = 1.0
"""A stream that ends cleanly sooner than this without advancing the version is a failure."""

WatchOutcome = Literal["expired", "short", "inactive", "gone", "error"]


class ResourceEventHandler(Protocol):
    """What an informer calls after each change of its store."""

    def on_add(self, obj: Obj) -> None:
        """An object appeared (or the handler joined late and is told of one that exists)."""
        ...

    def on_update(self, old: Obj, new: Obj) -> None:
        """An object changed from ``old`` to ``new``."""
        ...

    def on_delete(self, obj: Obj) -> None:
        """An object went away; ``obj`` is its last known state."""
        ...


class FuncHandler:
    """A :class:`ResourceEventHandler` made of up to three plain functions."""

    def __init__(
        self,
        *,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        self._add, self._update, self._delete = on_add, on_update, on_delete

    def on_add(self, obj: Obj) -> None:
        """Call the add function, if any."""
        if self._add is not None:
            self._add(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        """Call the update function, if any."""
        if self._update is not None:
            self._update(old, new)

    def on_delete(self, obj: Obj) -> None:
        """Call the delete function, if any."""
        if self._delete is not None:
            self._delete(obj)


class InformerStatistics(NamedTuple):
    """Counters of one informer since it was made."""

    synced: bool
    objects: int
    resource_version: str
    events: int
    added: int
    updated: int
    deleted: int
    bookmarks: int
    lists: int
    relists: int
    watches: int
    restarts: int
    gone: int
    inactivity_restarts: int
    watch_errors: int
    list_errors: int
    handler_errors: int
    backoff_seconds: float


class _Counters:
    def __init__(self) -> None:
        self.events = self.added = self.updated = self.deleted = self.bookmarks = 0
        self.lists = self.relists = self.watches = self.restarts = self.gone = 0
        self.inactivity_restarts = self.watch_errors = self.list_errors = 0
        self.handler_errors = 0
        self.backoff_seconds = 0.0


class _Inactivity:
    """Cancels the task that entered it once ``touch`` has not been called for ``limit`` s."""

    def __init__(self, clock: Clock, limit: float | None) -> None:
        self._clock, self._limit = clock, limit
        self.last = clock.monotonic()
        self.fired = False
        self._task: asyncio.Task[Any] | None = None
        self._dog: asyncio.Task[None] | None = None

    def touch(self) -> None:
        self.last = self._clock.monotonic()

    async def _watch(self, limit: float) -> None:
        while (remaining := self.last + limit - self._clock.monotonic()) > 0:
            await self._clock.sleep(remaining)
        self.fired = True
        assert self._task is not None
        self._task.cancel()

    async def __aenter__(self) -> _Inactivity:
        if self._limit is not None:
            self._task = asyncio.current_task()
            self._dog = asyncio.get_running_loop().create_task(self._watch(self._limit))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        if self._dog is not None:
            await _cancel_and_wait(self._dog)
        if self.fired and exc_type is asyncio.CancelledError:
            assert self._task is not None
            return self._task.uncancel() == 0
        return False


class Informer:
    """Keep a :class:`~rayop.runtime.store.Store` of one kind and scope in step with the cluster."""

    def __init__(
        self,
        client: ClusterClient,
        kind: Kind,
        *,
        clock: Clock | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        watch_timeout: float = 300.0,
        inactivity_timeout: float | None = 180.0,
        list_timeout: float | None = 60.0,
        page_size: int | None = 500,
        backoff_initial: float = 0.8,
        backoff_max: float = 30.0,
        backoff_jitter: float = 0.2,
        backoff_reset_after: float = 120.0,
        rng: random.Random | None = None,
        name: str | None = None,
        store: Store | None = None,
    ) -> None:
        self.client = client
        self.kind = kind
        self.clock: Clock = clock or RealClock()
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.watch_timeout = watch_timeout
        self.inactivity_timeout = inactivity_timeout
        self.list_timeout = list_timeout
        self.page_size = page_size
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.backoff_jitter = backoff_jitter
        self.backoff_reset_after = backoff_reset_after
        self.name = name or _default_name(kind, namespace, label_selector, field_selector)
        self.store = store or Store()
        self._rng = rng or random.Random()
        self._handlers: list[ResourceEventHandler] = []
        self._rv: str | None = None
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempt = 0
        self._last_failure: float | None = None
        self._retry_after: float | None = None
        self._n = _Counters()
        self._log = _log.bind(informer=self.name)
        self._label_match = LabelSelector.parse(label_selector)
        self._field_match = FieldSelector.parse(field_selector)

    # -- handlers ------------------------------------------------------------------------------

    def add_handler(self, handler: ResourceEventHandler) -> None:
        """Register ``handler``; it hears at once of every object already cached (as adds)."""
        self._handlers.append(handler)
        for obj in self.store.list():
            self._call(handler.on_add, obj)

    def remove_handler(self, handler: ResourceEventHandler) -> None:
        """Stop calling ``handler``."""
        self._handlers.remove(handler)

    def _call(self, fn: Callable[..., None], *args: Obj) -> None:
        try:
            fn(*args)
        except Exception:
            self._n.handler_errors += 1
            self._log.exception("informer handler failed", handler=repr(fn))

    def _notify_add(self, obj: Obj) -> None:
        for handler in self._handlers:
            self._call(handler.on_add, obj)

    def _notify_update(self, old: Obj, new: Obj) -> None:
        for handler in self._handlers:
            self._call(handler.on_update, old, new)

    def _notify_delete(self, obj: Obj) -> None:
        for handler in self._handlers:
            self._call(handler.on_delete, obj)

    # -- state ---------------------------------------------------------------------------------

    def in_scope(self, obj: Obj, namespace: str | None = None) -> bool:
        """True when ``obj`` falls in this informer's namespace, label and field scope.

        ``namespace`` stands in for an object that does not name its own.
        """
        if self.namespace and self.kind.namespaced:
            ns = (obj.get("metadata") or {}).get("namespace") or namespace or ""
            if ns != self.namespace:
                return False
        return self._label_match.matches_object(obj) and self._field_match.matches(obj)

    @property
    def has_synced(self) -> bool:
        """True once the first list is in the store and the handlers have heard of it."""
        return self._synced.is_set()

    @property
    def resource_version(self) -> str | None:
        """The version the next watch starts from (None: the next step is a list)."""
        return self._rv

    async def wait_for_sync(self) -> None:
        """Wait until :attr:`has_synced`."""
        await self._synced.wait()

    def statistics(self) -> InformerStatistics:
        """Return the counters and the current state."""
        n = self._n
        return InformerStatistics(
            synced=self.has_synced, objects=len(self.store),
            resource_version=self.store.resource_version, events=n.events, added=n.added,
            updated=n.updated, deleted=n.deleted, bookmarks=n.bookmarks, lists=n.lists,
            relists=n.relists, watches=n.watches, restarts=n.restarts, gone=n.gone,
            inactivity_restarts=n.inactivity_restarts, watch_errors=n.watch_errors,
            list_errors=n.list_errors, handler_errors=n.handler_errors,
            backoff_seconds=n.backoff_seconds,
        )

    # -- running -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a task started by :meth:`start` runs the informer."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Run the informer in a task of the running loop (no-op if already running)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"rayop-informer-{self.name}"
            )

    async def stop(self) -> None:
        """Cancel the task started by :meth:`start` and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            await _cancel_and_wait(task)

    async def run(self) -> None:
        """List and watch until cancelled; never returns otherwise, never raises an API error."""
        while True:
            if self._rv is None and not await self._list():
                await self._backoff(self._retry_after)
                continue
            outcome = await self._watch()
            self._n.restarts += 1
            if outcome == "gone":
                self._rv = None
            if outcome in ("gone", "error", "short"):
                await self._backoff(self._retry_after)

    # -- backoff -------------------------------------------------------------------------------

    def next_backoff(self) -> float:
        """Return the delay before the next attempt, and count the attempt."""
        now = self.clock.monotonic()
        if self._last_failure is not None and now - self._last_failure >= self.backoff_reset_after:
            self._attempt = 0
        self._last_failure = now
        base = min(self.backoff_initial * 2.0**self._attempt, self.backoff_max)
        self._attempt = min(self._attempt + 1, 64)
        return min(base * (1.0 + self.backoff_jitter * self._rng.random()), self.backoff_max)

    async def _backoff(self, retry_after: float | None = None) -> None:
        delay = max(self.next_backoff(), retry_after or 0.0)
        self._n.backoff_seconds += delay
        self._log.debug("informer backing off", seconds=round(delay, 3))
        await self.clock.sleep(delay)

    # -- list ----------------------------------------------------------------------------------

    async def _list(self) -> bool:
        """List everything in scope into the store; False (logged) if the list failed."""
        try:
            items, rv = await self._list_all()
            for obj in items:
                self._fill_type(obj)
            diff = self.store.replace(items, rv)
        except Exception as err:
            self._n.list_errors += 1
            self._retry_after = getattr(err, "retry_after", None)
            self._log.warning("informer list failed", error=repr(err))
            return False
        self._rv = rv
        self._n.lists += 1
        if self.has_synced:
            self._n.relists += 1
            self._log.info("informer relisted", changes=len(diff), resource_version=rv)
        for obj in diff.deleted:
            self._n.deleted += 1
            self._notify_delete(obj)
        for old, new in diff.updated:
            self._n.updated += 1
            self._notify_update(old, new)
        for obj in diff.added:
            self._n.added += 1
            self._notify_add(obj)
        self._synced.set()
        return True

    async def _list_all(self) -> tuple[list[Obj], str]:
        items: list[Obj] = []
        token: str | None = None
        limit = self.page_size
        while True:
            try:
                async with timeout(self.clock, self.list_timeout):
                    page = await self.client.list(
                        self.kind, namespace=self.namespace, label_selector=self.label_selector,
                        field_selector=self.field_selector, limit=limit, continue_token=token,
                    )
            except Gone:
                if token is None:
                    raise
                # The continue token expired mid-way: start over in one request (client-go).
                items, token, limit = [], None, None
                continue
            items.extend(page.items)
            token = page.continue_token
            if not token:
                return items, page.resource_version

    def _fill_type(self, obj: Obj) -> None:
        # List items come without apiVersion/kind from a real API server.
        if "kind" not in obj:
            obj["kind"] = self.kind.kind
        if "apiVersion" not in obj:
            obj["apiVersion"] = self.kind.api_version

    # -- watch ---------------------------------------------------------------------------------

    async def _watch(self) -> WatchOutcome:
        """Run one watch stream to its end and say how it ended."""
        self._retry_after = None
        self._n.watches += 1
        started, rv_before = self.clock.monotonic(), self._rv
        stream = self.client.watch(
            self.kind, namespace=self.namespace, resource_version=self._rv,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=self.watch_timeout * (1.0 + self._rng.random()),
            allow_bookmarks=True,
        )
        guard = _Inactivity(self.clock, self.inactivity_timeout)
        try:
            async with guard:
                async for event in stream:
                    guard.touch()
                    self._apply(event)
        except Gone:
            self._n.gone += 1
            self._log.info("informer watch expired (410 Gone); relisting", after=self._rv)
            return "gone"
        except ApiError as err:
            return self._watch_failed(err)
        except Exception as err:  # a dropped connection, a broken stream, a bug in a backend
            return self._watch_failed(err)
        finally:
            await _close(stream)
        if guard.fired:
            self._n.inactivity_restarts += 1
            self._log.warning("informer watch silent; restarting", seconds=self.inactivity_timeout)
            return "inactive"
        if self._rv == rv_before and self.clock.monotonic() - started < _MIN_STREAM_SECONDS:
            return "short"
        return "expired"

    def _watch_failed(self, err: Exception) -> WatchOutcome:
        self._n.watch_errors += 1
        self._retry_after = getattr(err, "retry_after", None)
        self._log.warning("informer watch failed; resuming", error=repr(err), after=self._rv)
        return "error"

    def _apply(self, event: WatchEvent) -> None:
        """Apply one watch event to the store, then tell the handlers."""
        self._n.events += 1
        rv = event.resource_version
        if event.type == "BOOKMARK":
            self._n.bookmarks += 1
            if rv:
                self._rv = rv
                self.store.set_resource_version(rv)
            return
        obj = event.object
        self._fill_type(obj)
        if event.type == "DELETED":
            self.store.remove(obj)
            self._n.deleted += 1
            self._notify_delete(obj)
        else:
            old = self.store.put(obj)
            if old is None:
                self._n.added += 1
                self._notify_add(obj)
            else:
                self._n.updated += 1
                if self._handlers:
                    self._notify_update(jsoncodec.loads(old), obj)
        if rv:
            self._rv = rv


async def _cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it; a cancellation of the caller itself still propagates."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


async def _close(stream: AsyncIterator[WatchEvent]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def _default_name(
    kind: Kind, namespace: str | None, label_selector: str | None, field_selector: str | None
) -> str:
    parts = [kind.group_kind, namespace or "*"]
    parts += [s for s in (label_selector, field_selector) if s]
    return "/".join(parts)
