"""JSON in and out for every object rayop holds: orjson's speed, the API server's nesting depth.

The API server decodes request bodies with Go's ``encoding/json``, which accepts nesting up to
10,000 levels; orjson stops at 254 levels when encoding and 1,024 when decoding. One object nested
300 levels deep — 1.5 KB, accepted by kube-apiserver in any part of a RayJob its schema leaves open
(``x-kubernetes-preserve-unknown-fields``) — would otherwise make every list, watch and cache copy
of its kind fail, and with them every controller. So :func:`dumps` and :func:`loads` take orjson's
path and fall back, only for deeper documents, to the standard library's ``json`` with room on the
recursion limit for :data:`MAX_DEPTH` levels. Deeper than that is refused as the API server refuses
it (:class:`TooDeep`, a ``ValueError``).

Reconcilers refuse much shallower specs (``rayop.runtime.limits``); this module is about holding,
copying and passing on whatever the server accepted, never failing on it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import orjson

from rayop.runtime.errors import RayopError

__all__ = ["MAX_DEPTH", "TooDeep", "dumps", "loads", "nesting_depth", "room_for_depth"]

MAX_DEPTH = 10_000
"""The deepest nesting accepted: Go's ``encoding/json`` limit, which the API server applies."""

# Frames the standard library's C encoder/decoder uses per nesting level, plus headroom.
_FRAMES_PER_LEVEL = 2
_HEADROOM = 500


class TooDeep(RayopError, ValueError):
    """A JSON document nested deeper than :data:`MAX_DEPTH` levels."""

    def __init__(self) -> None:
        super().__init__(f"exceeded max depth of {MAX_DEPTH} levels of nesting")


def nesting_depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar 0, ``[]`` 1, ``{"a": []}`` 2), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


@contextlib.contextmanager
def room_for_depth() -> Iterator[None]:
    """Raise the recursion limit for the block: room for a recursive encoder at any depth."""
    needed = sys.getrecursionlimit() + MAX_DEPTH * _FRAMES_PER_LEVEL + _HEADROOM
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, needed))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact JSON bytes (orjson's output, whatever the nesting)."""
    try:
        return orjson.dumps(value)
    except TypeError as err:
        if "Recursion limit" not in str(err):
            raise
    if nesting_depth(value) > MAX_DEPTH:
        raise TooDeep()
    with room_for_depth():
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """Decode JSON; raise ``orjson.JSONDecodeError`` (a ``ValueError``) on malformed input."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        if "depth limit" not in str(err):
            raise
    text = bytes(raw).decode() if not isinstance(raw, str) else raw
    with room_for_depth():
        try:
            value = json.loads(text)
        except RecursionError:
            raise TooDeep() from None
    if nesting_depth(value) > MAX_DEPTH:
        raise TooDeep()
    return value
