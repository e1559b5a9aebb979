"""The simulation's timeline: every reconcile, write and fault, in virtual time, per object.

A :class:`Timeline` is an append-only list of :class:`Entry` records. The simulation writes to it
from three places — the reconcilers it wraps (``reconcile`` entries), the per-manager client and
dashboard links (``write`` entries, ``dashboard`` entries) and the fault machinery (``fault``
entries) — and it is what a failing test prints::

    print(sim.timeline.format(obj="default/job-1", last=40))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Entry", "Timeline"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing that happened: when, what sort, to which object, by whom, and how it went."""

    at: float
    """Virtual seconds since the simulation started."""
    what: str
    """``reconcile``, ``write``, ``dashboard``, ``fault``, ``manager`` or ``note``."""
    obj: str
    """The object concerned, as ``kind namespace/name`` (empty when none)."""
    actor: str
    """Who did it: a manager's identity, ``chaos``, ``apiserver``, ``test``."""
    detail: str

    def format(self) -> str:
        """One line: time, sort, actor, object, detail."""
        return f"{self.at:9.2f}s {self.what:<9} {self.actor:<10} {self.obj:<40} {self.detail}"


class Timeline:
    """Everything the simulation saw, oldest first; filter it by object, sort or actor."""

    def __init__(self, *, limit: int | None = None) -> None:
        self.entries: list[Entry] = []
        self._limit = limit
        self.dropped = 0

    def add(self, at: float, what: str, obj: str, actor: str, detail: str) -> None:
        """Record one entry (the oldest are dropped past ``limit``, if one was given)."""
        self.entries.append(Entry(at, what, obj, actor, detail))
        if self._limit is not None and len(self.entries) > 2 * self._limit:
            cut = len(self.entries) - self._limit
            del self.entries[:cut]
            self.dropped += cut

    def select(
        self, *, obj: str | None = None, what: str | Iterable[str] | None = None,
        actor: str | None = None,
    ) -> list[Entry]:
        """Entries about objects whose name contains ``obj``, of sort ``what``, by ``actor``."""
        whats = None if what is None else ({what} if isinstance(what, str) else set(what))
        return [e for e in self.entries
                if (obj is None or obj in e.obj) and (whats is None or e.what in whats)
                and (actor is None or e.actor == actor)]

    def count(self, what: str) -> int:
        """How many entries of sort ``what`` there are."""
        return sum(1 for e in self.entries if e.what == what)

    def counts(self) -> Counter[str]:
        """Entries by sort."""
        return Counter(e.what for e in self.entries)

    def format(self, *, obj: str | None = None, what: str | Iterable[str] | None = None,
               last: int | None = None) -> str:
        """The selected entries as text, one per line (only the ``last`` ones, if given)."""
        chosen = self.select(obj=obj, what=what)
        if last is not None:
            chosen = chosen[-last:]
        lines = [e.format() for e in chosen]
        if self.dropped:
            lines.insert(0, f"({self.dropped} older entries dropped)")
        return "\n".join(lines)
