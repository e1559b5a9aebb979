"""In-process stand-ins for Kubernetes and Ray: the fake cluster, simulators, fake dashboards.

Supported products, not test helpers: ``FakeCluster`` behaves like an API server (with
``FaultPlan`` for deterministic fault injection), ``KubeletSimulator`` moves pods to Running and
Ready, ``FakeDashboards`` plays one Ray head per RayCluster, and ``FakeEnv`` runs all of them with
rayop's manager in virtual time. See ``docs/fake-cluster.md``.
"""

from .cluster import FakeCluster, RecordedCall
from .dashboard import AppScript, FakeDashboard, FakeDashboards, JobScript
from .env import FakeEnv, with_ray_kinds
from .faults import FaultPlan, FaultRule
from .kubelet import KubeletSimulator, PodScript

__all__ = [
    "AppScript",
    "FakeCluster",
    "FakeDashboard",
    "FakeDashboards",
    "FakeEnv",
    "FaultPlan",
    "FaultRule",
    "JobScript",
    "KubeletSimulator",
    "PodScript",
    "RecordedCall",
    "with_ray_kinds",
]
