"""Backends for the dashboard contract suite: the Backend wrapper, the suite's fixtures' data.

The fake is scripted here to do what the suite's real entrypoints and import paths do: the fake
cannot run code, so outcomes are told, while shapes, states, messages and errors are what the
suite checks on both.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import pytest

from rayop.ray.dashboard import DashboardClient, JobStatus, ServeApplicationStatus
from rayop.ray.fakes.dashboard import FakeDashboard
from rayop.runtime.clock import Clock

T = TypeVar("T")


RAY_ADDRESS = os.environ.get("RAYOP_TEST_RAY_ADDRESS", "")
SERVE_PORT = int(os.environ.get("RAYOP_TEST_SERVE_PORT", "8000"))

GREETING = "hello from rayop"
PRINT_ENTRYPOINT = f"python -c \"print('{GREETING}')\""
EXIT_3_ENTRYPOINT = 'python -c "import sys; sys.exit(3)"'
SLEEP_ENTRYPOINT = 'python -c "import time; time.sleep(120)"'


def serve_config(*applications: dict[str, Any]) -> dict[str, Any]:
    """Return a multi-application Serve config bound to loopback."""
    return {"http_options": {"host": "127.0.0.1", "port": SERVE_PORT},
            "applications": list(applications)}


GOOD_APP = {"name": "hello", "route_prefix": "/hello", "import_path": "serve_app:app"}
BAD_APP = {"name": "broken", "route_prefix": "/broken", "import_path": "no_such_module:app"}


def script_fake(fake: FakeDashboard) -> None:
    """Tell the fake what the suite's entrypoints and import paths do on a real Ray."""
    fake.script_job(entrypoint=r"print\(", logs=f"{GREETING}\n")
    fake.script_job(entrypoint=r"sys\.exit\(3\)", outcome=JobStatus.FAILED, exit_code=3)
    fake.script_job(entrypoint=r"time\.sleep", running=None)
    fake.script_app(import_path=r"^serve_app:", deploying=8.0, deployments=("Greeter",),
                    response=GREETING)
    fake.script_app(import_path=r"^no_such_module", deploying=4.0,
                    outcome=ServeApplicationStatus.DEPLOY_FAILED)


@dataclass
class Backend:
    """A dashboard client under test, with the clock it lives in and how to reach its routes."""

    kind: str
    client: DashboardClient
    clock: Clock
    fake: FakeDashboard | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def new_id(self, name: str) -> str:
        """Return a submission id unique on this backend (real heads outlive one test)."""
        suffix = uuid.uuid4().hex[:8] if self.kind == "real" else str(next(self._ids))
        return f"rayop-{name}-{suffix}"

    async def poll(
        self, read: Callable[[], Awaitable[T]], until: Callable[[T], bool], *, timeout: float
    ) -> T:
        """Call ``read`` every half second until ``until`` holds; fail after ``timeout``."""
        deadline = self.clock.monotonic() + timeout
        while True:
            value = await read()
            if until(value):
                return value
            if self.clock.monotonic() >= deadline:
                pytest.fail(f"{self.kind}: condition not met in {timeout} s; last: {value!r}")
            await self.clock.sleep(0.5)

    async def route(self, path: str) -> str | None:
        """Return what Serve answers on ``path`` (None for a non-200 answer)."""
        if self.fake is not None:
            return self.fake.route(path)
        async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{SERVE_PORT}{path}", timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            return await response.text() if response.status == 200 else None
