"""The kubelet simulator: plays the kubelet, the scheduler and the endpoints controller.

It is a small controller that runs against any :class:`~rayop.runtime.client.ClusterClient` — the
fake
cluster, the fake over HTTP, or a real API server with no nodes — and writes only what those
components would write, through the API:

- pods go ``Pending`` (unscheduled) → scheduled (``PodScheduled``) → ``Running`` with a pod IP →
  ``Ready``, each step after a configurable delay in Clock time, measured from the pod's
  ``creationTimestamp`` so a restarted simulator picks up where it was;
- each Service gets a cluster IP if it has none (the API server's allocator; a real one always
  has), and a deleted Service's ``Endpoints`` are removed;
- each Service with a selector gets an ``Endpoints`` object listing the ready pods it selects
  (the not-ready ones under ``notReadyAddresses``), as the endpoints controller keeps it;
- a test scripts what happens to chosen pods (:class:`PodScript`): never scheduled (with the
  scheduler's message), failed, crash-looping, or slower; and acts on running ones:
  :meth:`KubeletSimulator.fail_pod`, :meth:`KubeletSimulator.evict_pod`,
  :meth:`KubeletSimulator.set_ready`.

Listeners (``on_pod_change``) hear every pod state the simulator writes; the fake Ray dashboards
use this to live and die with their head pods.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog

from rayop.runtime.client import ENDPOINTS, POD, SERVICE, ClusterClient, Obj
from rayop.runtime.clock import Clock, RealClock, format_time, parse_time
from rayop.runtime.controller import Controller
from rayop.runtime.errors import AlreadyExists, Conflict, NotFound
from rayop.runtime.handlers import enqueue_mapped
from rayop.runtime.informer import FuncHandler, Informer
from rayop.runtime.reconcile import Request, Result
from rayop.runtime.selectors import LabelSelector

__all__ = ["KubeletSimulator", "PodOutcome", "PodScript", "ready_endpoints"]

PodOutcome = Literal["run", "never_schedule", "fail", "crash_loop"]

_log = structlog.get_logger("rayop.kubelet")


@dataclass(frozen=True)
class PodScript:
    """What happens to the pods a selector matches; delays in seconds after creation."""

    selector: str = ""
    outcome: PodOutcome = "run"
    schedule_delay: float | None = None
    start_delay: float | None = None
    ready_delay: float | None = None
    message: str = ""


@dataclass
class _Timing:
    schedule: float
    start: float
    ready: float


@dataclass
class _Overrides:
    failed: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    not_ready: set[tuple[str, str]] = field(default_factory=set)


class KubeletSimulator:
    """Moves pods through their life cycle and keeps Endpoints, in Clock time."""

    def __init__(
        self,
        client: ClusterClient,
        *,
        clock: Clock | None = None,
        schedule_delay: float = 1.0,
        start_delay: float = 3.0,
        ready_delay: float = 1.0,
        node_name: str = "sim-node-0",
        pod_cidr: str = "10.244.0.0/16",
        namespace: str | None = None,
    ) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self.default = _Timing(schedule_delay, start_delay, ready_delay)
        self.node_name = node_name
        self.scripts: list[PodScript] = []
        self._ips = (str(ip) for ip in itertools.islice(
            ipaddress.ip_network(pod_cidr).hosts(), 1, None))
        self._service_ips = (str(ip) for ip in itertools.islice(
            ipaddress.ip_network("10.96.0.0/12").hosts(), 10, None))
        self._overrides = _Overrides()
        self.listeners: list[Callable[[Obj], None]] = []
        self._told: dict[str, tuple[object, bool]] = {}  # pod uid -> (phase, deleting) told
        self.pods = Informer(client, POD, clock=self.clock, namespace=namespace)
        self.services = Informer(client, SERVICE, clock=self.clock, namespace=namespace)
        self._pod_ctl = Controller("kubelet-pods", _PodReconciler(self), clock=self.clock,
                                   max_concurrent_reconciles=4)
        self._svc_ctl = Controller("kubelet-endpoints", _EndpointsReconciler(self),
                                   clock=self.clock, max_concurrent_reconciles=2)
        self._pod_ctl.watch(self.pods)
        self._svc_ctl.watch(self.services)
        self._svc_ctl.watch(self.pods, mapper=enqueue_mapped(self._services_of_pod))
        self.pods.add_handler(FuncHandler(on_delete=self._pod_deleted))
        self.pods.store.add_index("label", _label_pairs)
        self._selectors = _SelectorIndex()
        self.services.add_handler(FuncHandler(
            on_add=self._selectors.put, on_update=lambda _old, new: self._selectors.put(new),
            on_delete=self._selectors.drop))

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start watching pods and Services; returns once the caches are synced."""
        self.pods.start()
        self.services.start()
        await self.pods.wait_for_sync()
        await self.services.wait_for_sync()
        self._pod_ctl.start()
        self._svc_ctl.start()

    async def stop(self) -> None:
        """Stop every task the simulator runs."""
        await self._pod_ctl.cancel()
        await self._svc_ctl.cancel()
        await self.pods.stop()
        await self.services.stop()

    # -- scripting -----------------------------------------------------------------------------

    def script(self, script: PodScript) -> None:
        """Apply ``script`` to pods created from now on that match its selector (latest wins)."""
        self.scripts.append(script)

    def on_pod_change(self, listener: Callable[[Obj], None]) -> None:
        """Call ``listener(pod)`` after every pod status the simulator writes."""
        self.listeners.append(listener)

    def fail_pod(self, namespace: str, name: str, *, reason: str = "Error",
                 message: str = "container exited with code 1") -> None:
        """Make a pod's containers exit: the pod goes ``Failed``."""
        self._overrides.failed[(namespace, name)] = (reason, message)
        self._pod_ctl.queue.add(Request(namespace, name))

    def evict_pod(self, namespace: str, name: str) -> None:
        """Evict a pod, as node pressure does: ``Failed`` with reason ``Evicted``."""
        self.fail_pod(namespace, name, reason="Evicted",
                      message="The node was low on resource: memory.")

    def set_ready(self, namespace: str, name: str, ready: bool) -> None:
        """Flip a running pod's readiness (a failing readiness probe, or its recovery)."""
        if ready:
            self._overrides.not_ready.discard((namespace, name))
        else:
            self._overrides.not_ready.add((namespace, name))
        self._pod_ctl.queue.add(Request(namespace, name))

    # -- helpers used by the reconcilers -------------------------------------------------------

    def script_for(self, pod: Obj) -> tuple[PodScript | None, _Timing]:
        """Return the script that applies to ``pod`` and its effective timing."""
        chosen = None
        for script in self.scripts:
            if LabelSelector.parse(script.selector).matches_object(pod):
                chosen = script
        timing = _Timing(self.default.schedule, self.default.start, self.default.ready)
        if chosen is not None:
            timing.schedule = _pick(chosen.schedule_delay, timing.schedule)
            timing.start = _pick(chosen.start_delay, timing.start)
            timing.ready = _pick(chosen.ready_delay, timing.ready)
        return chosen, timing

    def next_ip(self) -> str:
        """Allocate the next pod IP."""
        return next(self._ips)

    def next_service_ip(self) -> str:
        """Allocate the next Service cluster IP (10.96.0.0/12, as kubeadm's default)."""
        return next(self._service_ips)

    def notify(self, pod: Obj) -> None:
        """Tell the listeners about a pod's state, once per phase it reaches."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        state = ((pod.get("status") or {}).get("phase"), bool(meta.get("deletionTimestamp")))
        if self._told.get(uid) == state:
            return
        self._told[uid] = state
        for listener in self.listeners:
            try:
                listener(pod)
            except Exception as err:  # a listener must not break the simulator
                _log.warning("pod listener failed", error=repr(err))

    def _pod_deleted(self, pod: Obj) -> None:
        """A deleted pod's containers are gone: tell the listeners it stopped."""
        meta = dict(pod.get("metadata") or {})
        meta.setdefault("deletionTimestamp", format_time(self.clock.now()))
        status = {**(pod.get("status") or {}), "phase": "Failed", "reason": "Deleted"}
        self.notify({**pod, "metadata": meta, "status": status})
        self._told.pop(str(meta.get("uid", "")), None)

    def pods_selected_by(self, namespace: str, selector: dict[str, str]) -> list[Obj]:
        """The cached pods in ``namespace`` with one label pair of ``selector``, in name order.

        A superset of the pods it selects, found through the label index (no scan).
        """
        first = min(selector)
        found = self.pods.store.by_index("label", f"{namespace}/{first}={selector[first]}")
        return sorted(found, key=lambda p: str(p["metadata"]["name"]))

    def _services_of_pod(self, pod: Obj) -> list[Request]:
        ns = pod["metadata"].get("namespace", "")
        return [Request(ns, name) for name in self._selectors.matching(pod)]


