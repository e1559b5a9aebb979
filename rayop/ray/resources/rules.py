"""The semantic rules of the ray.io kinds: what the types alone cannot say.

Each rule reads the raw object defensively (a field of the wrong type is skipped here: the type
check already reported it) and returns :class:`~rayop.ray.resources.common.Problem` values, so every
problem of an object is found in one pass. KubeRay's own rules (its ``validation.go``) are kept
where rayop shares them; the seed's additions are the Serve config and runtime env checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rayop.ray.resources.common import Problem, describe_value
from rayop.ray.resources.quantity import parse_quantity
from rayop.ray.resources.rayjob import CLUSTER_SELECTOR_KEY
from rayop.ray.resources.serve import (
    check_serve_config_text,
    import_path_problems,
    parse_yaml_mapping,
    route_prefix_problems,
)
from rayop.runtime import jsoncodec

__all__ = ["raycluster_rules", "rayjob_rules", "rayservice_rules"]

MAX_OWNER_NAME = 47
"""A RayJob or RayService names its RayCluster ``<name>-<5 chars>``, and pods add more."""
MAX_CLUSTER_NAME = 63
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
MAX_REPLICAS = 10_000
"""The most pods one worker group may ask for (``replicas`` or ``minReplicas`` times
``numOfHosts``): a typo of ``replicas: 1000000`` would otherwise fill the API server with pods.
``maxReplicas`` is not bounded (KubeRay's default is 2147483647)."""
MAX_ANNOTATIONS_BYTES = 256 * 1024
"""The API server's limit on an object's annotations, keys and values together."""


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
    problems += _string_map_rules(spec.get("headServiceAnnotations"),
                                  f"{prefix}.headServiceAnnotations", labels=False)
    for group_key in ("headGroupSpec",):
        params = _get(spec, group_key, "rayStartParams")
        problems += _params_rules(params, f"{prefix}.{group_key}.rayStartParams")
    groups = spec.get("workerGroupSpecs")
    if not isinstance(groups, list):
        return problems
    names: set[str] = set()
    for index, group in enumerate(groups):
        if not isinstance(group, Mapping):
            continue
        where = f"{prefix}.workerGroupSpecs[{index}]"
        name = group.get("groupName")
        if not (isinstance(name, str) and len(name) <= 63 and _DNS1123_LABEL.match(name)):
            problems.append(Problem(f"{where}.groupName", "required: a DNS-1123 label (lowercase "
                                    "letters, digits and '-'), as it names the group's pods"))
        elif name in names:
            problems.append(Problem(f"{where}.groupName", f"duplicate worker group name {name!r}"))
        elif isinstance(name, str):
            names.add(name)
        problems += _pod_rules(group.get("template"), where, "worker")
        problems += _params_rules(group.get("rayStartParams"), f"{where}.rayStartParams")
        problems += _replica_rules(group, where)
    return problems


def _pod_rules(template: Any, where: str, role: str) -> list[Problem]:
    """The parts of a pod template rayop reads or copies into the pods it builds.

    The CRD leaves the template open (as a PodTemplateSpec it would be thousands of lines), so
    the shapes the API server would check on the pod are checked here, where the field can be
    named: otherwise the pod create fails on every reconcile with the pod's field paths.
    """
    if template is None:
        return []
    path = f"{where}.template"
    if not isinstance(template, Mapping):
        return [Problem(path, f"must be a pod template (a mapping), got "
                              f"{describe_value(template)}")]
    problems = _metadata_rules(template.get("metadata"), f"{path}.metadata")
    spec = template.get("spec")
    if spec is not None and not isinstance(spec, Mapping):
        return [*problems, Problem(f"{path}.spec", "must be a pod spec (a mapping)")]
    containers = _get(template, "spec", "containers")
    path = f"{path}.spec.containers"
    if containers is None or (isinstance(containers, list) and not containers):
        return [*problems,
                Problem(path, f"the {role} pod needs at least one container (Ray's comes first)")]
    if not isinstance(containers, list):
        return [*problems, Problem(path, "must be a list of containers")]
    for index, container in enumerate(containers):
        problems += _container_rules(container, f"{path}[{index}]")
    return problems


def _container_rules(container: Any, where: str) -> list[Problem]:
    if not isinstance(container, Mapping):
        return [Problem(where, f"must be a container (a mapping), got {describe_value(container)}")]
    problems: list[Problem] = []
    name = container.get("name")
    if not isinstance(name, str) or not _DNS1123_LABEL.match(name) or len(name) > 63:
        problems.append(Problem(f"{where}.name", "required: a DNS-1123 label, like ray-head"))
    image = container.get("image")
    if not isinstance(image, str) or not image.strip():
        problems.append(
            Problem(f"{where}.image", "required: the image to run, like rayproject/ray:2.9.0")
        )
    for key in ("command", "args"):
        value = container.get(key)
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value)):
            problems.append(Problem(f"{where}.{key}", "must be a list of strings"))
    problems += _list_of_mappings(container.get("env"), f"{where}.env", required=("name",))
    problems += _ports_rules(container.get("ports"), f"{where}.ports")
    problems += _resources_rules(container.get("resources"), f"{where}.resources")
    return problems


