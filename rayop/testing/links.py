"""What stands between one simulated manager process and the world: its API and Ray "links".

Each manager the :class:`~rayop.testing.Simulation` runs reaches the fake cluster through a
:class:`ClusterLink` and the fake Ray heads through a :class:`DashboardLink`. The links

- record every write (and every Ray call that changes something) on the timeline, by manager;
- flag a write that succeeds after its manager lost the leader lease (an invariant);
- play the process's death: once ``severed``, every call fails at once, so a killed manager
  makes no further change to the world while its tasks unwind;
- play a network partition (``partitioned``): calls time out, so the manager loses its lease;
- crash the manager right after its ``n``-th write commits (``crash_after``), the sharpest
  place for a crash: the world changed, the manager never heard the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rayop.ray.dashboard import (
    DashboardClient,
    DashboardError,
    DashboardProvider,
    JobDetails,
    JobSubmission,
    ServeDetails,
)
from rayop.runtime.client import (
    EVENT,
    LEASE,
    ClusterClient,
    Kind,
    ListResult,
    Obj,
    PatchType,
    Preconditions,
    PropagationPolicy,
    WatchEvent,
)
from rayop.runtime.clock import Clock
from rayop.runtime.errors import ServerError, Timeout
from rayop.runtime.manager import Manager
from rayop.testing.timeline import Timeline

__all__ = ["ClusterLink", "DashboardLink", "LinkState", "Submission"]

_QUIET_KINDS = frozenset({LEASE.kind, EVENT.kind})


@dataclass(frozen=True, slots=True)
class Submission:
    """A Ray job a fake head accepted: where, under which id, when, and from which manager."""

    namespace: str
    cluster: str
    submission_id: str
    at: float
    actor: str
    incarnation: int = 0
    """Which life of the cluster's Ray head took it (a head restarted is a new Ray)."""


@dataclass
class LinkState:
    """The shared state of one manager's links: alive, partitioned, its crash trigger."""

    identity: str
    clock: Clock
    timeline: Timeline
    on_crash: Callable[[LinkState], None]
    on_violation: Callable[[str], None]
    submissions: list[Submission]
    manager: Manager | None = None
    severed: bool = False
    partitioned: bool = False
    """Cut from the API server: every API call times out."""
    ray_partitioned: bool = False
    """Cut from Ray: every dashboard call fails (a partition may cut one and not the other)."""
    crash_after: int | None = None
    crash_on: str | None = None
    """Crash right after the next write whose ``kind namespace/name verb`` contains this."""
    writes: int = 0
    lag: dict[str, float] = field(default_factory=dict)
    """Extra virtual seconds before each watch event of a kind (by ``Kind.kind``) is delivered."""

    def now(self) -> float:
        """Virtual seconds now."""
        return self.clock.monotonic()

    def check(self) -> None:
        """Fail the call the way a dead or cut-off process would."""
        if self.severed:
            raise ServerError(f"{self.identity} is dead: connection refused")
        if self.partitioned:
            raise Timeout(f"{self.identity} is partitioned from the API server")

    def lost_lease(self) -> bool:
        """True once this manager's leader elector has given up the lease."""
        elector = None if self.manager is None else self.manager.elector
        return elector is not None and elector.lost.is_set()

    def wrote(self, kind: str, obj: str, detail: str) -> None:
        """Record a committed write; flag it after lease loss; crash here if it is the n-th."""
        quiet = kind in _QUIET_KINDS
        if not quiet:
            self.timeline.add(self.now(), "write", f"{kind} {obj}", self.identity, detail)
            if self.lost_lease():
                self.on_violation(f"{self.identity} wrote {detail} {kind} {obj} at "
                                  f"{self.now():.2f}s after it lost its leader lease")
        self.writes += 1
        if quiet:
            return
        if (self.crash_after is not None and self.writes >= self.crash_after) or (
                self.crash_on is not None and self.crash_on in f"{kind} {obj} {detail}"):
            self.crash_after = self.crash_on = None
            self.timeline.add(self.now(), "fault", f"{kind} {obj}", "chaos",
                              f"{self.identity} crashes right after this write committed")
            self.severed = True
            self.on_crash(self)
            raise ServerError(f"{self.identity} crashed before it read the answer")


def _name(namespace: str | None, name: str | None) -> str:
    return f"{namespace}/{name}" if namespace else str(name)


