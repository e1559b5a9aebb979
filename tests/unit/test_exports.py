"""The public names: ``rayop`` is the library's curated API, each subpackage's names resolve, and
no Ray name is reachable from the runtime package."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import rayop
import rayop.runtime
from rayop.runtime.client import Kind

# The library's public API, pinned: adding or removing a name is a decision, made here.
PUBLIC = {
    # the client contract
    "ClusterClient", "Kind", "Obj", "WatchEvent", "PatchType", "Preconditions",
    "PropagationPolicy", "KubeClient", "FakeCluster",
    # errors
    "RayopError", "ApiError", "NotFound", "Conflict", "AlreadyExists", "Gone", "Invalid",
    "TerminalError",
    # time
    "Clock", "RealClock", "VirtualClock",
    # running controllers
    "Manager", "ManagerOptions", "Watch", "Controller", "Reconciler", "Request", "Result",
    "Cache", "EventRecorder", "LabelSelector", "LeaderElectionConfig",
    "enqueue_owner", "enqueue_self", "enqueue_mapped", "generation_changed",
    # the reconciler kit
    "Condition", "set_condition", "StatusWriter", "Finalizer", "controller_ref",
}


def _modules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return [package, *(m.name for m in pkgutil.walk_packages(pkg.__path__, package + "."))]


ALL_MODULES = _modules("rayop")


def test_the_public_api_is_exactly_the_curated_list() -> None:
    assert set(rayop.__all__) == PUBLIC
    assert len(rayop.__all__) == len(set(rayop.__all__))
    assert [n for n in rayop.__all__ if not hasattr(rayop, n)] == []


@pytest.mark.parametrize("module", [m for m in ALL_MODULES if not m.endswith("__main__")])
def test_every_module_names_its_public_api_and_every_name_resolves(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__, f"{module} has no docstring"
    names = getattr(mod, "__all__", None)
    if names is None:
        assert module.rsplit(".", 1)[-1].startswith("_") or module.endswith("__init__"), (
            f"{module} has no __all__")
        return
    assert [n for n in names if not hasattr(mod, n)] == []


@pytest.mark.parametrize("module", _modules("rayop.runtime"))
def test_no_ray_name_is_reachable_from_the_runtime(module: str) -> None:
    mod = importlib.import_module(module)
    for name, value in vars(mod).items():
        assert not (isinstance(value, Kind) and value.group == "ray.io"), f"{module}.{name}"
        assert not name.upper().startswith("RAY") or name.startswith("Rayop"), f"{module}.{name}"
        origin = getattr(value, "__module__", None) or ""
        assert not (origin.startswith("rayop.") and not origin.startswith("rayop.runtime")), (
            f"{module}.{name} comes from {origin}")


def test_every_rayop_exception_derives_from_the_root_and_is_in_the_drawing() -> None:
    import rayop.runtime.errors as errors

    found = {}
    for module in ALL_MODULES:
        if module.endswith("__main__"):
            continue
        for value in vars(importlib.import_module(module)).values():
            if (isinstance(value, type) and issubclass(value, BaseException)
                    and value.__module__.startswith("rayop")):
                found[value.__name__] = value
    assert len(found) > 25
    assert [n for n, cls in found.items() if not issubclass(cls, rayop.RayopError)] == []
    drawing = errors.__doc__ or ""
    drawn = set(re.findall(r"^\s*(?:[│ ]*[├└]── )?([A-Z]\w+)", drawing, re.M))
    assert sorted(set(found) - drawn) == []
