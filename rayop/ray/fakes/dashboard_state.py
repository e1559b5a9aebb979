"""What a fake Ray head knows: jobs and Serve applications, as functions of (virtual) time.

No background task moves anything: each record keeps when it started and its script, and its state
is computed when asked. Messages, error types and validation texts copy what Ray 2.60 answers, so
code written against the fake reads the same strings on a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rayop.ray.dashboard import (
    DeploymentDetails,
    DeploymentStatus,
    JobDetails,
    JobStatus,
    JobSubmission,
    ReplicaDetails,
    ServeApplicationDetails,
    ServeApplicationStatus,
)

__all__ = ["AppScript", "JobScript", "validate_serve_config"]

JOB_MESSAGES = {
    JobStatus.PENDING: "Job has not started yet.",
    JobStatus.RUNNING: "Job is currently running.",
    JobStatus.SUCCEEDED: "Job finished successfully.",
    JobStatus.STOPPED: "Job was intentionally stopped.",
}


@dataclass(frozen=True, kw_only=True)
class JobScript:
    """How a fake job runs: seconds PENDING, seconds RUNNING (None: until stopped), the end."""

    pending: float = 1.0
    running: float | None = 2.0
    outcome: JobStatus = JobStatus.SUCCEEDED
    exit_code: int | None = None
    message: str | None = None
    logs: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            raise ValueError("a job script ends SUCCEEDED or FAILED (STOPPED comes from stop_job)")


@dataclass(frozen=True, kw_only=True)
class AppScript:
    """How a fake Serve application deploys: seconds DEPLOYING, then RUNNING or DEPLOY_FAILED.

    ``unhealthy_after`` turns a RUNNING application UNHEALTHY that many seconds later;
    ``response`` is what its route answers (:meth:`FakeDashboard.route`).
    """

    deploying: float = 3.0
    outcome: ServeApplicationStatus = ServeApplicationStatus.RUNNING
    message: str | None = None
    unhealthy_after: float | None = None
    unhealthy_message: str = "The deployment failed its health check."
    deployments: tuple[str, ...] = ()
    response: str = "ok"

    def __post_init__(self) -> None:
        allowed = (ServeApplicationStatus.RUNNING, ServeApplicationStatus.DEPLOY_FAILED)
        if self.outcome not in allowed:
            raise ValueError("an application script ends RUNNING or DEPLOY_FAILED")


@dataclass
class FakeJob:
    """One submitted job: its submission, script, and the times that decide its state."""

    submission_id: str
    submission: JobSubmission
    script: JobScript
    submitted: float
    submitted_ms: int
    stop_at: float | None = None

    def _natural_end(self) -> float | None:
        if self.script.running is None:
            return None
        return self.submitted + self.script.pending + self.script.running

    def status_at(self, now: float) -> tuple[JobStatus, float | None]:
        """Return the status at monotonic ``now`` and, if it has ended, when."""
        end = self._natural_end()
        if self.stop_at is not None and now >= self.stop_at and (end is None or self.stop_at < end):
            return JobStatus.STOPPED, self.stop_at
        if end is not None and now >= end:
            return self.script.outcome, end
        if now >= self.submitted + self.script.pending:
            return JobStatus.RUNNING, None
        return JobStatus.PENDING, None

    def logs_at(self, now: float) -> str:
        """Return the driver log as Ray shows it: the entrypoint line, then the output."""
        if now < self.submitted + self.script.pending:
            return ""
        head = f"Running entrypoint for job {self.submission_id}: {self.submission.entrypoint}\n"
        return head + self.script.logs

    def details_at(self, now: float) -> JobDetails:
        """Return the job as ``GET /api/jobs/{id}`` would at ``now``."""
        status, ended = self.status_at(now)
        exit_code: int | None = None
        error_type: str | None = None
        message = JOB_MESSAGES.get(status)
        if status == JobStatus.SUCCEEDED:
            exit_code = 0 if self.script.exit_code is None else self.script.exit_code
        elif status == JobStatus.FAILED:
            exit_code = 1 if self.script.exit_code is None else self.script.exit_code
            error_type = "JOB_ENTRYPOINT_COMMAND_ERROR"
            message = (
                f"Job entrypoint command failed with exit code {exit_code}, last available logs"
                f" (truncated to 20,000 chars):\n{self.logs_at(now)[-20000:]}"
            )
        return JobDetails(
            submission_id=self.submission_id,
            status=status,
            entrypoint=self.submission.entrypoint,
            message=self.script.message if self.script.message and status.terminal else message,
            error_type=error_type,
            start_time=self.submitted_ms,
            end_time=None if ended is None else self._epoch_ms(ended),
            driver_exit_code=exit_code,
            metadata=self.submission.metadata,
            runtime_env=self.submission.runtime_env,
        )

    def _epoch_ms(self, at: float) -> int:
        return self.submitted_ms + round((at - self.submitted) * 1000)


@dataclass
class FakeApp:
    """One Serve application: its config as applied, its script, and when it was deployed."""

    name: str
    config: dict[str, Any]
    script: AppScript
    deployed: float
    deployed_epoch: float
    num_replicas: dict[str, int] = field(default_factory=dict)

    def status_at(self, now: float) -> ServeApplicationStatus:
        """Return the application's status at monotonic ``now``."""
        ready = self.deployed + self.script.deploying
        if now < ready:
            return ServeApplicationStatus.DEPLOYING
        if self.script.outcome == ServeApplicationStatus.DEPLOY_FAILED:
            return ServeApplicationStatus.DEPLOY_FAILED
        after = self.script.unhealthy_after
        if after is not None and now >= ready + after:
            return ServeApplicationStatus.UNHEALTHY
        return ServeApplicationStatus.RUNNING

    def details_at(self, now: float) -> ServeApplicationDetails:
        """Return the application as ``GET /api/serve/applications/`` would at ``now``."""
        status = self.status_at(now)
        message = ""
        if status == ServeApplicationStatus.DEPLOY_FAILED:
            message = self.script.message or _import_failure(self.name, self.config)
        elif status == ServeApplicationStatus.UNHEALTHY:
            message = self.script.unhealthy_message
        serving = status in (ServeApplicationStatus.RUNNING, ServeApplicationStatus.UNHEALTHY)
        return ServeApplicationDetails(
            name=self.name,
            status=status,
            message=message,
            route_prefix=self.route_prefix if serving else None,
            last_deployed_time_s=self.deployed_epoch,
            deployed_app_config=self.config,
            deployments=self._deployments(status),
        )

    @property
    def route_prefix(self) -> str:
        """The route the application serves (Ray's default is ``/``)."""
        return str(self.config.get("route_prefix") or "/")

    def _deployments(self, status: ServeApplicationStatus) -> dict[str, DeploymentDetails]:
        if status == ServeApplicationStatus.DEPLOY_FAILED:
            return {}  # the import failed: Ray never learned the deployments
        dep_status, replica_state = {
            ServeApplicationStatus.DEPLOYING: (DeploymentStatus.UPDATING, "STARTING"),
            ServeApplicationStatus.UNHEALTHY: (DeploymentStatus.UNHEALTHY, "RUNNING"),
        }.get(status, (DeploymentStatus.HEALTHY, "RUNNING"))
        message = self.script.unhealthy_message if dep_status == DeploymentStatus.UNHEALTHY else ""
        return {
            name: DeploymentDetails(
                name=name,
                status=dep_status,
                message=message,
                replicas=[
                    ReplicaDetails(replica_id=f"{self.name}-{name}-{i}", state=replica_state)
                    for i in range(self.num_replicas.get(name, 1))
                ],
            )
            for name in self.deployment_names()
        }

    def deployment_names(self) -> list[str]:
        """The deployments: scripted, else those the config names, else one named by the path."""
        if self.script.deployments:
            return list(self.script.deployments)
        named = [str(d["name"]) for d in self.config.get("deployments") or [] if "name" in d]
        if named:
            return named
        return [re.split(r"[:.]", str(self.config.get("import_path", "app")))[-1]]


