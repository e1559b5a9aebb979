"""Where the real backend finds its cluster: kubeconfig files and the in-cluster service account.

The search order of :func:`find_config` is controller-runtime's (``GetConfig``): an explicit
kubeconfig path, then ``$KUBECONFIG``, then the pod's service account, then ``~/.kube/config``.
In a pod the service account wins over a kubeconfig that happens to sit in the image's home.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import urllib.parse
import urllib.request
from pathlib import Path

import aiohttp
import yaml
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config

from rayop.runtime.errors import RayopError

__all__ = [
    "SERVICE_ACCOUNT_CA",
    "SERVICE_ACCOUNT_TOKEN",
    "KubeConfigError",
    "default_kubeconfig",
    "in_cluster_available",
    "load_in_cluster",
    "load_kubeconfig",
    "open_api_client",
]

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
"""Where Kubernetes mounts a pod's service-account token."""

SERVICE_ACCOUNT_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
"""Where Kubernetes mounts the cluster's CA certificate."""

_READ_BUFSIZE = 2**21
"""kubernetes-asyncio's read buffer: one watch event may carry an object of up to 1.5 MiB."""


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


def open_api_client(config: Configuration) -> ApiClient:
    """Open a kubernetes-asyncio ``ApiClient`` for ``config``, tuned for many small requests.

    kubernetes-asyncio's session has ``trust_env=True``, which makes aiohttp look up proxy and
    netrc settings in a worker thread on every request: a third of the request rate on loopback.
    The proxy settings (``HTTPS_PROXY``, ``NO_PROXY``, ...) are resolved once here instead, and a
    kubeconfig's ``proxy-url`` still wins.
    """
    try:
        api_client = ApiClient(configuration=config)
    except (OSError, ssl.SSLError) as exc:
        raise KubeConfigError(f"cannot set up TLS for {config.host}: {exc}") from exc
    api_client.user_agent = "rayop"
    rest = api_client.rest_client
    if not rest.proxy and (proxy := _env_proxy(str(config.host))):
        rest.proxy = proxy
    shared = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(
        connector=shared.connector, trust_env=False, read_bufsize=_READ_BUFSIZE
    )
    shared.detach()
    return api_client


def _env_proxy(url: str) -> str | None:
    """Return the proxy the environment names for ``url`` (as aiohttp's ``trust_env`` would)."""
    target = urllib.parse.urlsplit(url)
    if not target.hostname or _loopback(target.hostname):
        return None  # as Go's ProxyFromEnvironment: loopback is never proxied, NO_PROXY or not
    if urllib.request.proxy_bypass(target.hostname):
        return None
    return urllib.request.getproxies().get(target.scheme)


def _loopback(host: str) -> bool:
    """Return whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
