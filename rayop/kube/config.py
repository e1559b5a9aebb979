"""Where the real backend finds its cluster: kubeconfig files and the in-cluster service account.

The search order of :func:`find_config` is controller-runtime's (``GetConfig``): an explicit
kubeconfig path, then ``$KUBECONFIG``, then the pod's service account, then ``~/.kube/config``.
In a pod the service account wins over a kubeconfig that happens to sit in the image's home.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config

from ..errors import RayopError

__all__ = [
    "SERVICE_ACCOUNT_CA",
    "SERVICE_ACCOUNT_TOKEN",
    "KubeConfigError",
    "default_kubeconfig",
    "in_cluster_available",
    "load_in_cluster",
    "load_kubeconfig",
]

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
"""Where Kubernetes mounts a pod's service-account token."""

SERVICE_ACCOUNT_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
"""Where Kubernetes mounts the cluster's CA certificate."""


class KubeConfigError(RayopError):
    """No usable cluster configuration: a kubeconfig missing or malformed, or not in a pod."""


def default_kubeconfig() -> str | None:
    """Return ``$KUBECONFIG`` (a path list) if set, else ``~/.kube/config`` if it exists."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return env
    home = Path.home() / ".kube" / "config"
    return str(home) if home.is_file() else None


def in_cluster_available() -> bool:
    """Return whether this process runs in a pod (the API server's address is in the env)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _any_file(paths: str) -> bool:
    return any(Path(p).expanduser().is_file() for p in paths.split(os.pathsep) if p)


async def load_kubeconfig(
    path: str | os.PathLike[str] | None = None, context: str | None = None
) -> Configuration:
    """Return the client configuration of ``context`` (default: current) in a kubeconfig.

    ``path`` may list several files joined by ``os.pathsep``, as ``$KUBECONFIG`` does; the
    file is never written back (refreshed credentials stay in memory).
    """
    paths = os.fspath(path) if path is not None else default_kubeconfig()
    if not paths or not _any_file(paths):
        raise KubeConfigError(f"no kubeconfig file found (looked for {paths or '~/.kube/config'})")
    config = Configuration()
    try:
        await load_kube_config(
            config_file=paths, context=context, client_configuration=config, persist_config=False
        )
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise KubeConfigError(f"cannot use kubeconfig {paths}: {exc}") from exc
    return config


def load_in_cluster(
    *, token_file: str = SERVICE_ACCOUNT_TOKEN, ca_file: str = SERVICE_ACCOUNT_CA
) -> Configuration:
    """Return the configuration of the pod's service account (its token re-read as it rotates)."""
    config = Configuration()
    try:
        load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=config, token_filename=token_file, cert_filename=ca_file
        )
    except (ConfigException, OSError) as exc:
        raise KubeConfigError(f"not running in a Kubernetes pod: {exc}") from exc
    return config
