"""Fixtures of the kubectl tests: ``kubectl``, rayop dev's cluster served over the Kubernetes API.

kubectl is an independent client: CI installs it (Debian's ``kubernetes-client``); without it
these tests skip, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from kubectl_tool import KUBECTL, SPEED, Kubectl

from rayop.cli.devserver import pace
from rayop.fakes.apiserver import ApiServer
from rayop.ray.crds import generate_crds
from rayop.runtime.clock import VirtualClock
from rayop.testing.env import FakeEnv


@pytest_asyncio.fixture
async def kubectl(tmp_path: Path) -> AsyncIterator[Kubectl]:
    """rayop dev's cluster (FakeEnv) served on 127.0.0.1, its clock paced to the wall clock."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (apt-get install kubernetes-client)")
    clock = VirtualClock(start=datetime.now(UTC))  # kubectl computes some ages from its clock
    async with FakeEnv(seed=9, clock=clock) as env:
        pacer = asyncio.get_running_loop().create_task(pace(clock, speed=SPEED))
        try:
            async with ApiServer(env.cluster, crds=generate_crds()) as server:
                path = server.write_kubeconfig(tmp_path / "kubeconfig")
                yield Kubectl(path, env, server)
        finally:
            pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pacer