def _import_failure(name: str, config: Mapping[str, Any]) -> str:
    module = re.split(r":", str(config.get("import_path", "")))[0]
    return (
        f"Deploying app '{name}' failed with exception:\nTraceback (most recent call last):\n"
        f"ModuleNotFoundError: No module named '{module}'\n"
    )


def validate_serve_config(config: Any) -> str | None:
    """Return Ray's 400 text for an invalid multi-application config, or None if it is valid.

    Checks what Ray's ``ServeDeploySchema`` checks first: ``applications`` is a list; each has an
    ``import_path`` with a dot or colon; names are non-empty and unique; route prefixes unique.
    """
    if not isinstance(config, Mapping) or not isinstance(config.get("applications"), list):
        return _validation_text(["applications\n  Field required [type=missing]"])
    errors: list[str] = []
    apps = config["applications"]
    for i, app in enumerate(apps):
        if not isinstance(app, Mapping):
            errors.append(f"applications.{i}\n  Input should be a valid dictionary")
            continue
        path = app.get("import_path")
        if path is None:
            errors.append(f"applications.{i}.import_path\n  Field required [type=missing]")
        elif not isinstance(path, str) or not re.search(r"[.:]", path):
            errors.append(
                f"applications.{i}.import_path\n  Value error, Got invalid import path "
                f'"{path}". An import path must contain at least on dot or colon separating the'
                " module (and potentially submodules) from the deployment graph."
                ' E.g.: "module.deployment_graph". [type=value_error]'
            )
    if errors:
        return _validation_text(errors)
    return _validation_text(_cross_app_errors([a for a in apps if isinstance(a, Mapping)]))


def _cross_app_errors(apps: list[Mapping[str, Any]]) -> list[str]:
    names = [str(a.get("name", "default")) for a in apps]
    routes = [a["route_prefix"] for a in apps if a.get("route_prefix") is not None]
    errors = []
    dup_names = sorted({n for n in names if names.count(n) > 1})
    if dup_names:
        listed = ", ".join(f'"{n}"' for n in dup_names)
        noun = "application" if len(dup_names) == 1 else "applications"
        errors.append(
            f"applications\n  Value error, Found multiple configs for {noun} {listed}."
            " Please remove all duplicates. [type=value_error]"
        )
    dup_routes = sorted({r for r in routes if routes.count(r) > 1})
    if dup_routes:
        listed = ", ".join(f'"{r}"' for r in dup_routes)
        errors.append(
            f"applications\n  Value error, Found duplicate applications for route prefix {listed}."
            " Please ensure each application's route_prefix is unique. [type=value_error]"
        )
    if any(not n for n in names):
        errors.append("applications\n  Value error, Application names must be nonempty.")
    return errors


def _validation_text(errors: list[str]) -> str | None:
    if not errors:
        return None
    noun = "error" if len(errors) == 1 else "errors"
    return "\n".join([f"{len(errors)} validation {noun} for ServeDeploySchema", *errors])
