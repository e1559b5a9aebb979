"""HttpDashboardClient against a scripted aiohttp server on 127.0.0.1 that answers as Ray does."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from rayop.ray.dashboard import (
    DashboardAddress,
    DashboardError,
    DashboardLocator,
    DeploymentStatus,
    JobAlreadySubmitted,
    JobStatus,
    JobSubmission,
    ServeApplicationStatus,
)
from rayop.ray.dashboard_http import HttpDashboardClient, HttpDashboards, dashboard_for

DUPLICATE_BODY = (
    "Traceback (most recent call last):\n"
    '  File "job_head.py", line 419, in submit_job\n'
    "    resp = await job_agent_client.submit_job_internal(submit_request)\n"
    "RuntimeError: Request failed with status code 500: Traceback (most recent call last):\n"
    "ValueError: Job with submission_id j1 already exists. Please use a different submission_id.\n"
)
VALIDATION_BODY = (
    "1 validation error for ServeDeploySchema\napplications.0.import_path\n"
    "  Field required [type=missing, input_value={'name': 'x'}, input_type=dict]\n"
)
JOB = {
    "type": "SUBMISSION", "job_id": None, "submission_id": "j1", "driver_info": None,
    "status": "SUCCEEDED", "entrypoint": "echo hi", "message": "Job finished successfully.",
    "error_type": None, "start_time": 1000, "end_time": 2500, "metadata": {"a": "b"},
    "runtime_env": None, "driver_exit_code": 0, "driver_node_id": "n1",
}


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    text: str | None = None


@dataclass
class RayLike:
    """A scripted server: answers per (method, path) in order (the last one repeats)."""

    script: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.script[(method, path)] = list(replies)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _, _ in self.requests if (m, p) == (method, path))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, body, dict(request.headers)))
        replies = self.script.get((request.method, request.path))
        if not replies:
            return web.Response(status=404, text=f"Job {request.path} does not exist")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply.text is not None:
            return web.Response(status=reply.status, text=reply.text)
        return web.Response(status=reply.status, text=json.dumps(reply.body),
                            content_type="application/json")


class RecordingClock:
    """A clock whose sleeps return at once and are remembered (retry waits are asserted)."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def now(self) -> Any:
        raise NotImplementedError

    def monotonic(self) -> float:
        return sum(self.slept)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest_asyncio.fixture
async def ray() -> AsyncIterator[RayLike]:
    server = RayLike()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


@pytest_asyncio.fixture
async def clock() -> RecordingClock:
    return RecordingClock()


@pytest_asyncio.fixture
async def client(ray: RayLike, clock: RecordingClock) -> AsyncIterator[HttpDashboardClient]:
    address = DashboardAddress(ray.url, serve_url=ray.url + "/serve")
    made = HttpDashboardClient(address, clock=clock, timeout=5.0)
    yield made
    await made.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- Jobs ---------------------------------------------------------------------------------------


async def test_submit_sends_only_the_fields_set_and_returns_the_id(
    ray: RayLike, client: HttpDashboardClient
) -> None:
    ray.on("POST", "/api/jobs/", Reply(body={"job_id": "j1", "submission_id": "j1"}))

    sid = await client.submit_job(JobSubmission(entrypoint="echo hi", submission_id="j1"))

    assert sid == "j1"
    assert ray.requests[0][2] == {"entrypoint": "echo hi", "submission_id": "j1"}


async def test_duplicate_submission_id_is_already_submitted_and_not_retried(
    ray: RayLike, client: HttpDashboardClient
) -> None:
    ray.on("POST", "/api/jobs/", Reply(500, text=DUPLICATE_BODY))

    with pytest.raises(JobAlreadySubmitted) as err:
        await client.submit_job(JobSubmission(entrypoint="echo hi", submission_id="j1"))

    assert err.value.submission_id == "j1"
    assert ray.count("POST", "/api/jobs/") == 1


async def test_other_500_on_submit_is_a_failure_sent_once(
    ray: RayLike, client: HttpDashboardClient, clock: RecordingClock
) -> None:
    ray.on("POST", "/api/jobs/", Reply(500, text="Traceback ...\nRuntimeError: GCS is down\n"))

    with pytest.raises(DashboardError) as err:
        await client.submit_job(JobSubmission(entrypoint="echo hi", submission_id="j1"))

    assert not isinstance(err.value, JobAlreadySubmitted)
    assert err.value.status == 500
    assert "RuntimeError: GCS is down" in str(err.value)
    assert ray.count("POST", "/api/jobs/") == 1
    assert clock.slept == []


