"""Backends of the end-to-end suite: where the operator's API server lives.

Each entry of ``E2E_BACKENDS`` is an async context manager that yields an :class:`E2EBackend`:
a factory of :class:`~rayop.runtime.client.ClusterClient` s (the manager, the kubelet simulator and
the
test each get their own, as separate processes would), the clock they run on, and a fresh
namespace for the test. Adding a backend (a real API server, say) is one function and one line.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rayop.fakes.cluster import FakeCluster
from rayop.ray.crds import generate_crds
from rayop.ray.fakes import with_ray_kinds
from rayop.runtime.client import ClusterClient
from rayop.runtime.clock import Clock, RealClock

_namespaces = itertools.count(1)


@dataclass
class E2EBackend:
    """One place to run the operator end to end: a client factory, a clock, a namespace."""

    name: str
    connect: Callable[[], Awaitable[ClusterClient]]
    """Open a new client (closed by the backend when the test ends)."""
    clock: Clock
    namespace: str
    fake: FakeCluster | None = None
    """The fake cluster behind the API, when there is one (to look at, never to act on)."""
    _opened: list[ClusterClient] = field(default_factory=list)

    async def client(self) -> ClusterClient:
        """A new client to the backend's API server."""
        opened = await self.connect()
        self._opened.append(opened)
        return opened

    async def aclose(self) -> None:
        """Close every client handed out."""
        for opened in self._opened:
            close = getattr(opened, "close", None)
            if close is not None:
                await close()
        self._opened.clear()


@contextlib.asynccontextmanager
async def http_backend(request: pytest.FixtureRequest) -> AsyncIterator[E2EBackend]:
    """The fake cluster behind its REST front on 127.0.0.1; every client a real KubeClient."""
    from rayop.fakes.apiserver import ApiServer
    from rayop.kube import KubeClient

    clock = RealClock()
    fake = with_ray_kinds(FakeCluster(clock=clock, seed=3))
    tmp: Path = request.getfixturevalue("tmp_path")
    async with ApiServer(fake, crds=generate_crds()) as server:
        path = server.write_kubeconfig(tmp / "kubeconfig")

        async def connect() -> ClusterClient:
            return await KubeClient.from_kubeconfig(path)

        backend = E2EBackend("http", connect, clock, f"e2e-{next(_namespaces)}-"
                             f"{uuid.uuid4().hex[:6]}", fake=fake)
        try:
            yield backend
        finally:
            await backend.aclose()


@contextlib.asynccontextmanager
async def realapi_backend(request: pytest.FixtureRequest) -> AsyncIterator[E2EBackend]:
    """The session's real kube-apiserver (tests/realapi, with its garbage collector); every
    client a real KubeClient. Skips with the reason when the binaries are not built."""
    server = request.getfixturevalue("real_apiserver")
    from rayop.kube import KubeClient

    async def connect() -> ClusterClient:
        return await KubeClient.from_kubeconfig(server.kubeconfig)

    backend = E2EBackend("realapi", connect, RealClock(), f"e2e-{next(_namespaces)}-"
                         f"{uuid.uuid4().hex[:6]}")
    try:
        yield backend
    finally:
        await backend.aclose()


E2E_BACKENDS: dict[str, Callable[[pytest.FixtureRequest],
                                 contextlib.AbstractAsyncContextManager[E2EBackend]]] = {
    "http": http_backend,
    "realapi": realapi_backend,
}