def _list_of_mappings(value: Any, where: str, *, required: tuple[str, ...]) -> list[Problem]:
    if value is None:
        return []
    if not isinstance(value, list):
        return [Problem(where, f"must be a list, got {describe_value(value)}")]
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            return [Problem(f"{where}[{index}]", f"must be a mapping, got {describe_value(item)}")]
        for key in required:
            if not isinstance(item.get(key), str) or not item.get(key):
                return [Problem(f"{where}[{index}].{key}", "required: a string")]
    return []


def _ports_rules(ports: Any, where: str) -> list[Problem]:
    problems = _list_of_mappings(ports, where, required=())
    if problems or ports is None:
        return problems
    for index, port in enumerate(ports):
        number = _int(port.get("containerPort"))
        if number is None or not 1 <= number <= 65535:
            problems.append(Problem(f"{where}[{index}].containerPort",
                                    "required: a port number from 1 to 65535"))
        name = port.get("name")
        if name is not None and not (isinstance(name, str) and len(name) <= 15
                                     and _DNS1123_LABEL.match(name)):
            problems.append(Problem(f"{where}[{index}].name", "must be an IANA service name: at "
                                    "most 15 lowercase letters, digits and '-'"))
    return problems


def _resources_rules(resources: Any, where: str) -> list[Problem]:
    if resources is None:
        return []
    if not isinstance(resources, Mapping):
        return [Problem(where, f"must be a mapping, got {describe_value(resources)}")]
    problems: list[Problem] = []
    for key in ("limits", "requests"):
        amounts = resources.get(key)
        if amounts is None:
            continue
        if not isinstance(amounts, Mapping):
            problems.append(Problem(f"{where}.{key}", "must map resource names to quantities"))
            continue
        for name, amount in amounts.items():
            try:
                if not isinstance(amount, int | float | str):
                    raise ValueError(amount)
                parse_quantity(amount)
            except ValueError:
                problems.append(Problem(f"{where}.{key}.{name}", f"{describe_value(amount)} "
                                        "is not a quantity, like 2 or 500m or 4Gi"))
    return problems


def _metadata_rules(meta: Any, where: str) -> list[Problem]:
    """Labels and annotations as the API server checks them on the objects built from them."""
    if meta is None:
        return []
    if not isinstance(meta, Mapping):
        return [Problem(where, f"must be a mapping, got {describe_value(meta)}")]
    return (_string_map_rules(meta.get("labels"), f"{where}.labels", labels=True)
            + _string_map_rules(meta.get("annotations"), f"{where}.annotations", labels=False))


def _string_map_rules(value: Any, where: str, *, labels: bool) -> list[Problem]:
    """Keys that are qualified names, string values (label values short and plain)."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [Problem(where, f"must map strings to strings, got {describe_value(value)}")]
    size = 0
    for key, item in value.items():
        if not _qualified_name(key):
            return [Problem(where, f"{str(key)[:80]!r} is not a valid key: an optional DNS "
                            "subdomain and '/', then at most 63 letters, digits, '-', '_' "
                            "or '.', starting and ending with a letter or digit")]
        if not isinstance(item, str):
            return [Problem(f"{where}.{key}", f"must be a string, got {describe_value(item)}")]
        if labels and item and not (len(item) <= 63 and _NAME_PART.match(item)):
            return [Problem(f"{where}.{key}", "a label value has at most 63 letters, digits, "
                            "'-', '_' or '.', starting and ending with a letter or digit")]
        size += len(key) + len(item)
    if not labels and size > MAX_ANNOTATIONS_BYTES:
        return [Problem(where, f"{size} bytes: annotations may total at most 256 KiB")]
    return []


def _qualified_name(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if prefix and not (len(prefix) <= 253 and _DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_NAME_PART.match(name))


_PORT_PARAMS = ("port", "dashboard-port", "dashboard-agent-listen-port", "metrics-export-port",
                "ray-client-server-port", "node-manager-port", "object-manager-port")


def _params_rules(params: Any, where: str) -> list[Problem]:
    """``rayStartParams``: strings, and the ports rayop reads numbers."""
    if not isinstance(params, Mapping):
        return []
    for key in _PORT_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and not (value.strip().isdigit()
                                           and 1 <= int(value) <= 65535):
            return [Problem(f"{where}.{key}", f"{value[:40]!r} is not a port number")]
    return []


def _replica_rules(group: Mapping[str, Any], where: str) -> list[Problem]:
    low, want, high = (_int(group.get(k)) for k in ("minReplicas", "replicas", "maxReplicas"))
    hosts = _int(group.get("numOfHosts")) or 1
    problems: list[Problem] = []
    for key, value in (("replicas", want), ("minReplicas", low)):
        if value is not None and value * hosts > MAX_REPLICAS:
            problems.append(Problem(f"{where}.{key}", f"{value} replicas of {hosts} hosts "
                                    f"is more than the {MAX_REPLICAS} pods a worker group may "
                                    "have in rayop"))
    if problems:
        return problems
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
        value = jsoncodec.loads(text)  # a ValueError at any depth
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
