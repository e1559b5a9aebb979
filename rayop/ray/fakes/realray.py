"""Real Ray heads behind fake pods: each RayCluster's head becomes a local ``ray start --head``.

:class:`RealRayHeads` is a :class:`~rayop.ray.dashboard.DashboardProvider` for ``rayop dev
--real-ray``. Give :meth:`RealRayHeads.observe_pod` to the kubelet simulator: when a cluster's
head pod runs, a real Ray head starts on 127.0.0.1 (its own ports, temp dir and process group);
when the pod goes away, that head is stopped. Reconcilers reach it through an ordinary
:class:`~rayop.ray.dashboard_http.HttpDashboardClient`, so a RayJob's entrypoint really runs and a
RayService's Serve application really answers HTTP — on ``127.0.0.1:<serve port>``, which this
module writes into the Serve config's ``http_options`` (Serve would bind every interface).

Every head is ``ray start --head --block`` in a new session: stopping sends it SIGTERM (Ray then
drains and stops the processes it started) and, past ``stop_timeout``, SIGKILL to that process
group and to any process whose command line names the head's own temp dir — never ``ray stop``,
which would stop every Ray of the user.

Ray picks its node IP by probing a public address (a UDP socket "connected" to 8.8.8.8, which
sends nothing); run inside a loopback-only network namespace (``unshare -n``) to keep even that
off the network. A head needs ``ray[default,serve]`` (``pip install 'rayop[ray]'``); see
:func:`ray_missing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from rayop.ray.dashboard import DashboardAddress
from rayop.ray.dashboard_http import HttpDashboardClient
from rayop.ray.fakes.dashboard import HeadPod
from rayop.runtime.client import Obj
from rayop.runtime.clock import Clock, RealClock

__all__ = ["HeadPorts", "RealRayHead", "RealRayHeads", "RealRayOptions", "find_ray", "ray_missing"]

_log = structlog.get_logger("rayop.realray")

_NEEDED_MODULES = (
    ("ray", "ray"),
    ("aiohttp_cors", "ray[default] (the dashboard)"),
    ("uvicorn", "ray[serve]"),
)


def find_ray() -> str | None:
    """Return the ``ray`` command next to this Python, else on ``PATH``, else None."""
    beside = Path(sys.executable).with_name("ray")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ray")


def ray_missing() -> str | None:
    """Return why real Ray heads cannot start here (what to install), or None when they can."""
    missing = [what for module, what in _NEEDED_MODULES if importlib.util.find_spec(module) is None]
    if not missing and find_ray() is None:
        missing.append("the `ray` command")
    if not missing:
        return None
    return (f"--real-ray needs ray[default,serve] in this Python ({sys.executable}); missing: "
            f"{', '.join(missing)}. Install it with: pip install 'rayop[ray]' "
            "(or pip install 'ray[default,serve]')")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class HeadPorts:
    """The ports one head listens on, all on 127.0.0.1, none shared with another head."""

    gcs: int
    dashboard: int
    serve: int
    client_server: int
    agent_listen: int
    worker_min: int
    worker_max: int

    @classmethod
    def allocate(cls, index: int, *, worker_base: int = 21000, workers: int = 200) -> HeadPorts:
        """Free ports for the ``index``-th head; worker ports from a range of its own."""
        low = worker_base + index * workers
        return cls(gcs=_free_port(), dashboard=_free_port(), serve=_free_port(),
                   client_server=_free_port(), agent_listen=_free_port(),
                   worker_min=low, worker_max=low + workers - 1)


@dataclass(frozen=True)
class RealRayOptions:
    """How heads start: resources, timeouts, where temp dirs go, extra environment."""

    num_cpus: float = 2
    object_store_memory: int = 100_000_000
    start_timeout: float = 120.0
    stop_timeout: float = 30.0
    temp_root: str = "/tmp"
    env: Mapping[str, str] = field(default_factory=dict)


class RealRayHead:
    """One ``ray start --head --block`` process for one RayCluster."""

    def __init__(self, key: tuple[str, str], ports: HeadPorts, *, ray: str,
                 options: RealRayOptions) -> None:
        self.key = key
        self.ports = ports
        self._ray = ray
        self._options = options
        # short: Ray's unix socket paths under the temp dir must stay below 108 bytes
        self.temp_dir = tempfile.mkdtemp(prefix="rayop-", dir=options.temp_root)
        self.log_path = Path(self.temp_dir) / "ray-start.log"
        self.process: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        """The ``ray start`` command line."""
        p, o = self.ports, self._options
        return [
            self._ray, "start", "--head", "--block", "--disable-usage-stats",
            "--node-ip-address", "127.0.0.1", "--port", str(p.gcs),
            "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(p.dashboard), "--ray-client-server-port", str(p.client_server),
            "--dashboard-agent-listen-port", str(p.agent_listen),
            "--min-worker-port", str(p.worker_min), "--max-worker-port", str(p.worker_max),
            "--num-cpus", str(o.num_cpus), "--object-store-memory", str(o.object_store_memory),
            "--temp-dir", self.temp_dir,
        ]

    def environment(self) -> dict[str, str]:
        """The head's environment: ours, this Python first on PATH, usage stats off."""
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env.update(self._options.env)
        return env

    async def start(self) -> None:
        """Start the head process (returns at once; the dashboard answers some seconds later)."""
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(), stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT, env=self.environment(), start_new_session=True,
            )
        _log.info("real Ray head starting", namespace=self.key[0], name=self.key[1],
                  kind="RayCluster", dashboard=f"127.0.0.1:{self.ports.dashboard}",
                  pid=self.process.pid, log=str(self.log_path))

    @property
    def running(self) -> bool:
        """True while the head process runs."""
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> None:
        """SIGTERM the head, wait ``stop_timeout``, then SIGKILL what is left of it."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), self._options.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        for pid in _pids_naming(self.temp_dir):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _log.info("real Ray head stopped", namespace=self.key[0], name=self.key[1],
                  kind="RayCluster")

    def remove_temp_dir(self) -> None:
        """Delete the head's temp dir (logs included)."""
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _pids_naming(text: str) -> list[int]:
    """Our own processes whose command line contains ``text`` (a head's unique temp dir)."""
    found: list[int] = []
    me = os.getuid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != me:
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


