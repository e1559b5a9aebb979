"""RayService (``ray.io/v1``): Serve applications on a RayCluster, upgraded without downtime.

The Serve config is given once, as ``serveConfigV2`` (Serve's YAML) or as the structured
``serveDeploymentGraphSpec``; :meth:`RayServiceSpec.serve_config` turns either into the JSON
document Ray's ``PUT /api/serve/applications/`` takes. The status carries the seed's fields
(``status``, ``appStatus``, ``deploymentStatuses``...) beside KubeRay's (``serviceStatus``,
``conditions``, ``numServeEndpoints``...).
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import Field

from rayop.ray.resources.raycluster import RayClusterSpec, RayClusterStatus
from rayop.ray.resources.serve import (
    ServeDeploymentGraphSpec,
    graph_spec_to_serve_config,
    load_yaml,
)
from rayop.runtime.conditions import CONDITIONS_SCHEMA, Condition
from rayop.runtime.models import ObjectMeta, WireModel

__all__ = [
    "APPLICATION_STATUSES",
    "APP_HEALTH_STATUSES",
    "CONDITION_READY",
    "CONDITION_UPGRADE_IN_PROGRESS",
    "DEFAULT_CLUSTER_DELETION_DELAY_SECONDS",
    "DEFAULT_UNHEALTHY_RESTART_THRESHOLD",
    "DEFAULT_UNHEALTHY_SECOND_THRESHOLD",
    "DEPLOYMENT_STATUSES",
    "RAYSERVICE_STATUSES",
    "UPGRADE_TYPES",
    "AppHealth",
    "AppStatus",
    "ApplicationStatus",
    "DeploymentStatusEntry",
    "RayService",
    "RayServiceClusterStatus",
    "RayServiceSpec",
    "RayServiceStatus",
    "RayServiceStatusValue",
    "ServeDeploymentStatus",
    "UpgradeStrategy",
]

DEFAULT_UNHEALTHY_SECOND_THRESHOLD = 900
"""Seconds unhealthy before the serving cluster is replaced, when the spec does not say."""
DEFAULT_UNHEALTHY_RESTART_THRESHOLD = 3
"""Unhealthy replacements before the RayService is FAILED, when the spec does not say."""
DEFAULT_CLUSTER_DELETION_DELAY_SECONDS = 60
"""Seconds an old cluster lives after traffic moved off it, when the spec does not say."""

CONDITION_READY = "Ready"
CONDITION_UPGRADE_IN_PROGRESS = "UpgradeInProgress"

RayServiceStatusValue = Literal["DEPLOYING", "RUNNING", "UNHEALTHY", "FAILED", "SUSPENDED"]
"""The seed's ``status.status``."""

RAYSERVICE_STATUSES: tuple[str, ...] = ("DEPLOYING", "RUNNING", "UNHEALTHY", "FAILED", "SUSPENDED")

AppHealth = Literal["HEALTHY", "DEPLOYING", "UNHEALTHY", "DEPLOY_FAILED"]
"""The seed's ``status.appStatus.status``: all applications together."""

APP_HEALTH_STATUSES: tuple[str, ...] = ("HEALTHY", "DEPLOYING", "UNHEALTHY", "DEPLOY_FAILED")

ApplicationStatusValue = Literal[
    "NOT_STARTED", "DEPLOYING", "RUNNING", "DEPLOY_FAILED", "DELETING", "UNHEALTHY"
]
APPLICATION_STATUSES: tuple[str, ...] = (
    "NOT_STARTED",
    "DEPLOYING",
    "RUNNING",
    "DEPLOY_FAILED",
    "DELETING",
    "UNHEALTHY",
)

DeploymentStatusValue = Literal[
    "UPDATING", "HEALTHY", "UNHEALTHY", "DEPLOY_FAILED", "UPSCALING", "DOWNSCALING"
]
DEPLOYMENT_STATUSES: tuple[str, ...] = (
    "UPDATING",
    "HEALTHY",
    "UNHEALTHY",
    "DEPLOY_FAILED",
    "UPSCALING",
    "DOWNSCALING",
)

UpgradeType = Literal["NewCluster", "None", "NewClusterWithIncrementalUpgrade"]
UPGRADE_TYPES: tuple[str, ...] = ("NewCluster", "None", "NewClusterWithIncrementalUpgrade")


class UpgradeStrategy(WireModel):
    """How a change to ``rayClusterConfig`` is rolled out."""

    type: UpgradeType | None = Field(
        default=None, description="NewCluster (default): zero-downtime; None: never upgrade."
    )


