"""Fault schedules drawn from a seed, and the task that plays them against a simulation.

:func:`draw_faults` turns a seed and a :class:`FaultMix` into a :class:`FaultSchedule`: a set of
API fault rules (each with a probability, active for the whole fault window) and a list of timed
actions. :func:`run_chaos` plays it, records every fault on the timeline, and ends every fault at
the end of the window, so the world can converge. The same seed draws the same schedule; the
simulation's clock and seeded fault plan make the rest of the run repeat too.

=====================  ==========================================================================
fault                  what happens
=====================  ==========================================================================
``conflict``           409 Conflict on writes
``throttle``           429 Too Many Requests with Retry-After
``server-error``       500 on any verb
``unavailable``        503 on any verb
``timeout``            504 on any verb, and a timeout after a committed write
``ambiguous-create``   a create commits, then answers 500
``watch-drop``         watch streams end early (a dropped connection)
``watch-expire``       watch streams end with 410 Gone (the informer relists)
``stale-read``         get and list answer as the cluster was a few writes ago
``lag``                one manager sees one kind's events late: delivery reorders across kinds
``pod-crash``          a pod's containers exit (Failed)
``eviction``           a pod is evicted (Failed, reason Evicted)
``head-loss``          a RayJob cluster's head pod is deleted (its Ray forgets everything)
``dashboard-outage``   a Ray head stops answering for a while
``dashboard-slow``     a Ray head answers slowly (sometimes past the client's timeout)
``crash``              a manager is killed (at a random time, or right after its n-th write)
``leader-change``      with two managers: the leader is partitioned, killed or stopped
=====================  ==========================================================================

Pod faults spare the head pods of RayServices' clusters: killing the only head of a serving
cluster stops traffic by design, and the ``serving`` invariant is about what the operator does.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rayop.ray.fakes.dashboard import Fault
from rayop.ray.kinds import RAYCLUSTER, RAYJOB, RAYSERVICE
from rayop.runtime.client import POD, SERVICE, Obj
from rayop.runtime.errors import ApiError, Conflict, ServerError
from rayop.testing.simulation import Simulation

__all__ = ["PROFILES", "Action", "FaultMix", "FaultSchedule", "draw_faults", "run_chaos"]

API_FAULTS = ("conflict", "throttle", "server-error", "unavailable", "timeout",
              "ambiguous-create", "watch-drop", "watch-expire", "stale-read")
TIMED_FAULTS = ("lag", "pod-crash", "eviction", "head-loss", "dashboard-outage",
                "dashboard-slow", "crash", "leader-change", "api-partition")


@dataclass(frozen=True)
class FaultMix:
    """How much of each fault a schedule may draw, within ``window`` virtual seconds."""

    window: float = 240.0
    api_faults: int = 4
    """How many API fault kinds one seed turns on (of :data:`API_FAULTS`)."""
    max_rate: float = 0.08
    """The highest per-request probability an API fault rule gets."""
    timed: dict[str, int] = field(default_factory=lambda: {
        "lag": 2, "pod-crash": 2, "eviction": 1, "head-loss": 1, "dashboard-outage": 2,
        "dashboard-slow": 1, "crash": 3, "leader-change": 2})
    """The most of each timed fault one seed draws."""
    randomise: bool = False
    """Draw per seed how many API fault kinds (1 to ``api_faults``) and the rate cap (2 % to
    ``max_rate``), so one profile covers light and heavy seeds."""


PROFILES: dict[str, FaultMix] = {
    "ci": FaultMix(),
    "harsh": FaultMix(api_faults=len(API_FAULTS), max_rate=0.2, randomise=True, timed={
        "lag": 3, "pod-crash": 3, "eviction": 2, "head-loss": 2, "dashboard-outage": 3,
        "dashboard-slow": 2, "crash": 4, "leader-change": 3, "api-partition": 2}),
}
"""The sweep's fault profiles: ``ci`` (the standard mix) and ``harsh`` (every API fault kind
possible, up to 20 % of requests each, more timed faults, always two managers)."""


@dataclass(frozen=True, order=True)
class Action:
    """One timed fault: when, what, and a seeded number the action uses to choose its target."""

    at: float
    fault: str
    pick: int


@dataclass
class FaultSchedule:
    """What a seed drew: API fault rules with their rates, and timed actions."""

    seed: int
    window: float
    api: dict[str, float]
    actions: list[Action]

    def describe(self) -> str:
        """A one-line summary (for sweep output)."""
        api = ", ".join(f"{k} {v:.0%}" for k, v in sorted(self.api.items()))
        timed = Counter(a.fault for a in self.actions)
        return f"api[{api}] timed[{', '.join(f'{k} x{n}' for k, n in sorted(timed.items()))}]"


def draw_faults(seed: int, mix: FaultMix | None = None, *, managers: int = 1) -> FaultSchedule:
    """Draw a fault schedule from ``seed`` (the same seed, the same schedule)."""
    mix = mix or FaultMix()
    rng = random.Random(f"rayop-chaos/{seed}")
    kinds, cap = min(mix.api_faults, len(API_FAULTS)), mix.max_rate
    if mix.randomise:
        kinds, cap = rng.randint(1, kinds), rng.uniform(0.02, mix.max_rate)
    chosen = rng.sample(API_FAULTS, k=kinds)
    api = {name: round(rng.uniform(0.01, cap), 3) for name in sorted(chosen)}
    actions: list[Action] = []
    for fault in TIMED_FAULTS:
        most = mix.timed.get(fault, 0)
        if fault in ("leader-change", "api-partition") and managers < 2:
            continue
        for _ in range(rng.randint(0, most)):
            actions.append(Action(round(rng.uniform(5.0, mix.window), 2), fault,
                                  rng.getrandbits(32)))
    return FaultSchedule(seed, mix.window, api, sorted(actions))


def install_api_faults(sim: Simulation, schedule: FaultSchedule) -> None:
    """Add the schedule's API fault rules to the simulation's fault plan."""
    plan = sim.faults
    writes = ("create", "replace", "patch", "replace_status", "patch_status", "delete")
    for name, rate in schedule.api.items():
        match name:
            case "conflict":
                plan.fail(Conflict("the object has been modified; please apply your changes "
                                   "to the latest version and try again"),
                          verb=writes, probability=rate, times=None)
            case "throttle":
                plan.throttle(retry_after=1 + (schedule.seed % 3), probability=rate, times=None)
            case "server-error":
                plan.fail(ServerError("etcdserver: request timed out"), probability=rate,
                          times=None)
            case "unavailable":
                plan.fail(ServerError("the server is currently unable to handle the request",
                                      reason="ServiceUnavailable", code=503),
                          probability=rate, times=None)
            case "timeout":
                plan.timeout(probability=rate, times=None)
                plan.timeout(after_commit=True, verb=writes, probability=rate / 2, times=None)
            case "ambiguous-create":
                plan.fail(ServerError("an error on the server has prevented the request from "
                                      "succeeding"), after_commit=True, verb="create",
                          probability=rate * 2, times=None)
            case "watch-drop":
                plan.drop_watch(after_events=1 + schedule.seed % 5, probability=rate * 3,
                                times=None)
            case "watch-expire":
                plan.expire_watch(after_events=schedule.seed % 7, probability=rate * 2,
                                  times=None)
            case "stale-read":
                # Lists, as a watch cache serves them (resourceVersion "0"); a GET without a
                # resourceVersion is a quorum read on a real API server, never stale.
                plan.stale_reads(1 + schedule.seed % 4, verb="list", probability=rate * 2,
                                 times=None)


_Undo = Callable[[], None]

DASHBOARD_METHODS = ("submit_job", "get_job", "list_jobs", "stop_job", "delete_job", "job_logs",
                     "apply_serve_config", "get_serve_applications",
                     "delete_serve_applications")
"""The Ray dashboard's own API (Serve's proxy health check, ``serve_healthy``, is not in it)."""


class _Player:
    """Plays timed actions against one simulation."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.counts: Counter[str] = Counter()
        self.dashboard_faults: list[Fault] = []

    def note(self, fault: str, obj: str, detail: str) -> None:
        self.counts[fault] += 1
        self.sim.timeline.add(self.sim.clock.monotonic(), "fault", obj, "chaos",
                              f"{fault}: {detail}")

    def _pods(self, pick: int, *, heads: bool) -> Obj | None:
        owners = {_key(o): _owner_kind(o) for o in self.sim.objects(RAYCLUSTER)}
        chosen = []
        for pod in self.sim.objects(POD):
            labels = pod["metadata"].get("labels") or {}
            cluster = labels.get("ray.io/cluster")
            if cluster is None or (pod.get("status") or {}).get("phase") != "Running":
                continue
            owner = owners.get((pod["metadata"]["namespace"], cluster))
            if labels.get("ray.io/node-type") == "head" and (not heads or owner != "RayJob"):
                continue
            chosen.append(pod)
        return chosen[pick % len(chosen)] if chosen else None

    async def play(self, action: Action) -> tuple[float, _Undo] | None:
        sim, pick = self.sim, action.pick
        match action.fault:
            case "pod-crash" | "eviction":
                pod = self._pods(pick, heads=action.fault == "pod-crash")
                if pod is None:
                    return None
                ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
                if action.fault == "eviction":
                    sim.kubelet.evict_pod(ns, name)
                else:
                    sim.kubelet.fail_pod(ns, name)
                self.note(action.fault, f"Pod {ns}/{name}", "containers gone")
            case "head-loss":
                await self._head_loss(pick)
            case "dashboard-outage" | "dashboard-slow":
                return self._dashboard(action)
            case "lag":
                return self._lag(pick)
            case "crash":
                await self._crash(pick)
            case "leader-change":
                return await self._leader_change(pick)
            case "api-partition":
                return self._api_partition(pick)
        return None

    async def _head_loss(self, pick: int) -> None:
        owners = {_key(o): _owner_kind(o) for o in self.sim.objects(RAYCLUSTER)}
        heads = []
        for pod in self.sim.objects(POD):
            labels = pod["metadata"].get("labels") or {}
            cluster = (pod["metadata"]["namespace"], labels.get("ray.io/cluster", ""))
            if labels.get("ray.io/node-type") == "head" and owners.get(cluster) == "RayJob":
                heads.append(pod)
        if not heads:
            return
        pod = heads[pick % len(heads)]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.note("head-loss", f"Pod {ns}/{name}", "head pod deleted")
        try:
            await self.sim.cluster.delete(POD, name, namespace=ns)
        except ApiError:
            self.sim.kubelet.fail_pod(ns, name, reason="NodeLost", message="node went away")

    def _dashboard(self, action: Action) -> tuple[float, _Undo] | None:
        heads = sorted(self.sim.dashboards.clusters().items())
        if not heads:
            return None
        (ns, cluster), fake = heads[action.pick % len(heads)]
        duration = 5.0 + action.pick % 50
        # The dashboard (port 8265) fails; Serve's proxies (port 8000) keep answering, so
        # traffic may go on: only the operator's view of Ray is lost.
        if action.fault == "dashboard-outage":
            faults = [fake.inject(method, unreachable=True, times=None)
                      for method in DASHBOARD_METHODS]
            detail = f"dashboard unreachable for {duration:g}s"
        else:
            latency = 1.0 + action.pick % 14
            faults = [fake.inject(method, latency=latency, times=None, rate=0.5)
                      for method in DASHBOARD_METHODS]
            detail = f"dashboard answers take {latency:g}s for {duration:g}s"
        self.dashboard_faults.extend(faults)
        self.note(action.fault, f"RayHead {ns}/{cluster}", detail)

        def undo() -> None:
            for fault in faults:
                fault.times = fault.hits
        return duration, undo

    def _lag(self, pick: int) -> tuple[float, _Undo] | None:
        slot = self.sim.slots[pick % len(self.sim.slots)]
        state = slot.state
        if state is None:
            return None
        kinds = (POD, RAYCLUSTER, RAYJOB, RAYSERVICE, SERVICE)
        kind = kinds[pick % len(kinds)].kind
        delay = 0.5 + (pick % 9) / 2
        duration = 10.0 + pick % 40
        state.lag[kind] = delay
        self.note("lag", kind, f"{slot.identity} sees {kind} events {delay:g}s late "
                  f"for {duration:g}s")

        def undo() -> None:
            state.lag.pop(kind, None)
        return duration, undo

    async def _crash(self, pick: int) -> None:
        index = pick % len(self.sim.slots)
        slot = self.sim.slots[index]
        if pick % 3 == 0:
            n = 1 + pick % 25
            self.note("crash", "", f"{slot.identity} will crash right after its {n}th next "
                      "write commits")
            self.sim.crash_after_writes(n, index)
            return
        graceful = pick % 5 == 1
        self.note("crash", "", f"{slot.identity} {'stopped' if graceful else 'killed'}")
        await self.sim.restart_manager(index, graceful=graceful)

    async def _leader_change(self, pick: int) -> tuple[float, _Undo] | None:
        leader = self.sim.leader()
        if leader is None:
            return None
        identity = self.sim.slots[leader].identity
        how = pick % 3
        if how == 0:
            duration = 12.0 + pick % 30
            self.note("leader-change", "", f"{identity} partitioned for {duration:g}s")
            self.sim.partition(leader, True)
            return duration, lambda: self.sim.partition(leader, False)
        self.note("leader-change", "", f"{identity} {'killed' if how == 1 else 'stopped'}")
        await self.sim.restart_manager(leader, graceful=how == 2)
        return None


    def _api_partition(self, pick: int) -> tuple[float, _Undo] | None:
        """The leader loses the API server but still reaches Ray: only the lease fences it."""
        leader = self.sim.leader()
        if leader is None:
            return None
        duration = 15.0 + pick % 30
        self.note("api-partition", "", f"{self.sim.slots[leader].identity} cut from the API "
                  f"server (not from Ray) for {duration:g}s")
        self.sim.partition(leader, True, ray=False)
        return duration, lambda: self.sim.partition(leader, False)


