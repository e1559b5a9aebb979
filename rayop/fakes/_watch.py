"""Watch streams of the fake cluster: filters, per-watcher buffers, bookmarks, timeouts."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from rayop.fakes._state import Change, Entry, KindKey, ObjKey
from rayop.runtime import jsoncodec
from rayop.runtime.client import EventType, Kind, WatchEvent
from rayop.runtime.clock import Clock
from rayop.runtime.errors import Gone
from rayop.runtime.selectors import FieldSelector, LabelSelector

Pending = tuple[EventType, bytes]


@dataclass(frozen=True)
class Filter:
    """What one watch (or list) selects: a kind, maybe a namespace, label and field selectors."""

    kind: KindKey
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector

    def matches(self, key: ObjKey, entry: Entry) -> bool:
        """Return whether the object at ``key`` is selected."""
        if self.namespace and key[0] != self.namespace:
            return False
        if not self.labels.matches(entry.meta.get("labels")):
            return False
        if not self.fields.terms:
            return True
        if all(path.startswith("metadata.") for path, _, _ in self.fields.terms):
            return self.fields.matches({"metadata": entry.meta})
        return self.fields.matches(entry.obj)

    def translate(self, change: Change) -> Pending | None:
        """Return the event this filter's watcher sees for a change, if any.

        An object that starts matching arrives as ADDED, one that stops matching leaves as
        DELETED (its last matching state, at the new resourceVersion), as on a real server.
        """
        if change.kind != self.kind or (self.namespace and change.key[0] != self.namespace):
            return None
        old_ok = change.old is not None and self.matches(change.key, change.old)
        if change.type == "DELETED":
            return ("DELETED", change.new.raw) if old_ok else None
        new_ok = self.matches(change.key, change.new)
        if new_ok:
            return ("MODIFIED" if old_ok else "ADDED", change.new.raw)
        if old_ok and change.old is not None:
            meta = {**change.old.meta, "resourceVersion": str(change.rv)}
            return ("DELETED", jsoncodec.dumps({**change.old.obj, "metadata": meta}))
        return None


class Watcher:
    """One open watch: its filter and a bounded buffer of events not yet delivered."""

    def __init__(self, flt: Filter, capacity: int, *, after: int = 0) -> None:
        self.filter = flt
        self.buffer: deque[Pending] = deque()
        self.capacity = capacity
        self.after = after
        """Changes at or before this resourceVersion are not for this watcher."""
        self.wake = asyncio.Event()
        self.overflowed = False

    def offer(self, change: Change) -> None:
        """Buffer the change if it concerns this watcher; overflow ends the watch."""
        if change.rv <= self.after:
            return
        event = self.filter.translate(change)
        if event is None or self.overflowed:
            return
        if len(self.buffer) >= self.capacity:
            self.overflowed = True
        else:
            self.buffer.append(event)
        self.wake.set()


class WatchHub:
    """Routes every committed change to the open watchers of its kind."""

    def __init__(self) -> None:
        self._by_kind: dict[KindKey, list[Watcher]] = {}

    def add(self, watcher: Watcher) -> None:
        """Start routing changes to ``watcher``."""
        self._by_kind.setdefault(watcher.filter.kind, []).append(watcher)

    def remove(self, watcher: Watcher) -> None:
        """Stop routing changes to ``watcher``."""
        watchers = self._by_kind.get(watcher.filter.kind, [])
        if watcher in watchers:
            watchers.remove(watcher)

    def publish(self, change: Change) -> None:
        """Offer a change to every watcher of its kind; drop the ones that overflowed."""
        watchers = self._by_kind.get(change.kind)
        if not watchers:
            return
        for watcher in list(watchers):
            watcher.offer(change)
            if watcher.overflowed:
                watchers.remove(watcher)

    def count(self) -> int:
        """Return how many watches are open."""
        return sum(len(w) for w in self._by_kind.values())


@dataclass
class StreamOptions:
    """How one stream behaves: its timeout, bookmarks, and any injected fault."""

    kind: Kind
    clock: Clock
    current_rv: Callable[[], int]
    timeout: float | None = None
    bookmark_interval: float | None = None
    drop_after: int | None = None
    expire_after: int | None = None


async def stream(
    watcher: Watcher, initial: list[Pending], opts: StreamOptions
) -> AsyncIterator[WatchEvent]:
    """Yield the initial events, then the watcher's, until timeout, overflow, or a fault."""
    clock = opts.clock
    start = clock.monotonic()
    deadline = None if opts.timeout is None else start + opts.timeout
    interval = opts.bookmark_interval
    next_bookmark = None if interval is None else _next_bookmark(start, interval, deadline)
    pending = deque(initial)
    delivered = 0
    while deadline is None or clock.monotonic() < deadline:
        if pending or watcher.buffer:
            event_type, raw = pending.popleft() if pending else watcher.buffer.popleft()
            if opts.drop_after is not None and delivered >= opts.drop_after:
                return
            if opts.expire_after is not None and delivered >= opts.expire_after:
                raise Gone("The resourceVersion for the provided watch is too old.")
            delivered += 1
            yield WatchEvent(event_type, jsoncodec.loads(raw))
            continue
        if watcher.overflowed:
            return
        now = clock.monotonic()
        if next_bookmark is not None and interval is not None and now >= next_bookmark:
            next_bookmark = _next_bookmark(now, interval, deadline)
            yield _bookmark(opts.kind, opts.current_rv())
            continue
        await _wait(watcher, clock, _earliest(deadline, next_bookmark))


def _next_bookmark(now: float, interval: float, deadline: float | None) -> float | None:
    """Every ``interval``, and once 2 s before the deadline, as the API server's watch cache."""
    due = now + interval
    if deadline is not None and deadline - 2.0 < due:
        due = deadline - 2.0
        return due if due > now else None
    return due


def _bookmark(kind: Kind, rv: int) -> WatchEvent:
    obj = {"kind": kind.kind, "apiVersion": kind.api_version,
           "metadata": {"resourceVersion": str(rv)}}
    return WatchEvent("BOOKMARK", obj)


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


async def _wait(watcher: Watcher, clock: Clock, until: float | None) -> None:
    """Wait for the watcher's next event or for ``until`` on the clock, whichever is first."""
    watcher.wake.clear()
    if until is None:
        await watcher.wake.wait()
        return
    waiter = asyncio.ensure_future(watcher.wake.wait())
    sleeper = asyncio.ensure_future(clock.sleep(max(0.0, until - clock.monotonic())))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
