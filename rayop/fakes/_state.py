"""The fake cluster's storage: entries, the change history, kind registrations, API messages.

A stored object is its JSON bytes (``raw``), from which every copy is decoded, plus its parsed
``metadata`` (read internally for labels, owner references and finalizers; never mutated). The
whole object is not kept parsed: thousands of large dicts would make Python's garbage collector
the main cost of a busy fake (DESIGN.md section 8).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from rayop.runtime import jsoncodec
from rayop.runtime.client import Kind, Obj
from rayop.runtime.errors import (
    AlreadyExists,
    Cause,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    PathNotFound,
)

KindKey = tuple[str, str]
"""(group, plural): how the fake files a kind."""
ObjKey = tuple[str, str]
"""(namespace, name); the namespace is "" for cluster-scoped kinds."""
ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
Validator = Callable[[Obj], list[Cause]]


def kind_key(kind: Kind) -> KindKey:
    """Return the key the fake files ``kind`` under."""
    return (kind.group, kind.plural)


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored version of an object: its bytes and its (read-only) parsed metadata."""

    raw: bytes
    meta: dict[str, Any]

    @classmethod
    def of(cls, obj: Obj) -> Entry:
        """Freeze ``obj`` (whose metadata the caller must not touch afterwards) into an entry."""
        return cls(jsoncodec.dumps(obj), obj["metadata"])

    @property
    def obj(self) -> Obj:
        """A freshly decoded copy of the whole object (the caller's to change)."""
        result: Obj = jsoncodec.loads(self.raw)
        return result

    @property
    def rv(self) -> int:
        """The entry's resourceVersion as an integer."""
        return int(self.meta["resourceVersion"])

    def copy(self) -> Obj:
        """Return a fresh, caller-owned copy of the object."""
        result: Obj = jsoncodec.loads(self.raw)
        return result


@dataclass(frozen=True, slots=True)
class Change:
    """One committed write: the history a watch replays and a stale read rewinds."""

    rv: int
    kind: KindKey
    key: ObjKey
    type: ChangeType
    new: Entry
    old: Entry | None


@dataclass
class KindInfo:
    """A kind the fake serves, with its per-kind rules."""

    kind: Kind
    validator: Validator | None = None
    status_subresource: bool = True
    field_labels: frozenset[str] = field(default_factory=frozenset)
    builtin: bool = False
    """A kind the API server has built in; otherwise a custom resource (a CRD's kind)."""
    generation: bool = True
    """Whether objects of the kind carry ``metadata.generation`` (custom resources do; among
    the built-in kinds, Pods and Jobs do, ConfigMaps, Services, Leases, ... do not)."""

    @property
    def unconditional_update(self) -> bool:
        """Whether an update without a resourceVersion is allowed (built-in kinds only)."""
        return self.builtin


class History:
    """The last ``size`` changes, oldest first; a version before the window answers ``Gone``."""

    def __init__(self, size: int) -> None:
        self._changes: deque[Change] = deque()
        self._size = max(1, size)
        self.floor = 0
        """Every change after this resourceVersion is still held."""

    def append(self, change: Change) -> None:
        """Record a change, dropping the oldest past the window."""
        self._changes.append(change)
        if len(self._changes) > self._size:
            self.floor = self._changes.popleft().rv

    def since(self, rv: int) -> Iterator[Change]:
        """Yield the changes after ``rv``, oldest first (``rv`` must be >= ``floor``)."""
        for change in self._changes:
            if change.rv > rv:
                yield change

    def newer_than(self, rv: int) -> Iterator[Change]:
        """Yield the changes after ``rv``, newest first."""
        for change in reversed(self._changes):
            if change.rv <= rv:
                return
            yield change

    def check(self, rv: int) -> None:
        """Raise ``Gone`` when the changes after ``rv`` are no longer all held."""
        if rv < self.floor:
            raise Gone(f"too old resource version: {rv} ({self.floor + 1})", reason="Expired")

    def rewind(self, kind: KindKey, current: dict[ObjKey, Entry], rv: int) -> dict[ObjKey, Entry]:
        """Return the objects of ``kind`` as they were at ``rv`` (given the current ones)."""
        self.check(rv)
        state = dict(current)
        for change in self.newer_than(rv):
            if change.kind != kind:
                continue
            if change.old is None:
                state.pop(change.key, None)
            else:
                state[change.key] = change.old
        return state


# -- the API server's messages -----------------------------------------------------------------


def not_found(kind: Kind, name: str) -> NotFound:
    """``rayjobs.ray.io "x" not found``."""
    return NotFound(f'{kind.resource} "{name}" not found', **_details(kind, name))


def unknown_kind(kind: Kind, *, builtin_group: bool = True) -> NotFound:
    """What a server says for a resource it does not serve.

    Under a built-in group (core ``v1``, ``batch``, ...) the answer is a Status; under any other
    group (where CRDs are served) the server answers a plain-text ``404 page not found``.
    """
    if not builtin_group:
        return PathNotFound()
    return NotFound("the server could not find the requested resource", group=kind.group)


def already_exists(kind: Kind, name: str) -> AlreadyExists:
    """``rayjobs.ray.io "x" already exists``."""
    return AlreadyExists(f'{kind.resource} "{name}" already exists', **_details(kind, name))


def conflict(kind: Kind, name: str, why: str | None = None) -> Conflict:
    """The optimistic-concurrency answer for a stale resourceVersion (or a failed precondition)."""
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return Conflict(
        f'Operation cannot be fulfilled on {kind.resource} "{name}": {why}',
        **_details(kind, name),
    )


def invalid(kind: Kind, name: str, causes: list[Cause], *, by_resource: bool = False) -> Invalid:
    """``RayJob.ray.io "x" is invalid: field: message`` with every cause.

    ``by_resource`` names the kind as ``rayjobs.ray.io`` instead (the storage layer's wording,
    used for a missing resourceVersion on update).
    """
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return Invalid(
        f'{kind.resource if by_resource else kind.group_kind} "{name}" is invalid: {text}',
        kind=kind.kind,
        group=kind.group,
        name=name,
        causes=causes,
    )


def _details(kind: Kind, name: str) -> dict[str, Any]:
    return {"kind": kind.plural, "group": kind.group, "name": name}