def _label_pairs(pod: Obj) -> list[str]:
    """Index values of a pod: ``namespace/key=value`` for each of its labels."""
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace", "")
    return [f"{ns}/{k}={v}" for k, v in (meta.get("labels") or {}).items()]


class _SelectorIndex:
    """Services filed under one label pair of their selector.

    A pod event then finds the Services that may select it without looking at every Service
    (thousands, in a soak).
    """

    def __init__(self) -> None:
        self._by_pair: dict[tuple[str, str, str], dict[str, dict[str, str]]] = {}
        self._pair_of: dict[tuple[str, str], tuple[str, str, str]] = {}

    def put(self, svc: Obj) -> None:
        """File (or re-file) a Service by its selector."""
        self.drop(svc)
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return
        meta = svc["metadata"]
        first = min(selector)
        pair = (str(meta.get("namespace", "")), first, str(selector[first]))
        self._by_pair.setdefault(pair, {})[meta["name"]] = {
            str(k): str(v) for k, v in selector.items()}
        self._pair_of[(pair[0], meta["name"])] = pair

    def drop(self, svc: Obj) -> None:
        """Forget a Service."""
        meta = svc["metadata"]
        pair = self._pair_of.pop((str(meta.get("namespace", "")), meta["name"]), None)
        if pair is not None:
            self._by_pair.get(pair, {}).pop(meta["name"], None)

    def matching(self, pod: Obj) -> list[str]:
        """The names of the Services in the pod's namespace whose selector matches it."""
        meta = pod["metadata"]
        ns = str(meta.get("namespace", ""))
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        found = set()
        for key, value in labels.items():
            for name, selector in self._by_pair.get((ns, key, value), {}).items():
                if all(labels.get(k) == v for k, v in selector.items()):
                    found.add(name)
        return sorted(found)


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


