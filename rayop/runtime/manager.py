"""The manager: one process-level runner for shared informers, controllers and leader election.

``Manager`` runs inside the caller's event loop and keeps no global state, so it embeds in another
asyncio program (another operator, a test) as easily as it runs as rayop's own process. It
installs no signal handlers; the ``rayop`` command does that for itself.

Start-up order, as controller-runtime's: informers start and sync first (every replica keeps a warm
cache, leader or not); then, when leader election is on, the manager waits for the lease; then the
controllers' workers start. Losing the lease stops every worker at once — mid-reconcile if need be
— writes through :attr:`Manager.client` are refused from then on — and :meth:`Manager.run`
raises :class:`LeaderElectionLost`. A graceful stop stops taking keys, lets reconciles in
progress finish within ``graceful_shutdown_timeout``, writes pending Events, stops the informers
and releases the lease; a cancelled ``run`` does the same without waiting. Informers that cannot
sync within ``sync_timeout`` end ``run`` with :class:`CacheSyncTimeout` naming them.

Several ``namespaces`` give one informer per namespace and kind, merged into one cache view
(:mod:`rayop.runtime.sharedinformers`); ``/metrics``, ``/healthz`` and ``/readyz`` are served only
when
asked (:meth:`Manager.endpoints`). See ``docs/runtime.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry

from rayop.runtime.cache import Cache, TrackingClient, WriteTracker
from rayop.runtime.client import ClusterClient, Kind
from rayop.runtime.clock import Clock, RealClock
from rayop.runtime.controller import Controller
from rayop.runtime.errors import BadRequest
from rayop.runtime.events import EventRecorder
from rayop.runtime.handlers import Mapper, Predicate, enqueue_owner, enqueue_self
from rayop.runtime.leader import LeaderElectionConfig, LeaderElectionLost, LeaderElector
from rayop.runtime.metrics import ControllerMetrics, WorkQueueMetrics
from rayop.runtime.queue import WorkQueue
from rayop.runtime.reconcile import Reconciler, Request
from rayop.runtime.selectors import LabelSelector
from rayop.runtime.sharedinformers import CacheSyncTimeout, ScopedInformer, SharedInformers

__all__ = ["CacheSyncTimeout", "LeaderElectionLost", "Manager", "ManagerOptions",
           "Watch"]

if TYPE_CHECKING:
    from rayop.runtime.endpoints import Endpoints

_log = structlog.get_logger("rayop.manager")

_EVENTS_FLUSH_TIMEOUT = 5.0
"""How long a stopping manager waits for pending Events to be written."""


"""The kinds ``ManagerOptions.label_selector`` restricts by default."""


@dataclass(frozen=True)
class Watch:
    """One extra kind a controller watches, and how its events map to requests."""

    kind: Kind
    mapper: Mapper
    predicate: Predicate | None = None


@dataclass
class ManagerOptions:
    """How the manager runs; the defaults are controller-runtime's.

    ``namespaces``: watch only these (one informer per namespace and kind; empty: the whole
    cluster). ``label_selector`` restricts the informers of ``selector_kinds`` only (``None``: every
    kind) — an operator names the kinds whose objects carry the user's labels, never the objects
    it creates itself (rayop's operator: the three ``ray.io`` kinds). ``sync_timeout``: how long
    the informers may
    take to list before :meth:`Manager.run` gives up with :class:`CacheSyncTimeout`. ``seed``
    seeds the informers' backoff and watch-timeout jitter (None: from the OS), so a simulated
    run replays exactly.
    """

    namespaces: Sequence[str] = ()
    label_selector: str | None = None
    selector_kinds: Collection[Kind] | None = None
    leader_election: LeaderElectionConfig | None = None
    graceful_shutdown_timeout: float = 30.0
    sync_timeout: float | None = 120.0
    component: str = "rayop"
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    seed: int | None = None


class Manager:
    """Owns the shared informers, the controllers, the event recorder, metrics and the lease."""

    def __init__(
        self,
        client: ClusterClient,
        *,
        clock: Clock | None = None,
        options: ManagerOptions | None = None,
    ) -> None:
        self.options = options or ManagerOptions()
        try:
            LabelSelector.parse(self.options.label_selector)
        except BadRequest as err:
            raise ValueError(f"ManagerOptions.label_selector: {err}") from None
        self.clock = clock or RealClock()
        self.api = client
        self.informers = SharedInformers(
            client,
            clock=self.clock,
            namespaces=self.options.namespaces,
            label_selector=self.options.label_selector,
            selector_kinds=self.options.selector_kinds,
            seed=self.options.seed,
        )
        self.cache = Cache(self.informers)
        self.tracker = WriteTracker(self.informers, clock=self.clock)
        self.client = TrackingClient(client, self.tracker, may_write=lambda: self.is_leader)
        self.events = EventRecorder(client, component=self.options.component, clock=self.clock)
        self.registry = self.options.registry
        self.controller_metrics = ControllerMetrics(self.registry)
        self.queue_metrics = WorkQueueMetrics(self.registry)
        self.controllers: list[Controller] = []
        self.elector: LeaderElector | None = None
        self._started = asyncio.Event()
        self._running = False
        self._finished = asyncio.Event()
        self._for_kinds: list[Kind] = []
        self._stopping = asyncio.Event()
        self._leader_task: asyncio.Task[None] | None = None

    # -- wiring --------------------------------------------------------------------------------

    def informer(self, kind: Kind) -> ScopedInformer:
        """Return the shared informer for ``kind`` (created on first use)."""
        return self.informers.get_or_create(kind)

    def add_controller(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        for_kind: Kind,
        owns: Sequence[Kind] = (),
        watches: Sequence[Watch] = (),
        predicate: Predicate | None = None,
        max_concurrent_reconciles: int = 1,
        reconcile_timeout: float | None = None,
    ) -> Controller:
        """Add a controller of ``for_kind`` that also reacts to the kinds it owns and watches.

        Controllers are added before :meth:`run`: their informers must sync before any worker
        reads the cache. Adding one to a running manager raises ``RuntimeError``.
        """
        if self._running:
            raise RuntimeError(f"add controller {name!r} before Manager.run(), not after")
        queue: WorkQueue[Request] = WorkQueue(clock=self.clock, name=name,
                                              metrics=self.queue_metrics)
        controller = Controller(
            name, reconciler, clock=self.clock, queue=queue,
            max_concurrent_reconciles=max_concurrent_reconciles,
            reconcile_timeout=reconcile_timeout, tracker=self.tracker,
            metrics=self.controller_metrics, kind=for_kind.kind,
        )
        controller.watch(self.informer(for_kind), mapper=enqueue_self, predicate=predicate)
        for owned in owns:
            controller.watch(self.informer(owned), mapper=enqueue_owner(for_kind))
        for extra in watches:
            controller.watch(
                self.informer(extra.kind), mapper=extra.mapper, predicate=extra.predicate
            )
        self.controllers.append(controller)
        self._for_kinds.append(for_kind)
        return controller

    # -- state ---------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """True once every informer has listed and is watching."""
        return self.informers.has_synced

    @property
    def is_leader(self) -> bool:
        """True while this manager may reconcile (always, without leader election)."""
        if self.options.leader_election is None:
            return True
        return self.elector is not None and self.elector.is_leader

    def readiness(self) -> tuple[bool, str]:
        """``/readyz``'s answer: ready once every informer has synced (else which have not)."""
        waiting = [i.name for i in self.informers.informers if not i.has_synced]
        if waiting:
            return False, "informers not synced: " + ", ".join(waiting)
        return True, "ok"

    def endpoints(
        self, *, metrics_address: str = "127.0.0.1:0", probe_address: str = "127.0.0.1:0"
    ) -> Endpoints:
        """``/metrics`` (this manager's registry), ``/healthz`` and ``/readyz``, to ``start()``.

        Addresses as kubebuilder's flags: ``"host:port"``, ``":8080"`` (all interfaces), ``"0"``
        (off); port 0 picks a free port, reported in ``bound`` once started.
        """
        from rayop.runtime.endpoints import Endpoints  # aiohttp: imported only when asked for

        return Endpoints(self.registry, ready=self.readiness, metrics_address=metrics_address,
                         probe_address=probe_address)

    async def wait_started(self) -> None:
        """Wait until the controllers' workers are running."""
        await self._started.wait()

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped (returns) or the leader lease is lost (raises)."""
        if self._running:
            raise RuntimeError("Manager.run() is already running")
        self._running = True
        self._warn_if_selector_misses()
        self.informers.start_all()
        try:
            try:
                synced = await self._unless_stopping(
                    self.informers.wait_for_sync(timeout=self.options.sync_timeout))
            except CacheSyncTimeout as err:
                _log.error("informers did not sync; giving up", unsynced=err.unsynced,
                           seconds=err.seconds)
                raise
            if not synced:
                _log.info("stopped while the informers were syncing")
                return
            lost = await self._lead()
            if lost is None:
                return
            for controller in self.controllers:
                controller.start()
            self._started.set()
            _log.info("manager started", controllers=[c.name for c in self.controllers])
            await self._until_stop_or(lost)
        finally:
            task = asyncio.current_task()
            killed = task is not None and task.cancelling() > 0
            if killed:
                # Killed: shut down in full all the same. The cancellation has arrived; clear its
                # count, or every clean-up step that waits on a cancelled task (informers,
                # timeouts) takes that task's CancelledError for its own and stops half-way.
                assert task is not None
                task.uncancel()
            try:
                await self._shutdown(graceful=not killed)
            finally:
                self._finished.set()

    def _warn_if_selector_misses(self) -> None:
        """A label selector that restricts none of the controllers' kinds is likely a mistake."""
        kinds = self.options.selector_kinds
        if self.options.label_selector and kinds is not None and self._for_kinds and not any(
            k in kinds for k in self._for_kinds
        ):
            _log.warning(
                "label_selector restricts none of the controllers' kinds; set selector_kinds",
                label_selector=self.options.label_selector,
                selector_kinds=sorted(k.group_kind for k in kinds),
                controller_kinds=sorted(k.group_kind for k in self._for_kinds),
            )

    async def _lead(self) -> asyncio.Event | None:
        """Wait for leadership; return the event set when it is lost (None if stopped first)."""
        config = self.options.leader_election
        if config is None:
            return asyncio.Event()
        self.elector = LeaderElector(self.api, config, clock=self.clock)
        self._leader_task = asyncio.get_running_loop().create_task(
            self.elector.run(), name="rayop-leader-election"
        )
        if not await self._unless_stopping(self.elector.leading.wait()):
            return None
        return self.elector.lost

    async def _unless_stopping(self, step: Awaitable[Any]) -> bool:
        """Await ``step`` unless a stop is requested first; True if it finished (its error raised).

        Every phase of :meth:`run` waits this way, so a SIGTERM is honoured while informers sync
        and while waiting for the lease as well as once running.
        """
        work = asyncio.ensure_future(step)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when cancelled: leave no waiter task behind
            stopping.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
        if work.cancelled():
            return False
        work.result()
        return True

    async def _until_stop_or(self, lost: asyncio.Event) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())
        gone = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({stop, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when cancelled: leave no waiter task behind
            stop.cancel()
            gone.cancel()
        if lost.is_set() and not self._stopping.is_set():
            _log.error("leader lease lost: stopping every controller now")
            for controller in self.controllers:
                await controller.cancel()
            raise LeaderElectionLost("lost the leader lease")

    def request_stop(self) -> None:
        """Ask :meth:`run` to shut down gracefully and return; do not wait (signal handlers)."""
        self._stopping.set()

    async def stop(self) -> None:
        """Shut down gracefully, as every ``stop()`` in rayop: return once :meth:`run` is done.

        Controllers drain (up to ``graceful_shutdown_timeout``), pending Events are written,
        informers stop and the leader lease is let go. A manager not running just stops.
        """
        self.request_stop()
        if self._running:
            await self._finished.wait()

    async def _shutdown(self, *, graceful: bool = True) -> None:
        """Stop controllers (draining them if ``graceful``), events, informers, then the lease.

        A cancelled :meth:`run` is not graceful: reconciles in progress are cancelled at once
        and pending Events dropped, as when the process is killed.
        """
        if graceful:
            timeout = self.options.graceful_shutdown_timeout
            results = await asyncio.gather(
                *(c.stop(drain_timeout=timeout) for c in self.controllers),
                return_exceptions=True,
            )
            if not all(r is True for r in results):
                _log.warning("graceful shutdown timed out; in-flight reconciles were cancelled")
        else:
            for controller in self.controllers:
                await controller.cancel()
        # Pending Events are written while the lease is still held (and dropped if it is lost),
        # so no Event is written by a manager that another may already have replaced.
        lost = self.elector is not None and self.elector.lost.is_set()
        flush = _EVENTS_FLUSH_TIMEOUT if graceful and not lost else 0.0
        await self.events.aclose(timeout=flush)
        await self.informers.stop_all()
        if self._leader_task is not None:
            self._leader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leader_task
        _log.info("manager stopped")
