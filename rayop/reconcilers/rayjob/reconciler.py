"""The RayJob reconciler: one Ray job on a cluster it creates or selects, run exactly once.

A short dispatcher on ``status.jobDeploymentStatus``, one small method per phase; each returns a
:class:`Step` (the status fields to set, when to look again) and the dispatcher writes the status
only when it changed::

    New ──► Initializing ──► Running ──► Complete
     │  ╲        │    ╲         │    ╲──► Failed (deadline, retries used up, job lost)
     │   ╲       │     ╲        └──► Retrying ──► New (fresh cluster, fresh submission id)
     │    ╲      │      └──► Waiting (InteractiveMode: until spec.jobId is set) ──► Running
     │     ╲     └──► Suspending ──► Suspended ──► New (when spec.suspend is false again)
     │      └──► Suspended (suspend before start: nothing created)
     └──► ValidationFailed (until the spec changes)

Exactly once: the submission id is chosen and written to status — with the object's
resourceVersion as a precondition, as every status write, so a stale read can neither choose a
second id nor move the RayJob back a phase — before anything is submitted. The head pod it goes to
is written next (condition ``JobSubmitted=Unknown``), so a head lost before the status says Running
counts as a lost attempt instead of a silent resubmission. Every submission first asks Ray whether
that id is already known, and Ray's "already exists" answer counts as submitted. A crash, a
conflict or a lagging cache anywhere on the path therefore re-runs the same idempotent steps and
never submits twice.
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from rayop.ray.dashboard import DashboardError, DashboardProvider, JobAlreadySubmitted, JobDetails
from rayop.ray.kinds import RAYCLUSTER, RAYJOB
from rayop.ray.resources.rayjob import CLUSTER_SELECTOR_KEY, RayJobSpec, RayJobStatus
from rayop.ray.resources.validation import load, parse_rayjob
from rayop.reconcilers.raycluster.pods import DEFAULT_HEAD_PORTS, head_service_name
from rayop.reconcilers.rayjob.metrics import RayJobMetrics
from rayop.reconcilers.rayjob.status import (
    COND_CLUSTER_READY,
    COND_COMPLETE,
    COND_DASHBOARD_REACHABLE,
    COND_FAILED,
    COND_SUBMITTED,
    seed_status,
)
from rayop.reconcilers.rayjob.submit import submission_for
from rayop.runtime.cache import Cache
from rayop.runtime.client import ClusterClient, Obj
from rayop.runtime.clock import Clock, format_time, parse_time
from rayop.runtime.conditions import ConditionUpdate, apply_conditions, condition_since
from rayop.runtime.errors import AlreadyExists, NotFound
from rayop.runtime.events import EventRecorder
from rayop.runtime.finalizers import Finalizer
from rayop.runtime.owners import controller_ref
from rayop.runtime.reconcile import Request, Result
from rayop.runtime.status import StatusWriter, spec_rejected

__all__ = ["FINALIZER", "RayJobReconciler", "Step"]

FINALIZER = "ray.io/rayjob-finalizer"
MIRRORING_PHASES = frozenset({"Initializing", "Waiting", "Running"})
"""Phases in which ``status.rayClusterStatus`` follows the cluster's status (KubeRay's rule:
copied while the job is being set up and runs, kept as it was once the job has finished, and
cleared when a retry or a suspension drops the cluster)."""
_log = structlog.get_logger("rayop.rayjob")


@dataclass
class Step:
    """What one phase decided: status fields to set (None deletes one) and when to come back."""

    status: Obj = field(default_factory=dict)
    requeue_after: float | None = None
    conditions: list[ConditionUpdate] = field(default_factory=list)

    def to(self, deployment: str | None, **fields: object) -> Step:
        """Move to ``deployment`` status (None: back to New), setting ``fields`` too."""
        self.status["jobDeploymentStatus"] = deployment
        self.status.update(fields)
        return self


@dataclass(frozen=True)
class _Ctx:
    job: Obj
    spec: RayJobSpec
    status: Obj
    now: datetime

    @property
    def namespace(self) -> str:
        return str(self.job["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.job["metadata"]["name"])

    @property
    def cluster_name(self) -> str:
        return str(self.status.get("rayClusterName") or "")

    @property
    def selected(self) -> bool:
        return bool(self.spec.cluster_selector)

    def seconds_since(self, stamp: str | None) -> float:
        return (self.now - parse_time(stamp)).total_seconds() if stamp else 0.0


class RayJobReconciler:
    """Reconciles ``ray.io/v1`` RayJobs: cluster, submission, tracking, teardown."""

    def __init__(
        self,
        client: ClusterClient,
        cache: Cache,
        events: EventRecorder,
        dashboards: DashboardProvider,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        poll_interval: float = 3.0,
        dashboard_unreachable_limit: float = 300.0,
        metrics: RayJobMetrics | None = None,
    ) -> None:
        self.client = client
        self.cache = cache
        self.events = events
        self.dashboards = dashboards
        self.clock = clock
        self.rng = rng or random.Random()
        self.poll_interval = poll_interval
        self.unreachable_limit = dashboard_unreachable_limit
        self.metrics = metrics or RayJobMetrics()
        self.status = StatusWriter(client, RAYJOB, events=events, clock=clock)
        self.finalizer = Finalizer(client, RAYJOB, FINALIZER)
        self._phases: dict[str, Callable[[_Ctx], Awaitable[Step]]] = {
            "": self._new,
            "Initializing": self._initializing,
            "Waiting": self._waiting,
            "Running": self._running,
            "Retrying": self._retrying,
            "Suspending": self._suspending,
            "Suspended": self._suspended,
            "Complete": self._finished,
            "Failed": self._finished,
        }

    # -- the dispatcher ------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result:
        """Take the RayJob named by ``request`` one step along its life cycle."""
        job = self.cache.get(RAYJOB, request.name, namespace=request.namespace)
        if job is None:
            return Result()
        if job["metadata"].get("deletionTimestamp"):
            return await self.finalizer.run(job, apply=_never, cleanup=self._cleanup)
        if spec_rejected(job):
            return Result()  # no retry loop: wait for the spec to change
        parsed = parse_rayjob(job)
        if isinstance(parsed, list):
            await self.status.reject(job, [str(p) for p in parsed], {
                "jobDeploymentStatus": "ValidationFailed", "status": "Failed"})
            return Result()
        spec = parsed.spec

        async def apply(job: Obj) -> Result:
            status = dict(job.get("status") or {})
            phase = status.get("jobDeploymentStatus") or ""
            if phase == "ValidationFailed":
                phase = ""
            ctx = _Ctx(job, spec, status, self.clock.now())
            step = await self._phases.get(phase, self._new)(ctx)
            if phase in MIRRORING_PHASES:
                self._copy_cluster_status(ctx, step)
            await self._write(ctx, step)
            return Result(requeue_after=step.requeue_after)

        return await self.finalizer.run(job, apply=apply, cleanup=self._cleanup)

    # -- phases --------------------------------------------------------------------------------

    async def _new(self, ctx: _Ctx) -> Step:
        if ctx.spec.suspend:
            return Step().to("Suspended", message="suspended before start")
        if ctx.selected:
            cluster = (ctx.spec.cluster_selector or {}).get(CLUSTER_SELECTOR_KEY, "")
        else:
            cluster = f"{ctx.name}-{self._suffix()}"
        submission_id = ctx.spec.job_id or f"{ctx.name}-{self._suffix()}"
        if ctx.spec.submission_mode == "InteractiveMode":
            submission_id = ctx.spec.job_id or ""
        return Step().to(
            "Initializing", jobId=submission_id or None, rayClusterName=cluster,
            startTime=ctx.status.get("startTime") or format_time(ctx.now),
            endTime=None, jobStatus=None, message="creating the Ray cluster" if not ctx.selected
            else f"using the selected cluster {cluster}", reason=None, submissionHeadPod=None,
        )

    async def _initializing(self, ctx: _Ctx) -> Step:
        if ctx.spec.suspend:
            return Step().to("Suspending")
        if (late := self._deadline(ctx, pre_running=True)) is not None:
            return late
        cluster = await self._cluster(ctx)
        if cluster is None:
            return Step(requeue_after=self.poll_interval,
                        status={"message": f"waiting for RayCluster {ctx.cluster_name}"})
        ready = (cluster.get("status") or {}).get("state") == "ready"
        step = Step(conditions=[ConditionUpdate(
            COND_CLUSTER_READY, ready, "RayClusterReady" if ready else "RayClusterNotReady")])
        if not ready:
            step.status["message"] = f"waiting for RayCluster {ctx.cluster_name} to be ready"
            step.requeue_after = self.poll_interval
            return step
        step.status["dashboardURL"] = _dashboard_url(ctx)
        if ctx.spec.submission_mode == "InteractiveMode" and not ctx.spec.job_id:
            return step.to("Waiting", message="waiting for spec.jobId (InteractiveMode)")
        return await self._submit(ctx, step, _head_pod(cluster))

    async def _waiting(self, ctx: _Ctx) -> Step:
        if ctx.spec.suspend:
            return Step().to("Suspending")
        if (late := self._deadline(ctx, pre_running=True)) is not None:
            return late
        if not ctx.spec.job_id:
            return Step(requeue_after=self._deadline_wait(ctx, pre_running=True))
        # jobStatus stays empty until Ray reports the job (the user may not have submitted yet).
        return Step().to("Running", jobId=ctx.spec.job_id, jobStatus=None,
                         message=f"tracking job {ctx.spec.job_id}")

    async def _running(self, ctx: _Ctx) -> Step:
        if ctx.spec.suspend:
            return Step().to("Suspending")
        if (late := self._deadline(ctx, pre_running=False)) is not None:
            await self._stop_job(ctx)
            return late
        try:
            details = await self.dashboards.for_cluster(ctx.namespace, ctx.cluster_name).get_job(
                str(ctx.status.get("jobId")))
        except DashboardError as err:
            return self._unreachable(ctx, err)
        reachable = ConditionUpdate(COND_DASHBOARD_REACHABLE, True, "DashboardAnswered", "")
        if details is None and self._not_submitted_yet(ctx):
            return Step(requeue_after=self.poll_interval, conditions=[reachable], status={
                "message": f"waiting for job {ctx.status.get('jobId')} to be submitted to Ray "
                           "(InteractiveMode)"})
        if details is None:
            return self._attempt_failed(ctx, "JobLost", "the Ray job vanished from the cluster "
                                        "(head pod lost?)", conditions=[reachable])
        return self._mirror(ctx, details, reachable)

    @staticmethod
    def _not_submitted_yet(ctx: _Ctx) -> bool:
        """True in InteractiveMode while Ray has never shown the job.

        The user may set ``spec.jobId`` before submitting it; the deadlines still bound the wait.
        """
        return ctx.spec.submission_mode == "InteractiveMode" and not ctx.status.get("jobStatus")

    async def _retrying(self, ctx: _Ctx) -> Step:
        await self._delete_cluster(ctx, reason="retrying on a fresh cluster")
        return Step().to(None, jobId=None, rayClusterName=None, dashboardURL=None,
                         rayClusterStatus=None, jobStatus=None, endTime=None,
                         message="retrying on a fresh cluster")

    async def _suspending(self, ctx: _Ctx) -> Step:
        await self._stop_job(ctx)
        if await self._delete_cluster(ctx, reason="suspended"):
            return Step(requeue_after=self.poll_interval)
        self.events.normal(ctx.job, "Suspended", "RayJob suspended")
        return Step().to("Suspended", message="suspended", jobStatus=None,
                         rayClusterStatus=None)

    async def _suspended(self, ctx: _Ctx) -> Step:
        if ctx.spec.suspend:
            return Step()
        self.events.normal(ctx.job, "Resumed", "RayJob resumed")
        return Step().to(None, jobId=None, rayClusterName=None, dashboardURL=None,
                         rayClusterStatus=None, jobStatus=None, startTime=None, endTime=None,
                         message="resumed")

    async def _finished(self, ctx: _Ctx) -> Step:
        if not ctx.spec.shutdown_after_job_finishes or ctx.selected or not ctx.cluster_name:
            return Step()
        wait = (ctx.spec.ttl_seconds_after_finished or 0) - ctx.seconds_since(
            ctx.status.get("endTime"))
        if wait > 0:
            return Step(requeue_after=wait)
        await self._delete_cluster(ctx, reason="job finished (shutdownAfterJobFinishes)")
        return Step()

    # -- the submit path -----------------------------------------------------------------------

    async def _submit(self, ctx: _Ctx, step: Step, head: str) -> Step:
        submission_id = str(ctx.status.get("jobId") or "")
        marked = ctx.status.get("submissionHeadPod")
        if marked is None:
            # First say where the job is about to go: if that head is lost before the status
            # says Running, the next pass knows the job may have started there.
            step.conditions.append(ConditionUpdate(COND_SUBMITTED, None, "Submitting",
                                    f"{submission_id} on head pod {head}"))
            step.requeue_after = 0.0
            return step.to("Initializing", message=f"submitting {submission_id}",
                           submissionHeadPod=head)
        dashboard = self.dashboards.for_cluster(ctx.namespace, ctx.cluster_name)
        try:
            known = await dashboard.get_job(submission_id)
            if known is None and marked and marked != head:  # "" : the head was not known
                # Ray forgot the id with its old head: the job may have run there. Resubmitting
                # could run it twice; count the attempt as lost, as a head loss while Running.
                return self._attempt_failed(
                    ctx, "JobLost", f"the head pod {marked} was lost while {submission_id} was "
                    "being submitted", conditions=step.conditions)
            if known is None:
                await dashboard.submit_job(submission_for(ctx.spec, submission_id))
                self.events.normal(ctx.job, "Submitted", f"Submitted Ray job {submission_id}")
        except JobAlreadySubmitted:
            pass  # an earlier attempt got through: that is the job
        except DashboardError as err:
            return self._unreachable(ctx, err, step)
        step.conditions.append(ConditionUpdate(COND_SUBMITTED, True, "Submitted", submission_id))
        return step.to("Running", jobStatus="PENDING", message=f"submitted {submission_id}")

    def _mirror(self, ctx: _Ctx, details: JobDetails, reachable: ConditionUpdate
                ) -> Step:
        ray_status = details.status.value
        step = Step(status={"jobStatus": ray_status, "message": details.message or ""},
                    conditions=[reachable])
        if ray_status == "SUCCEEDED" or ray_status == "STOPPED":
            self.events.normal(ctx.job, "JobFinished", f"Ray job {ray_status.lower()}")
            step.conditions.append(ConditionUpdate(COND_COMPLETE, True, ray_status.title(), ""))
            succeeded = int(ctx.status.get("succeeded") or 0) + (ray_status == "SUCCEEDED")
            return step.to("Complete", endTime=_end_time(details, ctx.now), succeeded=succeeded)
        if ray_status == "FAILED":
            return self._attempt_failed(ctx, "JobFailed", details.message or "the Ray job failed",
                                        conditions=[reachable], ray_status="FAILED",
                                        end=_end_time(details, ctx.now))
        step.requeue_after = self.poll_interval
        return step

    def _attempt_failed(self, ctx: _Ctx, reason: str, message: str, *,
                        conditions: list[ConditionUpdate],
                        ray_status: str | None = None,
                        end: str | None = None) -> Step:
        failed = int(ctx.status.get("failed") or 0) + 1
        limit = ctx.spec.backoff_limit or 0
        self.events.warning(ctx.job, reason, message)
        if failed <= limit and not ctx.selected:
            step = Step(conditions=conditions).to("Retrying", failed=failed, reason=reason,
                                                  message=f"attempt {failed} failed: {message}")
            step.status["jobStatus"] = ray_status
            return step
        step = self._fail(ctx, reason, message, end=end)
        step.status.update(failed=failed, jobStatus=ray_status or ctx.status.get("jobStatus"))
        step.conditions.extend(conditions)
        return step

    def _fail(self, ctx: _Ctx, reason: str, message: str, *, end: str | None = None) -> Step:
        step = Step(conditions=[ConditionUpdate(COND_FAILED, True, reason, message)])
        return step.to("Failed", reason=reason, message=message, endTime=end or
                       format_time(ctx.now))

    def _unreachable(self, ctx: _Ctx, err: DashboardError, step: Step | None = None) -> Step:
        step = step or Step()
        since = condition_since(ctx.status, COND_DASHBOARD_REACHABLE, "False")
        if since is not None and ctx.seconds_since(since) >= self.unreachable_limit:
            return self._attempt_failed(
                ctx, "DashboardUnreachable",
                f"the Ray dashboard stayed unreachable for {self.unreachable_limit:.0f} s: {err}",
                conditions=[])
        step.conditions.append(
            ConditionUpdate(COND_DASHBOARD_REACHABLE, False, "DashboardError", str(err)))
        step.requeue_after = min(self.poll_interval, 5.0)
        return step

    def _deadline(self, ctx: _Ctx, *, pre_running: bool) -> Step | None:
        """Fail the job if a deadline has passed since ``startTime``.

        ``activeDeadlineSeconds`` always; ``preRunningDeadlineSeconds`` before the job runs.
        """
        elapsed = ctx.seconds_since(ctx.status.get("startTime"))
        active = ctx.spec.active_deadline_seconds
        if active is not None and elapsed >= active:
            return self._fail(ctx, "DeadlineExceeded",
                              f"the job ran past activeDeadlineSeconds ({active} s)")
        pre = ctx.spec.pre_running_deadline_seconds
        if pre_running and pre is not None and elapsed >= pre:
            return self._fail(ctx, "PreRunningDeadlineExceeded",
                              f"the job did not start within preRunningDeadlineSeconds ({pre} s)")
        return None

    def _deadline_wait(self, ctx: _Ctx, *, pre_running: bool) -> float | None:
        """Seconds until the next deadline that applies (None: no deadline)."""
        elapsed = ctx.seconds_since(ctx.status.get("startTime"))
        limits = [ctx.spec.active_deadline_seconds]
        if pre_running:
            limits.append(ctx.spec.pre_running_deadline_seconds)
        waits = [max(0.0, limit - elapsed) for limit in limits if limit is not None]
        return min(waits) if waits else None

    # -- the cluster ---------------------------------------------------------------------------

    def _copy_cluster_status(self, ctx: _Ctx, step: Step) -> None:
        """Mirror the cluster's status into ``status.rayClusterStatus`` (created or selected).

        Read from the cache, as every other read; a cluster not there yet (just created, or a
        selected one that does not exist) leaves the last copy. The write happens only when the
        copy differs, so a settled job and cluster are never rewritten.
        """
        if "rayClusterStatus" in step.status or "rayClusterName" in step.status:
            return  # this step drops or changes the cluster: nothing to copy from
        if not ctx.cluster_name:
            return
        cluster = self.cache.get(RAYCLUSTER, ctx.cluster_name, namespace=ctx.namespace)
        if cluster is None or not isinstance(cluster.get("status"), dict):
            return
        step.status["rayClusterStatus"] = copy.deepcopy(cluster["status"])

    async def _cluster(self, ctx: _Ctx) -> Obj | None:
        found = self.cache.get(RAYCLUSTER, ctx.cluster_name, namespace=ctx.namespace)
        if found is not None or ctx.selected:
            return found
        body = _cluster_body(ctx)
        try:
            created = await self.client.create(RAYCLUSTER, body, namespace=ctx.namespace)
        except AlreadyExists:
            return None
        self.events.normal(ctx.job, "CreatedRayCluster", f"Created RayCluster {ctx.cluster_name}")
        return created

    async def _delete_cluster(self, ctx: _Ctx, *, reason: str) -> bool:
        """Delete the job's own cluster; True while it still exists."""
        if ctx.selected or not ctx.cluster_name:
            return False
        if self.cache.get(RAYCLUSTER, ctx.cluster_name, namespace=ctx.namespace) is None:
            return False
        try:
            await self.client.delete(RAYCLUSTER, ctx.cluster_name, namespace=ctx.namespace)
        except NotFound:
            return False
        self.events.normal(ctx.job, "DeletedRayCluster",
                           f"Deleted RayCluster {ctx.cluster_name}: {reason}")
        return True

    async def _stop_job(self, ctx: _Ctx) -> None:
        job_id = ctx.status.get("jobId")
        if not job_id or not ctx.cluster_name or ctx.status.get("jobStatus") in (
                "SUCCEEDED", "FAILED", "STOPPED"):
            return
        try:
            if await self.dashboards.for_cluster(ctx.namespace, ctx.cluster_name).stop_job(
                    str(job_id)):
                self.events.normal(ctx.job, "StoppedJob", f"Stopped Ray job {job_id}")
        except DashboardError as err:
            _log.info("could not stop the Ray job", error=str(err))

    # -- writing -------------------------------------------------------------------------------

    async def _write(self, ctx: _Ctx, step: Step) -> None:
        new = {**ctx.status, **step.status}
        generation = ctx.job["metadata"].get("generation")
        apply_conditions(new, step.conditions, generation=generation, now=ctx.now)
        new["status"] = seed_status(new.get("jobDeploymentStatus"), new.get("jobStatus"))
        new["observedGeneration"] = generation
        # Optimistic, as every status write: a step decided on a stale read — a lagging cache,
        # a fresh informer's stale list after a restart — must not move the RayJob back
        # (Running to Initializing would resubmit after a head loss) nor choose a second
        # submission id. A Conflict propagates: the controller retries and decides again.
        if not await self.status.write(ctx.job, RayJobStatus.model_validate(new)):
            return
        start, end = new.get("startTime"), new.get("endTime")
        since = ((parse_time(end) if end else ctx.now) - parse_time(start)).total_seconds() \
            if start else None
        self.metrics.observe(ctx.namespace, before=str(ctx.status.get("jobDeploymentStatus") or ""),
                             after=str(new.get("jobDeploymentStatus") or ""),
                             seed_status=str(new["status"]), since_start=since)

    async def _cleanup(self, job: Obj) -> None:
        """Before a RayJob goes: stop its Ray job when it may be running."""
        meta = job["metadata"]
        status = dict(job.get("status") or {})
        spec = load(RayJobSpec, job.get("spec") or {})  # types only: stop even a rule-breaker
        # Initializing with a ready cluster too: a crash between submitting and writing Running
        # leaves a job that Ray runs and the status does not show yet (stopping an unknown id
        # is harmless).
        phase = status.get("jobDeploymentStatus")
        cluster = self.cache.get(RAYCLUSTER, str(status.get("rayClusterName") or ""),
                                 namespace=meta["namespace"])
        may_run = phase == "Running" or (phase == "Initializing" and cluster is not None and (
            cluster.get("status") or {}).get("state") == "ready")
        if isinstance(spec, RayJobSpec) and may_run:
            await self._stop_job(_Ctx(job, spec, status, self.clock.now()))

    def _suffix(self) -> str:
        return "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=5))


