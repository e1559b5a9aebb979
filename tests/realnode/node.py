"""A real one-node Kubernetes on this machine: control plane, kubelet, containerd, kube-proxy, DNS.

``RealNode(layout).up()`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
containerd, the kubelet and kube-proxy, waits for the node to be Ready and CoreDNS to answer, and
writes an admin kubeconfig; ``down()`` stops every process by PID, removes every container, mount,
network namespace and cgroup the pods left, the bridge, the iptables/nft rules and chains, and puts
back the sysctls it changed, from a state file written *before* each change, so that a run killed
half-way is undone by the next ``up()`` (or by ``python tests/realnode/node.py down``).

Pod traffic stays on the machine: pods live on a private bridge (``rayop0``, 10.244.0.0/24, whose
gateway address is the node's IP), nothing is masqueraded, and one FORWARD rule drops every packet
that would leave the bridge for another interface. Every component listens on 127.0.0.1 or on the
bridge's address only.

The binaries and images come from ``tests/realapi/prepare.sh`` and ``tests/realnode/prepare.sh``
(:class:`Layout` finds them). This is test infrastructure: it waits in real time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from polling import wait_until  # noqa: E402
from realapi.cluster import binary_dir as realapi_binary_dir  # noqa: E402
from realapi.cluster import free_ports, spawn_logged, terminate  # noqa: E402
from realapi.pki import Credentials, generate_credentials, write_kubeconfig  # noqa: E402

BRIDGE = "rayop0"
NODE_NAME = "realnode"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/24"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
API_PORT = 6443
CLUSTER_DOMAIN = "cluster.local"
# In mangle's FORWARD chain, which the kernel runs before filter's (where kubelet and kube-proxy
# put their accept rules), so no rule of theirs can let a pod's packet out before it is dropped.
EGRESS_RULE = ["-t", "mangle", "FORWARD", "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP",
               "-m", "comment", "--comment", "rayop-realnode-no-egress"]  # fmt: skip
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
    "net/netfilter/nf_conntrack_max",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
COMPONENT_USERS = {
    f"system:node:{NODE_NAME}": "system:nodes",
    "system:kube-scheduler": "",
    "system:kube-controller-manager": "",
    "system:kube-proxy": "",
}
IMAGES = ("pause", "coredns", "ray", "rayop")


class NodeUnavailable(RuntimeError):
    """A part of the real node is missing: the message names it and how to get it."""


@dataclass(frozen=True)
class Layout:
    """Where the prepared binaries and images are, and where the node keeps its state."""

    cache: Path
    kube_bin: Path

    @classmethod
    def default(cls) -> Layout:
        """The cache that ``prepare.sh`` fills (``$RAYOP_CACHE``, else ``~/.cache/rayop``)."""
        root = Path(os.environ.get("RAYOP_CACHE") or Path.home() / ".cache" / "rayop")
        return cls(cache=root / "realnode", kube_bin=realapi_binary_dir())

    @property
    def bin(self) -> Path:
        """kubelet, kube-scheduler, kube-proxy and coredns."""
        return self.cache / "bin"

    @property
    def images(self) -> Path:
        """The image archives, and ``<name>.ref`` naming the Ray and operator images."""
        return self.cache / "images"

    @property
    def run(self) -> Path:
        """The node's state: wiped by every ``up()`` (after undoing what it records)."""
        return self.cache / "run"

    @property
    def containerd_root(self) -> Path:
        """containerd's content store, kept between runs so images are imported once."""
        return self.cache / "containerd-root"

    def image_ref(self, name: str) -> str:
        """The reference of a prepared image (``ray`` or ``rayop``)."""
        return (self.images / f"{name}.ref").read_text().strip()

    def missing(self) -> list[str]:
        """What is not there yet, one line each (empty when the node can start)."""
        lines = []
        for name in ("kube-apiserver", "kube-controller-manager", "etcd"):
            if not os.access(self.kube_bin / name, os.X_OK):
                lines.append(f"{self.kube_bin / name} (run tests/realapi/prepare.sh)")
        for name in ("kubelet", "kube-scheduler", "kube-proxy", "coredns"):
            if not os.access(self.bin / name, os.X_OK):
                lines.append(f"{self.bin / name} (run tests/realnode/prepare.sh)")
        for name in IMAGES:
            if not (self.images / f"{name}.tar").is_file():
                lines.append(f"{self.images / name}.tar (run tests/realnode/prepare.sh)")
        for tool in ("containerd", "runc", "iptables", "ip", "ctr", "kubectl"):
            if shutil.which(tool) is None:
                lines.append(f"{tool} on PATH (tests/realnode/prepare.sh installs it)")
        if os.geteuid() != 0:
            lines.append("root (the node creates a bridge, iptables rules and cgroups)")
        ours = (self.cache / "host-changes.json").exists()
        if _kubepods_cgroups() and not ours:
            lines.append("a host without a kubelet of its own (kubepods cgroups exist; the "
                         "node's teardown would take them for its own)")
        return lines


