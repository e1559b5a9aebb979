"""A fake cluster that serves the Ray kinds, validated as an API server with rayop's CRDs would."""

from __future__ import annotations

from rayop.fakes.cluster import FakeCluster
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.ray.resources.schema import schema_validator

__all__ = ["with_ray_kinds"]


def with_ray_kinds(cluster: FakeCluster) -> FakeCluster:
    """Serve RayCluster, RayJob and RayService on ``cluster``; return the cluster.

    Each kind is validated against rayop's CRD schema, as an API server with the CRDs would.
    """
    for kind in (RAYCLUSTER, RAYJOB, RAYSERVICE):
        cluster.register_kind(kind, validator=schema_validator(kind))
    return cluster
