"""The real backend: the :class:`~rayop.client.ClusterClient` contract on a Kubernetes API server.

::

    async with await KubeClient.auto() as client:          # kubeconfig or in-cluster
        job = await client.get(RAYJOB, "demo", namespace="default")

Built on kubernetes-asyncio's ``ApiClient`` (kubeconfig, in-cluster config, auth plugins, TLS)
but never its typed models: bodies are read raw and decoded with orjson. Every failure is an
:class:`~rayop.errors.ApiError`; what is retried is written in :mod:`rayop.kube.transport`.
See ``docs/backends.md``.
"""

from .client import KubeClient, KubeClientOptions
from .config import KubeConfigError
from .transport import RetryPolicy

__all__ = ["KubeClient", "KubeClientOptions", "KubeConfigError", "RetryPolicy"]
