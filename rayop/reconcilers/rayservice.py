"""The RayService reconciler: Serve applications on a RayCluster, upgraded with zero downtime.

One reconcile runs these phases in order, each a small method; the status is written once, at the
end, and only when it changed::

    validate ─► finalizer ─► suspend? ─► plan ─► build ─► serve ─► label ─► switch ─► Services
                                          │                                             │
                                          └─ names a cluster: write status, come back    ▼
                                                                   health ─► clean up ─► status

- **plan** compares the desired ``rayClusterConfig`` hash with the clusters' annotations
  (:func:`~rayop.reconcilers.rayservice_hash.cluster_action`): name a pending cluster, replace or
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

import random
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from ..cache import Cache
from ..client import RAYCLUSTER, RAYSERVICE, ClusterClient, Obj
from ..clock import Clock, format_time, parse_time
from ..dashboard import DashboardProvider
from ..errors import AlreadyExists, DashboardError, NotFound
from ..events import EventRecorder
from ..reconcile import Request, Result
from ..resources.rayservice import (
    CONDITION_READY,
    CONDITION_UPGRADE_IN_PROGRESS,
    DEFAULT_CLUSTER_DELETION_DELAY_SECONDS,
    DEFAULT_UNHEALTHY_RESTART_THRESHOLD,
    RayServiceSpec,
)
from .rayjob_status import condition_since, with_condition
from .rayservice_actions import Actions
from .rayservice_hash import ClusterAction, cluster_action, cluster_annotations
from .rayservice_metrics import RayServiceMetrics
from .rayservice_serve import (
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
from .rayservice_services import (
    build_cluster,
    build_head_service,
    build_serve_service,
    head_service_name,
    serve_service_name,
)
from .rayservice_status import (
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
from .status_util import merge_patch_between

__all__ = ["DELETE_AFTER_ANNOTATION", "FINALIZER", "RayServiceReconciler", "Step"]

FINALIZER = "ray.io/rayservice-finalizer"
DELETE_AFTER_ANNOTATION = "rayop.io/delete-after"
_log = structlog.get_logger("rayop.rayservice")


@dataclass
class Step:
    """What one reconcile decided: status fields (None deletes one), conditions, next look."""

    status: Obj = field(default_factory=dict)
    conditions: list[tuple[str, bool, str, str]] = field(default_factory=list)
    requeue_after: float | None = None
    names_changed: bool = False

    def later(self, seconds: float) -> None:
        """Come back after ``seconds`` at the latest."""
        seconds = max(seconds, 0.0)
        self.requeue_after = seconds if self.requeue_after is None else min(
            self.requeue_after, seconds)


@dataclass
class _Ctx:
    svc: Obj
    spec: RayServiceSpec
    config: Obj
    status: Obj
    now: datetime
    clusters: dict[str, Obj]
    active_name: str
    pending_name: str
    failed: bool = False
    hold: bool = False
    confirmed: bool | None = None  # the cache's RayService matched a live read (None: not asked)

    @property
    def namespace(self) -> str:
        return str(self.svc["metadata"]["namespace"])

    def live(self, name: str) -> Obj | None:
        cluster = self.clusters.get(name) if name else None
        return None if cluster is None or cluster["metadata"].get("deletionTimestamp") else cluster


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

    async def reconcile(self, request: Request) -> Result:
        """Take the RayService named by ``request`` one step towards serving its spec."""
        svc = self.cache.get(RAYSERVICE, request.name, namespace=request.namespace)
        if svc is None:
            return Result()
        if svc["metadata"].get("deletionTimestamp"):
            return await self._finalize(svc)
        status = dict(svc.get("status") or {})
        generation = svc["metadata"].get("generation")
        if (status.get("reason") == REASON_VALIDATION_FAILED
                and status.get("observedGeneration") == generation):
            return Result()  # no retry loop: wait for the spec to change
        parsed = parse_service(svc)
        if isinstance(parsed, list):
            await self._invalid(svc, parsed)
            return Result()
        if FINALIZER not in (svc["metadata"].get("finalizers") or []):
            await self.act.set_finalizer(svc, FINALIZER, present=True)
            return Result()
        ctx = self._context(svc, *parsed, status)
        step = await (self._suspend(ctx) if ctx.spec.suspend else self._run(ctx))
        await self._write(ctx, step)
        return Result(requeue_after=step.requeue_after)

    def _context(self, svc: Obj, spec: RayServiceSpec, config: Obj, status: Obj) -> _Ctx:
        owned = self.cache.owned_by(RAYCLUSTER, svc["metadata"]["uid"])
        clusters = {c["metadata"]["name"]: c for c in owned
                    if c["metadata"].get("namespace") == svc["metadata"]["namespace"]}
        fresh = status.get("observedGeneration") != svc["metadata"].get("generation")
        return _Ctx(
            svc, spec, config, status, self.clock.now(), clusters,
            active_name=str((status.get("activeServiceStatus") or {}).get("rayClusterName") or ""),
            pending_name=str((status.get("pendingServiceStatus") or {}).get("rayClusterName")
                             or ""),
            failed=status.get("reason") == REASON_RESTARTS_EXCEEDED and not fresh,
        )

    # -- the serving path ----------------------------------------------------------------------

    async def _run(self, ctx: _Ctx) -> Step:
        step = Step()
        self._bookkeeping(ctx, step)
        if await self._plan(ctx, step):
            return step  # a cluster was named or dropped: record it before anything else
        await self._build(ctx)
        active = await self._observe(ctx, ctx.active_name, may_apply=not ctx.pending_name)
        pending = await self._observe(ctx, ctx.pending_name, may_apply=True)
        serving = await self._label_pods(ctx, [v for v in (active, pending) if v is not None])
        # KubeRay's rule: the pending cluster takes over once its head is ready and every
        # application runs on it. Workers are not waited for: a worker that hosts no replica
        # runs no Serve proxy, so its readiness probe (which asks the proxy) keeps it unready.
        if (pending is not None and all_running(pending, ctx.config)
                and serving[pending.cluster][1] and can_serve(ctx.live(pending.cluster))):
            await self._switch(ctx, step)
            active, pending = pending, None
        await self._ensure_services(ctx)
        self._health(ctx, step, active)
        await self._clean_up(ctx, step)
        endpoints = serving[active.cluster][0] if active is not None else 0
        self._summarise(ctx, step, active, pending, endpoints)
        return step

    def _bookkeeping(self, ctx: _Ctx, step: Step) -> None:
        if ctx.status.get("status") == "SUSPENDED":
            self.events.normal(ctx.svc, "Resumed", "RayService resumed: starting over")
            step.status.update(startTime=format_time(ctx.now), endTime=None)
        elif not ctx.status.get("startTime"):
            step.status["startTime"] = format_time(ctx.now)
        if ctx.status.get("reason") == REASON_VALIDATION_FAILED:
            step.status.update(status="DEPLOYING", reason=None, message=None, endTime=None)
        if ctx.status.get("observedGeneration") != ctx.svc["metadata"].get("generation"):
            step.status["unhealthyReplacements"] = 0
            if ctx.status.get("reason") == REASON_RESTARTS_EXCEEDED:
                step.status.update(reason=None, endTime=None)

    async def _plan(self, ctx: _Ctx, step: Step) -> bool:
        """Decide the clusters; True when a name changed and must be written first."""
        replace = self._replacement_due(ctx, step)
        desired = ctx.svc["spec"]["rayClusterConfig"]
        would_be = cluster_annotations(desired)
        active, pending = ctx.live(ctx.active_name), ctx.live(ctx.pending_name)
        action = cluster_action(
            desired=desired,
            active=_annotations(active, would_be) if ctx.active_name else None,
            pending=_annotations(pending, would_be) if ctx.pending_name else None,
            strategy=ctx.spec.upgrade_strategy.type if ctx.spec.upgrade_strategy else None,
            replace_unhealthy=replace,
        )
        ctx.hold = action == ClusterAction.HOLD
        if action == ClusterAction.UPDATE_ACTIVE and active is not None:
            ctx.clusters[ctx.active_name] = await self.act.update_in_place(ctx.svc, active)
            self.metrics.upgraded(ctx.namespace, "in_place")
        if action not in (ClusterAction.CREATE_PENDING, ClusterAction.REPLACE_PENDING,
                          ClusterAction.DROP_PENDING):
            return False
        self._name_pending(ctx, step, action, replace)
        return True

    def _name_pending(self, ctx: _Ctx, step: Step, action: ClusterAction, replace: bool) -> None:
        old = ctx.pending_name
        new = "" if action == ClusterAction.DROP_PENDING else f"{ctx.svc['metadata']['name']}-" \
            + "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=5))
        if action == ClusterAction.DROP_PENDING:
            self.events.normal(ctx.svc, "UpgradeCancelled", f"The active cluster matches the spec "
                               f"again: abandoning pending RayCluster {old}")
        elif action == ClusterAction.REPLACE_PENDING:
            self.events.normal(ctx.svc, "UpgradeRestarted", f"The spec changed during an "
                               f"upgrade: abandoning RayCluster {old} for {new}")
        elif replace:
            count = _replacements(ctx, step) + 1
            step.status["unhealthyReplacements"] = count
            self.events.warning(ctx.svc, "ReplacingUnhealthyCluster", f"RayCluster "
                                f"{ctx.active_name} stayed unhealthy: replacing it with {new} "
                                f"(replacement {count})")
        elif ctx.active_name:
            self.events.normal(ctx.svc, "UpgradeStarted", f"rayClusterConfig changed: preparing "
                               f"RayCluster {new} while {ctx.active_name} serves")
        step.status["pendingServiceStatus"] = cluster_entry(new, {})
        step.conditions.append(upgrade_condition(ctx.active_name, new, hold=False))
        step.names_changed = True
        step.later(0.0)

    def _replacement_due(self, ctx: _Ctx, step: Step) -> bool:
        threshold = unhealthy_seconds(ctx.spec)
        since = condition_since(ctx.status, COND_SERVE_HEALTHY, "False")
        if (ctx.failed or not ctx.active_name or ctx.pending_name
                or since is None or (ctx.now - parse_time(since)).total_seconds() < threshold):
            return False
        limit = ctx.spec.deployment_unhealthy_restart_threshold
        limit = DEFAULT_UNHEALTHY_RESTART_THRESHOLD if limit is None else limit
        done = _replacements(ctx, step)
        if done < limit:
            return True
        message = (f"RayCluster {ctx.active_name} stayed unhealthy for more than {threshold} s "
                   f"after {done} replacements (deploymentUnhealthyRestartThreshold {limit})")
        self.events.warning(ctx.svc, "Failed", message)
        ctx.failed = True
        step.status.update(reason=REASON_RESTARTS_EXCEEDED, message=message,
                           endTime=format_time(ctx.now))
        return False

    async def _build(self, ctx: _Ctx) -> None:
        for name in (ctx.active_name, ctx.pending_name):
            if not name or name in ctx.clusters:
                continue
            try:
                ctx.clusters[name] = await self.client.create(
                    RAYCLUSTER, build_cluster(ctx.svc, name), namespace=ctx.namespace)
            except AlreadyExists:
                continue  # the cache is behind a create of ours
            self.events.normal(ctx.svc, "CreatedRayCluster", f"Created RayCluster {name}")

    async def _observe(self, ctx: _Ctx, name: str, *, may_apply: bool) -> ServeView | None:
        if not name:
            return None
        if not can_serve(ctx.live(name)):
            return ServeView(name, ready=False)
        dashboard = self.dashboards.for_cluster(ctx.namespace, name)
        try:
            details = await dashboard.get_serve_applications()
            empty = not ServeView(name, True, details).apps()
            if (may_apply or empty) and needs_apply(ctx.config, details):
                await dashboard.apply_serve_config(ctx.config)
                self.events.normal(ctx.svc, "ServeConfigApplied",
                                   f"Applied the Serve config to RayCluster {name}")
                details = await dashboard.get_serve_applications()
        except DashboardError as err:
            self.events.warning(ctx.svc, "DashboardError", f"RayCluster {name}: {err}")
            return ServeView(name, True, None, str(err))
        return ServeView(name, True, details)

    async def _label_pods(self, ctx: _Ctx, views: list[ServeView]) -> dict[str, tuple[int, bool]]:
        """Set ``ray.io/serve`` on each cluster's pods; per cluster (serving pods, settled)."""
        out: dict[str, tuple[int, bool]] = {}
        for view in views:
            want = serve_label(view)
            changed, serving = await self.act.label_pods(
                ctx.svc, view.cluster, want,
                exclude_head=bool(ctx.spec.exclude_head_pod_from_serve_svc))
            out[view.cluster] = (serving, changed == 0 and serving > 0)
        return out

    async def _switch(self, ctx: _Ctx, step: Step) -> None:
        old, new = ctx.active_name, ctx.pending_name
        delay = ctx.spec.ray_cluster_deletion_delay_seconds
        delay = DEFAULT_CLUSTER_DELETION_DELAY_SECONDS if delay is None else delay
        cluster = ctx.live(old)
        if cluster is not None:
            when = format_time(ctx.now + timedelta(seconds=delay))
            ctx.clusters[old] = await self.act.annotate(
                cluster, DELETE_AFTER_ANNOTATION, when)
        ctx.active_name, ctx.pending_name = new, ""
        step.names_changed = True
        step.conditions.append((COND_SERVE_HEALTHY, True, "Serving", ""))
        self.metrics.upgraded(ctx.namespace, "upgrade" if old else "first")
        tail = f"; RayCluster {old} is deleted after {delay} s" if old else ""
        self.events.normal(ctx.svc, "SwitchedTraffic", f"RayCluster {new} serves{tail}")

    async def _ensure_services(self, ctx: _Ctx) -> None:
        cluster = ctx.live(ctx.active_name)
        if cluster is not None:
            async def confirm() -> bool:
                return await self._confirmed(ctx)

            await self.act.upsert_service(ctx.svc, build_head_service(ctx.svc, cluster),
                                          ctx.active_name, confirm=confirm)
            await self.act.upsert_service(ctx.svc, build_serve_service(ctx.svc, ctx.active_name),
                                          ctx.active_name, confirm=confirm)

    async def _confirmed(self, ctx: _Ctx) -> bool:
        """True when the RayService read from the cache is the API server's current version.

        Asked (one live read per pass, at most) before acting on it in ways a stale read must
        never cause — pointing the Services elsewhere, deleting a cluster: a cache can lag by a
        whole upgrade (a restarted informer's list from a watch cache), and its view of which
        cluster serves would then be wrong.
        """
        if ctx.confirmed is None:
            meta = ctx.svc["metadata"]
            try:
                live = await self.client.get(RAYSERVICE, meta["name"], namespace=ctx.namespace)
            except NotFound:
                live = None
            ctx.confirmed = live is not None and (
                live["metadata"]["resourceVersion"] == meta["resourceVersion"])
        return ctx.confirmed

    def _health(self, ctx: _Ctx, step: Step, active: ServeView | None) -> None:
        if active is None:
            return
        reason = unhealthy_reason(active)
        step.conditions.append((COND_SERVE_HEALTHY, reason is None,
                                "Healthy" if reason is None else "Unhealthy", reason or ""))
        if reason is not None:
            step.later(min(self.poll_interval, unhealthy_seconds(ctx.spec)))

    async def _clean_up(self, ctx: _Ctx, step: Step) -> None:
        keep = {ctx.active_name, ctx.pending_name}
        for name, cluster in sorted(ctx.clusters.items()):
            if name in keep or cluster["metadata"].get("deletionTimestamp"):
                continue
            after = (cluster["metadata"].get("annotations") or {}).get(DELETE_AFTER_ANNOTATION)
            if after:
                wait = (parse_time(after) - ctx.now).total_seconds()
                if wait > 0:
                    step.later(wait)
                    continue
            if not await self._confirmed(ctx):
                step.later(1.0)  # the cache is behind: decide again once it has caught up
                return
            why = "its deletion delay passed" if after else "abandoned before it served"
            await self.act.delete(ctx.svc, RAYCLUSTER, name, why)
        await self.act.delete_other_services(ctx.svc, keep=_service_names(ctx))

    def _summarise(self, ctx: _Ctx, step: Step, active: ServeView | None,
                   pending: ServeView | None, endpoints: int) -> None:
        main = active or pending
        health, message = app_health(main, active=main is active) if main else (
            "DEPLOYING", "preparing the RayCluster")
        seed = seed_status(failed=ctx.failed, suspended=False, serving=active is not None,
                           health=health, endpoints=endpoints)
        step.status.update(
            status=seed, serviceStatus=service_status(seed), rayClusterName=ctx.active_name or None,
            appStatus={"status": health, "message": message}, numServeEndpoints=endpoints,
            activeServiceStatus=self._entry(ctx, "activeServiceStatus", active),
            pendingServiceStatus=self._entry(ctx, "pendingServiceStatus", pending),
        )
        if main is not None and main.details is not None:
            step.status["deploymentStatuses"] = deployment_statuses(main.details)
        if not ctx.failed:
            step.status.update(message=message, reason=None)
        ready = ready_condition(seed, reason=REASON_RESTARTS_EXCEEDED, message=message)
        step.conditions.append((CONDITION_READY, *ready))
        step.conditions.append(upgrade_condition(ctx.active_name, ctx.pending_name,
                                                  hold=ctx.hold))
        if ctx.clusters or ctx.active_name or ctx.pending_name:
            step.later(self.poll_interval)

    def _entry(self, ctx: _Ctx, key: str, view: ServeView | None) -> Obj | None:
        """A cluster's status entry; what it last said when the cluster did not answer now."""
        if view is None:
            return None
        previous = ctx.status.get(key) or {}
        if view.details is None and previous.get("rayClusterName") == view.cluster:
            return cluster_entry(view.cluster, previous.get("applicationStatuses") or {})
        return cluster_entry(view.cluster, application_statuses(view.details))

    # -- suspend, delete -------------------------------------------------------------------------

    async def _suspend(self, ctx: _Ctx) -> Step:
        remaining = await self.act.delete_all(ctx.svc, reason="suspended")
        step = Step(status={
            "status": "SUSPENDED", "serviceStatus": "", "rayClusterName": None,
            "activeServiceStatus": None, "pendingServiceStatus": None, "numServeEndpoints": 0,
            "appStatus": None, "deploymentStatuses": None, "message": "suspended", "reason": None,
            "endTime": ctx.status.get("endTime") if ctx.status.get("status") == "SUSPENDED"
            else format_time(ctx.now),
        })
        if ctx.status.get("status") != "SUSPENDED":
            self.events.normal(ctx.svc, "Suspended", "RayService suspended: clusters and "
                               "Services deleted")
        step.conditions += [(CONDITION_READY, *ready_condition("SUSPENDED")),
                            (CONDITION_UPGRADE_IN_PROGRESS, False, "Suspended", "")]
        if remaining:
            step.later(self.poll_interval)
        return step

    async def _finalize(self, svc: Obj) -> Result:
        if FINALIZER not in (svc["metadata"].get("finalizers") or []):
            return Result()
        if await self.act.delete_all(svc, reason="the RayService is being deleted"):
            return Result(requeue_after=self.poll_interval)
        await self.act.set_finalizer(svc, FINALIZER, present=False)
        self.metrics.forget(svc["metadata"]["namespace"], svc["metadata"]["name"])
        return Result()

    # -- writing ---------------------------------------------------------------------------------

    async def _write(self, ctx: _Ctx, step: Step) -> None:
        generation = ctx.svc["metadata"].get("generation")
        new = {**ctx.status, **step.status}
        for type_, state, reason, message in step.conditions:
            with_condition(new, type_, state, reason, message, generation=generation, now=ctx.now)
        new["observedGeneration"] = generation
        new = {k: v for k, v in new.items() if v is not None}
        old = {k: v for k, v in ctx.status.items() if k != "lastUpdateTime"}
        if {k: v for k, v in new.items() if k != "lastUpdateTime"} == old:
            return
        new["lastUpdateTime"] = format_time(ctx.now)
        # Every status write is optimistic: one decided on a stale read (which cluster serves,
        # which is pending) must not overwrite what a fresher pass wrote.
        body: Obj = {"status": merge_patch_between(ctx.status, new),
                     "metadata": {"resourceVersion": ctx.svc["metadata"]["resourceVersion"]}}
        await self.client.patch_status(RAYSERVICE, ctx.svc["metadata"]["name"], body,
                                       namespace=ctx.namespace)
        start = new.get("startTime")
        self.metrics.observe_status(
            ctx.namespace, ctx.svc["metadata"]["name"], before=ctx.status.get("status"),
            after=str(new.get("status")),
            since_start=(ctx.now - parse_time(start)).total_seconds() if start else None)

    async def _invalid(self, svc: Obj, problems: list[str]) -> None:
        status = dict(svc.get("status") or {})
        new = invalid_status(status, problems, generation=svc["metadata"].get("generation"),
                             now=self.clock.now())
        self.events.warning(svc, "InvalidSpec", new["message"])
        await self.client.patch_status(RAYSERVICE, svc["metadata"]["name"],
                                       {"status": merge_patch_between(status, new)},
                                       namespace=svc["metadata"]["namespace"])


def _replacements(ctx: _Ctx, step: Step) -> int:
    return int(step.status.get("unhealthyReplacements",
                               ctx.status.get("unhealthyReplacements")) or 0)


def _annotations(cluster: Obj | None, would_be: dict[str, str]) -> dict[str, str]:
    """A cluster's annotations; a named cluster not built yet will carry ``would_be``."""
    if cluster is None:
        return would_be
    return dict(cluster["metadata"].get("annotations") or {})


def _service_names(ctx: _Ctx) -> set[str]:
    return {head_service_name(ctx.svc["metadata"]["name"]), serve_service_name(ctx.svc)}
