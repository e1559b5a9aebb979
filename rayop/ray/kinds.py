"""The ``ray.io/v1`` kinds rayop reconciles, as :class:`~rayop.runtime.client.Kind` values."""

from __future__ import annotations

from rayop.runtime.client import Kind

__all__ = ["RAYCLUSTER", "RAYJOB", "RAYSERVICE", "RAY_KINDS"]

RAYCLUSTER = Kind("ray.io", "v1", "RayCluster", "rayclusters")
RAYJOB = Kind("ray.io", "v1", "RayJob", "rayjobs")
RAYSERVICE = Kind("ray.io", "v1", "RayService", "rayservices")

RAY_KINDS: frozenset[Kind] = frozenset({RAYCLUSTER, RAYJOB, RAYSERVICE})
"""The three kinds whose objects carry the user's labels (the operator's ``selector_kinds``)."""
