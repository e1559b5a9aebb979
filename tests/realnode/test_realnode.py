"""rayop on a real one-node Kubernetes with real Ray: what a user checks with kubectl and Ray.

The operator runs in the node from the image the project's Dockerfile builds, installed with
``rayop manifests --crds | kubectl apply -f -``, under the ServiceAccount and RBAC that prints.
Each scenario applies what a user applies and asserts what the user would look at: pod phases,
``status`` fields and events through kubectl, and Ray's own view (nodes, resources, job list)
from inside the head pod. The tests of this module share one node and one operator, and run in
file order (the fault scenarios come last).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rayop.ray.resources.quantity import parse_quantity
from realnode.kit import (
    Obj,
    Operator,
    apply,
    cluster_pods,
    events,
    figure,
    for_this_node,
    get,
    head_pod,
    http_get,
    kubectl,
    load_example,
    namespace,
    pod_ready,
    ray_image,
    ray_python,
    ray_version,
    wait_for,
)
from realnode.node import RealNode

GiB = 2**30
RAY_NODES = (
    "import ray, json; ray.init(logging_level='ERROR'); "
    "print(json.dumps([n['Resources'] for n in ray.nodes() if n['Alive']]))"
)
SHM_BYTES = ("import os, json; s = os.statvfs('/dev/shm'); "
             "print(json.dumps(s.f_blocks * s.f_frsize))")
JOB_LIST = (
    "import json; from ray.job_submission import JobSubmissionClient as C; "
    "print(json.dumps([[j.submission_id, str(j.status), j.message] "
    "for j in C('http://127.0.0.1:8265').list_jobs()]))"
)




# -- the operator --------------------------------------------------------------------------------
def test_operator_runs_in_cluster_under_its_rbac(operator: Operator) -> None:
    node = operator.node
    pod = operator.running_pod()
    assert pod["spec"]["serviceAccountName"] == "rayop"
    assert pod["spec"]["containers"][0]["image"] == operator.image
    # the RBAC it runs under is the one `rayop manifests` printed: it may list pods in any
    # namespace and may not read secrets
    sa = "system:serviceaccount:rayop-system:rayop"
    can_list = kubectl(node, "auth", "can-i", "list", "pods", "-A", f"--as={sa}")
    assert can_list.stdout.strip() == "yes"
    assert kubectl(node, "auth", "can-i", "get", "secrets", "-A", f"--as={sa}",
                   check=False).stdout.strip() == "no"  # fmt: skip
    ip = pod["status"]["podIP"]
    status, body = http_get(f"http://{ip}:8081/healthz")
    assert (status, body.strip()) == (200, "ok")
    status, metrics = http_get(f"http://{ip}:8080/metrics")
    assert status == 200
    families = {f.name for f in text_string_to_metric_families(metrics)}
    # controller-runtime's names, as dashboards built for KubeRay/controller-runtime expect
    assert {"controller_runtime_reconcile", "controller_runtime_reconcile_time_seconds",
            "workqueue_depth", "workqueue_adds"} <= families, sorted(families)


# -- RayCluster ----------------------------------------------------------------------------------
def small_cluster(node: RealNode, name: str, ns: str, *, workers: int = 1,
                  image: str | None = None) -> Obj:
    """A RayCluster that fits the node: head 1 CPU / 2 GiB, workers 1 CPU / 1 GiB (limits)."""
    img = image or ray_image(node)

    def container(role: str, memory: str) -> Obj:
        return {"name": f"ray-{role}", "image": img, "imagePullPolicy": "Never",
                "resources": {"limits": {"cpu": "1", "memory": memory},
                              "requests": {"cpu": "200m", "memory": "512Mi"}}}  # fmt: skip

    return {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "rayVersion": ray_version(node),
            "headGroupSpec": {"rayStartParams": {"dashboard-host": "0.0.0.0"},
                              "template": {"spec": {"containers": [container("head", "2Gi")]}}},
            "workerGroupSpecs": [{
                "groupName": "small", "replicas": workers, "minReplicas": 0, "maxReplicas": 3,
                "rayStartParams": {},
                "template": {"spec": {"containers": [container("worker", "1Gi")]}},
            }],
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def ready_cluster(operator: Operator) -> tuple[str, str]:
    """A RayCluster with one worker, ``ready``; measured from apply."""
    node = operator.node
    ns = namespace(node, "rc")
    started = time.monotonic()
    apply(node, small_cluster(node, "demo", ns))
    first_ready: dict[str, Any] = {}

    def ready() -> bool:
        cluster = get(node, "raycluster", "demo", ns) or {}
        if (cluster.get("status") or {}).get("state") == "ready":
            # at the moment rayop says ready, Ray's GCS must already answer
            first_ready["nodes"] = ray_python(node, ns, head_pod(node, "demo", ns), RAY_NODES)
            return True
        return False

    wait_for(ready, within=240, what="RayCluster demo ready", every=0.3,
             show=lambda: (get(node, "raycluster", "demo", ns) or {}).get("status"))
    figure("RayCluster apply to ready (s)", round(time.monotonic() - started, 1))
    assert len(first_ready["nodes"]) >= 1
    return "demo", ns


def test_raycluster_ray_reports_the_container_limits(operator: Operator,
                                                     ready_cluster: tuple[str, str]) -> None:
    node = operator.node
    name, ns = ready_cluster
    pods = cluster_pods(node, name, ns)
    assert sorted(p["metadata"]["labels"]["ray.io/node-type"] for p in pods) == ["head", "worker"]
    assert all(p["status"]["phase"] == "Running" and pod_ready(p) for p in pods)
    wait_for(lambda: len(ray_python(node, ns, head_pod(node, name, ns), RAY_NODES)) == 2,
             within=90, what="the worker to join Ray")  # fmt: skip
    resources = ray_python(node, ns, head_pod(node, name, ns), RAY_NODES)
    # Ray advertises each container's limits, not the node's 2 CPUs and 24 GiB
    assert sorted((r["CPU"], r["memory"]) for r in resources) == [(1.0, 1 * GiB), (1.0, 2 * GiB)]
    # /dev/shm is the memory-backed volume, as large as the head container's memory limit
    # (KubeRay's rule), not the container runtime's 64 MB: Ray's object store lives there
    head = next(p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head")
    limit = parse_quantity(head["spec"]["containers"][0]["resources"]["limits"]["memory"])
    assert ray_python(node, ns, head["metadata"]["name"], SHM_BYTES) == int(limit)
    status = get(node, "raycluster", name, ns)["status"]  # type: ignore[index]
    assert status["readyWorkerReplicas"] == 1
    assert status["availableWorkerReplicas"] == 1


# -- RayJob --------------------------------------------------------------------------------------
def rayjob_sample(node: RealNode, ns: str) -> Obj:
    """``examples/manifests/rayjob-sample.yaml``, made to run here.

    Its runtimeEnv's ``pip: [requests]`` is dropped: pods have no way off the machine, so pip
    cannot download (the env_vars stay); the TTL is shortened from 60 s to keep the run short.
    """
    job = for_this_node(load_example("rayjob-sample.yaml"), node)
    job["metadata"]["namespace"] = ns
    job["spec"]["runtimeEnv"] = "env_vars:\n  counter_name: test_counter\n"
    job["spec"]["entrypoint"] = (
        "python -c \"import os, ray; ray.init(); "
        "print('RESOURCES', ray.cluster_resources()); print('ENV', os.environ['counter_name'])\""
    )
    job["spec"]["ttlSecondsAfterFinished"] = 10
    return job


def job_list(node: RealNode, cluster: str, ns: str) -> list[list[str]]:
    """Ray's own list of jobs on ``cluster``: [submission id, status, message] each."""
    listed: list[list[str]] = ray_python(node, ns, head_pod(node, cluster, ns), JOB_LIST)
    return listed


