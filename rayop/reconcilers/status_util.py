"""Helpers every reconciler shares: parse a spec safely, compare statuses, report invalid specs."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..client import Obj

__all__ = ["field_path", "invalid_spec_status", "parse_spec", "status_changed"]

M = TypeVar("M", bound=BaseModel)

_VOLATILE = ("lastUpdateTime",)


def field_path(loc: tuple[int | str, ...], *, root: str = "spec") -> str:
    """Turn a pydantic error location into a Kubernetes field path (``spec.a[0].b``)."""
    out = root
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_spec(model: type[M], obj: Obj) -> M | list[str]:
    """Parse ``obj["spec"]`` into ``model``; on failure return the problems, one per field."""
    try:
        return model.model_validate(obj.get("spec") or {})
    except ValidationError as err:
        return [f"{field_path(tuple(e['loc']))}: {e['msg']}" for e in err.errors()]


def status_changed(old: Any, new: Obj) -> bool:
    """True when ``new`` differs from ``old`` in anything but the bookkeeping timestamps."""
    old = dict(old or {})
    for key in _VOLATILE:
        old.pop(key, None)
    fresh = {k: v for k, v in new.items() if k not in _VOLATILE}
    return any(old.get(k) != v for k, v in fresh.items())


def invalid_spec_status(obj: Obj, problems: list[str], *, state_field: str, state: str) -> Obj:
    """The status of an object whose spec cannot be used: the state, and every problem."""
    return {
        state_field: state,
        "reason": "ValidationFailed",
        "message": "; ".join(problems),
        "observedGeneration": obj["metadata"].get("generation"),
    }
