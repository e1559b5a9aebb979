"""Structural OpenAPI v3 schemas of the ray.io kinds, and a checker that applies them.

The schemas are generated from the pydantic models and are what the CRDs carry
(:mod:`rayop.ray.crds`). :func:`schema_validator` checks an object against the same schema the way
a Kubernetes API server does on create and update: types, required fields, enums and minimums,
nothing else. The semantic rules (a Serve config that parses, a cluster spec that can run, ...)
are not the API server's business: those are :mod:`rayop.ray.resources.validation`'s, and a
reconciler reports them in the object's status. So the fake cluster, using this checker,
accepts exactly what a real API server with rayop's CRDs accepts.

Objects everywhere keep unknown fields (``x-kubernetes-preserve-unknown-fields``), as the models
do, so nothing a user wrote is pruned. Defaults are not in the schemas: the operator applies them,
the API server never rewrites what a user wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel

from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.ray.resources.raycluster import RayCluster
from rayop.ray.resources.rayjob import RayJob
from rayop.ray.resources.rayservice import RayService
from rayop.runtime import jsoncodec
from rayop.runtime.client import Kind
from rayop.runtime.errors import Cause

__all__ = ["MODELS", "openapi_schema", "schema_validator", "structural_schema"]

MODELS: dict[str, type[BaseModel]] = {
    RAYCLUSTER.kind: RayCluster,
    RAYJOB.kind: RayJob,
    RAYSERVICE.kind: RayService,
}
"""The model of each ray.io/v1 kind, by kind name."""

PRESERVE = "x-kubernetes-preserve-unknown-fields"
_KEPT = ("type", "description", "enum", "minimum", "maximum", "format", "required")


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the model's JSON schema as a structural OpenAPI v3 schema (no refs, typed)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _convert(raw, defs)


def _convert(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    node = _resolve(node, defs)
    if "anyOf" in node and "x-kubernetes-int-or-string" not in node:
        return _convert_any_of(node, defs)
    out: dict[str, Any] = {k: node[k] for k in _KEPT if k in node}
    if "description" in out:
        out["description"] = str(out["description"]).replace("``", "`")
    out.update({k: v for k, v in node.items() if k.startswith("x-kubernetes-")})
    if "anyOf" in node:
        out["anyOf"] = [{"type": o["type"]} for o in node["anyOf"]]
    if "properties" in node:
        out["properties"] = {k: _convert(v, defs) for k, v in node["properties"].items()}
    if "items" in node:
        out["items"] = _convert(node["items"], defs)
    extra = node.get("additionalProperties")
    if extra is True or extra == {}:
        out[PRESERVE] = True
    elif isinstance(extra, Mapping):
        out["additionalProperties"] = _convert(extra, defs)
    if not out.get("type") and "anyOf" not in out and "enum" not in out:
        out[PRESERVE] = True  # Any: any JSON value, kept as written
    return out


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target = defs[str(node["$ref"]).rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _convert_any_of(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    options = [o for o in node["anyOf"] if o.get("type") != "null"]
    nullable = len(options) < len(node["anyOf"])
    if len(options) != 1:
        raise TypeError(f"cannot express this union in a structural schema: {node}")
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    out = _convert({**_resolve(options[0], defs), **rest}, defs)
    if nullable:
        out["nullable"] = True
    return out


@cache
def _schema_json(kind: str) -> str:
    schema = structural_schema(MODELS[kind])
    schema["properties"]["metadata"] = {"type": "object"}
    return json.dumps(schema)


def openapi_schema(kind: str | Kind) -> dict[str, Any]:
    """Return the ``openAPIV3Schema`` of a ray.io kind (``"RayJob"`` or :data:`RAYJOB`)."""
    name = kind.kind if isinstance(kind, Kind) else kind
    return dict(json.loads(_schema_json(name)))


def schema_validator(kind: str | Kind) -> Callable[[Mapping[str, Any]], list[Cause]]:
    """Return a function checking an object as an API server with rayop's CRD would.

    It returns one :class:`~rayop.runtime.errors.Cause` per failing field, in Kubernetes' wording,
    for a
    422 ``Invalid`` answer; an empty list means the API server would store the object.

    As the API server does before validating, it first drops, in place, every ``null`` given
    to a field whose schema is not ``nullable`` (so a required field set to ``null`` is
    "Required value", and an optional one simply disappears); ``null`` stays where the schema
    allows it or where no schema applies (unknown fields). Checked against kube-apiserver 1.36
    by ``tests/realapi/test_realapi_crds.py``.
    """
    schema = openapi_schema(kind)

    def validate(obj: Mapping[str, Any]) -> list[Cause]:
        causes: list[Cause] = []
        _check(schema, obj, "", causes)
        return causes

    return validate


def _check(schema: Mapping[str, Any], value: Any, path: str, causes: list[Cause]) -> None:
    if value is None:
        untyped = "type" not in schema and "x-kubernetes-int-or-string" not in schema
        if not schema.get("nullable") and not untyped:
            causes.append(_type_cause(path, value, schema.get("type", "object")))
        elif "enum" in schema and None not in schema["enum"]:
            causes.append(_enum_cause(schema, path, value))  # nullable, but null is no member
        return
    if not _type_ok(schema, value):
        causes.append(_type_cause(path, value, schema.get("type", "integer or string")))
        if "enum" in schema and value not in schema["enum"]:
            causes.append(_enum_cause(schema, path, value))  # the server reports both
        return
    if "enum" in schema and value not in schema["enum"]:
        causes.append(_enum_cause(schema, path, value))
    if "minimum" in schema and value < schema["minimum"]:
        message = (
            f"Invalid value: {json.dumps(value)}: {path} in body should be greater than or "
            f"equal to {schema['minimum']}"
        )
        causes.append(Cause(path, message, "FieldValueInvalid"))
    if isinstance(value, dict):
        _check_object(schema, value, path, causes)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(schema["items"], item, f"{path}[{index}]", causes)


def _enum_cause(schema: Mapping[str, Any], path: str, value: Any) -> Cause:
    supported = ", ".join(json.dumps(v) for v in schema["enum"])
    message = f"Unsupported value: {_shown(value)}: supported values: {supported}"
    return Cause(path, message, "FieldValueNotSupported")


def _prune_nulls(schema: Mapping[str, Any], value: dict[str, Any]) -> None:
    """Drop ``null`` values of fields whose schema is not nullable, as the API server does."""
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for name in [k for k, v in value.items() if v is None]:
        field_schema = properties.get(name, extra if isinstance(extra, Mapping) else None)
        if field_schema is not None and not field_schema.get("nullable"):
            del value[name]


def _check_object(
    schema: Mapping[str, Any], value: dict[str, Any], path: str, causes: list[Cause]
) -> None:
    _prune_nulls(schema, value)
    for name in schema.get("required", ()):
        if name not in value:
            causes.append(Cause(_join(path, name), "Required value", "FieldValueRequired"))
    properties = schema.get("properties", {})
    for name, item in value.items():
        if name in properties:
            _check(properties[name], item, _join(path, name), causes)
        elif "additionalProperties" in schema:
            _check(schema["additionalProperties"], item, f"{path}[{name}]", causes)


def _type_ok(schema: Mapping[str, Any], value: Any) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    match schema.get("type"):
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
        case "string":
            return isinstance(value, str)
        case "boolean":
            return isinstance(value, bool)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _type_cause(path: str, value: Any, expected: str) -> Cause:
    if isinstance(value, dict | list):
        shown = '"object"' if isinstance(value, dict) else '"array"'
    else:
        shown = _shown(value)
    message = f"Invalid value: {shown}: {path} in body must be of type {expected}: {shown}"
    return Cause(path, message, "FieldValueTypeInvalid")


def _shown(value: Any) -> str:
    """A value as JSON in a message, at any depth the API server accepts."""
    try:
        return json.dumps(value)
    except RecursionError:
        return jsoncodec.dumps(value).decode()


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
