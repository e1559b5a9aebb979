"""The API-server layer: schema_validator checks types, required, enums, minimums - nothing more."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.ray.kinds import RAYJOB
from rayop.ray.resources import MODELS, load, schema_validator, validate_rayservice

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str) -> dict[str, Any]:
    path = EXAMPLES / name
    if path.suffix == ".json":
        return dict(json.loads(path.read_text()))
    return dict(yaml.safe_load(path.read_text()))


def test_semantically_invalid_service_is_accepted_by_the_api_server() -> None:
    seed = _example("seeds/rayservice-example.json")
    assert schema_validator("RayService")(seed) == []
    assert [p.field for p in validate_rayservice(seed)] == ["spec.serveConfigV2"]


@pytest.mark.parametrize(
    "name",
    ["manifests/rayjob-sample.yaml", "manifests/rayservice-sample.yaml",
     "manifests/raycluster-sample.yaml", "seeds/rayjob-example.json"],
)
def test_valid_examples_pass_the_schema(name: str) -> None:
    obj = _example(name)
    assert schema_validator(obj["kind"])(obj) == []


def test_causes_are_worded_like_kubernetes() -> None:
    obj = _example("manifests/rayjob-sample.yaml")
    spec = obj["spec"]
    spec["ttlSecondsAfterFinished"] = -1
    spec["submissionMode"] = "Batch"
    spec["suspend"] = "yes"
    del spec["rayClusterSpec"]["headGroupSpec"]["template"]
    spec["rayClusterSpec"]["workerGroupSpecs"][0]["rayStartParams"] = {"num-cpus": 2}
    causes = {c.field: c for c in schema_validator(RAYJOB)(obj)}
    assert causes["spec.ttlSecondsAfterFinished"].message == (
        "Invalid value: -1: spec.ttlSecondsAfterFinished in body should be greater than or "
        "equal to 0"
    )
    assert causes["spec.submissionMode"].reason == "FieldValueNotSupported"
    assert causes["spec.submissionMode"].message.startswith('Unsupported value: "Batch"')
    assert causes["spec.suspend"].message == (
        'Invalid value: "yes": spec.suspend in body must be of type boolean: "yes"'
    )
    assert causes["spec.rayClusterSpec.headGroupSpec.template"].reason == "FieldValueRequired"
    field = "spec.rayClusterSpec.workerGroupSpecs[0].rayStartParams[num-cpus]"
    assert causes[field].reason == "FieldValueTypeInvalid"
    assert len(causes) == 5


def test_unknown_fields_and_any_pod_template_field_pass() -> None:
    obj = _example("manifests/rayjob-sample.yaml")
    obj["spec"]["notInTheModel"] = {"deep": [1, "two"]}
    head = obj["spec"]["rayClusterSpec"]["headGroupSpec"]
    head["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 2}}
    head["template"]["spec"]["nodeSelector"] = {"a": "b"}
    assert schema_validator("RayJob")(obj) == []


def test_nulls_pass_only_where_nullable() -> None:
    obj = _example("seeds/rayjob-example.json")
    obj["status"]["endTime"] = None
    obj["spec"]["backoffLimit"] = None
    assert schema_validator("RayJob")(obj) == []
    obj["spec"]["rayClusterSpec"]["headGroupSpec"]["template"] = None
    (cause,) = schema_validator("RayJob")(obj)
    assert cause.field == "spec.rayClusterSpec.headGroupSpec.template"


def _mutations() -> list[tuple[str, Any]]:
    return [
        ("spec.entrypoint", 5),
        ("spec.backoffLimit", -1),
        ("spec.backoffLimit", 1.5),
        ("spec.backoffLimit", True),
        ("spec.entrypointNumCpus", "1"),
        ("spec.entrypointNumCpus", 0.5),
        ("spec.metadata", {"a": 1}),
        ("spec.submissionMode", "HTTPMode"),
        ("spec.submissionMode", "X"),
        ("spec.rayClusterSpec.workerGroupSpecs", {}),
        ("spec.rayClusterSpec.workerGroupSpecs", [{"groupName": "g", "template": {}}]),
        ("spec.rayClusterSpec.workerGroupSpecs", [{"groupName": "g"}]),
        ("spec.rayClusterSpec.headGroupSpec", {"template": []}),
        ("status", {"status": "Done"}),
        ("status", {"status": "Succeeded", "conditions": [{"type": "A"}]}),
        ("status", {"conditions": [{"type": "A", "status": "True"}], "succeeded": 1}),
        ("status", {"rayClusterStatus": {"desiredCPU": "500m", "head": {"podIP": 1}}}),
    ]


@pytest.mark.parametrize(("path", "value"), _mutations())
def test_schema_and_model_agree_on_types(path: str, value: Any) -> None:
    obj = copy.deepcopy(_example("seeds/rayjob-example.json"))
    *parents, last = path.split(".")
    node = obj
    for key in parents:
        node = node[key]
    node[last] = value
    schema_ok = schema_validator("RayJob")(obj) == []
    model_ok = not isinstance(load(MODELS["RayJob"], obj), list)
    assert schema_ok == model_ok
