"""The table of rayop's controllers, and the operator built from it.

Each :class:`ControllerSpec` says everything about one controller once: the kind it reconciles,
the kinds it owns (their events wake the owner), any other watches, the kinds its reconciler reads
from the cache, the RBAC rules its calls need, and how its reconciler is built. From
:data:`CONTROLLER_TABLE` come

- :func:`add_ray_controllers` — the controllers on a :class:`~rayop.runtime.manager.Manager`: what
  the ``rayop`` command runs, what :class:`~rayop.testing.FakeEnv` and
  :class:`~rayop.testing.Simulation` run, and what an embedding operator calls to reconcile Ray
  resources beside its own;
- :data:`~rayop.operator.manifests.RECONCILE_RULES` — the ClusterRole ``rayop manifests`` writes;
- the planted-bug variants of :mod:`rayop.testing.planted` (the same spec, another ``build``).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import yaml

from rayop.operator.rbac import PolicyRule
from rayop.ray.dashboard import DashboardProvider, FencedDashboards
from rayop.ray.kinds import RAY_KINDS, RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.ray.resources.serve import load_yaml
from rayop.reconcilers.raycluster import RayClusterReconciler
from rayop.reconcilers.rayjob import RayJobReconciler
from rayop.reconcilers.rayjob.metrics import RayJobMetrics
from rayop.reconcilers.rayservice import RayServiceReconciler
from rayop.reconcilers.rayservice.metrics import RayServiceMetrics
from rayop.runtime.client import POD, SERVICE, Kind, Obj
from rayop.runtime.controller import Controller
from rayop.runtime.manager import Manager, Watch
from rayop.runtime.reconcile import Reconciler
from rayop.runtime.reconcile_events import FailureEvents
from rayop.runtime.redaction import secret_values

__all__ = [
    "CONTROLLERS",
    "CONTROLLER_TABLE",
    "READS",
    "SELECTOR_KINDS",
    "Build",
    "ControllerSpec",
    "OperatorOptions",
    "add_ray_controllers",
    "build_raycluster",
    "build_rayjob",
    "build_rayservice",
    "resolve",
    "runtime_env_secrets",
]


@dataclass(frozen=True)
class OperatorOptions:
    """Tuning shared by rayop's controllers.

    ``seed`` seeds the random names (cluster suffixes, submission ids) of one process; a
    restarted process draws others (:meth:`restarted`).
    """

    max_concurrent_reconciles: int = 1
    reconcile_timeout: float | None = 120.0
    job_poll_interval: float = 3.0
    service_poll_interval: float = 2.0
    dashboard_unreachable_limit: float = 300.0
    seed: int | None = None

    def restarted(self, restarts: int) -> OperatorOptions:
        """The options of the process after ``restarts`` restarts: another seed, the same rest."""
        if self.seed is None or restarts == 0:
            return self
        return dataclasses.replace(self, seed=self.seed + 7919 * restarts)


def runtime_env_secrets(obj: Obj) -> set[str]:
    """The values of the ``env_vars`` of the runtime environments in a RayJob or RayService.

    They live in YAML strings (``runtimeEnvYAML``, ``serveConfigV2``), out of reach of a walk
    of the object; each is parsed (bounded, as validation parses it) and walked.
    """
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    found: set[str] = set()
    for key in ("runtimeEnvYAML", "runtimeEnv", "serveConfigV2"):
        text = (spec or {}).get(key)
        if not isinstance(text, str) or "env_vars" not in text:
            continue
        try:
            document = load_yaml(text)
        except yaml.YAMLError:
            continue
        found |= secret_values(document)
    return found


Build = Callable[[Manager, DashboardProvider, OperatorOptions, random.Random], Reconciler]
"""How a controller's reconciler is made: the manager, Ray's dashboards, options, its own rng."""


@dataclass(frozen=True)
class ControllerSpec:
    """One controller, said once; see the module docstring."""

    name: str
    kind: Kind
    build: Build
    owns: tuple[Kind, ...] = ()
    watches: tuple[Watch, ...] = ()
    reads: tuple[Kind, ...] = ()
    """Kinds read from the cache beyond ``kind`` and ``owns`` (each gets a started informer)."""
    rules: tuple[PolicyRule, ...] = ()
    """The RBAC rules the reconciler's API calls need, in every namespace it watches."""


def build_raycluster(manager: Manager, dashboards: DashboardProvider, opts: OperatorOptions,
                     rng: random.Random) -> Reconciler:
    """The RayCluster reconciler."""
    return RayClusterReconciler(manager.client, manager.cache, manager.events,
                                clock=manager.clock)


def build_rayjob(manager: Manager, dashboards: DashboardProvider, opts: OperatorOptions,
                 rng: random.Random, *, cls: type[RayJobReconciler] = RayJobReconciler
                 ) -> Reconciler:
    """The RayJob reconciler (``cls``: a subclass of it, built the same way)."""
    return cls(
        manager.client, manager.cache, manager.events, dashboards, clock=manager.clock,
        rng=rng, poll_interval=opts.job_poll_interval,
        dashboard_unreachable_limit=opts.dashboard_unreachable_limit,
        metrics=RayJobMetrics(manager.registry),
    )