def test_rayjob_sample_succeeds_once_and_its_cluster_goes(operator: Operator) -> None:
    node = operator.node
    ns = namespace(node, "rj")
    started = time.monotonic()
    apply(node, rayjob_sample(node, ns))

    def status() -> Obj:
        return (get(node, "rayjob", "rayjob-sample", ns) or {}).get("status") or {}

    wait_for(lambda: status().get("jobDeploymentStatus") in ("Complete", "Failed"), within=300,
             what="RayJob rayjob-sample to finish", show=status)  # fmt: skip
    figure("RayJob apply to Complete (s)", round(time.monotonic() - started, 1))
    final = status()
    assert (final["jobDeploymentStatus"], final["jobStatus"]) == ("Complete", "SUCCEEDED"), final
    cluster = final["rayClusterName"]
    jobs = job_list(node, cluster, ns)
    assert [j[0] for j in jobs] == [final["jobId"]], jobs  # submitted exactly once
    assert jobs[0][1] == "SUCCEEDED"
    logs = kubectl(node, "-n", ns, "exec", head_pod(node, cluster, ns), "--", "ray", "job", "logs",
                   final["jobId"], "--address", "http://127.0.0.1:8265").stdout  # fmt: skip
    assert "ENV test_counter" in logs
    assert "'CPU': 2.0" in logs  # head and worker, one CPU each (their limits)
    # shutdownAfterJobFinishes with ttlSecondsAfterFinished: 10 -> the cluster is deleted
    wait_for(lambda: get(node, "raycluster", cluster, ns) is None and not cluster_pods(
        node, cluster, ns), within=120, what=f"RayCluster {cluster} and its pods to be deleted")
    assert status()["jobDeploymentStatus"] == "Complete"


