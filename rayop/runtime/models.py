"""Typed models of Kubernetes objects on the wire: camelCase, strict, unknown fields kept.

Every model derived from :class:`WireModel` reads and writes the wire form and keeps the fields it
does not know: a user's unknown field is stored as an extra and dumped back unchanged, so a
read-modify-write never loses anything. Timestamps stay strings (RFC 3339, as written).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ObjectMeta", "WireModel", "to_wire"]


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
