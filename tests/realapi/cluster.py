"""A real etcd + kube-apiserver (+ kube-controller-manager) on 127.0.0.1, for the test suite.

``start_real_apiserver(workdir)`` starts the processes built by ``tests/realapi/prepare.sh`` with
fresh credentials and free loopback ports, waits until the API server answers ``/readyz``, writes a
kubeconfig and returns a :class:`RealApiServer`; ``stop()`` ends the processes. Nothing listens on
any address but 127.0.0.1. The kube-controller-manager, when built, runs only the garbage
collector and the namespace controller; without it the API server runs with
``--enable-garbage-collector=false``, so deletes never wait on a collector that does not exist.

This is test infrastructure, not rayop: it waits in real time (it supervises real processes).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polling import wait_until

from realapi.pki import Credentials, generate_credentials, write_kubeconfig

HERE = Path(__file__).resolve().parent
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


class BinariesMissing(RuntimeError):
    """The binaries are not built: the message says what is missing and how to prepare them."""


@dataclass(frozen=True, kw_only=True)
class Binaries:
    """Where the executables are; ``controller_manager`` is None when it was not built."""

    apiserver: Path
    etcd: Path
    controller_manager: Path | None


def kube_version() -> str:
    """The ``k8s.io/kubernetes`` version that ``tests/realapi/go.mod`` requires (``v1.x.y``)."""
    for line in (HERE / "go.mod").read_text().splitlines():
        words = line.split()
        if "k8s.io/kubernetes" in words and words[0] != "//":
            return words[words.index("k8s.io/kubernetes") + 1]
    raise BinariesMissing("tests/realapi/go.mod requires no k8s.io/kubernetes")


def binary_dir() -> Path:
    """``$RAYOP_KUBE_BIN_DIR``, or the cache directory that ``prepare.sh`` builds into."""
    if explicit := os.environ.get("RAYOP_KUBE_BIN_DIR"):
        return Path(explicit)
    cache = os.environ.get("RAYOP_CACHE") or str(Path.home() / ".cache" / "rayop")
    return Path(cache) / "kube" / kube_version()


def locate_binaries() -> Binaries:
    """Find the executables, or raise :class:`BinariesMissing` saying how to get them."""
    directory = binary_dir()
    apiserver = directory / "kube-apiserver"
    if not _executable(apiserver):
        raise BinariesMissing(
            f"no kube-apiserver at {apiserver}: run tests/realapi/prepare.sh "
            "(needs Go and the Go module proxy; a cold build takes several minutes)"
        )
    etcd = Path(os.environ.get("RAYOP_ETCD") or directory / "etcd")
    if not _executable(etcd):
        etcd = Path(shutil.which("etcd") or etcd)
    if not _executable(etcd):
        raise BinariesMissing(f"no etcd at {etcd} nor on PATH: run tests/realapi/prepare.sh")
    manager = directory / "kube-controller-manager"
    return Binaries(
        apiserver=apiserver, etcd=etcd, controller_manager=manager if _executable(manager) else None
    )


@dataclass(kw_only=True)
class RealApiServer:
    """A running API server: where it is, how to authenticate, and how to stop it."""

    url: str
    kubeconfig: Path
    credentials: Credentials
    workdir: Path
    garbage_collection: bool
    startup_seconds: float
    _processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def token(self) -> str:
        """The admin bearer token (group ``system:masters``)."""
        return self.credentials.token

    @property
    def ca_file(self) -> Path:
        """The CA certificate that signed the serving certificate."""
        return self.credentials.ca_cert

    def pids(self) -> dict[str, int]:
        """Process ids of the components still running, by name."""
        return {name: p.pid for name, p in self._processes if p.poll() is None}

    def stop(self) -> None:
        """Stop every component (controller manager, then API server, then etcd); idempotent."""
        while self._processes:
            _, process = self._processes.pop()
            terminate(process)

    def __enter__(self) -> RealApiServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_real_apiserver(
    workdir: Path,
    *,
    binaries: Binaries | None = None,
    controller_manager: bool = True,
    timeout: float = 90.0,
    before_controllers: Callable[[RealApiServer], object] | None = None,
) -> RealApiServer:
    """Start etcd, kube-apiserver and (if built and wanted) kube-controller-manager.

    ``before_controllers(server)`` runs once the API server is ready and before the controller
    manager starts: install CRDs there, so the garbage collector knows their kinds from its
    first discovery (it rediscovers only every 30 s).
    """
    found = binaries or locate_binaries()
    manager = found.controller_manager if controller_manager else None
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    credentials = generate_credentials(workdir / "pki")
    server = RealApiServer(
        url="",
        kubeconfig=workdir / "kubeconfig",
        credentials=credentials,
        workdir=workdir,
        garbage_collection=manager is not None,
        startup_seconds=0.0,
    )
    try:
        etcd_url = _start_etcd(server, found.etcd, deadline=started + timeout)
        _start_apiserver(server, found.apiserver, etcd_url, deadline=started + timeout)
        if before_controllers is not None:
            before_controllers(server)
        if manager is not None:
            _start_controller_manager(server, manager, deadline=started + timeout)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server


def _start_etcd(server: RealApiServer, etcd: Path, *, deadline: float) -> str:
    client, peer = (f"http://127.0.0.1:{port}" for port in free_ports(2))
    _spawn(server, "etcd", [
        str(etcd), "--name", "realapi", "--data-dir", str(server.workdir / "etcd-data"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"realapi={peer}", "--log-level", "warn",
    ])  # fmt: skip
    _wait_ready(server, "etcd", f"{client}/health", deadline=deadline)
    return client


def _start_apiserver(
    server: RealApiServer, binary: Path, etcd_url: str, *, deadline: float
) -> None:
    (port,) = free_ports(1)
    server.url = f"https://127.0.0.1:{port}"
    c = server.credentials
    _spawn(server, "kube-apiserver", [
        str(binary), f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
        f"--cert-dir={server.workdir / 'apiserver-certs'}",
        f"--tls-cert-file={c.server_cert}", f"--tls-private-key-file={c.server_key}",
        f"--service-account-key-file={c.sa_public_key}",
        f"--service-account-signing-key-file={c.sa_private_key}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--token-auth-file={c.token_file}", "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # No service-account controller runs, so no "default" account would ever exist.
        "--disable-admission-plugins=ServiceAccount",
        # The "kubernetes" Service cannot point at a loopback address; nothing here needs it.
        "--endpoint-reconciler-type=none",
        f"--enable-garbage-collector={str(server.garbage_collection).lower()}",
        "--profiling=false", "--v=1",
    ])  # fmt: skip
    _wait_ready(server, "kube-apiserver", f"{server.url}/readyz", deadline=deadline)
    write_kubeconfig(server.kubeconfig, server=server.url, credentials=c)


def _start_controller_manager(server: RealApiServer, binary: Path, *, deadline: float) -> None:
    (port,) = free_ports(1)
    kubeconfig = str(server.kubeconfig)
    _spawn(server, "kube-controller-manager", [
        str(binary), f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
        "--controllers=garbagecollector,namespace", "--leader-elect=false",
        "--bind-address=127.0.0.1", f"--secure-port={port}",
        f"--cert-dir={server.workdir / 'kcm-certs'}", "--profiling=false", "--v=1",
    ])  # fmt: skip
    _wait_ready(server, "kube-controller-manager", f"https://127.0.0.1:{port}/healthz",
                deadline=deadline, verify=False)  # fmt: skip


def _spawn(server: RealApiServer, name: str, argv: list[str]) -> None:
    process = spawn_logged(argv, server.workdir / f"{name}.log", cwd=server.workdir)
    server._processes.append((name, process))


def spawn_logged(argv: list[str], log_path: Path, *, cwd: Path,
                 own_session: bool = False) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output in ``log_path``; Linux kills it if the test process dies.

    ``own_session`` keeps it out of the terminal's process group, so a Ctrl-C (or ``timeout``'s
    signal to its group) reaches only the test process, which then stops it in order.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent, start_new_session=own_session,
        )  # fmt: skip


def _wait_ready(
    server: RealApiServer, name: str, url: str, *, deadline: float, verify: bool = True
) -> None:
    process = dict(server._processes)[name]
    context = _tls_context(server.credentials.ca_cert if verify else None)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {server.token}"})

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {_tail(server, name)}")
        with (
            contextlib.suppress(OSError, http.client.HTTPException),  # refused, reset, 500
            open_url(request, context=context, timeout=2) as response,
        ):
            return response.status == 200
        return False

    wait_until(ready, within=deadline - time.monotonic(), every=0.1,
               failure=lambda: f"{name} not ready at {url}: {_tail(server, name)}")


def open_url(
    request: urllib.request.Request, *, context: ssl.SSLContext, timeout: float
) -> http.client.HTTPResponse:
    """Open ``request`` directly: loopback traffic never goes through a proxy from the env."""
    handlers = (urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    response: http.client.HTTPResponse = urllib.request.build_opener(*handlers).open(
        request, timeout=timeout
    )
    return response


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _tail(server: RealApiServer, name: str, lines: int = 15) -> str:
    path = server.workdir / f"{name}.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return f"(log {path})\n" + "\n".join(text.splitlines()[-lines:])


def terminate(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; waits for the exit."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    with contextlib.ExitStack() as stack:
        for s in sockets:
            stack.enter_context(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGKILL it when the test process dies (no orphans)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