def test_rayjob_failing_entrypoint_ends_failed_with_rays_message(
        operator: Operator, ready_cluster: tuple[str, str]) -> None:
    node = operator.node
    cluster, ns = ready_cluster
    apply(node, {
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": "fails", "namespace": ns},
        "spec": {"entrypoint": "python -c \"import sys; print('about to fail'); sys.exit(3)\"",
                 "clusterSelector": {"ray.io/cluster": cluster}},
    })  # fmt: skip

    def status() -> Obj:
        return (get(node, "rayjob", "fails", ns) or {}).get("status") or {}

    wait_for(lambda: status().get("jobDeploymentStatus") in ("Complete", "Failed"), within=180,
             what="RayJob fails to finish", show=status)  # fmt: skip
    final = status()
    assert final["jobDeploymentStatus"] == "Failed"
    assert final["jobStatus"] == "FAILED"
    # Ray's own words for what went wrong, as `ray job status` prints them
    ray_message = {j[0]: j[2] for j in job_list(node, cluster, ns)}[final["jobId"]]
    assert "exit code 3" in ray_message
    assert ray_message in final["message"]
    assert any(e["type"] == "Warning" for e in events(node, ns, "fails"))


# -- RayService ----------------------------------------------------------------------------------
APPS = Path(__file__).resolve().parent / "apps"
SERVE_CONFIG = """\
applications:
  - name: greeter
    import_path: greeter:app
    route_prefix: /
    deployments:
      - name: Greeter
        num_replicas: 1
        ray_actor_options: {{num_cpus: 0.1}}
        user_config: {{message: {message}}}
"""


def rayservice(node: RealNode, ns: str, *, message: str, generation_label: str) -> Obj:
    """A RayService serving ``greeter`` (from a ConfigMap on every Ray container's PYTHONPATH)."""

    def container(role: str) -> Obj:
        return {
            "name": f"ray-{role}", "image": ray_image(node), "imagePullPolicy": "Never",
            "env": [{"name": "PYTHONPATH", "value": "/home/ray/apps"}],
            "volumeMounts": [{"name": "apps", "mountPath": "/home/ray/apps"}],
            "resources": {"limits": {"cpu": "1", "memory": "2Gi" if role == "head" else "1Gi"},
                          "requests": {"cpu": "100m", "memory": "512Mi"}},
        }  # fmt: skip

    def template(role: str) -> Obj:
        return {"metadata": {"labels": {"rollout": generation_label}},
                "spec": {"containers": [container(role)],
                         "volumes": [{"name": "apps", "configMap": {"name": "apps"}}]}}

    return {
        "apiVersion": "ray.io/v1", "kind": "RayService",
        "metadata": {"name": "greeter", "namespace": ns},
        "spec": {
            "rayClusterDeletionDelaySeconds": 15,
            "serveConfigV2": SERVE_CONFIG.format(message=message),
            "rayClusterConfig": {
                "rayVersion": ray_version(node),
                "headGroupSpec": {"rayStartParams": {"dashboard-host": "0.0.0.0"},
                                  "template": template("head")},
                "workerGroupSpecs": [{"groupName": "serve", "replicas": 1, "minReplicas": 1,
                                      "maxReplicas": 1, "rayStartParams": {},
                                      "template": template("worker")}],
            },
        },
    }  # fmt: skip


