"""Pure status helpers for RayJob: the seed's ``status`` from KubeRay's two, and conditions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..client import Obj
from ..resources.common import Condition, ConditionStatus, set_condition

__all__ = [
    "COND_CLUSTER_READY",
    "COND_COMPLETE",
    "COND_DASHBOARD_REACHABLE",
    "COND_FAILED",
    "COND_SUBMITTED",
    "TERMINAL_DEPLOYMENT",
    "seed_status",
    "with_condition",
]

COND_CLUSTER_READY = "ClusterReady"
COND_SUBMITTED = "JobSubmitted"
COND_COMPLETE = "Complete"
COND_FAILED = "Failed"
COND_DASHBOARD_REACHABLE = "DashboardReachable"

TERMINAL_DEPLOYMENT = frozenset({"Complete", "Failed", "ValidationFailed"})
"""Deployment states the RayJob never leaves on its own (only a spec change or delete moves it)."""

_BY_DEPLOYMENT: dict[str, str] = {
    "": "Pending",
    "Initializing": "Pending",
    "Waiting": "Pending",
    "Retrying": "Pending",
    "Failed": "Failed",
    "ValidationFailed": "Failed",
    "Suspending": "Suspended",
    "Suspended": "Suspended",
}

_BY_JOB: dict[str, str] = {
    "PENDING": "Pending",
    "RUNNING": "Running",
    "SUCCEEDED": "Succeeded",
    "FAILED": "Failed",
    "STOPPED": "Stopped",
}


def seed_status(deployment_status: str | None, job_status: str | None) -> str:
    """The seed spec's ``status`` for KubeRay's ``jobDeploymentStatus`` and ``jobStatus``.

    While the job runs or has completed, Ray's state decides (``Pending`` until Ray runs it);
    before that, and when the RayJob itself failed or is suspended, the deployment state does.
    """
    deployment = deployment_status or ""
    if deployment in ("Running", "Complete"):
        return _BY_JOB.get(job_status or "", "Pending")
    return _BY_DEPLOYMENT.get(deployment, "Pending")


def with_condition(
    status: Obj,
    type_: str,
    state: bool | None,
    reason: str,
    message: str = "",
    *,
    generation: int | None,
    now: datetime,
) -> None:
    """Set one condition in a status dict, with Kubernetes' transition-time rules.

    ``state`` None writes ``Unknown``.
    """
    current: Any = status.get("conditions") or []
    conditions = [Condition.model_validate(c) for c in current if isinstance(c, dict)]
    value: ConditionStatus = "Unknown" if state is None else "True" if state else "False"
    updated = set_condition(
        conditions, type_=type_, status=value, reason=reason, message=message,
        observed_generation=generation, now=now,
    )
    status["conditions"] = [
        c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in updated
    ]


def condition_since(status: Obj, type_: str, state: str) -> str | None:
    """Return the ``lastTransitionTime`` of a condition if it currently has status ``state``."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == state:
            return str(cond.get("lastTransitionTime") or "") or None
    return None