async def test_get_job_parses_details_and_ignores_unknown_fields(
    ray: RayLike, client: HttpDashboardClient
) -> None:
    ray.on("GET", "/api/jobs/j1", Reply(body=JOB))

    job = await client.get_job("j1")

    assert job is not None
    assert (job.status, job.driver_exit_code, job.metadata) == (JobStatus.SUCCEEDED, 0, {"a": "b"})
    assert (job.start_time, job.end_time) == (1000, 2500)


async def test_unknown_job_plain_text_404(ray: RayLike, client: HttpDashboardClient) -> None:
    assert await client.get_job("nope") is None
    assert await client.stop_job("nope") is False
    assert await client.delete_job("nope") is False
    with pytest.raises(DashboardError) as err:
        await client.job_logs("nope")
    assert err.value.status == 404
    assert "does not exist" in str(err.value)


async def test_reads_are_retried_on_5xx_with_backoff_on_the_clock(
    ray: RayLike, client: HttpDashboardClient, clock: RecordingClock
) -> None:
    ray.on("GET", "/api/jobs/", Reply(503, text="busy"), Reply(502, text="busy"), Reply(body=[JOB]))

    jobs = await client.list_jobs()

    assert [j.submission_id for j in jobs] == ["j1"]
    assert ray.count("GET", "/api/jobs/") == 3
    assert clock.slept == [0.2, 0.4]


async def test_reads_give_up_after_the_attempts(
    ray: RayLike, client: HttpDashboardClient
) -> None:
    ray.on("GET", "/api/serve/applications/", Reply(500, text="boom"))

    with pytest.raises(DashboardError) as err:
        await client.get_serve_applications()

    assert err.value.status == 500
    assert ray.count("GET", "/api/serve/applications/") == 4


async def test_writes_are_not_retried_on_an_answer(
    ray: RayLike, client: HttpDashboardClient
) -> None:
    ray.on("POST", "/api/jobs/j1/stop", Reply(503, text="busy"))

    with pytest.raises(DashboardError):
        await client.stop_job("j1")

    assert ray.count("POST", "/api/jobs/j1/stop") == 1


async def test_connection_refused_is_unreachable_and_retried_even_for_writes() -> None:
    clock = RecordingClock()
    # Serve's port too must be closed: a Ray head of the real-Ray tier may listen on 8000
    address = DashboardAddress.at(f"http://127.0.0.1:{free_port()}", serve_port=free_port())
    client = HttpDashboardClient(address, clock=clock, attempts=3)
    try:
        with pytest.raises(DashboardError) as err:
            await client.submit_job(JobSubmission(entrypoint="echo hi", submission_id="j1"))
        assert await client.serve_healthy() is False
    finally:
        await client.aclose()

    assert err.value.unreachable
    assert len(clock.slept) == 2


async def test_a_write_that_times_out_is_not_sent_again() -> None:
    gate = asyncio.Event()
    seen: list[str] = []

    async def never(request: web.Request) -> web.Response:
        seen.append(request.path)
        await gate.wait()
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", never)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    client = HttpDashboardClient(f"http://127.0.0.1:{runner.addresses[0][1]}", timeout=0.05,
                                 clock=RecordingClock())
    try:
        with pytest.raises(DashboardError) as err:
            await client.apply_serve_config({"applications": []})
    finally:
        await client.aclose()
        gate.set()
        await runner.cleanup()

    assert err.value.unreachable
    assert seen == ["/api/serve/applications/"]


# -- Serve --------------------------------------------------------------------------------------


async def test_invalid_serve_config_is_a_400_with_the_validation_text(
    ray: RayLike, client: HttpDashboardClient
) -> None:
    ray.on("PUT", "/api/serve/applications/", Reply(400, text=VALIDATION_BODY))

    with pytest.raises(DashboardError) as err:
        await client.apply_serve_config({"applications": [{"name": "x"}]})

    assert err.value.status == 400
    assert err.value.body == VALIDATION_BODY
    assert "import_path" in str(err.value)
    assert ray.requests[0][2] == {"applications": [{"name": "x"}]}


