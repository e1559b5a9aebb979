"""The public names: rayop and rayop.fakes re-export what users need, and every name resolves."""

from __future__ import annotations

import importlib

import pytest

import rayop
import rayop.fakes

RUNTIME_MODULES = (
    "cache", "clock", "client", "controller", "errors", "events", "handlers", "informer",
    "leader", "manager", "metrics", "operator", "patch", "queue", "ratelimit", "reconcile",
    "selectors", "sharedinformers", "store",
)

# Reached through their module on purpose: a second "Event" beside the EVENT kind would confuse,
# two modules name an EventType (watch events; Normal/Warning), and the rest are type aliases or
# helpers of one module.
NOT_AT_TOP = {
    "rayop.client": {"EventType"},
    "rayop.events": {"EventType"},
    "rayop.handlers": {"Event", "EventKind", "QueueLike"},
    "rayop.store": {"Key", "compare_versions"},
    "rayop.operator": {"READS"},
}


def test_every_name_in_all_resolves() -> None:
    assert [n for n in rayop.__all__ if not hasattr(rayop, n)] == []
    assert [n for n in rayop.fakes.__all__ if not hasattr(rayop.fakes, n)] == []
    assert len(set(rayop.__all__)) == len(rayop.__all__)


@pytest.mark.parametrize("module", RUNTIME_MODULES)
def test_each_runtime_module_public_name_is_re_exported(module: str) -> None:
    mod = importlib.import_module(f"rayop.{module}")
    skip = NOT_AT_TOP.get(mod.__name__, set())
    missing = [n for n in mod.__all__ if n not in rayop.__all__ and n not in skip]
    assert missing == []
    for name in mod.__all__:
        if name in rayop.__all__:
            assert getattr(rayop, name) is getattr(mod, name), name


def test_the_names_an_embedding_operator_needs_are_at_the_top() -> None:
    wanted = {"Manager", "ManagerOptions", "Controller", "Request", "Result", "Reconciler",
              "EnqueueHandler", "enqueue_self", "enqueue_owner", "enqueue_mapped", "Predicate",
              "EventRecorder", "merge_patch", "json_patch", "Watch", "LeaderElectionConfig",
              "LeaderElectionLost", "CacheSyncTimeout", "Informer", "SharedInformers", "Store",
              "WorkQueue", "Cache", "TerminalError", "VirtualClock", "add_ray_controllers"}
    assert wanted <= set(rayop.__all__)
    assert {"FakeCluster", "FaultPlan", "KubeletSimulator", "FakeDashboards", "FakeEnv"} <= set(
        rayop.fakes.__all__)
