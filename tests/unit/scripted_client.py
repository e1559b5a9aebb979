"""A tiny scripted ClusterClient for precise informer tests (list and watch only).

Each ``list`` call takes the next scripted answer (a ListResult or an exception to raise); when the
script runs out it answers with ``default_list``. Each ``watch`` call takes the next scripted
stream, a list of steps:

- a ``WatchEvent``: yielded;
- ``Pause(s)``: the stream is silent for ``s`` Clock seconds;
- ``Hang()``: the stream is silent forever (a dead connection);
- an exception instance: raised (at once if first: the watch request itself failed).

A stream whose steps run out ends cleanly. With no script left, a watch behaves like a healthy
quiet server: silent until its ``timeout_seconds`` pass, then it ends. Every call is recorded with
the Clock time it was made, and tests can wait for the n-th call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from rayop.runtime.client import Kind, ListResult, Obj, WatchEvent
from rayop.runtime.clock import Clock


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Hang:
    pass


Step = WatchEvent | Pause | Hang | BaseException


@dataclass
class Call:
    verb: str
    at: float
    kwargs: dict[str, Any]


def obj(
    name: str,
    rv: str | int,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
    generation: int = 1,
    **extra: Any,
) -> Obj:
    meta: dict[str, Any] = {
        "name": name, "namespace": namespace, "resourceVersion": str(rv),
        "uid": f"uid-{name}", "generation": generation,
    }
    if labels:
        meta["labels"] = labels
    if owners:
        meta["ownerReferences"] = owners
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, **extra}


def added(o: Obj) -> WatchEvent:
    return WatchEvent("ADDED", o)


def modified(o: Obj) -> WatchEvent:
    return WatchEvent("MODIFIED", o)


def deleted(o: Obj) -> WatchEvent:
    return WatchEvent("DELETED", o)


def bookmark(rv: str | int) -> WatchEvent:
    return WatchEvent("BOOKMARK", {"kind": "ConfigMap", "metadata": {"resourceVersion": str(rv)}})


@dataclass
class ScriptedClient:
    clock: Clock
    lists: list[ListResult | BaseException] = field(default_factory=list)
    watches: list[list[Step]] = field(default_factory=list)
    default_list: ListResult = field(default_factory=lambda: ListResult([], "1"))
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()

    def calls_of(self, verb: str) -> list[Call]:
        return [c for c in self.calls if c.verb == verb]

    async def wait_calls(self, verb: str, n: int) -> list[Call]:
        """Wait until ``verb`` has been called ``n`` times; return those calls."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.calls_of(verb)) >= n)
        return self.calls_of(verb)

    async def _record(self, verb: str, kwargs: dict[str, Any]) -> None:
        self.calls.append(Call(verb, self.clock.monotonic(), kwargs))
        async with self._changed:
            self._changed.notify_all()

    async def list(self, kind: Kind, **kwargs: Any) -> ListResult:
        await self._record("list", kwargs)
        answer = self.lists.pop(0) if self.lists else self.default_list
        if isinstance(answer, BaseException):
            raise answer
        return ListResult([dict(o) for o in answer.items], answer.resource_version,
                          answer.continue_token)

    def watch(self, kind: Kind, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        steps = self.watches.pop(0) if self.watches else None
        return self._stream(steps, kwargs)

    async def _stream(
        self, steps: list[Step] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[WatchEvent]:
        await self._record("watch", kwargs)
        if steps is None:
            await self.clock.sleep(float(kwargs.get("timeout_seconds") or 0.0))
            return
        for step in steps:
            if isinstance(step, WatchEvent):
                yield step
            elif isinstance(step, Pause):
                await self.clock.sleep(step.seconds)
            elif isinstance(step, Hang):
                await asyncio.Event().wait()
            else:
                raise step