class ClusterLink:
    """A :class:`~rayop.runtime.client.ClusterClient` for one simulated manager (see module doc)."""

    def __init__(self, inner: ClusterClient, state: LinkState) -> None:
        self.inner = inner
        self.state = state

    def _wrote(self, kind: Kind, out: Obj, verb: str) -> Obj:
        """Record the write that answered ``out`` (named by the object it returned)."""
        meta = out.get("metadata") or {}
        self.state.wrote(kind.kind, _name(meta.get("namespace"), meta.get("name")), verb)
        return out

    async def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> Obj:
        """Read one object."""
        self.state.check()
        return await self.inner.get(kind, name, namespace=namespace)

    async def list(
        self, kind: Kind, *, namespace: str | None = None, label_selector: str | None = None,
        field_selector: str | None = None, limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """List objects."""
        self.state.check()
        return await self.inner.list(
            kind, namespace=namespace, label_selector=label_selector,
            field_selector=field_selector, limit=limit, continue_token=continue_token)

    async def watch(
        self, kind: Kind, *, namespace: str | None = None, resource_version: str | None = None,
        label_selector: str | None = None, field_selector: str | None = None,
        timeout_seconds: float | None = None, allow_bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]:
        """Watch; while a lag fault holds the kind, each event arrives that much later."""
        self.state.check()
        stream = self.inner.watch(
            kind, namespace=namespace, resource_version=resource_version,
            label_selector=label_selector, field_selector=field_selector,
            timeout_seconds=timeout_seconds, allow_bookmarks=allow_bookmarks)
        async for event in stream:
            delay = self.state.lag.get(kind.kind, 0.0)
            if delay:
                await self.state.clock.sleep(delay)
            if self.state.severed or self.state.partitioned:
                return  # the connection is gone
            yield event

    async def create(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Create, and record it."""
        self.state.check()
        return self._wrote(kind, await self.inner.create(kind, obj, namespace=namespace),
                           "create")

    async def replace(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace, and record it."""
        self.state.check()
        return self._wrote(kind, await self.inner.replace(kind, obj, namespace=namespace),
                           "replace")

    async def patch(
        self, kind: Kind, name: str, patch: Any, *, namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch, and record it."""
        self.state.check()
        out = await self.inner.patch(kind, name, patch, namespace=namespace,
                                     patch_type=patch_type)
        self.state.wrote(kind.kind, _name(namespace, name), "patch")
        return out

    async def replace_status(self, kind: Kind, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Replace a status, and record it."""
        self.state.check()
        return self._wrote(kind, await self.inner.replace_status(kind, obj, namespace=namespace),
                           "replace_status")

    async def patch_status(
        self, kind: Kind, name: str, patch: Any, *, namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> Obj:
        """Patch a status, and record it (with the phase it sets, when it sets one)."""
        self.state.check()
        out = await self.inner.patch_status(kind, name, patch, namespace=namespace,
                                            patch_type=patch_type)
        self.state.wrote(kind.kind, _name(namespace, name), "patch_status" + _phase(patch))
        return out

    async def delete(
        self, kind: Kind, name: str, *, namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: Preconditions | None = None,
    ) -> Obj | None:
        """Delete, and record it."""
        self.state.check()
        out = await self.inner.delete(kind, name, namespace=namespace,
                                      propagation_policy=propagation_policy,
                                      preconditions=preconditions)
        self.state.wrote(kind.kind, _name(namespace, name), "delete")
        return out


def _phase(patch: Any) -> str:
    status = patch.get("status") if isinstance(patch, Mapping) else None
    if not isinstance(status, Mapping):
        return ""
    phase = status.get("jobDeploymentStatus") or status.get("status") or status.get("state")
    return f" -> {phase}" if phase else ""


class DashboardLinks:
    """A :class:`~rayop.ray.dashboard.DashboardProvider` handing out :class:`DashboardLink` s."""

    def __init__(self, inner: DashboardProvider, state: LinkState) -> None:
        self.inner = inner
        self.state = state

    def for_cluster(self, namespace: str, name: str) -> DashboardClient:
        """The link to cluster ``namespace/name``'s Ray head."""
        return DashboardLink(self.inner.for_cluster(namespace, name), self.state, namespace, name)


class DashboardLink:
    """A :class:`~rayop.ray.dashboard.DashboardClient` for one manager and one Ray head."""

    def __init__(self, inner: DashboardClient, state: LinkState, namespace: str,
                 cluster: str) -> None:
        self.inner = inner
        self.state = state
        self.namespace = namespace
        self.cluster = cluster

    def _check(self) -> None:
        if self.state.severed:
            raise DashboardError(f"{self.state.identity} is dead: connection refused")
        if self.state.ray_partitioned:
            raise DashboardError(f"{self.state.identity} is partitioned: no answer")

    def _did(self, detail: str) -> None:
        self.state.wrote("RayHead", _name(self.namespace, self.cluster), detail)

    async def submit_job(self, submission: JobSubmission) -> str:
        """Submit; an accepted submission is recorded for the exactly-once invariant."""
        self._check()
        sid = await self.inner.submit_job(submission)
        self.state.submissions.append(
            Submission(self.namespace, self.cluster, sid, self.state.now(), self.state.identity,
                       int(getattr(self.inner, "incarnation", 0))))
        self._did(f"submit_job {sid}")
        return sid

    async def get_job(self, submission_id: str) -> JobDetails | None:
        """Read a job."""
        self._check()
        return await self.inner.get_job(submission_id)

    async def list_jobs(self) -> list[JobDetails]:
        """List jobs."""
        self._check()
        return await self.inner.list_jobs()

    async def stop_job(self, submission_id: str) -> bool:
        """Stop a job, and record it."""
        self._check()
        stopped = await self.inner.stop_job(submission_id)
        self._did(f"stop_job {submission_id}")
        return stopped

    async def delete_job(self, submission_id: str) -> bool:
        """Delete a job, and record it."""
        self._check()
        deleted = await self.inner.delete_job(submission_id)
        self._did(f"delete_job {submission_id}")
        return deleted

    async def job_logs(self, submission_id: str) -> str:
        """Read a job's logs."""
        self._check()
        return await self.inner.job_logs(submission_id)

    async def apply_serve_config(self, config: Mapping[str, Any]) -> None:
        """Apply a Serve config, and record it."""
        self._check()
        await self.inner.apply_serve_config(config)
        self._did("apply_serve_config")

    async def get_serve_applications(self) -> ServeDetails:
        """Read the Serve applications."""
        self._check()
        return await self.inner.get_serve_applications()

    async def delete_serve_applications(self) -> None:
        """Delete the Serve applications, and record it."""
        self._check()
        await self.inner.delete_serve_applications()
        self._did("delete_serve_applications")

    async def serve_healthy(self) -> bool:
        """Ask Serve's proxy whether it is healthy."""
        self._check()
        return await self.inner.serve_healthy()

    async def aclose(self) -> None:
        """Nothing to close (the fake heads hold no connections)."""
