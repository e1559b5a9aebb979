"""Strategic merge patch for the core kinds, as far as pods and Services need it.

A strategic merge patch is a JSON merge patch in which some lists merge by a key instead of being
replaced: ``containers`` by ``name``, container ``ports`` by ``containerPort``, Service ``ports``
by ``port``, ``env`` by ``name``, ``volumeMounts`` by ``mountPath``, ``conditions`` by ``type``,
``ownerReferences`` by ``uid``; ``finalizers`` merge as a set. The directives kubectl sends are
understood: ``$patch: delete`` / ``$patch: replace`` on list items and maps,
``$deleteFromPrimitiveList/<field>``, and ``$setElementOrder/<field>`` / ``$retainKeys`` (accepted,
order not enforced). Lists not named here are replaced, as for a merge patch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rayop.runtime.errors import RayopError

__all__ = ["StrategicMergeError", "strategic_merge"]

_MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "containerStatuses": "name", "initContainerStatuses": "name",
}
_SET_LISTS = frozenset({"finalizers"})



class StrategicMergeError(RayopError, ValueError):
    """The patch is malformed for a strategic merge (an item without its merge key...)."""


def _merge_key(field: str, parents: tuple[str, ...], service: bool) -> str | None:
    if field == "ports":
        return "port" if service and parents == ("spec",) else "containerPort"
    return _MERGE_KEYS.get(field)


def strategic_merge(target: Any, patch: Any, *, kind: str) -> Any:
    """Return ``target`` with the strategic merge ``patch`` applied (neither is changed)."""
    if not isinstance(patch, Mapping):
        raise StrategicMergeError("a strategic merge patch must be a JSON object")
    return _merge_map(target if isinstance(target, Mapping) else {}, patch, (), kind == "Service")


def _merge_map(target: Mapping[str, Any], patch: Mapping[str, Any], parents: tuple[str, ...],
               service: bool) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result = dict(target)
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(value, list) and isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, Mapping) else {}, value,
                                (*parents, key), service)
            result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, key, parents, service)
        else:
            result[key] = value
    return result


def _merge_list(current: Any, patch: list[Any], field: str, parents: tuple[str, ...],
                service: bool) -> list[Any]:
    base = list(current) if isinstance(current, list) else []
    if field in _SET_LISTS:
        return base + [v for v in patch if v not in base]
    key = _merge_key(field, parents, service)
    if key is None or not all(isinstance(item, Mapping) for item in patch):
        return list(patch)
    if any(isinstance(i, Mapping) and i.get("$patch") == "replace" for i in patch):
        return [{k: v for k, v in i.items() if k != "$patch"} for i in patch
                if i.get("$patch") != "replace"]
    result = list(base)
    for item in patch:
        if key not in item:
            raise StrategicMergeError(f"map in {field} does not contain the merge key {key}")
        found = next((i for i, old in enumerate(result)
                      if isinstance(old, Mapping) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if found is not None:
                del result[found]
            continue
        if found is None:
            result.append(_merge_map({}, item, (*parents, field), service))
        else:
            result[found] = _merge_map(result[found], item, (*parents, field), service)
    return result
