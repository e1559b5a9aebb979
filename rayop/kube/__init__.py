"""The real backend: the :class:`~rayop.runtime.client.ClusterClient` contract on an API server.

::

    async with await KubeClient.auto() as client:          # kubeconfig or in-cluster
        job = await client.get(RAYJOB, "demo", namespace="default")

Built on kubernetes-asyncio's ``ApiClient`` (kubeconfig, in-cluster config, auth plugins, TLS)
but never its typed models: bodies are read raw and decoded with orjson. Every failure is an
:class:`~rayop.runtime.errors.ApiError`; what is retried is written in :mod:`rayop.kube.transport`.
See ``docs/backends.md``.
"""

from rayop.kube.client import KubeClient, KubeClientOptions
from rayop.kube.config import KubeConfigError
from rayop.kube.transport import RetryPolicy

__all__ = ["KubeClient", "KubeClientOptions", "KubeConfigError", "RetryPolicy"]
