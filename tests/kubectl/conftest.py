"""Fixtures of the kubectl tests: ``dev``, rayop dev's cluster served over the Kubernetes API.

kubectl is an independent client: CI installs it (Debian's ``kubernetes-client``); without it
these tests skip, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from rayop.clock import VirtualClock
from rayop.fakes.apiserver import ApiServer, pace
from rayop.fakes.env import FakeEnv

KUBECTL = shutil.which("kubectl")
SPEED = 20.0
"""Virtual seconds per wall second: the demo's pods start in a quarter of a second."""


@dataclass
class Kubectl:
    """Runs kubectl against one kubeconfig, without blocking the event loop serving it."""

    kubeconfig: Path
    env: FakeEnv
    server: ApiServer

    def argv(self, *args: str) -> list[str]:
        assert KUBECTL is not None
        return [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args]

    async def run(self, *args: str, check: bool = True, timeout: float = 60.0
                  ) -> tuple[int, str, str]:
        """Run ``kubectl args...``; return (exit status, stdout, stderr)."""
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        code = proc.returncode if proc.returncode is not None else -1
        if check and code != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {code}: {err.decode()}")
        return code, out.decode(), err.decode()


@pytest_asyncio.fixture
async def kubectl(tmp_path: Path) -> AsyncIterator[Kubectl]:
    """rayop dev's cluster (FakeEnv) served on 127.0.0.1, its clock paced to the wall clock."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (apt-get install kubernetes-client)")
    clock = VirtualClock(start=datetime.now(UTC))  # kubectl computes some ages from its clock
    async with FakeEnv(seed=9, clock=clock) as env:
        pacer = asyncio.get_running_loop().create_task(pace(clock, speed=SPEED))
        try:
            async with ApiServer(env.cluster) as server:
                path = server.write_kubeconfig(tmp_path / "kubeconfig")
                yield Kubectl(path, env, server)
        finally:
            pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pacer