def configmap(name: str, ns: str, files: dict[str, str]) -> Obj:
    """A ConfigMap holding files."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": files}  # fmt: skip


@dataclass
class Client:
    """A pod that sends requests continuously and logs each answer."""

    node: RealNode
    ns: str
    name: str

    def lines(self) -> list[str]:
        """What it logged so far."""
        out = kubectl(self.node, "-n", self.ns, "logs", self.name, "--tail=-1")
        return out.stdout.splitlines()

    def answers(self) -> list[str]:
        """The bodies of the successful requests."""
        return [line.split(" ", 3)[3] for line in self.lines() if line.split(" ")[1:2] == ["OK"]]

    def failures(self) -> list[str]:
        """The failed requests."""
        return [line for line in self.lines() if " FAIL " in line]

    def stop(self) -> None:
        """Stop sending and wait for its ``DONE``."""
        kubectl(self.node, "-n", self.ns, "exec", self.name, "--", "touch", "/tmp/stop")
        wait_for(lambda: bool(self.lines()) and self.lines()[-1] == "DONE", within=30,
                 what=f"client {self.name} to stop")  # fmt: skip


def start_client(node: RealNode, ns: str, name: str, url: str) -> Client:
    """A client pod sending GET ``url`` every 50 ms (its script from a ConfigMap)."""
    apply(node, configmap("client", ns, {"client.py": (APPS / "client.py").read_text()}), {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "client", "image": ray_image(node), "imagePullPolicy": "Never",
            "command": ["python", "/client/client.py", url],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
            "volumeMounts": [{"name": "client", "mountPath": "/client"}]}],
            "volumes": [{"name": "client", "configMap": {"name": "client"}}]},
    })  # fmt: skip
    wait_for(lambda: ((get(node, "pod", name, ns) or {}).get("status") or {}).get("phase")
             == "Running", within=60, what=f"client pod {name} running")  # fmt: skip
    return Client(node, ns, name)


@pytest.fixture(scope="module")
def serving(operator: Operator) -> tuple[str, str]:
    """RayService ``greeter`` Running; yields (namespace, serve URL inside the cluster)."""
    node = operator.node
    ns = namespace(node, "rs")
    apply(node, configmap("apps", ns, {"greeter.py": (APPS / "greeter.py").read_text()}))
    started = time.monotonic()
    apply(node, rayservice(node, ns, message="v1", generation_label="first"))
    wait_for(lambda: service_status(node, ns).get("serviceStatus") == "Running", within=360,
             what="RayService greeter Running", show=lambda: service_status(node, ns))  # fmt: skip
    figure("RayService apply to Running (s)", round(time.monotonic() - started, 1))
    # as a user would check before sending traffic: the Service answers (its endpoints are
    # published and kube-proxy has programmed them, which follows Running by up to a second)
    ip = get(node, "service", "greeter-serve-svc", ns)["spec"]["clusterIP"]  # type: ignore[index]
    wait_for(lambda: answers(f"http://{ip}:8000/"), within=60, what="the serve Service to answer")
    figure("RayService apply to answering through its Service (s)",
           round(time.monotonic() - started, 1))  # fmt: skip
    return ns, f"http://greeter-serve-svc.{ns}.svc.cluster.local:8000/"


def answers(url: str) -> bool:
    """One GET of ``url`` from the host answers 200."""
    try:
        return http_get(url, timeout=2)[0] == 200
    except OSError:
        return False


def service_status(node: RealNode, ns: str) -> Obj:
    """RayService greeter's status."""
    return (get(node, "rayservice", "greeter", ns) or {}).get("status") or {}


def active_cluster(node: RealNode, ns: str) -> str:
    """The RayCluster now serving."""
    return str((service_status(node, ns).get("activeServiceStatus") or {}).get("rayClusterName"))


def test_rayservice_answers_a_client_pod_by_its_dns_name(
        operator: Operator, serving: tuple[str, str]) -> None:
    node = operator.node
    ns, url = serving
    client = start_client(node, ns, "client-dns", url)
    wait_for(lambda: len(client.answers()) >= 20, within=60, what="20 answers",
             show=lambda: client.lines()[-5:])  # fmt: skip
    client.stop()
    assert not client.failures(), client.failures()[:5]
    assert set(client.answers()) == {f"v1 from {active_cluster(node, ns)}"}


def test_rayservice_serve_config_change_applies_in_place(
        operator: Operator, serving: tuple[str, str]) -> None:
    node = operator.node
    ns, url = serving
    before = active_cluster(node, ns)
    patch = {"spec": {"serveConfigV2": SERVE_CONFIG.format(message="v2")}}
    kubectl(node, "-n", ns, "patch", "rayservice", "greeter", "--type=merge", "-p",
            json.dumps(patch))  # fmt: skip
    client = start_client(node, ns, "client-inplace", url)
    wait_for(lambda: any(a.startswith("v2 ") for a in client.answers()), within=120,
             what="the new message", show=lambda: client.lines()[-3:])  # fmt: skip
    client.stop()
    assert active_cluster(node, ns) == before  # the same cluster, reconfigured
    assert not client.failures(), client.failures()[:5]
    assert (service_status(node, ns).get("pendingServiceStatus") or {}).get("rayClusterName") \
        in (None, "")


