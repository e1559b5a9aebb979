"""Pure status helpers for RayJob: condition types, and the seed's ``status`` from KubeRay's two."""

from __future__ import annotations

__all__ = [
    "COND_CLUSTER_READY",
    "COND_COMPLETE",
    "COND_DASHBOARD_REACHABLE",
    "COND_FAILED",
    "COND_SUBMITTED",
    "TERMINAL_DEPLOYMENT",
    "seed_status",
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