class RealHeadClient(HttpDashboardClient):
    """An HTTP dashboard client that keeps Serve on 127.0.0.1 and the head's own Serve port."""

    def __init__(self, ports: HeadPorts, **options: Any) -> None:
        address = DashboardAddress.at(f"http://127.0.0.1:{ports.dashboard}", serve_port=ports.serve)
        super().__init__(address, **options)
        self.ports = ports

    async def apply_serve_config(self, config: Mapping[str, Any]) -> None:
        """Deploy ``config`` with ``http_options`` pinned to 127.0.0.1 and this head's port."""
        options = dict(config.get("http_options") or {})
        options.update(host="127.0.0.1", port=self.ports.serve)
        await super().apply_serve_config({**config, "http_options": options})


class RealRayHeads:
    """A dashboard provider whose clusters are real local Ray heads, following fake head pods."""

    def __init__(self, *, ray: str | None = None, clock: Clock | None = None,
                 options: RealRayOptions | None = None,
                 on_start: Callable[[RealRayHead], None] | None = None) -> None:
        found = ray or find_ray()
        if found is None:
            raise RuntimeError(ray_missing() or "no `ray` command found")
        self._ray = found
        self._clock = clock or RealClock()
        self.options = options or RealRayOptions()
        self._ports: dict[tuple[str, str], HeadPorts] = {}
        self._clients: dict[tuple[str, str], RealHeadClient] = {}
        self._heads: dict[tuple[str, str], RealRayHead] = {}
        self._head_uids: dict[tuple[str, str], str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._on_start = on_start

    def ports(self, namespace: str, name: str) -> HeadPorts:
        """The ports of cluster ``namespace/name`` (allocated on first use, then fixed)."""
        key = (namespace, name)
        if key not in self._ports:
            self._ports[key] = HeadPorts.allocate(len(self._ports))
        return self._ports[key]

    def for_cluster(self, namespace: str, name: str) -> RealHeadClient:
        """Return the cluster's client (it answers once the cluster's real head is up)."""
        key = (namespace, name)
        if key not in self._clients:
            self._clients[key] = RealHeadClient(self.ports(*key), clock=self._clock)
        return self._clients[key]

    def heads(self) -> dict[tuple[str, str], RealRayHead]:
        """The heads running now, by (namespace, cluster name)."""
        return {k: h for k, h in self._heads.items() if h.running}

    def observe_pod(self, pod: Obj) -> None:
        """Start a head when a cluster's head pod runs; stop it when the pod stops or goes."""
        head = HeadPod.of(pod)
        if head is None:
            return
        if self._head_uids.get(head.key) != head.uid:
            self._head_uids[head.key] = head.uid
            self._spawn(self._stop(head.key))  # a new head pod is a new Ray: nothing survives
        self._spawn(self._start(head.key) if head.running else self._stop(head.key))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work, name="rayop-realray")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _start(self, key: tuple[str, str]) -> None:
        async with self._lock(key):
            head = self._heads.get(key)
            if head is not None and head.running:
                return
            head = RealRayHead(key, self.ports(*key), ray=self._ray, options=self.options)
            self._heads[key] = head
            await head.start()
            if self._on_start is not None:
                self._on_start(head)

    async def _stop(self, key: tuple[str, str]) -> None:
        async with self._lock(key):
            head = self._heads.pop(key, None)
            if head is not None:
                await head.stop()
                head.remove_temp_dir()

    async def aclose(self) -> None:
        """Stop every head (in parallel), remove their temp dirs, close every client."""
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        await asyncio.gather(*(self._stop(key) for key in list(self._heads)))
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.aclose() for c in clients))
