"""Fixtures of the end-to-end suite: ``e2e`` (one per entry of ``E2E_BACKENDS``), ``operator``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e_backends import E2E_BACKENDS, E2EBackend
from e2e_harness import Operator

from rayop.runtime.client import NAMESPACE


@pytest_asyncio.fixture(params=sorted(E2E_BACKENDS))
async def e2e(request: pytest.FixtureRequest) -> AsyncIterator[E2EBackend]:
    """Each backend in turn, with the test's namespace created (and deleted after)."""
    async with E2E_BACKENDS[request.param](request) as backend:
        admin = await backend.client()
        await admin.create(NAMESPACE, {"metadata": {"name": backend.namespace}})
        try:
            yield backend
        finally:
            with contextlib.suppress(Exception):
                await admin.delete(NAMESPACE, backend.namespace)


@pytest_asyncio.fixture
async def operator(e2e: E2EBackend) -> AsyncIterator[Operator]:
    """rayop's manager, the kubelet simulator and fake Ray heads, running against ``e2e``."""
    async with Operator(e2e) as running:
        yield running