def _cluster_body(ctx: _Ctx) -> Obj:
    spec_dict = (ctx.job.get("spec") or {}).get("rayClusterSpec") or {}
    return {
        "apiVersion": RAYCLUSTER.api_version,
        "kind": RAYCLUSTER.kind,
        "metadata": {
            "name": ctx.cluster_name,
            "namespace": ctx.namespace,
            # The RayJob's labels first (KubeRay does the same), so a cluster created for a
            # RayJob matches the label selector that selected the RayJob (``--selector``).
            "labels": {**((ctx.job.get("metadata") or {}).get("labels") or {}),
                       "ray.io/originated-from-crd": "RayJob",
                       "ray.io/originated-from-cr-name": ctx.name},
            "ownerReferences": [controller_ref(ctx.job)],
        },
        "spec": spec_dict,
    }


def _head_pod(cluster: Obj) -> str:
    """The name of the cluster's head pod, as its status reports it ("" when unknown)."""
    return str(((cluster.get("status") or {}).get("head") or {}).get("podName") or "")


def _dashboard_url(ctx: _Ctx) -> str:
    svc = head_service_name(ctx.cluster_name)
    return f"{svc}.{ctx.namespace}.svc.cluster.local:{DEFAULT_HEAD_PORTS['dashboard']}"


def _end_time(details: JobDetails, now: datetime) -> str:
    if details.end_time:
        return format_time(datetime.fromtimestamp(details.end_time / 1000, tz=now.tzinfo))
    return format_time(now)


async def _never(job: Obj) -> Result:
    """``apply`` of an object being deleted: :meth:`Finalizer.run` never calls it."""
    raise AssertionError("apply called for a RayJob being deleted")
