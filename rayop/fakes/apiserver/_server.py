"""``ApiServer``: a :class:`~rayop.fakes.cluster.FakeCluster` served over the Kubernetes API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from aiohttp import web

from rayop.fakes.apiserver._discovery import (
    ServedKind,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    version_info,
)
from rayop.fakes.apiserver._smp import StrategicMergeError, strategic_merge
from rayop.fakes.apiserver._status import error_bytes, json_bytes, success_bytes
from rayop.fakes.apiserver._table import Column, table, wants_table
from rayop.fakes.apiserver._tls import self_signed
from rayop.fakes.cluster import FakeCluster
from rayop.runtime import jsoncodec
from rayop.runtime.client import (
    BUILTIN_KINDS,
    Kind,
    Obj,
    PatchType,
    Preconditions,
    PropagationPolicy,
)
from rayop.runtime.clock import format_time
from rayop.runtime.errors import (
    ApiError,
    BadRequest,
    Cause,
    Conflict,
    Gone,
    Invalid,
    MethodNotAllowed,
    NotFound,
    PathNotFound,
    Timeout,
    Unauthorized,
    UnsupportedMediaType,
)

__all__ = ["CRD", "ApiServer", "check_loopback"]

JSON = "application/json"
CRD = Kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
           namespaced=False)
"""CustomResourceDefinitions: the front serves them; creating one serves its kind."""
_WATCH_TRUE = frozenset({"1", "true", "True"})
_PATCH_TYPES = {str(t): t for t in PatchType}
_MEDIA = "application/json-patch+json, application/merge-patch+json"
_NOT_FOUND_PAGE = b"404 page not found\n"
_OPENAPI_PB = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_PROBES = frozenset({"/healthz", "/readyz", "/livez"})


def check_loopback(host: str) -> None:
    """Raise ``ValueError`` unless ``host`` is a loopback address (never listen wider)."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the fake API server listens on loopback only, not {host!r}")


class _Route:
    """What one request addresses: a kind, maybe a namespace, a name and a subresource."""

    __slots__ = ("kind", "name", "namespace", "served", "subresource")

    def __init__(self, served: ServedKind, namespace: str | None, name: str | None,
                 subresource: str | None) -> None:
        self.served = served
        self.kind = served.kind
        self.namespace = namespace
        self.name = name
        self.subresource = subresource


