"""Shared pieces of the ray.io/v1 models: number and quantity types, problems.

The models build on :class:`rayop.runtime.models.WireModel` (camelCase on the wire, unknown
fields kept) and the conditions of :mod:`rayop.runtime.conditions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import WithJsonSchema

from rayop.runtime.errors import Cause

__all__ = [
    "Number",
    "Problem",
    "Quantity",
    "describe_value",
]

Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
"""A JSON number that keeps its exact form: ``1`` stays ``1``, ``0.5`` stays ``0.5``."""

Quantity = Annotated[
    int | str,
    WithJsonSchema(
        {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    ),
]
"""A Kubernetes resource quantity (``"500m"``, ``"4Gi"``, ``2``) kept as written."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an object: the field path (``spec.workerGroupSpecs[0].replicas``)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_cause(self) -> Cause:
        """Return the problem as an API ``Status`` cause, as a 422 Invalid answer carries it."""
        return Cause(field=self.field, message=self.message)


def describe_value(value: Any) -> str:
    """Describe a value's JSON type for a message: ``a string``, ``a list``, ``nothing``."""
    match value:
        case None:
            return "nothing"
        case bool():
            return f"a boolean ({str(value).lower()})"
        case int() | float():
            return f"a number ({value})"
        case str():
            return f"a string ({value!r})" if len(value) <= 20 else "a string"
        case list():
            return "a list"
        case dict():
            return "a mapping"
    return type(value).__name__
