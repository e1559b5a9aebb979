"""Kubernetes Events about the objects rayop manages, aggregated as client-go does.

``recorder.event(obj, "Normal", "CreatedCluster", "created RayCluster x")`` returns at once; a
background writer creates a ``core/v1`` Event on the object, or — when the same object, type,
reason and message were reported before — bumps that Event's ``count`` and ``lastTimestamp``
instead of writing a new one. Recording never raises and never blocks a reconcile: a failed write
is logged and dropped, like client-go's broadcaster. ``await recorder.flush()`` waits until every
recorded event has been written (tests use it to make assertions deterministic).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import structlog

from rayop.runtime.client import EVENT, ClusterClient, Obj
from rayop.runtime.clock import Clock, RealClock, format_time
from rayop.runtime.clock import timeout as clock_timeout
from rayop.runtime.errors import ApiError, NotFound
from rayop.runtime.redaction import MIN_SECRET, scrub, secret_values

__all__ = ["EventRecorder", "EventType"]

EventType = Literal["Normal", "Warning"]

_log = structlog.get_logger("rayop.events")


@dataclass(frozen=True)
class _Pending:
    involved: Obj
    type: EventType
    reason: str
    message: str


class EventRecorder:
    """Writes Events for a component (``source.component``), aggregating repeats by count."""

    def __init__(
        self,
        client: ClusterClient,
        *,
        component: str = "rayop",
        clock: Clock | None = None,
        cache_size: int = 4096,
        max_message: int = 1024,
        secrets: Callable[[Obj], frozenset[str]] = secret_values,
    ) -> None:
        self._client = client
        self._component = component
        self._clock = clock or RealClock()
        self._seen: OrderedDict[tuple[str, ...], tuple[str, str, int]] = OrderedDict()
        self._cache_size = cache_size
        self._max_message = max_message
        self._secrets = secrets
        self._pending: asyncio.Queue[_Pending] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._seq = itertools.count()
        self.recorded = 0
        self.written = 0
        self.dropped = 0

    def scrub(self, obj: Obj, text: str) -> str:
        """``text`` without the secret values ``obj`` holds (``rayop.runtime.redaction``)."""
        return scrub(text, self._secrets(obj))

    def find_secrets_with(self, extra: Callable[[Obj], Iterable[str]]) -> None:
        """Also treat what ``extra(obj)`` returns as secret values of ``obj`` (a domain's own)."""
        before = self._secrets
        self._secrets = lambda obj: before(obj) | frozenset(
            v for v in extra(obj) if len(v) >= MIN_SECRET)

    def secrets_of(self, obj: Obj) -> frozenset[str]:
        """The secret values ``obj`` holds, as this recorder finds them."""
        return self._secrets(obj)

    def event(self, obj: Obj, type: EventType, reason: str, message: str) -> None:
        """Record an event about ``obj``; returns at once and never raises.

        The message is scrubbed of the secret values ``obj`` holds first.
        """
        message = self.scrub(obj, message)
        meta = obj.get("metadata") or {}
        involved = {
            "apiVersion": obj.get("apiVersion", ""),
            "kind": obj.get("kind", ""),
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        _log.info(
            "event", type=type, reason=reason, message=message, kind=involved["kind"],
            namespace=involved["namespace"], name=involved["name"],
        )
        queue = self._ensure_writer()
        self.recorded += 1
        queue.put_nowait(_Pending(involved, type, reason, message[: self._max_message]))

    def normal(self, obj: Obj, reason: str, message: str) -> None:
        """Record a Normal event."""
        self.event(obj, "Normal", reason, message)

    def warning(self, obj: Obj, reason: str, message: str) -> None:
        """Record a Warning event."""
        self.event(obj, "Warning", reason, message)

    async def flush(self) -> None:
        """Wait until every event recorded so far has been written (or dropped)."""
        if self._pending is not None:
            await self._pending.join()

    async def aclose(self, *, timeout: float | None = None) -> None:
        """Write what is pending (for at most ``timeout`` Clock seconds), then stop the writer.

        Events still pending after ``timeout`` are dropped (and counted in :attr:`dropped`).
        """
        try:
            async with clock_timeout(self._clock, timeout):
                await self.flush()
        except TimeoutError:
            left = self.recorded - self.written - self.dropped
            self.dropped += left
            _log.warning("events not written before shutdown", dropped=left)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    def _ensure_writer(self) -> asyncio.Queue[_Pending]:
        if self._pending is None:
            self._pending = asyncio.Queue()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write_loop(self._pending), name="rayop-event-writer"
            )
        return self._pending

    async def _write_loop(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            item = await queue.get()
            try:
                await self._write(item)
                self.written += 1
            except ApiError as err:
                self.dropped += 1
                _log.warning("event not written", reason=item.reason, error=str(err))
            finally:
                queue.task_done()

    async def _write(self, item: _Pending) -> None:
        inv = item.involved
        key = (inv["namespace"], inv["uid"] or inv["name"], inv["kind"], item.type, item.reason,
               item.message)
        now = format_time(self._clock.now())
        namespace = inv["namespace"] or "default"
        seen = self._seen.get(key)
        if seen is not None:
            name, first, count = seen
            try:
                await self._client.patch(
                    EVENT, name, {"count": count + 1, "lastTimestamp": now}, namespace=namespace
                )
                self._remember(key, (name, first, count + 1))
                return
            except NotFound:
                pass  # expired or deleted: write a fresh one
        name = f"{inv['name']}.{int(self._clock.now().timestamp() * 1e9):x}{next(self._seq):x}"
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": inv,
            "reason": item.reason,
            "message": item.message,
            "type": item.type,
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._client.create(EVENT, body, namespace=namespace)
        self._remember(key, (name, now, 1))

    def _remember(self, key: tuple[str, ...], value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)
