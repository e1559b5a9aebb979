"""The pod builder's KubeRay rules that a real kubelet and real Ray judge: what ``ray start`` is
told about the container's resources, the probes, the command line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rayop.ray.resources.quantity import parse_quantity, quantity_value
from rayop.ray.resources.validation import parse_raycluster
from rayop.reconcilers.raycluster.pods import (
    ULIMIT,
    build_head_pod,
    build_worker_pod,
    probes,
    resource_start_params,
)
from rayop.reconcilers.raycluster.status import pod_start_failure


@pytest.mark.parametrize(("text", "exact"), [
    ("500m", Decimal("0.5")), ("2", Decimal(2)), (2, Decimal(2)), ("1.5", Decimal("1.5")),
    ("2Gi", Decimal(2 * 2**30)), ("512Mi", Decimal(512 * 2**20)), ("1k", Decimal(1000)),
    ("1e3", Decimal(1000)), ("100n", Decimal("1e-7")), ("1.5G", Decimal("1.5e9")),
])
def test_quantities_parse_exactly(text: str | int, exact: Decimal) -> None:
    assert parse_quantity(text) == exact


@pytest.mark.parametrize("bad", ["", "1x", "Gi", "1 Gi", "--1", True])
def test_bad_quantities_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(bad)  # type: ignore[arg-type]


def test_values_round_up_as_go_does() -> None:
    assert [quantity_value(q) for q in ("500m", "1", "1001m", "2Gi")] == [1, 1, 2, 2**31]


def test_cpus_memory_and_gpus_come_from_the_limits() -> None:
    params = resource_start_params({}, {"limits": {"cpu": "500m", "memory": "3Gi",
                                                   "nvidia.com/gpu": 2}})
    assert params == {"num-cpus": "1", "memory": str(3 * 2**30), "num-gpus": "2"}


def test_the_cpu_request_stands_in_for_a_missing_limit_but_memory_does_not() -> None:
    params = resource_start_params(None, {"requests": {"cpu": "2", "memory": "1Gi"}})
    assert params == {"num-cpus": "2"}


def test_what_the_user_set_wins_and_zero_sets_nothing() -> None:
    params = resource_start_params({"num-cpus": "0"}, {"limits": {"cpu": "4", "memory": "0"}})
    assert params == {"num-cpus": "0"}


def test_a_quantity_the_api_server_will_refuse_adds_nothing() -> None:
    assert resource_start_params({}, {"limits": {"cpu": "lots"}}) == {}


def test_probes_before_and_after_the_unified_health_check() -> None:
    live, ready = probes({}, head=True, ray_version="2.60.0", serving=False)
    assert live["httpGet"] == ready["httpGet"] == {"path": "/api/healthz", "port": 52365}
    assert (ready["initialDelaySeconds"], ready["periodSeconds"], ready["failureThreshold"]) == (
        10, 5, 10)
    assert (live["initialDelaySeconds"], live["failureThreshold"]) == (30, 120)
    old_live, _ = probes({"dashboard-port": "9000"}, head=True, ray_version="2.9.0", serving=False)
    command = old_live["exec"]["command"][2]
    assert "localhost:52365/api/local_raylet_healthz" in command
    assert "localhost:9000/api/gcs_healthz" in command


def test_rayservice_workers_are_ready_only_when_their_serve_proxy_answers() -> None:
    _, ready = probes({}, head=False, ray_version="2.60.0", serving=True, serve_port=9000)
    assert "httpGet" not in ready and ready["failureThreshold"] == 1
    assert "localhost:9000/-/healthz" in ready["exec"]["command"][2]
    _, head_ready = probes({}, head=True, ray_version="2.60.0", serving=True)
    assert "httpGet" in head_ready  # the head's proxy is checked by the RayService reconciler


def _cluster() -> dict:  # type: ignore[type-arg]
    container = {"name": "ray-head", "image": "ray", "resources": {"limits": {"cpu": "2"}}}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster",
            "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
            "spec": {"rayVersion": "2.60.0",
                     "headGroupSpec": {"rayStartParams": {}, "template": {
                         "spec": {"containers": [container]}}},
                     "workerGroupSpecs": [{"groupName": "g", "replicas": 1, "rayStartParams": {},
                                           "template": {"spec": {"containers": [
                                               {**container, "name": "w",
                                                "readinessProbe": {"tcpSocket": {"port": 1}}}]}}}]}}


def test_pods_run_bash_c_with_kuberays_ulimit_and_keep_a_users_probe() -> None:
    cluster = _cluster()
    spec = parse_raycluster(cluster).spec
    head = build_head_pod(cluster, spec.head_group_spec)["spec"]["containers"][0]
    assert head["command"] == ["/bin/bash", "-c", "--"]
    assert head["args"][0].startswith(f"{ULIMIT}; ray start --head")
    assert "--num-cpus=2" in head["args"][0]
    assert head["readinessProbe"]["httpGet"]["path"] == "/api/healthz"
    worker = build_worker_pod(cluster, spec.worker_group_specs[0])["spec"]["containers"][0]
    assert worker["readinessProbe"] == {"tcpSocket": {"port": 1}}
    assert "livenessProbe" in worker


def test_a_pod_that_cannot_start_says_why_and_one_that_is_starting_does_not() -> None:
    def pod(reason: str, message: str = "") -> dict:  # type: ignore[type-arg]
        waiting = {"reason": reason, **({"message": message} if message else {})}
        return {"metadata": {"name": "p"}, "status": {"containerStatuses": [
            {"name": "ray-head", "state": {"waiting": waiting}}]}}

    assert pod_start_failure(pod("ContainerCreating")) is None
    assert pod_start_failure(pod("ErrImageNeverPull", 'image "x" is not present')) == (
        'pod p: container ray-head: ErrImageNeverPull: image "x" is not present')


# rayStartParams as KubeRay's samples write them, and the flags KubeRay renders for them.
START_PARAMS: list[tuple[dict[str, str], list[str], list[str]]] = [
    ({"include-dashboard": "true"}, ["--include-dashboard=true"], ["--include-dashboard"]),
    ({"include-dashboard": "False"}, ["--include-dashboard=False"], []),
    ({"no-monitor": "true"}, ["--no-monitor"], ["--no-monitor=true"]),
    ({"no-monitor": "false"}, [], ["--no-monitor"]),
    ({"disable-usage-stats": "TRUE"}, ["--disable-usage-stats"], []),
    ({"log-color": "true"}, ["--log-color=true"], []),
    ({"num-cpus": "0", "object-store-memory": "100000000"},
     ["--num-cpus=0", "--object-store-memory=100000000"], []),
    ({"resources": '\'{"accelerator": 1}\''}, ["--resources='{\"accelerator\": 1}'"], []),
]


def _ray_start_args(params: dict[str, str], *, head: bool) -> list[str]:
    import shlex

    cluster = _cluster()
    group = "headGroupSpec" if head else "workerGroupSpecs"
    target = cluster["spec"][group] if head else cluster["spec"][group][0]
    target["rayStartParams"] = params
    spec = parse_raycluster(cluster).spec
    pod = (build_head_pod(cluster, spec.head_group_spec) if head
           else build_worker_pod(cluster, spec.worker_group_specs[0]))
    command = pod["spec"]["containers"][0]["args"][0].split("; ", 1)[1]
    words = shlex.split(command)
    assert words[:2] == ["ray", "start"]
    return words[2:]


@pytest.mark.parametrize(("params", "present", "absent"), START_PARAMS)
def test_start_params_render_as_kuberay_renders_them(
        params: dict[str, str], present: list[str], absent: list[str]) -> None:
    args = _ray_start_args(params, head=True)
    for flag in present:
        assert args.count(flag) == 1, args
    for flag in absent:
        assert flag not in args, args


@pytest.mark.parametrize("head", [True, False])
@pytest.mark.parametrize(("params", "present", "absent"), START_PARAMS)
def test_rays_own_parser_accepts_every_rendered_command(
        params: dict[str, str], present: list[str], absent: list[str], head: bool) -> None:
    scripts = pytest.importorskip("ray.scripts.scripts", reason="needs the ray extra")
    scripts.start.make_context("start", _ray_start_args(params, head=head))  # raises if refused


def test_dev_shm_is_memory_backed_and_sized_as_kuberay_sizes_it() -> None:
    cluster = _cluster()
    cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "2", "memory": "3Gi"}, "requests": {"memory": "1Gi"}}
    spec = parse_raycluster(cluster).spec
    pod = build_head_pod(cluster, spec.head_group_spec)
    main = pod["spec"]["containers"][0]
    assert {"mountPath": "/dev/shm", "name": "shared-mem"} in main["volumeMounts"]
    assert pod["spec"]["volumes"] == [  # the limit sizes it, not the request
        {"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "3Gi"}}]
    worker = build_worker_pod(cluster, spec.worker_group_specs[0])  # no memory given: unsized
    assert worker["spec"]["volumes"] == [{"name": "shared-mem", "emptyDir": {"medium": "Memory"}}]


def test_a_container_that_mounts_dev_shm_itself_is_left_alone() -> None:
    from rayop.reconcilers.raycluster.pods import add_shared_memory

    own = {"name": "ray", "volumeMounts": [{"mountPath": "/dev/shm", "name": "mine"}],
           "resources": {"requests": {"memory": "1Gi"}}}
    spec: dict[str, object] = {"volumes": [{"name": "mine", "emptyDir": {}}]}
    add_shared_memory(spec, own)
    assert spec == {"volumes": [{"name": "mine", "emptyDir": {}}]}
    assert own["volumeMounts"] == [{"mountPath": "/dev/shm", "name": "mine"}]

    requested: dict[str, object] = {"name": "ray", "resources": {"requests": {"memory": "1Gi"}}}
    spec = {}
    add_shared_memory(spec, requested)  # no limit: the request sizes it
    assert spec == {"volumes": [{"name": "shared-mem",
                                 "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}]}
