"""The seam between rayop and a Ray cluster: the dashboard's Jobs and Serve REST APIs.

:class:`DashboardClient` is what reconcilers call; :class:`DashboardProvider` hands them one per
RayCluster. Two implementations pass one contract suite (``tests/contract/dashboard``):
:class:`rayop.ray.dashboard_http.HttpDashboardClient` (aiohttp, against a real Ray head) and
:class:`rayop.ray.fakes.dashboard.FakeDashboard` (in memory, virtual time). This module does no I/O
and imports no HTTP library, so reconcilers can depend on it.

Ray's answers are modelled leniently (unknown fields ignored; a deployment status Ray adds later
is kept as a plain string) so a newer Ray does not break parsing.

Errors, all :class:`~rayop.runtime.errors.DashboardError`::

    DashboardError            any non-success answer; ``status`` None = no answer at all
     └── JobAlreadySubmitted  submit_job with a submission id Ray already knows (Ray: HTTP 500)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from rayop.runtime.errors import RayopError
from rayop.runtime.leader import LeaderElectionLost

__all__ = [
    "DashboardAddress",
    "DashboardClient",
    "DashboardError",
    "DashboardLocator",
    "DashboardProvider",
    "DeploymentDetails",
    "DeploymentStatus",
    "FencedDashboards",
    "JobAlreadySubmitted",
    "JobDetails",
    "JobStatus",
    "JobSubmission",
    "ReplicaDetails",
    "ServeApplicationDetails",
    "ServeApplicationStatus",
    "ServeDetails",
    "answer_error",
    "head_service_name",
]

DASHBOARD_PORT = 8265
SERVE_PORT = 8000


class DashboardError(RayopError):
    """A Ray dashboard answer that is not success, or a dashboard that cannot be reached."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body

    @property
    def unreachable(self) -> bool:
        """True when no HTTP answer came back at all (connection refused, timeout)."""
        return self.status is None



class JobAlreadySubmitted(DashboardError):
    """``submit_job`` named a submission id the cluster already has: the job exists, not failed."""

    def __init__(self, submission_id: str, *, body: str = "") -> None:
        super().__init__(f"job {submission_id!r} was already submitted", status=500, body=body)
        self.submission_id = submission_id


def answer_error(what: str, status: int, body: str) -> DashboardError:
    """Return the error for a non-success answer; the message quotes the gist of the body.

    Ray's error bodies are plain text, often a whole traceback: the gist is its last exception
    line and whatever follows it (Ray's messages may span lines), or else the whole body.
    """
    return DashboardError(f"{what}: HTTP {status}: {_gist(body)}", status=status, body=body)


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:")


def _gist(body: str, limit: int = 500) -> str:
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if _EXCEPTION_LINE.match(line)]
    gist = " ".join(lines[starts[-1] :] if starts else lines)
    return gist if len(gist) <= limit else gist[: limit - 3] + "..."


# -- Jobs ---------------------------------------------------------------------------------------


class JobStatus(StrEnum):
    """A Ray job's state, as the Jobs API reports it."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        """True once the job can no longer change state."""
        return self in (JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED)


class _RayModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class JobSubmission(_RayModel):
    """The body of ``POST /api/jobs/``: what to run and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entrypoint: str
    submission_id: str | None = None
    runtime_env: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    entrypoint_memory: int | None = None
    entrypoint_resources: dict[str, float] | None = None

    def payload(self) -> dict[str, Any]:
        """Return the JSON body, without the fields left unset (Ray rejects unknown ones)."""
        return self.model_dump(exclude_none=True)


class JobDetails(_RayModel):
    """One job as ``GET /api/jobs/{id}`` describes it; times are epoch milliseconds."""

    submission_id: str | None = None
    job_id: str | None = None
    status: JobStatus
    entrypoint: str = ""
    message: str | None = None
    error_type: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    driver_exit_code: int | None = None
    metadata: dict[str, str] | None = None
    runtime_env: dict[str, Any] | None = None


# -- Serve --------------------------------------------------------------------------------------


class ServeApplicationStatus(StrEnum):
    """A Serve application's state."""

    NOT_STARTED = "NOT_STARTED"
    DEPLOYING = "DEPLOYING"
    RUNNING = "RUNNING"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    DELETING = "DELETING"
    UNHEALTHY = "UNHEALTHY"


class DeploymentStatus(StrEnum):
    """A Serve deployment's state (Ray may add more; unknown values stay plain strings)."""

    UPDATING = "UPDATING"
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    UPSCALING = "UPSCALING"
    DOWNSCALING = "DOWNSCALING"


