"""The RayService reconciler: Serve applications on a RayCluster, upgraded with zero downtime.

One reconcile reads once — an :class:`Observation`, frozen: the RayService, its spec, its status
and its clusters as the cache shows them — then runs these phases in order, each a small method.
The deciding phases are pure and return typed decisions (:class:`Health`, :class:`Plan`,
:class:`Serving`); the acting ones return what they wrote (clusters created or annotated), which
the later phases are handed explicitly, as are the cluster :class:`Names` after a switch. The
status is written once, at the end, and only when it changed::

    validate ─► finalizer ─► suspend? ─► plan ─► build ─► serve ─► label ─► switch ─► Services
                                          │                                             │
                                          └─ names a cluster: write status, come back    ▼
                                                                   health ─► clean up ─► status

- **plan** compares the desired ``rayClusterConfig`` hash with the clusters' annotations
  (:func:`~rayop.reconcilers.rayservice.hash.cluster_action`): name a pending cluster, replace or
  drop it, or update the active one in place (worker groups appended). A new name is written to
  status — with the object's resourceVersion as a precondition — *before* the cluster is built,
  so a restart or a stale cache never builds two.
- **serve** reads each ready cluster's applications and applies the Serve config where the
  cluster does not run it (read back from Ray, so restarts neither resubmit nor miss changes).
- **switch**: once every application on the pending cluster is RUNNING and its pods carry
  ``ray.io/serve=true``, the head and serve Services are pointed at it (one update each), it
  becomes active, and the old cluster is annotated ``rayop.io/delete-after`` — a deadline kept on
  the object, so a manager restart neither loses nor resets it.
- **health**: the active cluster unhealthy longer than ``deploymentUnhealthySecondThreshold``
  (since the ``ServeHealthy`` condition's lastTransitionTime) is replaced the same way and
  counted; past ``deploymentUnhealthyRestartThreshold`` the service is FAILED until its spec
  changes. ``docs/rayservice.md`` tells the whole story.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import structlog

from rayop.ray.dashboard import DashboardError, DashboardProvider
from rayop.ray.kinds import RAYCLUSTER, RAYSERVICE
from rayop.ray.resources.rayservice import (
    CONDITION_UPGRADE_IN_PROGRESS,
    DEFAULT_CLUSTER_DELETION_DELAY_SECONDS,
    DEFAULT_UNHEALTHY_RESTART_THRESHOLD,
    RayServiceSpec,
    RayServiceStatus,
)
from rayop.reconcilers.rayservice.actions import Actions
from rayop.reconcilers.rayservice.hash import ClusterAction, cluster_action, cluster_annotations
from rayop.reconcilers.rayservice.metrics import RayServiceMetrics
from rayop.reconcilers.rayservice.serve import (
    ServeView,
    all_running,
    app_health,
    application_statuses,
    can_serve,
    deployment_statuses,
    needs_apply,
    parse_service,
    serve_label,
    unhealthy_reason,
)
from rayop.reconcilers.rayservice.services import (
    build_cluster,
    build_head_service,
    build_serve_service,
    head_service_name,
    serve_service_name,
)
from rayop.reconcilers.rayservice.status import (
    COND_SERVE_HEALTHY,
    REASON_RESTARTS_EXCEEDED,
    REASON_VALIDATION_FAILED,
    cluster_entry,
    invalid_status,
    ready_condition,
    seed_status,
    service_status,
    unhealthy_seconds,
    upgrade_condition,
)
from rayop.runtime.cache import Cache
from rayop.runtime.client import ClusterClient, Obj
from rayop.runtime.clock import Clock, format_time, parse_time
from rayop.runtime.conditions import ConditionUpdate, apply_conditions, condition_since
from rayop.runtime.errors import AlreadyExists, NotFound
from rayop.runtime.events import EventRecorder
from rayop.runtime.finalizers import Finalizer
from rayop.runtime.reconcile import Request, Result
from rayop.runtime.status import StatusWriter, spec_rejected

__all__ = [
    "DELETE_AFTER_ANNOTATION",
    "FINALIZER",
    "Health",
    "Names",
    "Observation",
    "Plan",
    "RayServiceReconciler",
    "Serving",
    "Step",
    "live",
]

FINALIZER = "ray.io/rayservice-finalizer"
DELETE_AFTER_ANNOTATION = "rayop.io/delete-after"
_log = structlog.get_logger("rayop.rayservice")


@dataclass
class Step:
    """What one reconcile decided: status fields (None deletes one), conditions, next look."""

    status: Obj = field(default_factory=dict)
    conditions: list[ConditionUpdate] = field(default_factory=list)
    requeue_after: float | None = None

    def later(self, seconds: float) -> None:
        """Come back after ``seconds`` at the latest."""
        seconds = max(seconds, 0.0)
        self.requeue_after = seconds if self.requeue_after is None else min(
            self.requeue_after, seconds)


@dataclass(frozen=True)
class Names:
    """Which cluster serves and which is being prepared ("": none)."""

    active: str
    pending: str


@dataclass(frozen=True)
class Observation:
    """What one reconcile read, once, before deciding anything; no phase changes it."""

    svc: Obj
    spec: RayServiceSpec
    config: Obj
    status: Mapping[str, Any]
    now: datetime
    clusters: Mapping[str, Obj]
    """The RayClusters this RayService controls, by name, as the cache showed them."""
    names: Names
    failed: bool
    """The service gave up (restarts exceeded) for this generation of the spec."""

    @property
    def namespace(self) -> str:
        """The RayService's namespace."""
        return str(self.svc["metadata"]["namespace"])


