"""``FakeEnv``: the whole operator on the fake cluster, in virtual time, in one object.

It assembles what a scenario test (or ``rayop dev``) needs — a
:class:`~rayop.runtime.clock.VirtualClock`
in auto-advance mode, a :class:`~rayop.fakes.cluster.FakeCluster` that validates ``ray.io`` objects
as an API server with rayop's CRDs would, the kubelet simulator, one fake Ray dashboard per
RayCluster (alive while its head pod runs), and a :class:`~rayop.runtime.manager.Manager` running
rayop's
controllers::

    async with FakeEnv(seed=7) as env:
        await env.apply(rayjob_manifest)
        await env.run_until(lambda: env.status(RAYJOB, "demo").get("status") == "Succeeded",
                            timeout=600)

``FakeEnv(faults=FaultPlan(seed=...))`` injects API faults; ``provider=`` puts real Ray heads
(any :class:`~rayop.ray.dashboard.DashboardProvider`) in place of the fakes, and ``paced=True`` then
makes virtual time follow the wall clock (real Ray does not run in virtual time);
``restart_manager()`` plays an operator crash (or a clean restart);
``dashboard_calls("submit_job")`` lists what every fake Ray head was asked. Virtual seconds pass
only while every task waits, so ten minutes of operator time take milliseconds, and the same seed
replays the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from rayop.fakes.cluster import FakeCluster
from rayop.fakes.faults import FaultPlan
from rayop.fakes.kubelet import KubeletSimulator
from rayop.operator.controllers import (
    CONTROLLERS,
    ControllerSpec,
    OperatorOptions,
    add_ray_controllers,
)
from rayop.ray.dashboard import DashboardProvider
from rayop.ray.fakes.cluster import with_ray_kinds
from rayop.ray.fakes.dashboard import FakeCall, FakeDashboard, FakeDashboards
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import ClusterClient, Kind, Obj
from rayop.runtime.clock import Clock, RealClock, VirtualClock
from rayop.runtime.errors import NotFound
from rayop.runtime.manager import Manager, ManagerOptions

__all__ = ["FakeEnv", "with_ray_kinds"]

Condition = Callable[[], bool | Awaitable[bool]]


def operator_manager(
    client: ClusterClient,
    *,
    clock: Clock,
    dashboards: DashboardProvider,
    controllers: Iterable[str | ControllerSpec] = CONTROLLERS,
    operator: OperatorOptions | None = None,
    restarts: int = 0,
    options: ManagerOptions | None = None,
    setup: Callable[[Manager, DashboardProvider], None] | None = None,
) -> Manager:
    """A manager running rayop's controllers (from the table) and ``setup``'s, as a process would.

    The one place the fast tiers wire an operator: :class:`FakeEnv` and
    :class:`~rayop.testing.Simulation` both call it. ``restarts`` counts the processes before
    this one: each draws other random names (:meth:`OperatorOptions.restarted`).
    """
    manager = Manager(client, clock=clock,
                      options=options or ManagerOptions(graceful_shutdown_timeout=30.0))
    specs = list(controllers)
    if specs:
        add_ray_controllers(manager, dashboards, controllers=specs,
                            options=(operator or OperatorOptions()).restarted(restarts))
    if setup is not None:
        setup(manager, dashboards)
    return manager


class FakeEnv:
    """A fake cluster, simulators and rayop's manager, started and stopped together."""

    def __init__(
        self,
        *,
        seed: int = 0,
        controllers: Iterable[str | ControllerSpec] = CONTROLLERS,
        operator: OperatorOptions | None = None,
        kubelet: dict[str, Any] | None = None,
        cluster: FakeCluster | None = None,
        clock: VirtualClock | None = None,
        faults: FaultPlan | None = None,
        provider: DashboardProvider | None = None,
        paced: bool = False,
    ) -> None:
        self.seed = seed
        self.paced = paced
        self.clock = clock or VirtualClock(auto_advance=not paced)
        self.cluster = cluster or FakeCluster(clock=self.clock, seed=seed, faults=faults)
        with_ray_kinds(self.cluster)
        self._dashboard_setup: list[Callable[[FakeDashboard], object]] = []
        self.dashboards = FakeDashboards(clock=self.clock, seed=seed, alive=False,
                                         configure=self._setup_dashboard)
        self._pacer: asyncio.Task[None] | None = None
        self.kubelet = KubeletSimulator(self.cluster, clock=self.clock, **(kubelet or {}))
        self.kubelet.on_pod_change(self.dashboards.observe_pod)
        # What the controllers talk to: the fakes, unless given (``rayop dev --real-ray``).
        self.provider: DashboardProvider = provider if provider is not None else self.dashboards
        self._controllers = tuple(controllers)
        self._operator = operator or OperatorOptions(seed=seed)
        self.restarts = 0
        self.manager = self._new_manager()
        self._task: asyncio.Task[None] | None = None

    def _new_manager(self) -> Manager:
        return operator_manager(self.cluster, clock=self.clock, dashboards=self.provider,
                                controllers=self._controllers, operator=self._operator,
                                restarts=self.restarts)

    def _setup_dashboard(self, fake: FakeDashboard) -> None:
        for setup in self._dashboard_setup:
            setup(fake)

    def on_every_dashboard(self, setup: Callable[[FakeDashboard], object]) -> None:
        """Run ``setup`` on every fake Ray head, those that exist and those made later.

        For example ``env.on_every_dashboard(lambda d: d.script_job(entrypoint="fail", ...))``.
        """
        self._dashboard_setup.append(setup)
        for fake in self.dashboards.clusters().values():
            setup(fake)

    # -- life cycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> FakeEnv:
        if self.paced:
            self._pacer = asyncio.get_running_loop().create_task(self._pace(),
                                                                 name="rayop-fakeenv-pacer")
        await self.kubelet.start()
        await self._start_manager()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop_manager()
        await self.kubelet.stop()
        if self._pacer is not None:
            self._pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer
        await self.clock.aclose()

    async def _pace(self, step: float = 0.02) -> None:
        """Advance virtual time with the wall clock (``paced``: real Ray or HTTP in the loop)."""
        wall = RealClock()
        last = wall.monotonic()
        while True:
            await wall.sleep(step)
            now = wall.monotonic()
            await self.clock.advance(now - last)
            last = now

    async def _start_manager(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.manager.run(),
                                                            name="rayop-fakeenv-manager")
        started = asyncio.ensure_future(self.manager.wait_started())
        await asyncio.wait({started, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            started.cancel()
            self._task.result()  # raises what stopped it

    async def _stop_manager(self) -> None:
        if self._task is None:
            return
        self.manager.request_stop()
        try:
            await self._task
        finally:
            self._task = None

    async def restart_manager(self, *, graceful: bool = False) -> None:
        """Stop the manager (cancelled mid-work unless ``graceful``) and start a fresh one."""
        await self.stop_manager(graceful=graceful)
        await self.start_manager()

    async def stop_manager(self, *, graceful: bool = False) -> None:
        """Stop the manager: cancelled mid-work (a crash) unless ``graceful``.

        The cluster, the kubelet and the Ray heads go on; :meth:`start_manager` starts a new one.
        """
        if graceful:
            await self._stop_manager()
        elif self._task is not None:
            # A crash: reconciles in flight die where they are (a cancelled Manager.run would
            # drain them gracefully first, which is a clean shutdown, not a crash).
            for controller in self.manager.controllers:
                await controller.cancel()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def start_manager(self) -> None:
        """Start a fresh manager (after :meth:`stop_manager`); it draws new random names."""
        if self._task is not None:
            raise RuntimeError("the manager is running")
        self.restarts += 1
        self.manager = self._new_manager()
        await self._start_manager()

    # -- acting and looking --------------------------------------------------------------------

    async def apply(self, obj: Obj, *, kind: Kind | None = None) -> Obj:
        """Create ``obj``, or replace its spec if it exists (like ``kubectl apply``, simply)."""
        kind = kind or _kind_of(obj)
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        try:
            current = await self.cluster.get(kind, meta["name"], namespace=namespace)
        except NotFound:
            body = {**obj, "metadata": {**meta, "namespace": namespace}}
            return await self.cluster.create(kind, body, namespace=namespace)
        merged = {**current, "spec": obj.get("spec")}
        if "metadata" in obj:
            merged["metadata"] = {**current["metadata"],
                                  "labels": meta.get("labels", current["metadata"].get("labels")),
                                  "annotations": meta.get("annotations",
                                                          current["metadata"].get("annotations"))}
        return await self.cluster.replace(kind, merged, namespace=namespace)

    @property
    def manager_running(self) -> bool:
        """True while the manager's task runs (it has neither stopped nor died)."""
        return self._task is not None and not self._task.done()

    def get(self, kind: Kind, name: str, namespace: str = "default") -> Obj | None:
        """The object as the fake cluster holds it now, or None."""
        for obj in self.cluster.objects(kind):
            meta = obj["metadata"]
            if meta["name"] == name and meta.get("namespace", "") == namespace:
                return obj
        return None

    def dashboard_calls(self, method: str) -> list[FakeCall]:
        """Every call to ``method`` on every fake Ray head, in the order each head saw them."""
        return [call for fake in self.dashboards.clusters().values()
                for call in fake.calls_to(method)]

    def status(self, kind: Kind, name: str, namespace: str = "default") -> Obj:
        """The object's status now ({} when it has none or does not exist)."""
        obj = self.get(kind, name, namespace)
        return dict((obj or {}).get("status") or {})

    async def run_until(
        self, condition: Condition, *, timeout: float, step: float = 1.0,
        on_step: Callable[[], None] | None = None,
    ) -> float:
        """Let virtual time pass in ``step``s until ``condition`` holds; return the time taken.

        ``on_step`` runs after every step (to sample state); ``TimeoutError`` after ``timeout``.
        """
        start = self.clock.monotonic()
        while True:
            if self._task is not None and self._task.done():
                self._task.result()
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return self.clock.monotonic() - start
            if self.clock.monotonic() - start >= timeout:
                raise TimeoutError(f"condition not met after {timeout} virtual seconds")
            await self.clock.sleep(step)
            if on_step is not None:
                on_step()


def _kind_of(obj: Obj) -> Kind:
    for kind in (RAYJOB, RAYSERVICE, RAYCLUSTER):
        if obj.get("kind") == kind.kind and obj.get("apiVersion") == kind.api_version:
            return kind
    raise ValueError(f"FakeEnv.apply needs kind= for {obj.get('apiVersion')}/{obj.get('kind')}")
