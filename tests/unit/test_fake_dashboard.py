"""FakeDashboard beyond the contract: scripted timing, faults, life and death, call records."""

from __future__ import annotations

from typing import Any

import pytest

from rayop.ray.dashboard import (
    DashboardClient,
    DashboardError,
    DashboardProvider,
    DeploymentStatus,
    JobAlreadySubmitted,
    JobStatus,
    JobSubmission,
    ServeApplicationStatus,
)
from rayop.ray.fakes.dashboard import FakeDashboard, FakeDashboards, JobScript
from rayop.runtime.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def fake(clock: VirtualClock) -> FakeDashboard:
    return FakeDashboard(clock=clock)


def job(sid: str, entrypoint: str = "python train.py") -> JobSubmission:
    return JobSubmission(entrypoint=entrypoint, submission_id=sid)


def config(*apps: dict[str, Any]) -> dict[str, Any]:
    return {"applications": list(apps)}


APP = {"name": "a", "route_prefix": "/a", "import_path": "mod:app"}


async def status_of(fake: FakeDashboard, sid: str) -> JobStatus | None:
    details = await fake.get_job(sid)
    return None if details is None else details.status


async def app_status(fake: FakeDashboard, name: str) -> ServeApplicationStatus | None:
    app = (await fake.get_serve_applications()).applications.get(name)
    return None if app is None else app.status


def test_fakes_implement_the_protocols(clock: VirtualClock) -> None:
    assert isinstance(FakeDashboard(clock=clock), DashboardClient)
    assert isinstance(FakeDashboards(clock=clock), DashboardProvider)


# -- jobs ---------------------------------------------------------------------------------------


async def test_unscripted_job_is_pending_then_running_then_succeeded(
    fake: FakeDashboard, clock: VirtualClock
) -> None:
    await fake.submit_job(job("j"))
    seen = [await status_of(fake, "j")]
    for _ in range(3):
        await clock.advance(1.0)
        seen.append(await status_of(fake, "j"))

    assert seen == [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.SUCCEEDED]
    done = await fake.get_job("j")
    assert done is not None
    assert done.end_time is not None
    assert done.start_time is not None
    assert done.end_time - done.start_time == 3000


async def test_scripts_match_by_id_before_older_entrypoint_scripts(
    fake: FakeDashboard, clock: VirtualClock
) -> None:
    fake.script_job(entrypoint=r"train\.py", running=10, outcome=JobStatus.FAILED, exit_code=7,
                    logs="OOM\n")
    fake.script_job(submission_id="special", pending=0, running=1)
    await fake.submit_job(job("plain"))
    await fake.submit_job(job("special"))
    await clock.advance(11)

    plain, special = await fake.get_job("plain"), await fake.get_job("special")

    assert plain is not None
    assert special is not None
    assert (plain.status, plain.driver_exit_code) == (JobStatus.FAILED, 7)
    assert plain.message is not None
    assert "exit code 7" in plain.message
    assert "OOM" in plain.message
    assert special.status == JobStatus.SUCCEEDED


async def test_stop_takes_effect_after_the_stop_delay(
    fake: FakeDashboard, clock: VirtualClock
) -> None:
    fake.script_job(entrypoint="serve-forever", running=None)
    await fake.submit_job(job("j", "serve-forever"))
    await clock.advance(5)

    assert await fake.stop_job("j") is True
    assert await status_of(fake, "j") == JobStatus.RUNNING
    await clock.advance(fake.stop_delay)
    assert await status_of(fake, "j") == JobStatus.STOPPED


async def test_a_job_that_ends_before_the_stop_lands_keeps_its_outcome(
    fake: FakeDashboard, clock: VirtualClock
) -> None:
    await fake.submit_job(job("j"))
    await clock.advance(2.9)

    await fake.stop_job("j")
    await clock.advance(1)

    assert await status_of(fake, "j") == JobStatus.SUCCEEDED


async def test_generated_submission_ids_are_seeded(clock: VirtualClock) -> None:
    ids = []
    for _ in range(2):
        fake = FakeDashboard(clock=clock, seed=42)
        ids.append(await fake.submit_job(JobSubmission(entrypoint="x")))

    assert ids[0] == ids[1]
    assert ids[0].startswith("raysubmit_")


def test_a_job_script_cannot_end_stopped(fake: FakeDashboard) -> None:
    with pytest.raises(ValueError, match="SUCCEEDED or FAILED"):
        JobScript(outcome=JobStatus.STOPPED)


# -- Serve --------------------------------------------------------------------------------------