def _key(obj: Obj) -> tuple[str, str]:
    return str(obj["metadata"].get("namespace", "")), str(obj["metadata"]["name"])


def _owner_kind(obj: Obj) -> str:
    refs = obj["metadata"].get("ownerReferences") or []
    return str(refs[0].get("kind")) if refs else ""


async def run_chaos(sim: Simulation, schedule: FaultSchedule) -> Counter[str]:
    """Play ``schedule`` against ``sim`` until the window ends; end every fault; count them.

    The returned counter has one entry per fault kind: timed actions as played, API faults as
    fired by the fault plan, dashboard faults by calls hit.
    """
    install_api_faults(sim, schedule)
    player = _Player(sim)
    start = sim.clock.monotonic()
    pending: list[tuple[float, int, Action | None, _Undo | None]] = [
        (start + a.at, i, a, None) for i, a in enumerate(schedule.actions)]
    heapq.heapify(pending)
    seq = len(pending)
    while pending:
        at, _, action, undo = heapq.heappop(pending)
        await sim.clock.sleep(max(0.0, at - sim.clock.monotonic()))
        if undo is not None:
            undo()
            continue
        assert action is not None
        outcome = await player.play(action)
        if outcome is not None:
            duration, undo_it = outcome
            end = min(sim.clock.monotonic() + duration, start + schedule.window)
            seq += 1
            heapq.heappush(pending, (end, seq, None, undo_it))
    await sim.clock.sleep(max(0.0, start + schedule.window - sim.clock.monotonic()))
    sim.stop_faults()
    for fault in player.dashboard_faults:
        fault.times = fault.hits
    counts = player.counts
    for fired in sim.faults.fired:
        counts[f"api:{fired.effect.split(' ')[0]}"] += 1
    counts["dashboard-calls-hit"] += sum(f.hits for f in player.dashboard_faults)
    return counts
