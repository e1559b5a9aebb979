"""Round trips, unknown fields, conditions and conversions of the ray.io models."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from rayop.ray.resources import MODELS, RayJob, RayService, load, parse_rayjob, parse_rayservice
from rayop.runtime.conditions import find_condition, is_condition_true, set_condition
from rayop.runtime.models import to_wire

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(EXAMPLES.rglob("*")):
        if path.suffix in (".yaml", ".yml"):
            docs = list(yaml.safe_load_all(path.read_text()))
        elif path.suffix == ".json":
            docs = [json.loads(path.read_text())]
        else:
            continue
        # ray.io documents only: examples/widget_operator brings its own CRD and kind
        found += [(f"{path.name}#{i}", d) for i, d in enumerate(docs)
                  if d and str(d.get("apiVersion", "")).startswith("ray.io/")]
    return found


DOCUMENTS = _documents()


def _model(obj: dict[str, Any]) -> type[BaseModel]:
    return MODELS[obj["kind"]]


def test_examples_exist_for_every_kind() -> None:
    assert {d["kind"] for _, d in DOCUMENTS} == {"RayCluster", "RayJob", "RayService"}


@pytest.mark.parametrize(("name", "obj"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_round_trip_loses_nothing(name: str, obj: dict[str, Any]) -> None:
    wire = json.loads(json.dumps(obj))
    model = _model(obj).model_validate(wire)
    assert to_wire(model) == wire
    assert json.dumps(to_wire(model), sort_keys=True) == json.dumps(wire, sort_keys=True)


def _add_unknown_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Add a field no model knows at the top, in metadata, spec, a nested spec and a template."""
    obj = copy.deepcopy(obj)
    obj["x-top"] = {"kept": [1, 2.5, None, True]}
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Apply"}]
    spec = obj["spec"]
    spec["futureField"] = {"nested": {"deeper": "value"}}
    cluster = spec.get("rayClusterSpec") or spec.get("rayClusterConfig") or spec
    if isinstance(cluster, dict) and "headGroupSpec" in cluster:
        cluster["gcsFaultToleranceOptions"] = {"redisAddress": "redis:6379"}
        head = cluster["headGroupSpec"]
        head["unknownHeadField"] = 7
        head["template"]["spec"]["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
        head["template"]["metadata"] = {"annotations": {"a": "b"}}
    obj["status"] = {"someFutureStatus": {"x": 1}, "observedGeneration": 3}
    return obj


@pytest.mark.parametrize(("name", "obj"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_unknown_fields_survive_at_every_depth(name: str, obj: dict[str, Any]) -> None:
    wire = _add_unknown_fields(obj)
    model = _model(obj).model_validate(wire)
    assert to_wire(model) == wire


def test_read_modify_write_keeps_unknown_fields() -> None:
    job = next(d for _, d in DOCUMENTS if d["kind"] == "RayJob")
    wire = _add_unknown_fields(job)
    model = RayJob.model_validate(wire)
    changed = model.model_copy(update={"spec": model.spec.model_copy(update={"suspend": True})})
    out = to_wire(changed)
    assert out["spec"]["suspend"] is True
    assert out["spec"]["futureField"] == {"nested": {"deeper": "value"}}
    assert out["x-top"] == wire["x-top"]
    assert out["metadata"]["managedFields"] == wire["metadata"]["managedFields"]


def test_unset_fields_are_not_written_but_explicit_nulls_are() -> None:
    seed = json.loads((EXAMPLES / "seeds" / "rayjob-example.json").read_text())
    out = to_wire(RayJob.model_validate(seed))
    assert out["status"]["endTime"] is None
    assert "backoffLimit" not in out["spec"]
    assert "conditions" not in out["status"]


def test_numbers_keep_their_form() -> None:
    job = next(d for _, d in DOCUMENTS if d["metadata"]["name"] == "rayjob-shutdown")
    wire = copy.deepcopy(job)
    wire["spec"]["entrypointNumGpus"] = 1
    out = to_wire(RayJob.model_validate(wire))
    assert json.dumps(out["spec"]["entrypointNumGpus"]) == "1"
    assert json.dumps(out["spec"]["entrypointNumCpus"]) == "0.5"


def test_models_are_immutable() -> None:
    job = parse_rayjob(next(d for _, d in DOCUMENTS if d["kind"] == "RayJob"))
    assert isinstance(job, RayJob)
    with pytest.raises(ValidationError):
        job.spec.entrypoint = "other"  # type: ignore[misc]


def test_runtime_env_dict_from_either_name() -> None:
    seed = json.loads((EXAMPLES / "seeds" / "rayjob-example.json").read_text())
    job = parse_rayjob(seed)
    assert isinstance(job, RayJob)
    assert job.spec.runtime_env_dict() == {"pip": ["pandas"], "env_vars": {"ENV": "production"}}
    kuberay = next(d for _, d in DOCUMENTS if d["metadata"]["name"] == "rayjob-shutdown")
    job = parse_rayjob(kuberay)
    assert isinstance(job, RayJob)
    assert job.spec.runtime_env_dict() == {"env_vars": {"STAGE": "test"}}
    assert "runtimeEnv" not in to_wire(job)["spec"]


def test_serve_config_from_serve_config_v2() -> None:
    obj = next(d for _, d in DOCUMENTS if d["metadata"]["name"] == "rayservice-sample")
    service = parse_rayservice(obj)
    assert isinstance(service, RayService)
    config = service.spec.serve_config()
    assert [a["name"] for a in config["applications"]] == ["fruit_app", "math_app"]
    assert config["applications"][1]["route_prefix"] == "/calc"
    assert json.loads(json.dumps(config)) == config


def test_serve_config_from_graph_spec_is_one_snake_case_application() -> None:
    obj = next(d for _, d in DOCUMENTS if d["metadata"]["name"] == "rayservice-graph")
    service = parse_rayservice(obj)
    assert isinstance(service, RayService)
    (app,) = service.spec.serve_config()["applications"]
    assert app["name"] == "fruit_app"
    assert app["import_path"] == "fruit.deployment_graph"
    assert app["route_prefix"] == "/fruit"
    assert set(app["runtime_env"]) == {"working_dir"}
    assert app["deployments"][0] == {
        "name": "MangoStand",
        "num_replicas": 1,
        "user_config": {"price": 3},
        "ray_actor_options": {"num_cpus": 0.1},
    }


def test_graph_spec_defaults_name_and_route_and_parses_string_configs() -> None:
    obj = next(d for _, d in DOCUMENTS if d["metadata"]["name"] == "rayservice-graph")
    wire = copy.deepcopy(obj)
    graph = wire["spec"]["serveDeploymentGraphSpec"]
    del graph["name"], graph["routePrefix"], graph["runtimeEnv"]
    graph["serveConfigs"] = [{"name": "A", "userConfig": "price: 4\n"}]
    service = RayService.model_validate(wire)
    (app,) = service.spec.serve_config()["applications"]
    assert (app["name"], app["route_prefix"]) == ("default", "/")
    assert "runtime_env" not in app
    assert app["deployments"] == [{"name": "A", "user_config": {"price": 4}}]


def test_load_reports_type_problems_instead_of_raising() -> None:
    result = load(RayJob, {"spec": {"rayClusterSpec": {"workerGroupSpecs": [{"replicas": "2"}]}}})
    assert isinstance(result, list)
    fields = {p.field for p in result}
    assert "spec.rayClusterSpec.headGroupSpec" in fields
    assert "spec.rayClusterSpec.workerGroupSpecs[0].replicas" in fields


# ---- conditions ----------------------------------------------------------------------------

T0 = datetime(2025, 7, 6, 12, 0, tzinfo=UTC)


def test_set_condition_adds_one_per_type_with_transition_time() -> None:
    conditions = set_condition(
        [], type_="Ready", status="False", reason="Deploying", observed_generation=1, now=T0
    )
    assert len(conditions) == 1
    assert conditions[0].last_transition_time == "2025-07-06T12:00:00Z"
    assert conditions[0].observed_generation == 1


def test_set_condition_keeps_transition_time_when_status_is_unchanged() -> None:
    first = set_condition([], type_="Ready", status="True", reason="A", now=T0)
    later = set_condition(
        first,
        type_="Ready",
        status="True",
        reason="B",
        message="still ready",
        observed_generation=2,
        now=T0 + timedelta(minutes=5),
    )
    (condition,) = later
    assert condition.last_transition_time == "2025-07-06T12:00:00Z"
    assert (condition.reason, condition.message, condition.observed_generation) == (
        "B",
        "still ready",
        2,
    )


def test_set_condition_moves_transition_time_when_status_changes() -> None:
    first = set_condition([], type_="Ready", status="True", reason="A", now=T0)
    later = set_condition(
        first, type_="Ready", status="False", reason="Down", now=T0 + timedelta(seconds=30)
    )
    assert later[0].last_transition_time == "2025-07-06T12:00:30Z"
    assert first[0].status == "True"  # the input list is not modified


def test_set_condition_keeps_other_types_in_order_and_drops_duplicates() -> None:
    conditions = set_condition([], type_="A", status="True", reason="r", now=T0)
    conditions = set_condition(conditions, type_="B", status="True", reason="r", now=T0)
    conditions = [*conditions, conditions[0]]  # a duplicate written by someone else
    conditions = set_condition(conditions, type_="A", status="False", reason="r", now=T0)
    assert [c.type for c in conditions] == ["A", "B"]
    assert find_condition(conditions, "B") is not None
    assert not is_condition_true(conditions, "A")
    assert is_condition_true(conditions, "B")
    assert find_condition(conditions, "C") is None
