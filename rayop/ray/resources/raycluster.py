"""RayCluster (``ray.io/v1``): a head group and worker groups of pods, as KubeRay defines it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rayop.ray.resources.common import Quantity
from rayop.runtime.conditions import CONDITIONS_SCHEMA, Condition
from rayop.runtime.models import ObjectMeta, WireModel

__all__ = [
    "CLUSTER_STATES",
    "CONDITION_HEAD_POD_READY",
    "CONDITION_PROVISIONED",
    "CONDITION_REPLICA_FAILURE",
    "CONDITION_SUSPENDED",
    "CONDITION_SUSPENDING",
    "AutoscalerOptions",
    "ClusterState",
    "HeadGroupSpec",
    "HeadInfo",
    "RayCluster",
    "RayClusterSpec",
    "RayClusterStatus",
    "ScaleStrategy",
    "WorkerGroupSpec",
]

ClusterState = Literal["ready", "suspended", "failed", "unhealthy"]
"""RayCluster ``status.state``, KubeRay's values (``failed``/``unhealthy`` kept for old objects)."""

CLUSTER_STATES: tuple[str, ...] = ("ready", "suspended", "failed", "unhealthy")

CONDITION_HEAD_POD_READY = "HeadPodReady"
CONDITION_PROVISIONED = "RayClusterProvisioned"
CONDITION_SUSPENDING = "RayClusterSuspending"
CONDITION_SUSPENDED = "RayClusterSuspended"
CONDITION_REPLICA_FAILURE = "ReplicaFailure"

ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
PodTemplate = dict[str, Any]
"""A ``PodTemplateSpec`` kept whole: every Kubernetes field survives, none is interpreted here."""


class HeadGroupSpec(WireModel):
    """The head pod: its ``ray start`` parameters, pod template and head Service settings."""

    ray_start_params: dict[str, str] | None = Field(
        default=None, description="Parameters of `ray start --head`, all strings."
    )
    template: PodTemplate = Field(description="Pod template of the head pod.")
    service_type: ServiceType | None = Field(
        default=None, description="Type of the head Service (default ClusterIP)."
    )
    head_service: dict[str, Any] | None = Field(
        default=None, description="A Service merged into the generated head Service."
    )
    enable_ingress: bool | None = Field(default=None, description="Create an Ingress (KubeRay).")


class ScaleStrategy(WireModel):
    """Which worker pods to remove first when a group scales down."""

    workers_to_delete: list[str] | None = Field(
        default=None, description="Names of worker pods to delete."
    )


class WorkerGroupSpec(WireModel):
    """One group of identical worker pods."""

    group_name: str = Field(description="Name of the group, unique in the cluster.")
    replicas: int | None = Field(default=None, ge=0, description="Desired pods (default 0).")
    min_replicas: int | None = Field(default=None, ge=0, description="Lower bound (default 0).")
    max_replicas: int | None = Field(
        default=None, ge=0, description="Upper bound (default 2147483647)."
    )
    num_of_hosts: int | None = Field(
        default=None, ge=1, description="Hosts per replica (default 1)."
    )
    ray_start_params: dict[str, str] | None = Field(
        default=None, description="Parameters of `ray start`, all strings."
    )
    template: PodTemplate = Field(description="Pod template of the worker pods.")
    scale_strategy: ScaleStrategy | None = None
    suspend: bool | None = Field(default=None, description="Delete this group's pods.")


class AutoscalerOptions(WireModel):
    """Settings of the Ray autoscaler sidecar (read by the autoscaler, not by rayop)."""

    resources: dict[str, Any] | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    env: list[dict[str, Any]] | None = None
    env_from: list[dict[str, Any]] | None = None
    volume_mounts: list[dict[str, Any]] | None = None
    security_context: dict[str, Any] | None = None
    idle_timeout_seconds: int | None = Field(default=None, ge=0)
    upscaling_mode: Literal["Default", "Aggressive", "Conservative"] | None = None
    version: Literal["v1", "v2"] | None = None


class RayClusterSpec(WireModel):
    """The desired cluster: one head group, any number of worker groups."""

    head_group_spec: HeadGroupSpec
    worker_group_specs: list[WorkerGroupSpec] | None = None
    ray_version: str | None = Field(default=None, description="Ray version of the image.")
    enable_in_tree_autoscaling: bool | None = Field(
        default=None, description="Run the Ray autoscaler beside the head."
    )
    autoscaler_options: AutoscalerOptions | None = None
    head_service_annotations: dict[str, str] | None = None
    suspend: bool | None = Field(default=None, description="Delete all pods, keep the object.")


class HeadInfo(WireModel):
    """Where the head runs."""

    pod_ip: str | None = Field(default=None, alias="podIP")
    service_ip: str | None = Field(default=None, alias="serviceIP")
    pod_name: str | None = None
    service_name: str | None = None


class RayClusterStatus(WireModel):
    """The observed cluster, written by the operator."""

    state: ClusterState | None = Field(default=None, description="ready, suspended, failed.")
    reason: str | None = None
    desired_worker_replicas: int | None = Field(default=None, ge=0)
    ready_worker_replicas: int | None = Field(default=None, ge=0)
    available_worker_replicas: int | None = Field(default=None, ge=0)
    min_worker_replicas: int | None = Field(default=None, ge=0)
    max_worker_replicas: int | None = Field(default=None, ge=0)
    desired_cpu: Quantity | None = Field(default=None, alias="desiredCPU")
    desired_memory: Quantity | None = None
    desired_gpu: Quantity | None = Field(default=None, alias="desiredGPU")
    desired_tpu: Quantity | None = Field(default=None, alias="desiredTPU")
    last_update_time: str | None = None
    state_transition_times: dict[str, str] | None = None
    endpoints: dict[str, str] | None = None
    head: HeadInfo | None = None
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra=CONDITIONS_SCHEMA,
    )
    observed_generation: int | None = Field(default=None, ge=0)


class RayCluster(WireModel):
    """A whole RayCluster object."""

    api_version: str = "ray.io/v1"
    kind: str = "RayCluster"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RayClusterSpec
    status: RayClusterStatus | None = None
