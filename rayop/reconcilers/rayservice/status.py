"""Pure status helpers for RayService: the seed's ``status``, the Ready condition, the patch.

The seed's ``status`` says what a user of the service would notice:

=============  ==============================================================================
``DEPLOYING``  nothing has served yet (the first cluster is coming up, or resumed from suspend)
``RUNNING``    the active cluster serves: every application RUNNING, or deploying in place while
               ready pods still take traffic
``UNHEALTHY``  the active cluster cannot serve well: an application UNHEALTHY or DEPLOY_FAILED,
               its dashboard silent, or the cluster not ready (for example its head pod lost)
``FAILED``     the spec is invalid, or the cluster was replaced for being unhealthy more often
               than ``deploymentUnhealthyRestartThreshold`` allows; stays until the spec changes
``SUSPENDED``  ``spec.suspend``: clusters and Services deleted
=============  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rayop.ray.resources.rayservice import (
    CONDITION_READY,
    CONDITION_UPGRADE_IN_PROGRESS,
    DEFAULT_UNHEALTHY_SECOND_THRESHOLD,
    RayServiceSpec,
)
from rayop.runtime.client import Obj
from rayop.runtime.clock import format_time
from rayop.runtime.conditions import ConditionUpdate, apply_conditions

__all__ = [
    "COND_SERVE_HEALTHY",
    "REASON_RESTARTS_EXCEEDED",
    "REASON_VALIDATION_FAILED",
    "cluster_entry",
    "invalid_status",
    "ready_condition",
    "seed_status",
    "service_status",
    "unhealthy_seconds",
    "upgrade_condition",
]

COND_SERVE_HEALTHY = "ServeHealthy"
"""The active cluster's Serve health; while False, its lastTransitionTime is "unhealthy since"."""

REASON_VALIDATION_FAILED = "ValidationFailed"
REASON_RESTARTS_EXCEEDED = "UnhealthyRestartThresholdExceeded"


def seed_status(
    *, failed: bool, suspended: bool, serving: bool, health: str, endpoints: int
) -> str:
    """The seed's ``status`` from what the reconcile saw.

    ``serving``: an active cluster exists (it served once); ``health``: the active cluster's
    ``appStatus.status``; ``endpoints``: ready pods behind the serve Service.
    """
    if failed:
        return "FAILED"
    if suspended:
        return "SUSPENDED"
    if not serving:
        return "DEPLOYING"
    if health == "HEALTHY" or (health == "DEPLOYING" and endpoints > 0):
        return "RUNNING"
    return "UNHEALTHY"


def service_status(seed: str) -> str:
    """KubeRay's ``serviceStatus``: ``Running`` while the service serves, else empty."""
    return "Running" if seed == "RUNNING" else ""


def ready_condition(seed: str, *, reason: str | None = None, message: str = ""
                    ) -> ConditionUpdate:
    """The ``Ready`` condition for a seed status."""
    match seed:
        case "RUNNING":
            return ConditionUpdate(CONDITION_READY, True, "Serving")
        case "DEPLOYING":
            return ConditionUpdate(CONDITION_READY, False, "Deploying", message)
        case "UNHEALTHY":
            return ConditionUpdate(CONDITION_READY, False, "Unhealthy", message)
        case "SUSPENDED":
            return ConditionUpdate(CONDITION_READY, False, "Suspended", "spec.suspend is true")
    return ConditionUpdate(CONDITION_READY, False, reason or "Failed", message)


def cluster_entry(name: str | None, applications: Mapping[str, Obj]) -> Obj | None:
    """An ``activeServiceStatus`` / ``pendingServiceStatus`` value (None: no cluster)."""
    if not name:
        return None
    return {"rayClusterName": name, "applicationStatuses": dict(applications)}


def invalid_status(old: Obj, message: str, *, generation: int | None, now: datetime) -> Obj:
    """The RayService's own fields when its spec cannot be used: FAILED, not Ready.

    The rest (reason ``ValidationFailed``, the message, observedGeneration) is what every kind
    says: :meth:`~rayop.runtime.status.StatusWriter.reject` adds it.
    """
    new: Obj = {"status": "FAILED", "serviceStatus": "", "endTime": format_time(now),
                "conditions": old.get("conditions")}
    apply_conditions(new, [ConditionUpdate(CONDITION_READY, False, REASON_VALIDATION_FAILED,
                                           message)], generation=generation, now=now)
    return new


def upgrade_condition(active: str, pending: str, *, hold: bool) -> ConditionUpdate:
    """``UpgradeInProgress``: True while a pending cluster exists beside the active one."""
    if active and pending:
        return ConditionUpdate(CONDITION_UPGRADE_IN_PROGRESS, True, "PendingClusterPreparing",
                               pending)
    if pending:
        return ConditionUpdate(CONDITION_UPGRADE_IN_PROGRESS, False, "FirstClusterPreparing",
                               pending)
    why = "UpgradeStrategyNone" if hold else "NoPendingCluster"
    return ConditionUpdate(CONDITION_UPGRADE_IN_PROGRESS, False, why)


def unhealthy_seconds(spec: RayServiceSpec) -> float:
    """How long the serving cluster may stay unhealthy before it is replaced."""
    threshold = spec.deployment_unhealthy_second_threshold
    return float(DEFAULT_UNHEALTHY_SECOND_THRESHOLD if threshold is None else threshold)
