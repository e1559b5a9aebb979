"""Pure builders for what a RayCluster creates: head pod, worker pods, head Service, labels.

No I/O here: each function takes the cluster object (and the model of its spec) and returns the
JSON-shaped object to create, so every rule is testable with plain tables. Names, labels and
ports follow KubeRay, so tools written for KubeRay clusters (dashboards, ``kubectl`` selectors,
the Ray autoscaler) find rayop's pods where they expect them.
"""

from __future__ import annotations

import copy
import shlex
from typing import Any

from rayop.ray.dashboard import head_service_name
from rayop.ray.resources.quantity import quantity_value
from rayop.ray.resources.raycluster import HeadGroupSpec, RayClusterSpec, WorkerGroupSpec
from rayop.runtime.client import Obj
from rayop.runtime.owners import controller_ref

__all__ = [
    "DEFAULT_HEAD_PORTS",
    "HEAD_GROUP",
    "LABEL_CLUSTER",
    "LABEL_GROUP",
    "LABEL_IDENTIFIER",
    "LABEL_NODE_TYPE",
    "SHARED_MEMORY_VOLUME",
    "add_shared_memory",
    "build_head_pod",
    "build_head_service",
    "build_worker_pod",
    "head_service_name",
    "pod_labels",
    "probes",
    "ray_start_command",
    "resource_start_params",
]

LABEL_CLUSTER = "ray.io/cluster"
LABEL_NODE_TYPE = "ray.io/node-type"
LABEL_GROUP = "ray.io/group"
LABEL_IDENTIFIER = "ray.io/identifier"
LABEL_IS_RAY_NODE = "ray.io/is-ray-node"
LABEL_CREATED_BY = "app.kubernetes.io/created-by"
HEAD_GROUP = "headgroup"
CREATED_BY = "rayop"

DEFAULT_HEAD_PORTS: dict[str, int] = {
    "gcs-server": 6379,
    "dashboard": 8265,
    "client": 10001,
    "serve": 8000,
    "metrics": 8080,
}
"""The head Service's ports unless the head container names its own (KubeRay's defaults)."""


def pod_labels(cluster_name: str, node_type: str, group: str) -> dict[str, str]:
    """The labels every pod of a cluster carries (KubeRay's names)."""
    return {
        LABEL_CLUSTER: cluster_name,
        LABEL_NODE_TYPE: node_type,
        LABEL_GROUP: group,
        LABEL_IDENTIFIER: f"{cluster_name}-{node_type}",
        LABEL_IS_RAY_NODE: "yes",
        LABEL_CREATED_BY: CREATED_BY,
    }


def resource_start_params(params: dict[str, str] | None, resources: Obj | None) -> dict[str, str]:
    """``rayStartParams`` completed from the Ray container's resources, as KubeRay completes them.

    ``num-cpus`` from ``limits.cpu`` (else ``requests.cpu``) and ``memory`` from
    ``limits.memory``, each rounded up to a whole number (``500m`` → ``1``; bytes for memory),
    ``num-gpus`` from the first limit, in name order, whose name ends in ``gpu``; zero or absent
    quantities set nothing, and a value the user gave always wins. Without this Ray advertises
    every CPU and all the memory of the *node*, not of the container.
    """
    out = dict(params or {})
    limits = (resources or {}).get("limits") or {}
    requests = (resources or {}).get("requests") or {}

    def whole(value: object) -> int:
        try:
            return quantity_value(value) if isinstance(value, int | float | str) else 0
        except ValueError:
            return 0  # the API server refuses the pod and says why; nothing to add here

    if "num-cpus" not in out:
        cpus = whole(limits.get("cpu")) or whole(requests.get("cpu"))
        if cpus:
            out["num-cpus"] = str(cpus)
    if "memory" not in out and (memory := whole(limits.get("memory"))):
        out["memory"] = str(memory)
    if "num-gpus" not in out:
        for name in sorted(limits):
            if name.endswith("gpu") and (gpus := whole(limits[name])):
                out["num-gpus"] = str(gpus)
                break
    return out


AGENT_PORT = 52365
"""The dashboard agent's port (``dashboard-agent-listen-port``), where node health is served."""
UNIFIED_HEALTH_CHECK = (2, 53)
"""From this Ray version on a node's health is one HTTP endpoint (``/api/healthz``)."""


