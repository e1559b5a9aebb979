"""The manager's /metrics, /healthz and /readyz over HTTP on 127.0.0.1 (the real clock)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from rayop import Manager, Request, Result
from rayop.fakes import FakeCluster
from rayop.runtime.client import CONFIGMAP


class GatedLists:
    """A FakeCluster whose lists wait until ``gate`` is set (an API server slow to answer)."""

    def __init__(self, inner: FakeCluster) -> None:
        self.inner = inner
        self.gate = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def list(self, *args: Any, **kwargs: Any) -> Any:
        await self.gate.wait()
        return await self.inner.list(*args, **kwargs)


class Noop:
    async def reconcile(self, request: Request) -> Result:
        return Result()


async def fetch(session: aiohttp.ClientSession, address: tuple[str, int],
                path: str) -> tuple[int, str]:
    async with session.get(f"http://{address[0]}:{address[1]}{path}") as response:
        return response.status, await response.text()


async def test_readyz_answers_503_until_the_informers_sync_then_200() -> None:
    cluster = FakeCluster()
    await cluster.create(CONFIGMAP, {"metadata": {"name": "x"}}, namespace="default")
    client = GatedLists(cluster)
    manager = Manager(client)  # type: ignore[arg-type]
    manager.add_controller("noop", Noop(), for_kind=CONFIGMAP)
    endpoints = manager.endpoints()
    await endpoints.start()
    run = asyncio.create_task(manager.run())
    try:
        probes, metrics = endpoints.bound["probes"], endpoints.bound["metrics"]
        assert probes[0] == "127.0.0.1" and metrics[0] == "127.0.0.1"
        async with aiohttp.ClientSession() as session:
            assert (await fetch(session, probes, "/healthz"))[0] == 200
            status, text = await fetch(session, probes, "/readyz")
            assert status == 503 and "ConfigMap/*" in text
            client.gate.set()
            async with asyncio.timeout(5):
                await manager.wait_started()
            assert await fetch(session, probes, "/readyz") == (200, "ok\n")
            status, body = await fetch(session, metrics, "/metrics")
            assert status == 200
            assert 'workqueue_adds_total{controller="noop",name="noop"} 1.0' in body
            assert 'controller_runtime_max_concurrent_reconciles{controller="noop"} 1.0' in body
    finally:
        manager.request_stop()
        await run
        await endpoints.stop()
