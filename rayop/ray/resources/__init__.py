"""Typed models of the ray.io/v1 kinds, their validation, and their CRD schemas.

Read an object with ``parse_rayjob(obj)`` (the model, or every problem when it is invalid),
check one with ``validate_rayjob(obj)``, write one back with ``to_wire(model)``: fields the
models do not know are kept, so nothing a user wrote is lost. ``schema_validator(kind)`` checks
what an API server with rayop's CRDs checks (see :mod:`rayop.ray.resources.validation` for the
split).
"""

from rayop.ray.resources.common import Problem
from rayop.ray.resources.raycluster import (
    AutoscalerOptions,
    ClusterState,
    HeadGroupSpec,
    HeadInfo,
    RayCluster,
    RayClusterSpec,
    RayClusterStatus,
    ScaleStrategy,
    WorkerGroupSpec,
)
from rayop.ray.resources.rayjob import (
    CLUSTER_SELECTOR_KEY,
    JobDeploymentStatus,
    JobStatus,
    RayJob,
    RayJobSpec,
    RayJobStatus,
    RayJobStatusValue,
    SubmissionMode,
)
from rayop.ray.resources.rayservice import (
    AppHealth,
    ApplicationStatus,
    AppStatus,
    DeploymentStatusEntry,
    RayService,
    RayServiceClusterStatus,
    RayServiceSpec,
    RayServiceStatus,
    RayServiceStatusValue,
    ServeDeploymentStatus,
    UpgradeStrategy,
)
from rayop.ray.resources.schema import MODELS, openapi_schema, schema_validator, structural_schema
from rayop.ray.resources.serve import (
    ServeDeploymentGraphSpec,
    ServeDeploymentSpec,
    check_serve_config,
    check_serve_config_text,
    graph_spec_to_serve_config,
    parse_yaml_mapping,
)
from rayop.ray.resources.validation import (
    VALIDATORS,
    load,
    parse_raycluster,
    parse_rayjob,
    parse_rayservice,
    problems_from_error,
    to_causes,
    validate_raycluster,
    validate_rayjob,
    validate_rayservice,
)
from rayop.runtime.conditions import (
    Condition,
    ConditionStatus,
    find_condition,
    is_condition_true,
    set_condition,
)
from rayop.runtime.models import ObjectMeta, WireModel, to_wire

__all__ = [
    "CLUSTER_SELECTOR_KEY",
    "MODELS",
    "VALIDATORS",
    "AppHealth",
    "AppStatus",
    "ApplicationStatus",
    "AutoscalerOptions",
    "ClusterState",
    "Condition",
    "ConditionStatus",
    "DeploymentStatusEntry",
    "HeadGroupSpec",
    "HeadInfo",
    "JobDeploymentStatus",
    "JobStatus",
    "ObjectMeta",
    "Problem",
    "RayCluster",
    "RayClusterSpec",
    "RayClusterStatus",
    "RayJob",
    "RayJobSpec",
    "RayJobStatus",
    "RayJobStatusValue",
    "RayService",
    "RayServiceClusterStatus",
    "RayServiceSpec",
    "RayServiceStatus",
    "RayServiceStatusValue",
    "ScaleStrategy",
    "ServeDeploymentGraphSpec",
    "ServeDeploymentSpec",
    "ServeDeploymentStatus",
    "SubmissionMode",
    "UpgradeStrategy",
    "WireModel",
    "WorkerGroupSpec",
    "check_serve_config",
    "check_serve_config_text",
    "find_condition",
    "graph_spec_to_serve_config",
    "is_condition_true",
    "load",
    "openapi_schema",
    "parse_raycluster",
    "parse_rayjob",
    "parse_rayservice",
    "parse_yaml_mapping",
    "problems_from_error",
    "schema_validator",
    "set_condition",
    "structural_schema",
    "to_causes",
    "to_wire",
    "validate_raycluster",
    "validate_rayjob",
    "validate_rayservice",
]
