"""In-process stand-ins for Kubernetes: the fake cluster, its fault plans, the kubelet simulator.

Supported products, not test helpers, and nothing Ray in them: ``FakeCluster`` behaves like an
API server for any kind (with ``FaultPlan`` for deterministic fault injection),
``KubeletSimulator`` moves pods to Running and Ready, and :mod:`rayop.fakes.apiserver` serves a
fake cluster over the Kubernetes REST API. Ray's fake heads live beside the Ray code in
:mod:`rayop.ray.fakes`; ``FakeEnv``, which runs them all with rayop's operator in virtual time,
in :mod:`rayop.testing`. See ``docs/fake-cluster.md``.
"""

from rayop.fakes.cluster import FakeCluster, RecordedCall
from rayop.fakes.faults import FaultPlan, FaultRule
from rayop.fakes.kubelet import KubeletSimulator, PodScript

__all__ = ["FakeCluster", "FaultPlan", "FaultRule", "KubeletSimulator", "PodScript", "RecordedCall"]
