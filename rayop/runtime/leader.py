"""Lease-based leader election, with client-go's rules and defaults.

One ``coordination.k8s.io/v1`` Lease names the leader (``spec.holderIdentity``). A candidate
takes the lease when it is free or its holder has not renewed it for ``lease_duration``; the
leader renews every ``retry_period`` and steps down — at once, before anything else runs — when it
could not renew for ``renew_deadline``. Expiry is judged by when *this* candidate last saw the
lease change, on its own clock, never by comparing timestamps written by another machine, so clock
skew between candidates cannot produce two leaders. Every write is an optimistic ``replace`` (or a
``create``), so two candidates racing for the same lease cannot both win.

Leadership is also judged on the monotonic clock, not only by the renew loop: the leader counts as
leading only until ``renew_deadline`` after its last successful renew, so a process that was paused
(SIGSTOP, a long GC, a frozen VM) stops acting the moment it runs again — before the renew loop has
even noticed — and never acts once others could see the lease as expired (``renew_deadline <
lease_duration``).

On a clean stop the leader releases the lease (empty holder, 1 s duration), so the next leader takes
over at once instead of after ``lease_duration``. Like client-go, it releases only a lease it still
holds: the release is an optimistic ``replace`` of the lease as last written *by this candidate*, so
a lease another candidate has taken in the meantime is never overwritten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from rayop.runtime.client import LEASE, ClusterClient, Obj
from rayop.runtime.clock import Clock, RealClock, timeout
from rayop.runtime.errors import AlreadyExists, ApiError, Conflict, NotFound, RayopError

__all__ = ["LeaderElectionConfig", "LeaderElectionLost", "LeaderElector"]

_log = structlog.get_logger("rayop.leader")


class LeaderElectionLost(RayopError):
    """The leader lease is lost (or was never held): stop writing; exit and start over."""


def _format_micro(clock: Clock) -> str:
    """Format now as a Lease ``MicroTime`` (RFC 3339 with microseconds)."""
    return clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Where the lease lives and how long its terms are (client-go's defaults)."""

    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


