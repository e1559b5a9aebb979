"""The fake cluster over the Kubernetes REST API: real clients (kubectl first) on 127.0.0.1.

::

    from rayop.fakes.apiserver import ApiServer

    async with ApiServer(FakeCluster()) as server:
        path = server.write_kubeconfig(tmp / "kubeconfig")
        async with await KubeClient.from_kubeconfig(path) as client:
            ...

Served: ``/version``, ``/healthz``, ``/readyz``, ``/livez``; discovery (``/api``, ``/api/v1``,
``/apis``, ``/apis/{group}[/{version}]``); for every kind the fake serves, namespaced and
cluster-wide collections and items with GET (get, list, ``?watch=1``), POST, PUT, PATCH (merge,
JSON, strategic merge for built-in kinds; server-side apply is a 415), DELETE (``DeleteOptions``
in the body or the query: propagation policy, preconditions, ``dryRun``) and the ``/status``
subresource; ``Table`` answers for ``kubectl get``; every error a ``Status`` body. See
``docs/laptop-cluster.md``.
"""

from rayop.fakes.apiserver._server import ApiServer, check_loopback
from rayop.fakes.apiserver._smp import StrategicMergeError, strategic_merge
from rayop.fakes.apiserver._table import human_duration

__all__ = ["ApiServer", "StrategicMergeError", "check_loopback", "human_duration",
           "strategic_merge"]
