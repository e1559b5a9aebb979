"""Fixtures of the ClusterClient contract suite: ``backend``, one per entry of ``BACKENDS``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from cluster_backends import BACKENDS, WIDGET_CRD, Backend
from realapi.crds import add_session_crd

from rayop.runtime.client import NAMESPACE

add_session_crd(WIDGET_CRD)  # installed with the real API server, before its garbage collector


FAKE_BACKED = frozenset({"fake", "http"})
"""The backends whose server is rayop's fake cluster (``Backend.fake`` is set)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fake_only(reason): the test needs the fake cluster (not collected elsewhere)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out a ``fake_only`` test's runs on real servers: it cannot exist there, so it is
    deselected (and counted as such) rather than skipped on every run."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("backend") if callspec is not None else None
        real = isinstance(name, str) and name not in FAKE_BACKED
        (dropped if real and item.get_closest_marker("fake_only") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest_asyncio.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Each backend in turn, with a fresh namespace for the test."""
    async with BACKENDS[request.param](request) as chosen:
        marker = request.node.get_closest_marker("fake_only")
        assert marker is None or chosen.fake is not None, "fake_only runs are deselected"
        await chosen.client.create(NAMESPACE, {"metadata": {"name": chosen.namespace}})
        try:
            yield chosen
        finally:
            with contextlib.suppress(Exception):
                await chosen.client.delete(NAMESPACE, chosen.namespace)