@dataclass(frozen=True)
class Health:
    """The health phase's decision about the active cluster."""

    replace: bool = False
    """Unhealthy for longer than the threshold, replacements left: replace it now."""
    give_up: str | None = None
    """Unhealthy for longer than the threshold, no replacements left: why the service FAILED."""


@dataclass(frozen=True)
class Plan:
    """The plan phase's decision: what to do with the clusters (see ``hash.cluster_action``)."""

    action: ClusterAction
    replace: bool
    """The pending cluster, if one is named, replaces an unhealthy active cluster."""

    @property
    def hold(self) -> bool:
        """The spec changed, but ``upgradeStrategy: None`` keeps the active cluster."""
        return self.action == ClusterAction.HOLD

    @property
    def names_pending(self) -> bool:
        """A pending cluster is named, replaced or dropped: status first, then anything else."""
        return self.action in (ClusterAction.CREATE_PENDING, ClusterAction.REPLACE_PENDING,
                               ClusterAction.DROP_PENDING)


@dataclass(frozen=True)
class Serving:
    """One cluster's pods as the serve Service sees them."""

    endpoints: int
    """Pods labelled ``ray.io/serve=true`` (the serve Service's endpoints)."""
    settled: bool
    """Every pod carries the label it should, and at least one serves."""


def live(clusters: Mapping[str, Obj], name: str) -> Obj | None:
    """The cluster ``name`` unless it is absent or being deleted."""
    cluster = clusters.get(name) if name else None
    return None if cluster is None or cluster["metadata"].get("deletionTimestamp") else cluster


class _Confirmation:
    """Whether the RayService the cache showed is the API server's current version; asked once.

    Asked before acting in ways a stale read must never cause — pointing the Services elsewhere,
    deleting a cluster: a cache can lag by a whole upgrade (a restarted informer's list from a
    watch cache), and its view of which cluster serves would then be wrong.
    """

    def __init__(self, client: ClusterClient, svc: Obj) -> None:
        self._client = client
        self._svc = svc
        self._answer: bool | None = None

    async def __call__(self) -> bool:
        if self._answer is None:
            meta = self._svc["metadata"]
            try:
                current = await self._client.get(RAYSERVICE, meta["name"],
                                                 namespace=meta["namespace"])
            except NotFound:
                current = None
            self._answer = current is not None and (
                current["metadata"]["resourceVersion"] == meta["resourceVersion"])
        return self._answer


