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

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from rayop.operator.controllers import (
    CONTROLLER_TABLE,
    Build,
    ControllerSpec,
    build_rayjob,
    build_rayservice,
)
from rayop.ray.dashboard import DashboardError, JobAlreadySubmitted
from rayop.reconcilers.rayjob.reconciler import RayJobReconciler, Step, _Ctx
from rayop.reconcilers.rayjob.submit import submission_for
from rayop.reconcilers.rayservice.reconciler import Names, Observation, RayServiceReconciler, live
from rayop.reconcilers.rayservice.services import build_head_service, build_serve_service
from rayop.runtime.client import Obj

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


class SwitchBeforeReady(RayServiceReconciler):
    """BROKEN ON PURPOSE: points the Services at the pending cluster before it is ready."""

    async def _ensure_services(self, obs: Observation, names: Names,
                               clusters: Mapping[str, Obj], confirm: Callable[[], Awaitable[bool]]
                               ) -> None:
        # rayop's version points them at the active cluster only; the pending one becomes
        # active in ``_switch``, once its applications run and its pods are labelled.
        name = names.pending if live(clusters, names.pending) is not None else names.active
        cluster = live(clusters, name)
        if cluster is None:
            return
        await self.act.upsert_service(obs.svc, build_head_service(obs.svc, cluster), name,
                                      confirm=confirm)
        await self.act.upsert_service(obs.svc, build_serve_service(obs.svc, name), name,
                                      confirm=confirm)


def _swapped(name: str, build: Build) -> tuple[ControllerSpec, ...]:
    """Rayop's controller table with controller ``name``'s reconciler made by ``build``."""
    return tuple(dataclasses.replace(spec, build=build) if spec.name == name else spec
                 for spec in CONTROLLER_TABLE)


PLANTED: dict[str, tuple[ControllerSpec, ...]] = {
    "submit-before-record": _swapped("rayjob", partial(build_rayjob, cls=SubmitBeforeRecord)),
    "switch-before-ready": _swapped("rayservice",
                                    partial(build_rayservice, cls=SwitchBeforeReady)),
}
"""Planted bug name -> rayop's controller table with one controller's reconciler broken."""


def planted(name: str) -> tuple[tuple[ControllerSpec, ...], None]:
    """The controllers (and no extra setup) for :class:`~rayop.testing.Simulation` with ``name``.

    Every controller is rayop's own, built from the same table entry, but for the one whose
    reconciler the bug replaces.
    """
    try:
        return PLANTED[name], None
    except KeyError:
        raise ValueError(f"no planted bug {name!r} (known: {', '.join(PLANTED)})") from None