@dataclass
class RealNode:
    """One node and its control plane; see the module's docstring."""

    layout: Layout
    kubeconfig: Path = field(init=False)
    timings: dict[str, float] = field(default_factory=dict)
    _processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kubeconfig = self.layout.run / "kubeconfig"

    # -- paths --------------------------------------------------------------------------------
    @property
    def run(self) -> Path:
        """The state directory."""
        return self.layout.run

    @property
    def socket(self) -> Path:
        """containerd's socket."""
        return self.run / "containerd.sock"

    @property
    def state_file(self) -> Path:
        """What ``up()`` changed on the host, written before each change."""
        return self.layout.cache / "host-changes.json"

    # -- bring-up -----------------------------------------------------------------------------
    def up(self, timeout: float = 240.0) -> RealNode:
        """Start the whole node; on any failure undo what was done and raise."""
        if missing := self.layout.missing():
            raise NodeUnavailable("real node parts missing:\n  " + "\n  ".join(missing))
        self.down()  # whatever an earlier run left behind
        started = time.monotonic()
        deadline = started + timeout
        try:
            self.run.mkdir(parents=True)
            self._network()
            self._containerd(deadline)
            self.timings["containerd + images"] = time.monotonic() - started
            credentials = self._pki()
            self._control_plane(credentials, deadline)
            self.timings["control plane"] = time.monotonic() - started
            self._node_components(credentials)
            self._wait_node_ready(deadline)
            self.timings["node Ready"] = time.monotonic() - started
            self._dns(deadline)
            self.timings["CoreDNS ready"] = time.monotonic() - started
        except BaseException:
            self.down()
            raise
        return self

    def _record(self, key: str, value: object) -> None:
        """Write ``key`` into the state file, keeping an earlier record (the true original)."""
        state = self._state()
        state.setdefault(key, value)
        self.state_file.write_text(json.dumps(state, indent=1))

    def _state(self) -> dict[str, object]:
        with contextlib.suppress(FileNotFoundError, ValueError):
            loaded = json.loads(self.state_file.read_text())
            if isinstance(loaded, dict):
                return loaded
        return {}

    def _network(self) -> None:
        self._record("sysctls", {name: _read_sysctl(name) for name in SYSCTLS})
        self._record("nft_tables", _nft_tables())
        self._record("cgroups", [str(p) for p in _kubepods_cgroups()])
        self._record("var_log_dirs", [d for d in ("/var/log/pods", "/var/log/containers")
                                      if Path(d).exists()])  # fmt: skip
        self._record("bridge", BRIDGE)
        _sh("ip", "link", "add", BRIDGE, "type", "bridge")
        _sh("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        _sh("ip", "link", "set", BRIDGE, "up")
        # ClusterIPs are routed to the bridge: kube-proxy rewrites them to pod IPs on the way,
        # and one not (yet) programmed never takes the host's default route off the machine
        _sh("ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE)
        self._record("egress_rule", EGRESS_RULE)
        _sh("iptables", EGRESS_RULE[0], EGRESS_RULE[1], "-I", *EGRESS_RULE[2:])
        _write_sysctl("net/ipv4/ip_forward", "1")
        _write_sysctl("net/bridge/bridge-nf-call-iptables", "1")

    def _render(self, template: str, out: str) -> Path:
        text = (HERE / "config" / template).read_text()
        for key, value in {
            "RUN": str(self.run), "CONTAINERD_ROOT": str(self.layout.containerd_root),
            "NODE_IP": NODE_IP, "POD_CIDR": POD_CIDR, "BRIDGE": BRIDGE,
            "DNS_SERVICE_IP": DNS_SERVICE_IP, "CLUSTER_DOMAIN": CLUSTER_DOMAIN,
        }.items():  # fmt: skip
            text = text.replace(f"@{key}@", value)
        path = self.run / out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def _containerd(self, deadline: float) -> None:
        config = self._render("containerd.toml", "containerd.toml")
        self._render("cni.conflist", "cni/net.d/10-rayop.conflist")
        self._spawn("containerd", ["containerd", "--config", str(config)])
        wait_until(lambda: self._ctr("version", check=False).returncode == 0,
                   within=deadline - time.monotonic(), every=0.1,
                   failure=lambda: f"containerd did not answer: {self.log_tail('containerd')}")
        self._remove_containers()
        present = set(self._ctr("images", "ls", "-q").stdout.split())
        for name in IMAGES:
            archive = self.layout.images / f"{name}.tar"
            ref = self._archive_ref(name)
            if ref in present:
                continue
            for stale in present:  # an operator image built from older sources
                if stale.split(":")[0] == ref.split(":")[0]:
                    self._ctr("images", "rm", stale, check=False)
            self._ctr("images", "import", str(archive))
        present = set(self._ctr("images", "ls", "-q").stdout.split())
        if absent := [self._archive_ref(n) for n in IMAGES if self._archive_ref(n) not in present]:
            raise NodeUnavailable(f"images {absent} not in their archives under "
                                  f"{self.layout.images}: run tests/realnode/prepare.sh")

    def _archive_ref(self, name: str) -> str:
        ref_file = self.layout.images / f"{name}.ref"
        if ref_file.exists():
            return ref_file.read_text().strip()
        return {"pause": "localhost/pause:local", "coredns": "localhost/coredns:local"}[name]

    def _pki(self) -> Credentials:
        names = ("IP:127.0.0.1", f"IP:{NODE_IP}", f"IP:{API_SERVICE_IP}", "DNS:localhost",
                 "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                 f"DNS:kubernetes.default.svc.{CLUSTER_DOMAIN}")  # fmt: skip
        credentials = generate_credentials(
            self.run / "pki", server_names=names, users=COMPONENT_USERS,
            client_certs={"kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client"},
        )  # fmt: skip
        server = f"https://{NODE_IP}:{API_PORT}"
        write_kubeconfig(self.kubeconfig, server=server, credentials=credentials)
        for user in COMPONENT_USERS:
            write_kubeconfig(self.run / f"kubeconfig.{user.rsplit(':', 1)[-1]}", server=server,
                             credentials=credentials, user=user)  # fmt: skip
        return credentials

    def _control_plane(self, c: Credentials, deadline: float) -> None:
        kube = self.layout.kube_bin
        client, peer = (f"http://127.0.0.1:{port}" for port in free_ports(2))
        self._spawn("etcd", [
            str(kube / "etcd"), "--name", NODE_NAME, "--data-dir", str(self.run / "etcd"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{NODE_NAME}={peer}", "--listen-metrics-urls", "",
            "--log-level", "warn",
        ])  # fmt: skip
        self._wait_http("etcd", f"{client}/health", deadline)
        kubelet_cert, kubelet_key = c.client_cert("kubelet-client")
        self._spawn("kube-apiserver", [
            str(kube / "kube-apiserver"), f"--etcd-servers={client}",
            f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}",
            f"--secure-port={API_PORT}", f"--cert-dir={self.run / 'apiserver-certs'}",
            f"--tls-cert-file={c.server_cert}", f"--tls-private-key-file={c.server_key}",
            f"--client-ca-file={c.ca_cert}", f"--token-auth-file={c.token_file}",
            f"--kubelet-client-certificate={kubelet_cert}", f"--kubelet-client-key={kubelet_key}",
            # kubectl logs/exec reach the kubelet at the node's InternalIP (the bridge address)
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-key-file={c.sa_public_key}",
            f"--service-account-signing-key-file={c.sa_private_key}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false", "--v=1",
        ])  # fmt: skip
        self._wait_http("kube-apiserver", f"https://{NODE_IP}:{API_PORT}/readyz", deadline,
                        token=c.token, ca=c.ca_cert)  # fmt: skip
        kcm, sched = free_ports(2)
        kc = self.run / "kubeconfig.kube-controller-manager"
        self._spawn("kube-controller-manager", [
            str(kube / "kube-controller-manager"), f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={c.sa_private_key}",
            f"--root-ca-file={c.ca_cert}", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allocate-node-cidrs=false", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={kcm}",
            f"--cert-dir={self.run / 'kcm-certs'}", "--profiling=false", "--v=1",
        ])  # fmt: skip
        ks = self.run / "kubeconfig.kube-scheduler"
        self._spawn("kube-scheduler", [
            str(self.layout.bin / "kube-scheduler"), f"--kubeconfig={ks}",
            f"--authentication-kubeconfig={ks}", f"--authorization-kubeconfig={ks}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={sched}",
            "--profiling=false", "--v=1",
        ])  # fmt: skip
        self._wait_http("kube-controller-manager", f"https://127.0.0.1:{kcm}/healthz", deadline)
        self._wait_http("kube-scheduler", f"https://127.0.0.1:{sched}/healthz", deadline)

    def _node_components(self, c: Credentials) -> None:
        config = self._render("kubelet.yaml", "kubelet.yaml")
        (self.run / "resolv.conf").write_text(f"nameserver {NODE_IP}\n")
        self._spawn("kubelet", [
            str(self.layout.bin / "kubelet"), f"--config={config}",
            f"--kubeconfig={self.run / 'kubeconfig.realnode'}",
            f"--root-dir={self.run / 'kubelet'}", f"--cert-dir={self.run / 'kubelet' / 'pki'}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}", "--v=1",
        ])  # fmt: skip
        self._spawn("kube-proxy", [
            str(self.layout.bin / "kube-proxy"),
            f"--kubeconfig={self.run / 'kubeconfig.kube-proxy'}", "--proxy-mode=iptables",
            f"--hostname-override={NODE_NAME}", f"--cluster-cidr={POD_CIDR}",
            f"--bind-address={NODE_IP}", f"--nodeport-addresses={NODE_IP}/32",
            f"--healthz-bind-address=127.0.0.1:{free_ports(1)[0]}",
            f"--metrics-bind-address=127.0.0.1:{free_ports(1)[0]}",
            # leave the host's conntrack sysctls alone (0 = do not set)
            "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
            "--conntrack-tcp-timeout-close-wait=0", "--v=1",
        ])  # fmt: skip

    def _wait_node_ready(self, deadline: float) -> None:
        def ready() -> bool:
            self._check_alive()
            out = self.kubectl("get", "node", NODE_NAME, "-o",
                               "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                               check=False)  # fmt: skip
            return out.returncode == 0 and out.stdout.strip() == "True"

        wait_until(ready, within=deadline - time.monotonic(), every=0.3,
                   failure=lambda: f"node not Ready: {self.log_tail('kubelet')}")
        wait_until(lambda: self.kubectl("get", "sa", "default", check=False).returncode == 0,
                   within=deadline - time.monotonic(), every=0.3,
                   failure=lambda: "no default ServiceAccount (kube-controller-manager)")

    def _dns(self, deadline: float) -> None:
        self.kubectl("apply", "-f", str(HERE / "config" / "coredns.yaml"))
        self.kubectl("-n", "kube-system", "rollout", "status", "deploy/coredns",
                     f"--timeout={max(1, int(deadline - time.monotonic()))}s")

    # -- running ------------------------------------------------------------------------------
    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the node as the admin; raise with its stderr if ``check``."""
        result = subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", *args], capture_output=True,
            text=True, input=input, timeout=timeout, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def pids(self) -> dict[str, int]:
        """The components still running, by name."""
        return {name: p.pid for name, p in self._processes if p.poll() is None}

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The last lines of a component's log."""
        path = self.run / "logs" / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"(log {path})\n" + "\n".join(text.splitlines()[-lines:])

    def _check_alive(self) -> None:
        for name, process in self._processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: "
                                   f"{self.log_tail(name)}")  # fmt: skip

    def _spawn(self, name: str, argv: list[str]) -> None:
        process = spawn_logged(argv, self.run / "logs" / f"{name}.log", cwd=self.run,
                               own_session=True)
        self._processes.append((name, process))
        state = self._state()
        pids = state.get("pids")
        state["pids"] = {**(pids if isinstance(pids, dict) else {}), name: process.pid}
        self.state_file.write_text(json.dumps(state, indent=1))

    def _wait_http(self, name: str, url: str, deadline: float, *, token: str | None = None,
                   ca: Path | None = None) -> None:
        argv = ["curl", "-sf", "--noproxy", "*", "-o", "/dev/null", "--max-time", "2"]
        argv += ["--cacert", str(ca)] if ca else ["-k"]
        argv += ["-H", f"Authorization: Bearer {token}"] if token else []

        def ready() -> bool:
            self._check_alive()
            return subprocess.run([*argv, url], check=False).returncode == 0

        wait_until(ready, within=deadline - time.monotonic(), every=0.2,
                   failure=lambda: f"{name} not ready at {url}: {self.log_tail(name)}")

    def _ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["ctr", "-a", str(self.socket), "-n", "k8s.io", *args],
                                capture_output=True, text=True, check=False)  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {result.stderr.strip()}")
        return result

    def _remove_containers(self) -> None:
        """Kill every container's processes and delete the tasks and containers (CRI's too)."""
        for task in self._ctr("tasks", "ls", "-q", check=False).stdout.split():
            self._ctr("tasks", "kill", "--all", "-s", "SIGKILL", task, check=False)
        for task in self._ctr("tasks", "ls", "-q", check=False).stdout.split():
            self._ctr("tasks", "delete", "--force", task, check=False)
        for container in self._ctr("containers", "ls", "-q", check=False).stdout.split():
            self._ctr("containers", "delete", container, check=False)

    # -- teardown -----------------------------------------------------------------------------
    def down(self) -> None:
        """Undo everything ``up()`` (this run's or an earlier one's) did; idempotent."""
        state = self._state()
        pids = {**(state.get("pids") or {}), **self.pids()}  # type: ignore[dict-item]
        for name in ("kube-proxy", "kubelet"):
            _stop_pid(pids.pop(name, None), self._processes)
        if self.socket.exists() or "containerd" in pids:
            if not _alive(pids.get("containerd")):
                pids.pop("containerd", None)
                self._spawn("containerd", ["containerd", "--config",
                                           str(self.run / "containerd.toml")])  # fmt: skip
                pids["containerd"] = self.pids()["containerd"]
                with contextlib.suppress(TimeoutError):
                    wait_until(lambda: self._ctr("version", check=False).returncode == 0,
                               within=15, every=0.2, failure=lambda: "")  # fmt: skip
            self._remove_containers()
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd",
                     "containerd"):
            _stop_pid(pids.pop(name, None), self._processes)
        for pid in pids.values():
            _stop_pid(pid, self._processes)
        self._processes.clear()
        if state:  # only a node of ours made kubepods (missing() refuses a host with its own)
            for cgroup in _kubepods_cgroups():  # container processes containerd did not reach
                _kill_cgroup_tree(cgroup)
        _kill_matching(str(self.run))  # containerd-shims and anything else started from here
        _unmount_under(str(self.run), str(self.layout.containerd_root))
        for netns in Path("/run/netns").glob("cni-*"):
            with contextlib.suppress(OSError):
                subprocess.run(["umount", str(netns)], capture_output=True, check=False)
                netns.unlink()
        if state.get("bridge") or _link_exists(BRIDGE):
            # the pods' veths first: a netns whose veth is still plugged in may outlive its pod
            ports = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE],
                                   capture_output=True, text=True, check=False).stdout
            for line in ports.splitlines():
                _run_quiet("ip", "link", "del", line.split(":")[1].strip().split("@")[0])
            _run_quiet("ip", "link", "del", BRIDGE)
        if rule := state.get("egress_rule"):
            assert isinstance(rule, list)
            while _run_quiet("iptables", *rule[:2], "-D", *rule[2:]) == 0:
                pass
        if state:
            if (self.layout.bin / "kube-proxy").exists():
                _run_quiet(str(self.layout.bin / "kube-proxy"), "--cleanup", "--v=0")
            _remove_kube_chains()
        before_tables = state.get("nft_tables")
        if isinstance(before_tables, list):
            for table in set(_nft_tables()) - set(before_tables):
                _drop_empty_nft_table(table)
        sysctls = state.get("sysctls")
        if isinstance(sysctls, dict):
            for name, value in sysctls.items():
                if value is not None:
                    _write_sysctl(name, str(value))
        if isinstance(state.get("cgroups"), list):
            keep = {Path(p) for p in state["cgroups"]}  # type: ignore[union-attr]
            for path in _kubepods_cgroups():
                if path not in keep:
                    _rmdir_tree(path)
        for log_dir in ("/var/log/pods", "/var/log/containers"):
            kept = state.get("var_log_dirs")
            if isinstance(kept, list) and log_dir not in kept:
                shutil.rmtree(log_dir, ignore_errors=True)
        if self.run.exists():
            shutil.rmtree(self.run, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)


