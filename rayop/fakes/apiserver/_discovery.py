"""API discovery: ``/api``, ``/api/v1``, ``/apis``, ``/apis/{group}[/{version}]``, ``/version``.

Built from the kinds the fake cluster serves, with the short names and categories kubectl
resolves (``kubectl get po``, ``kubectl get all``). Only the legacy (unaggregated) discovery is
served; a client asking for aggregated discovery (``as=APIGroupDiscoveryList``) gets plain JSON,
which client-go and kubectl accept and fall back on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rayop.runtime.client import Kind

__all__ = ["ServedKind", "api_group", "api_group_list", "api_resource_list", "api_versions",
           "version_info"]

_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
_STATUS_VERBS = ["get", "patch", "update"]
_SHORT_NAMES: dict[tuple[str, str], list[str]] = {
    ("", "pods"): ["po"], ("", "services"): ["svc"], ("", "endpoints"): ["ep"],
    ("", "events"): ["ev"], ("", "configmaps"): ["cm"], ("", "namespaces"): ["ns"],
    ("events.k8s.io", "events"): ["ev"],
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["crd", "crds"],
}
_ALL = frozenset({("", "pods"), ("", "services"), ("batch", "jobs")})


class ServedKind:
    """One kind the REST front serves, with what discovery says about it."""

    def __init__(self, kind: Kind, *, status: bool, short_names: Iterable[str] = (),
                 categories: Iterable[str] = ()) -> None:
        self.kind = kind
        self.status = status
        key = (kind.group, kind.plural)
        self.short_names = list(short_names) or _SHORT_NAMES.get(key, [])
        self.categories = list(categories) or (["all"] if key in _ALL else [])

    def resources(self) -> list[dict[str, Any]]:
        """Return the ``APIResource`` entries of this kind (and of its status subresource)."""
        main: dict[str, Any] = {"name": self.kind.plural, "singularName": self.kind.kind.lower(),
                                "namespaced": self.kind.namespaced, "kind": self.kind.kind,
                                "verbs": _VERBS}
        if self.short_names:
            main["shortNames"] = self.short_names
        if self.categories:
            main["categories"] = self.categories
        out = [main]
        if self.status:
            out.append({"name": f"{self.kind.plural}/status", "singularName": "",
                        "namespaced": self.kind.namespaced, "kind": self.kind.kind,
                        "verbs": _STATUS_VERBS})
        return out


def version_info() -> dict[str, str]:
    """``/version``: a Kubernetes version kubectl is happy with, marked as rayop's fake."""
    return {"major": "1", "minor": "32", "gitVersion": "v1.32.0+rayop-fake",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
            "platform": "linux/amd64"}


def api_versions(address: str) -> dict[str, Any]:
    """``/api``: the core group's versions."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def api_resource_list(group_version: str, kinds: Iterable[ServedKind]) -> dict[str, Any]:
    """``/api/v1`` or ``/apis/{group}/{version}``."""
    resources = [r for k in sorted(kinds, key=lambda k: k.kind.plural) for r in k.resources()]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}


def api_group(group: str, versions: Iterable[str]) -> dict[str, Any]:
    """One ``APIGroup`` (the first version is the preferred one)."""
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": listed,
            "preferredVersion": listed[0]}


def api_group_list(groups: dict[str, list[str]]) -> dict[str, Any]:
    """``/apis``: every named group."""
    items = []
    for name in sorted(groups):
        group = api_group(name, groups[name])
        del group["kind"], group["apiVersion"]
        items.append(group)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}
