"""Turn a RayJob spec into the Ray Jobs API submission, as KubeRay passes its fields."""

from __future__ import annotations

from typing import Any

from rayop.ray.dashboard import JobSubmission
from rayop.ray.resources.rayjob import RayJobSpec
from rayop.ray.resources.serve import parse_yaml_mapping
from rayop.runtime import jsoncodec

__all__ = ["runtime_env_of", "submission_for"]


def runtime_env_of(spec: RayJobSpec) -> dict[str, Any] | None:
    """Ray's runtime env from ``runtimeEnv`` (seed) or ``runtimeEnvYAML`` (KubeRay)."""
    text = spec.runtime_env or spec.runtime_env_yaml
    if not text or not text.strip():
        return None
    return parse_yaml_mapping(text)


def _resources(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    parsed = jsoncodec.loads(text)
    return {str(k): float(v) for k, v in parsed.items()}


def submission_for(spec: RayJobSpec, submission_id: str) -> JobSubmission:
    """The ``POST /api/jobs/`` body for ``spec`` under ``submission_id``."""
    return JobSubmission(
        entrypoint=spec.entrypoint or "",
        submission_id=submission_id,
        runtime_env=runtime_env_of(spec),
        metadata=dict(spec.metadata) if spec.metadata else None,
        entrypoint_num_cpus=float(spec.entrypoint_num_cpus)
        if spec.entrypoint_num_cpus is not None else None,
        entrypoint_num_gpus=float(spec.entrypoint_num_gpus)
        if spec.entrypoint_num_gpus is not None else None,
        entrypoint_resources=_resources(spec.entrypoint_resources),
    )
