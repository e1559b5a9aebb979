"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as pure functions on JSON-shaped data.

Neither function changes its arguments: :func:`merge_patch` shares the untouched parts of the
target with its result (treat both as read-only afterwards, or copy), :func:`json_patch` works on
its own deep copy. Errors follow the Kubernetes API server's split:

- :class:`MalformedPatch` — the patch document itself is wrong (an op without ``path``, an
  unknown op, a bad pointer); a server answers 400 Bad Request;
- :class:`PatchFailed` — a well-formed patch that does not apply (a ``test`` op that fails, a
  ``remove`` of a missing member, an index out of range); a server answers 422 Unprocessable
  Entity (reason ``Invalid``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rayop.runtime import jsoncodec

__all__ = ["MalformedPatch", "PatchError", "PatchFailed", "json_patch", "merge_patch"]

from rayop.runtime.errors import RayopError


class PatchError(RayopError, ValueError):
    """A patch could not be applied."""


class MalformedPatch(PatchError):
    """The patch document is not a valid patch (HTTP 400 on a server)."""


class PatchFailed(PatchError):
    """A valid patch that does not apply to this document (HTTP 422 on a server)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: objects merge recursively, ``null`` removes, else replace."""
    if not isinstance(patch, Mapping):
        return patch
    result: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = value
    return result


_MISSING: Any = object()


def json_patch(document: Any, operations: Any) -> Any:
    """Apply an RFC 6902 patch (``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``)."""
    if not isinstance(operations, list):
        raise MalformedPatch("a JSON patch must be a list of operations")
    doc = _copy(document)
    for op in operations:
        doc = _apply_op(doc, op)
    return doc


def _copy(value: Any) -> Any:
    return jsoncodec.loads(jsoncodec.dumps(value))


def _parse_pointer(pointer: Any) -> list[str]:
    if not isinstance(pointer, str):
        raise MalformedPatch(f"a JSON pointer must be a string, got {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise MalformedPatch(f"JSON pointer must start with '/': {pointer!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def _field(op: Mapping[str, Any], name: str) -> Any:
    if name not in op:
        raise MalformedPatch(f"operation {op.get('op')!r} is missing {name!r}")
    return op[name]


def _apply_op(doc: Any, op: Any) -> Any:
    if not isinstance(op, Mapping):
        raise MalformedPatch(f"a JSON patch operation must be an object, got {op!r}")
    kind = op.get("op")
    path = _parse_pointer(_field(op, "path"))
    match kind:
        case "add":
            return _add(doc, path, _copy(_field(op, "value")))
        case "remove":
            doc, _ = _remove(doc, path)
            return doc
        case "replace":
            doc, _ = _remove(doc, path)
            return _add(doc, path, _copy(_field(op, "value")))
        case "move":
            source = _parse_pointer(_field(op, "from"))
            if path[: len(source)] == source and path != source:
                raise PatchFailed(f"cannot move {op['from']!r} into its own child {op['path']!r}")
            doc, value = _remove(doc, source)
            return _add(doc, path, value)
        case "copy":
            value = _get(doc, _parse_pointer(_field(op, "from")))
            return _add(doc, path, _copy(value))
        case "test":
            expected = _field(op, "value")
            actual = _get(doc, path)
            if not _equal(actual, expected):
                raise PatchFailed(f"testing value {op['path']} failed: test failed")
            return doc
    raise MalformedPatch(f"unknown JSON patch operation {kind!r}")


def _equal(a: Any, b: Any) -> bool:
    # JSON equality: 1 == 1.0 but True != 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _get(doc: Any, path: list[str]) -> Any:
    node = doc
    for part in path:
        if isinstance(node, dict):
            if part not in node:
                raise PatchFailed(f"no value at /{'/'.join(path)}")
            node = node[part]
        elif isinstance(node, list):
            node = node[_index(node, part, allow_end=False)]
        else:
            raise PatchFailed(f"no value at /{'/'.join(path)}")
    return node


def _index(node: list[Any], part: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(node)
    if not part.isdigit() or (len(part) > 1 and part.startswith("0")):
        raise PatchFailed(f"invalid array index {part!r}")
    index = int(part)
    if index > len(node) or (index == len(node) and not allow_end):
        raise PatchFailed(f"array index {index} out of range")
    return index


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchFailed(f"cannot add at /{'/'.join(path)}: parent is not a container")
    return doc


def _remove(doc: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        return None, doc
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        value = parent.pop(last, _MISSING)
        if value is _MISSING:
            raise PatchFailed(f"cannot remove /{'/'.join(path)}: no such member")
        return doc, value
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, allow_end=False))
    raise PatchFailed(f"cannot remove /{'/'.join(path)}: parent is not a container")
