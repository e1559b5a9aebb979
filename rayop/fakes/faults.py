"""Deterministic fault injection for :class:`~rayop.fakes.cluster.FakeCluster`.

A :class:`FaultPlan` is a list of rules. Each rule matches requests by verb, kind, namespace and
name (``None`` matches anything), counts the requests it matched, and fires on the ``nth`` of
them and the ``times - 1`` after it (``times=None``: every one from the ``nth`` on), each with
``probability`` drawn from the plan's own ``random.Random(seed)`` — the same seed and the same
requests give the same faults. What a rule does when it fires:

===================================  ===========================================================
``plan.fail(error, ...)``            raise ``error`` (a copy) instead of serving the request;
                                     ``after_commit=True``: the write happens, then it is raised
``plan.throttle(retry_after=...)``   raise ``TooManyRequests`` (429) with ``retry_after``
``plan.timeout(...)``                raise ``Timeout`` (504); ``after_commit=True`` as above
``plan.latency(seconds, ...)``       wait ``seconds`` on the cluster's clock before serving
``plan.stale_reads(revisions)``      serve ``get``/``list`` as of ``revisions`` writes ago
``plan.drop_watch(after_events=n)``  end the watch stream after ``n`` events (a dropped connection)
``plan.expire_watch(after_events)``  raise ``Gone`` mid-stream after ``n`` events
===================================  ===========================================================

Example::

    plan = FaultPlan(seed=7)
    plan.fail(ServerError("etcd hiccup"), verb="create", kind=RAYCLUSTER, nth=2)
    plan.throttle(retry_after=2, verb="patch_status", probability=0.1, times=None)
    cluster = FakeCluster(clock=clock, faults=plan)

Verbs: ``get``, ``list``, ``watch``, ``create``, ``replace``, ``patch``, ``replace_status``,
``patch_status``, ``delete``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from rayop.runtime.client import Kind
from rayop.runtime.errors import ApiError, Timeout, TooManyRequests

__all__ = [
    "VERBS",
    "Decision",
    "FaultPlan",
    "FaultRule",
    "FiredFault",
]

VERBS = frozenset(
    {"get", "list", "watch", "create", "replace", "patch", "replace_status", "patch_status",
     "delete"}
)
"""Every verb a rule can name."""


@dataclass(frozen=True)
class Fail:
    """Raise ``error``, before the request is served or after its write is committed."""

    error: ApiError
    after_commit: bool = False


@dataclass(frozen=True)
class Delay:
    """Wait this many clock seconds before serving."""

    seconds: float


@dataclass(frozen=True)
class StaleRead:
    """Serve a read as of ``revisions`` writes ago."""

    revisions: int


@dataclass(frozen=True)
class WatchFault:
    """End (``expire=False``) or expire with ``Gone`` a watch after ``after_events`` events."""

    after_events: int
    expire: bool


Effect = Fail | Delay | StaleRead | WatchFault


@dataclass
class FaultRule:
    """One rule of a plan: which requests it matches, when it fires, and what it does."""

    effect: Effect
    verbs: frozenset[str] | None = None
    kind: Kind | None = None
    namespace: str | None = None
    name: str | None = None
    nth: int = 1
    times: int | None = 1
    probability: float = 1.0
    matched: int = 0
    fired: int = 0

    def matches(self, verb: str, kind: Kind, namespace: str | None, name: str | None) -> bool:
        """Return whether a request falls under this rule's filters."""
        return (
            (self.verbs is None or verb in self.verbs)
            and (self.kind is None or self.kind == kind)
            and (self.namespace is None or self.namespace == namespace)
            and (self.name is None or self.name == name)
        )

    @property
    def exhausted(self) -> bool:
        """True once the rule has fired ``times`` times."""
        return self.times is not None and self.fired >= self.times


@dataclass(frozen=True)
class FiredFault:
    """A record of one fault that fired, for assertions and replay logs."""

    verb: str
    kind: str
    namespace: str | None
    name: str | None
    effect: str


@dataclass
class Decision:
    """What the plan decided for one request."""

    delay: float = 0.0
    error: ApiError | None = None
    error_after_commit: ApiError | None = None
    stale_revisions: int = 0
    watch_fault: WatchFault | None = None