class LeaderElector:
    """Acquires, holds and releases one Lease; reports leadership through an event and callbacks."""

    def __init__(
        self,
        client: ClusterClient,
        config: LeaderElectionConfig,
        *,
        clock: Clock | None = None,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self.config = config
        self._clock = clock or RealClock()
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._observed: Obj | None = None
        self._observed_at = 0.0
        self._held: Obj | None = None  # the lease as this candidate last wrote it
        self._renewed_at = float("-inf")
        self._leader: str | None = None
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        """True while this candidate holds the lease and renewed it within ``renew_deadline``."""
        return (self.leading.is_set() and not self.lost.is_set()
                and self._clock.monotonic() - self._renewed_at < self.config.renew_deadline)

    @property
    def leader(self) -> str | None:
        """The identity of the holder this candidate last saw."""
        return self._leader

    async def run(self) -> None:
        """Acquire the lease, then renew it until leadership is lost or the task is cancelled.

        Returns when leadership is lost (``lost`` is set); on cancellation releases the lease.
        """
        try:
            await self._acquire()
            self.leading.set()
            _log.info("leader election won", lease=self.config.name, identity=self.config.identity)
            if self._on_started:
                self._on_started()
            await self._renew_loop()
        except asyncio.CancelledError:
            if self.is_leader and self.config.release_on_cancel:
                await asyncio.shield(self._release())
            raise
        finally:
            if self.leading.is_set() and not self.lost.is_set():
                self.lost.set()
                if self._on_stopped:
                    self._on_stopped()

    async def _acquire(self) -> None:
        while not await self._try_acquire_or_renew():
            await self._clock.sleep(self.config.retry_period)

    async def _renew_loop(self) -> None:
        while True:
            await self._clock.sleep(self.config.retry_period)
            if not self.is_leader or not await self._renew_within_deadline():
                _log.warning("leader lease lost", lease=self.config.name)
                self.lost.set()
                if self._on_stopped:
                    self._on_stopped()
                return

    async def _renew_within_deadline(self) -> bool:
        """Keep trying to renew until it works or ``renew_deadline`` since the last renew passed."""
        left = self._renewed_at + self.config.renew_deadline - self._clock.monotonic()
        try:
            async with timeout(self._clock, left):
                while not await self._try_acquire_or_renew():
                    await self._clock.sleep(self.config.retry_period)
            return True
        except TimeoutError:
            return False

    async def _try_acquire_or_renew(self) -> bool:
        now_mono = self._clock.monotonic()
        try:
            current = await self._client.get(
                LEASE, self.config.name, namespace=self.config.namespace
            )
        except NotFound:
            return await self._create()
        except ApiError as err:
            _log.warning("lease read failed", error=str(err))
            return False
        spec = current.get("spec") or {}
        if self._observed is None or (self._observed.get("spec") or {}) != spec:
            self._observed, self._observed_at = current, now_mono
            self._see_leader(str(spec.get("holderIdentity") or ""))
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        expired = self._observed_at + duration <= now_mono
        if holder and holder != self.config.identity and not expired:
            return False
        return await self._write(current, holder == self.config.identity)

    def _spec(self, *, renewing: bool, previous: dict[str, Any]) -> dict[str, Any]:
        now = _format_micro(self._clock)
        transitions = int(previous.get("leaseTransitions") or 0)
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": round(self.config.lease_duration),
            "acquireTime": previous.get("acquireTime") if renewing else now,
            "renewTime": now,
            "leaseTransitions": transitions if renewing else transitions + 1,
        }

    async def _create(self) -> bool:
        body: Obj = {
            "apiVersion": LEASE.api_version,
            "kind": LEASE.kind,
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": self._spec(renewing=False, previous={"leaseTransitions": -1}),
        }
        try:
            created = await self._client.create(LEASE, body, namespace=self.config.namespace)
        except (AlreadyExists, Conflict):
            return False
        except ApiError as err:
            _log.warning("lease create failed", error=str(err))
            return False
        self._remember(created)
        return True

    async def _write(self, current: Obj, renewing: bool) -> bool:
        updated = {**current, "spec": self._spec(renewing=renewing, previous=current["spec"])}
        try:
            written = await self._client.replace(LEASE, updated, namespace=self.config.namespace)
        except ApiError as err:
            _log.info("lease write refused", error=type(err).__name__)
            return False
        self._remember(written)
        return True

    def _remember(self, lease: Obj) -> None:
        self._observed, self._observed_at = lease, self._clock.monotonic()
        self._held, self._renewed_at = lease, self._observed_at
        self._see_leader(self.config.identity)

    def _see_leader(self, holder: str) -> None:
        if holder and holder != self._leader:
            self._leader = holder
            if self._on_new_leader:
                self._on_new_leader(holder)

    async def _release(self) -> None:
        """Give the lease up: empty holder, 1 s duration, so the next candidate need not wait.

        Tried once, for at most ``retry_period``: a stop never hangs on an unresponsive server
        (the lease then simply expires). Only the lease as this candidate last wrote it is
        replaced (its resourceVersion a precondition), and only while the renew deadline holds:
        a lease someone else has written since is theirs, and is left alone.
        """
        held = self._held
        if held is None or not self.is_leader:
            _log.info("leader lease not released: no longer ours", lease=self.config.name)
            return
        spec = dict(held.get("spec") or {})
        spec.update(
            holderIdentity="", leaseDurationSeconds=1, renewTime=_format_micro(self._clock)
        )
        try:
            async with timeout(self._clock, self.config.retry_period):
                await self._client.replace(
                    LEASE, {**held, "spec": spec}, namespace=self.config.namespace
                )
        except (ApiError, TimeoutError) as err:
            _log.warning("leader lease not released; it will expire", error=repr(err))
            return
        _log.info("leader lease released", lease=self.config.name)

