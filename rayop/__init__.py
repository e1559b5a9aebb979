"""rayop: reconcile Kubernetes resources from Python, the controller-runtime way, Ray's first.

This module is the library's public API: the names an operator author needs to write and run a
controller. Everything else is reachable from its subpackage, laid out in the order data flows::

    rayop.runtime      the library: client contract, errors, clock, informers, cache, queue,
                       controller, manager, leader election, events, metrics, reconciler kit
    rayop.kube         the real backend (kubernetes-asyncio)
    rayop.fakes        the in-memory backend: fake API server, kubelet simulator, fault plans
    rayop.ray          Ray's domain: kinds, typed models, dashboard client, CRDs, fake Ray heads
    rayop.reconcilers  the three Ray controllers: raycluster/, rayjob/, rayservice/
    rayop.operator     the table of controllers and the operator built from it; manifests
    rayop.testing      the simulation kit: FakeEnv, Simulation, seeded chaos, pytest plugin
    rayop.cli          the ``rayop`` command

Each layer imports only the layers listed below it (enforced by import-linter).
"""

import importlib
from typing import TYPE_CHECKING, Any

from rayop._version import __version__ as __version__
from rayop.fakes.cluster import FakeCluster
from rayop.runtime.cache import Cache
from rayop.runtime.client import (
    ClusterClient,
    Kind,
    Obj,
    PatchType,
    Preconditions,
    PropagationPolicy,
    WatchEvent,
)
from rayop.runtime.clock import Clock, RealClock, VirtualClock
from rayop.runtime.conditions import Condition, set_condition
from rayop.runtime.controller import Controller
from rayop.runtime.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    RayopError,
    TerminalError,
)
from rayop.runtime.events import EventRecorder
from rayop.runtime.finalizers import Finalizer
from rayop.runtime.handlers import enqueue_mapped, enqueue_owner, enqueue_self, generation_changed
from rayop.runtime.leader import LeaderElectionConfig
from rayop.runtime.manager import Manager, ManagerOptions, Watch
from rayop.runtime.owners import controller_ref
from rayop.runtime.reconcile import Reconciler, Request, Result
from rayop.runtime.selectors import LabelSelector
from rayop.runtime.status import StatusWriter

if TYPE_CHECKING:
    from rayop.kube import KubeClient



def __getattr__(name: str) -> Any:
    """Import the real backend (kubernetes-asyncio, aiohttp) only when first asked for."""
    if name == "KubeClient":
        return importlib.import_module("rayop.kube").KubeClient
    raise AttributeError(f"module 'rayop' has no attribute {name!r}")


__all__ = [
    "AlreadyExists",
    "ApiError",
    "Cache",
    "Clock",
    "ClusterClient",
    "Condition",
    "Conflict",
    "Controller",
    "EventRecorder",
    "FakeCluster",
    "Finalizer",
    "Gone",
    "Invalid",
    "Kind",
    "KubeClient",
    "LabelSelector",
    "LeaderElectionConfig",
    "Manager",
    "ManagerOptions",
    "NotFound",
    "Obj",
    "PatchType",
    "Preconditions",
    "PropagationPolicy",
    "RayopError",
    "RealClock",
    "Reconciler",
    "Request",
    "Result",
    "StatusWriter",
    "TerminalError",
    "VirtualClock",
    "Watch",
    "WatchEvent",
    "controller_ref",
    "enqueue_mapped",
    "enqueue_owner",
    "enqueue_self",
    "generation_changed",
    "set_condition",
]
