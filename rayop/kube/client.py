"""``KubeClient``: the :class:`~rayop.runtime.client.ClusterClient` contract on a real server."""

from __future__ import annotations

import math
import os
import random
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack, cast

import aiohttp
from kubernetes_asyncio.client import ApiClient, Configuration

from rayop.kube.config import (
    SERVICE_ACCOUNT_CA,
    SERVICE_ACCOUNT_TOKEN,
    KubeConfigError,
    default_kubeconfig,
    in_cluster_available,
    load_in_cluster,
    load_kubeconfig,
    open_api_client,
)
from rayop.kube.transport import Call, RetryPolicy, Transport, transport_error
from rayop.runtime import jsoncodec
from rayop.runtime.client import (
    EventType,
    Kind,
    ListResult,
    Obj,
    PatchType,
    Preconditions,
    PropagationPolicy,
    WatchEvent,
)
from rayop.runtime.clock import Clock, RealClock
from rayop.runtime.errors import ApiError, BadRequest, Cause, Invalid, NotFound, ServerError

__all__ = ["KubeClient", "KubeClientOptions"]

_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK"})
_WATCH_READ_SLACK = 30.0
"""Seconds past a watch's server-side timeout after which a silent stream counts as dead."""


class KubeClientOptions(TypedDict, total=False):
    """The keyword options every :class:`KubeClient` constructor accepts."""

    clock: Clock
    retry: RetryPolicy
    rng: random.Random
    request_timeout: float | None