class ReplicaDetails(_RayModel):
    """One replica of a deployment."""

    replica_id: str = ""
    state: str = ""
    node_ip: str | None = None
    pid: int | None = None


class DeploymentDetails(_RayModel):
    """One deployment of an application, with its replicas."""

    name: str
    status: Annotated[DeploymentStatus | str, Field(union_mode="left_to_right")]
    message: str = ""
    replicas: list[ReplicaDetails] = Field(default_factory=list)


class ServeApplicationDetails(_RayModel):
    """One Serve application; ``deployed_app_config`` is the config the cluster runs."""

    name: str
    status: ServeApplicationStatus
    message: str = ""
    route_prefix: str | None = None
    last_deployed_time_s: float | None = None
    deployed_app_config: dict[str, Any] | None = None
    deployments: dict[str, DeploymentDetails] = Field(default_factory=dict)


class ServeDetails(_RayModel):
    """The answer of ``GET /api/serve/applications/``: every application, by name."""

    applications: dict[str, ServeApplicationDetails] = Field(default_factory=dict)
    http_options: dict[str, Any] | None = None
    target_capacity: float | None = None


# -- the seam -----------------------------------------------------------------------------------


@runtime_checkable
class DashboardClient(Protocol):
    """Ray's Jobs and Serve REST APIs, for one cluster. Every call raises ``DashboardError``."""

    async def submit_job(self, submission: JobSubmission) -> str:
        """Submit a job; return its submission id. Raises ``JobAlreadySubmitted`` on a reused id."""
        ...

    async def get_job(self, submission_id: str) -> JobDetails | None:
        """Return the job, or None if the cluster does not know it."""
        ...

    async def list_jobs(self) -> list[JobDetails]:
        """Return every job the cluster knows."""
        ...

    async def stop_job(self, submission_id: str) -> bool:
        """Ask a job to stop; False if it had already ended or does not exist."""
        ...

    async def delete_job(self, submission_id: str) -> bool:
        """Forget an ended job; False if it does not exist. A running job is an error."""
        ...

    async def job_logs(self, submission_id: str) -> str:
        """Return the job's driver log (status 404 ``DashboardError`` for an unknown job)."""
        ...

    async def apply_serve_config(self, config: Mapping[str, Any]) -> None:
        """Deploy a multi-application Serve config (replaces every application; async in Ray)."""
        ...

    async def get_serve_applications(self) -> ServeDetails:
        """Return every Serve application with its status and deployments."""
        ...

    async def delete_serve_applications(self) -> None:
        """Delete every Serve application (and shut Serve down)."""
        ...

    async def serve_healthy(self) -> bool:
        """Return True when the Serve HTTP proxy answers its health check; never raises."""
        ...

    async def aclose(self) -> None:
        """Release connections; the client is unusable afterwards."""
        ...


@runtime_checkable
class DashboardProvider(Protocol):
    """Hands out the dashboard client of a RayCluster, by namespace and name."""

    def for_cluster(self, namespace: str, name: str) -> DashboardClient:
        """Return the client for the cluster (the same one for repeated calls)."""
        ...


class _FencedDashboard:
    """One cluster's dashboard client whose acting calls check the fence first."""

    def __init__(self, inner: DashboardClient, may_act: Callable[[], bool]) -> None:
        self.inner = inner
        self._may_act = may_act

    def _fence(self, call: str) -> None:
        if not self._may_act():
            raise LeaderElectionLost(f"not the leader: Ray call {call} refused")

    async def submit_job(self, submission: JobSubmission) -> str:
        """Submit, if this process still leads (else ``LeaderElectionLost``)."""
        self._fence("submit_job")
        return await self.inner.submit_job(submission)

    async def get_job(self, submission_id: str) -> JobDetails | None:
        """Read one job (reads are not fenced)."""
        return await self.inner.get_job(submission_id)

    async def list_jobs(self) -> list[JobDetails]:
        """Read every job (reads are not fenced)."""
        return await self.inner.list_jobs()

    async def stop_job(self, submission_id: str) -> bool:
        """Stop a job, if this process still leads."""
        self._fence("stop_job")
        return await self.inner.stop_job(submission_id)

    async def delete_job(self, submission_id: str) -> bool:
        """Delete an ended job, if this process still leads."""
        self._fence("delete_job")
        return await self.inner.delete_job(submission_id)

    async def job_logs(self, submission_id: str) -> str:
        """Read a job's log (reads are not fenced)."""
        return await self.inner.job_logs(submission_id)

    async def apply_serve_config(self, config: Mapping[str, Any]) -> None:
        """Deploy a Serve config, if this process still leads."""
        self._fence("apply_serve_config")
        await self.inner.apply_serve_config(config)

    async def get_serve_applications(self) -> ServeDetails:
        """Read Serve's applications (reads are not fenced)."""
        return await self.inner.get_serve_applications()

    async def delete_serve_applications(self) -> None:
        """Delete every Serve application, if this process still leads."""
        self._fence("delete_serve_applications")
        await self.inner.delete_serve_applications()

    async def serve_healthy(self) -> bool:
        """Probe the Serve proxy (not fenced)."""
        return await self.inner.serve_healthy()

    async def aclose(self) -> None:
        """Close the wrapped client."""
        await self.inner.aclose()


