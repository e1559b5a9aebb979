"""The dashboard contract: what rayop relies on from Ray's Jobs and Serve APIs.

Every test runs on the fake (virtual time) and, when ``RAYOP_TEST_RAY_ADDRESS`` is set, on a real
Ray head (real time, bounded deadlines). The fake must pass every case the real Ray passes.
"""

from __future__ import annotations

import pytest
from dashboard_backends import (
    BAD_APP,
    EXIT_3_ENTRYPOINT,
    GOOD_APP,
    GREETING,
    PRINT_ENTRYPOINT,
    SLEEP_ENTRYPOINT,
    Backend,
    serve_config,
)

from rayop.ray.dashboard import (
    DashboardError,
    DeploymentStatus,
    JobAlreadySubmitted,
    JobDetails,
    JobStatus,
    JobSubmission,
    ServeApplicationStatus,
    ServeDetails,
)

JOB_DEADLINE = 60.0
SERVE_DEADLINE = 120.0


async def wait_job(backend: Backend, sid: str, until: set[JobStatus]) -> JobDetails:
    """Poll a job until its status is one of ``until``."""

    async def read() -> JobDetails | None:
        return await backend.client.get_job(sid)

    job = await backend.poll(read, lambda j: j is not None and j.status in until,
                             timeout=JOB_DEADLINE)
    assert job is not None
    return job


async def wait_app(backend: Backend, name: str) -> ServeDetails:
    """Poll Serve until application ``name`` has left DEPLOYING (and nothing else is deleting)."""
    settled = {ServeApplicationStatus.RUNNING, ServeApplicationStatus.DEPLOY_FAILED,
               ServeApplicationStatus.UNHEALTHY}

    def done(details: ServeDetails) -> bool:
        app = details.applications.get(name)
        return app is not None and app.status in settled and len(details.applications) == 1

    return await backend.poll(backend.client.get_serve_applications, done,
                              timeout=SERVE_DEADLINE)


# -- Jobs ---------------------------------------------------------------------------------------


async def test_job_runs_to_succeeded_and_keeps_its_metadata(dashboard: Backend) -> None:
    sid = dashboard.new_id("ok")
    submission = JobSubmission(entrypoint=PRINT_ENTRYPOINT, submission_id=sid,
                               metadata={"owner": "rayop"})
    assert await dashboard.client.submit_job(submission) == sid

    job = await wait_job(dashboard, sid, {JobStatus.SUCCEEDED, JobStatus.FAILED})

    assert job.status == JobStatus.SUCCEEDED
    assert job.submission_id == sid
    assert job.entrypoint == PRINT_ENTRYPOINT
    assert job.metadata == {"owner": "rayop"}
    assert job.driver_exit_code == 0
    assert job.message == "Job finished successfully."
    assert job.start_time is not None
    assert job.end_time is not None
    assert job.start_time <= job.end_time
    assert sid in {j.submission_id for j in await dashboard.client.list_jobs()}


async def test_logs_contain_what_the_job_printed(dashboard: Backend) -> None:
    sid = dashboard.new_id("logs")
    await dashboard.client.submit_job(
        JobSubmission(entrypoint=PRINT_ENTRYPOINT, submission_id=sid)
    )
    await wait_job(dashboard, sid, {JobStatus.SUCCEEDED, JobStatus.FAILED})

    logs = await dashboard.client.job_logs(sid)

    assert GREETING in logs


async def test_failing_entrypoint_ends_failed_with_its_exit_code(dashboard: Backend) -> None:
    sid = dashboard.new_id("exit3")
    await dashboard.client.submit_job(
        JobSubmission(entrypoint=EXIT_3_ENTRYPOINT, submission_id=sid)
    )

    job = await wait_job(dashboard, sid, {JobStatus.SUCCEEDED, JobStatus.FAILED})

    assert job.status == JobStatus.FAILED
    assert job.driver_exit_code == 3
    assert job.message is not None
    assert "exit code 3" in job.message
    assert job.error_type == "JOB_ENTRYPOINT_COMMAND_ERROR"


