"""rayop's own controllers, wired into a :class:`~rayop.manager.Manager` in one call.

``add_ray_controllers(manager, dashboards)`` registers the RayCluster, RayJob and RayService
controllers (or the ones named), each watching its own kind and the kinds it owns. It is what the
``rayop`` command runs, and what an embedding operator calls to reconcile Ray resources beside
its own.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from .client import POD, RAYCLUSTER, RAYJOB, RAYSERVICE, SERVICE, Kind
from .controller import Controller
from .dashboard import DashboardProvider
from .manager import Manager
from .reconcile import Reconciler
from .reconcile_events import FailureEvents
from .reconcilers.raycluster import RayClusterReconciler
from .reconcilers.rayjob import RayJobReconciler
from .reconcilers.rayjob_metrics import RayJobMetrics

__all__ = ["CONTROLLERS", "READS", "OperatorOptions", "add_ray_controllers"]

CONTROLLERS: tuple[str, ...] = ("raycluster", "rayjob", "rayservice")
"""The controllers rayop has, by name."""

READS: dict[str, tuple[Kind, ...]] = {
    "raycluster": (RAYCLUSTER, POD, SERVICE),
    "rayjob": (RAYJOB, RAYCLUSTER),
    "rayservice": (RAYSERVICE, RAYCLUSTER, SERVICE, POD),
}
"""The kinds each controller's reconciler reads from the cache; each gets a started informer."""


@dataclass(frozen=True)
class OperatorOptions:
    """Tuning shared by rayop's controllers."""

    max_concurrent_reconciles: int = 1
    reconcile_timeout: float | None = 120.0
    job_poll_interval: float = 3.0
    service_poll_interval: float = 2.0
    dashboard_unreachable_limit: float = 300.0
    seed: int | None = None


def add_ray_controllers(
    manager: Manager,
    dashboards: DashboardProvider,
    *,
    controllers: Iterable[str] = CONTROLLERS,
    options: OperatorOptions | None = None,
) -> list[Controller]:
    """Register the named controllers on ``manager``; return them in order."""
    opts = options or OperatorOptions()
    wanted = list(controllers)
    unknown = sorted(set(wanted) - set(CONTROLLERS))
    if unknown:
        raise ValueError(f"unknown controllers: {', '.join(unknown)} (known: {CONTROLLERS})")
    rng = random.Random(opts.seed)
    added: list[Controller] = []
    if "raycluster" in wanted:
        reconciler = RayClusterReconciler(manager.client, manager.cache, manager.events,
                                          clock=manager.clock)
        added.append(manager.add_controller(
            "raycluster", _reported(manager, reconciler, RAYCLUSTER), for_kind=RAYCLUSTER,
            owns=(POD, SERVICE),
            max_concurrent_reconciles=opts.max_concurrent_reconciles,
            reconcile_timeout=opts.reconcile_timeout,
        ))
    if "rayjob" in wanted:
        job = RayJobReconciler(
            manager.client, manager.cache, manager.events, dashboards, clock=manager.clock,
            rng=random.Random(rng.getrandbits(64)), poll_interval=opts.job_poll_interval,
            dashboard_unreachable_limit=opts.dashboard_unreachable_limit,
            metrics=RayJobMetrics(manager.registry),
        )
        added.append(manager.add_controller(
            "rayjob", _reported(manager, job, RAYJOB), for_kind=RAYJOB, owns=(RAYCLUSTER,),
            max_concurrent_reconciles=opts.max_concurrent_reconciles,
            reconcile_timeout=opts.reconcile_timeout,
        ))
    if "rayservice" in wanted:
        added.append(_add_rayservice(manager, dashboards, opts, rng))
    for name in wanted:
        for kind in READS[name]:
            manager.informer(kind)  # read but not watched (RayService reads Pods): still cached
    return added


def _reported(manager: Manager, reconciler: Reconciler, kind: Kind) -> Reconciler:
    """``reconciler``, its failures reported as Warning Events on the object."""
    return FailureEvents(reconciler, kind=kind, cache=manager.cache, events=manager.events)


def _add_rayservice(
    manager: Manager, dashboards: DashboardProvider, opts: OperatorOptions, rng: random.Random
) -> Controller:
    from .reconcilers.rayservice import RayServiceReconciler
    from .reconcilers.rayservice_metrics import RayServiceMetrics

    service = RayServiceReconciler(
        manager.client, manager.cache, manager.events, dashboards, clock=manager.clock,
        rng=random.Random(rng.getrandbits(64)), poll_interval=opts.service_poll_interval,
        metrics=RayServiceMetrics(manager.registry),
    )
    return manager.add_controller(
        "rayservice", _reported(manager, service, RAYSERVICE), for_kind=RAYSERVICE,
        owns=(RAYCLUSTER, SERVICE),
        max_concurrent_reconciles=opts.max_concurrent_reconciles,
        reconcile_timeout=opts.reconcile_timeout,
    )
