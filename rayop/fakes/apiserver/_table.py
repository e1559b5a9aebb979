"""Server-side printing: ``meta.k8s.io/v1`` ``Table`` answers, as kubectl asks for them.

``kubectl get`` sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...``; the server
answers a ``Table`` whose columns come from the CRD's ``additionalPrinterColumns`` (rayop's own
from :mod:`rayop.ray.crds`), or, for built-in kinds, a few of the columns kube-apiserver prints.
``date`` columns print as ages (``5m3s``), as the real table convertor does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from rayop.runtime.client import Kind, Obj

__all__ = ["Column", "human_duration", "table", "wants_table"]

Column = dict[str, Any]
"""An ``additionalPrinterColumns`` entry: ``name``, ``type``, ``jsonPath``, ``priority``..."""

_NAME_COLUMN: Column = {"name": "Name", "type": "string", "format": "name",
                        "description": "Name must be unique within a namespace.", "priority": 0}
_AGE: Column = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def wants_table(accept: str) -> bool:
    """Return whether an ``Accept`` header asks for a ``Table`` first."""
    first = accept.split(",")[0]
    return "as=Table" in first.replace(" ", "")


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: ``45s``, ``3m5s``, ``2h10m``, ``3d4h``..."""
    s = round(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // (24 * 365), (hours // 24) % 365
    if hours < 24 * 365 * 8:
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{years}y"


def _lookup(obj: Any, path: str) -> Any:
    """Evaluate a simple JSONPath (``.status.head.podIP``); None when anything is missing."""
    node = obj
    for part in path.strip().lstrip(".").split("."):
        if not part:
            continue
        if isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def _age(value: Any, now: datetime) -> str:
    if not isinstance(value, str):
        return "<unknown>"
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((now - when).total_seconds())


def _pod_cells(pod: Obj) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    phase = status.get("reason") or status.get("phase") or "Pending"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        phase = "Terminating"
    return [f"{ready}/{len(spec.get('containers') or [])}", phase, restarts]


def _service_cells(svc: Obj) -> list[Any]:
    spec = svc.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol') or 'TCP'}"
                     for p in spec.get("ports") or [])
    return [spec.get("type") or "ClusterIP", spec.get("clusterIP") or "<none>", ports or "<none>"]


_BUILTIN: dict[tuple[str, str], tuple[list[Column], Callable[[Obj], list[Any]]]] = {
    ("", "pods"): ([{"name": "Ready", "type": "string"}, {"name": "Status", "type": "string"},
                    {"name": "Restarts", "type": "string"}], _pod_cells),
    ("", "services"): ([{"name": "Type", "type": "string"},
                        {"name": "Cluster-IP", "type": "string"},
                        {"name": "Port(s)", "type": "string"}], _service_cells),
}


_EVENT_COLUMNS: list[Column] = [
    {"name": "Last Seen", "type": "string"}, {"name": "Type", "type": "string"},
    {"name": "Reason", "type": "string"}, {"name": "Object", "type": "string"},
    {"name": "Message", "type": "string"}]


def _event_cells(event: Obj, now: datetime) -> list[Any]:
    seen = (event.get("lastTimestamp") or event.get("eventTime")
            or event.get("firstTimestamp") or (event.get("metadata") or {}).get(
                "creationTimestamp"))
    involved = event.get("involvedObject") or event.get("regarding") or {}
    return [_age(seen, now), event.get("type", ""), event.get("reason", ""),
            f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            event.get("message") or event.get("note") or ""]


def _events_table(objects: Iterable[Obj], now: datetime) -> tuple[list[Column], list[list[Any]]]:
    """Events as kubectl shows them: Last Seen, Type, Reason, Object, Message (Name hidden)."""
    definitions = [{**c, "format": "", "description": "", "priority": 0} for c in _EVENT_COLUMNS]
    definitions.append({**_NAME_COLUMN, "priority": 1})
    rows = [[*_event_cells(e, now), (e.get("metadata") or {}).get("name")] for e in objects]
    return definitions, rows


def table(kind: Kind, objects: Iterable[Obj], columns: list[Column] | None, *, now: datetime,
          include_object: str, resource_version: str | None,
          continue_token: str | None = None) -> dict[str, Any]:
    """Return the ``Table`` of ``objects`` (one row each) with the kind's printer columns."""
    objects = list(objects)
    if kind.plural == "events" and not columns:
        definitions, cells_of = _events_table(objects, now)
        return _assemble(definitions, list(zip(objects, cells_of, strict=True)), include_object,
                         resource_version, continue_token)
    builtin = _BUILTIN.get((kind.group, kind.plural))
    cols = list(columns) if columns else [_AGE]
    definitions = [dict(_NAME_COLUMN)]
    if builtin is not None and not columns:
        definitions += [{**c, "format": "", "description": "", "priority": 0}
                        for c in builtin[0]]
    for col in cols:
        definitions.append({"name": col["name"], "type": col.get("type", "string"),
                            "format": col.get("format", ""),
                            "description": col.get("description", ""),
                            "priority": col.get("priority", 0)})
    pairs: list[tuple[Obj, list[Any]]] = []
    for obj in objects:
        cells: list[Any] = [(obj.get("metadata") or {}).get("name")]
        if builtin is not None and not columns:
            cells += builtin[1](obj)
        for col in cols:
            value = _lookup(obj, col.get("jsonPath", ""))
            cells.append(_age(value, now) if col.get("type") == "date" else value)
        pairs.append((obj, cells))
    return _assemble(definitions, pairs, include_object, resource_version, continue_token)


def _assemble(definitions: list[Column], pairs: list[tuple[Obj, list[Any]]], include_object: str,
              resource_version: str | None, continue_token: str | None) -> dict[str, Any]:
    rows = []
    for obj, cells in pairs:
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata") or {}}
        rows.append(row)
    list_meta: dict[str, Any] = {}
    if resource_version:
        list_meta["resourceVersion"] = resource_version
    if continue_token:
        list_meta["continue"] = continue_token
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": definitions, "rows": rows}
