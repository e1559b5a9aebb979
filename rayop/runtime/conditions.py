"""Status conditions with Kubernetes' rules (``metav1.Condition``, ``meta.SetStatusCondition``).

One condition per ``type``; ``lastTransitionTime`` moves only when the status changes;
``observedGeneration`` says which spec the condition speaks of. Conditions are typed
(:class:`Condition`), never tuples or dicts built by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import Field
from pydantic.config import JsonDict

from rayop.runtime.clock import format_time
from rayop.runtime.models import WireModel

__all__ = [
    "CONDITIONS_SCHEMA",
    "Condition",
    "ConditionStatus",
    "ConditionUpdate",
    "apply_conditions",
    "condition_since",
    "find_condition",
    "is_condition_true",
    "set_condition",
]

CONDITIONS_SCHEMA: JsonDict = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}
"""Schema extras of a ``conditions`` list: one entry per ``type``, merged by type on apply."""


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


class ConditionUpdate(NamedTuple):
    """What a reconcile decided about one condition: ``status`` None is ``Unknown``."""

    type: str
    status: bool | None
    reason: str
    message: str = ""


def apply_conditions(status: MutableMapping[str, Any], updates: Iterable[ConditionUpdate], *,
                     generation: int | None, now: datetime) -> None:
    """Set each update in the ``conditions`` of a status mapping, with Kubernetes' rules.

    The list is read as typed :class:`Condition` values, updated with :func:`set_condition`
    (one per type; ``lastTransitionTime`` moves only when the status changes; every one gets
    ``observedGeneration``) and written back in wire form. Nothing is written for no updates.
    """
    updates = list(updates)
    if not updates:
        return
    current: Any = status.get("conditions") or []
    conditions = [Condition.model_validate(c) for c in current if isinstance(c, dict)]
    for update in updates:
        value: ConditionStatus = ("Unknown" if update.status is None
                                  else "True" if update.status else "False")
        conditions = set_condition(
            conditions, type_=update.type, status=value, reason=update.reason,
            message=update.message, observed_generation=generation, now=now,
        )
    status["conditions"] = [
        c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions
    ]


def condition_since(status: Mapping[str, Any], type_: str, state: ConditionStatus) -> str | None:
    """When condition ``type_`` last moved to ``state``, while it has it; else None."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == state:
            return str(cond.get("lastTransitionTime") or "") or None
    return None
