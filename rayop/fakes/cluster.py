"""``FakeCluster``: an in-memory Kubernetes API server behind the ``ClusterClient`` contract.

It behaves like an API server, not like a dict:

- one cluster-wide, strictly increasing ``resourceVersion``; ``uid`` (from the seed),
  ``creationTimestamp`` (from the clock), ``generateName``; ``generation`` (custom kinds, Pods
  and Jobs only) is 1 on create and bumps when anything but metadata and status changes, and
  when deletion starts;
- status only through ``replace_status`` / ``patch_status``, which change nothing else; create,
  replace and patch leave status alone (for kinds with a status subresource); a write that
  changes nothing gets no new resourceVersion and no watch event;
- ``Conflict`` on a stale resourceVersion (replace, or a patch carrying one) or another uid,
  ``AlreadyExists``, ``NotFound`` and ``Invalid`` with Kubernetes' messages; a replace of a
  custom resource must carry a resourceVersion (built-in kinds allow unconditional updates);
  names, generateName, labels, annotations and owner references checked as the server does;
- deletion with finalizers (``deletionTimestamp``; no new finalizers once deleting; removing the
  last one deletes), owner-reference garbage collection (Background, Foreground, Orphan, and
  owners that never existed) run synchronously inside the request, see ``_gc.py``;
- namespaces: ``default``, ``kube-system`` and ``kube-public`` exist; creating in a missing one
  is ``NotFound``, in a terminating one ``Forbidden``; deleting one deletes what is in it and
  the namespace goes once they are gone (at once, unless finalizers hold some);
- lists sorted by namespace/name, label and field selectors (the fields each kind supports),
  ``limit`` / ``continue`` served from a consistent snapshot (an expired one is ``Gone``);
- watches from any resourceVersion still in the bounded history (``Gone`` for older ones; one
  not reached yet is waited for), synthetic ADDED events without one, selector transitions as
  ADDED/DELETED, bookmarks every ``bookmark_interval`` clock seconds, server-side timeouts,
  and a bounded buffer per watcher (a watcher that falls ``watch_buffer`` events behind has its
  stream ended, as a server does);
- CRD kinds through :meth:`FakeCluster.register_kind` with an optional validator (422);
- every returned object is the caller's own copy; every request is recorded in ``calls``;
- faults from a seeded :class:`~rayop.fakes.faults.FaultPlan`; time from the injected clock.

What it does NOT emulate:

- server-side apply and managedFields; strategic merge patch (``UnsupportedMediaType``);
- admission (webhooks, defaulting, quotas, LimitRanges), RBAC and authentication;
- built-in kinds' own validation and defaulting (of a Pod, only containers with a name and an
  image, and the immutability of its spec, are checked; a Service gets no cluster IP);
  OpenAPI schemas, unless a validator is registered; field pruning;
- the controllers: nothing schedules or runs pods (see the kubelet simulator), no endpoints,
  service IPs, job controllers or TTLs; only the garbage collector and namespace deletion run;
- graceful deletion periods (every deletion is immediate, ``deletionGracePeriodSeconds: 0``);
- API discovery, versions and conversion (one version per kind), ``sendInitialEvents``, the
  watch-list feature, ``resourceVersionMatch``, ``dryRun``, table output, subresources other
  than status (scale, log, exec, eviction);
- a namespace's deletion finishes as soon as it is empty (a real one waits 5 s at least);
- messages of a few refusals differ (JSON patch failures, label selector syntax, field selectors
  of built-in kinds); see ``docs/fake-vs-real.md`` for every difference found against
  kube-apiserver 1.36, and what was done about each.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rayop.fakes._core import Core
from rayop.fakes._state import (
    Change,
    Entry,
    KindInfo,
    ObjKey,
    Validator,
    kind_key,
    not_found,
    unknown_kind,
)
from rayop.fakes._watch import Filter, Pending, StreamOptions, Watcher, WatchHub, stream
from rayop.fakes.faults import Decision, FaultPlan
from rayop.runtime import jsoncodec
from rayop.runtime.client import (
    BUILTIN_KINDS,
    EVENT,
    JOB,
    NAMESPACE,
    POD,
    SECRET,
    SERVICE,
    Kind,
    ListResult,
    Obj,
    PatchType,
    Preconditions,
    PropagationPolicy,
    WatchEvent,
)
from rayop.runtime.clock import Clock, RealClock
from rayop.runtime.errors import ApiError, BadRequest, Gone
from rayop.runtime.selectors import FieldSelector, LabelSelector

__all__ = ["FakeCluster", "RecordedCall"]

_STATUS_KINDS = frozenset({POD, SERVICE, NAMESPACE, JOB})
_GENERATION_KINDS = frozenset({POD, JOB})
"""The built-in kinds with ``metadata.generation`` (kube-apiserver 1.36; custom kinds all have)."""
_FIELD_LABELS: dict[Kind, frozenset[str]] = {
    POD: frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                    "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                    "status.podIP", "status.nominatedNodeName"}),
    EVENT: frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                      "involvedObject.uid", "involvedObject.apiVersion",
                      "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                      "reportingComponent", "source", "type"}),
    SECRET: frozenset({"type"}),
    NAMESPACE: frozenset({"status.phase"}),
    JOB: frozenset({"status.successful"}),
}
_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_NO_FAULT = Decision()
_Opened = tuple[Watcher, list[Pending]]


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One request the fake served (or refused), in the order they came."""

    verb: str
    kind: str
    namespace: str | None
    name: str | None
    outcome: str
    """``"ok"``, or the class name of the error the caller got."""
    resource_version: str
    """The answer's resourceVersion (object or list); the cluster's for errors and deletes."""
    at: float
    """The clock's monotonic time when the request was answered."""