def test_rayservice_cluster_upgrade_loses_no_request(
        operator: Operator, serving: tuple[str, str]) -> None:
    node = operator.node
    ns, url = serving
    old = active_cluster(node, ns)
    client = start_client(node, ns, "client-upgrade", url)
    wait_for(lambda: len(client.answers()) >= 10, within=60, what="answers before the upgrade")
    started = time.monotonic()
    new_spec = rayservice(node, ns, message="v2", generation_label="second")
    apply(node, new_spec)  # a rayClusterConfig change: a new cluster, then the switch
    wait_for(lambda: active_cluster(node, ns) not in (old, "None"), within=420,
             what="the new cluster to take over", show=lambda: service_status(node, ns))
    switched = time.monotonic()
    new = active_cluster(node, ns)
    wait_for(lambda: any(a.endswith(f"from {new}") for a in client.answers()), within=60,
             what=f"answers from {new}")  # fmt: skip
    wait_for(lambda: get(node, "raycluster", old, ns) is None, within=120,
             what=f"old RayCluster {old} deleted")  # fmt: skip
    deleted = time.monotonic()
    # keep sending a while after the old pods went: their endpoints must be gone too
    wait_for(lambda: not cluster_pods(node, old, ns), within=120, what=f"{old}'s pods gone")
    sent = len(client.lines())  # requests after the old pods' removal count too
    wait_for(lambda: len(client.lines()) >= sent + 50, within=60, what="50 more requests")
    client.stop()
    answers, failures = client.answers(), client.failures()
    figure("RayService upgrade: spec change to switch (s)", round(switched - started, 1))
    figure("RayService upgrade: switch to old cluster deleted (s)", round(deleted - switched, 1))
    figure("RayService upgrade: requests sent", len(answers) + len(failures))
    figure("RayService upgrade: failed requests", len(failures))
    assert not failures, failures[:10]
    assert {a.rsplit(" from ", 1)[1] for a in answers} == {old, new}
    assert answers[-1] == f"v2 from {new}"


# -- the operator on the host, as a developer runs it ----------------------------------------------
def slow_job(name: str, ns: str, cluster: str, seconds: int) -> Obj:
    """A RayJob on an existing cluster whose entrypoint runs ``seconds`` and prints a marker."""
    return {
        "apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name, "namespace": ns},
        "spec": {"entrypoint": f"python -c \"import time; time.sleep({seconds}); print('SLEPT')\"",
                 "clusterSelector": {"ray.io/cluster": cluster}},
    }  # fmt: skip


def job_status(node: RealNode, name: str, ns: str) -> Obj:
    """A RayJob's status."""
    return (get(node, "rayjob", name, ns) or {}).get("status") or {}


def submissions(node: RealNode, cluster: str, ns: str, job: str) -> list[str]:
    """The Ray submission ids of RayJob ``job`` (rayop names them ``<job>-<suffix>``)."""
    # (drivers started by `ray_python` are listed too, without a submission id)
    return [j[0] for j in job_list(node, cluster, ns) if (j[0] or "").startswith(f"{job}-")]


