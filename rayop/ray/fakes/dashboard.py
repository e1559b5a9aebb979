"""An in-memory Ray head per RayCluster: :class:`FakeDashboard` and :class:`FakeDashboards`.

:class:`FakeDashboard` implements :class:`~rayop.ray.dashboard.DashboardClient` without HTTP and
passes
the same contract suite as the real client against a real Ray (``tests/contract/dashboard``).
Time comes from the injected :class:`~rayop.runtime.clock.Clock`; nothing runs in the background
(state is
computed from when things were submitted and how they were scripted). Every call is recorded in
``fake.calls``.

Scripting (latest matching script wins; unscripted jobs succeed after 1 + 2 virtual seconds,
unscripted applications run after 3)::

    fake.script_job(entrypoint="train[.]py", running=30, outcome=JobStatus.FAILED, exit_code=3)
    fake.script_job(submission_id="job-1", running=None)            # runs until stopped
    fake.script_app(import_path="^broken", outcome=ServeApplicationStatus.DEPLOY_FAILED)
    fake.script_app(name="llm", unhealthy_after=60)

Faults: ``fake.inject("get_job", status=500, times=2)``, ``fake.inject(unreachable=True)``,
``fake.inject("submit_job", latency=30)`` (past ``timeout``: no answer), ``skip=`` to hit the nth
call, ``rate=`` for a seeded chance per call, ``after=True`` for a call that Ray carries out but
whose answer is lost or late (``fake.inject("submit_job", status=500, after=True)``: the job is
submitted, the caller sees a 500). ``fake.set_alive(False)`` kills the head: every call
is unreachable and, as in Ray without GCS fault tolerance, every job and application is gone.

What the fake does not do: run entrypoints or import Serve code (outcomes and logs are scripted),
serve HTTP (:meth:`FakeDashboard.route` answers instead), runtime_env set-up, entrypoint resources,
Serve autoscaling and ``target_capacity``, or the real timing jitter.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from rayop.ray.dashboard import (
    DashboardError,
    JobAlreadySubmitted,
    JobDetails,
    JobSubmission,
    ServeApplicationStatus,
    ServeDetails,
    answer_error,
)
from rayop.ray.fakes.dashboard_state import (
    AppScript,
    FakeApp,
    FakeJob,
    JobScript,
    validate_serve_config,
)
from rayop.runtime.client import Obj
from rayop.runtime.clock import Clock

__all__ = ["AppScript", "FakeCall", "FakeDashboard", "FakeDashboards", "Fault", "JobScript"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class FakeCall:
    """One call made to a fake dashboard: the method, its arguments, and the error, if any.

    ``applied`` says whether Ray carried the call out: False when it failed before taking effect
    (or its caller went away first), True when it took effect — even if its answer was then lost
    (an ``after`` fault), so ``[c for c in fake.calls_to("submit_job") if c.applied]`` are the
    submissions Ray accepted.
    """

    method: str
    args: tuple[Any, ...]
    error: DashboardError | None
    at: float
    applied: bool = True


@dataclass(eq=False, kw_only=True)
class Fault:
    """An injected misbehaviour for matching calls (see :meth:`FakeDashboard.inject`)."""

    method: str | None = None
    status: int | None = None
    unreachable: bool = False
    latency: float = 0.0
    skip: int = 0
    times: int | None = 1
    rate: float = 1.0
    after: bool = False
    seen: int = 0
    hits: int = 0

    def fires(self, method: str, rng: random.Random) -> bool:
        """Count a call to ``method``; return True if this fault applies to it."""
        if self.method is not None and self.method != method:
            return False
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.hits >= self.times):
            return False
        if self.rate < 1.0 and rng.random() >= self.rate:
            return False
        self.hits += 1
        return True


class FakeDashboard:
    """One fake Ray head: jobs and Serve applications in memory, in Clock time."""

    def __init__(
        self,
        *,
        clock: Clock,
        seed: int | str = 0,
        timeout: float = 10.0,
        stop_delay: float = 0.5,
        delete_delay: float = 1.0,
        default_job: JobScript | None = None,
        default_app: AppScript | None = None,
    ) -> None:
        self.clock = clock
        self.timeout = timeout
        self.stop_delay = stop_delay
        self.delete_delay = delete_delay
        self.default_job = default_job or JobScript()
        self.default_app = default_app or AppScript()
        self.calls: list[FakeCall] = []
        self._rng = random.Random(seed)
        self._job_scripts: list[tuple[str | None, re.Pattern[str] | None, JobScript]] = []
        self._app_scripts: list[tuple[str | None, re.Pattern[str] | None, AppScript]] = []
        self._faults: list[Fault] = []
        self._jobs: dict[str, FakeJob] = {}
        self._apps: dict[str, FakeApp] = {}
        self._deleting: dict[str, tuple[FakeApp, float]] = {}
        self._alive = True
        self.incarnation = 0
        """How many times this head was started again after a kill (each time a new Ray)."""
        self._serve_started = False

    # -- scripting ------------------------------------------------------------------------------

    def script_job(
        self, *, submission_id: str | None = None, entrypoint: str | None = None, **script: Any
    ) -> JobScript:
        """Script jobs by exact ``submission_id`` or by ``entrypoint`` regex (``re.search``).

        ``script`` holds :class:`JobScript` fields: pending, running, outcome, exit_code, message,
        logs. It applies to jobs submitted from now on; the latest matching script wins.
        """
        made = replace(self.default_job, **script)
        pattern = re.compile(entrypoint) if entrypoint is not None else None
        self._job_scripts.append((submission_id, pattern, made))
        return made

    def script_app(
        self, *, name: str | None = None, import_path: str | None = None, **script: Any
    ) -> AppScript:
        """Script applications by exact ``name`` or by ``import_path`` regex (``re.search``).

        ``script`` holds :class:`AppScript` fields: deploying, outcome, message, unhealthy_after,
        unhealthy_message, deployments, response. Applies to deploys from now on.
        """
        made = replace(self.default_app, **script)
        pattern = re.compile(import_path) if import_path is not None else None
        self._app_scripts.append((name, pattern, made))
        return made

    def inject(
        self,
        method: str | None = None,
        *,
        status: int | None = None,
        unreachable: bool = False,
        latency: float = 0.0,
        skip: int = 0,
        times: int | None = 1,
        rate: float = 1.0,
        after: bool = False,
    ) -> Fault:
        """Make calls to ``method`` (None: any) fail with ``status``, go unanswered, or be slow.

        The fault lets ``skip`` matching calls through, then hits ``times`` of them (None: all),
        each with chance ``rate`` drawn from the fake's seeded generator. ``latency`` virtual
        seconds pass before the answer; at or past ``timeout`` the call ends with no answer.
        With ``after`` the call takes effect first and the fault spoils only its answer (a lost
        response: the caller cannot tell whether it happened).
        """
        fault = Fault(
            method=method, status=status, unreachable=unreachable, latency=latency,
            skip=skip, times=times, rate=rate, after=after,
        )
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    def set_alive(self, alive: bool) -> None:
        """Start or kill the head; a killed head forgets every job and application.

        Each start after a kill is a new Ray (``incarnation`` counts them).
        """
        if not alive:
            self._jobs.clear()
            self._apps.clear()
            self._deleting.clear()
            self._serve_started = False
        elif not self._alive:
            self.incarnation += 1
        self._alive = alive

    @property
    def alive(self) -> bool:
        """True while the head answers."""
        return self._alive

    def calls_to(self, method: str) -> list[FakeCall]:
        """Return the recorded calls to ``method``, oldest first."""
        return [c for c in self.calls if c.method == method]

    def route(self, path: str) -> str | None:
        """Return what Serve's proxy answers for ``path`` (the app's ``response``), or None (404).

        The longest matching route prefix of a RUNNING application wins, as in Serve's proxy.
        """
        if not self._alive:
            return None
        now = self.clock.monotonic()
        best: FakeApp | None = None
        for app in self._apps.values():
            prefix = app.route_prefix
            match = prefix == "/" or path == prefix or path.startswith(prefix + "/")
            if match and app.status_at(now) == ServeApplicationStatus.RUNNING and (
                best is None or len(prefix) > len(best.route_prefix)
            ):
                best = app
        return None if best is None else best.script.response

    # -- DashboardClient ------------------------------------------------------------------------

    async def submit_job(self, submission: JobSubmission) -> str:
        """Submit a job; raises ``JobAlreadySubmitted`` for a submission id already known."""
        return await self._serve("submit_job", (submission,), lambda: self._submit(submission))

    async def get_job(self, submission_id: str) -> JobDetails | None:
        """Return the job, or None if unknown."""
        def get() -> JobDetails | None:
            job = self._jobs.get(submission_id)
            return None if job is None else job.details_at(self.clock.monotonic())

        return await self._serve("get_job", (submission_id,), get)

    async def list_jobs(self) -> list[JobDetails]:
        """Return every job, in submission order."""
        def jobs() -> list[JobDetails]:
            now = self.clock.monotonic()
            return [job.details_at(now) for job in self._jobs.values()]

        return await self._serve("list_jobs", (), jobs)

    async def stop_job(self, submission_id: str) -> bool:
        """Stop a job after ``stop_delay``; False if it has ended or is unknown."""
        return await self._serve("stop_job", (submission_id,), lambda: self._stop(submission_id))

    async def delete_job(self, submission_id: str) -> bool:
        """Forget an ended job; False if unknown; a running job answers 500 as in Ray."""
        return await self._serve(
            "delete_job", (submission_id,), lambda: self._delete(submission_id)
        )

    async def job_logs(self, submission_id: str) -> str:
        """Return the job's driver log (its scripted ``logs`` once it runs)."""
        def logs() -> str:
            job = self._jobs.get(submission_id)
            if job is None:
                raise answer_error("job logs", 404, f"Job {submission_id} does not exist")
            return job.logs_at(self.clock.monotonic())

        return await self._serve("job_logs", (submission_id,), logs)

    async def apply_serve_config(self, config: Mapping[str, Any]) -> None:
        """Validate and deploy a config: changed apps redeploy, missing ones are deleted."""
        await self._serve("apply_serve_config", (config,), lambda: self._apply(config))

    async def get_serve_applications(self) -> ServeDetails:
        """Return every application with its status at the current time."""
        return await self._serve("get_serve_applications", (), self._serve_details)

    async def delete_serve_applications(self) -> None:
        """Delete every application and stop Serve."""
        def delete() -> None:
            self._apps.clear()
            self._deleting.clear()
            self._serve_started = False

        await self._serve("delete_serve_applications", (), delete)

    async def serve_healthy(self) -> bool:
        """True once a config was applied to a live head (unless a fault says otherwise)."""
        try:
            return await self._serve("serve_healthy", (), lambda: self._serve_started)
        except DashboardError:
            return False

    async def aclose(self) -> None:
        """Do nothing: the fake holds no connections."""

    # -- behaviour ------------------------------------------------------------------------------

    def _submit(self, submission: JobSubmission) -> str:
        sid = submission.submission_id or self._new_submission_id()
        if sid in self._jobs:
            raise JobAlreadySubmitted(
                sid,
                body=f"ValueError: Job with submission_id {sid} already exists. "
                "Please use a different submission_id.",
            )
        now = self.clock.monotonic()
        self._jobs[sid] = FakeJob(
            submission_id=sid,
            submission=submission,
            script=self._job_script(sid, submission.entrypoint),
            submitted=now,
            submitted_ms=round(self.clock.now().timestamp() * 1000),
        )
        return sid

    def _new_submission_id(self) -> str:
        alphabet = string.ascii_letters + string.digits
        return "raysubmit_" + "".join(self._rng.choices(alphabet, k=16))

    def _job_script(self, sid: str, entrypoint: str) -> JobScript:
        for script_id, pattern, script in reversed(self._job_scripts):
            if script_id == sid or (pattern is not None and pattern.search(entrypoint)):
                return script
        return self.default_job

    def _stop(self, sid: str) -> bool:
        job = self._jobs.get(sid)
        now = self.clock.monotonic()
        if job is None or job.status_at(now)[0].terminal:
            return False
        if job.stop_at is None:
            job.stop_at = now + self.stop_delay
        return True

    def _delete(self, sid: str) -> bool:
        job = self._jobs.get(sid)
        if job is None:
            return False
        status = job.status_at(self.clock.monotonic())[0]
        if not status.terminal:
            raise answer_error(
                "delete job", 500,
                f"RuntimeError: Attempted to delete job '{sid}', but it is in a non-terminal "
                f"state {status}.",
            )
        del self._jobs[sid]
        return True

    def _apply(self, config: Mapping[str, Any]) -> None:
        problem = validate_serve_config(config)
        if problem is not None:
            raise answer_error("apply Serve config", 400, problem)
        now = self.clock.monotonic()
        wanted: dict[str, FakeApp] = {}
        for raw in config["applications"]:
            app_config = dict(raw)
            name = str(app_config.get("name", "default"))
            current = self._apps.get(name)
            if current is not None and current.config == app_config:
                wanted[name] = current
            else:
                wanted[name] = self._new_app(name, app_config, now)
        for name, gone in self._apps.items():
            if name not in wanted:
                self._deleting[name] = (gone, now + self.delete_delay)
        self._apps = wanted
        self._serve_started = True

    def _new_app(self, name: str, config: dict[str, Any], now: float) -> FakeApp:
        replicas = {
            str(d["name"]): int(d.get("num_replicas", 1))
            for d in config.get("deployments") or []
            if "name" in d and isinstance(d.get("num_replicas", 1), int)
        }
        return FakeApp(
            name=name,
            config=config,
            script=self._app_script(name, str(config.get("import_path", ""))),
            deployed=now,
            deployed_epoch=self.clock.now().timestamp(),
            num_replicas=replicas,
        )

    def _app_script(self, name: str, import_path: str) -> AppScript:
        for script_name, pattern, script in reversed(self._app_scripts):
            if script_name == name or (pattern is not None and pattern.search(import_path)):
                return script
        return self.default_app

    def _serve_details(self) -> ServeDetails:
        now = self.clock.monotonic()
        self._deleting = {n: (a, t) for n, (a, t) in self._deleting.items() if now < t}
        apps = {name: app.details_at(now) for name, app in self._apps.items()}
        for name, (app, _) in self._deleting.items():
            if name not in apps:
                apps[name] = app.details_at(now).model_copy(
                    update={"status": ServeApplicationStatus.DELETING}
                )
        return ServeDetails(applications=apps)

    # -- the gate every call goes through -------------------------------------------------------

    async def _serve(self, method: str, args: tuple[Any, ...], action: Callable[[], _T]) -> _T:
        applied = False
        error: DashboardError | None = None
        try:
            if not self._alive:
                raise DashboardError(f"{method}: connection refused (the Ray head is down)")
            fault = next((f for f in self._faults if f.fires(method, self._rng)), None)
            if fault is not None and not fault.after:
                await self._misbehave(method, fault)
            result = action()
            applied = True
            if fault is not None and fault.after:
                await self._misbehave(method, fault)  # Ray did it; only the answer goes wrong
            return result
        except DashboardError as err:
            error = err
            raise
        finally:  # recorded even when the caller is cancelled mid-call (a crashed operator)
            self.calls.append(FakeCall(method, args, error, self.clock.monotonic(), applied))

    async def _misbehave(self, method: str, fault: Fault) -> None:
        if fault.latency > 0:
            await self.clock.sleep(min(fault.latency, self.timeout))
            if fault.latency >= self.timeout:
                raise DashboardError(f"{method}: no answer in {self.timeout} s")
        if not self._alive or fault.unreachable:
            raise DashboardError(f"{method}: connection refused (injected)")
        if fault.status is not None:
            raise answer_error(method, fault.status, "Internal Server Error (injected)")



