"""``Simulation``: an operator (rayop's or yours) in a misbehaving world, in virtual time, seeded.

One object assembles the fake cluster (with a seeded :class:`~rayop.fakes.faults.FaultPlan`), the
kubelet simulator, one fake Ray head per RayCluster, a :class:`~rayop.runtime.clock.VirtualClock` in
auto-advance mode, and one or more :class:`~rayop.runtime.manager.Manager` s — with leader election
when
there are several — each running rayop's controllers and/or the ones your ``setup`` adds::

    async with Simulation(seed=7, managers=2) as sim:
        await sim.apply(rayjob_manifest)
        await sim.run_until(lambda: sim.status(RAYJOB, "demo").get("status") == "Succeeded",
                            timeout=600)
        await sim.restart_manager(0)          # kill the first manager; a fresh one starts
        await sim.settle()                    # nothing left to do (or: which keys churn)
        sim.assert_invariants()               # prints the violations and the timeline

Every reconcile, write and fault lands on :attr:`Simulation.timeline`. Each manager reaches the
world through its own links (:mod:`rayop.testing.links`), so a crash can cut a manager off right
after a write committed, a partition can cost it its lease, and a write made after the lease was
lost is caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rayop.fakes.cluster import FakeCluster
from rayop.fakes.faults import Decision, FaultPlan
from rayop.fakes.kubelet import KubeletSimulator
from rayop.operator.controllers import CONTROLLERS, ControllerSpec, OperatorOptions
from rayop.ray.dashboard import DashboardProvider
from rayop.runtime.client import Kind, Obj
from rayop.runtime.clock import VirtualClock
from rayop.runtime.errors import AlreadyExists, ApiError, NotFound, RayopError
from rayop.runtime.leader import LeaderElectionConfig
from rayop.runtime.manager import LeaderElectionLost, Manager, ManagerOptions
from rayop.runtime.reconcile import Reconciler, Request, Result
from rayop.runtime.sharedinformers import CacheSyncTimeout
from rayop.testing.env import Condition, FakeEnv, operator_manager
from rayop.testing.invariants import Monitor, Violation, check_world
from rayop.testing.links import ClusterLink, DashboardLinks, LinkState, Submission
from rayop.testing.timeline import Timeline

__all__ = ["HotLoop", "InvariantViolation", "ManagerSlot", "NotSettled", "Setup", "Simulation"]

Setup = Callable[[Manager, DashboardProvider], None]
"""``setup(manager, dashboards)`` adds controllers to a fresh manager (called on every restart)."""

_LEASE = "rayop-simulation"


class NotSettled(RayopError, AssertionError):
    """``settle()`` ran out of time: some keys kept being reconciled (they are named)."""


class HotLoop(RayopError, RuntimeError):
    """Raised into a reconcile that runs again and again with no virtual time passing."""


class InvariantViolation(RayopError, AssertionError):
    """An invariant failed; the message lists the violations, the replay command, the timeline."""


@dataclass
class ManagerSlot:
    """One manager "pod": the process now running in it, and how many times it was replaced."""

    index: int
    generation: int = 0
    state: LinkState | None = None
    manager: Manager | None = None
    task: asyncio.Task[None] | None = None
    partitioned: bool = False
    ray_partitioned: bool = False

    @property
    def identity(self) -> str:
        """The running process's identity: ``m<slot>.<generation>``."""
        return f"m{self.index}.{self.generation}"


@dataclass
class _Activity:
    last: float = 0.0
    recent: dict[str, list[float]] = field(default_factory=dict)


class _RecordedPlan(FaultPlan):
    """A fault plan that also puts every fault it fires on the timeline."""

    def attach(self, clock: VirtualClock, timeline: Timeline) -> None:
        """Say where to record."""
        self._sim_clock, self._timeline = clock, timeline

    def decide(self, verb: str, kind: Kind, namespace: str | None, name: str | None) -> Decision:
        """Decide as a plain plan does, then record what fired."""
        before = len(self.fired)
        decision = super().decide(verb, kind, namespace, name)
        timeline = getattr(self, "_timeline", None)
        if timeline is not None:
            for fired in self.fired[before:]:
                obj = f"{kind.kind} {namespace}/{name}" if name else kind.kind
                timeline.add(self._sim_clock.monotonic(), "fault", obj, "apiserver",
                             f"{verb}: {fired.effect}")
        return decision


