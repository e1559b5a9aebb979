"""The operator's install manifests: RBAC with exactly the verbs it uses, a Deployment, a Service.

:func:`build_manifests` returns, in apply order: the operator's Namespace, its ServiceAccount,
the RBAC that lets it reconcile — a ClusterRole and ClusterRoleBinding for an all-namespaces
install, or one Role and RoleBinding per watched namespace when ``watch_namespaces`` is given —
the leader-election Role in the operator's namespace, the Deployment (probes on ``/healthz`` and
``/readyz``, resource requests, non-root, read-only root filesystem, no privilege escalation, a
writable ``/tmp``) and the Service in front of ``/metrics``. ``rayop manifests`` prints them as
YAML (add ``--crds`` to put the CustomResourceDefinitions first).

The rules are data (:data:`RECONCILE_RULES`, :data:`LEADER_ELECTION_RULES`, :data:`PROXY_RULES`),
not guesses: a test records every request rayop's controllers make on the fake cluster while they
drive RayClusters, RayJobs and RayServices through their lives, and checks the rules grant exactly
those (verb, group, resource) and nothing more. Two rules cannot be seen on a fake and are derived
instead: ``<owner>/finalizers: update`` for every kind rayop sets as a ``blockOwnerDeletion``
owner (the API server's OwnerReferencesPermissionEnforcement admission asks for it), and, with
``--dashboard-access proxy``, ``services/proxy`` for the four HTTP methods the dashboard client
sends (GET, POST, PUT, DELETE → get, create, update, delete).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from rayop._version import __version__
from rayop.operator.controllers import CONTROLLER_TABLE
from rayop.operator.rbac import PolicyRule, granted, merge_rules
from rayop.runtime.client import Obj

__all__ = [
    "LEADER_ELECTION_RULES",
    "PROXY_RULES",
    "RECONCILE_RULES",
    "ManifestOptions",
    "PolicyRule",
    "build_manifests",
    "dump_manifests",
    "granted",
]


RECONCILE_RULES: tuple[PolicyRule, ...] = merge_rules(
    rule for spec in CONTROLLER_TABLE for rule in spec.rules)
"""What the RayCluster, RayJob and RayService controllers do, in every namespace they watch
(the union of the controller table's rules)."""

LEADER_ELECTION_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(("coordination.k8s.io",), ("leases",), ("get", "create", "update")),
)
"""What leader election does, in the lease's namespace only."""

PROXY_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(("",), ("services/proxy",), ("get", "create", "update", "delete")),
)
"""What ``--dashboard-access proxy`` adds: Ray's dashboard reached through the API server."""


@dataclass(frozen=True)
class ManifestOptions:
    """What to install, and how the operator runs."""

    namespace: str = "rayop-system"
    name: str = "rayop"
    image: str = f"rayop:{__version__}"
    watch_namespaces: Sequence[str] = ()
    selector: str | None = None
    leader_elect: bool = True
    replicas: int = 1
    dashboard_access: str = "direct"
    metrics_port: int = 8080
    probe_port: int = 8081
    log_format: str = "json"
    requests: dict[str, str] = field(default_factory=lambda: {"cpu": "100m", "memory": "256Mi"})
    limits: dict[str, str] = field(default_factory=lambda: {"memory": "1Gi"})
    graceful_shutdown_timeout: int = 30

    @property
    def labels(self) -> dict[str, str]:
        """The labels every object carries (and the pods' selector)."""
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/component": "operator"}


def _meta(opts: ManifestOptions, name: str, namespace: str | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": {**opts.labels, "app.kubernetes.io/part-of": "rayop"}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _rules(opts: ManifestOptions) -> tuple[PolicyRule, ...]:
    return RECONCILE_RULES + (PROXY_RULES if opts.dashboard_access == "proxy" else ())


def _subject(opts: ManifestOptions) -> Obj:
    return {"kind": "ServiceAccount", "name": opts.name, "namespace": opts.namespace}


def _role_pair(opts: ManifestOptions, name: str, namespace: str | None,
               rules: Iterable[PolicyRule]) -> list[Obj]:
    kind = "ClusterRole" if namespace is None else "Role"
    role: Obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                 "metadata": _meta(opts, name, namespace),
                 "rules": [r.to_obj() for r in rules]}
    binding: Obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": f"{kind}Binding",
                    "metadata": _meta(opts, name, namespace),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind,
                                "name": name},
                    "subjects": [_subject(opts)]}
    return [role, binding]


