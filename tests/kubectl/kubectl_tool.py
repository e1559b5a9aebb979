"""Running kubectl from async tests: the binary, and a runner bound to one kubeconfig."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from rayop.fakes.apiserver import ApiServer
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