def _condition(kind: str, status: bool, now: str, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": "True" if status else "False",
                 "lastTransitionTime": now, "lastProbeTime": None}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


class _PodReconciler:
    """Advances one pod to the state its age and script call for."""

    def __init__(self, sim: KubeletSimulator) -> None:
        self.sim = sim

    async def reconcile(self, request: Request) -> Result:
        pod = self.sim.pods.store.get(request.namespace, request.name)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return Result()
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return Result()
        desired, wait = self._desired(pod)
        if _same(status, desired):
            # the state may have been written by a call that failed after it took effect
            # ("timeout after commit"): the listeners hear of it from what the pod is
            self.sim.notify(pod)
            return Result(requeue_after=wait) if wait is not None else Result()
        try:
            written = await self.sim.client.replace_status(
                POD, {**pod, "status": desired}, namespace=request.namespace
            )
        except (Conflict, NotFound):
            return Result(requeue_after=0.1)
        self.sim.notify(written)
        return Result(requeue_after=wait) if wait is not None else Result()

    def _desired(self, pod: Obj) -> tuple[Obj, float | None]:
        sim = self.sim
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        script, timing = sim.script_for(pod)
        stamp = pod["metadata"].get("creationTimestamp")
        age = (sim.clock.now() - parse_time(stamp)).total_seconds() if stamp else 0.0
        now = format_time(sim.clock.now())
        status = dict(pod.get("status") or {})
        outcome = script.outcome if script else "run"
        if outcome == "never_schedule":
            msg = (script.message if script and script.message else
                   "0/1 nodes are available: 1 Insufficient cpu.")
            return {"phase": "Pending", "conditions": [
                _condition("PodScheduled", False, now, "Unschedulable", msg)]}, None
        if age < timing.schedule:
            return {"phase": "Pending"}, timing.schedule - age
        if key in sim._overrides.failed or (outcome == "fail" and age >= timing.start):
            reason, message = sim._overrides.failed.get(
                key, ("Error", script.message if script else "container failed"))
            return _failed(status, now, reason, message), None
        if age < timing.schedule + timing.start:
            return _scheduled(status, sim.node_name, now), timing.schedule + timing.start - age
        if outcome == "crash_loop":
            return _crash_looping(pod, status, sim, now), None
        ready_at = timing.schedule + timing.start + timing.ready
        ready = age >= ready_at and key not in sim._overrides.not_ready
        return _running(pod, status, sim, now, ready), (None if age >= ready_at else ready_at - age)


def _same(current: Obj, desired: Obj) -> bool:
    keys = ("phase", "podIP", "reason")
    if any(current.get(k) != desired.get(k) for k in keys):
        return False
    def flags(s: Obj) -> dict[str, str]:
        return {c["type"]: c["status"] for c in s.get("conditions") or []}
    return flags(current) == flags(desired)


def _scheduled(status: Obj, node: str, now: str) -> Obj:
    return {"phase": "Pending", "hostIP": "192.0.2.10", "nodeName": node,
            "conditions": [_condition("PodScheduled", True, now)],
            "startTime": status.get("startTime") or now}