def test_rayop_run_on_the_host_through_the_api_server_proxy(
        operator: Operator, ready_cluster: tuple[str, str], tmp_path: Path) -> None:
    node = operator.node
    cluster, ns = ready_cluster
    deploy = ["-n", operator.namespace, "scale", "deploy/rayop"]
    kubectl(node, *deploy, "--replicas=0")
    wait_for(lambda: not operator.pods(), within=90, what="the in-cluster operator to stop")
    rayop = Path(sys.executable).parent / "rayop"
    log = (tmp_path / "rayop-run.log").open("wb")
    host = subprocess.Popen(
        [str(rayop), "run", f"--kubeconfig={node.kubeconfig}", "--dashboard-access=proxy",
         "--leader-elect", f"--leader-election-namespace={operator.namespace}",
         "--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0"],
        stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        apply(node, slow_job("from-host", ns, cluster, 1))
        wait_for(lambda: job_status(node, "from-host", ns).get("jobDeploymentStatus")
                 in ("Complete", "Failed"), within=180, what="RayJob from-host to finish",
                 show=lambda: job_status(node, "from-host", ns))  # fmt: skip
    finally:
        host.terminate()
        code = host.wait(timeout=60)
        log.close()
        kubectl(node, *deploy, "--replicas=1")
        kubectl(node, "-n", operator.namespace, "rollout", "status", "deploy/rayop",
                "--timeout=120s")  # fmt: skip
        wait_for(lambda: bool(operator.leader()) and any(pod_ready(p) for p in operator.pods()),
                 within=90, what="the in-cluster operator to lead again")  # fmt: skip
    assert job_status(node, "from-host", ns)["jobStatus"] == "SUCCEEDED"
    assert len(submissions(node, cluster, ns, "from-host")) == 1
    assert code == 0, (tmp_path / "rayop-run.log").read_text()[-3000:]


# -- faults ----------------------------------------------------------------------------------------
def test_missing_image_gives_a_status_and_a_warning(operator: Operator) -> None:
    node = operator.node
    ns = namespace(node, "broken")
    apply(node, small_cluster(node, "noimage", ns, workers=0, image="localhost/ray:missing"))

    def reason() -> str:
        return str(((get(node, "raycluster", "noimage", ns) or {}).get("status") or {})
                   .get("reason") or "")  # fmt: skip

    wait_for(lambda: "ErrImageNeverPull" in reason(), within=90, what="the status to say why",
             show=reason)  # fmt: skip
    head = head_pod(node, "noimage", ns)
    assert head in reason()
    warnings = [e for e in events(node, ns, "noimage") if e["type"] == "Warning"]
    assert any(e["reason"] == "PodStartFailed" and head in e["message"]
               and "localhost/ray:missing" in e["message"] for e in warnings), warnings
    status = get(node, "raycluster", "noimage", ns)["status"]  # type: ignore[index]
    assert status.get("state") != "ready"
    kubectl(node, "delete", "namespace", ns, "--wait=false")


def test_operator_killed_mid_rayjob_neither_loses_nor_resubmits(
        operator: Operator, ready_cluster: tuple[str, str]) -> None:
    node = operator.node
    cluster, ns = ready_cluster
    apply(node, slow_job("survives", ns, cluster, 40))
    wait_for(lambda: job_status(node, "survives", ns).get("jobStatus") == "RUNNING", within=120,
             what="the job to run", show=lambda: job_status(node, "survives", ns))  # fmt: skip
    old = operator.running_pod()["metadata"]["name"]
    kubectl(node, "-n", operator.namespace, "delete", "pod", old, "--grace-period=0", "--force")
    started = time.monotonic()
    wait_for(lambda: operator.leader() != "" and not operator.leader().startswith(old),
             within=120, what="a new operator pod to take the lease")  # fmt: skip
    figure("operator pod killed to new leader (s)", round(time.monotonic() - started, 1))
    wait_for(lambda: job_status(node, "survives", ns).get("jobDeploymentStatus")
             in ("Complete", "Failed"), within=180, what="the job to finish",
             show=lambda: job_status(node, "survives", ns))  # fmt: skip
    final = job_status(node, "survives", ns)
    assert (final["jobDeploymentStatus"], final["jobStatus"]) == ("Complete", "SUCCEEDED"), final
    assert submissions(node, cluster, ns, "survives") == [final["jobId"]]


def test_head_pod_deleted_rayservice_recovers(operator: Operator,
                                              serving: tuple[str, str]) -> None:
    node = operator.node
    ns, url = serving
    cluster = active_cluster(node, ns)
    old_head = head_pod(node, cluster, ns)
    kubectl(node, "-n", ns, "delete", "pod", old_head, "--wait=false")
    started = time.monotonic()

    def new_head_ready() -> bool:
        heads = cluster_pods(node, cluster, ns, "head")
        return len(heads) == 1 and heads[0]["metadata"]["name"] != old_head \
            and pod_ready(heads[0])

    wait_for(new_head_ready, within=180, what=f"a new head pod for {cluster}")
    client = start_client(node, ns, "client-recovered", url)
    wait_for(lambda: len(client.answers()) >= 10, within=300, what="answers after the head loss",
             show=lambda: (client.lines()[-3:], service_status(node, ns)))  # fmt: skip
    figure("RayService head pod deleted to answering again (s)",
           round(time.monotonic() - started, 1))  # fmt: skip
    client.stop()
    assert active_cluster(node, ns) == cluster  # the same RayCluster, its head recreated
    wait_for(lambda: service_status(node, ns).get("serviceStatus") == "Running", within=120,
             what="RayService Running again", show=lambda: service_status(node, ns))  # fmt: skip
