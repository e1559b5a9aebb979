"""RBAC rules as data: what a controller's calls need, merged as a ClusterRole lists them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rayop.runtime.client import Obj

__all__ = ["PolicyRule", "granted", "merge_rules"]

_VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete")


@dataclass(frozen=True)
class PolicyRule:
    """One RBAC rule: API groups, resources (``x/status`` for a subresource) and verbs."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def to_obj(self) -> Obj:
        """The rule as Kubernetes writes it."""
        return {"apiGroups": list(self.api_groups), "resources": list(self.resources),
                "verbs": list(self.verbs)}

    def grants(self) -> set[tuple[str, str, str]]:
        """Every (verb, group, resource) the rule allows."""
        return {(v, g, r) for v in self.verbs for g in self.api_groups for r in self.resources}


def granted(rules: Iterable[PolicyRule]) -> set[tuple[str, str, str]]:
    """Every (verb, group, resource) a set of rules allows."""
    out: set[tuple[str, str, str]] = set()
    for rule in rules:
        out |= rule.grants()
    return out


def merge_rules(rules: Iterable[PolicyRule]) -> tuple[PolicyRule, ...]:
    """The same grants as ``rules``, as few rules as a person would write.

    Verbs are merged per (group, resource), then resources whose group and verbs agree share a
    rule, in the order the resources first appear; verbs in Kubernetes' usual order.
    """
    verbs: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule.api_groups:
            for resource in rule.resources:
                verbs.setdefault((group, resource), set()).update(rule.verbs)
    ordered: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (group, resource), vs in verbs.items():
        key = (group, tuple(sorted(vs, key=lambda v: (*_VERB_ORDER, v).index(v))))
        ordered.setdefault(key, []).append(resource)
    return tuple(PolicyRule((group,), tuple(resources), vs)
                 for (group, vs), resources in ordered.items())