class RayServiceSpec(WireModel):
    """The desired service: a cluster and the Serve applications on it."""

    ray_cluster_config: RayClusterSpec = Field(description="The RayCluster to serve from.")
    serve_config_v2: str | None = Field(
        default=None, alias="serveConfigV2", description="Serve config YAML (`applications:`)."
    )
    serve_deployment_graph_spec: ServeDeploymentGraphSpec | None = None
    deployment_unhealthy_second_threshold: int | None = Field(
        default=None, ge=0, description="Seconds unhealthy before the cluster is replaced."
    )
    deployment_unhealthy_restart_threshold: int | None = Field(
        default=None, ge=0, description="Replacements before the service is FAILED."
    )
    upgrade_strategy: UpgradeStrategy | None = None
    ray_cluster_deletion_delay_seconds: int | None = Field(
        default=None, ge=0, description="Delay before an old cluster is deleted (default 60)."
    )
    serve_service: dict[str, Any] | None = Field(
        default=None, description="A Service merged into the generated serve Service."
    )
    exclude_head_pod_from_serve_svc: bool | None = None
    suspend: bool | None = None

    def serve_config(self) -> dict[str, Any]:
        """Return the Serve config as the JSON ``PUT /api/serve/applications/`` takes.

        Raises ``ValueError`` when neither field holds a config, or when it does not parse;
        validation reports both before a reconciler gets here.
        """
        if self.serve_config_v2 is not None:
            try:
                document = load_yaml(self.serve_config_v2)
            except yaml.YAMLError as error:
                raise ValueError(f"serveConfigV2 is not YAML: {error}") from None
            if not isinstance(document, dict):
                raise ValueError("serveConfigV2 is not a Serve config mapping")
            return document
        if self.serve_deployment_graph_spec is not None:
            return graph_spec_to_serve_config(self.serve_deployment_graph_spec)
        raise ValueError("neither serveConfigV2 nor serveDeploymentGraphSpec is set")


class AppStatus(WireModel):
    """The seed's ``appStatus``: the health of all applications together."""

    status: AppHealth | None = None
    message: str | None = None


class ServeDeploymentStatus(WireModel):
    """One deployment's status inside an application (KubeRay's shape)."""

    status: DeploymentStatusValue | None = None
    message: str | None = None
    health_last_update_time: str | None = None


class ApplicationStatus(WireModel):
    """One application's status, with its deployments (KubeRay's shape)."""

    status: ApplicationStatusValue | None = None
    message: str | None = None
    health_last_update_time: str | None = None
    serve_deployment_statuses: dict[str, ServeDeploymentStatus] | None = None


class RayServiceClusterStatus(WireModel):
    """What runs on one cluster: the active one or the pending (upgrading) one."""

    ray_cluster_name: str | None = None
    application_statuses: dict[str, ApplicationStatus] | None = None
    ray_cluster_status: RayClusterStatus | None = None


class DeploymentStatusEntry(WireModel):
    """One entry of the seed's flat ``deploymentStatuses[]``."""

    application: str | None = None
    name: str | None = None
    status: DeploymentStatusValue | None = None
    message: str | None = None


class RayServiceStatus(WireModel):
    """The observed service: the seed's fields and KubeRay's."""

    status: RayServiceStatusValue | None = Field(default=None, description="Seed status.")
    message: str | None = None
    reason: str | None = None
    app_status: AppStatus | None = None
    ray_cluster_name: str | None = None
    active_service_status: RayServiceClusterStatus | None = None
    pending_service_status: RayServiceClusterStatus | None = None
    deployment_statuses: list[DeploymentStatusEntry] | None = None
    start_time: str | None = None
    end_time: str | None = None
    service_status: Literal["Running", ""] | None = Field(
        default=None, description="KubeRay: Running when serving, else empty."
    )
    conditions: list[Condition] | None = Field(default=None, json_schema_extra=CONDITIONS_SCHEMA)
    num_serve_endpoints: int | None = Field(default=None, ge=0)
    unhealthy_replacements: int | None = Field(
        default=None, ge=0, description="Clusters replaced for being unhealthy."
    )
    observed_generation: int | None = Field(default=None, ge=0)
    last_update_time: str | None = None


class RayService(WireModel):
    """A whole RayService object."""

    api_version: str = "ray.io/v1"
    kind: str = "RayService"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RayServiceSpec
    status: RayServiceStatus | None = None
