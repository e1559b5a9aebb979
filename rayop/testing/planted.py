"""Planted bugs: deliberately broken reconcilers that the sweep must catch.

A sweep that never fails proves little. Each entry of :data:`PLANTED` swaps one of rayop's
reconcilers for a subclass with a real, plausible bug, so a test (and ``python -m rayop.testing
replay SEED --broken NAME``) can show that the invariants catch it, with a seed that replays it.

``submit-before-record``
    The RayJob reconciler picks the submission id when it submits and records it in status only
    afterwards (the order KubeRay itself once had). If the status write is lost — a conflict, a
    500, a crash between the two — the next reconcile picks a new id and submits the job again:
    the ``exactly-once`` invariant fails.

``switch-before-ready``
    The RayService reconciler points the head and serve Services at the pending cluster as soon
    as that cluster exists, instead of once its Serve applications are RUNNING and its pods
    carry ``ray.io/serve=true`` (status still names the old cluster active until then). During
    an upgrade the serve Service selects pods that do not serve yet: it loses its last ready
    endpoint and the ``serving`` invariant fails.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ..client import RAYCLUSTER, RAYJOB, RAYSERVICE, SERVICE
from ..dashboard import DashboardProvider, JobAlreadySubmitted
from ..errors import DashboardError
from ..manager import Manager
from ..reconcilers.rayjob import RayJobReconciler, Step, _Ctx
from ..reconcilers.rayjob_submit import submission_for
from ..reconcilers.rayservice import RayServiceReconciler
from ..reconcilers.rayservice import _Ctx as _ServiceCtx
from ..reconcilers.rayservice_services import build_head_service, build_serve_service
from .simulation import Setup

__all__ = ["PLANTED", "SubmitBeforeRecord", "SwitchBeforeReady", "planted"]


class SubmitBeforeRecord(RayJobReconciler):
    """BROKEN ON PURPOSE: chooses the submission id at submit time, records it after."""

    async def _new(self, ctx: _Ctx) -> Step:
        step = await super()._new(ctx)
        step.status["jobId"] = None  # not chosen up front any more
        return step

    async def _submit(self, ctx: _Ctx, step: Step, *args: Any, **kwargs: Any) -> Step:
        submission_id = str(ctx.status.get("jobId") or "") or f"{ctx.name}-{self._suffix()}"
        dashboard = self.dashboards.for_cluster(ctx.namespace, ctx.cluster_name)
        try:
            await dashboard.submit_job(submission_for(ctx.spec, submission_id))
        except JobAlreadySubmitted:
            pass
        except DashboardError as err:
            return self._unreachable(ctx, err, step)
        # Recorded only now, after Ray has the job: if this status write is lost, the next
        # pass picks another id and submits the job again.
        return step.to("Running", jobId=submission_id, jobStatus="PENDING",
                       message=f"submitted {submission_id}")


def _submit_before_record(manager: Manager, dashboards: DashboardProvider) -> None:
    job = SubmitBeforeRecord(manager.client, manager.cache, manager.events, dashboards,
                             clock=manager.clock, rng=random.Random(manager.options.seed))
    manager.add_controller("rayjob", job, for_kind=RAYJOB, owns=(RAYCLUSTER,),
                           reconcile_timeout=120.0)


class SwitchBeforeReady(RayServiceReconciler):
    """BROKEN ON PURPOSE: points the Services at the pending cluster before it is ready."""

    async def _ensure_services(self, ctx: _ServiceCtx) -> None:
        # rayop's version points them at the active cluster only; the pending one becomes
        # active in ``_switch``, once its applications run and its pods are labelled.
        name = ctx.pending_name if ctx.live(ctx.pending_name) is not None else ctx.active_name
        cluster = ctx.live(name)
        if cluster is None:
            return

        async def confirm() -> bool:
            return await self._confirmed(ctx)

        await self.act.upsert_service(ctx.svc, build_head_service(ctx.svc, cluster), name,
                                      confirm=confirm)
        await self.act.upsert_service(ctx.svc, build_serve_service(ctx.svc, name), name,
                                      confirm=confirm)


def _switch_before_ready(manager: Manager, dashboards: DashboardProvider) -> None:
    service = SwitchBeforeReady(manager.client, manager.cache, manager.events, dashboards,
                                clock=manager.clock, rng=random.Random(manager.options.seed))
    manager.add_controller("rayservice", service, for_kind=RAYSERVICE,
                           owns=(RAYCLUSTER, SERVICE), reconcile_timeout=120.0)


PLANTED: dict[str, tuple[tuple[str, ...], Callable[[Manager, DashboardProvider], None]]] = {
    "submit-before-record": (("raycluster", "rayservice"), _submit_before_record),
    "switch-before-ready": (("raycluster", "rayjob"), _switch_before_ready),
}
"""Planted bug name -> (rayop's controllers to keep, the setup that adds the broken one)."""


def planted(name: str) -> tuple[tuple[str, ...], Setup]:
    """The controllers and setup for :class:`~rayop.testing.Simulation` with bug ``name``."""
    try:
        return PLANTED[name]
    except KeyError:
        raise ValueError(f"no planted bug {name!r} (known: {', '.join(PLANTED)})") from None