def _version(text: str | None) -> tuple[int, ...]:
    parts = []
    for word in (text or "").split("."):
        digits = "".join(ch for ch in word if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def probes(
    params: dict[str, str], *, head: bool, ray_version: str | None, serving: bool,
    serve_port: int = 8000,
) -> tuple[Obj, Obj]:
    """The liveness and readiness probes KubeRay gives a Ray container that has none.

    Ray ≥ 2.53 answers one HTTP check (``GET :52365/api/healthz``); older Ray is asked through
    ``wget`` for the raylet's health and, on the head, the GCS's. Workers of a RayService also
    have their Serve proxy checked before they are Ready (and leave the serve Service at its
    first failure), so traffic reaches only replicas that can answer.
    """
    agent = int(params.get("dashboard-agent-listen-port", AGENT_PORT))
    dashboard = int(params.get("dashboard-port", DEFAULT_HEAD_PORTS["dashboard"]))

    def wget(timeout: int, port: int, path: str) -> str:
        return f"wget --tries 1 -T {timeout} -q -O- http://localhost:{port}/{path} | grep success"

    checks = [wget(2, agent, "api/local_raylet_healthz")]
    if head:
        checks.append(wget(10, dashboard, "api/gcs_healthz"))
    unified = _version(ray_version) >= UNIFIED_HEALTH_CHECK
    action: Obj = (
        {"httpGet": {"path": "/api/healthz", "port": agent}} if unified
        else {"exec": {"command": ["bash", "-c", " && ".join(checks)]}}
    )  # fmt: skip
    liveness: Obj = {**copy.deepcopy(action), "initialDelaySeconds": 30,
                     "timeoutSeconds": 5 if head else 2, "periodSeconds": 5,
                     "successThreshold": 1, "failureThreshold": 120}  # fmt: skip
    readiness: Obj = {**copy.deepcopy(action), "initialDelaySeconds": 10,
                      "timeoutSeconds": 5 if head else 2, "periodSeconds": 5,
                      "successThreshold": 1, "failureThreshold": 10}  # fmt: skip
    if serving and not head:
        readiness.pop("httpGet", None)
        proxy = wget(10, serve_port, "-/healthz")
        readiness["exec"] = {"command": ["bash", "-c", " && ".join([*checks, proxy])]}
        readiness["failureThreshold"] = 1
    return liveness, readiness


def ray_start_command(params: dict[str, str] | None, *, head: bool, address: str = "") -> str:
    """Build ``ray start`` from ``rayStartParams``: ``--key=value`` each, in a stable order.

    Workers point at the head Service (``address``); both block, as a container's main process
    must. As KubeRay renders them: a value of ``true`` or ``false`` (any case) makes an on-off
    switch, written bare (``--no-monitor``) or left out, except for the three options Ray
    takes with an explicit boolean (``--include-dashboard=false``, ``--log-color``,
    ``--include-log-monitor``); every other value is ``--key=value``.
    """
    params = dict(params or {})
    parts = ["ray", "start"]
    if head:
        parts.append("--head")
        params.setdefault("dashboard-host", "0.0.0.0")
        params.setdefault("metrics-export-port", str(DEFAULT_HEAD_PORTS["metrics"]))
    else:
        params.setdefault("address", address)
        params.setdefault("metrics-export-port", str(DEFAULT_HEAD_PORTS["metrics"]))
    params.pop("block", None)
    for key in sorted(params):
        value = params[key]
        if value.lower() in ("true", "false") and key not in _VALUED_BOOLEANS:
            if value.lower() == "true":
                parts.append(f"--{key}")
        else:
            parts.append(f"--{key}={value}")
    parts.append("--block")
    return " ".join(shlex.quote(p) if p != "ray" else p for p in parts)


_VALUED_BOOLEANS = frozenset({"log-color", "include-dashboard", "include-log-monitor"})
"""The ``ray start`` options that take ``=true``/``=false`` (KubeRay's list)."""


def _container_ports(template: Obj) -> dict[str, int]:
    containers = (template.get("spec") or {}).get("containers") or []
    ports = (containers[0].get("ports") if containers else None) or []
    return {p["name"]: int(p["containerPort"]) for p in ports if p.get("name")}


ULIMIT = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"
"""Raise the open-files limit before ``ray start`` (KubeRay's form: the pod's env may lower it,
for hosts whose hard limit is below 65536; a refused ``ulimit`` does not stop ``ray start``)."""


def _main_container(template: Obj) -> Obj:
    containers = (template.get("spec") or {}).get("containers") or [{}]
    main: Obj = containers[0]
    return main


SHARED_MEMORY_VOLUME = "shared-mem"
"""KubeRay's name for the memory-backed volume mounted at ``/dev/shm``."""


def add_shared_memory(spec: dict[str, Any], container: Obj) -> None:
    """Mount a memory-backed ``/dev/shm`` in ``container``, as KubeRay does.

    Ray's object store lives in ``/dev/shm``; a container's default one is 64 MB, so without
    this Ray falls back to disk. The volume is an ``emptyDir`` of medium ``Memory`` named
    ``shared-mem``, its ``sizeLimit`` the container's memory limit (else its request, else
    none); nothing is added when the container already mounts something at ``/dev/shm``, and
    a volume of that name already in the pod is used as it is.
    """
    mounts = container.get("volumeMounts") or []
    if any(isinstance(m, dict) and m.get("mountPath") == "/dev/shm" for m in mounts):
        return
    volumes = spec.setdefault("volumes", [])
    if not any(isinstance(v, dict) and v.get("name") == SHARED_MEMORY_VOLUME for v in volumes):
        resources = container.get("resources") or {}
        memory = ((resources.get("limits") or {}).get("memory")
                  or (resources.get("requests") or {}).get("memory"))
        empty_dir: Obj = {"medium": "Memory"}
        if memory is not None:
            empty_dir["sizeLimit"] = str(memory)
        volumes.append({"name": SHARED_MEMORY_VOLUME, "emptyDir": empty_dir})
    container["volumeMounts"] = [*mounts, {"mountPath": "/dev/shm",
                                           "name": SHARED_MEMORY_VOLUME}]


def _pod_from_template(
    cluster: Obj, template: Obj, labels: dict[str, str], generate_name: str, command: str,
    env: list[Obj], probe_pair: tuple[Obj, Obj],
) -> Obj:
    tmpl = copy.deepcopy(template)
    meta = tmpl.get("metadata") or {}
    spec: dict[str, Any] = tmpl.get("spec") or {}
    containers = spec.get("containers") or []
    if containers:
        main = containers[0]
        main["command"] = ["/bin/bash", "-c", "--"]
        main["args"] = [f"{ULIMIT}; {command}"]
        main["env"] = [*(main.get("env") or []), *env]
        main.setdefault("livenessProbe", probe_pair[0])
        main.setdefault("readinessProbe", probe_pair[1])
        add_shared_memory(spec, main)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": generate_name,
            "namespace": cluster["metadata"]["namespace"],
            "labels": {**(meta.get("labels") or {}), **labels},
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [controller_ref(cluster)],
        },
        "spec": spec,
    }


