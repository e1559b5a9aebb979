"""rayop's CRDs on the real kube-apiserver: every example accepted or rejected exactly as the fake.

The fake cluster checks ray.io objects with :func:`rayop.ray.resources.schema.schema_validator`,
which
claims to accept exactly what a real API server with rayop's CRDs accepts. Each case here is
created through rayop's ``KubeClient`` on the real server and on a ``FakeCluster`` with that
validator, and the two outcomes must be equal: both store it (with the same spec, nothing pruned
or defaulted), or both answer ``Invalid`` naming the same fields.

The cases: every example manifest (``examples/manifests``) and seed example (``examples/seeds``)
as written, then variants of them derived from the CRD schema itself, one per constraint the
schema states on a field the example sets: a value of the wrong type, a value outside an enum, a
number under a minimum, a required field left out, a null, and an unknown field (kept). Each
constraint is tried once per kind, on the first example that sets the field.
"""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.fakes.cluster import FakeCluster
from rayop.kube import KubeClient
from rayop.ray.fakes import with_ray_kinds
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.ray.resources.schema import openapi_schema
from rayop.runtime.client import NAMESPACE, Kind, Obj
from rayop.runtime.errors import AlreadyExists, Invalid
from realapi.cluster import RealApiServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KINDS = {k.kind: k for k in (RAYCLUSTER, RAYJOB, RAYSERVICE)}
NAMESPACE_NAME = "crd-checks"

Step = str | int
"""One step of a path into an object: a key, or a list index."""


@dataclass(frozen=True)
class Case:
    """One object to create on both servers."""

    id: str
    kind: Kind
    obj: Obj


def examples() -> list[tuple[str, Obj]]:
    """Every example object as written: ``(file name, object)``, in file order."""
    found: list[tuple[str, Obj]] = []
    for path in sorted((EXAMPLES / "manifests").glob("*.yaml")):
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    for path in sorted((EXAMPLES / "seeds").glob("*.json")):
        found.append((path.name, json.loads(path.read_text())))
    return found


def _wrong_value(schema: dict[str, Any]) -> Any:
    """A value of another type than ``schema`` allows."""
    if schema.get("x-kubernetes-int-or-string"):
        return True
    return {"integer": "seven", "number": "seven", "string": 7, "boolean": "yes",
            "array": "not-a-list", "object": "not-an-object"}.get(str(schema.get("type")))


def _variants(
    schema: dict[str, Any], value: Any, path: tuple[Step, ...]
) -> Iterator[tuple[str, tuple[Step, ...], Any]]:
    """Yield ``(what, path, new value)`` for each constraint of ``schema`` on ``value``.

    A new value of ``...`` (Ellipsis) means: remove the field.
    """
    wrong = _wrong_value(schema)
    if wrong is not None:
        yield "type", path, wrong
    if "enum" in schema:
        yield "enum", path, "NotAnAllowedValue"
    if "minimum" in schema:
        yield "minimum", path, schema["minimum"] - 1
    if len(path) > 1:
        yield "null" if schema.get("nullable") else "null-not-nullable", path, None
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name in value:
                yield "required", (*path, name), ...
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                yield from _variants(properties[name], item, (*path, name))
        if schema.get("x-kubernetes-preserve-unknown-fields") and path == ("spec",):
            yield "unknown-field", (*path, "notInTheSchema"), {"kept": True}
    elif isinstance(value, list) and value and "items" in schema:
        yield from _variants(schema["items"], value[0], (*path, 0))


def _with(obj: Obj, path: tuple[Step, ...], value: Any) -> Obj:
    changed = copy.deepcopy(obj)
    parent: Any = changed
    for step in path[:-1]:
        parent = parent[step]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return changed


def cases() -> list[Case]:
    """The examples, then one variant per (kind, constraint, field)."""
    found: list[Case] = []
    tried: set[tuple[str, str, tuple[Step, ...]]] = set()
    for source, obj in examples():
        kind = KINDS[obj["kind"]]
        found.append(Case(source, kind, obj))
        schema = openapi_schema(kind)
        spec_schema = schema["properties"]["spec"]
        for what, path, value in _variants(spec_schema, obj.get("spec"), ("spec",)):
            generic = tuple("*" if isinstance(step, int) else step for step in path)
            if (kind.kind, what, generic) in tried:
                continue
            tried.add((kind.kind, what, generic))
            dotted = ".".join(str(step) for step in path)
            found.append(Case(f"{source}:{what}:{dotted}", kind, _with(obj, path, value)))
    return found


CASES = cases()


async def outcome(client: Any, case: Case) -> tuple[str, Any]:
    """Create the case's object; ``("stored", spec)`` or ``("invalid", sorted fields)``."""
    body = copy.deepcopy(case.obj)
    body["metadata"] = {"name": f"case-{uuid.uuid4().hex[:12]}"}
    try:
        created = await client.create(case.kind, body, namespace=NAMESPACE_NAME)
    except Invalid as refused:
        return "invalid", sorted(refused.fields)
    await client.delete(case.kind, created["metadata"]["name"], namespace=NAMESPACE_NAME)
    return "stored", created.get("spec")


async def on_fake(case: Case) -> tuple[str, Any]:
    """The outcome on a FakeCluster with the schema validators (as FakeEnv registers them)."""
    fake = with_ray_kinds(FakeCluster(seed=1))
    await fake.create(NAMESPACE, {"metadata": {"name": NAMESPACE_NAME}})
    return await outcome(fake, case)


def test_the_variants_cover_every_kind_of_constraint() -> None:
    whats = {case.id.split(":")[1] for case in CASES if ":" in case.id}
    assert {"type", "enum", "minimum", "required", "null", "unknown-field"} <= whats
    assert {case.kind.kind for case in CASES} == set(KINDS)
    assert len(CASES) > 40


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_real_server_accepts_and_refuses_as_the_fake(
    real_apiserver: RealApiServer, case: Case
) -> None:
    async with await KubeClient.from_kubeconfig(real_apiserver.kubeconfig) as client:
        with contextlib.suppress(AlreadyExists):
            await client.create(NAMESPACE, {"metadata": {"name": NAMESPACE_NAME}})
        real = await outcome(client, case)
    fake = await on_fake(case)
    assert real == fake
    if ":" not in case.id:  # the examples as written: all of them are stored
        assert real == ("stored", case.obj["spec"])
