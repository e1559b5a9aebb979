"""Fixtures for the dashboard contract suite: one ``dashboard`` backend, fake or real Ray.

The "real" backend runs only when ``RAYOP_TEST_RAY_ADDRESS`` names a Ray head's dashboard (for
example ``http://127.0.0.1:8265``; ``scripts/ray-tier.sh`` starts one and sets it). Its Serve proxy
is expected on the same host at ``RAYOP_TEST_SERVE_PORT`` (default 8000), and the head must be able
to import ``serve_app`` (this directory on its ``PYTHONPATH``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from dashboard_backends import RAY_ADDRESS, SERVE_PORT, Backend, script_fake

from rayop.ray.dashboard import DashboardAddress
from rayop.ray.dashboard_http import HttpDashboardClient
from rayop.ray.fakes.dashboard import FakeDashboard
from rayop.runtime.clock import RealClock, VirtualClock

BACKENDS = [
    pytest.param("fake", id="fake"),
    pytest.param(
        "real",
        id="real",
        marks=[
            pytest.mark.realray,
            pytest.mark.skipif(
                not RAY_ADDRESS,
                reason="RAYOP_TEST_RAY_ADDRESS is not set (scripts/ray-tier.sh runs this tier)",
            ),
        ],
    ),
]


@pytest_asyncio.fixture(params=BACKENDS)
async def dashboard(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The backend under test: the fake in virtual time, or the real client on a real Ray."""
    if request.param == "fake":
        clock = VirtualClock(auto_advance=True)
        fake = FakeDashboard(clock=clock)
        script_fake(fake)
        yield Backend("fake", fake, clock, fake)
        await clock.aclose()
        return
    real_clock = RealClock()
    address = DashboardAddress.at(RAY_ADDRESS, serve_port=SERVE_PORT)
    client = HttpDashboardClient(address, clock=real_clock, timeout=30.0)
    try:
        yield Backend("real", client, real_clock)
    finally:
        await client.aclose()
