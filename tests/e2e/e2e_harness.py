"""The operator end to end, against any API server: manager, kubelet simulator, fake Ray heads.

Everything runs on the backend's clock (the real one over real HTTP), so the timings are short:
pods are Running and Ready about 0.2 s after creation, a fake Ray job runs for 0.3 s, a Serve
application deploys in 0.3 s, the operator polls Ray every 0.1 s.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from e2e_backends import E2EBackend

from rayop.fakes.kubelet import KubeletSimulator
from rayop.operator.controllers import OperatorOptions, add_ray_controllers
from rayop.ray.fakes.dashboard import FakeDashboards
from rayop.ray.fakes.dashboard_state import AppScript, JobScript
from rayop.runtime.client import ClusterClient, Kind, Obj
from rayop.runtime.clock import timeout
from rayop.runtime.errors import NotFound
from rayop.runtime.manager import Manager, ManagerOptions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"


def example(name: str, namespace: str, **spec: Any) -> Obj:
    """An example manifest in ``namespace``, top-level spec fields replaced (None: removed)."""
    obj: Obj = yaml.safe_load((EXAMPLES / name).read_text())
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


class Operator:
    """The operator and its simulated surroundings, started and stopped together."""

    def __init__(self, backend: E2EBackend) -> None:
        self.backend = backend
        self.clock = backend.clock
        self.dashboards = FakeDashboards(
            clock=self.clock, seed=5, alive=False,
            default_job=JobScript(pending=0.1, running=0.2),
            default_app=AppScript(deploying=0.3), stop_delay=0.1, delete_delay=0.1)
        self.client: ClusterClient | None = None
        self.kubelet: KubeletSimulator | None = None
        self.manager: Manager | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Operator:
        ns = self.backend.namespace
        self.client = await self.backend.client()
        self.kubelet = KubeletSimulator(await self.backend.client(), clock=self.clock,
                                        schedule_delay=0.05, start_delay=0.1, ready_delay=0.05,
                                        namespace=ns)
        self.kubelet.on_pod_change(self.dashboards.observe_pod)
        await self.kubelet.start()
        options = ManagerOptions(namespaces=(ns,), graceful_shutdown_timeout=5.0,
                                 sync_timeout=30.0)
        self.manager = Manager(await self.backend.client(), clock=self.clock, options=options)
        add_ray_controllers(self.manager, self.dashboards, options=OperatorOptions(
            seed=5, job_poll_interval=0.1, service_poll_interval=0.1))
        self._task = asyncio.get_running_loop().create_task(self.manager.run())
        started = asyncio.ensure_future(self.manager.wait_started())
        await asyncio.wait({started, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            started.cancel()
            self._task.result()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.manager is not None and self._task is not None:
            self.manager.request_stop()
            await self._task
        if self.kubelet is not None:
            await self.kubelet.stop()

    @property
    def api(self) -> ClusterClient:
        """The test's own client (what a user's kubectl would be)."""
        assert self.client is not None
        return self.client

    async def get(self, kind: Kind, name: str) -> Obj | None:
        """The object now, or None."""
        try:
            return await self.api.get(kind, name, namespace=self.backend.namespace)
        except NotFound:
            return None

    async def status(self, kind: Kind, name: str) -> Obj:
        """The object's status now ({} if none)."""
        obj = await self.get(kind, name)
        return dict((obj or {}).get("status") or {})

    async def names(self, kind: Kind) -> list[str]:
        """The names of the objects of ``kind`` in the test's namespace."""
        listed = await self.api.list(kind, namespace=self.backend.namespace)
        return sorted(o["metadata"]["name"] for o in listed.items)

    async def until(self, check: Callable[[], Awaitable[bool]], *, within: float = 30.0,
                    every: float = 0.05) -> None:
        """Wait until ``check()`` holds; ``TimeoutError`` after ``within`` seconds."""
        async with timeout(self.clock, within):
            while not await check():
                if self._task is not None and self._task.done():
                    self._task.result()  # the manager died: say why
                await self.clock.sleep(every)