# -- host helpers ---------------------------------------------------------------------------------
def _sh(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")


def _run_quiet(*argv: str) -> int:
    return subprocess.run(argv, capture_output=True, check=False).returncode


def _read_sysctl(name: str) -> str | None:
    try:
        return (Path("/proc/sys") / name).read_text().strip()
    except OSError:
        return None


def _write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        (Path("/proc/sys") / name).write_text(value + "\n")


def _link_exists(name: str) -> bool:
    return _run_quiet("ip", "link", "show", name) == 0


def _nft_tables() -> list[str]:
    if shutil.which("nft") is None:
        return []
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    return sorted(line.removeprefix("table ").strip() for line in out.stdout.splitlines()
                  if line.startswith("table "))  # fmt: skip


def _drop_empty_nft_table(table: str) -> None:
    listing = subprocess.run(["nft", "list", "table", *table.split()], capture_output=True,
                             text=True, check=False).stdout  # fmt: skip
    words = ("table", "chain", "type", "}")
    if all(not line.strip() or line.strip().startswith(words) for line in listing.splitlines()):
        _run_quiet("nft", "delete", "table", *table.split())


def _remove_kube_chains() -> None:
    """Remove the KUBE-* chains and the jumps into them (kubelet's canaries, kube-proxy's)."""
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool) is None:
            continue
        for table in ("mangle", "nat", "filter"):
            rules = subprocess.run([tool, "-t", table, "-S"], capture_output=True, text=True,
                                   check=False).stdout.splitlines()  # fmt: skip
            for rule in rules:
                jump = rule.startswith("-A ") and "-j KUBE-" in rule
                if jump and not rule.startswith("-A KUBE-"):
                    _run_quiet(tool, "-t", table, "-D", *rule[3:].split())
            chains = [r.split()[1] for r in rules if r.startswith("-N KUBE-")]
            for chain in chains:
                _run_quiet(tool, "-t", table, "-F", chain)
            for chain in chains:
                _run_quiet(tool, "-t", table, "-X", chain)


