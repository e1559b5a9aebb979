"""``Status`` bodies as a real API server writes them: Go's field order, ``omitempty``, newline."""

from __future__ import annotations

from typing import Any

from rayop.runtime import jsoncodec
from rayop.runtime.errors import ApiError

__all__ = ["error_bytes", "json_bytes", "status_dict", "success_bytes"]


def json_bytes(value: Any) -> bytes:
    """Encode ``value`` as a Go ``json.Encoder`` does: compact, ending in a newline."""
    return jsoncodec.dumps(value) + b"\n"


def status_dict(error: ApiError) -> dict[str, Any]:
    """Return the ``Status`` of ``error`` with fields in metav1.Status order, empty ones left out.

    ``kind, apiVersion, metadata, status, message, reason, details{name, group, kind, uid,
    causes[{reason, message, field}], retryAfterSeconds}, code`` — the order Go marshals
    ``metav1.Status`` in, so a client reading the bytes sees what a kube-apiserver sends.
    """
    details: dict[str, Any] = {}
    for key, value in (("name", error.name), ("group", error.group), ("kind", error.kind)):
        if value:
            details[key] = value
    if error.causes:
        details["causes"] = [
            {k: v for k, v in (("reason", c.reason), ("message", c.message), ("field", c.field))
             if v}
            for c in error.causes
        ]
    if error.retry_after is not None:
        details["retryAfterSeconds"] = max(1, round(error.retry_after))
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure"}
    if error.message:
        status["message"] = error.message
    if error.reason:
        status["reason"] = error.reason
    if details:
        status["details"] = details
    status["code"] = error.status_code
    return status


def error_bytes(error: ApiError) -> bytes:
    """Return the response body for ``error``."""
    return json_bytes(status_dict(error))


def success_bytes(*, name: str, group: str, kind: str, uid: str | None) -> bytes:
    """Return the ``Status`` a DELETE answers with once the object is gone."""
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    if uid:
        details["uid"] = uid
    return json_bytes({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                       "details": details})
