"""Helpers every reconciler shares: compare statuses, diff them into patches, report bad specs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..client import Obj

__all__ = ["invalid_spec_status", "merge_patch_between", "status_changed"]

_VOLATILE = ("lastUpdateTime",)


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


def merge_patch_between(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Obj:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``.

    The inverse of :func:`rayop.patch.merge_patch`, which applies such a patch:
    ``merge_patch(old, merge_patch_between(old, new)) == new`` for None-free ``new``.

    Keys gone from ``new`` (or set to None) become null; maps are patched key by key, so an
    application that disappeared from a status map is removed, not left behind.
    """
    old = old or {}
    patch: Obj = {}
    for key in old:
        if new.get(key) is None and key in old and old[key] is not None:
            patch[key] = None
    for key, value in new.items():
        if value is None:
            continue
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = merge_patch_between(before, value)
            if sub:
                patch[key] = sub
        elif before != value:
            patch[key] = value
    return patch