class RayServiceReconciler:
    """Reconciles ``ray.io/v1`` RayServices: clusters, Serve, Services, upgrades, health."""

    def __init__(
        self,
        client: ClusterClient,
        cache: Cache,
        events: EventRecorder,
        dashboards: DashboardProvider,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        poll_interval: float = 2.0,
        metrics: RayServiceMetrics | None = None,
    ) -> None:
        self.client = client
        self.cache = cache
        self.events = events
        self.dashboards = dashboards
        self.clock = clock
        self.rng = rng or random.Random()
        self.poll_interval = poll_interval
        self.act = Actions(client, cache, events)
        self.metrics = metrics or RayServiceMetrics()
        self.status = StatusWriter(client, RAYSERVICE, events=events, clock=clock,
                                   stamp="lastUpdateTime")
        self.finalizer = Finalizer(client, RAYSERVICE, FINALIZER)

    async def reconcile(self, request: Request) -> Result:
        """Take the RayService named by ``request`` one step towards serving its spec."""
        svc = self.cache.get(RAYSERVICE, request.name, namespace=request.namespace)
        if svc is None:
            return Result()
        if svc["metadata"].get("deletionTimestamp"):
            return await self.finalizer.run(svc, apply=_never, cleanup=self._cleanup)
        if spec_rejected(svc):
            return Result()  # no retry loop: wait for the spec to change
        parsed = parse_service(svc)
        if isinstance(parsed, list):
            status = svc.get("status") or {}
            await self.status.reject(svc, parsed, invalid_status(
                status, "; ".join(parsed), generation=svc["metadata"].get("generation"),
                now=self.clock.now()))
            return Result()

        async def apply(svc: Obj) -> Result:
            obs = self._observe(svc, *parsed)
            step = await (self._suspend(obs) if obs.spec.suspend else self._run(obs))
            await self._write(obs, step)
            return Result(requeue_after=step.requeue_after)

        return await self.finalizer.run(svc, apply=apply, cleanup=self._cleanup)

    def _observe(self, svc: Obj, spec: RayServiceSpec, config: Obj) -> Observation:
        status = dict(svc.get("status") or {})
        owned = self.cache.owned_by(RAYCLUSTER, svc["metadata"]["uid"])
        clusters = {c["metadata"]["name"]: c for c in owned
                    if c["metadata"].get("namespace") == svc["metadata"]["namespace"]}
        fresh = status.get("observedGeneration") != svc["metadata"].get("generation")
        return Observation(
            svc, spec, config, MappingProxyType(status), self.clock.now(),
            MappingProxyType(clusters),
            Names(
                active=str((status.get("activeServiceStatus") or {}).get("rayClusterName") or ""),
                pending=str((status.get("pendingServiceStatus") or {}).get("rayClusterName")
                            or "")),
            failed=status.get("reason") == REASON_RESTARTS_EXCEEDED and not fresh,
        )

    # -- the serving path ----------------------------------------------------------------------

    async def _run(self, obs: Observation) -> Step:
        step = Step()
        self._bookkeeping(obs, step)
        health = self._judge_health(obs, step)
        if health.give_up is not None:
            self.events.warning(obs.svc, "Failed", health.give_up)
            step.status.update(reason=REASON_RESTARTS_EXCEEDED, message=health.give_up,
                               endTime=format_time(obs.now))
        failed = obs.failed or health.give_up is not None
        plan = self._plan(obs, health)
        clusters = dict(obs.clusters)
        if plan.action == ClusterAction.UPDATE_ACTIVE and live(clusters, obs.names.active):
            clusters[obs.names.active] = await self.act.update_in_place(
                obs.svc, clusters[obs.names.active])
            self.metrics.upgraded(obs.namespace, "in_place")
        if plan.names_pending:
            self._name_pending(obs, step, plan)
            return step  # a cluster was named or dropped: record it before anything else
        names = obs.names
        clusters |= await self._build(obs, names, clusters)
        active = await self._serve(obs, clusters, names.active, may_apply=not names.pending)
        pending = await self._serve(obs, clusters, names.pending, may_apply=True)
        serving = await self._label_pods(obs, [v for v in (active, pending) if v is not None])
        confirm = _Confirmation(self.client, obs.svc)
        if pending is not None and self._ready_to_switch(obs, clusters, pending, serving):
            clusters |= await self._switch(obs, step, clusters)
            names, active, pending = Names(active=names.pending, pending=""), pending, None
        await self._ensure_services(obs, names, clusters, confirm)
        if (healthy := self._health_condition(obs, active)) is not None:
            step.conditions.append(healthy)
            if not healthy.status:
                step.later(min(self.poll_interval, unhealthy_seconds(obs.spec)))
        await self._clean_up(obs, step, names, clusters, confirm)
        self._summarise(obs, step, names, failed=failed, hold=plan.hold, active=active,
                        pending=pending,
                        endpoints=serving[active.cluster].endpoints if active else 0)
        if clusters or names.active or names.pending:
            step.later(self.poll_interval)
        return step

    def _bookkeeping(self, obs: Observation, step: Step) -> None:
        if obs.status.get("status") == "SUSPENDED":
            self.events.normal(obs.svc, "Resumed", "RayService resumed: starting over")
            step.status.update(startTime=format_time(obs.now), endTime=None)
        elif not obs.status.get("startTime"):
            step.status["startTime"] = format_time(obs.now)
        if obs.status.get("reason") == REASON_VALIDATION_FAILED:
            step.status.update(status="DEPLOYING", reason=None, message=None, endTime=None)
        if obs.status.get("observedGeneration") != obs.svc["metadata"].get("generation"):
            step.status["unhealthyReplacements"] = 0
            if obs.status.get("reason") == REASON_RESTARTS_EXCEEDED:
                step.status.update(reason=None, endTime=None)

    def _judge_health(self, obs: Observation, step: Step) -> Health:
        """Replace the active cluster, give up, or neither — decided, nothing written."""
        threshold = unhealthy_seconds(obs.spec)
        since = condition_since(obs.status, COND_SERVE_HEALTHY, "False")
        if (obs.failed or not obs.names.active or obs.names.pending
                or since is None or (obs.now - parse_time(since)).total_seconds() < threshold):
            return Health()
        limit = obs.spec.deployment_unhealthy_restart_threshold
        limit = DEFAULT_UNHEALTHY_RESTART_THRESHOLD if limit is None else limit
        done = _replacements(obs, step)
        if done < limit:
            return Health(replace=True)
        return Health(give_up=(
            f"RayCluster {obs.names.active} stayed unhealthy for more than {threshold} s "
            f"after {done} replacements (deploymentUnhealthyRestartThreshold {limit})"))

    def _plan(self, obs: Observation, health: Health) -> Plan:
        """What to do with the clusters, from the spec's hash and the clusters' annotations."""
        desired = obs.svc["spec"]["rayClusterConfig"]
        would_be = cluster_annotations(desired)
        active, pending = live(obs.clusters, obs.names.active), live(obs.clusters,
                                                                     obs.names.pending)
        action = cluster_action(
            desired=desired,
            active=_annotations(active, would_be) if obs.names.active else None,
            pending=_annotations(pending, would_be) if obs.names.pending else None,
            strategy=obs.spec.upgrade_strategy.type if obs.spec.upgrade_strategy else None,
            replace_unhealthy=health.replace,
        )
        return Plan(action, replace=health.replace)

    def _name_pending(self, obs: Observation, step: Step, plan: Plan) -> None:
        old = obs.names.pending
        new = "" if plan.action == ClusterAction.DROP_PENDING else \
            f"{obs.svc['metadata']['name']}-" + "".join(
                self.rng.choices(string.ascii_lowercase + string.digits, k=5))
        if plan.action == ClusterAction.DROP_PENDING:
            self.events.normal(obs.svc, "UpgradeCancelled", f"The active cluster matches the spec "
                               f"again: abandoning pending RayCluster {old}")
        elif plan.action == ClusterAction.REPLACE_PENDING:
            self.events.normal(obs.svc, "UpgradeRestarted", f"The spec changed during an "
                               f"upgrade: abandoning RayCluster {old} for {new}")
        elif plan.replace:
            count = _replacements(obs, step) + 1
            step.status["unhealthyReplacements"] = count
            self.events.warning(obs.svc, "ReplacingUnhealthyCluster", f"RayCluster "
                                f"{obs.names.active} stayed unhealthy: replacing it with {new} "
                                f"(replacement {count})")
        elif obs.names.active:
            self.events.normal(obs.svc, "UpgradeStarted", f"rayClusterConfig changed: preparing "
                               f"RayCluster {new} while {obs.names.active} serves")
        step.status["pendingServiceStatus"] = cluster_entry(new, {})
        step.conditions.append(upgrade_condition(obs.names.active, new, hold=False))
        step.later(0.0)

    async def _build(self, obs: Observation, names: Names, clusters: Mapping[str, Obj]
                     ) -> dict[str, Obj]:
        """Create the named clusters the cache does not show; return those created."""
        made: dict[str, Obj] = {}
        for name in (names.active, names.pending):
            if not name or name in clusters:
                continue
            try:
                made[name] = await self.client.create(
                    RAYCLUSTER, build_cluster(obs.svc, name), namespace=obs.namespace)
            except AlreadyExists:
                continue  # the cache is behind a create of ours
            self.events.normal(obs.svc, "CreatedRayCluster", f"Created RayCluster {name}")
        return made

    async def _serve(self, obs: Observation, clusters: Mapping[str, Obj], name: str, *,
                     may_apply: bool) -> ServeView | None:
        """What cluster ``name`` serves, after applying the Serve config where it is missing."""
        if not name:
            return None
        if not can_serve(live(clusters, name)):
            return ServeView(name, ready=False)
        dashboard = self.dashboards.for_cluster(obs.namespace, name)
        try:
            details = await dashboard.get_serve_applications()
            empty = not ServeView(name, True, details).apps()
            if (may_apply or empty) and needs_apply(obs.config, details):
                await dashboard.apply_serve_config(obs.config)
                self.events.normal(obs.svc, "ServeConfigApplied",
                                   f"Applied the Serve config to RayCluster {name}")
                details = await dashboard.get_serve_applications()
        except DashboardError as err:
            self.events.warning(obs.svc, "DashboardError", f"RayCluster {name}: {err}")
            return ServeView(name, True, None, str(err))
        return ServeView(name, True, details)

    async def _label_pods(self, obs: Observation, views: list[ServeView]) -> dict[str, Serving]:
        """Set ``ray.io/serve`` on each cluster's pods; say how each cluster serves."""
        out: dict[str, Serving] = {}
        for view in views:
            want = serve_label(view)
            # "Not ready" read from the cache takes serving pods out only once the API server
            # says so too: a leader whose watch lags would otherwise cut live traffic.
            confirm = (functools.partial(self._cannot_serve_live, obs, view.cluster)
                       if want == "false" and not view.ready else None)
            changed, serving = await self.act.label_pods(
                obs.svc, view.cluster, want,
                exclude_head=bool(obs.spec.exclude_head_pod_from_serve_svc),
                confirm_removal=confirm)
            out[view.cluster] = Serving(endpoints=serving, settled=changed == 0 and serving > 0)
        return out

    async def _cannot_serve_live(self, obs: Observation, name: str) -> bool:
        """True when the API server, not only the cache, says cluster ``name`` cannot serve.

        The RayCluster read live, then its head pod: a RayCluster status written from a lagging
        pod cache (by a new leader) can say "not ready" while the head pod serves.
        """
        try:
            fresh = await self.client.get(RAYCLUSTER, name, namespace=obs.namespace)
        except NotFound:
            return True
        if fresh["metadata"].get("deletionTimestamp"):
            return True
        return not can_serve(fresh) and not await self.act.head_ready_live(obs.namespace, name)

    def _ready_to_switch(self, obs: Observation, clusters: Mapping[str, Obj],
                         pending: ServeView, serving: Mapping[str, Serving]) -> bool:
        """True when the pending cluster may take over (KubeRay's rule).

        Once its head is ready and every application runs on it. Workers are not waited for: a
        worker that hosts no replica runs no Serve proxy, so its readiness probe (which asks the
        proxy) keeps it unready.
        """
        return (all_running(pending, obs.config) and serving[pending.cluster].settled
                and can_serve(live(clusters, pending.cluster)))

    async def _switch(self, obs: Observation, step: Step, clusters: Mapping[str, Obj]
                      ) -> dict[str, Obj]:
        """Make the pending cluster active; return the old one, annotated with its deadline."""
        old, new = obs.names.active, obs.names.pending
        delay = obs.spec.ray_cluster_deletion_delay_seconds
        delay = DEFAULT_CLUSTER_DELETION_DELAY_SECONDS if delay is None else delay
        written: dict[str, Obj] = {}
        cluster = live(clusters, old)
        if cluster is not None:
            when = format_time(obs.now + timedelta(seconds=delay))
            written[old] = await self.act.annotate(cluster, DELETE_AFTER_ANNOTATION, when)
        step.conditions.append(ConditionUpdate(COND_SERVE_HEALTHY, True, "Serving"))
        self.metrics.upgraded(obs.namespace, "upgrade" if old else "first")
        tail = f"; RayCluster {old} is deleted after {delay} s" if old else ""
        self.events.normal(obs.svc, "SwitchedTraffic", f"RayCluster {new} serves{tail}")
        return written

    async def _ensure_services(self, obs: Observation, names: Names,
                               clusters: Mapping[str, Obj], confirm: _Confirmation) -> None:
        """Point the head and serve Services at the active cluster."""
        cluster = live(clusters, names.active)
        if cluster is not None:
            await self.act.upsert_service(obs.svc, build_head_service(obs.svc, cluster),
                                          names.active, confirm=confirm)
            await self.act.upsert_service(obs.svc, build_serve_service(obs.svc, names.active),
                                          names.active, confirm=confirm)

    def _health_condition(self, obs: Observation, active: ServeView | None
                          ) -> ConditionUpdate | None:
        """``ServeHealthy`` of the active cluster (None: no cluster serves)."""
        if active is None:
            return None
        reason = unhealthy_reason(active)
        return ConditionUpdate(COND_SERVE_HEALTHY, reason is None,
                               "Healthy" if reason is None else "Unhealthy", reason or "")

    async def _clean_up(self, obs: Observation, step: Step, names: Names,
                        clusters: Mapping[str, Obj], confirm: _Confirmation) -> None:
        keep = {names.active, names.pending}
        for name, cluster in sorted(clusters.items()):
            if name in keep or cluster["metadata"].get("deletionTimestamp"):
                continue
            after = (cluster["metadata"].get("annotations") or {}).get(DELETE_AFTER_ANNOTATION)
            if after:
                wait = (parse_time(after) - obs.now).total_seconds()
                if wait > 0:
                    step.later(wait)
                    continue
            if not await confirm():
                step.later(1.0)  # the cache is behind: decide again once it has caught up
                return
            why = "its deletion delay passed" if after else "abandoned before it served"
            await self.act.delete(obs.svc, RAYCLUSTER, name, why)
        await self.act.delete_other_services(obs.svc, keep=_service_names(obs.svc))

    def _summarise(self, obs: Observation, step: Step, names: Names, *, failed: bool, hold: bool,
                   active: ServeView | None, pending: ServeView | None, endpoints: int) -> None:
        main = active or pending
        health, message = app_health(main, active=main is active) if main else (
            "DEPLOYING", "preparing the RayCluster")
        seed = seed_status(failed=failed, suspended=False, serving=active is not None,
                           health=health, endpoints=endpoints)
        step.status.update(
            status=seed, serviceStatus=service_status(seed), rayClusterName=names.active or None,
            appStatus={"status": health, "message": message}, numServeEndpoints=endpoints,
            activeServiceStatus=_entry(obs, "activeServiceStatus", active),
            pendingServiceStatus=_entry(obs, "pendingServiceStatus", pending),
        )
        if main is not None and main.details is not None:
            step.status["deploymentStatuses"] = deployment_statuses(main.details)
        if not failed:
            step.status.update(message=message, reason=None)
        step.conditions.append(
            ready_condition(seed, reason=REASON_RESTARTS_EXCEEDED, message=message))
        step.conditions.append(upgrade_condition(names.active, names.pending, hold=hold))

    # -- suspend, delete -------------------------------------------------------------------------

    async def _suspend(self, obs: Observation) -> Step:
        remaining = await self.act.delete_all(obs.svc, reason="suspended")
        step = Step(status={
            "status": "SUSPENDED", "serviceStatus": "", "rayClusterName": None,
            "activeServiceStatus": None, "pendingServiceStatus": None, "numServeEndpoints": 0,
            "appStatus": None, "deploymentStatuses": None, "message": "suspended", "reason": None,
            "endTime": obs.status.get("endTime") if obs.status.get("status") == "SUSPENDED"
            else format_time(obs.now),
        })
        if obs.status.get("status") != "SUSPENDED":
            self.events.normal(obs.svc, "Suspended", "RayService suspended: clusters and "
                               "Services deleted")
        step.conditions += [ready_condition("SUSPENDED"),
                            ConditionUpdate(CONDITION_UPGRADE_IN_PROGRESS, False, "Suspended")]
        if remaining:
            step.later(self.poll_interval)
        return step

    async def _cleanup(self, svc: Obj) -> Result | None:
        """Before a RayService goes: its clusters and Services first (None: all gone)."""
        if await self.act.delete_all(svc, reason="the RayService is being deleted"):
            return Result(requeue_after=self.poll_interval)
        self.metrics.forget(svc["metadata"]["namespace"], svc["metadata"]["name"])
        return None

    # -- writing ---------------------------------------------------------------------------------

    async def _write(self, obs: Observation, step: Step) -> None:
        generation = obs.svc["metadata"].get("generation")
        new = {**obs.status, **step.status}
        apply_conditions(new, step.conditions, generation=generation, now=obs.now)
        new["observedGeneration"] = generation
        # Optimistic, as every status write: one decided on a stale read (which cluster serves,
        # which is pending) must not overwrite what a fresher pass wrote.
        if not await self.status.write(obs.svc, RayServiceStatus.model_validate(new)):
            return
        start = new.get("startTime")
        self.metrics.observe_status(
            obs.namespace, obs.svc["metadata"]["name"], before=obs.status.get("status"),
            after=str(new.get("status")),
            since_start=(obs.now - parse_time(start)).total_seconds() if start else None)


def _replacements(obs: Observation, step: Step) -> int:
    return int(step.status.get("unhealthyReplacements",
                               obs.status.get("unhealthyReplacements")) or 0)


def _entry(obs: Observation, key: str, view: ServeView | None) -> Obj | None:
    """A cluster's status entry; what it last said when the cluster did not answer now."""
    if view is None:
        return None
    previous = obs.status.get(key) or {}
    if view.details is None and previous.get("rayClusterName") == view.cluster:
        return cluster_entry(view.cluster, previous.get("applicationStatuses") or {})
    return cluster_entry(view.cluster, application_statuses(view.details))


def _annotations(cluster: Obj | None, would_be: dict[str, str]) -> dict[str, str]:
    """A cluster's annotations; a named cluster not built yet will carry ``would_be``."""
    if cluster is None:
        return would_be
    return dict(cluster["metadata"].get("annotations") or {})


def _service_names(svc: Obj) -> set[str]:
    return {head_service_name(svc["metadata"]["name"]), serve_service_name(svc)}


async def _never(svc: Obj) -> Result:
    """``apply`` of an object being deleted: :meth:`Finalizer.run` never calls it."""
    raise AssertionError("apply called for a RayService being deleted")
