"""The generated CRDs: committed files match the models, schemas are structural and small."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.cli.main import main
from rayop.ray.crds import crd_file_name, dump_crd, generate_crds

COMMITTED = Path(__file__).resolve().parents[2] / "deploy" / "crds"
CRDS = generate_crds()
IDS = [c["spec"]["names"]["kind"] for c in CRDS]


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"])


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}[*]")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_committed_crds_match_the_models(crd: dict[str, Any]) -> None:
    path = COMMITTED / crd_file_name(crd)
    assert path.read_text() == dump_crd(crd), f"{path} is stale: run `rayop crds`"


def test_no_stray_files_in_deploy_crds() -> None:
    assert sorted(p.name for p in COMMITTED.iterdir()) == sorted(crd_file_name(c) for c in CRDS)


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_schema_is_structural(crd: dict[str, Any]) -> None:
    text = yaml.safe_dump(crd)
    assert "$ref" not in text
    assert "$defs" not in text
    for path, node in _nodes(_schema(crd)):
        assert not {"allOf", "oneOf", "not", "default", "title"} & set(node), path
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert "anyOf" not in node, path
        if "type" not in node:  # only "any JSON value" may leave the type out
            assert node == {"x-kubernetes-preserve-unknown-fields": True} or set(node) <= {
                "x-kubernetes-preserve-unknown-fields", "description", "nullable"}, path
        if "properties" in node:
            assert node["type"] == "object", path
            assert "additionalProperties" not in node, path
        if node.get("additionalProperties") is not None:
            assert isinstance(node["additionalProperties"], dict), path
        if node.get("x-kubernetes-list-type") == "map":
            items = node["items"]
            assert set(node["x-kubernetes-list-map-keys"]) <= set(items["required"]), path


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_pod_templates_keep_every_field(crd: dict[str, Any]) -> None:
    templates = [n for p, n in _nodes(_schema(crd)) if p.endswith(".template")]
    assert templates
    for node in templates:
        assert node["type"] == "object"
        assert node["x-kubernetes-preserve-unknown-fields"] is True
        assert "properties" not in node


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_crd_is_small(crd: dict[str, Any]) -> None:
    assert len(dump_crd(crd).encode()) < 100_000


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_crd_shape(crd: dict[str, Any]) -> None:
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
    assert (spec["group"], spec["scope"]) == ("ray.io", "Namespaced")
    assert spec["names"]["categories"] == ["all"]
    assert not {"rc", "svc", "job", "po"} & set(spec["names"]["shortNames"])
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}
    assert _schema(crd)["properties"]["metadata"] == {"type": "object"}


@pytest.mark.parametrize("crd", CRDS, ids=IDS)
def test_printer_columns_point_at_schema_fields(crd: dict[str, Any]) -> None:
    known = {p for p, _ in _nodes(_schema(crd))} | {".metadata.creationTimestamp"}
    (version,) = crd["spec"]["versions"]
    columns = version["additionalPrinterColumns"]
    for column in columns:
        assert column["jsonPath"] in known, column
    expected = {
        "RayJob": ["Status", "Job ID", "Cluster", "Start", "End", "Age"],
        "RayService": ["Status", "Cluster", "App Status", "Endpoints", "Age"],
        "RayCluster": ["State", "Desired Workers", "Ready Workers", "Head IP", "Age"],
    }[crd["spec"]["names"]["kind"]]
    assert [c["name"] for c in columns if not c.get("priority")] == expected


def test_rayop_crds_writes_the_committed_files(tmp_path: Path) -> None:
    assert main(["crds", "--output", str(tmp_path / "out")]) == 0
    for path in (tmp_path / "out").iterdir():
        assert path.read_text() == (COMMITTED / path.name).read_text()
