"""Shared pieces of the ray.io/v1 models: the wire base model, metadata, conditions, problems.

Every model here reads and writes the Kubernetes wire form (camelCase keys) and keeps the
fields it does not know: a user's unknown field is stored as an extra and dumped back unchanged,
so a read-modify-write never loses anything. Timestamps stay strings (RFC 3339, as written) for
the same reason; :func:`rayop.clock.parse_time` turns them into datetimes where needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from ..clock import format_time
from ..errors import Cause

__all__ = [
    "CONDITIONS_SCHEMA",
    "Condition",
    "ConditionStatus",
    "Number",
    "ObjectMeta",
    "Problem",
    "Quantity",
    "WireModel",
    "describe_value",
    "find_condition",
    "is_condition_true",
    "set_condition",
    "to_wire",
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


class WireModel(BaseModel):
    """Base of every model: camelCase on the wire, strict types, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
        strict=True,
        frozen=True,
    )


def to_wire(model: BaseModel) -> dict[str, Any]:
    """Return the JSON-shaped dict of ``model``: only the fields that were set, unknown ones too."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


CONDITIONS_SCHEMA: JsonDict = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}
"""Schema extras of a ``conditions`` list: one entry per ``type``, merged by type on apply."""


class ObjectMeta(WireModel):
    """The parts of Kubernetes ``metadata`` rayop reads; everything else is kept as written."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None


ConditionStatus = Literal["True", "False", "Unknown"]
"""The status of a condition, as Kubernetes spells it."""


class Condition(WireModel):
    """One condition, as ``metav1.Condition``: one per type, each with its observedGeneration."""

    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = Field(default=None, ge=0)


def find_condition(conditions: Sequence[Condition] | None, type_: str) -> Condition | None:
    """Return the condition of ``type_``, or None when there is none."""
    for condition in conditions or ():
        if condition.type == type_:
            return condition
    return None


def is_condition_true(conditions: Sequence[Condition] | None, type_: str) -> bool:
    """Tell whether the condition of ``type_`` exists with status ``"True"``."""
    condition = find_condition(conditions, type_)
    return condition is not None and condition.status == "True"


def set_condition(
    conditions: Sequence[Condition] | None,
    *,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: datetime,
) -> list[Condition]:
    """Return ``conditions`` with the condition of ``type_`` set, as ``meta.SetStatusCondition``.

    There is one condition per type; its ``lastTransitionTime`` moves to ``now`` only when its
    status changes (or it is new). Reason, message and observedGeneration are always updated.
    The input is not modified; the order of the other conditions is kept.
    """
    result: list[Condition] = []
    found = False
    for old in conditions or ():
        if old.type != type_:
            result.append(old)
            continue
        if found:
            continue  # a duplicate type written by someone else: keep only the first
        found = True
        transition = old.last_transition_time if old.status == status else None
        result.append(
            _condition(type_, status, reason, message, observed_generation, transition or now)
        )
    if not found:
        result.append(_condition(type_, status, reason, message, observed_generation, now))
    return result


def _condition(
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    observed_generation: int | None,
    when: str | datetime,
) -> Condition:
    stamp = when if isinstance(when, str) else format_time(when)
    fields: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": stamp,
    }
    if observed_generation is not None:
        fields["observedGeneration"] = observed_generation
    return Condition.model_validate(fields)


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
