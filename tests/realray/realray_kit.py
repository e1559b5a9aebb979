"""What the real-Ray scenario tests share: the head's address and a provider for it."""

from __future__ import annotations

import os

from rayop.ray.dashboard import DashboardAddress
from rayop.ray.dashboard_http import HttpDashboardClient

RAY_ADDRESS = os.environ.get("RAYOP_TEST_RAY_ADDRESS", "")
SERVE_PORT = int(os.environ.get("RAYOP_TEST_SERVE_PORT", "8000"))


class OneRayHead:
    """A :class:`~rayop.ray.dashboard.DashboardProvider` answering every cluster with one real
    head."""

    def __init__(self, address: str, serve_port: int) -> None:
        self.client = HttpDashboardClient(DashboardAddress.at(address, serve_port=serve_port),
                                          timeout=30.0)
        self.asked: set[tuple[str, str]] = set()

    def for_cluster(self, namespace: str, name: str) -> HttpDashboardClient:
        """The head's client, whichever cluster is named (remembered in ``asked``)."""
        self.asked.add((namespace, name))
        return self.client

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aclose()