def build_rayservice(manager: Manager, dashboards: DashboardProvider, opts: OperatorOptions,
                     rng: random.Random, *,
                     cls: type[RayServiceReconciler] = RayServiceReconciler) -> Reconciler:
    """The RayService reconciler (``cls``: a subclass of it, built the same way)."""
    return cls(
        manager.client, manager.cache, manager.events, dashboards, clock=manager.clock,
        rng=rng, poll_interval=opts.service_poll_interval,
        metrics=RayServiceMetrics(manager.registry),
    )


_EVENTS = PolicyRule(("",), ("events",), ("create", "patch"))

CONTROLLER_TABLE: tuple[ControllerSpec, ...] = (
    ControllerSpec(
        "raycluster", RAYCLUSTER, build_raycluster, owns=(POD, SERVICE),
        rules=(
            PolicyRule(("ray.io",), ("rayclusters",), ("list", "watch")),
            PolicyRule(("ray.io",), ("rayclusters/status",), ("patch",)),
            # pods and Services it creates block their owner's foreground deletion
            PolicyRule(("ray.io",), ("rayclusters/finalizers",), ("update",)),
            PolicyRule(("",), ("pods",), ("list", "watch", "create", "delete")),
            PolicyRule(("",), ("services",), ("list", "watch", "create")),
            _EVENTS,
        ),
    ),
    ControllerSpec(
        "rayjob", RAYJOB, build_rayjob, owns=(RAYCLUSTER,),
        rules=(
            PolicyRule(("ray.io",), ("rayjobs",), ("list", "watch", "update")),
            PolicyRule(("ray.io",), ("rayjobs/status",), ("patch",)),
            PolicyRule(("ray.io",), ("rayjobs/finalizers",), ("update",)),
            PolicyRule(("ray.io",), ("rayclusters",), ("list", "watch", "create", "delete")),
            _EVENTS,
        ),
    ),
    ControllerSpec(
        "rayservice", RAYSERVICE, build_rayservice, owns=(RAYCLUSTER, SERVICE), reads=(POD,),
        rules=(
            # one live get confirms the cache before a Service is re-pointed or a cluster deleted
            PolicyRule(("ray.io",), ("rayservices",), ("get", "list", "watch", "update")),
            PolicyRule(("ray.io",), ("rayservices/status",), ("patch",)),
            PolicyRule(("ray.io",), ("rayservices/finalizers",), ("update",)),
            PolicyRule(("ray.io",), ("rayclusters",),
                       ("list", "watch", "create", "update", "patch", "delete")),
            PolicyRule(("",), ("services",), ("list", "watch", "create", "update", "delete")),
            PolicyRule(("",), ("pods",), ("list", "watch", "patch")),
            _EVENTS,
        ),
    ),
)
"""rayop's controllers, in the order they are added."""

CONTROLLERS: tuple[str, ...] = tuple(spec.name for spec in CONTROLLER_TABLE)
"""The controllers rayop has, by name."""

READS: dict[str, tuple[Kind, ...]] = {
    spec.name: (spec.kind, *spec.owns, *spec.reads) for spec in CONTROLLER_TABLE}
"""The kinds each controller's reconciler reads from the cache; each gets a started informer."""

SELECTOR_KINDS: frozenset[Kind] = RAY_KINDS
"""The kinds ``--selector`` restricts: those whose objects carry the user's labels."""

def resolve(controllers: Iterable[str | ControllerSpec],
            table: Iterable[ControllerSpec] = CONTROLLER_TABLE) -> list[ControllerSpec]:
    """The specs for ``controllers``: names looked up in ``table``, specs taken as they are."""
    known: Mapping[str, ControllerSpec] = {spec.name: spec for spec in table}
    wanted = list(controllers)
    unknown = sorted(c for c in wanted if isinstance(c, str) and c not in known)
    if unknown:
        raise ValueError(f"unknown controllers: {', '.join(unknown)} (known: {tuple(known)})")
    return [known[c] if isinstance(c, str) else c for c in wanted]


def add_ray_controllers(
    manager: Manager,
    dashboards: DashboardProvider,
    *,
    controllers: Iterable[str | ControllerSpec] = CONTROLLERS,
    options: OperatorOptions | None = None,
) -> list[Controller]:
    """Register the named controllers (or the given specs) on ``manager``; return them in order.

    Each reconciler gets its own random generator drawn from ``options.seed``, and its failures
    reported as Warning Events on the object. Its dashboards are fenced
    (:class:`~rayop.ray.dashboard.FencedDashboards`): no submit, stop or Serve apply once the
    manager no longer leads.
    """
    opts = options or OperatorOptions()
    specs = resolve(controllers)
    # Ray calls that act are fenced like the manager's API writes: none once the lease is gone
    dashboards = FencedDashboards(dashboards, lambda: manager.is_leader)
    manager.events.find_secrets_with(runtime_env_secrets)
    rng = random.Random(opts.seed)
    added: list[Controller] = []
    for spec in specs:
        reconciler = spec.build(manager, dashboards, opts, random.Random(rng.getrandbits(64)))
        reported = FailureEvents(reconciler, kind=spec.kind, cache=manager.cache,
                                 events=manager.events)
        added.append(manager.add_controller(
            spec.name, reported, for_kind=spec.kind, owns=spec.owns, watches=spec.watches,
            max_concurrent_reconciles=opts.max_concurrent_reconciles,
            reconcile_timeout=opts.reconcile_timeout,
        ))
    for spec in specs:
        for kind in spec.reads:
            manager.informer(kind)  # read but not watched (RayService reads Pods): still cached
    return added