def rbac(opts: ManifestOptions) -> list[Obj]:
    """The roles and bindings: cluster-wide, or one Role per watched namespace."""
    out: list[Obj] = []
    if opts.watch_namespaces:
        for ns in opts.watch_namespaces:
            out += _role_pair(opts, opts.name, ns, _rules(opts))
    else:
        out += _role_pair(opts, opts.name, None, _rules(opts))
    if opts.leader_elect:
        out += _role_pair(opts, f"{opts.name}-leader-election", opts.namespace,
                          LEADER_ELECTION_RULES)
    return out


def _args(opts: ManifestOptions) -> list[str]:
    args = ["run", f"--metrics-bind-address=:{opts.metrics_port}",
            f"--health-probe-bind-address=:{opts.probe_port}", f"--log-format={opts.log_format}",
            f"--dashboard-access={opts.dashboard_access}",
            f"--graceful-shutdown-timeout={opts.graceful_shutdown_timeout}"]
    if opts.leader_elect:
        args += ["--leader-elect", f"--leader-election-id={opts.name}-leader",
                 f"--leader-election-namespace={opts.namespace}"]
    args += [f"--namespace={ns}" for ns in opts.watch_namespaces]
    if opts.selector:
        args.append(f"--selector={opts.selector}")
    return args


def _probe(path: str, port: int, *, delay: int, period: int) -> Obj:
    return {"httpGet": {"path": path, "port": port}, "initialDelaySeconds": delay,
            "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": 3}


def deployment(opts: ManifestOptions) -> Obj:
    """The operator's Deployment."""
    container: Obj = {
        "name": "rayop",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "args": _args(opts),
        "ports": [{"name": "metrics", "containerPort": opts.metrics_port, "protocol": "TCP"},
                  {"name": "probes", "containerPort": opts.probe_port, "protocol": "TCP"}],
        "livenessProbe": _probe("/healthz", opts.probe_port, delay=15, period=20),
        "readinessProbe": _probe("/readyz", opts.probe_port, delay=5, period=10),
        "resources": {"requests": dict(opts.requests), "limits": dict(opts.limits)},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec: Obj = {
        "serviceAccountName": opts.name,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        # longer than the drain, so SIGKILL never cuts a graceful shutdown short
        "terminationGracePeriodSeconds": opts.graceful_shutdown_timeout + 10,
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(opts, opts.name, opts.namespace),
        "spec": {"replicas": opts.replicas, "selector": {"matchLabels": opts.labels},
                 "template": {"metadata": {"labels": opts.labels}, "spec": pod_spec}},
    }


def metrics_service(opts: ManifestOptions) -> Obj:
    """The Service Prometheus scrapes ``/metrics`` through."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(opts, f"{opts.name}-metrics", opts.namespace),
        "spec": {"selector": opts.labels, "ports": [
            {"name": "metrics", "port": opts.metrics_port, "targetPort": "metrics",
             "protocol": "TCP"}]},
    }


def build_manifests(opts: ManifestOptions | None = None) -> list[Obj]:
    """Every object of an install, in the order to apply them."""
    opts = opts or ManifestOptions()
    namespace: Obj = {"apiVersion": "v1", "kind": "Namespace",
                      "metadata": _meta(opts, opts.namespace)}
    account: Obj = {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": _meta(opts, opts.name, opts.namespace)}
    return [namespace, account, *rbac(opts), deployment(opts), metrics_service(opts)]


def dump_manifests(objects: Iterable[Any], header: str | None = None) -> str:
    """The objects as one multi-document YAML text."""
    docs = [yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in objects]
    text = "---\n".join(docs)
    return f"{header}\n{text}" if header else text
