"""rayop: reconcile Ray's Kubernetes resources from Python, the controller-runtime way."""

import importlib
from typing import TYPE_CHECKING, Any

from .cache import Cache, TrackingClient, WriteTracker
from .client import (
    BUILTIN_KINDS,
    CONFIGMAP,
    ENDPOINTS,
    EVENT,
    EVENTS_V1_EVENT,
    JOB,
    LEASE,
    NAMESPACE,
    POD,
    RAYCLUSTER,
    RAYJOB,
    RAYSERVICE,
    SECRET,
    SERVICE,
    ClusterClient,
    Kind,
    ListResult,
    Obj,
    PatchType,
    Preconditions,
    PropagationPolicy,
    WatchEvent,
)
from .clock import Clock, RealClock, VirtualClock, format_time, parse_time, timeout
from .controller import Controller
from .dashboard import (
    DashboardClient,
    DashboardLocator,
    DashboardProvider,
    JobAlreadySubmitted,
    JobDetails,
    JobSubmission,
    ServeDetails,
)
from .errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Cause,
    Conflict,
    DashboardError,
    Forbidden,
    Gone,
    Invalid,
    MethodNotAllowed,
    NotFound,
    RayopError,
    ServerError,
    TerminalError,
    Timeout,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from .events import EventRecorder
from .handlers import (
    Predicate,
    and_,
    annotations_changed,
    enqueue_mapped,
    enqueue_owner,
    enqueue_self,
    generation_changed,
    labels_changed,
    not_,
    or_,
    resource_version_changed,
)
from .informer import FuncHandler, Informer, SharedInformers
from .leader import LeaderElectionConfig, LeaderElector
from .manager import LeaderElectionLost, Manager, ManagerOptions, Watch
from .metrics import ControllerMetrics, WorkQueueMetrics
from .operator import CONTROLLERS, OperatorOptions, add_ray_controllers
from .queue import QueueStatistics, ShutDown, WorkQueue
from .ratelimit import (
    BucketRateLimiter,
    ExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from .reconcile import Reconciler, Request, Result
from .resources import (
    Condition,
    Problem,
    RayCluster,
    RayJob,
    RayService,
    parse_raycluster,
    parse_rayjob,
    parse_rayservice,
    schema_validator,
    set_condition,
    to_wire,
    validate_raycluster,
    validate_rayjob,
    validate_rayservice,
)
from .selectors import FieldSelector, LabelSelector, Requirement, label_selector_from_match
from .store import Store

if TYPE_CHECKING:
    from .dashboard_http import HttpDashboardClient, HttpDashboards
    from .kube import KubeClient, KubeConfigError, RetryPolicy

__version__ = "0.1.0"

_LAZY = {
    "KubeClient": "rayop.kube",
    "KubeConfigError": "rayop.kube",
    "RetryPolicy": "rayop.kube",
    "HttpDashboardClient": "rayop.dashboard_http",
    "HttpDashboards": "rayop.dashboard_http",
}


def __getattr__(name: str) -> Any:
    """Import the backends (kubernetes-asyncio, aiohttp) only when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rayop' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

__all__ = [
    "BUILTIN_KINDS",
    "CONFIGMAP",
    "CONTROLLERS",
    "ENDPOINTS",
    "EVENT",
    "EVENTS_V1_EVENT",
    "JOB",
    "LEASE",
    "NAMESPACE",
    "POD",
    "RAYCLUSTER",
    "RAYJOB",
    "RAYSERVICE",
    "SECRET",
    "SERVICE",
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "BucketRateLimiter",
    "Cache",
    "Cause",
    "Clock",
    "ClusterClient",
    "Condition",
    "Conflict",
    "Controller",
    "ControllerMetrics",
    "DashboardClient",
    "DashboardError",
    "DashboardLocator",
    "DashboardProvider",
    "EventRecorder",
    "ExponentialFailureRateLimiter",
    "FieldSelector",
    "Forbidden",
    "FuncHandler",
    "Gone",
    "HttpDashboardClient",
    "HttpDashboards",
    "Informer",
    "Invalid",
    "JobAlreadySubmitted",
    "JobDetails",
    "JobSubmission",
    "Kind",
    "KubeClient",
    "KubeConfigError",
    "LabelSelector",
    "LeaderElectionConfig",
    "LeaderElectionLost",
    "LeaderElector",
    "ListResult",
    "Manager",
    "ManagerOptions",
    "MaxOfRateLimiter",
    "MethodNotAllowed",
    "NotFound",
    "Obj",
    "OperatorOptions",
    "PatchType",
    "Preconditions",
    "Predicate",
    "Problem",
    "PropagationPolicy",
    "QueueStatistics",
    "RateLimiter",
    "RayCluster",
    "RayJob",
    "RayService",
    "RayopError",
    "RealClock",
    "Reconciler",
    "Request",
    "Requirement",
    "Result",
    "RetryPolicy",
    "ServeDetails",
    "ServerError",
    "SharedInformers",
    "ShutDown",
    "Store",
    "TerminalError",
    "Timeout",
    "TooManyRequests",
    "TrackingClient",
    "Unauthorized",
    "UnsupportedMediaType",
    "VirtualClock",
    "Watch",
    "WatchEvent",
    "WorkQueue",
    "WorkQueueMetrics",
    "WriteTracker",
    "add_ray_controllers",
    "and_",
    "annotations_changed",
    "default_controller_rate_limiter",
    "enqueue_mapped",
    "enqueue_owner",
    "enqueue_self",
    "format_time",
    "generation_changed",
    "label_selector_from_match",
    "labels_changed",
    "not_",
    "or_",
    "parse_raycluster",
    "parse_rayjob",
    "parse_rayservice",
    "parse_time",
    "resource_version_changed",
    "schema_validator",
    "set_condition",
    "timeout",
    "to_wire",
    "validate_raycluster",
    "validate_rayjob",
    "validate_rayservice",
]