async def test_stop_a_running_job_ends_stopped(dashboard: Backend) -> None:
    sid = dashboard.new_id("sleep")
    await dashboard.client.submit_job(
        JobSubmission(entrypoint=SLEEP_ENTRYPOINT, submission_id=sid)
    )
    await wait_job(dashboard, sid, {JobStatus.RUNNING})

    with pytest.raises(DashboardError) as running:
        await dashboard.client.delete_job(sid)
    assert await dashboard.client.stop_job(sid) is True
    job = await wait_job(dashboard, sid, {JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED})

    assert running.value.status == 500
    assert "non-terminal" in str(running.value)
    assert job.status == JobStatus.STOPPED
    assert job.message == "Job was intentionally stopped."
    assert job.end_time is not None
    assert await dashboard.client.stop_job(sid) is False


async def test_delete_forgets_an_ended_job(dashboard: Backend) -> None:
    sid = dashboard.new_id("del")
    await dashboard.client.submit_job(
        JobSubmission(entrypoint=PRINT_ENTRYPOINT, submission_id=sid)
    )
    await wait_job(dashboard, sid, {JobStatus.SUCCEEDED, JobStatus.FAILED})

    assert await dashboard.client.delete_job(sid) is True

    assert await dashboard.client.get_job(sid) is None
    assert await dashboard.client.delete_job(sid) is False
    assert sid not in {j.submission_id for j in await dashboard.client.list_jobs()}


async def test_duplicate_submission_id_is_recognised_as_already_submitted(
    dashboard: Backend,
) -> None:
    sid = dashboard.new_id("dup")
    await dashboard.client.submit_job(
        JobSubmission(entrypoint=PRINT_ENTRYPOINT, submission_id=sid)
    )

    with pytest.raises(JobAlreadySubmitted) as again:
        await dashboard.client.submit_job(
            JobSubmission(entrypoint=EXIT_3_ENTRYPOINT, submission_id=sid)
        )

    assert again.value.submission_id == sid
    first = await dashboard.client.get_job(sid)
    assert first is not None
    assert first.entrypoint == PRINT_ENTRYPOINT


async def test_unknown_job_id(dashboard: Backend) -> None:
    sid = dashboard.new_id("never-submitted")

    assert await dashboard.client.get_job(sid) is None
    assert await dashboard.client.stop_job(sid) is False
    assert await dashboard.client.delete_job(sid) is False
    with pytest.raises(DashboardError) as logs:
        await dashboard.client.job_logs(sid)
    assert logs.value.status == 404


# -- Serve --------------------------------------------------------------------------------------


async def test_serve_apply_runs_and_the_route_answers(dashboard: Backend) -> None:
    await dashboard.client.apply_serve_config(serve_config(GOOD_APP))

    details = await wait_app(dashboard, "hello")

    app = details.applications["hello"]
    assert app.status == ServeApplicationStatus.RUNNING, app.message
    assert app.route_prefix == "/hello"
    assert app.deployed_app_config is not None
    assert app.deployed_app_config["import_path"] == GOOD_APP["import_path"]
    assert app.deployments
    assert all(
        d.status == DeploymentStatus.HEALTHY and d.replicas for d in app.deployments.values()
    )
    assert await dashboard.route("/hello") == GREETING
    assert await dashboard.client.serve_healthy() is True


async def test_bad_import_path_ends_deploy_failed_with_the_reason(dashboard: Backend) -> None:
    await dashboard.client.apply_serve_config(serve_config(BAD_APP))

    details = await wait_app(dashboard, "broken")

    app = details.applications["broken"]
    assert app.status == ServeApplicationStatus.DEPLOY_FAILED
    assert "No module named 'no_such_module'" in app.message


@pytest.mark.parametrize(
    ("app", "complaint"),
    [
        pytest.param({"name": "x"}, "Field required", id="no-import-path"),
        pytest.param({"name": "x", "import_path": "noslash"}, "invalid import path", id="bad-path"),
    ],
)
async def test_invalid_config_is_rejected(
    dashboard: Backend, app: dict[str, str], complaint: str
) -> None:
    with pytest.raises(DashboardError) as rejected:
        await dashboard.client.apply_serve_config(serve_config(app))

    assert rejected.value.status == 400
    assert "import_path" in rejected.value.body
    assert complaint in rejected.value.body


async def test_delete_serve_applications_leaves_none(dashboard: Backend) -> None:
    await dashboard.client.apply_serve_config(serve_config(GOOD_APP))
    await wait_app(dashboard, "hello")

    await dashboard.client.delete_serve_applications()

    details = await dashboard.client.get_serve_applications()
    assert details.applications == {}
    assert await dashboard.poll(dashboard.client.serve_healthy, lambda ok: not ok,
                                timeout=JOB_DEADLINE) is False