class _Recorded:
    """A reconciler wrapper that puts every reconcile on the timeline."""

    def __init__(self, inner: Reconciler, sim: Simulation, label: str, actor: str) -> None:
        self.inner = inner
        self._sim = sim
        self._label = label
        self._actor = actor

    async def reconcile(self, request: Request) -> Result:
        """Reconcile through the wrapped reconciler and record the outcome."""
        sim = self._sim
        sim.guard_hot_loop(self._label, request)
        try:
            result = await self.inner.reconcile(request)
        except asyncio.CancelledError:
            sim.note_reconcile(self._label, request, self._actor, "cancelled")
            raise
        except Exception as err:
            sim.note_reconcile(self._label, request, self._actor, f"error {type(err).__name__}")
            raise
        after = "" if result.requeue_after is None else f" requeue {result.requeue_after:g}s"
        sim.note_reconcile(self._label, request, self._actor, "ok" + after)
        return result


class Simulation:
    """The fake world plus one or more managers, seeded and in virtual time (module docstring)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        managers: int = 1,
        controllers: Iterable[str | ControllerSpec] | None = None,
        setup: Setup | None = None,
        operator: OperatorOptions | None = None,
        kubelet: dict[str, Any] | None = None,
        leader_election: bool | None = None,
        kinds: Iterable[Kind | tuple[Kind, Any]] = (),
        timeline_limit: int | None = None,
        record_reconciles: bool = True,
        restart_delay: float = 1.0,
        replay: str | None = None,
    ) -> None:
        if managers < 1:
            raise ValueError("a simulation needs at least one manager")
        self.seed = seed
        self.rng = random.Random(f"rayop-simulation/{seed}")
        self.timeline = Timeline(limit=timeline_limit)
        self.faults = _RecordedPlan(seed=seed)
        self.env = FakeEnv(seed=seed, controllers=(), faults=self.faults, kubelet=kubelet)
        self.clock: VirtualClock = self.env.clock
        self.faults.attach(self.clock, self.timeline)
        self.cluster: FakeCluster = self.env.cluster
        self.kubelet: KubeletSimulator = self.env.kubelet
        self.dashboards = self.env.dashboards
        for item in kinds:
            kind, validator = item if isinstance(item, tuple) else (item, None)
            self.cluster.register_kind(kind, validator=validator)
        self._controllers = tuple(controllers if controllers is not None
                                  else (CONTROLLERS if setup is None else ()))
        self._setup = setup
        self._operator = operator or OperatorOptions(seed=seed)
        self.leader_election = managers > 1 if leader_election is None else leader_election
        self.slots = [ManagerSlot(i) for i in range(managers)]
        self.submissions: list[Submission] = []
        self.violations: list[Violation] = []
        self.restarts = 0
        self.record_reconciles = record_reconciles
        self.restart_delay = restart_delay
        self.replay = replay or f"Simulation(seed={seed})"
        self.monitor = Monitor(self)
        self._activity = _Activity()
        self.reconciles = 0
        self.hot_loop_limit = 200
        self._hot: dict[tuple[str, Request], tuple[float, int]] = {}
        self._hot_flagged: set[tuple[str, Request]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._manager_tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._old_handler: Any = None

    # -- life cycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Simulation:
        loop = asyncio.get_running_loop()
        self._old_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        self.monitor.attach()
        await self.kubelet.start()
        for slot in self.slots:
            self._start(slot)
        first = self.slots[0]
        if not self.leader_election and first.manager is not None and first.task is not None:
            started = asyncio.ensure_future(first.manager.wait_started())
            await asyncio.wait({started, first.task}, return_when=asyncio.FIRST_COMPLETED)
            started.cancel()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task
        for slot in self.slots:
            await self._stop(slot, graceful=True)
        for task in list(self._manager_tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self.kubelet.stop()
        await self.clock.aclose()
        gc.collect()  # surface "exception was never retrieved" before the handler goes
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._old_handler)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        text = f"{context.get('message', '')}: {exc!r}" if exc is not None else str(
            context.get("message"))
        self.violate("unhandled", text)

    # -- managers ------------------------------------------------------------------------------

    def _start(self, slot: ManagerSlot) -> None:
        slot.generation += 1
        state = LinkState(
            identity=slot.identity, clock=self.clock, timeline=self.timeline,
            on_crash=lambda s: self._spawn(self._crashed(slot, s)),
            on_violation=lambda text: self.violate("write-after-lease-loss", text),
            submissions=self.submissions, partitioned=slot.partitioned,
            ray_partitioned=slot.ray_partitioned,
        )
        election = None
        if self.leader_election:
            election = LeaderElectionConfig(name=_LEASE, namespace="default",
                                            identity=slot.identity)
        options = ManagerOptions(graceful_shutdown_timeout=30.0, leader_election=election,
                                 seed=self.rng.getrandbits(64))
        # Every process draws its own names (clusters, submission ids), as real ones do: two
        # managers sharing a seed would re-draw each other's names on a failover.
        operator = self._operator
        if operator.seed is not None:
            operator = dataclasses.replace(operator, seed=self.rng.getrandbits(63))
        dashboards = DashboardLinks(self.dashboards, state)
        manager = operator_manager(ClusterLink(self.cluster, state), clock=self.clock,
                                   dashboards=dashboards, controllers=self._controllers,
                                   operator=operator, restarts=self.restarts,
                                   options=options, setup=self._setup)
        state.manager = manager
        if self.record_reconciles:
            for controller in manager.controllers:
                controller.reconciler = _Recorded(controller.reconciler, self, controller.name,
                                                  slot.identity)
        slot.state, slot.manager = state, manager
        task = asyncio.get_running_loop().create_task(manager.run(), name=f"rayop-{slot.identity}")
        slot.task = task
        self._manager_tasks.add(task)
        task.add_done_callback(self._manager_tasks.discard)
        task.add_done_callback(lambda t: self._exited(slot, t))
        self.timeline.add(self.clock.monotonic(), "manager", "", slot.identity, "started")

    def _exited(self, slot: ManagerSlot, task: asyncio.Task[None]) -> None:
        if slot.task is not task or task.cancelled() or self._closing:
            return
        exc = task.exception()
        slot.task = None
        if exc is None:
            self.timeline.add(self.clock.monotonic(), "manager", "", slot.identity, "stopped")
            return
        if isinstance(exc, LeaderElectionLost):
            self.timeline.add(self.clock.monotonic(), "manager", "", slot.identity,
                              "lost the lease; exits and is restarted")
        elif isinstance(exc, CacheSyncTimeout):
            # As controller-runtime's manager does: it exits, and its pod is restarted; an
            # operator that never syncs still fails the converge invariant.
            self.timeline.add(self.clock.monotonic(), "manager", "", slot.identity,
                              f"exits: {exc}; is restarted")
        else:
            self.violate("unhandled", f"manager {slot.identity} died: {exc!r}")
        self._spawn(self._respawn(slot))

    async def _respawn(self, slot: ManagerSlot) -> None:
        await self.clock.sleep(self.restart_delay)
        if not self._closing and slot.task is None:
            self.restarts += 1
            self._start(slot)

    async def _crashed(self, slot: ManagerSlot, state: LinkState) -> None:
        if slot.state is state:
            await self.restart_manager(slot.index)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stop(self, slot: ManagerSlot, *, graceful: bool) -> None:
        task, manager, state = slot.task, slot.manager, slot.state
        slot.task = None
        if task is None or manager is None or state is None:
            return
        if graceful:
            manager.request_stop()
        else:
            state.severed = True  # a dead process changes nothing any more
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(task)  # if we are cancelled, the old process still shuts down

    async def restart_manager(self, index: int = 0, *, graceful: bool = False) -> None:
        """Kill manager ``index`` and start a fresh one, with empty memory, in its place.

        Killed at once (mid-reconcile if need be), unless ``graceful``; a killed leader does not
        release its lease, so another manager takes over only when it expires.
        """
        slot = self.slots[index]
        self.timeline.add(self.clock.monotonic(), "manager", "", slot.identity,
                          "stopped gracefully" if graceful else "killed")
        await self._stop(slot, graceful=graceful)
        if self._closing:
            return
        self.restarts += 1
        self._start(slot)

    def crash_after_writes(self, n: int, index: int = 0) -> None:
        """Kill manager ``index`` right after its ``n``-th write from now commits (unanswered)."""
        state = self.slots[index].state
        if state is not None:
            state.crash_after = state.writes + n

    def crash_after_write_matching(self, text: str, index: int = 0) -> None:
        """Kill manager ``index`` right after its next write that matches ``text`` commits.

        ``text`` is looked for in ``kind namespace/name verb`` (``"RayHead ... submit_job <id>"``
        for Ray calls): ``"submit_job"`` crashes it just after Ray accepted a job.
        """
        state = self.slots[index].state
        if state is not None:
            state.crash_on = text

    def partition(self, index: int, partitioned: bool, *, ray: bool = True) -> None:
        """Cut manager ``index`` off from the API server and (``ray``) Ray, or reconnect it.

        ``ray=False`` cuts the API only: the manager loses its lease but can still call Ray,
        so only the lease fence (``FencedDashboards``) keeps it from acting there.
        """
        slot = self.slots[index]
        slot.partitioned = partitioned
        slot.ray_partitioned = partitioned and ray
        if slot.state is not None:
            slot.state.partitioned = slot.partitioned
            slot.state.ray_partitioned = slot.ray_partitioned

    def leader(self) -> int | None:
        """The index of the manager leading now (with one manager and no election: 0)."""
        for slot in self.slots:
            if slot.manager is not None and slot.task is not None and slot.manager.is_leader \
                    and slot.manager.elector is not None:
                return slot.index
        return None if self.leader_election else 0

    # -- recording -----------------------------------------------------------------------------

    def note_reconcile(self, label: str, request: Request, actor: str, outcome: str) -> None:
        """Record one reconcile (called by the wrapped reconcilers)."""
        now = self.clock.monotonic()
        self.reconciles += 1
        key = f"{label} {request}"
        self.timeline.add(now, "reconcile", key, actor, outcome)
        self._activity.last = now
        self._activity.recent.setdefault(key, []).append(now)

    def guard_hot_loop(self, label: str, request: Request) -> None:
        """Stop a key that is reconciled over and over while (almost) no virtual time passes.

        A reconciler that writes on every pass wakes itself at once, forever, and virtual time
        stands still, so nothing with a timeout could ever end. Past ``hot_loop_limit`` passes
        of one key within one virtual second, the key is flagged (``hot-loop``) and its passes
        fail, so the controller's backoff makes time pass and ``settle()`` can name the key.
        """
        now = self.clock.monotonic()
        key = (label, request)
        start, count = self._hot.get(key, (now, 0))
        if now - start >= 1.0:
            start, count = now, 0
        count += 1
        self._hot[key] = (start, count)
        if count > self.hot_loop_limit:
            if key not in self._hot_flagged:
                self._hot_flagged.add(key)
                self.violate("hot-loop", f"{label} {request} was reconciled {count - 1} times "
                             f"within a virtual second (from {start:.2f}s)")
            raise HotLoop(f"{label} {request}: reconciled {count - 1} times in a virtual second")

    def violate(self, invariant: str, text: str) -> None:
        """Record that ``invariant`` failed, with a message."""
        self.violations.append(Violation(invariant, text, self.clock.monotonic()))

    # -- acting and looking --------------------------------------------------------------------

    async def apply(self, obj: Obj, *, kind: Kind | None = None, attempts: int = 100) -> Obj:
        """Create or update ``obj`` as a user would (retrying through API faults)."""
        for attempt in range(attempts):
            try:
                return await self.env.apply(obj, kind=kind)
            except AlreadyExists:
                continue  # an ambiguous create went through: now update it
            except ApiError as err:
                if attempt == attempts - 1:
                    raise
                await self.clock.sleep(err.retry_after or 0.5)
        raise TimeoutError(f"could not apply {obj.get('kind')} after {attempts} attempts")

    async def delete(self, kind: Kind, name: str, namespace: str = "default") -> None:
        """Delete an object as a user would (retrying through API faults; gone is fine)."""
        for _ in range(100):
            try:
                await self.cluster.delete(kind, name, namespace=namespace)
                return
            except NotFound:
                return
            except ApiError as err:
                await self.clock.sleep(err.retry_after or 1.0)

    def get(self, kind: Kind, name: str, namespace: str = "default") -> Obj | None:
        """The object as the fake cluster holds it now, or None (never faulted)."""
        return self.env.get(kind, name, namespace)

    def status(self, kind: Kind, name: str, namespace: str = "default") -> Obj:
        """The object's status now ({} when it has none or does not exist)."""
        return self.env.status(kind, name, namespace)

    def objects(self, kind: Kind) -> list[Obj]:
        """Every object of ``kind`` now (never faulted)."""
        return self.cluster.objects(kind)

    def stop_faults(self) -> None:
        """End every API fault rule (what already fired stays on the timeline)."""
        self.faults.clear()

    async def run_until(self, condition: Condition, *, timeout: float, step: float = 1.0) -> float:
        """Let virtual time pass in ``step`` s until ``condition`` holds; return the time taken.

        ``TimeoutError`` (naming the timeline's tail) after ``timeout`` virtual seconds.
        """
        try:
            return await self.env.run_until(condition, timeout=timeout, step=step)
        except TimeoutError as err:
            raise TimeoutError(f"{err}\n{self.timeline.format(last=30)}") from None

    async def settle(self, *, horizon: float = 30.0, timeout: float = 600.0,
                     polling_ok: bool = False, step: float = 1.0) -> float:
        """Return once nothing is queued, running or due within ``horizon`` virtual seconds.

        With ``polling_ok``, keys that keep coming back on a timer are fine as long as they write
        nothing (a RayService polls its applications forever). Raises :class:`NotSettled`
        naming the keys still churning after ``timeout``.
        """
        start = self.clock.monotonic()
        while True:
            now = self.clock.monotonic()
            busy = any(self._queue_busy(slot) for slot in self.slots)
            quiet_since = self._quiet_since(polling_ok)
            if not busy and now - quiet_since >= horizon:
                return now - start
            if now - start >= timeout:
                raise NotSettled(self._churn_report(now, horizon))
            await self.clock.sleep(step)

    def _busy_queues(self, slot: ManagerSlot) -> list[str]:
        """Controllers of a working manager with keys queued or in progress."""
        manager = slot.manager
        if manager is None or slot.task is None or not manager.is_leader:
            return []  # a standby's queues fill up, but nothing works them: not activity
        out = []
        for controller in manager.controllers:
            stats = controller.queue.statistics()
            if stats.depth or stats.processing:
                out.append(f"{slot.identity}/{controller.name}: {stats.depth} queued, "
                           f"{stats.processing} in progress")
        return out

    def _queue_busy(self, slot: ManagerSlot) -> bool:
        return bool(self._busy_queues(slot))

    def _quiet_since(self, polling_ok: bool) -> float:
        last_write = max((e.at for e in self.timeline.entries[-200:] if e.what == "write"),
                         default=0.0)
        return last_write if polling_ok else max(self._activity.last, last_write)

    def _churn_report(self, now: float, horizon: float) -> str:
        window = now - horizon
        churn = {key: sum(1 for t in times if t >= window)
                 for key, times in self._activity.recent.items()}
        busy = sorted(((n, k) for k, n in churn.items() if n), reverse=True)
        writes: dict[str, int] = {}
        for entry in self.timeline.select(what="write"):
            if entry.at >= window:
                writes[entry.obj] = writes.get(entry.obj, 0) + 1
        lines = [f"not settled: keys still churning in the last {horizon:g} virtual seconds:"]
        lines += [f"  {key}: {n} reconciles" for n, key in busy[:20]]
        lines += [f"  {obj}: {n} writes" for obj, n in sorted(writes.items())[:20]]
        lines += [f"  queue {q}" for slot in self.slots for q in self._busy_queues(slot)]
        return "\n".join(lines)

    # -- invariants ----------------------------------------------------------------------------

    def converged(self) -> bool:
        """True when every RayJob is terminal and every RayService RUNNING, all observed."""
        return not check_world(self, final=False)

    def check_invariants(self) -> list[Violation]:
        """Every violation seen during the run plus those of the world as it is now."""
        return [*self.violations, *check_world(self, final=True)]

    def report(self, violations: list[Violation] | None = None, *, last: int = 60) -> str:
        """A failure report: the violations, how to replay, and the timeline's tail."""
        found = self.check_invariants() if violations is None else violations
        lines = [f"{len(found)} invariant violation(s), seed {self.seed}:"]
        lines += [f"  [{v.invariant}] at {v.at:.2f}s: {v.message}" for v in found[:30]]
        lines.append(f"replay: {self.replay}")
        lines.append(f"timeline (last {last} of {len(self.timeline.entries)}):")
        lines.append(self.timeline.format(last=last))
        return "\n".join(lines)

    def assert_invariants(self) -> None:
        """Raise :class:`InvariantViolation` with :meth:`report` if any invariant failed."""
        found = self.check_invariants()
        if found:
            raise InvariantViolation(self.report(found))

