"""RayJob (``ray.io/v1``): one Ray job on a cluster it creates or selects.

The seed interface and KubeRay v1 both apply: the seed's ``runtimeEnv`` and KubeRay's
``runtimeEnvYAML`` are the same field under two names (each kept as written), and the status
carries the seed's ``status`` beside KubeRay's ``jobStatus`` and ``jobDeploymentStatus``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rayop.ray.resources.common import Number
from rayop.ray.resources.raycluster import RayClusterSpec, RayClusterStatus
from rayop.ray.resources.serve import parse_yaml_mapping
from rayop.runtime.conditions import CONDITIONS_SCHEMA, Condition
from rayop.runtime.models import ObjectMeta, WireModel

__all__ = [
    "CLUSTER_SELECTOR_KEY",
    "JOB_DEPLOYMENT_STATUSES",
    "JOB_STATUSES",
    "RAYJOB_STATUSES",
    "SUBMISSION_MODES",
    "JobDeploymentStatus",
    "JobStatus",
    "RayJob",
    "RayJobSpec",
    "RayJobStatus",
    "RayJobStatusValue",
    "SubmissionMode",
]

CLUSTER_SELECTOR_KEY = "ray.io/cluster"
"""The ``clusterSelector`` key naming the existing RayCluster a job runs on."""

SubmissionMode = Literal["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]
"""How the job reaches Ray; rayop runs ``HTTPMode`` and ``InteractiveMode`` (others: not yet)."""

SUBMISSION_MODES: tuple[str, ...] = ("K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode")

RayJobStatusValue = Literal["Pending", "Running", "Succeeded", "Failed", "Stopped", "Suspended"]
"""The seed's ``status.status``."""

RAYJOB_STATUSES: tuple[str, ...] = (
    "Pending",
    "Running",
    "Succeeded",
    "Failed",
    "Stopped",
    "Suspended",
)

JobStatus = Literal["PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"]
"""Ray's own job status (KubeRay's ``status.jobStatus``)."""

JOB_STATUSES: tuple[str, ...] = ("PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED")

JobDeploymentStatus = Literal[
    "Initializing",
    "Running",
    "Complete",
    "Failed",
    "Suspending",
    "Suspended",
    "Retrying",
    "Waiting",
    "ValidationFailed",
]
"""KubeRay's ``status.jobDeploymentStatus``: where the RayJob's own life cycle is."""

JOB_DEPLOYMENT_STATUSES: tuple[str, ...] = (
    "Initializing",
    "Running",
    "Complete",
    "Failed",
    "Suspending",
    "Suspended",
    "Retrying",
    "Waiting",
    "ValidationFailed",
)


class RayJobSpec(WireModel):
    """What to run, on which cluster, and what to do afterwards."""

    entrypoint: str | None = Field(
        default=None, description="Command to run (required unless InteractiveMode)."
    )
    runtime_env: str | None = Field(
        default=None, description="Ray runtime environment as YAML (seed name)."
    )
    runtime_env_yaml: str | None = Field(
        default=None, alias="runtimeEnvYAML", description="Same as runtimeEnv (KubeRay name)."
    )
    metadata: dict[str, str] | None = Field(
        default=None, description="Metadata passed to the Ray job."
    )
    job_id: str | None = Field(default=None, description="Submission id (default generated).")
    submission_mode: SubmissionMode | None = Field(
        default=None, description="HTTPMode (default) or InteractiveMode."
    )
    shutdown_after_job_finishes: bool | None = Field(
        default=None, description="Delete the cluster when the job ends."
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, description="Seconds to keep the cluster after the job ends."
    )
    suspend: bool | None = Field(default=None, description="Stop the job, delete its cluster.")
    ray_cluster_spec: RayClusterSpec | None = Field(
        default=None, description="The cluster to create (required unless clusterSelector)."
    )
    cluster_selector: dict[str, str] | None = Field(
        default=None, description="Run on the existing cluster named by `ray.io/cluster`."
    )
    backoff_limit: int | None = Field(default=None, ge=0, description="Retries (default 0).")
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Fail the job after this many seconds."
    )
    pre_running_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Fail if not Running after this many seconds."
    )
    entrypoint_num_cpus: Number | None = Field(default=None, ge=0)
    entrypoint_num_gpus: Number | None = Field(default=None, ge=0)
    entrypoint_resources: str | None = Field(
        default=None, description="Custom resources for the entrypoint, as JSON."
    )

    @property
    def runtime_env_text(self) -> str | None:
        """The runtime env YAML under whichever name it was given (``runtimeEnv`` first)."""
        return self.runtime_env if self.runtime_env else self.runtime_env_yaml

    def runtime_env_dict(self) -> dict[str, Any]:
        """Return the runtime env as the dict Ray's ``POST /api/jobs/`` takes (``{}`` if none).

        Raises ``ValueError`` when it is not a YAML mapping; validation reports that first.
        """
        return parse_yaml_mapping(self.runtime_env_text)


class RayJobStatus(WireModel):
    """The observed job: the seed's fields and KubeRay's."""

    status: RayJobStatusValue | None = Field(default=None, description="Seed status.")
    message: str | None = None
    job_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    job_status: JobStatus | None = Field(default=None, description="Ray's job status.")
    job_deployment_status: JobDeploymentStatus | None = None
    reason: str | None = None
    ray_cluster_name: str | None = None
    dashboard_url: str | None = Field(default=None, alias="dashboardURL")
    succeeded: int | None = Field(default=None, ge=0)
    failed: int | None = Field(default=None, ge=0)
    ray_cluster_status: RayClusterStatus | None = None
    submission_head_pod: str | None = Field(
        default=None,
        description="The head pod jobId was (or is being) submitted to; empty: not known.",
    )
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra=CONDITIONS_SCHEMA,
    )
    observed_generation: int | None = Field(default=None, ge=0)


class RayJob(WireModel):
    """A whole RayJob object."""

    api_version: str = "ray.io/v1"
    kind: str = "RayJob"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RayJobSpec
    status: RayJobStatus | None = None
