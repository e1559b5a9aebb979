"""Running kubectl from async tests: the binary, and a runner bound to one kubeconfig."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from polling import eventually

from rayop.fakes.apiserver import ApiServer
from rayop.testing.env import FakeEnv

KUBECTL = os.environ.get("RAYOP_KUBECTL_BIN") or shutil.which("kubectl")
"""The kubectl to run: ``$RAYOP_KUBECTL_BIN``, else the first on PATH."""
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

    async def minor_version(self) -> int:
        """The client's minor version (Debian's kubernetes-client is 1.20)."""
        _, out, _ = await self.run("version", "--client", "-o", "json")
        minor = json.loads(out)["clientVersion"]["minor"]
        return int("".join(ch for ch in minor if ch.isdigit()))

    async def wait_jsonpath(self, resource: str, path: str, value: str, *,
                            timeout: float = 60.0) -> None:
        """``kubectl wait --for=jsonpath=...`` (kubectl >= 1.23), else poll ``get -o jsonpath``."""
        if await self.minor_version() >= 23:
            await self.run("wait", f"--for=jsonpath={{{path}}}={value}", resource,
                           f"--timeout={int(timeout)}s", timeout=timeout + 10)
            return
        out = ""

        async def reached() -> bool:
            nonlocal out
            _, out, _ = await self.run("get", resource, "-o", f"jsonpath={{{path}}}")
            return out == value

        await eventually(reached, within=timeout, every=0.2,
                         failure=lambda: f"{resource} {path} is {out!r}, not {value!r}")

