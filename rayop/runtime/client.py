"""The cluster-client contract: every backend (real API server, fake cluster) speaks it.

Objects travel as plain JSON-shaped dicts (``Obj``) exactly as the Kubernetes API writes them;
typed models convert at the edges. A kind is addressed by a :class:`Kind` descriptor, so any
custom resource works, not only rayop's.

Semantics are the Kubernetes API's own: ``replace`` is optimistic (a stale
``metadata.resourceVersion`` is :class:`~rayop.runtime.errors.Conflict`); ``patch`` and ``replace``
never
touch status, and the status calls never touch spec or metadata; ``watch`` resumes from a
resourceVersion and raises :class:`~rayop.runtime.errors.Gone` when that version is too old.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "BUILTIN_KINDS",
    "CONFIGMAP",
    "ENDPOINTS",
    "EVENT",
    "EVENTS_V1_EVENT",
    "JOB",
    "LEASE",
    "NAMESPACE",
    "POD",
    "SECRET",
    "SERVICE",
    "ClusterClient",
    "EventType",
    "Kind",
    "ListResult",
    "Obj",
    "PatchType",
    "Preconditions",
    "PropagationPolicy",
    "WatchEvent",
]

Obj = dict[str, Any]
"""A Kubernetes object as JSON-shaped data: ``apiVersion``, ``kind``, ``metadata``, ..."""


@dataclass(frozen=True)
class Kind:
    """Everything needed to address one kind of object on the API: group, version, names, scope."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        """``Kind.group`` as Kubernetes writes it in messages (``Pod``, ``RayJob.ray.io``)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def resource(self) -> str:
        """``plural.group`` as Kubernetes names the resource (``pods``, ``rayjobs.ray.io``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """Return the REST path of the collection or of one object."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            prefix += f"/namespaces/{namespace}"
        prefix += f"/{self.plural}"
        if name:
            prefix += f"/{name}"
        return prefix

    def __str__(self) -> str:
        return self.group_kind


POD = Kind("", "v1", "Pod", "pods")
SERVICE = Kind("", "v1", "Service", "services")
ENDPOINTS = Kind("", "v1", "Endpoints", "endpoints")
EVENT = Kind("", "v1", "Event", "events")
CONFIGMAP = Kind("", "v1", "ConfigMap", "configmaps")
SECRET = Kind("", "v1", "Secret", "secrets")
NAMESPACE = Kind("", "v1", "Namespace", "namespaces", namespaced=False)
JOB = Kind("batch", "v1", "Job", "jobs")
LEASE = Kind("coordination.k8s.io", "v1", "Lease", "leases")
EVENTS_V1_EVENT = Kind("events.k8s.io", "v1", "Event", "events")

BUILTIN_KINDS: tuple[Kind, ...] = (
    POD, SERVICE, ENDPOINTS, EVENT, CONFIGMAP, SECRET, NAMESPACE, JOB, LEASE, EVENTS_V1_EVENT
)
"""The core kinds every API server (and the fake cluster) knows without a CRD."""


class PatchType(enum.StrEnum):
    """The patch formats, by their content type."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"


class PropagationPolicy(enum.StrEnum):
    """How a delete treats the object's dependents (owner references)."""

    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


@dataclass(frozen=True)
class Preconditions:
    """A delete goes ahead only if the object still has this uid / resourceVersion."""

    uid: str | None = None
    resource_version: str | None = None


EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch stream; a BOOKMARK carries only ``metadata.resourceVersion``."""

    type: EventType
    object: Obj

    @property
    def resource_version(self) -> str:
        """The object's resourceVersion (for a bookmark, the version the stream reached)."""
        return str(self.object.get("metadata", {}).get("resourceVersion", ""))


@dataclass(frozen=True)
class ListResult:
    """The answer to ``list``: the items, the list's resourceVersion, and a continue token."""

    items: list[Obj]
    resource_version: str
    continue_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ClusterClient(Protocol):
    """The one interface reconcilers and the runtime use to read and write the cluster.

    ``namespace`` is required for namespaced kinds on every single-object verb; ``None`` on
    ``list`` and ``watch`` means all namespaces. Every failure is an
    :class:`~rayop.runtime.errors.ApiError`.
    """

    async def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> Obj:
        """Return one object; :class:`~rayop.runtime.errors.NotFound` if it does not exist."""
        ...

    async def list(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """Return the objects that match, with the resourceVersion to watch from."""
        ...

    def watch(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: float | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]:
        """Stream changes after ``resource_version``; ends when the server's timeout passes.

        Raises :class:`~rayop.runtime.errors.Gone` (at once or mid-stream) when the version is too
        old.
        Without a ``resource_version`` the stream starts with an ADDED event per existing object.
        """
        ...

    async def create(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Create the object (``metadata.generateName`` honoured) and return it as stored."""
        ...

    async def replace(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace spec and metadata; ``metadata.resourceVersion``, if set, must be current."""
        ...

    async def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch spec and metadata (merge patch, or JSON patch with ``test`` operations)."""
        ...

    async def replace_status(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace the status subresource; spec and metadata in ``obj`` are ignored."""
        ...

    async def patch_status(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch the status subresource only."""
        ...

    async def delete(
        self,
        kind: Kind,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: Preconditions | None = None,
    ) -> Obj | None:
        """Delete the object; returns it while finalizers hold it, ``None`` once it is gone."""
        ...
