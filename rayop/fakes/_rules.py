"""Pure metadata rules of the API server: what create and update keep, drop, bump and refuse."""

from __future__ import annotations

import re
from typing import Any

from ..client import Kind, Obj
from ..errors import BadRequest, Cause

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The characters Kubernetes draws generated name suffixes from (no vowels, no look-alikes)."""

_SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_ONE_LABEL_KINDS = frozenset({"namespaces", "services"})


def body_of(obj: Any, kind: Kind) -> Obj:
    """Check the request body's shape; return it (the caller passes a private copy)."""
    if not isinstance(obj, dict):
        raise BadRequest(f"the body of a {kind} request must be a JSON object")
    if not isinstance(obj.get("metadata", {}), dict):
        raise BadRequest("metadata must be a JSON object")
    for field_name, expected in (("apiVersion", kind.api_version), ("kind", kind.kind)):
        given = obj.get(field_name)
        if given not in (None, "", expected):
            raise BadRequest(
                f"the {field_name} in the data ({given}) does not match the expected "
                f"{field_name} ({expected})"
            )
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    return {"apiVersion": kind.api_version, "kind": kind.kind,
            "metadata": obj.get("metadata") or {}, **rest}


def namespace_of(kind: Kind, meta: dict[str, Any], namespace: str | None) -> str:
    """Return the namespace a request acts in ("" for cluster-scoped kinds), as a server does."""
    if not kind.namespaced:
        meta.pop("namespace", None)
        return ""
    given = meta.get("namespace")
    if given and namespace and given != namespace:
        raise BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    ns = given or namespace
    if not ns:
        raise BadRequest(f"{kind} is namespaced: a namespace is required")
    meta["namespace"] = ns
    return str(ns)


def name_causes(kind: Kind, name: str) -> list[Cause]:
    """Return what is wrong with ``name`` for this kind (DNS subdomain, or DNS label)."""
    label = kind.plural in _ONE_LABEL_KINDS
    pattern, limit = (_LABEL_NAME, 63) if label else (_NAME, 253)
    if len(name) <= limit and pattern.match(name):
        return []
    what = "RFC 1123 label" if label else "RFC 1123 subdomain"
    return [Cause("metadata.name", f'Invalid value: "{name}": a lowercase {what} must consist '
                  "of lower case alphanumeric characters, '-' or '.', and must start and end "
                  "with an alphanumeric character")]


def owner_ref_causes(meta: dict[str, Any]) -> list[Cause]:
    """Return what is wrong with ``metadata.ownerReferences``."""
    causes: list[Cause] = []
    refs = meta.get("ownerReferences") or []
    for i, ref in enumerate(refs):
        for key in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(key):
                causes.append(Cause(f"metadata.ownerReferences[{i}].{key}", "Required value",
                                    "FieldValueRequired"))
    if sum(1 for r in refs if isinstance(r, dict) and r.get("controller")) > 1:
        causes.append(Cause("metadata.ownerReferences",
                            "Invalid value: only one reference can have Controller set to true"))
    return causes


def spec_part(obj: Obj, status_subresource: bool) -> dict[str, Any]:
    """Return what counts as spec for ``generation``: all but metadata (and status)."""
    skip = ("metadata", "status", "apiVersion", "kind") if status_subresource else (
        "metadata", "apiVersion", "kind")
    return {k: v for k, v in obj.items() if k not in skip}


def immutable_causes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """Refuse changes to uid and creationTimestamp (a missing value keeps the stored one)."""
    causes = []
    for key in ("uid", "creationTimestamp"):
        if new.get(key) not in (None, "", old.get(key)):
            causes.append(Cause(f"metadata.{key}", "Invalid value: field is immutable"))
    return causes


def finalizer_causes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """Once deletion started, no finalizer may be added."""
    if not old.get("deletionTimestamp"):
        return []
    added = [f for f in new.get("finalizers") or [] if f not in (old.get("finalizers") or [])]
    if not added:
        return []
    return [Cause("metadata.finalizers", "Forbidden: no new finalizers can be added if the "
                  f"object is being deleted, found new finalizers {added}", "FieldValueForbidden")]


def updated(old: Obj, body: Obj, *, status: bool, status_subresource: bool) -> Obj:
    """Return the object an update stores, before versioning: server fields kept from ``old``.

    A main-resource update keeps the stored status (when the kind has a status subresource); a
    status update keeps everything but the status.
    """
    if status:
        new = dict(old)
        new["metadata"] = dict(old["metadata"])
        if "status" in body:
            new["status"] = body["status"]
        else:
            new.pop("status", None)
        return new
    new = dict(body)
    meta = dict(body["metadata"])
    old_meta = old["metadata"]
    for key in (*_SERVER_FIELDS, "generation"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    new["metadata"] = meta
    if status_subresource:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if spec_part(new, status_subresource) != spec_part(old, status_subresource):
        meta["generation"] = int(old_meta.get("generation") or 0) + 1
    return new


def same_content(a: Obj, b: Obj) -> bool:
    """Return whether two objects differ only in resourceVersion (a no-op write)."""
    if {k: v for k, v in a.items() if k != "metadata"} != {
        k: v for k, v in b.items() if k != "metadata"
    }:
        return False
    strip = ("resourceVersion", "managedFields")
    ma = {k: v for k, v in a["metadata"].items() if k not in strip}
    mb = {k: v for k, v in b["metadata"].items() if k not in strip}
    return ma == mb
