"""Bounds a reconciler puts on a spec before it walks it: nesting depth, found without recursion.

The API server accepts objects nested 10,000 levels deep wherever a schema leaves a part open
(``x-kubernetes-preserve-unknown-fields``). rayop holds and copies such objects fine
(:mod:`rayop.runtime.jsoncodec`), but a reconciler's validation, hashing and patch computation
are ordinary recursive Python: a spec hundreds of levels deep would raise ``RecursionError`` on
every reconcile. No real Kubernetes object needs more than a few dozen levels (a Pod template's
deepest fields are about 15 down), so reconcilers refuse specs nested deeper than
:data:`MAX_SPEC_DEPTH` up front, naming the field where the limit is crossed::

    >>> too_deep({"spec": {"a": [[[[1]]]]}}, limit=4)
    'spec.a[0][0]'
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_SPEC_DEPTH", "field_path", "too_deep"]

MAX_SPEC_DEPTH = 64
"""The deepest nesting a reconciled object may have (the object itself is level 1)."""


_SHOWN = 12  # the parts of a too-deep field's path worth printing


def field_path(parts: tuple[str | int, ...]) -> str:
    """Write a field path the Kubernetes way: ``spec.containers[0].env``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def too_deep(value: Any, *, limit: int = MAX_SPEC_DEPTH) -> str | None:
    """The path of the first field nested more than ``limit`` levels deep, or None.

    Paths longer than a dozen parts are cut short and end in ``...``.

    Iterative and stops at the first such field, so it is cheap on any input.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        if len(path) >= limit:
            shown = field_path(path[:_SHOWN])
            return shown if len(path) <= _SHOWN else f"{shown}..."
        stack.extend((child, (*path, key)) for key, child in items)
    return None
