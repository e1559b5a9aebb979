"""What the real-node scenarios do, in a user's words: apply, get, wait, exec, logs, events.

Everything goes through ``kubectl`` against the node's API server, as a user checks a cluster;
Ray is asked from inside the head pod (``kubectl exec``), as a user would. Waits are bounded polls
in real time (the node is real) that say what they waited for and show the last state seen.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from polling import wait_until

from realnode.node import RealNode

Obj = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "rayop-system"


FIGURES: dict[str, float | int | str] = {}
"""What the scenarios measured, printed at the end of the run (``tests/realnode/conftest.py``)."""


def figure(name: str, value: float | int | str) -> None:
    """Record a measured figure (and print it, for ``-s`` runs)."""
    FIGURES[name] = value
    print(f"[realnode] {name}: {value}")


@dataclass
class Operator:
    """The operator running in the node: its image and namespace, and the node it runs on."""

    node: RealNode
    image: str
    namespace: str = OPERATOR_NAMESPACE
    install_seconds: float = 0.0

    def pods(self) -> list[Obj]:
        """The operator's pods (any phase)."""
        return get_items(self.node, "pods", self.namespace,
                         selector="app.kubernetes.io/name=rayop")  # fmt: skip

    def running_pod(self) -> Obj:
        """The one Ready operator pod that holds the leader lease."""
        holder = self.leader()
        for pod in self.pods():
            if pod["metadata"]["name"] == holder.split("_")[0] and pod_ready(pod):
                return pod
        raise AssertionError(f"no Ready operator pod holds the lease (holder {holder!r})")

    def leader(self) -> str:
        """The leader lease's holder identity (empty when none)."""
        lease = get(self.node, "lease", "rayop-leader", self.namespace)
        return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

    def logs(self) -> str:
        """The operator's logs, every pod of the Deployment."""
        return kubectl(self.node, "-n", self.namespace, "logs", "deploy/rayop",
                       "--all-containers", "--tail=-1", check=False).stdout  # fmt: skip


def rayop_cli(*args: str) -> str:
    """Run the ``rayop`` command of this checkout; return its standard output."""
    rayop = Path(sys.executable).parent / "rayop"
    out = subprocess.run([str(rayop), *args], capture_output=True, text=True, check=False,
                         cwd=REPO)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"rayop {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def install_operator(node: RealNode) -> Operator:
    """``rayop manifests --crds --image <prepared image> | kubectl apply -f -``, then wait.

    Waits until the Deployment is available and a pod holds the leader lease.
    """
    started = time.monotonic()
    image = node.layout.image_ref("rayop")
    manifests = rayop_cli("manifests", "--crds", "--image", image)
    kubectl(node, "apply", "--server-side", "-f", "-", input=manifests)
    operator = Operator(node=node, image=image)
    kubectl(node, "-n", OPERATOR_NAMESPACE, "rollout", "status", "deploy/rayop", "--timeout=180s")
    wait_for(lambda: bool(operator.leader()), within=60, what="a rayop pod to hold the lease",
             show=operator.logs)
    operator.install_seconds = time.monotonic() - started
    figure("operator install to leader (s)", round(operator.install_seconds, 1))
    return operator


