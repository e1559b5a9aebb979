"""Fixtures of the ClusterClient contract suite: ``backend``, one per entry of ``BACKENDS``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from cluster_backends import BACKENDS, WIDGET_CRD, Backend
from realapi.crds import add_session_crd

from rayop.client import NAMESPACE

add_session_crd(WIDGET_CRD)  # installed with the real API server, before its garbage collector


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fake_only(reason): the test needs the fake cluster (skipped elsewhere)"
    )


@pytest_asyncio.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Each backend in turn, with a fresh namespace for the test."""
    async with BACKENDS[request.param](request) as chosen:
        marker = request.node.get_closest_marker("fake_only")
        if marker is not None and chosen.fake is None:
            pytest.skip(f"fake only: {marker.args[0] if marker.args else ''}")
        await chosen.client.create(NAMESPACE, {"metadata": {"name": chosen.namespace}})
        try:
            yield chosen
        finally:
            with contextlib.suppress(Exception):
                await chosen.client.delete(NAMESPACE, chosen.namespace)