@dataclass(frozen=True)
class HeadPod:
    """What a Ray head simulator needs of a pod: whose head it is, which one, whether it runs."""

    key: tuple[str, str]
    """The cluster's (namespace, name)."""
    uid: str
    running: bool
    """Phase Running and not being deleted."""

    @classmethod
    def of(cls, pod: Obj) -> HeadPod | None:
        """Read a pod; None unless it is a RayCluster's head pod (``ray.io/node-type=head``)."""
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        cluster = labels.get("ray.io/cluster")
        if labels.get("ray.io/node-type") != "head" or not cluster:
            return None
        running = ((pod.get("status") or {}).get("phase") == "Running"
                   and not meta.get("deletionTimestamp"))
        return cls((str(meta.get("namespace", "")), str(cluster)), str(meta.get("uid", "")),
                   running)

class FakeDashboards:
    """A :class:`~rayop.ray.dashboard.DashboardProvider` of fakes, one per (namespace, name).

    Pass :meth:`observe_pod` to the kubelet simulator's ``on_pod_change``: a head pod that runs
    makes its cluster's fake alive; when that pod stops, the fake dies with its state (another
    running head pod of the cluster is then a new Ray).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        seed: int = 0,
        alive: bool = True,
        configure: Callable[[FakeDashboard], None] | None = None,
        **options: Any,
    ) -> None:
        self.clock = clock
        self._seed = seed
        self._alive_default = alive
        self._configure = configure
        self._options = options
        self._fakes: dict[tuple[str, str], FakeDashboard] = {}
        self._head_uids: dict[tuple[str, str], str] = {}  # the head pod each fake runs on
        self._running_heads: dict[tuple[str, str], set[str]] = {}

    def for_cluster(self, namespace: str, name: str) -> FakeDashboard:
        """Return the cluster's fake, creating it (alive per the default) on first use."""
        key = (namespace, name)
        fake = self._fakes.get(key)
        if fake is None:
            fake = FakeDashboard(clock=self.clock, seed=f"{self._seed}/{namespace}/{name}",
                                 **self._options)
            fake.set_alive(self._alive_default)
            if self._configure is not None:
                self._configure(fake)
            self._fakes[key] = fake
        return fake

    def set_alive(self, key: tuple[str, str], alive: bool) -> None:
        """Start or kill the head of cluster ``key`` = (namespace, name)."""
        fake = self.for_cluster(*key)
        if fake.alive != alive:
            fake.set_alive(alive)

    def observe_pod(self, pod: Obj) -> None:
        """Follow a pod state: a cluster's fake lives while the head pod it runs on is Running.

        A cluster can have more than one head pod for a while (an ambiguous create that went
        through twice; rayop deletes the extra one). Each is a Ray of its own: the fake stays
        bound to the head it runs on while that one runs, whatever the others do; when it stops,
        the next running head (the lowest uid, for replays) is a new Ray that remembers nothing.
        """
        head = HeadPod.of(pod)
        if head is None:
            return
        running = self._running_heads.setdefault(head.key, set())
        if head.running:
            running.add(head.uid)
        else:
            running.discard(head.uid)
        bound = self._head_uids.get(head.key)
        if bound is not None and bound in running:
            return  # the live Ray's head still runs
        if not running:
            self.set_alive(head.key, False)
            return
        successor = min(running)
        if successor != bound:
            self.set_alive(head.key, False)  # a new head pod is a new Ray: nothing survives
            self._head_uids[head.key] = successor
        self.set_alive(head.key, True)

    def clusters(self) -> dict[tuple[str, str], FakeDashboard]:
        """Return every fake made so far, by (namespace, name)."""
        return dict(self._fakes)