# -- kubectl ------------------------------------------------------------------------------------
def kubectl(node: RealNode, *args: str, check: bool = True, input: str | None = None,
            timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """kubectl as the admin of ``node``."""
    return node.kubectl(*args, check=check, input=input, timeout=timeout)


def apply(node: RealNode, *objects: Obj) -> None:
    """``kubectl apply`` the objects."""
    kubectl(node, "apply", "-f", "-", input=yaml.safe_dump_all(objects))


def get(node: RealNode, kind: str, name: str, namespace: str) -> Obj | None:
    """One object, or None when it does not exist."""
    out = kubectl(node, "-n", namespace, "get", kind, name, "-o", "json", check=False)
    if out.returncode != 0:
        if "NotFound" in out.stderr or "not found" in out.stderr:
            return None
        raise RuntimeError(f"kubectl get {kind} {name}: {out.stderr.strip()}")
    loaded: Obj = json.loads(out.stdout)
    return loaded


def get_items(node: RealNode, kind: str, namespace: str, *, selector: str | None = None,
              ) -> list[Obj]:
    """Every object of ``kind`` in ``namespace`` (matching ``selector``)."""
    args = ["-n", namespace, "get", kind, "-o", "json"]
    if selector:
        args += ["-l", selector]
    items: list[Obj] = json.loads(kubectl(node, *args).stdout)["items"]
    return items


def wait_for(check: Callable[[], bool], *, within: float, what: str,
             show: Callable[[], object] | None = None, every: float = 0.5) -> None:
    """Poll ``check`` until true; the timeout names ``what`` and what ``show()`` returns."""
    wait_until(check, within=within, every=every,
               failure=lambda: f"timed out after {within:.0f} s waiting for {what}"
               + (f"; last seen: {show()}" if show else ""))  # fmt: skip


def pod_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])  # fmt: skip


def cluster_pods(node: RealNode, cluster: str, namespace: str, node_type: str | None = None,
                 ) -> list[Obj]:
    """The pods of a RayCluster (head and workers, or one ``node_type``), not being deleted."""
    selector = f"ray.io/cluster={cluster}" + (f",ray.io/node-type={node_type}" if node_type else "")
    return [p for p in get_items(node, "pods", namespace, selector=selector)
            if not p["metadata"].get("deletionTimestamp")]  # fmt: skip


def head_pod(node: RealNode, cluster: str, namespace: str) -> str:
    """The name of the cluster's (one, live) head pod."""
    heads = cluster_pods(node, cluster, namespace, "head")
    assert len(heads) == 1, f"{len(heads)} head pods for {cluster}"
    return str(heads[0]["metadata"]["name"])


def ray_python(node: RealNode, namespace: str, pod: str, code: str, timeout: float = 120.0) -> Any:
    """Run ``code`` with Python in the pod's Ray container; return the JSON its last line prints."""
    out = kubectl(node, "-n", namespace, "exec", pod, "-c", "ray-head", "--", "python", "-c", code,
                  timeout=timeout)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def events(node: RealNode, namespace: str, involved: str) -> list[Obj]:
    """Events about the object named ``involved``."""
    return [e for e in get_items(node, "events", namespace)
            if (e.get("involvedObject") or {}).get("name") == involved]  # fmt: skip


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET ``url`` directly (no proxy): status and body (the host reaches pod IPs on the bridge)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def namespace(node: RealNode, name: str) -> str:
    """Create namespace ``name`` (idempotent) and return it."""
    apply(node, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def ray_image(node: RealNode) -> str:
    """The prepared Ray image (``localhost/ray:<version>``)."""
    return node.layout.image_ref("ray")


def ray_version(node: RealNode) -> str:
    """The Ray version of the prepared image."""
    return ray_image(node).rsplit(":", 1)[1]


def load_example(name: str) -> Obj:
    """One of ``examples/manifests/`` as written."""
    loaded: Obj = yaml.safe_load((REPO / "examples" / "manifests" / name).read_text())
    return loaded


def for_this_node(obj: Obj, node: RealNode, *, cpu: str = "200m") -> Obj:
    """An example made to run here: the local Ray image, never pulled, small CPU requests.

    The node has 2 CPUs for everything; limits stay as written (they are what Ray must report).
    """
    image = ray_image(node)

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if "containers" in value and isinstance(value["containers"], list):
                for container in value["containers"]:
                    if str(container.get("image", "")).startswith("rayproject/ray"):
                        container["image"] = image
                        container["imagePullPolicy"] = "Never"
                    requests = (container.get("resources") or {}).get("requests") or {}
                    if "cpu" in requests:
                        requests["cpu"] = cpu
            if "rayVersion" in value:
                value["rayVersion"] = ray_version(node)
            for child in value.values():
                visit(child)
        elif isinstance(value, list):
            for child in value:
                visit(child)

    visit(obj)
    return obj