class KubeClient:
    """A :class:`~rayop.runtime.client.ClusterClient` that talks to a real API server over REST.

    Any kind works, built-in or custom: the path comes from the :class:`~rayop.runtime.client.Kind`.
    Build one with :meth:`from_kubeconfig`, :meth:`in_cluster` or :meth:`auto` (these own their
    HTTP session; close it with :meth:`close` or ``async with``), or wrap a kubernetes-asyncio
    ``ApiClient`` you already have (you keep owning it unless ``owns_api_client=True``).
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        owns_api_client: bool = False,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        request_timeout: float | None = 30.0,
    ) -> None:
        self._api = api_client
        self._owns = owns_api_client
        self._request_timeout = request_timeout
        self._transport = Transport(
            api_client,
            clock=clock or RealClock(),
            retry=retry or RetryPolicy(),
            rng=rng or random.Random(),
            request_timeout=request_timeout,
        )

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    async def from_kubeconfig(
        cls,
        path: str | os.PathLike[str] | None = None,
        context: str | None = None,
        **options: Unpack[KubeClientOptions],
    ) -> KubeClient:
        """Connect as ``context`` (default: the current one) of a kubeconfig.

        ``path`` defaults to ``$KUBECONFIG`` (a list of files joined by ``os.pathsep``), then
        ``~/.kube/config``; :class:`~rayop.kube.KubeConfigError` if none is usable.
        """
        return cls._owning(await load_kubeconfig(path, context), options)

    @classmethod
    async def in_cluster(
        cls,
        *,
        token_file: str = SERVICE_ACCOUNT_TOKEN,
        ca_file: str = SERVICE_ACCOUNT_CA,
        **options: Unpack[KubeClientOptions],
    ) -> KubeClient:
        """Connect with the pod's service account (async: its session belongs to the loop)."""
        return cls._owning(load_in_cluster(token_file=token_file, ca_file=ca_file), options)

    @classmethod
    async def auto(
        cls,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        **options: Unpack[KubeClientOptions],
    ) -> KubeClient:
        """Connect as controller-runtime does: kubeconfig, $KUBECONFIG, pod, ~/.kube/config."""
        if kubeconfig is not None or context is not None or os.environ.get("KUBECONFIG"):
            return await cls.from_kubeconfig(kubeconfig, context, **options)
        if in_cluster_available():
            return await cls.in_cluster(**options)
        if default_kubeconfig() is not None:
            return await cls.from_kubeconfig(None, None, **options)
        raise KubeConfigError("no kubeconfig ($KUBECONFIG, ~/.kube/config) and not in a pod")

    @classmethod
    def _owning(cls, config: Configuration, options: KubeClientOptions) -> KubeClient:
        return cls(open_api_client(config), owns_api_client=True, **options)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def api_client(self) -> ApiClient:
        """The kubernetes-asyncio client underneath (for calls rayop does not wrap)."""
        return self._api

    @property
    def host(self) -> str:
        """The API server's URL."""
        return str(self._api.configuration.host)

    async def close(self) -> None:
        """Close the HTTP session if this client owns it; safe to call twice."""
        if self._owns:
            self._owns = False
            await self._api.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"KubeClient({self.host!r})"

    # -- reading --------------------------------------------------------------------------------

    async def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> Obj:
        """Return one object; :class:`~rayop.runtime.errors.NotFound` if it does not exist."""
        path = _object_path(kind, namespace, name)
        call = Call(method="GET", path=path, idempotent=True, namespace=namespace, name=name)
        return _as_object(await self._transport.request(call), kind)

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
        """Return the matching objects (``apiVersion``, ``kind`` filled in) and the version."""
        query = _query(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=str(limit) if limit else None,
            **{"continue": continue_token},
        )
        path = kind.path(namespace)
        call = Call(method="GET", path=path, query=query, idempotent=True, namespace=namespace)
        data = _as_dict(await self._transport.request(call), call)
        meta = data.get("metadata") or {}
        items = [_fill_kind(item, kind) for item in data.get("items") or []]
        extra = {k: meta[k] for k in ("remainingItemCount",) if k in meta}
        return ListResult(
            items=items,
            resource_version=str(meta.get("resourceVersion") or ""),
            continue_token=meta.get("continue") or None,
            extra=extra,
        )

    async def watch(
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
        """Stream changes after ``resource_version`` until the server's timeout ends the stream.

        :class:`~rayop.runtime.errors.Gone` (HTTP 410, or an in-stream ERROR with code 410) is
        raised,
        never retried here: the caller relists. Closing the iterator (``aclose``, or leaving an
        ``async for``) closes the HTTP stream.
        """
        call = Call(
            method="GET",
            path=kind.path(namespace),
            query=_watch_query(
                resource_version, label_selector, field_selector, timeout_seconds, allow_bookmarks
            ),
            idempotent=True,
            timeout=self._watch_timeout(timeout_seconds),
            namespace=namespace,
        )
        response = await self._transport.open(call)
        try:
            while line := await _read_line(response, call):
                if line.strip():
                    yield _decode_event(line, kind)
        finally:
            response.close()

    def _watch_timeout(self, timeout_seconds: float | None) -> aiohttp.ClientTimeout:
        read = None if timeout_seconds is None else timeout_seconds + _WATCH_READ_SLACK
        return aiohttp.ClientTimeout(total=None, sock_connect=self._request_timeout, sock_read=read)

    # -- writing --------------------------------------------------------------------------------

    async def create(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Create the object in its own namespace, else in ``namespace``; return it as stored."""
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or namespace
        call = Call(
            method="POST",
            path=_object_path(kind, ns, None),
            body=_with_kind(obj, kind),
            namespace=ns,
            name=meta.get("name"),
        )
        return _as_object(await self._transport.request(call), kind)

    async def replace(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace spec and metadata; a ``metadata.resourceVersion`` must be current."""
        return await self._put(kind, obj, namespace, subresource="")

    async def replace_status(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace the status subresource (``PUT .../status``)."""
        return await self._put(kind, obj, namespace, subresource="/status")

    async def _put(self, kind: Kind, obj: Obj, namespace: str | None, *, subresource: str) -> Obj:
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise Invalid(
                f"{kind}: metadata.name: Required value",
                kind=kind.kind,
                causes=[Cause("metadata.name", "Required value", "FieldValueRequired")],
            )
        ns = meta.get("namespace") or namespace
        call = Call(
            method="PUT",
            path=_object_path(kind, ns, name) + subresource,
            body=_with_kind(obj, kind),
            # A repeated PUT with a resourceVersion answers Conflict instead of clobbering.
            idempotent=bool(meta.get("resourceVersion")),
            namespace=ns,
            name=name,
        )
        return _as_object(await self._transport.request(call), kind)

    async def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch spec and metadata with the content type of ``patch_type``."""
        return await self._patch(kind, name, patch, namespace, patch_type, subresource="")

    async def patch_status(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch the status subresource (``PATCH .../status``)."""
        return await self._patch(kind, name, patch, namespace, patch_type, subresource="/status")

    async def _patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        namespace: str | None,
        patch_type: PatchType,
        *,
        subresource: str,
    ) -> Obj:
        call = Call(
            method="PATCH",
            path=_object_path(kind, namespace, name) + subresource,
            body=patch,
            content_type=str(patch_type),
            namespace=namespace,
            name=name,
        )
        return _as_object(await self._transport.request(call), kind)

    async def delete(
        self,
        kind: Kind,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: Preconditions | None = None,
    ) -> Obj | None:
        """Delete; return the object while finalizers (or a grace period) hold it, else ``None``.

        With preconditions the delete is retried like a read (a repeat cannot delete a newer
        object of the same name), and a ``NotFound`` after an attempt that may have gone through
        means the first attempt deleted it: ``None``.
        """
        body = _delete_options(propagation_policy, preconditions)
        call = Call(
            method="DELETE",
            path=_object_path(kind, namespace, name),
            body=body,
            idempotent="preconditions" in body,
            namespace=namespace,
            name=name,
        )
        try:
            data = await self._transport.request(call)
        except NotFound:
            if call.maybe_applied:
                return None
            raise
        return _still_present(data, kind)


# -- helpers ------------------------------------------------------------------------------------


def _object_path(kind: Kind, namespace: str | None, name: str | None) -> str:
    if kind.namespaced and not namespace:
        raise BadRequest(f"{kind} is namespaced: a namespace is required", name=name)
    return kind.path(namespace, name)


def _query(**params: str | None) -> list[tuple[str, str]]:
    return [(key, value) for key, value in params.items() if value]


def _watch_query(
    resource_version: str | None,
    label_selector: str | None,
    field_selector: str | None,
    timeout_seconds: float | None,
    allow_bookmarks: bool,
) -> list[tuple[str, str]]:
    timeout = None if timeout_seconds is None else str(max(1, math.ceil(timeout_seconds)))
    return _query(
        watch="true",
        resourceVersion=resource_version,
        allowWatchBookmarks="true" if allow_bookmarks else None,
        timeoutSeconds=timeout,
        labelSelector=label_selector,
        fieldSelector=field_selector,
    )


def _delete_options(
    policy: PropagationPolicy | None, preconditions: Preconditions | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if policy is not None:
        body["propagationPolicy"] = str(policy)
    if preconditions is not None:
        pre = {"uid": preconditions.uid, "resourceVersion": preconditions.resource_version}
        if pre := {k: v for k, v in pre.items() if v}:
            body["preconditions"] = pre
    return body


def _with_kind(obj: Obj, kind: Kind) -> Obj:
    """Return a shallow copy with ``apiVersion`` and ``kind`` (the caller's dict is untouched)."""
    return {"apiVersion": kind.api_version, "kind": kind.kind, **obj}


def _fill_kind(obj: Obj, kind: Kind) -> Obj:
    """Add ``apiVersion`` and ``kind`` where the server left them out (list items do)."""
    obj.setdefault("apiVersion", kind.api_version)
    obj.setdefault("kind", kind.kind)
    return obj


def _as_dict(data: Any, call: Call) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ServerError(f"{call}: expected a JSON object, got {type(data).__name__}")
    return data


def _as_object(data: Any, kind: Kind) -> Obj:
    if not isinstance(data, dict):
        raise ServerError(f"expected a {kind} object, got {type(data).__name__}")
    return _fill_kind(data, kind)


def _still_present(data: Any, kind: Kind) -> Obj | None:
    """Return the object a delete answered with if it still exists, else ``None``."""
    if not isinstance(data, dict) or data.get("kind") == "Status":
        return None
    meta = data.get("metadata") or {}
    held = bool(meta.get("finalizers")) or (meta.get("deletionGracePeriodSeconds") or 0) > 0
    # A namespace is held by its spec.finalizers ("kubernetes") while its content goes.
    held = held or bool((data.get("spec") or {}).get("finalizers"))
    return _fill_kind(data, kind) if meta.get("deletionTimestamp") and held else None


async def _read_line(response: aiohttp.ClientResponse, call: Call) -> bytes:
    try:
        return await response.content.readline()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise transport_error(exc, call) from exc


def _decode_event(line: bytes, kind: Kind) -> WatchEvent:
    """Turn one line of a watch stream into a :class:`WatchEvent`; raise an ERROR event's error."""
    try:
        data = jsoncodec.loads(line)
    except ValueError as exc:
        raise ServerError(f"malformed watch event: {exc}") from exc
    event_type = data.get("type") if isinstance(data, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise ServerError(f"malformed watch event: {line[:200]!r}")
    if event_type == "ERROR":
        raise ApiError.from_status(obj)
    if event_type not in _EVENT_TYPES:
        raise ServerError(f"unknown watch event type {event_type!r}")
    return WatchEvent(cast(EventType, event_type), _fill_kind(obj, kind))
