"""Label and field selectors: parsed once, matched against JSON-shaped objects.

Label selectors take Kubernetes' full string syntax — equality (``a=b``, ``a==b``, ``a!=b``) and
set-based (``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``) terms, comma-separated and ANDed.
Field selectors take ``path=value``, ``path==value`` and ``path!=value`` on dotted paths
(``metadata.name``, ``status.phase``, ``spec.nodeName``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rayop.runtime.errors import BadRequest

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "label_selector_from_match",
]

Op = Literal["=", "!=", "in", "notin", "exists", "!"]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_TERM = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_EQ_TERM = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS_TERM = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector."""

    key: str
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfy this term."""
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case "=":
                return present and value in self.values
            case "!=":
                return not present or value not in self.values
            case "in":
                return present and value in self.values
            case "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
        return False  # pragma: no cover - exhaustive above

    def __str__(self) -> str:
        vals = ",".join(sorted(self.values))
        match self.op:
            case "=" | "!=":
                return f"{self.key}{self.op}{vals}"
            case "in" | "notin":
                return f"{self.key} {self.op} ({vals})"
            case "exists":
                return self.key
            case _:
                return f"!{self.key}"


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [t for t in terms if t.strip()]


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the label selector syntax; :class:`~rayop.runtime.errors.BadRequest` if bad."""
        if not text or not text.strip():
            return cls()
        reqs: list[Requirement] = []
        for term in _split_terms(text):
            reqs.append(_parse_term(term))
        return cls(tuple(reqs))

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        """Return the selector that requires each of ``labels`` to equal its value."""
        return cls(tuple(Requirement(k, "=", frozenset([v])) for k, v in sorted(labels.items())))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Return whether ``labels`` satisfy every term."""
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        """Return whether the object's ``metadata.labels`` match."""
        return self.matches(obj.get("metadata", {}).get("labels") or {})

    @property
    def empty(self) -> bool:
        """True when the selector has no terms (and so matches everything)."""
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _parse_term(term: str) -> Requirement:
    if m := _SET_TERM.match(term):
        values = [v.strip() for v in m["values"].split(",") if v.strip()]
        for v in values:
            if not _VALUE_RE.match(v):
                raise BadRequest(f"unable to parse requirement: invalid label value: {v!r}")
        op: Op = "in" if m["op"] == "in" else "notin"
        return Requirement(m["key"], op, frozenset(values))
    if m := _EQ_TERM.match(term):
        op = "!=" if m["op"] == "!=" else "="
        return Requirement(m["key"], op, frozenset([m["value"] or ""]))
    if m := _EXISTS_TERM.match(term):
        return Requirement(m["key"], "!" if m["neg"] else "exists")
    raise BadRequest(f"unable to parse requirement: {term.strip()!r}")


def label_selector_from_match(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` object (matchLabels, matchExpressions) to a selector."""
    if not selector:
        return LabelSelector()
    reqs = [
        Requirement(k, "=", frozenset([str(v)]))
        for k, v in sorted((selector.get("matchLabels") or {}).items())
    ]
    ops: dict[str, Op] = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(str(expr.get("operator")))
        if op is None:
            raise BadRequest(f"invalid label selector operator: {expr.get('operator')!r}")
        reqs.append(Requirement(str(expr["key"]), op, frozenset(expr.get("values") or [])))
    return LabelSelector(tuple(reqs))


def _lookup(obj: Mapping[str, Any], path: str) -> str | None:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if node is None:
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: equality and inequality on dotted paths, ANDed."""

    terms: tuple[tuple[str, bool, str], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse ``path=value,path!=value``; :class:`~rayop.runtime.errors.BadRequest` if bad."""
        if not text or not text.strip():
            return cls()
        terms: list[tuple[str, bool, str]] = []
        for raw in text.split(","):
            term = raw.strip()
            if not term:
                continue
            for sep, equal in (("!=", False), ("==", True), ("=", True)):
                if sep in term:
                    path, _, value = term.partition(sep)
                    if not path.strip():
                        break
                    terms.append((path.strip(), equal, value.strip()))
                    break
            else:
                raise BadRequest(f"invalid field selector: {term!r}")
        return cls(tuple(terms))

    def value(self, path: str) -> str | None:
        """Return the value this selector requires ``path`` to equal, if it has such a term."""
        for p, equal, v in self.terms:
            if p == path and equal:
                return v
        return None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Return whether the object satisfies every term (a missing field counts as empty)."""
        for path, equal, value in self.terms:
            actual = _lookup(obj, path) or ""
            if (actual == value) != equal:
                return False
        return True

    def __str__(self) -> str:
        return ",".join(f"{p}{'=' if eq else '!='}{v}" for p, eq, v in self.terms)