class FencedDashboards:
    """A :class:`DashboardProvider` whose clients refuse to act on Ray once ``may_act()`` is False.

    The Ray counterpart of the manager's fenced API writes: submit, stop, delete and Serve
    apply/delete raise :class:`~rayop.runtime.leader.LeaderElectionLost` before reaching Ray when
    the process no longer leads (a paused ex-leader, a lease that could not be renewed), so a
    reconcile still running then cannot act on Ray as a second leader. Reads pass through.
    """

    def __init__(self, inner: DashboardProvider, may_act: Callable[[], bool]) -> None:
        self.inner = inner
        self._may_act = may_act
        self._clients: dict[tuple[str, str], _FencedDashboard] = {}

    def for_cluster(self, namespace: str, name: str) -> DashboardClient:
        """The fenced client of the cluster (the same one for repeated calls)."""
        inner = self.inner.for_cluster(namespace, name)
        key = (namespace, name)
        client = self._clients.get(key)
        if client is None or client.inner is not inner:
            client = self._clients[key] = _FencedDashboard(inner, self._may_act)
        return client


# -- where a dashboard is -----------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardAddress:
    """Base URLs of a cluster's dashboard and Serve proxy, and headers to send to them."""

    dashboard_url: str
    serve_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def at(cls, dashboard_url: str, *, serve_port: int = SERVE_PORT) -> DashboardAddress:
        """Address a head by its dashboard URL; Serve is on the same host at ``serve_port``."""
        scheme, _, rest = dashboard_url.rstrip("/").partition("://")
        host = rest.split("/", 1)[0].rsplit(":", 1)[0]
        return cls(dashboard_url.rstrip("/"), f"{scheme}://{host}:{serve_port}")


LocatorMode = Literal["in-cluster", "api-proxy", "fixed"]


@dataclass(frozen=True, kw_only=True)
class DashboardLocator:
    """The policy for finding a RayCluster's dashboard.

    - ``in-cluster``: the head Service's DNS name, ``<svc>.<ns>.svc.<domain>:8265``;
    - ``api-proxy``: through the API server's service proxy (the operator runs outside the
      cluster), ``<api_server>/api/v1/namespaces/<ns>/services/<svc>:dashboard/proxy``, sending
      ``api_headers`` (for example a bearer token);
    - ``fixed``: a map from ``(namespace, name)`` to an address (tests, port-forwards).
    """

    mode: LocatorMode = "in-cluster"
    cluster_domain: str = "cluster.local"
    dashboard_port: int = DASHBOARD_PORT
    serve_port: int = SERVE_PORT
    api_server: str = ""
    api_headers: Mapping[str, str] = field(default_factory=dict)
    fixed: Mapping[tuple[str, str], DashboardAddress] = field(default_factory=dict)

    def locate(self, namespace: str, name: str, *, service: str | None = None) -> DashboardAddress:
        """Return the address of cluster ``namespace/name`` (head Service ``service``)."""
        svc = service or head_service_name(name)
        if self.mode == "fixed":
            try:
                return self.fixed[(namespace, name)]
            except KeyError:
                raise DashboardError(f"no dashboard address for {namespace}/{name}") from None
        if self.mode == "api-proxy":
            if not self.api_server:
                raise ValueError("api-proxy mode needs api_server")
            base = f"{self.api_server.rstrip('/')}/api/v1/namespaces/{namespace}/services"
            return DashboardAddress(
                f"{base}/{svc}:dashboard/proxy", f"{base}/{svc}:serve/proxy", self.api_headers
            )
        host = f"{svc}.{namespace}.svc.{self.cluster_domain}"
        return DashboardAddress(
            f"http://{host}:{self.dashboard_port}", f"http://{host}:{self.serve_port}"
        )


def head_service_name(cluster: str) -> str:
    """``<cluster>-head-svc``: KubeRay's name of a RayCluster's head Service (one place for it)."""
    return f"{cluster}-head-svc"
