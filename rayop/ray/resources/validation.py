"""Validate ray.io objects: every problem at once, each with its field path and a sentence.

Two layers, kept apart on purpose:

- **types** — what the CRD's OpenAPI schema says (types, required fields, enums, minimums). An
  API server with rayop's CRDs refuses such an object with 422 ``Invalid``; so does the fake
  cluster, through :func:`rayop.ray.resources.schema.schema_validator`.
- **rules** — what only rayop knows (:mod:`rayop.ray.resources.rules`): a Serve config that parses,
  an entrypoint unless InteractiveMode, a name short enough, ... The API server stores such an
  object; the reconciler reports the problems in its status and waits for a new spec.

``validate_*`` returns both layers' problems; ``parse_*`` returns the model only when there are
none. Neither raises on any input, however malformed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rayop.ray.resources.common import Problem, describe_value
from rayop.ray.resources.raycluster import RayCluster
from rayop.ray.resources.rayjob import RayJob
from rayop.ray.resources.rayservice import RayService
from rayop.ray.resources.rules import raycluster_rules, rayjob_rules, rayservice_rules
from rayop.runtime.errors import Cause
from rayop.runtime.limits import MAX_SPEC_DEPTH, too_deep

__all__ = [
    "API_VERSION",
    "VALIDATORS",
    "load",
    "parse_raycluster",
    "parse_rayjob",
    "parse_rayservice",
    "problems_from_error",
    "to_causes",
    "validate_raycluster",
    "validate_rayjob",
    "validate_rayservice",
]

API_VERSION = "ray.io/v1"

M = TypeVar("M", bound=BaseModel)
Rules = Callable[[Mapping[str, Any]], list[Problem]]

_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "float_type": "a number",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def load(model: type[M], obj: Any) -> M | list[Problem]:
    """Parse ``obj`` into ``model`` checking types only; problems instead of an exception."""
    try:
        return model.model_validate(obj)
    except ValidationError as error:
        return problems_from_error(error)


def problems_from_error(error: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into problems with camelCase paths (``spec.groups[0].replicas``)."""
    return [Problem(_path(e["loc"]), _message(e)) for e in error.errors()]


def _path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier():
            path += f".{part}" if path else part
        else:
            path += f"[{part}]"
    return path


def _message(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind in _EXPECTED:
        message = f"must be {_EXPECTED[kind]}, got {describe_value(value)}"
        if kind == "string_type" and isinstance(value, int | float | bool):
            message += '; quote it in YAML, like "1"'
        return message
    if kind == "literal_error":
        return f"unsupported value {value!r}: must be {ctx.get('expected')}"
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge')} or more, got {value!r}"
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}, got {value!r}"
    return str(error["msg"])


def to_causes(problems: Sequence[Problem]) -> list[Cause]:
    """Return the problems as API ``Status`` causes (field and message)."""
    return [p.to_cause() for p in problems]


def _validate(obj: Any, model: type[M], kind: str, rules: Rules) -> tuple[M | None, list[Problem]]:
    if not isinstance(obj, Mapping):
        return None, [
            Problem("", f"expected a {kind} object (a mapping), got {describe_value(obj)}")
        ]
    deep = too_deep(obj)
    if deep is not None:  # checked first: the rest of validation recurses
        return None, [Problem(deep, f"nests deeper than {MAX_SPEC_DEPTH} levels here; rayop "
                                    "refuses objects nested this deep")]
    problems = _header_problems(obj, kind)
    loaded = load(model, obj)
    if isinstance(loaded, list):
        problems += loaded
    problems += rules(obj)
    unique = list(dict.fromkeys(problems))
    return (None if unique or isinstance(loaded, list) else loaded), unique


def _header_problems(obj: Mapping[str, Any], kind: str) -> list[Problem]:
    problems: list[Problem] = []
    version = obj.get("apiVersion")
    if version is not None and version != API_VERSION:
        problems.append(
            Problem("apiVersion", f"{version!r} is not supported: rayop reads {API_VERSION} only")
        )
    if obj.get("kind") not in (None, kind):
        problems.append(Problem("kind", f"expected {kind}, got {obj.get('kind')!r}"))
    return problems


def validate_raycluster(obj: Any) -> list[Problem]:
    """Return every problem of a RayCluster object (empty when it is valid)."""
    return _validate(obj, RayCluster, "RayCluster", raycluster_rules)[1]


def validate_rayjob(obj: Any) -> list[Problem]:
    """Return every problem of a RayJob object (empty when it is valid)."""
    return _validate(obj, RayJob, "RayJob", rayjob_rules)[1]


def validate_rayservice(obj: Any) -> list[Problem]:
    """Return every problem of a RayService object (empty when it is valid)."""
    return _validate(obj, RayService, "RayService", rayservice_rules)[1]


def parse_raycluster(obj: Any) -> RayCluster | list[Problem]:
    """Return the RayCluster model when the object is valid, else all its problems."""
    model, problems = _validate(obj, RayCluster, "RayCluster", raycluster_rules)
    return model if model is not None else problems


def parse_rayjob(obj: Any) -> RayJob | list[Problem]:
    """Return the RayJob model when the object is valid, else all its problems."""
    model, problems = _validate(obj, RayJob, "RayJob", rayjob_rules)
    return model if model is not None else problems


def parse_rayservice(obj: Any) -> RayService | list[Problem]:
    """Return the RayService model when the object is valid, else all its problems."""
    model, problems = _validate(obj, RayService, "RayService", rayservice_rules)
    return model if model is not None else problems


VALIDATORS: dict[str, Callable[[Any], list[Problem]]] = {
    "RayCluster": validate_raycluster,
    "RayJob": validate_rayjob,
    "RayService": validate_rayservice,
}
"""The validator of each ray.io/v1 kind, by kind name."""