def _env(cluster: Obj, *, head: bool) -> list[Obj]:
    name = cluster["metadata"]["name"]
    ns = cluster["metadata"]["namespace"]
    env = [
        {"name": "RAY_CLUSTER_NAME", "value": name},
        {"name": "RAY_CLUSTER_NAMESPACE", "value": ns},
        {"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"},
    ]
    if head:
        env.append({"name": "RAY_ADDRESS", "value": "127.0.0.1:6379"})
    else:
        env.append({"name": "RAY_ADDRESS", "value": _head_address(cluster)})
    return env


def _head_address(cluster: Obj) -> str:
    name = cluster["metadata"]["name"]
    ns = cluster["metadata"]["namespace"]
    return f"{head_service_name(name)}.{ns}.svc.cluster.local:{DEFAULT_HEAD_PORTS['gcs-server']}"


def build_head_pod(cluster: Obj, head: HeadGroupSpec) -> Obj:
    """The head pod (``<cluster>-head-`` plus a random suffix)."""
    name = cluster["metadata"]["name"]
    labels = pod_labels(name, "head", HEAD_GROUP)
    params = resource_start_params(head.ray_start_params,
                                   _main_container(head.template).get("resources"))
    command = ray_start_command(params, head=True)
    return _pod_from_template(cluster, head.template, labels, f"{name}-head-", command,
                              _env(cluster, head=True), _probes(cluster, params, head=True))


def build_worker_pod(cluster: Obj, group: WorkerGroupSpec) -> Obj:
    """One worker pod of ``group`` (``<cluster>-<group>-worker-`` plus a random suffix)."""
    name = cluster["metadata"]["name"]
    labels = pod_labels(name, "worker", group.group_name)
    params = resource_start_params(group.ray_start_params,
                                   _main_container(group.template).get("resources"))
    command = ray_start_command(params, head=False, address=_head_address(cluster))
    return _pod_from_template(cluster, group.template, labels,
                              f"{name}-{group.group_name}-worker-", command,
                              _env(cluster, head=False), _probes(cluster, params, head=False,
                                                                 template=group.template))


def _probes(cluster: Obj, params: dict[str, str], *, head: bool,
            template: Obj | None = None) -> tuple[Obj, Obj]:
    labels = cluster["metadata"].get("labels") or {}
    serving = labels.get("ray.io/originated-from-crd") == "RayService"
    serve_port = _container_ports(template or {}).get("serve", DEFAULT_HEAD_PORTS["serve"])
    return probes(params, head=head, ray_version=(cluster.get("spec") or {}).get("rayVersion"),
                  serving=serving, serve_port=serve_port)


def build_head_service(cluster: Obj, spec: RayClusterSpec) -> Obj:
    """The head Service ``<cluster>-head-svc`` selecting the head pod."""
    name = cluster["metadata"]["name"]
    head = spec.head_group_spec
    ports = _container_ports(head.template) or DEFAULT_HEAD_PORTS
    svc: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": head_service_name(name),
            "namespace": cluster["metadata"]["namespace"],
            "labels": {LABEL_CLUSTER: name, LABEL_NODE_TYPE: "head", LABEL_CREATED_BY: CREATED_BY},
            "annotations": dict(spec.head_service_annotations or {}),
            "ownerReferences": [controller_ref(cluster)],
        },
        "spec": {
            "type": head.service_type or "ClusterIP",
            "selector": {LABEL_CLUSTER: name, LABEL_NODE_TYPE: "head"},
            "ports": [
                {"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
                for port_name, port in sorted(ports.items(), key=lambda kv: kv[1])
            ],
        },
    }
    return svc