async def test_serve_applications_parse_with_config_and_unknown_deployment_status(
    ray: RayLike, client: HttpDashboardClient
) -> None:
    app = {
        "name": "hello", "route_prefix": "/hello", "status": "RUNNING", "message": "",
        "deployed_app_config": {"name": "hello", "import_path": "m:app"}, "source": "declarative",
        "deployments": {
            "A": {"name": "A", "status": "HEALTHY", "message": "", "replicas": [
                {"replica_id": "r1", "state": "RUNNING", "pid": 7, "actor_id": "x"}]},
            "B": {"name": "B", "status": "SOMETHING_NEW", "message": "", "replicas": []},
        },
    }
    ray.on("GET", "/api/serve/applications/",
           Reply(body={"applications": {"hello": app}, "proxies": {}, "controller_info": {}}))

    details = await client.get_serve_applications()

    hello = details.applications["hello"]
    assert hello.status == ServeApplicationStatus.RUNNING
    assert hello.deployed_app_config == {"name": "hello", "import_path": "m:app"}
    assert hello.deployments["A"].status == DeploymentStatus.HEALTHY
    assert hello.deployments["A"].replicas[0].replica_id == "r1"
    assert hello.deployments["B"].status == "SOMETHING_NEW"


async def test_unexpected_shape_is_a_dashboard_error(
    ray: RayLike, client: HttpDashboardClient
) -> None:
    ray.on("GET", "/api/jobs/j1", Reply(body={"status": "EXPLODED"}))
    ray.on("GET", "/api/jobs/", Reply(text="<html>proxy error</html>"))

    with pytest.raises(DashboardError, match="unexpected answer shape"):
        await client.get_job("j1")
    with pytest.raises(DashboardError, match="unparseable"):
        await client.list_jobs()


async def test_serve_health_reads_the_proxy(ray: RayLike, client: HttpDashboardClient) -> None:
    ray.on("GET", "/serve/-/healthz", Reply(text="success"))
    assert await client.serve_healthy() is True
    ray.on("GET", "/serve/-/healthz", Reply(503, text="draining"))
    assert await client.serve_healthy() is False


# -- finding dashboards -------------------------------------------------------------------------


def test_locator_in_cluster_uses_the_head_service_dns_name() -> None:
    address = DashboardLocator().locate("team", "rc")

    assert address.dashboard_url == "http://rc-head-svc.team.svc.cluster.local:8265"
    assert address.serve_url == "http://rc-head-svc.team.svc.cluster.local:8000"


def test_locator_fixed_map_and_unknown_cluster() -> None:
    fixed = DashboardAddress.at("http://127.0.0.1:18265/", serve_port=18000)
    locator = DashboardLocator(mode="fixed", fixed={("a", "b"): fixed})

    assert locator.locate("a", "b") == DashboardAddress(
        "http://127.0.0.1:18265", "http://127.0.0.1:18000"
    )
    with pytest.raises(DashboardError):
        locator.locate("a", "other")


async def test_api_proxy_mode_goes_through_the_service_proxy_with_headers(
    ray: RayLike,
) -> None:
    prefix = "/api/v1/namespaces/team/services/rc-head-svc:dashboard/proxy"
    ray.on("GET", prefix + "/api/jobs/j1", Reply(body=JOB))
    locator = DashboardLocator(mode="api-proxy", api_server=ray.url + "/",
                               api_headers={"Authorization": "Bearer t0ken"})
    client = dashboard_for("team", "rc", locator=locator, clock=RecordingClock())
    try:
        job = await client.get_job("j1")
    finally:
        await client.aclose()

    assert job is not None
    assert ray.requests[0][3]["Authorization"] == "Bearer t0ken"
    assert client.address.serve_url == (
        ray.url + "/api/v1/namespaces/team/services/rc-head-svc:serve/proxy"
    )


async def test_provider_caches_one_client_per_cluster() -> None:
    provider = HttpDashboards(DashboardLocator())
    first = provider.for_cluster("ns", "a")

    assert provider.for_cluster("ns", "a") is first
    assert provider.for_cluster("ns", "b") is not first
    await provider.forget("ns", "a")
    assert provider.for_cluster("ns", "a") is not first
    await provider.aclose()
