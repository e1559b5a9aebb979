"""Pure builders of a RayService's own Services and of its RayClusters.

The RayService keeps two Services of its own that outlive any one cluster, so clients keep one
address across upgrades: the head Service ``<service>-head-svc`` (dashboard, client, GCS and
Serve ports of the active cluster's head pod) and the serve Service ``<service>-serve-svc`` (or
the user's ``spec.serveService``), which selects only pods labelled ``ray.io/serve=true``.
Switching traffic to a new cluster is one update of each Service's selector.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from rayop.reconcilers.raycluster.pods import (
    DEFAULT_HEAD_PORTS,
    LABEL_CLUSTER,
    LABEL_NODE_TYPE,
)
from rayop.reconcilers.rayservice.hash import cluster_annotations
from rayop.reconcilers.rayservice.serve import config_matches
from rayop.runtime.client import Obj
from rayop.runtime.owners import controller_ref

__all__ = [
    "LABEL_ORIGIN_KIND",
    "LABEL_ORIGIN_NAME",
    "LABEL_SERVE",
    "build_cluster",
    "build_head_service",
    "build_serve_service",
    "head_service_name",
    "serve_service_name",
    "service_update",
]

LABEL_SERVE = "ray.io/serve"
LABEL_ORIGIN_KIND = "ray.io/originated-from-crd"
LABEL_ORIGIN_NAME = "ray.io/originated-from-cr-name"

_HEAD_PORT_NAMES = ("gcs-server", "dashboard", "client", "serve")
_SERVE_PORT = {"name": "serve", "port": DEFAULT_HEAD_PORTS["serve"],
               "targetPort": DEFAULT_HEAD_PORTS["serve"], "protocol": "TCP"}


def head_service_name(service: str) -> str:
    """``<service>-head-svc``: the RayService's stable head Service."""
    return f"{service}-head-svc"


def serve_service_name(service: Obj) -> str:
    """The serve Service's name: ``spec.serveService.metadata.name`` or ``<service>-serve-svc``."""
    user = (service.get("spec") or {}).get("serveService") or {}
    name = (user.get("metadata") or {}).get("name")
    return str(name) if name else f"{service['metadata']['name']}-serve-svc"


def _origin_labels(service: Obj) -> dict[str, str]:
    return {LABEL_ORIGIN_KIND: "RayService", LABEL_ORIGIN_NAME: service["metadata"]["name"]}


def build_cluster(service: Obj, name: str) -> Obj:
    """The RayCluster ``name`` built from the service's ``rayClusterConfig``."""
    config = copy.deepcopy(service["spec"]["rayClusterConfig"])
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {
            "name": name,
            "namespace": service["metadata"]["namespace"],
            # The RayService's labels first, as KubeRay: the cluster matches ``--selector``.
            "labels": {**(service["metadata"].get("labels") or {}), **_origin_labels(service)},
            "annotations": cluster_annotations(config),
            "ownerReferences": [controller_ref(service)],
        },
        "spec": config,
    }


def _head_ports(config: Mapping[str, Any]) -> list[Obj]:
    template = (config.get("headGroupSpec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    named = {p["name"]: int(p["containerPort"])
             for p in (containers[0].get("ports") or [] if containers else [])
             if p.get("name") and p.get("containerPort")}
    ports = {n: named.get(n, DEFAULT_HEAD_PORTS[n]) for n in _HEAD_PORT_NAMES}
    return [{"name": n, "port": p, "targetPort": p, "protocol": "TCP"}
            for n, p in sorted(ports.items(), key=lambda kv: kv[1])]


def _meta(service: Obj, name: str, extra: Mapping[str, Any] | None = None) -> Obj:
    extra = extra or {}
    return {
        "name": name,
        "namespace": service["metadata"]["namespace"],
        "labels": {**(extra.get("labels") or {}), **_origin_labels(service)},
        "annotations": dict(extra.get("annotations") or {}),
        "ownerReferences": [controller_ref(service)],
    }


def build_head_service(service: Obj, cluster: Obj) -> Obj:
    """The head Service, selecting the head pod of ``cluster`` (the active one)."""
    name = cluster["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(service, head_service_name(service["metadata"]["name"])),
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_CLUSTER: name, LABEL_NODE_TYPE: "head"},
            "ports": _head_ports(cluster.get("spec") or {}),
        },
    }


def build_serve_service(service: Obj, cluster_name: str) -> Obj:
    """The serve Service, selecting the serving pods of cluster ``cluster_name``.

    The user's ``spec.serveService`` is the starting point (its labels, annotations, type,
    ports...); the selector is always rayop's.
    """
    user = copy.deepcopy((service.get("spec") or {}).get("serveService") or {})
    spec: Obj = {"type": "ClusterIP", "ports": [dict(_SERVE_PORT)], **(user.get("spec") or {})}
    spec["selector"] = {LABEL_CLUSTER: cluster_name, LABEL_SERVE: "true"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(service, serve_service_name(service), user.get("metadata")),
        "spec": spec,
    }


def service_update(current: Obj, desired: Obj) -> Obj | None:
    """The body that makes ``current`` match ``desired`` (for a replace), or None when it does.

    Fields the API server fills in (``clusterIP``...) are kept; ``desired``'s spec fields and its
    labels and annotations are laid over the current ones.
    """
    wanted = {key: desired["metadata"][key] for key in ("labels", "annotations")}
    if config_matches(desired["spec"], current.get("spec")) and config_matches(
            wanted, {k: current["metadata"].get(k) or {} for k in wanted}):
        return None
    meta = dict(current["metadata"])
    for key, values in wanted.items():
        meta[key] = {**(meta.get(key) or {}), **values}
    return {**current, "metadata": meta, "spec": {**(current.get("spec") or {}),
                                                  **desired["spec"]}}