async def test_reapplying_the_same_config_keeps_state_a_change_redeploys(
    fake: FakeDashboard, clock: VirtualClock
) -> None:
    await fake.apply_serve_config(config(APP))
    await clock.advance(3)
    await fake.apply_serve_config(config(APP))
    assert await app_status(fake, "a") == ServeApplicationStatus.RUNNING

    await fake.apply_serve_config(config({**APP, "user_config": {"v": 2}}))

    assert await app_status(fake, "a") == ServeApplicationStatus.DEPLOYING
    details = (await fake.get_serve_applications()).applications["a"]
    assert details.deployed_app_config == {**APP, "user_config": {"v": 2}}


async def test_an_app_left_out_is_deleting_then_gone(
    fake: FakeDashboard, clock: VirtualClock
) -> None:
    await fake.apply_serve_config(config(APP))
    await fake.apply_serve_config(config({**APP, "name": "b", "route_prefix": "/b"}))

    assert await app_status(fake, "a") == ServeApplicationStatus.DELETING
    await clock.advance(fake.delete_delay)
    assert await app_status(fake, "a") is None


async def test_scripted_unhealthy_app_and_its_deployments(
    fake: FakeDashboard, clock: VirtualClock
) -> None:
    fake.script_app(name="a", deploying=1, unhealthy_after=10, unhealthy_message="replica died")
    deployments = [{"name": "D", "num_replicas": 3}]
    await fake.apply_serve_config(config({**APP, "deployments": deployments}))
    await clock.advance(1)
    running = (await fake.get_serve_applications()).applications["a"]
    await clock.advance(10)
    sick = (await fake.get_serve_applications()).applications["a"]

    assert running.status == ServeApplicationStatus.RUNNING
    assert running.deployments["D"].status == DeploymentStatus.HEALTHY
    assert len(running.deployments["D"].replicas) == 3
    assert sick.status == ServeApplicationStatus.UNHEALTHY
    assert sick.message == "replica died"
    assert sick.deployments["D"].status == DeploymentStatus.UNHEALTHY


async def test_route_picks_the_longest_running_prefix(
    fake: FakeDashboard, clock: VirtualClock
) -> None:
    fake.script_app(name="root", response="root")
    fake.script_app(name="api", response="api")
    await fake.apply_serve_config(config(
        {"name": "root", "route_prefix": "/", "import_path": "m:a"},
        {"name": "api", "route_prefix": "/api", "import_path": "m:b"},
    ))
    assert fake.route("/api/x") is None  # still deploying
    await clock.advance(3)

    assert fake.route("/api/x") == "api"
    assert fake.route("/apix") == "root"
    assert fake.route("/") == "root"


@pytest.mark.parametrize(
    ("apps", "text"),
    [
        ([APP, APP], 'Found multiple configs for application "a"'),
        ([APP, {**APP, "name": "b"}], 'duplicate applications for route prefix "/a"'),
        ([{**APP, "name": ""}], "Application names must be nonempty"),
    ],
)
async def test_invalid_configs_are_rejected_like_ray(
    fake: FakeDashboard, apps: list[dict[str, Any]], text: str
) -> None:
    with pytest.raises(DashboardError) as err:
        await fake.apply_serve_config(config(*apps))

    assert err.value.status == 400
    assert text in err.value.body
    assert await fake.serve_healthy() is False


# -- faults -------------------------------------------------------------------------------------


async def test_a_500_on_the_nth_call_only(fake: FakeDashboard) -> None:
    fake.inject("get_job", status=500, skip=1, times=1)

    assert await fake.get_job("x") is None
    with pytest.raises(DashboardError) as err:
        await fake.get_job("x")
    assert await fake.get_job("x") is None

    assert err.value.status == 500
    assert [c.error is not None for c in fake.calls_to("get_job")] == [False, True, False]


async def test_unreachable_fault_and_serve_health(fake: FakeDashboard) -> None:
    fake.inject(unreachable=True, times=None)

    with pytest.raises(DashboardError) as err:
        await fake.list_jobs()
    assert await fake.serve_healthy() is False
    fake.clear_faults()

    assert err.value.unreachable
    assert await fake.list_jobs() == []


async def test_slow_answers_take_virtual_time_and_time_out_past_the_limit(
    virtual_clock: VirtualClock,
) -> None:
    fake = FakeDashboard(clock=virtual_clock, timeout=10)
    fake.inject("submit_job", latency=4)
    fake.inject("get_job", latency=60)

    start = virtual_clock.monotonic()
    await fake.submit_job(job("j"))
    after_submit = virtual_clock.monotonic() - start
    with pytest.raises(DashboardError) as err:
        await fake.get_job("j")

    assert after_submit == 4
    assert virtual_clock.monotonic() - start == 14
    assert err.value.unreachable


