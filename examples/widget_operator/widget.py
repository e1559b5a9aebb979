"""An example operator on rayop's runtime: ``Widget`` objects, each kept with a ConfigMap.

A ``Widget`` (``example.com/v1``, namespaced) says what its ConfigMap should hold::

    apiVersion: example.com/v1
    kind: Widget
    metadata: {name: w1}
    spec: {message: hello, copies: 2}

The reconciler keeps a ConfigMap ``<widget>-config`` owned by the widget, with ``message`` repeated
``copies`` times, and writes ``status``: ``phase`` (``Ready`` or ``Invalid``), ``configMap``,
``observedGeneration``. A spec it cannot use (``copies`` negative or not a number, ``message`` not
a string) gets ``phase: Invalid``, ``reason: ValidationFailed``, a message naming the field and a
Warning event, and no retry until the spec changes. It is built from the library's reconciler kit
alone: :func:`~rayop.controller_ref` for the owner reference, :class:`~rayop.StatusWriter` for
every status write (minimal merge patch, resourceVersion precondition, nothing sent when nothing
changed) and its ``reject`` for the invalid spec. Run it against the fake cluster with
``python widget.py``.

Wire it into any :class:`~rayop.Manager` with :func:`add_widget_controller` — the same function
is the ``setup`` a :class:`~rayop.testing.Simulation` takes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from rayop import (
    AlreadyExists,
    ClusterClient,
    Kind,
    Manager,
    NotFound,
    Obj,
    Request,
    Result,
    StatusWriter,
    controller_ref,
)
from rayop.runtime.client import CONFIGMAP
from rayop.runtime.status import spec_rejected

WIDGET = Kind("example.com", "v1", "Widget", "widgets")
"""The example's custom resource."""

PHASES = frozenset({"Ready", "Invalid"})
"""Every value ``status.phase`` takes."""


def problems(spec: Any) -> list[str]:
    """What is wrong with a Widget spec, each naming its field (empty: nothing)."""
    if not isinstance(spec, dict):
        return ["spec: must be an object"]
    found = []
    copies = spec.get("copies", 1)
    if not isinstance(copies, int) or isinstance(copies, bool) or copies < 0:
        found.append(f"spec.copies: must be a whole number >= 0, not {copies!r}")
    if not isinstance(spec.get("message", ""), str):
        found.append(f"spec.message: must be a string, not {spec.get('message')!r}")
    return found


def desired_configmap(widget: Obj) -> Obj:
    """The ConfigMap a valid Widget asks for."""
    meta, spec = widget["metadata"], widget.get("spec") or {}
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": f"{meta['name']}-config", "namespace": meta["namespace"],
            "labels": {"example.com/widget": meta["name"]},
            "ownerReferences": [controller_ref(widget)],
        },
        "data": {"message": " ".join([str(spec.get("message", ""))] * spec.get("copies", 1))},
    }


class WidgetReconciler:
    """Keeps each Widget's ConfigMap and status; see the module docstring."""

    def __init__(self, manager: Manager) -> None:
        self.client: ClusterClient = manager.client
        self.cache = manager.cache
        self.status = StatusWriter(manager.client, WIDGET, events=manager.events,
                                   clock=manager.clock)

    async def reconcile(self, request: Request) -> Result:
        """Make the Widget's ConfigMap and status match its spec."""
        widget = self.cache.get(WIDGET, request.name, namespace=request.namespace)
        if widget is None or widget["metadata"].get("deletionTimestamp"):
            return Result()  # the ConfigMap goes with it (owner reference)
        if spec_rejected(widget):
            return Result()  # no retry loop: wait for the spec to change
        found = problems(widget.get("spec"))
        with contextlib.suppress(NotFound):  # deleted meanwhile
            if found:  # status Invalid, a Warning event naming the fields
                await self.status.reject(widget, found, {"phase": "Invalid"})
                return Result()
            want = desired_configmap(widget)
            await self._ensure(want)
            await self.status.write(widget, {
                **(widget.get("status") or {}), "phase": "Ready", "message": "", "reason": None,
                "configMap": want["metadata"]["name"],
                "observedGeneration": widget["metadata"].get("generation")})
        return Result()

    async def _ensure(self, want: Obj) -> None:
        meta = want["metadata"]
        have = self.cache.get(CONFIGMAP, meta["name"], namespace=meta["namespace"])
        if have is None:
            # AlreadyExists: an earlier attempt got through; the next event compares the data.
            with contextlib.suppress(AlreadyExists):
                await self.client.create(CONFIGMAP, want, namespace=meta["namespace"])
            return
        if have.get("data") != want["data"]:
            await self.client.patch(CONFIGMAP, meta["name"], {"data": want["data"]},
                                    namespace=meta["namespace"])


def add_widget_controller(manager: Manager, dashboards: object = None) -> None:
    """Register the Widget controller on ``manager`` (a :class:`~rayop.testing.Setup` too)."""
    manager.add_controller("widget", WidgetReconciler(manager), for_kind=WIDGET,
                           owns=(CONFIGMAP,))


async def demo() -> None:
    """Run the operator on the fake cluster: create a Widget, change it, print what happens."""
    from rayop.testing import Simulation

    async with Simulation(seed=1, setup=add_widget_controller, kinds=[WIDGET]) as sim:
        await sim.apply({"apiVersion": "example.com/v1", "kind": "Widget",
                         "metadata": {"name": "w1"}, "spec": {"message": "hi", "copies": 2}},
                        kind=WIDGET)
        await sim.settle(horizon=5)
        print("status:", sim.status(WIDGET, "w1"))
        print("configmap:", (sim.get(CONFIGMAP, "w1-config") or {}).get("data"))


if __name__ == "__main__":
    asyncio.run(demo())
