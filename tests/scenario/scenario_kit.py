"""Helpers shared by the scenario tests (imported by name: pytest puts this folder on sys.path).

Everything here reads the fake cluster or moves virtual time; nothing sleeps on the wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rayop.runtime.client import EVENT, POD, Kind, Obj
from rayop.testing.env import FakeEnv


async def run_for(env: FakeEnv, seconds: float, on_step: Callable[[], None] | None = None,
                  step: float = 1.0) -> None:
    """Let ``seconds`` of virtual time pass (sampling with ``on_step`` after each step)."""
    start = env.clock.monotonic()
    await env.run_until(lambda: env.clock.monotonic() - start >= seconds, timeout=seconds + 1,
                        on_step=on_step, step=step)


def events(env: FakeEnv, *, about: str | None = None) -> list[Obj]:
    """Every Event in the fake cluster, optionally only those about the object named ``about``."""
    return [e for e in env.cluster.objects(EVENT)
            if about is None or (e.get("involvedObject") or {}).get("name") == about]


def reasons(env: FakeEnv, *, about: str | None = None) -> list[str]:
    """The reasons of :func:`events`."""
    return [str(e.get("reason", "")) for e in events(env, about=about)]


def condition(status: Obj, type_: str) -> Obj:
    """The condition of ``type_`` in a status ({} when absent)."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def names(env: FakeEnv, kind: Kind, namespace: str = "default") -> list[str]:
    """The names of every object of ``kind`` in ``namespace``, sorted."""
    return sorted(o["metadata"]["name"] for o in env.cluster.objects(kind)
                  if o["metadata"].get("namespace", "") == namespace)


def pods_of(env: FakeEnv, cluster: str, **labels: str) -> list[Obj]:
    """The pods of RayCluster ``cluster`` (``node_type="head"`` style filters on ray.io labels)."""
    out = []
    for pod in env.cluster.objects(POD):
        have = pod["metadata"].get("labels") or {}
        if have.get("ray.io/cluster") != cluster:
            continue
        if all(have.get(f"ray.io/{k.replace('_', '-')}") == v for k, v in labels.items()):
            out.append(pod)
    return out


def version(env: FakeEnv, kind: Kind, name: str) -> Any:
    """The object's resourceVersion now (None when it does not exist)."""
    obj = env.get(kind, name)
    return None if obj is None else obj["metadata"]["resourceVersion"]


class StatusLog:
    """Every status version of one object, from a watch: sees states that last no virtual time
    (a sampler between steps misses those). Use as ``with StatusLog(env, RAYJOB, "x") as log:``.
    """

    def __init__(self, env: FakeEnv, kind: Kind, name: str, namespace: str = "default") -> None:
        self.env, self.kind, self.name, self.namespace = env, kind, name, namespace
        self.versions: list[Obj] = []
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        listed = await self.env.cluster.list(self.kind, namespace=self.namespace)
        rv = listed.resource_version
        while True:
            async for event in self.env.cluster.watch(self.kind, namespace=self.namespace,
                                                      resource_version=rv):
                rv = event.resource_version or rv
                if (event.object.get("metadata") or {}).get("name") == self.name:
                    self.versions.append(dict(event.object.get("status") or {}))

    def values(self, field: str) -> list[Any]:
        """The distinct successive values ``field`` took (repeats collapsed)."""
        out: list[Any] = []
        for status in self.versions:
            value = status.get(field)
            if not out or out[-1] != value:
                out.append(value)
        return out

    def __enter__(self) -> StatusLog:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