async def test_rate_faults_repeat_with_the_seed(clock: VirtualClock) -> None:
    patterns = []
    for _ in range(2):
        fake = FakeDashboard(clock=clock, seed=7)
        fake.inject("list_jobs", status=503, times=None, rate=0.5)
        outcomes = []
        for _ in range(20):
            try:
                await fake.list_jobs()
                outcomes.append(True)
            except DashboardError:
                outcomes.append(False)
        patterns.append(outcomes)

    assert patterns[0] == patterns[1]
    assert 0 < patterns[0].count(False) < 20


async def test_calls_are_recorded_with_arguments_and_errors(fake: FakeDashboard) -> None:
    await fake.submit_job(job("j"))
    with pytest.raises(JobAlreadySubmitted):
        await fake.submit_job(job("j"))

    calls = fake.calls_to("submit_job")
    assert [c.args[0].submission_id for c in calls] == ["j", "j"]
    assert calls[0].error is None
    assert isinstance(calls[1].error, JobAlreadySubmitted)


# -- life and death -----------------------------------------------------------------------------


async def test_a_dead_head_forgets_everything(fake: FakeDashboard) -> None:
    await fake.submit_job(job("j"))
    await fake.apply_serve_config(config(APP))

    fake.set_alive(False)
    with pytest.raises(DashboardError) as err:
        await fake.get_job("j")
    fake.set_alive(True)

    assert err.value.unreachable
    assert await fake.get_job("j") is None
    assert (await fake.get_serve_applications()).applications == {}
    assert await fake.serve_healthy() is False


def head_pod(uid: str, phase: str, cluster: str = "rc") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": f"{cluster}-head", "uid": uid,
                     "labels": {"ray.io/cluster": cluster, "ray.io/node-type": "head"}},
        "status": {"phase": phase},
    }


async def test_dashboards_follow_the_head_pod(clock: VirtualClock) -> None:
    dashboards = FakeDashboards(clock=clock, alive=False)
    fake = dashboards.for_cluster("ns", "rc")
    assert fake.alive is False

    dashboards.observe_pod(head_pod("u1", "Pending"))
    assert fake.alive is False
    dashboards.observe_pod(head_pod("u1", "Running"))
    await fake.submit_job(job("j"))
    dashboards.observe_pod(head_pod("u1", "Running"))
    assert await fake.get_job("j") is not None

    dashboards.observe_pod(head_pod("u1", "Failed"))  # replaced head: the old one stops ...
    assert fake.alive is False
    dashboards.observe_pod(head_pod("u2", "Running"))  # ... and the new one is a new Ray

    assert fake.alive is True
    assert await fake.get_job("j") is None


async def test_a_second_head_pod_leaves_the_live_ray_alone(clock: VirtualClock) -> None:
    # An ambiguous create can leave two head pods for a while (rayop deletes the extra one):
    # each is a Ray of its own, and the one in use keeps its jobs.
    dashboards = FakeDashboards(clock=clock, alive=False)
    fake = dashboards.for_cluster("ns", "rc")
    dashboards.observe_pod(head_pod("u1", "Running"))
    await fake.submit_job(job("j"))
    dashboards.observe_pod(head_pod("u2", "Running"))
    dashboards.observe_pod(head_pod("u2", "Failed"))   # the extra head is deleted
    assert fake.alive is True and await fake.get_job("j") is not None

    dashboards.observe_pod(head_pod("u3", "Running"))
    dashboards.observe_pod(head_pod("u1", "Failed"))   # the live head goes: u3 takes over
    assert fake.alive is True and await fake.get_job("j") is None


async def test_dashboards_ignore_worker_pods_and_configure_new_fakes(clock: VirtualClock) -> None:
    configured: list[FakeDashboard] = []
    dashboards = FakeDashboards(clock=clock, configure=configured.append)
    worker = head_pod("w", "Failed")
    worker["metadata"]["labels"]["ray.io/node-type"] = "worker"

    fake = dashboards.for_cluster("ns", "rc")
    dashboards.observe_pod(worker)

    assert fake.alive is True
    assert configured == [fake]
    assert dashboards.for_cluster("ns", "rc") is fake
    assert dashboards.clusters() == {("ns", "rc"): fake}

