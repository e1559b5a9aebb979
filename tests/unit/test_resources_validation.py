"""One test per validation rule: the field path and the sentence a user reads."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import pytest

from rayop.ray.resources import (
    Problem,
    RayCluster,
    RayJob,
    RayService,
    parse_raycluster,
    parse_rayjob,
    parse_rayservice,
    to_causes,
    validate_raycluster,
    validate_rayjob,
    validate_rayservice,
)

Obj = dict[str, Any]

SERVE_CONFIG = """\
applications:
  - name: fruit
    import_path: fruit.deployment_graph
    route_prefix: /fruit
    runtime_env: {pip: [requests]}
    deployments:
      - name: MangoStand
        num_replicas: 1
  - name: math
    import_path: conditional_dag:serve_dag
    route_prefix: /calc
"""


def _template(image: str = "rayproject/ray:2.9.0") -> Obj:
    return {"spec": {"containers": [{"name": "ray", "image": image}]}}


def _cluster_spec() -> Obj:
    return {
        "headGroupSpec": {"rayStartParams": {}, "template": _template()},
        "workerGroupSpecs": [
            {
                "groupName": "g",
                "replicas": 2,
                "minReplicas": 1,
                "maxReplicas": 3,
                "template": _template(),
            }
        ],
    }


def rayjob() -> Obj:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "job", "namespace": "default"},
        "spec": {"entrypoint": "python x.py", "rayClusterSpec": _cluster_spec()},
    }


def rayservice() -> Obj:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "svc", "namespace": "default"},
        "spec": {"rayClusterConfig": _cluster_spec(), "serveConfigV2": SERVE_CONFIG},
    }


def raycluster() -> Obj:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "cluster"},
        "spec": _cluster_spec(),
    }


BASES: dict[str, tuple[Callable[[], Obj], Callable[[Any], list[Problem]]]] = {
    "RayJob": (rayjob, validate_rayjob),
    "RayService": (rayservice, validate_rayservice),
    "RayCluster": (raycluster, validate_raycluster),
}


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    """Return a mutation setting ``a.b.0.c`` (None deletes)."""

    def mutate(obj: Obj) -> None:
        *parents, last = path.split(".")
        node: Any = obj
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is None:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


def _all(*mutations: Callable[[Obj], None]) -> Callable[[Obj], None]:
    def mutate(obj: Obj) -> None:
        for m in mutations:
            m(obj)

    return mutate


WG = "spec.rayClusterSpec.workerGroupSpecs"
HEAD = "spec.rayClusterSpec.headGroupSpec"

# kind, mutation, expected field, expected words in the message
CASES: list[tuple[str, str, Callable[[Obj], None], str, str]] = [
    # RayJob
    ("RayJob", "entrypoint required", _set("spec.entrypoint", None), "spec.entrypoint", "required"),
    ("RayJob", "entrypoint empty", _set("spec.entrypoint", ""), "spec.entrypoint", "required"),
    ("RayJob", "K8sJobMode", _set("spec.submissionMode", "K8sJobMode"), "spec.submissionMode",
     "K8sJobMode is not supported yet"),
    ("RayJob", "SidecarMode", _set("spec.submissionMode", "SidecarMode"), "spec.submissionMode",
     "SidecarMode is not supported yet"),
    ("RayJob", "unknown mode", _set("spec.submissionMode", "Batch"), "spec.submissionMode",
     "unsupported value 'Batch'"),
    ("RayJob", "interactive retries",
     _all(_set("spec.submissionMode", "InteractiveMode"), _set("spec.backoffLimit", 2)),
     "spec.backoffLimit", "not supported in InteractiveMode"),
    ("RayJob", "runtimeEnv not YAML", _set("spec.runtimeEnv", "pip: [a"), "spec.runtimeEnv",
     "not a runtime environment: not valid YAML: line 1"),
    ("RayJob", "runtimeEnv a list", _set("spec.runtimeEnv", "- pandas\n"), "spec.runtimeEnv",
     "must be a YAML mapping"),
    ("RayJob", "runtimeEnvYAML a string", _set("spec.runtimeEnvYAML", "pandas"),
     "spec.runtimeEnvYAML", "must be a YAML mapping"),
    ("RayJob", "both runtime envs differ",
     _all(_set("spec.runtimeEnv", "pip: [a]"), _set("spec.runtimeEnvYAML", "pip: [b]")),
     "spec.runtimeEnvYAML", "differs from spec.runtimeEnv"),
    ("RayJob", "cluster required", _set("spec.rayClusterSpec", None), "spec.rayClusterSpec",
     "required: the cluster to create"),
    ("RayJob", "selector without cluster key",
     _all(_set("spec.rayClusterSpec", None), _set("spec.clusterSelector", {"a": "b"})),
     "spec.clusterSelector", "ray.io/cluster"),
    ("RayJob", "suspend with selector",
     _all(_set("spec.clusterSelector", {"ray.io/cluster": "c"}), _set("spec.suspend", True)),
     "spec.suspend", "cannot be suspended"),
    ("RayJob", "suspend without shutdown", _set("spec.suspend", True), "spec.suspend",
     "needs spec.shutdownAfterJobFinishes: true"),
    ("RayJob", "ttl without shutdown", _set("spec.ttlSecondsAfterFinished", 10),
     "spec.ttlSecondsAfterFinished", "unless spec.shutdownAfterJobFinishes is true"),
    ("RayJob", "negative ttl", _set("spec.ttlSecondsAfterFinished", -1),
     "spec.ttlSecondsAfterFinished", "must be 0 or more, got -1"),
    ("RayJob", "negative backoff", _set("spec.backoffLimit", -2), "spec.backoffLimit",
     "must be 0 or more"),
    ("RayJob", "zero deadline", _set("spec.activeDeadlineSeconds", 0),
     "spec.activeDeadlineSeconds", "must be 1 or more"),
    ("RayJob", "pre-running deadline", _set("spec.preRunningDeadlineSeconds", -5),
     "spec.preRunningDeadlineSeconds", "must be 1 or more"),
    ("RayJob", "bad entrypointResources", _set("spec.entrypointResources", "{gpu: 1}"),
     "spec.entrypointResources", "JSON object of resource amounts"),
    ("RayJob", "name too long", _set("metadata.name", "a" * 48), "metadata.name",
     "48 characters is too long: a RayJob name may have at most 47"),
    ("RayJob", "name not DNS-1035", _set("metadata.name", "1job"), "metadata.name",
     "not a DNS-1035 label"),
    ("RayJob", "name missing", _set("metadata.name", None), "metadata.name", "required"),
    ("RayJob", "head without containers", _set(f"{HEAD}.template.spec.containers", []),
     f"{HEAD}.template.spec.containers", "head pod needs at least one container"),
    ("RayJob", "head without image", _set(f"{HEAD}.template.spec.containers.0.image", None),
     f"{HEAD}.template.spec.containers[0].image", "required: the image"),
    ("RayJob", "head template missing", _set(f"{HEAD}.template", None), f"{HEAD}.template",
     "required"),
    ("RayJob", "replicas above max", _set(f"{WG}.0.replicas", 4), f"{WG}[0].replicas",
     "4 is above maxReplicas 3"),
    ("RayJob", "replicas below min", _set(f"{WG}.0.replicas", 0), f"{WG}[0].replicas",
     "0 is below minReplicas 1"),
    ("RayJob", "min above max", _set(f"{WG}.0.minReplicas", 5), f"{WG}[0].minReplicas",
     "5 is above maxReplicas 3"),
    ("RayJob", "negative replicas", _set(f"{WG}.0.replicas", -1), f"{WG}[0].replicas",
     "must be 0 or more"),
    ("RayJob", "replicas as string", _set(f"{WG}.0.replicas", "2"), f"{WG}[0].replicas",
     "must be an integer, got a string ('2')"),
    ("RayJob", "rayStartParams number", _set(f"{HEAD}.rayStartParams", {"num-cpus": 1}),
     f"{HEAD}.rayStartParams[num-cpus]", 'must be a string, got a number (1); quote it'),
    ("RayJob", "worker without containers", _set(f"{WG}.0.template.spec.containers", []),
     f"{WG}[0].template.spec.containers", "worker pod needs at least one container"),
    ("RayJob", "duplicate group", lambda o: o["spec"]["rayClusterSpec"]["workerGroupSpecs"].append(
        copy.deepcopy(o["spec"]["rayClusterSpec"]["workerGroupSpecs"][0])),
     f"{WG}[1].groupName", "duplicate worker group name 'g'"),
    ("RayJob", "wrong apiVersion", _set("apiVersion", "ray.io/v1alpha1"), "apiVersion",
     "'ray.io/v1alpha1' is not supported"),
    # RayService
    ("RayService", "no serve config", _set("spec.serveConfigV2", None), "spec.serveConfigV2",
     "required: a Serve config"),
    ("RayService", "both serve configs",
     _set("spec.serveDeploymentGraphSpec", {"importPath": "a.b"}),
     "spec.serveDeploymentGraphSpec", "set only one of"),
    ("RayService", "serve config YAML error",
     _set("spec.serveConfigV2", "applications:\n- name: a\n  import_path: x: y\n"),
     "spec.serveConfigV2", "not a Serve config: line 3: mapping values are not allowed here"),
    ("RayService", "serve config is Python",
     _set("spec.serveConfigV2", "import ray\nfrom ray import serve\n"),
     "spec.serveConfigV2", "expected a YAML mapping with `applications:`, got a string"),
    ("RayService", "no applications", _set("spec.serveConfigV2", "http_options: {}\n"),
     "spec.serveConfigV2", "`applications` must be a non-empty list, got nothing"),
    ("RayService", "duplicate app name", _set("spec.serveConfigV2", SERVE_CONFIG.replace(
        "name: math", "name: fruit")), "spec.serveConfigV2",
     "applications[1].name: duplicate application name 'fruit'"),
    ("RayService", "app without name", _set("spec.serveConfigV2", SERVE_CONFIG.replace(
        "- name: math\n", "- other: 1\n")), "spec.serveConfigV2",
     "applications[1].name: required"),
    ("RayService", "app without import path", _set("spec.serveConfigV2", SERVE_CONFIG.replace(
        "    import_path: conditional_dag:serve_dag\n", "")), "spec.serveConfigV2",
     "applications[1].import_path: required"),
    ("RayService", "bad import path", _set("spec.serveConfigV2", SERVE_CONFIG.replace(
        "conditional_dag:serve_dag", "serve_dag")), "spec.serveConfigV2",
     "'serve_dag' is not an import path"),
    ("RayService", "route without slash", _set("spec.serveConfigV2", SERVE_CONFIG.replace(
        "/calc", "calc")), "spec.serveConfigV2",
     "applications[1].route_prefix: 'calc' must be a string starting with '/'"),
    ("RayService", "duplicate route", _set("spec.serveConfigV2", SERVE_CONFIG.replace(
        "/calc", "/fruit")), "spec.serveConfigV2", "duplicate route_prefix '/fruit'"),
    ("RayService", "two default routes", _set("spec.serveConfigV2", SERVE_CONFIG.replace(
        "    route_prefix: /calc\n", "").replace("    route_prefix: /fruit\n", "")),
     "spec.serveConfigV2", "applications[1].route_prefix: duplicate route_prefix '/'"),
    ("RayService", "duplicate deployment", _set("spec.serveConfigV2", SERVE_CONFIG.replace(
        "        num_replicas: 1\n", "      - name: MangoStand\n")), "spec.serveConfigV2",
     "deployments[1].name: duplicate deployment name 'MangoStand'"),
    ("RayService", "incremental upgrade",
     _set("spec.upgradeStrategy", {"type": "NewClusterWithIncrementalUpgrade"}),
     "spec.upgradeStrategy.type", "is not supported yet"),
    ("RayService", "unknown upgrade", _set("spec.upgradeStrategy", {"type": "Rolling"}),
     "spec.upgradeStrategy.type", "unsupported value 'Rolling'"),
    ("RayService", "negative threshold", _set("spec.deploymentUnhealthySecondThreshold", -1),
     "spec.deploymentUnhealthySecondThreshold", "must be 0 or more"),
    ("RayService", "negative restarts", _set("spec.deploymentUnhealthyRestartThreshold", -1),
     "spec.deploymentUnhealthyRestartThreshold", "must be 0 or more"),
    ("RayService", "negative deletion delay", _set("spec.rayClusterDeletionDelaySeconds", -3),
     "spec.rayClusterDeletionDelaySeconds", "must be 0 or more"),
    ("RayService", "cluster config required", _set("spec.rayClusterConfig", None),
     "spec.rayClusterConfig", "required"),
    ("RayService", "head service name",
     _set("spec.rayClusterConfig.headGroupSpec.headService", {"metadata": {"name": "x"}}),
     "spec.rayClusterConfig.headGroupSpec.headService.metadata.name", "must not be set"),
    ("RayService", "name too long", _set("metadata.name", "s" * 50), "metadata.name",
     "a RayService name may have at most 47"),
    ("RayService", "graph spec bad runtime env",
     _all(_set("spec.serveConfigV2", None),
          _set("spec.serveDeploymentGraphSpec", {"importPath": "a:b", "runtimeEnv": "[1]"})),
     "spec.serveDeploymentGraphSpec.runtimeEnv", "must be a YAML mapping"),
    ("RayService", "graph spec route",
     _all(_set("spec.serveConfigV2", None),
          _set("spec.serveDeploymentGraphSpec", {"importPath": "a:b", "routePrefix": "x"})),
     "spec.serveDeploymentGraphSpec.routePrefix", "starting with '/'"),
    ("RayService", "graph spec import path",
     _all(_set("spec.serveConfigV2", None),
          _set("spec.serveDeploymentGraphSpec", {"importPath": "app"})),
     "spec.serveDeploymentGraphSpec.importPath", "is not an import path"),
    ("RayService", "graph spec missing import path",
     _all(_set("spec.serveConfigV2", None), _set("spec.serveDeploymentGraphSpec", {})),
     "spec.serveDeploymentGraphSpec.importPath", "required"),
    ("RayService", "graph spec duplicate deployment",
     _all(_set("spec.serveConfigV2", None), _set("spec.serveDeploymentGraphSpec", {
         "importPath": "a:b", "serveConfigs": [{"name": "A"}, {"name": "A"}]})),
     "spec.serveDeploymentGraphSpec.serveConfigs[1].name", "duplicate deployment name 'A'"),
    # RayCluster
    ("RayCluster", "name too long", _set("metadata.name", "c" * 64), "metadata.name",
     "a RayCluster name may have at most 63"),
    ("RayCluster", "service type", _set("spec.headGroupSpec.serviceType", "Magic"),
     "spec.headGroupSpec.serviceType", "unsupported value 'Magic'"),
    ("RayCluster", "head without image",
     _set("spec.headGroupSpec.template.spec.containers.0.image", " "),
     "spec.headGroupSpec.template.spec.containers[0].image", "required: the image"),
    ("RayCluster", "group name missing", _set("spec.workerGroupSpecs.0.groupName", None),
     "spec.workerGroupSpecs[0].groupName", "required"),
    ("RayCluster", "status state", _set("status", {"state": "happy"}), "status.state",
     "unsupported value 'happy'"),
    # what the pods and Service built from a RayCluster need (the template is open in the CRD)
    ("RayCluster", "group name not a label", _set("spec.workerGroupSpecs.0.groupName", "GPU x"),
     "spec.workerGroupSpecs[0].groupName", "a DNS-1123 label"),
    ("RayCluster", "template a string", _set("spec.headGroupSpec.template", "pod"),
     "spec.headGroupSpec.template", "must be a pod template (a mapping), got a string"),
    ("RayCluster", "container a list", _set("spec.headGroupSpec.template.spec.containers.0", [1]),
     "spec.headGroupSpec.template.spec.containers[0]", "must be a container"),
    ("RayCluster", "container name", _set("spec.headGroupSpec.template.spec.containers.0.name",
                                          "Ray Head"),
     "spec.headGroupSpec.template.spec.containers[0].name", "a DNS-1123 label"),
    ("RayCluster", "command a string",
     _set("spec.workerGroupSpecs.0.template.spec.containers.0.command", "ray start"),
     "spec.workerGroupSpecs[0].template.spec.containers[0].command", "a list of strings"),
    ("RayCluster", "env item a string",
     _set("spec.headGroupSpec.template.spec.containers.0.env", ["A=1"]),
     "spec.headGroupSpec.template.spec.containers[0].env[0]", "must be a mapping"),
    ("RayCluster", "port out of range",
     _set("spec.headGroupSpec.template.spec.containers.0.ports", [{"containerPort": 70000}]),
     "spec.headGroupSpec.template.spec.containers[0].ports[0].containerPort", "1 to 65535"),
    ("RayCluster", "port name too long",
     _set("spec.headGroupSpec.template.spec.containers.0.ports",
          [{"containerPort": 8000, "name": "a-very-long-port-name"}]),
     "spec.headGroupSpec.template.spec.containers[0].ports[0].name", "IANA service name"),
    ("RayCluster", "resources a list",
     _set("spec.headGroupSpec.template.spec.containers.0.resources", ["cpu"]),
     "spec.headGroupSpec.template.spec.containers[0].resources", "must be a mapping"),
    ("RayCluster", "not a quantity",
     _set("spec.headGroupSpec.template.spec.containers.0.resources", {"limits": {"cpu": "lots"}}),
     "spec.headGroupSpec.template.spec.containers[0].resources.limits.cpu", "not a quantity"),
    ("RayCluster", "label value", _set("spec.headGroupSpec.template.metadata",
                                       {"labels": {"team": "a b"}}),
     "spec.headGroupSpec.template.metadata.labels.team", "label value has at most 63"),
    ("RayCluster", "annotation key", _set("spec.headServiceAnnotations", {"$ref": "x"}),
     "spec.headServiceAnnotations", "'$ref' is not a valid key"),
    ("RayCluster", "annotation value", _set("spec.headServiceAnnotations", {"a": 1}),
     "spec.headServiceAnnotations.a", "must be a string"),
    ("RayCluster", "annotations too big",
     _set("spec.headServiceAnnotations", {"a": "x" * 300_000}),
     "spec.headServiceAnnotations", "at most 256 KiB"),
    ("RayCluster", "port param", _set("spec.headGroupSpec.rayStartParams",
                                      {"dashboard-port": "eighty"}),
     "spec.headGroupSpec.rayStartParams.dashboard-port", "not a port number"),
    ("RayCluster", "replicas beyond bound", _set("spec.workerGroupSpecs.0.replicas", 2**31 - 1),
     "spec.workerGroupSpecs[0].replicas", "more than the 10000 pods"),
    ("RayCluster", "hosts times replicas",
     _all(_set("spec.workerGroupSpecs.0.numOfHosts", 4000),
          _set("spec.workerGroupSpecs.0.minReplicas", 3)),
     "spec.workerGroupSpecs[0].minReplicas", "3 replicas of 4000 hosts"),
]


def test_valid_bases_are_valid() -> None:
    assert validate_rayjob(rayjob()) == []
    assert validate_rayservice(rayservice()) == []
    assert validate_raycluster(raycluster()) == []


@pytest.mark.parametrize(
    ("kind", "mutation", "field", "words"),
    [(c[0], c[2], c[3], c[4]) for c in CASES],
    ids=[f"{c[0]}: {c[1]}" for c in CASES],
)
def test_rule(kind: str, mutation: Callable[[Obj], None], field: str, words: str) -> None:
    make, validate = BASES[kind]
    obj = make()
    mutation(obj)
    problems = validate(obj)
    matching = [p for p in problems if p.field == field and words in p.message]
    assert matching, f"no problem at {field} saying {words!r}; got {[str(p) for p in problems]}"


def test_every_problem_is_reported_at_once() -> None:
    obj = rayjob()
    obj["metadata"]["name"] = "x" * 60
    obj["spec"]["entrypoint"] = None
    obj["spec"]["runtimeEnv"] = "a: ["
    obj["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = "many"
    obj["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"] = []
    fields = {p.field for p in validate_rayjob(obj)}
    assert fields >= {
        "metadata.name",
        "spec.entrypoint",
        "spec.runtimeEnv",
        f"{WG}[0].replicas",
        f"{HEAD}.template.spec.containers",
    }


def test_interactive_mode_needs_no_entrypoint() -> None:
    obj = rayjob()
    del obj["spec"]["entrypoint"]
    obj["spec"]["submissionMode"] = "InteractiveMode"
    assert validate_rayjob(obj) == []


def test_cluster_selector_replaces_cluster_spec() -> None:
    obj = rayjob()
    del obj["spec"]["rayClusterSpec"]
    obj["spec"]["clusterSelector"] = {"ray.io/cluster": "shared"}
    assert validate_rayjob(obj) == []


def test_same_runtime_env_under_both_names_is_fine() -> None:
    obj = rayjob()
    obj["spec"]["runtimeEnv"] = "pip: [a]"
    obj["spec"]["runtimeEnvYAML"] = "pip:\n  - a\n"
    assert validate_rayjob(obj) == []


def test_parse_returns_model_or_every_problem() -> None:
    assert isinstance(parse_rayjob(rayjob()), RayJob)
    assert isinstance(parse_rayservice(rayservice()), RayService)
    assert isinstance(parse_raycluster(raycluster()), RayCluster)
    bad = rayservice()
    bad["spec"]["serveConfigV2"] = "import ray\n"
    result = parse_rayservice(bad)
    assert isinstance(result, list)
    assert [p.field for p in result] == ["spec.serveConfigV2"]


def test_problems_convert_to_api_causes() -> None:
    obj = rayjob()
    obj["spec"]["backoffLimit"] = -1
    causes = to_causes(validate_rayjob(obj))
    assert [(c.field, c.reason) for c in causes] == [("spec.backoffLimit", "FieldValueInvalid")]
    assert str(validate_rayjob(obj)[0]) == "spec.backoffLimit: must be 0 or more, got -1"


@pytest.mark.parametrize(
    "garbage",
    [None, 3, "text", [], [1, 2], {}, {"spec": None}, {"spec": []}, {"metadata": "x", "spec": {}},
     {"spec": {"rayClusterSpec": "x", "rayClusterConfig": 1, "serveConfigV2": 5}},
     {"spec": {"serveConfigV2": "applications: [1, {name: 2}]"}}],
)
@pytest.mark.parametrize("kind", sorted(BASES))
def test_garbage_gives_problems_never_exceptions(kind: str, garbage: Any) -> None:
    problems = BASES[kind][1](garbage)
    assert problems
    assert all(isinstance(p, Problem) and p.message for p in problems)


def _shake(value: Any, rng: random.Random) -> Any:
    """Replace a random node of ``value`` with a value of a random other type."""
    choices: list[Any] = [None, -1, 0, 2.5, True, "s", [], {}, [None], {"k": None}]
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(sorted(value))
        return {**value, key: _shake(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        index = rng.randrange(len(value))
        return [*value[:index], _shake(value[index], rng), *value[index + 1 :]]
    return rng.choice(choices)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_randomly_broken_objects_never_raise(kind: str) -> None:
    rng = random.Random(4)
    make, validate = BASES[kind]
    for _ in range(300):
        validate(_shake(make(), rng))