def _kubepods_cgroups() -> list[Path]:
    return sorted(p for p in CGROUP_ROOT.glob("*/kubepods*") if p.is_dir())


def _kill_cgroup_tree(path: Path, within: float = 15.0) -> None:
    """SIGKILL every process in the cgroup ``path`` and below, and wait until they are gone."""

    def members() -> list[int]:
        pids = []
        for procs in path.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids += [int(line) for line in procs.read_text().split()]
        return pids

    for pid in members():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not members(), within=within, every=0.1, failure=lambda: "")


def _rmdir_tree(path: Path) -> None:
    for directory in sorted((p for p in path.rglob("*") if p.is_dir()),
                            key=lambda p: len(p.parts), reverse=True):  # fmt: skip
        with contextlib.suppress(OSError):
            directory.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


def _unmount_under(*prefixes: str) -> None:
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted({m for m in mounts if m.startswith(prefixes)}, key=len, reverse=True):
        _run_quiet("umount", "-l", mount)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return not _zombie(pid)


def _stop_pid(pid: object, processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    if not isinstance(pid, int):
        return
    for _, process in processes:
        if process.pid == pid:
            terminate(process)
            return
    if not _alive(pid) or not _cmdline(pid):
        return
    os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not _alive(pid) or _zombie(pid), within=10, every=0.1,
                   failure=lambda: "")  # fmt: skip
    if _alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except (OSError, IndexError):
        return True