def _container_statuses(pod: Obj, *, ready: bool, started_at: str, restarts: int = 0,
                        waiting: str | None = None) -> list[Obj]:
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        state: Obj = ({"waiting": {"reason": waiting}} if waiting
                      else {"running": {"startedAt": started_at}})
        out.append({"name": c.get("name", ""), "image": c.get("image", ""), "ready": ready,
                    "started": waiting is None, "restartCount": restarts, "state": state})
    return out


def _running(pod: Obj, status: Obj, sim: KubeletSimulator, now: str, ready: bool) -> Obj:
    ip = status.get("podIP") or sim.next_ip()
    started = status.get("startTime") or now
    conds = [_condition(t, True, now) for t in ("PodScheduled", "Initialized")]
    conds += [_condition("ContainersReady", ready, now), _condition("Ready", ready, now)]
    return {"phase": "Running", "hostIP": "192.0.2.10", "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": started, "conditions": conds,
            "containerStatuses": _container_statuses(pod, ready=ready, started_at=started)}


def _crash_looping(pod: Obj, status: Obj, sim: KubeletSimulator, now: str) -> Obj:
    out = _running(pod, status, sim, now, ready=False)
    out["containerStatuses"] = _container_statuses(
        pod, ready=False, started_at=out["startTime"], restarts=5, waiting="CrashLoopBackOff")
    return out


def _failed(status: Obj, now: str, reason: str, message: str) -> Obj:
    out: Obj = {"phase": "Failed", "reason": reason, "message": message,
                "startTime": status.get("startTime") or now,
                "conditions": [_condition("Ready", False, now, reason, message)]}
    if status.get("podIP"):
        out["podIP"] = status["podIP"]
    return out


def _is_ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class _EndpointsReconciler:
    """Keeps one Service's Endpoints equal to the pods it selects."""

    def __init__(self, sim: KubeletSimulator) -> None:
        self.sim = sim

    async def reconcile(self, request: Request) -> Result:
        svc = self.sim.services.store.get(request.namespace, request.name)
        if svc is None:
            # The endpoints controller removes a deleted Service's Endpoints.
            with contextlib.suppress(NotFound):
                await self.sim.client.delete(ENDPOINTS, request.name, namespace=request.namespace)
            return Result()
        if not (svc.get("spec") or {}).get("clusterIP"):
            # What the API server's allocator does on create (a real one always has).
            ip = self.sim.next_service_ip()
            await self.sim.client.patch(SERVICE, request.name,
                                        {"spec": {"clusterIP": ip, "clusterIPs": [ip]}},
                                        namespace=request.namespace)
        if not (svc.get("spec") or {}).get("selector"):
            return Result()
        selector = LabelSelector.from_labels(svc["spec"]["selector"])
        pods = [p for p in self.sim.pods_selected_by(request.namespace, svc["spec"]["selector"])
                if selector.matches_object(p) and (p.get("status") or {}).get("podIP")
                and not p["metadata"].get("deletionTimestamp")]
        subsets = _subsets(svc, pods)
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": request.name, "namespace": request.namespace,
                                  "labels": dict(svc["metadata"].get("labels") or {})},
                     "subsets": subsets}
        await self._write(request, body)
        return Result()

    async def _write(self, request: Request, body: Obj) -> None:
        client = self.sim.client
        try:
            current = await client.get(ENDPOINTS, request.name, namespace=request.namespace)
        except NotFound:
            try:
                await client.create(ENDPOINTS, body, namespace=request.namespace)
            except AlreadyExists:
                raise Conflict("endpoints appeared meanwhile") from None
            return
        if current.get("subsets") != body["subsets"]:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await client.replace(ENDPOINTS, body, namespace=request.namespace)


def _subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    ready: list[Obj] = []
    not_ready: list[Obj] = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        addr = {"ip": pod["status"]["podIP"], "targetRef": {
            "kind": "Pod", "name": pod["metadata"]["name"],
            "namespace": pod["metadata"]["namespace"], "uid": pod["metadata"].get("uid", "")}}
        (ready if _is_ready(pod) else not_ready).append(addr)
    if not ready and not not_ready:
        return []
    ports = [{"name": p.get("name", ""), "port": p.get("targetPort", p.get("port")),
              "protocol": p.get("protocol", "TCP")}
             for p in (svc.get("spec") or {}).get("ports") or []]
    subset: Obj = {"ports": ports}
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    return [subset]


def ready_endpoints(endpoints: Obj | None) -> list[str]:
    """Return the IPs of the ready addresses of an Endpoints object (empty when None)."""
    if not endpoints:
        return []
    return [a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []]

