"""The semantic rules of the ray.io kinds: what the types alone cannot say.

Each rule reads the raw object defensively (a field of the wrong type is skipped here: the type
check already reported it) and returns :class:`~rayop.ray.resources.common.Problem` values, so every
problem of an object is found in one pass. KubeRay's own rules (its ``validation.go``) are kept
where rayop shares them; the seed's additions are the Serve config and runtime env checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from rayop.ray.resources.common import Problem
from rayop.ray.resources.rayjob import CLUSTER_SELECTOR_KEY
from rayop.ray.resources.serve import (
    check_serve_config_text,
    import_path_problems,
    parse_yaml_mapping,
    route_prefix_problems,
)

__all__ = ["raycluster_rules", "rayjob_rules", "rayservice_rules"]

MAX_OWNER_NAME = 47
"""A RayJob or RayService names its RayCluster ``<name>-<5 chars>``, and pods add more."""
MAX_CLUSTER_NAME = 63
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def name_rules(obj: Mapping[str, Any], *, kind: str, max_length: int) -> list[Problem]:
    """Check ``metadata.name``: present, a DNS-1035 label, short enough for what it names."""
    name = _get(obj, "metadata", "name")
    if not isinstance(name, str) or not name:
        if isinstance(_get(obj, "metadata", "generateName"), str):
            return []
        return [Problem("metadata.name", "required: every object needs a name")]
    problems: list[Problem] = []
    if len(name) > max_length:
        problems.append(
            Problem(
                "metadata.name",
                f"{len(name)} characters is too long: a {kind} name may have at most "
                f"{max_length}, or the objects named after it would not fit in 63",
            )
        )
    if not _DNS1035.match(name):
        problems.append(
            Problem(
                "metadata.name",
                f"{name!r} is not a DNS-1035 label: use lowercase letters, digits and '-', "
                "starting with a letter and ending with a letter or digit",
            )
        )
    return problems


def cluster_spec_rules(spec: Any, prefix: str) -> list[Problem]:
    """Check a RayCluster spec (also inside a RayJob or RayService) under ``prefix``."""
    if not isinstance(spec, Mapping):
        return []
    problems = _pod_rules(
        _get(spec, "headGroupSpec", "template"), f"{prefix}.headGroupSpec", "head"
    )
    groups = spec.get("workerGroupSpecs")
    if not isinstance(groups, list):
        return problems
    names: set[str] = set()
    for index, group in enumerate(groups):
        if not isinstance(group, Mapping):
            continue
        where = f"{prefix}.workerGroupSpecs[{index}]"
        name = group.get("groupName")
        if isinstance(name, str) and name in names:
            problems.append(Problem(f"{where}.groupName", f"duplicate worker group name {name!r}"))
        elif isinstance(name, str):
            names.add(name)
        problems += _pod_rules(group.get("template"), where, "worker")
        problems += _replica_rules(group, where)
    return problems


def _pod_rules(template: Any, where: str, role: str) -> list[Problem]:
    if not isinstance(template, Mapping):
        return []
    containers = _get(template, "spec", "containers")
    path = f"{where}.template.spec.containers"
    if containers is None or (isinstance(containers, list) and not containers):
        return [Problem(path, f"the {role} pod needs at least one container (Ray's comes first)")]
    if not isinstance(containers, list):
        return [Problem(path, "must be a list of containers")]
    problems: list[Problem] = []
    for index, container in enumerate(containers):
        image = _get(container, "image")
        if not isinstance(image, str) or not image.strip():
            problems.append(
                Problem(
                    f"{path}[{index}].image",
                    "required: the image to run, like rayproject/ray:2.9.0",
                )
            )
    return problems


def _replica_rules(group: Mapping[str, Any], where: str) -> list[Problem]:
    low, want, high = (_int(group.get(k)) for k in ("minReplicas", "replicas", "maxReplicas"))
    problems: list[Problem] = []
    if low is not None and high is not None and low > high:
        problems.append(Problem(f"{where}.minReplicas", f"{low} is above maxReplicas {high}"))
    elif want is not None and low is not None and want < low:
        problems.append(Problem(f"{where}.replicas", f"{want} is below minReplicas {low}"))
    elif want is not None and high is not None and want > high:
        problems.append(Problem(f"{where}.replicas", f"{want} is above maxReplicas {high}"))
    return problems


def raycluster_rules(obj: Mapping[str, Any]) -> list[Problem]:
    """Return the semantic problems of a RayCluster."""
    problems = name_rules(obj, kind="RayCluster", max_length=MAX_CLUSTER_NAME)
    return problems + cluster_spec_rules(obj.get("spec"), "spec")


def rayjob_rules(obj: Mapping[str, Any]) -> list[Problem]:
    """Return the semantic problems of a RayJob."""
    problems = name_rules(obj, kind="RayJob", max_length=MAX_OWNER_NAME)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return problems
    problems += _submission_rules(spec)
    problems += _runtime_env_rules(spec)
    problems += _cluster_choice_rules(spec)
    problems += _lifecycle_rules(spec)
    problems += _entrypoint_resources_rules(spec.get("entrypointResources"))
    return problems + cluster_spec_rules(spec.get("rayClusterSpec"), "spec.rayClusterSpec")


def _submission_rules(spec: Mapping[str, Any]) -> list[Problem]:
    mode = spec.get("submissionMode")
    problems: list[Problem] = []
    if mode in ("K8sJobMode", "SidecarMode"):
        problems.append(
            Problem(
                "spec.submissionMode",
                f"{mode} is not supported yet; use HTTPMode (the default) or InteractiveMode",
            )
        )
    entrypoint = spec.get("entrypoint")
    if mode != "InteractiveMode" and (entrypoint is None or entrypoint == ""):
        problems.append(
            Problem(
                "spec.entrypoint",
                "required: the command to run, like `python script.py` "
                "(only submissionMode InteractiveMode may leave it out)",
            )
        )
    backoff = _int(spec.get("backoffLimit"))
    if mode == "InteractiveMode" and backoff:
        problems.append(
            Problem("spec.backoffLimit", "retries are not supported in InteractiveMode")
        )
    return problems


def _runtime_env_rules(spec: Mapping[str, Any]) -> list[Problem]:
    parsed: dict[str, Any] = {}
    problems: list[Problem] = []
    for key in ("runtimeEnv", "runtimeEnvYAML"):
        text = spec.get(key)
        if not isinstance(text, str) or not text.strip():
            continue
        try:
            parsed[key] = parse_yaml_mapping(text)
        except ValueError as error:
            problems.append(Problem(f"spec.{key}", f"not a runtime environment: {error}"))
    if len(parsed) == 2 and parsed["runtimeEnv"] != parsed["runtimeEnvYAML"]:
        problems.append(
            Problem(
                "spec.runtimeEnvYAML",
                "differs from spec.runtimeEnv: they are one field under two names "
                "(the seed's and KubeRay's); set only one",
            )
        )
    return problems


def _cluster_choice_rules(spec: Mapping[str, Any]) -> list[Problem]:
    selector = spec.get("clusterSelector")
    selecting = isinstance(selector, Mapping) and bool(selector)
    problems: list[Problem] = []
    if spec.get("rayClusterSpec") is None and not selecting:
        problems.append(
            Problem(
                "spec.rayClusterSpec",
                "required: the cluster to create for the job, unless spec.clusterSelector "
                f"names an existing one with {CLUSTER_SELECTOR_KEY}",
            )
        )
    if selecting and not _get(selector, CLUSTER_SELECTOR_KEY):
        problems.append(
            Problem(
                "spec.clusterSelector",
                f"must name the cluster to run on with the key {CLUSTER_SELECTOR_KEY}",
            )
        )
    if selecting and spec.get("suspend") is True:
        problems.append(
            Problem(
                "spec.suspend",
                "a job on a selected cluster (spec.clusterSelector) cannot be suspended",
            )
        )
    return problems


def _lifecycle_rules(spec: Mapping[str, Any]) -> list[Problem]:
    shutdown = spec.get("shutdownAfterJobFinishes") is True
    problems: list[Problem] = []
    ttl = _int(spec.get("ttlSecondsAfterFinished"))
    if ttl is not None and ttl > 0 and not shutdown:
        problems.append(
            Problem(
                "spec.ttlSecondsAfterFinished",
                "has no effect unless spec.shutdownAfterJobFinishes is true; set it or drop it",
            )
        )
    selecting = bool(spec.get("clusterSelector"))
    if spec.get("suspend") is True and not shutdown and not selecting:
        problems.append(
            Problem(
                "spec.suspend",
                "needs spec.shutdownAfterJobFinishes: true (suspending deletes the job's cluster)",
            )
        )
    return problems


def _entrypoint_resources_rules(text: Any) -> list[Problem]:
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    valid = isinstance(value, dict) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
    )
    if valid:
        return []
    return [
        Problem(
            "spec.entrypointResources",
            "must be a JSON object of resource amounts, like '{\"accelerator\": 1}'",
        )
    ]


def rayservice_rules(obj: Mapping[str, Any]) -> list[Problem]:
    """Return the semantic problems of a RayService."""
    problems = name_rules(obj, kind="RayService", max_length=MAX_OWNER_NAME)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return problems
    problems += _serve_config_rules(spec)
    kind = _get(spec, "upgradeStrategy", "type")
    if kind == "NewClusterWithIncrementalUpgrade":
        problems.append(
            Problem(
                "spec.upgradeStrategy.type",
                f"{kind} is not supported yet; use NewCluster (the default) or None",
            )
        )
    cluster = spec.get("rayClusterConfig")
    if _get(cluster, "headGroupSpec", "headService", "metadata", "name"):
        problems.append(
            Problem(
                "spec.rayClusterConfig.headGroupSpec.headService.metadata.name",
                "must not be set: rayop names the head Service after each cluster it creates",
            )
        )
    return problems + cluster_spec_rules(cluster, "spec.rayClusterConfig")


def _serve_config_rules(spec: Mapping[str, Any]) -> list[Problem]:
    text = spec.get("serveConfigV2")
    graph = spec.get("serveDeploymentGraphSpec")
    if text is None and graph is None:
        return [
            Problem(
                "spec.serveConfigV2",
                "required: a Serve config (YAML with `applications:`), or give "
                "spec.serveDeploymentGraphSpec instead",
            )
        ]
    if text is not None and graph is not None:
        return [
            Problem(
                "spec.serveDeploymentGraphSpec",
                "set only one of spec.serveConfigV2 and spec.serveDeploymentGraphSpec",
            )
        ]
    if isinstance(text, str):
        return check_serve_config_text(text, field="spec.serveConfigV2")
    return _graph_rules(graph) if isinstance(graph, Mapping) else []


def _graph_rules(graph: Mapping[str, Any]) -> list[Problem]:
    where = "spec.serveDeploymentGraphSpec"
    problems: list[Problem] = []
    path = graph.get("importPath")
    if isinstance(path, str):
        problems += [Problem(f"{where}.importPath", m) for m in import_path_problems(path)]
    route = graph.get("routePrefix")
    if isinstance(route, str):
        problems += [
            Problem(f"{where}.routePrefix", m) for m in route_prefix_problems(route, set())
        ]
    configs = graph.get("serveConfigs")
    seen: set[str] = set()
    for index, config in enumerate(configs if isinstance(configs, list) else []):
        name = _get(config, "name")
        if isinstance(name, str) and name in seen:
            problems.append(
                Problem(
                    f"{where}.serveConfigs[{index}].name", f"duplicate deployment name {name!r}"
                )
            )
        elif isinstance(name, str):
            seen.add(name)
    runtime_env = graph.get("runtimeEnv")
    if isinstance(runtime_env, str):
        try:
            parse_yaml_mapping(runtime_env)
        except ValueError as error:
            problems.append(Problem(f"{where}.runtimeEnv", f"not a runtime environment: {error}"))
    return problems