class ApiServer:
    """Serve a fake cluster through the Kubernetes REST API on 127.0.0.1, behind a bearer token.

    ::

        async with ApiServer(cluster) as server:            # port 0: any free port
            server.write_kubeconfig("kubeconfig")           # kubectl --kubeconfig kubeconfig ...
            client = await KubeClient.from_kubeconfig("kubeconfig")

    Every request but ``/healthz``, ``/readyz``, ``/livez`` and ``/version`` needs
    ``Authorization: Bearer <token>`` (401 otherwise). ``crds``: CustomResourceDefinitions whose
    printer columns and short names ``kubectl get`` shows for their kinds (rayop's own:
    ``rayop.ray.crds.generate_crds()``); CRDs created through the server are learnt too. Objects,
    errors and watch streams are
    the fake's, encoded as kube-apiserver encodes them; see ``docs/laptop-cluster.md`` for the
    paths, verbs and content types served, and what is not.
    """

    def __init__(
        self,
        cluster: FakeCluster,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        printer_columns: Mapping[Kind, list[Column]] | None = None,
        crds: Iterable[Obj] = (),
        tls: bool = True,
    ) -> None:
        check_loopback(host)
        self.tls = tls
        self._identity = self_signed() if tls else None
        self.cluster = cluster
        self.token = token or secrets.token_urlsafe(24)
        self.host = host
        self.port = port
        self.requests = 0
        """How many requests were answered (any outcome)."""
        self._columns: dict[tuple[str, str], list[Column]] = {}
        self._short: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for crd in crds:
            self._remember_crd(crd)
        for kind, columns in (printer_columns or {}).items():
            self._columns[(kind.group, kind.plural)] = list(columns)
        self._runner: web.AppRunner | None = None
        self._watches: set[asyncio.Task[Any]] = set()
        self._served: dict[tuple[str, str, str], ServedKind] = {}
        self._served_count = -1
        if not any(k == CRD for k, _ in cluster.served_kinds()):
            cluster.register_kind(CRD, status_subresource=True)

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening; :attr:`port` is then the bound port."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        context = self._identity.server_context() if self._identity is not None else None
        site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """End every open watch and stop listening; safe to call twice."""
        for task in list(self._watches):
            task.cancel()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The server's base URL, ``https://127.0.0.1:<port>`` (``http`` without TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_pem(self) -> bytes | None:
        """The PEM certificate a client must trust (None without TLS)."""
        return self._identity.cert_pem if self._identity is not None else None

    @property
    def open_watches(self) -> int:
        """How many watch streams are being served."""
        return len(self._watches)

    # -- CRDs and kubeconfig -------------------------------------------------------------------

    def register_crd(self, crd: Obj, **options: Any) -> Kind:
        """Serve a CustomResourceDefinition's kind, with its printer columns and short names."""
        kind = self.cluster.register_crd(crd, **options)
        self._remember_crd(crd)
        return kind

    def _remember_crd(self, crd: Obj) -> None:
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["plural"])
        versions = spec.get("versions") or [{}]
        version = next((v for v in versions if v.get("storage")), versions[0])
        if version.get("additionalPrinterColumns"):
            self._columns[key] = list(version["additionalPrinterColumns"])
        names = spec["names"]
        self._short[key] = (list(names.get("shortNames") or []),
                            list(names.get("categories") or []))
        self._served_count = -1

    def kubeconfig(self, *, namespace: str = "default", name: str = "rayop-dev") -> Obj:
        """Return a kubeconfig (as data) whose current context talks to this server.

        With TLS it carries the server's certificate as ``certificate-authority-data``. Without
        TLS kubectl (client-go) does not send the token, so only clients that do (rayop's
        KubeClient, kubernetes-asyncio) can use it.
        """
        cluster: dict[str, Any] = {"server": self.url}
        if self._identity is not None:
            cluster["certificate-authority-data"] = base64.b64encode(
                self._identity.cert_pem).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": {"token": self.token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name,
                                                    "namespace": namespace}}],
            "current-context": name,
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | os.PathLike[str], **options: str) -> Path:
        """Write :meth:`kubeconfig` to ``path`` (mode 0600: it holds the token); return it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(self.kubeconfig(**options), out, sort_keys=False)
        return target

    # -- dispatch ------------------------------------------------------------------------------

    def _kinds(self) -> dict[tuple[str, str, str], ServedKind]:
        served = self.cluster.served_kinds()
        if len(served) != self._served_count:
            table_: dict[tuple[str, str, str], ServedKind] = {}
            for kind, status in served:
                short, categories = self._short.get((kind.group, kind.plural), ([], []))
                table_[(kind.group, kind.version, kind.plural)] = ServedKind(
                    kind, status=status, short_names=short, categories=categories)
            self._served, self._served_count = table_, len(served)
        return self._served

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        path = request.path
        if path in _PROBES:
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return _json(version_info())
        if not self._authorized(request):
            return _error(Unauthorized("Unauthorized"))
        try:
            return await self._dispatch(request, [s for s in path.split("/") if s])
        except ApiError as err:
            if isinstance(err, PathNotFound):
                # kube-apiserver's mux, not its API: plain text, as for any unknown path
                return web.Response(status=404, body=_NOT_FOUND_PAGE, content_type="text/plain")
            return _error(err)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  self.token.encode())

    async def _dispatch(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        kinds = self._kinds()
        if parts == ["openapi", "v2"]:
            return _openapi_v2(request)
        if not parts or parts[0] not in ("api", "apis"):
            return web.Response(status=404, body=_NOT_FOUND_PAGE, content_type="text/plain")
        if parts[0] == "api":
            if len(parts) == 1:
                return _json(api_versions(f"{self.host}:{self.port}"))
            group, version, rest = "", parts[1], parts[2:]
            if version != "v1":
                raise _no_resource()
        else:
            groups: dict[str, list[str]] = {}
            for g, v, _ in kinds:
                if g and v not in groups.setdefault(g, []):
                    groups[g].append(v)
            if len(parts) == 1:
                return _json(api_group_list(groups))
            group = parts[1]
            if group not in groups:
                raise _no_resource(self.cluster.builtin_group(group))
            if len(parts) == 2:
                return _json(api_group(group, groups[group]))
            version, rest = parts[2], parts[3:]
            if version not in groups[group]:
                raise _no_resource(self.cluster.builtin_group(group))
        if not rest:
            here = [k for (g, v, _), k in kinds.items() if g == group and v == version]
            return _json(api_resource_list(f"{group}/{version}" if group else version, here))
        route = self._route(kinds, group, version, rest)
        return await self._serve(request, route)

    def _route(self, kinds: dict[tuple[str, str, str], ServedKind], group: str, version: str,
               rest: list[str]) -> _Route:
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            nested = kinds.get((group, version, rest[2]))
            if nested is not None and nested.kind.namespaced:
                namespace, rest = rest[1], rest[2:]
        served = kinds.get((group, version, rest[0]))
        if served is None or len(rest) > 3:
            raise _no_resource(self.cluster.builtin_group(group))
        if served.kind.namespaced and namespace is None and len(rest) > 1:
            raise _no_resource()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and (sub != "status" or not served.status):
            raise _no_resource()
        return _Route(served, namespace, name, sub)

    async def _serve(self, request: web.Request, route: _Route) -> web.StreamResponse:
        method = request.method
        if method == "GET":
            if route.name is not None:
                obj = await self.cluster.get(route.kind, route.name, namespace=route.namespace)
                return self._object(request, route, obj)
            if request.query.get("watch") in _WATCH_TRUE:
                return await self._watch(request, route)
            return await self._list(request, route)
        if request.query.get("dryRun") and method != "DELETE":
            raise BadRequest("dryRun is not supported by the fake API server (except on DELETE)")
        if method == "POST" and route.name is None:
            return await self._create(request, route)
        if method == "DELETE" and route.name is not None and route.subresource is None:
            return await self._delete(request, route)
        if method == "PUT" and route.name is not None:
            return await self._replace(request, route)
        if method == "PATCH" and route.name is not None:
            return await self._patch(request, route)
        raise MethodNotAllowed(f"the server does not allow this method on the requested "
                               f"resource: {method}")

    # -- reads ---------------------------------------------------------------------------------

    def _object(self, request: web.Request, route: _Route, obj: Obj, status: int = 200
                ) -> web.Response:
        if wants_table(request.headers.get("Accept", "")):
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            return _json(self._table(request, route, [obj], rv), status)
        return _json(obj, status)

    def _table(self, request: web.Request, route: _Route, objects: Iterable[Obj],
               rv: str | None, continue_token: str | None = None) -> dict[str, Any]:
        return table(route.kind, objects, self._columns.get((route.kind.group, route.kind.plural)),
                     now=self.cluster.clock.now(),
                     include_object=request.query.get("includeObject", "Metadata"),
                     resource_version=rv, continue_token=continue_token)

    async def _list(self, request: web.Request, route: _Route) -> web.Response:
        q = request.query
        result = await self.cluster.list(
            route.kind, namespace=route.namespace, label_selector=q.get("labelSelector") or None,
            field_selector=q.get("fieldSelector") or None, limit=_int(q, "limit"),
            continue_token=q.get("continue") or None)
        if wants_table(request.headers.get("Accept", "")):
            return _json(self._table(request, route, result.items, result.resource_version,
                                     result.continue_token))
        meta: dict[str, Any] = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if "remainingItemCount" in result.extra:
            meta["remainingItemCount"] = result.extra["remainingItemCount"]
        return _json({"kind": f"{route.kind.kind}List", "apiVersion": route.kind.api_version,
                      "metadata": meta, "items": result.items})

    async def _watch(self, request: web.Request, route: _Route) -> web.StreamResponse:
        q = request.query
        timeout = _int(q, "timeoutSeconds")
        events = self.cluster.watch(
            route.kind, namespace=route.namespace, resource_version=q.get("resourceVersion"),
            label_selector=q.get("labelSelector") or None,
            field_selector=q.get("fieldSelector") or None,
            timeout_seconds=float(timeout) if timeout else None,
            allow_bookmarks=q.get("allowWatchBookmarks") in _WATCH_TRUE)
        as_table = wants_table(request.headers.get("Accept", ""))
        task = asyncio.current_task()
        assert task is not None
        self._watches.add(task)
        first = asyncio.ensure_future(_next(events))
        try:
            for _ in range(8):  # the fake opens a watch within a few steps, or raises
                if first.done():
                    break
                await asyncio.sleep(0)
            if first.done() and not first.cancelled():
                exc = first.exception()
                if isinstance(exc, ApiError) and not isinstance(exc, Gone | Timeout):
                    raise exc
            response = web.StreamResponse(headers={"Content-Type": JSON})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await self._pump(response, request, route, events, first, as_table)
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response
        finally:
            if not first.done():
                first.cancel()
            with contextlib.suppress(BaseException):
                await first
            with contextlib.suppress(BaseException):
                await events.aclose()  # type: ignore[attr-defined]
            self._watches.discard(task)

    async def _pump(self, response: web.StreamResponse, request: web.Request, route: _Route,
                    events: AsyncIterator[Any], first: asyncio.Future[Any], as_table: bool
                    ) -> None:
        pending: Any = first
        while True:
            try:
                event = await pending
            except StopAsyncIteration:
                return
            except ApiError as err:
                await _write(response, b'{"type":"ERROR","object":' + error_bytes(err)[:-1]
                             + b"}\n")
                return
            obj = event.object
            if as_table and event.type != "BOOKMARK":
                obj = self._table(request, route, [obj], event.resource_version)
            if not await _write(response, jsoncodec.dumps({"type": event.type, "object": obj})
                                + b"\n"):
                return
            pending = _next(events)

    # -- writes --------------------------------------------------------------------------------

    async def _create(self, request: web.Request, route: _Route) -> web.Response:
        body = await _body(request)
        if route.kind == CRD:
            _check_crd(body)
        obj = await self.cluster.create(route.kind, body, namespace=route.namespace)
        if route.kind == CRD:
            obj = await self._establish(obj)
        return self._object(request, route, obj, 201)

    async def _establish(self, crd: Obj) -> Obj:
        """Serve a created CRD's kind (unless already served: rayop's keep their validators)."""
        spec = crd["spec"]
        versions = spec.get("versions") or [{}]
        version = next((v for v in versions if v.get("storage")), versions[0])
        key = (spec["group"], version.get("name"), spec["names"]["plural"])
        if key not in self._kinds():
            self.register_crd(crd)
        else:
            self._remember_crd(crd)
        now = format_time(self.cluster.clock.now())
        crd["status"] = {
            "acceptedNames": spec["names"], "storedVersions": [version.get("name")],
            "conditions": [{"type": t, "status": "True", "reason": r, "message": m,
                            "lastTransitionTime": now}
                           for t, r, m in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                                           ("Established", "InitialNamesAccepted",
                                            "the initial names have been accepted"))]}
        return await self.cluster.replace_status(CRD, crd)

    async def _replace(self, request: web.Request, route: _Route) -> web.Response:
        body = await _body(request)
        given = (body.get("metadata") or {}).get("name") if isinstance(body.get("metadata"),
                                                                        dict) else None
        if given != route.name:
            raise BadRequest(f"the name of the object ({given or ''}) does not match the name "
                             f"on the URL ({route.name})")
        if route.subresource == "status":
            obj = await self.cluster.replace_status(route.kind, body, namespace=route.namespace)
        else:
            obj = await self.cluster.replace(route.kind, body, namespace=route.namespace)
        return self._object(request, route, obj)

    async def _patch(self, request: web.Request, route: _Route) -> web.Response:
        content_type = request.content_type
        patch_type = _PATCH_TYPES.get(content_type)
        builtin = route.kind in BUILTIN_KINDS
        accepted = _MEDIA + (", application/strategic-merge-patch+json" if builtin else "")
        if content_type.startswith("application/apply-patch"):
            raise UnsupportedMediaType(
                "server-side apply is not implemented by rayop's fake API server (use "
                f"client-side kubectl apply) - accepted media types include: {accepted}")
        if patch_type is None or (patch_type is PatchType.STRATEGIC and not builtin):
            # kube-apiserver's own words (it lists server-side apply, which it has)
            raise UnsupportedMediaType("the body of the request was in an unknown format - "
                                       f"accepted media types include: {accepted}, "
                                       "application/apply-patch+yaml")
        assert route.name is not None
        try:
            patch = jsoncodec.loads(await request.read())
        except ValueError as exc:
            raise BadRequest(f"error decoding patch: {exc}") from None
        status = route.subresource == "status"
        if patch_type is PatchType.STRATEGIC:
            obj = await self._strategic(route, route.name, patch, status=status)
        elif status:
            obj = await self.cluster.patch_status(route.kind, route.name, patch,
                                                  namespace=route.namespace, patch_type=patch_type)
        else:
            obj = await self.cluster.patch(route.kind, route.name, patch,
                                           namespace=route.namespace, patch_type=patch_type)
        return self._object(request, route, obj)

    async def _strategic(self, route: _Route, name: str, patch: Any, *, status: bool) -> Obj:
        """Apply a strategic merge patch as the server does: read, merge, write if unchanged."""
        pinned = isinstance(patch, dict) and bool((patch.get("metadata") or {})
                                                  .get("resourceVersion"))
        for _ in range(8):
            current = await self.cluster.get(route.kind, name, namespace=route.namespace)
            try:
                merged = strategic_merge(current, patch, kind=route.kind.kind)
            except StrategicMergeError as exc:
                raise BadRequest(str(exc)) from None
            meta = merged.get("metadata")
            if not isinstance(meta, dict) or meta.get("name") != name:
                raise BadRequest("a patch may not change an object's name or namespace")
            if not pinned:
                meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                if status:
                    return await self.cluster.replace_status(route.kind, merged,
                                                             namespace=route.namespace)
                return await self.cluster.replace(route.kind, merged, namespace=route.namespace)
            except Conflict:
                if pinned:
                    raise
        raise Conflict(f'Operation cannot be fulfilled on {route.kind.resource} "{name}": '
                       "the object kept changing under a strategic merge patch")

    async def _delete(self, request: web.Request, route: _Route) -> web.Response:
        assert route.name is not None
        raw = await request.read()
        try:
            options = jsoncodec.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise BadRequest(f"error decoding DeleteOptions: {exc}") from None
        if not isinstance(options, dict):
            raise BadRequest("DeleteOptions must be a JSON object")
        q = request.query
        policy_text = options.get("propagationPolicy") or q.get("propagationPolicy")
        orphan = options.get("orphanDependents", q.get("orphanDependents"))
        if policy_text is None and orphan in (True, "true"):
            policy_text = "Orphan"
        policy = _policy(policy_text)
        pre = options.get("preconditions") or {}
        preconditions = None
        if isinstance(pre, dict) and (pre.get("uid") or pre.get("resourceVersion")):
            preconditions = Preconditions(uid=pre.get("uid"),
                                          resource_version=pre.get("resourceVersion"))
        dry_run = options.get("dryRun") or q.getall("dryRun", [])
        kind, ns = route.kind, route.namespace
        if dry_run:
            return await self._dry_delete(request, route, route.name, preconditions)
        held = await self.cluster.delete(kind, route.name, namespace=ns,
                                         propagation_policy=policy, preconditions=preconditions)
        if held is not None:
            return self._object(request, route, held, 202)
        return _raw(success_bytes(name=route.name, group=kind.group, kind=kind.plural, uid=None))

    async def _dry_delete(self, request: web.Request, route: _Route, name: str,
                          pre: Preconditions | None) -> web.Response:
        """``dryRun=All``: check that the delete would go ahead, change nothing."""
        obj = await self.cluster.get(route.kind, name, namespace=route.namespace)
        meta = obj["metadata"]
        if pre is not None and ((pre.uid and pre.uid != meta.get("uid")) or (
                pre.resource_version and pre.resource_version != meta.get("resourceVersion"))):
            raise Conflict(f'Operation cannot be fulfilled on {route.kind.resource} "{name}": '
                           "Precondition failed")
        if meta.get("finalizers"):
            meta.setdefault("deletionTimestamp", obj["metadata"]["creationTimestamp"])
            return self._object(request, route, obj, 202)
        kind = route.kind
        return _raw(success_bytes(name=name, group=kind.group, kind=kind.plural,
                                  uid=meta.get("uid")))


# -- helpers -------------------------------------------------------------------------------------


async def _next(events: AsyncIterator[Any]) -> Any:
    return await events.__anext__()


async def _write(response: web.StreamResponse, data: bytes) -> bool:
    try:
        await response.write(data)
    except ConnectionError:
        return False
    return True


def _check_crd(body: Obj) -> None:
    """Refuse a CustomResourceDefinition the front could not serve, naming the field."""
    spec = body.get("spec")
    causes: list[Cause] = []
    if not isinstance(spec, dict):
        causes.append(Cause("spec", "Required value", "FieldValueRequired"))
    else:
        given = spec.get("names")
        names: dict[str, Any] = given if isinstance(given, dict) else {}
        for field, value in (("spec.group", spec.get("group")),
                             ("spec.names.kind", names.get("kind")),
                             ("spec.names.plural", names.get("plural"))):
            if not isinstance(value, str) or not value:
                causes.append(Cause(field, "Required value", "FieldValueRequired"))
        versions = spec.get("versions")
        if not isinstance(versions, list) or not versions or not all(
                isinstance(v, dict) and v.get("name") for v in versions):
            causes.append(Cause("spec.versions", "Invalid value: must have exactly one version "
                                "marked as storage version"))
    if causes:
        name = str((body.get("metadata") or {}).get("name") or "")
        raise Invalid(f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: '
                      + ", ".join(f"{c.field}: {c.message}" for c in causes),
                      kind="CustomResourceDefinition", group="apiextensions.k8s.io", name=name,
                      causes=causes)


def _openapi_v2(request: web.Request) -> web.Response:
    """An OpenAPI v2 document with no schemas: clients skip validating kinds it lacks.

    kubectl validates manifests against the server's OpenAPI; with no schema for a kind it lets
    the server decide (as this front does: the fake validates ray.io kinds itself). kubectl asks
    for protobuf, where an empty message is the empty document.
    """
    if "protobuf" in request.headers.get("Accept", ""):
        return web.Response(body=b"", content_type=_OPENAPI_PB)
    return _json({"swagger": "2.0", "info": {"title": "rayop fake API server",
                                             "version": "v1.32.0"}, "paths": {}})


def _no_resource(builtin_group: bool = True) -> NotFound:
    # Outside the built-in groups kube-apiserver answers a plain "404 page not found".
    if not builtin_group:
        return PathNotFound()
    return NotFound("the server could not find the requested resource")


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json_bytes(value), content_type=JSON)


def _raw(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type=JSON)


def _error(err: ApiError) -> web.Response:
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(err.retry_after)))
    return web.Response(status=err.status_code, body=error_bytes(err), content_type=JSON,
                        headers=headers)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = jsoncodec.loads(await request.read())
    except ValueError as exc:
        raise BadRequest(f"the object provided is unrecognized (not JSON: {exc})") from None
    if not isinstance(body, dict):
        raise BadRequest("the object provided is unrecognized (not a JSON object)")
    return body


def _int(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"invalid {name}: {text!r} is not an integer") from None
    if value < 0:
        raise BadRequest(f"invalid {name}: must not be negative")
    return value


def _policy(text: Any) -> PropagationPolicy | None:
    if text is None:
        return None
    try:
        return PropagationPolicy(text)
    except ValueError:
        cause = Cause("propagationPolicy", f'Unsupported value: "{text}": supported values: '
                      '"Foreground", "Background", "Orphan", "nil"', "FieldValueNotSupported")
        raise Invalid(f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                      f"{cause.message}", kind="DeleteOptions", group="meta.k8s.io",
                      causes=[cause]) from None