@dataclass
class _Page:
    entries: list[Entry]
    rv: int
    continue_token: str | None
    remaining: int | None


class FakeCluster:
    """An in-memory API server that implements :class:`~rayop.runtime.client.ClusterClient`."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        history: int = 10_000,
        faults: FaultPlan | None = None,
        watch_buffer: int = 10_000,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.clock: Clock = clock or RealClock()
        self.faults = faults if faults is not None else FaultPlan(seed=seed)
        self.calls: list[RecordedCall] = []
        self.watch_buffer = watch_buffer
        self.bookmark_interval = bookmark_interval
        self._core = Core(clock=self.clock, rng=random.Random(seed), history=history)
        self._hub = WatchHub()
        self._core.listeners.append(self._hub.publish)
        for kind in BUILTIN_KINDS:
            self.register_kind(kind, status_subresource=kind in _STATUS_KINDS,
                               field_labels=_FIELD_LABELS.get(kind, ()), builtin=True,
                               generation=kind in _GENERATION_KINDS)
        for name in ("default", "kube-system", "kube-public"):
            self._core.create(NAMESPACE, {"metadata": {"name": name}}, None)

    # -- kinds ---------------------------------------------------------------------------------

    def register_kind(
        self,
        kind: Kind,
        *,
        validator: Validator | None = None,
        status_subresource: bool = True,
        field_labels: Iterable[str] = (),
        builtin: bool = False,
        generation: bool = True,
    ) -> None:
        """Serve ``kind`` (a CRD); ``validator(obj)`` returns the causes of an Invalid answer.

        ``builtin`` marks a kind the API server has built in (updates without a resourceVersion
        allowed, strategic merge patch known); ``generation=False`` for kinds whose objects carry
        no ``metadata.generation``.
        """
        self._core.register(KindInfo(kind, validator, status_subresource, frozenset(field_labels),
                                     builtin=builtin, generation=generation))

    def register_crd(self, crd: Obj, *, validator: Validator | None = None) -> Kind:
        """Serve the kind a CustomResourceDefinition object defines (its storage version)."""
        spec = crd["spec"]
        versions = spec.get("versions") or []
        version = next((v for v in versions if v.get("storage")), versions[0] if versions else {})
        kind = Kind(spec["group"], version["name"], spec["names"]["kind"],
                    spec["names"]["plural"], namespaced=spec.get("scope") != "Cluster")
        has_status = "status" in (version.get("subresources") or {})
        self.register_kind(kind, validator=validator, status_subresource=has_status)
        return kind

    def builtin_group(self, group: str) -> bool:
        """Whether ``group`` is core or a built-in kind's group.

        An unknown resource there answers a Status; under a CRD's group, the real server answers
        a plain ``404 page not found``.
        """
        return self._core.builtin_group(group)

    def served_kinds(self) -> list[tuple[Kind, bool]]:
        """Return every kind served, each with whether it has a status subresource."""
        return [(info.kind, info.status_subresource) for info in self._core.kinds.values()]

    # -- convenience ---------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The cluster's current resourceVersion."""
        return str(self._core.rv)

    def objects(self, kind: Kind, namespace: str | None = None) -> list[Obj]:
        """Return copies of every stored object of ``kind``, sorted by namespace and name."""
        bucket = self._core.buckets[kind_key(self._core.info(kind).kind)]
        return [bucket[k].copy() for k in sorted(bucket) if namespace in (None, k[0])]

    def on_change(self, listener: Callable[[str, Obj], None], *, kinds: Iterable[Kind]) -> None:
        """Call ``listener(type, obj)`` after every committed write to one of ``kinds``.

        Sees every version, in commit order, untouched by the fault plan (watches may drop or
        expire; this does not): for monitors and invariant checks, not for controllers.
        """
        wanted = {kind_key(kind) for kind in kinds}

        def relay(change: Change) -> None:
            if change.kind in wanted:
                listener(change.type, change.new.copy())

        self._core.listeners.append(relay)

    @property
    def open_watches(self) -> int:
        """How many watch streams are open."""
        return self._hub.count()

    # -- reading -------------------------------------------------------------------------------

    async def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> Obj:
        """Return a copy of one object; ``NotFound`` if it does not exist."""
        ns = _ns(kind, namespace)
        decision = await self._enter("get", kind, ns, name)
        entry = self._serve("get", kind, ns, name, decision,
                            lambda: self._read(kind, name, namespace, decision.stale_revisions))
        assert isinstance(entry, Entry)
        return entry.copy()

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
        """Return the matching objects, sorted by namespace and name, and the list version."""
        ns = _ns(kind, namespace)
        decision = await self._enter("list", kind, ns, None)
        page = self._serve("list", kind, ns, None, decision, lambda: self._list(
            kind, ns, label_selector, field_selector, limit, continue_token,
            decision.stale_revisions))
        assert isinstance(page, _Page)
        extra = {} if page.remaining is None else {"remainingItemCount": page.remaining}
        return ListResult([e.copy() for e in page.entries], str(page.rv),
                          page.continue_token, extra)

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
        """Stream changes after ``resource_version`` (see the module docstring)."""
        ns = _ns(kind, namespace)
        decision = await self._enter("watch", kind, ns, None)
        opened = self._serve("watch", kind, ns, None, decision, lambda: self._open_watch(
            kind, ns, resource_version, label_selector, field_selector))
        assert isinstance(opened, tuple)
        watcher, initial = opened
        fault = decision.watch_fault
        opts = StreamOptions(
            kind=self._core.info(kind).kind, clock=self.clock, current_rv=lambda: self._core.rv,
            timeout=timeout_seconds,
            bookmark_interval=self.bookmark_interval if allow_bookmarks else None,
            drop_after=fault.after_events if fault and not fault.expire else None,
            expire_after=fault.after_events if fault and fault.expire else None,
        )
        try:
            async for event in stream(watcher, initial, opts):
                yield event
        finally:
            self._hub.remove(watcher)

    # -- writing -------------------------------------------------------------------------------

    async def create(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Create the object and return it as stored."""
        meta = obj.get("metadata") or {} if isinstance(obj, dict) else {}
        ns = _ns(kind, meta.get("namespace") or namespace)
        name = meta.get("name") or meta.get("generateName")
        decision = await self._enter("create", kind, ns, name)
        entry = self._serve("create", kind, ns, name, decision,
                            lambda: self._core.create(kind, _private(obj), namespace))
        assert isinstance(entry, Entry)
        return entry.copy()

    async def replace(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace spec and metadata; a ``metadata.resourceVersion``, if set, must be current."""
        return await self._update("replace", kind, obj, namespace, status=False)

    async def replace_status(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace the status; everything else in ``obj`` is ignored."""
        return await self._update("replace_status", kind, obj, namespace, status=True)

    async def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch spec and metadata with a merge patch or a JSON patch."""
        return await self._patch("patch", kind, name, patch, namespace, patch_type, status=False)

    async def patch_status(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch the status only."""
        return await self._patch("patch_status", kind, name, patch, namespace, patch_type,
                                 status=True)

    async def delete(
        self,
        kind: Kind,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: Preconditions | None = None,
    ) -> Obj | None:
        """Delete; return the object while finalizers hold it, ``None`` once it is gone."""
        ns = _ns(kind, namespace)
        decision = await self._enter("delete", kind, ns, name)
        entry = self._serve("delete", kind, ns, name, decision, lambda: self._core.delete(
            kind, name, namespace, policy=propagation_policy, preconditions=preconditions))
        return entry.copy() if isinstance(entry, Entry) else None

    # -- internals -----------------------------------------------------------------------------

    async def _update(
        self, verb: str, kind: Kind, obj: Obj, namespace: str | None, *, status: bool
    ) -> Obj:
        meta = obj.get("metadata") or {} if isinstance(obj, dict) else {}
        ns, name = _ns(kind, meta.get("namespace") or namespace), meta.get("name")
        decision = await self._enter(verb, kind, ns, name)

        def serve() -> Entry:
            if status:
                self._require_status(kind)
            return self._core.update(kind, _private(obj), namespace, status=status)

        entry = self._serve(verb, kind, ns, name, decision, serve)
        assert isinstance(entry, Entry)
        return entry.copy()

    async def _patch(
        self, verb: str, kind: Kind, name: str, patch: Any, namespace: str | None,
        patch_type: PatchType, *, status: bool,
    ) -> Obj:
        ns = _ns(kind, namespace)
        decision = await self._enter(verb, kind, ns, name)

        def serve() -> Entry:
            if status:
                self._require_status(kind)
            return self._core.patch(kind, name, namespace, _private(patch), PatchType(patch_type),
                                    status=status)

        entry = self._serve(verb, kind, ns, name, decision, serve)
        assert isinstance(entry, Entry)
        return entry.copy()

    def _require_status(self, kind: Kind) -> None:
        if not self._core.info(kind).status_subresource:
            raise unknown_kind(kind)

    async def _enter(
        self, verb: str, kind: Kind, namespace: str | None, name: str | None
    ) -> Decision:
        """Ask the fault plan about a request; wait its latency; raise its early error."""
        if not self.faults.rules:
            return _NO_FAULT
        decision = self.faults.decide(verb, kind, namespace, name)
        if decision.delay:
            await self.clock.sleep(decision.delay)
        if decision.error is not None:
            self._record(verb, kind, namespace, name, type(decision.error).__name__, None)
            raise decision.error
        return decision

    def _serve(
        self, verb: str, kind: Kind, namespace: str | None, name: str | None,
        decision: Decision, handler: Callable[[], Any],
    ) -> Any:
        """Run one request against the core and record its outcome."""
        try:
            result = handler()
        except ApiError as exc:
            self._record(verb, kind, namespace, name, type(exc).__name__, None)
            raise
        rv: int | None = None
        if isinstance(result, Entry):
            rv, name = result.rv, result.meta["name"]
        elif isinstance(result, _Page):
            rv = result.rv
        late = decision.error_after_commit
        self._record(verb, kind, namespace, name, "ok" if late is None else type(late).__name__,
                     rv)
        if late is not None:
            raise late
        return result

    def _record(
        self, verb: str, kind: Kind, namespace: str | None, name: str | None, outcome: str,
        rv: int | None,
    ) -> None:
        rv = self._core.rv if rv is None else rv
        self.calls.append(RecordedCall(verb, kind.resource, namespace, name, outcome, str(rv),
                                       self.clock.monotonic()))

    def _filter(
        self, kind: Kind, namespace: str | None, labels: str | None, fields: str | None
    ) -> Filter:
        info = self._core.info(kind)
        field_selector = FieldSelector.parse(fields)
        for path, _, _ in field_selector.terms:
            if path not in _META_FIELDS and path not in info.field_labels:
                raise BadRequest(f"field label not supported: {path}")
        return Filter(kind_key(kind), namespace, LabelSelector.parse(labels), field_selector)

    def _read(self, kind: Kind, name: str, namespace: str | None, stale: int) -> Entry:
        if not stale:
            return self._core.lookup(kind, name, namespace)
        core = self._core
        key = core.object_key(core.info(kind).kind, name, namespace)
        bucket = core.buckets[kind_key(kind)]
        current = {key: bucket[key]} if key in bucket else {}
        state = core.history.rewind(kind_key(kind), current, self._stale_rv(stale))
        if key not in state:
            raise not_found(kind, name)
        return state[key]

    def _stale_rv(self, stale: int) -> int:
        return max(self._core.rv - stale, self._core.history.floor)

    def _list(
        self, kind: Kind, namespace: str | None, labels: str | None, fields: str | None,
        limit: int | None, token: str | None, stale: int,
    ) -> _Page:
        flt = self._filter(kind, namespace, labels, fields)
        core = self._core
        after: ObjKey | None = None
        rv = core.rv if not stale else self._stale_rv(stale)
        if token:
            rv, after = _decode_token(token)
            if rv < core.history.floor:
                raise Gone("The provided continue parameter is too old to display a consistent "
                           "list result. You can start a new list without the continue "
                           "parameter.", reason="Expired")
        bucket = core.buckets[flt.kind]
        state = bucket if rv == core.rv else core.history.rewind(flt.kind, bucket, rv)
        keys = sorted(k for k, e in state.items()
                      if (after is None or k > after) and flt.matches(k, e))
        if limit and len(keys) > limit:
            page = keys[:limit]
            return _Page([state[k] for k in page], rv, _encode_token(rv, page[-1]),
                         len(keys) - limit)
        return _Page([state[k] for k in keys], rv, None, None)

    def _open_watch(
        self, kind: Kind, namespace: str | None, rv_text: str | None, labels: str | None,
        fields: str | None,
    ) -> _Opened:
        flt = self._filter(kind, namespace, labels, fields)
        core = self._core
        if rv_text in (None, "", "0"):
            bucket = core.buckets[flt.kind]
            initial: list[Pending] = [("ADDED", bucket[k].raw) for k in sorted(bucket)
                                  if flt.matches(k, bucket[k])]
            after = 0
        else:
            after = _parse_rv(rv_text)
            # A version the cluster has not reached yet: the stream waits for it (as the real
            # server does, holding the watch open) and starts with the changes after it.
            core.history.check(min(after, core.rv))
            initial = [e for c in core.history.since(after) if (e := flt.translate(c)) is not None]
        watcher = Watcher(flt, self.watch_buffer, after=after)
        self._hub.add(watcher)
        return watcher, initial


def _ns(kind: Kind, namespace: str | None) -> str | None:
    return namespace if kind.namespaced else None


def _private(value: Any) -> Any:
    """Return the caller's data as the fake's own copy (bytes and str are parsed as JSON)."""
    try:
        if isinstance(value, bytes | str):
            return jsoncodec.loads(value)
        return jsoncodec.loads(jsoncodec.dumps(value))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"the request body is not JSON: {exc}") from None


def _parse_rv(text: str | None) -> int:
    try:
        return int(str(text))
    except ValueError:
        raise BadRequest(f"invalid resource version: {text!r}") from None


def _encode_token(rv: int, after: ObjKey) -> str:
    return base64.urlsafe_b64encode(jsoncodec.dumps([rv, *after])).decode()


def _decode_token(token: str) -> tuple[int, ObjKey]:
    try:
        rv, ns, name = jsoncodec.loads(base64.urlsafe_b64decode(token.encode()))
        return int(rv), (str(ns), str(name))
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest(f"invalid continue token: {token!r}") from None