def _kill_matching(text: str) -> None:
    for proc in Path("/proc").iterdir():
        pid = int(proc.name) if proc.name.isdigit() else os.getpid()
        if pid != os.getpid() and text in _cmdline(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def host_snapshot() -> dict[str, object]:
    """What the node may change on the host, to compare before ``up()`` and after ``down()``."""
    return {
        "links": sorted(line.split(":")[1].strip().split("@")[0] for line in subprocess.run(
            ["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout.splitlines()),
        "iptables": _iptables_rules(),
        "nft_tables": _nft_tables(),
        "sysctls": {name: _read_sysctl(name) for name in SYSCTLS},
        "cgroups": [str(p) for p in _kubepods_cgroups()],
        "netns": sorted(p.name for p in Path("/run/netns").glob("*")) if Path("/run/netns").exists()
        else [],
        "var_log": [d for d in ("/var/log/pods", "/var/log/containers") if Path(d).exists()],
    }


def _iptables_rules() -> list[str]:
    rules = []
    for tool in ("iptables", "ip6tables"):
        for table in ("mangle", "nat", "filter"):
            out = subprocess.run([tool, "-t", table, "-S"], capture_output=True, text=True,
                                 check=False).stdout  # fmt: skip
            rules += [f"{tool} {table} {line}" for line in out.splitlines()]
    return rules


@contextlib.contextmanager
def running_node(layout: Layout | None = None) -> Iterator[RealNode]:
    """Bring a node up for the duration of a ``with`` block, and down after it."""
    node = RealNode(layout or Layout.default())
    try:
        yield node.up()
    finally:
        node.down()


def main(argv: list[str]) -> int:
    """``node.py up`` (and stay up until Ctrl-C), ``down``, ``missing``."""
    node = RealNode(Layout.default())
    command = argv[0] if argv else "help"
    if command == "missing":
        print("\n".join(node.layout.missing()) or "nothing: the node can start")
        return 0
    if command == "down":
        node.down()
        print("down: processes stopped, bridge, rules, mounts, cgroups and sysctls restored")
        return 0
    if command == "up":
        node.up()
        print(f"export KUBECONFIG={node.kubeconfig}")
        for step, seconds in node.timings.items():
            print(f"  {step}: {seconds:.1f} s")
        print("up; Ctrl-C brings it down")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the undoing
        node.down()
        return 0
    print(__doc__)
    print("usage: python tests/realnode/node.py up | down | missing")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