@dataclass
class FaultPlan:
    """An ordered list of fault rules with a seeded random source; see the module docstring."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    fired: list[FiredFault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # -- building ------------------------------------------------------------------------------

    def add(
        self,
        effect: Effect,
        *,
        verb: str | Iterable[str] | None = None,
        kind: Kind | None = None,
        namespace: str | None = None,
        name: str | None = None,
        nth: int = 1,
        times: int | None = 1,
        probability: float = 1.0,
    ) -> FaultRule:
        """Add a rule with any effect; the specific builders below are shorthands."""
        verbs = None if verb is None else frozenset([verb] if isinstance(verb, str) else verb)
        if verbs is not None and not verbs <= VERBS:
            raise ValueError(f"unknown verbs: {sorted(verbs - VERBS)}")
        if nth < 1 or not 0.0 <= probability <= 1.0:
            raise ValueError("nth must be >= 1 and probability within [0, 1]")
        rule = FaultRule(effect, verbs, kind, namespace, name, nth, times, probability)
        self.rules.append(rule)
        return rule

    def fail(
        self, error: ApiError, *, after_commit: bool = False,
        verb: str | Iterable[str] | None = None, kind: Kind | None = None,
        namespace: str | None = None, name: str | None = None,
        nth: int = 1, times: int | None = 1, probability: float = 1.0,
    ) -> FaultRule:
        """Answer matching requests with ``error`` (after the write, if ``after_commit``)."""
        return self.add(Fail(error, after_commit), verb=verb, kind=kind, namespace=namespace,
                        name=name, nth=nth, times=times, probability=probability)

    def throttle(
        self, *, retry_after: float = 1.0, verb: str | Iterable[str] | None = None,
        kind: Kind | None = None, namespace: str | None = None, name: str | None = None,
        nth: int = 1, times: int | None = 1, probability: float = 1.0,
    ) -> FaultRule:
        """Answer 429 Too Many Requests with ``Retry-After: retry_after``."""
        error = TooManyRequests("Too many requests, please try again later.",
                                retry_after=retry_after)
        return self.add(Fail(error), verb=verb, kind=kind, namespace=namespace, name=name,
                        nth=nth, times=times, probability=probability)

    def timeout(
        self, *, after_commit: bool = False, verb: str | Iterable[str] | None = None,
        kind: Kind | None = None, namespace: str | None = None, name: str | None = None,
        nth: int = 1, times: int | None = 1, probability: float = 1.0,
    ) -> FaultRule:
        """Answer 504 Timeout; with ``after_commit`` the write has happened all the same."""
        error = Timeout("the server was unable to return a response in the time allotted, "
                        "but may still be processing the request")
        return self.add(Fail(error, after_commit), verb=verb, kind=kind, namespace=namespace,
                        name=name, nth=nth, times=times, probability=probability)

    def latency(
        self, seconds: float, *, verb: str | Iterable[str] | None = None,
        kind: Kind | None = None, namespace: str | None = None, name: str | None = None,
        nth: int = 1, times: int | None = None, probability: float = 1.0,
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` of clock time (every one, by default)."""
        return self.add(Delay(seconds), verb=verb, kind=kind, namespace=namespace, name=name,
                        nth=nth, times=times, probability=probability)

    def stale_reads(
        self, revisions: int, *, verb: str | Iterable[str] = ("get", "list"),
        kind: Kind | None = None, namespace: str | None = None, name: str | None = None,
        nth: int = 1, times: int | None = None, probability: float = 1.0,
    ) -> FaultRule:
        """Serve reads as the cluster was ``revisions`` writes ago (as far as history reaches)."""
        return self.add(StaleRead(revisions), verb=verb, kind=kind, namespace=namespace,
                        name=name, nth=nth, times=times, probability=probability)

    def drop_watch(
        self, *, after_events: int = 0, kind: Kind | None = None, namespace: str | None = None,
        nth: int = 1, times: int | None = 1, probability: float = 1.0,
    ) -> FaultRule:
        """End matching watch streams after ``after_events`` events, as a dropped connection."""
        return self.add(WatchFault(after_events, expire=False), verb="watch", kind=kind,
                        namespace=namespace, nth=nth, times=times, probability=probability)

    def expire_watch(
        self, *, after_events: int = 0, kind: Kind | None = None, namespace: str | None = None,
        nth: int = 1, times: int | None = 1, probability: float = 1.0,
    ) -> FaultRule:
        """Raise ``Gone`` in matching watch streams after ``after_events`` events."""
        return self.add(WatchFault(after_events, expire=True), verb="watch", kind=kind,
                        namespace=namespace, nth=nth, times=times, probability=probability)

    def clear(self) -> None:
        """Remove every rule (the fired log stays)."""
        self.rules.clear()

    # -- deciding ------------------------------------------------------------------------------

    def decide(self, verb: str, kind: Kind, namespace: str | None, name: str | None) -> Decision:
        """Run every rule against one request and return the combined decision."""
        decision = Decision()
        for rule in self.rules:
            if not rule.matches(verb, kind, namespace, name):
                continue
            rule.matched += 1
            if rule.matched < rule.nth or rule.exhausted or not self._draw(rule):
                continue
            if _apply(decision, rule.effect):
                rule.fired += 1
                self.fired.append(
                    FiredFault(verb, kind.resource, namespace, name, _describe(rule.effect))
                )
        return decision

    def _draw(self, rule: FaultRule) -> bool:
        return rule.probability >= 1.0 or self._rng.random() < rule.probability


def _apply(decision: Decision, effect: Effect) -> bool:
    """Fold one effect into the decision; return False if an earlier rule already decided it."""
    match effect:
        case Delay(seconds):
            decision.delay += seconds
        case StaleRead(revisions):
            decision.stale_revisions = max(decision.stale_revisions, revisions)
        case WatchFault():
            if decision.watch_fault is not None:
                return False
            decision.watch_fault = effect
        case Fail(error, after_commit):
            if decision.error is not None or decision.error_after_commit is not None:
                return False
            fresh = copy.copy(error)
            fresh.__traceback__ = None
            if after_commit:
                decision.error_after_commit = fresh
            else:
                decision.error = fresh
    return True


def _describe(effect: Effect) -> str:
    match effect:
        case Fail(error, after_commit):
            return f"{type(error).__name__}{' after commit' if after_commit else ''}"
        case Delay(seconds):
            return f"latency {seconds}s"
        case StaleRead(revisions):
            return f"stale read {revisions}"
        case WatchFault(after_events, expire):
            return f"{'expire' if expire else 'drop'} watch after {after_events}"
    return repr(effect)  # pragma: no cover

