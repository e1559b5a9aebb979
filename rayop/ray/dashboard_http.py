"""The real :class:`~rayop.ray.dashboard.DashboardClient`: Ray's dashboard REST API over aiohttp.

Every request has a timeout. Reads (GET) are retried with exponential backoff on no answer and on
5xx; writes are retried only when the connection could not be made (the request never left), so
a submit or an apply is never sent twice by this client. Backoff waits use the injected
:class:`~rayop.runtime.clock.Clock`.

Ray's quirks, handled here so callers never see them: a duplicate submission id answers HTTP 500
with a Python traceback (raised as :class:`~rayop.ray.dashboard.JobAlreadySubmitted`); error bodies
are plain text, often a traceback, so :class:`~rayop.runtime.errors.DashboardError` messages carry
the
traceback's last line and ``body`` the whole text; a 404 for an unknown job becomes ``None`` or
``False`` where the protocol says so.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from rayop.ray.dashboard import (
    DashboardAddress,
    DashboardError,
    DashboardLocator,
    JobAlreadySubmitted,
    JobDetails,
    JobSubmission,
    ServeDetails,
    answer_error,
)
from rayop.runtime import jsoncodec
from rayop.runtime.clock import Clock, RealClock

__all__ = ["HttpDashboardClient", "HttpDashboards", "dashboard_for"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Answer:
    status: int
    text: str

    def json(self) -> Any:
        try:
            return jsoncodec.loads(self.text)
        except ValueError:
            raise answer_error("unparseable answer", self.status, self.text) from None


def _not_sent(exc: BaseException) -> bool:
    """True for a failure that proves the request never reached the server."""
    return isinstance(exc, DashboardError) and isinstance(
        exc.__cause__, aiohttp.ClientConnectorError
    )


def _retryable_read(exc: BaseException) -> bool:
    """True for a read that may succeed if tried again: no answer, or a 5xx."""
    return isinstance(exc, DashboardError) and (exc.status is None or exc.status >= 500)


class HttpDashboardClient:
    """A :class:`~rayop.ray.dashboard.DashboardClient` for one Ray head, over HTTP."""

    def __init__(
        self,
        address: DashboardAddress | str,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        clock: Clock | None = None,
        ssl: _ssl.SSLContext | bool = True,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.address = address if isinstance(address, DashboardAddress) else (
            DashboardAddress.at(address)
        )
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._clock = clock or RealClock()
        self._ssl = ssl
        self._session = session
        self._owns_session = session is None

    # -- Jobs -----------------------------------------------------------------------------------

    async def submit_job(self, submission: JobSubmission) -> str:
        """Submit a job; return its submission id. Raises ``JobAlreadySubmitted`` on a reused id."""
        answer = await self._call("POST", "/api/jobs/", body=submission.payload())
        if (
            answer.status == 500
            and submission.submission_id is not None
            and "already exists" in answer.text
        ):
            raise JobAlreadySubmitted(submission.submission_id, body=answer.text)
        data = self._ok(answer, "submit job")
        return str(data.get("submission_id") or data["job_id"])

    async def get_job(self, submission_id: str) -> JobDetails | None:
        """Return the job, or None if the cluster does not know it."""
        answer = await self._call("GET", f"/api/jobs/{submission_id}", read=True)
        if answer.status == 404:
            return None
        return self._parse(JobDetails.model_validate, self._ok(answer, "get job"), answer)

    async def list_jobs(self) -> list[JobDetails]:
        """Return every job the cluster knows."""
        answer = await self._call("GET", "/api/jobs/", read=True)
        data = self._ok(answer, "list jobs")
        return [self._parse(JobDetails.model_validate, item, answer) for item in data]

    async def stop_job(self, submission_id: str) -> bool:
        """Ask a job to stop; False if it had already ended or does not exist."""
        answer = await self._call("POST", f"/api/jobs/{submission_id}/stop")
        if answer.status == 404:
            return False
        return bool(self._ok(answer, "stop job").get("stopped"))

    async def delete_job(self, submission_id: str) -> bool:
        """Forget an ended job; False if it does not exist. A running job is an error."""
        answer = await self._call("DELETE", f"/api/jobs/{submission_id}")
        if answer.status == 404:
            return False
        return bool(self._ok(answer, "delete job").get("deleted"))

    async def job_logs(self, submission_id: str) -> str:
        """Return the job's driver log (status 404 ``DashboardError`` for an unknown job)."""
        answer = await self._call("GET", f"/api/jobs/{submission_id}/logs", read=True)
        return str(self._ok(answer, "job logs").get("logs", ""))

    # -- Serve ----------------------------------------------------------------------------------

    async def apply_serve_config(self, config: Mapping[str, Any]) -> None:
        """Deploy a multi-application Serve config (replaces every application; async in Ray)."""
        answer = await self._call("PUT", "/api/serve/applications/", body=dict(config))
        self._check(answer, "apply Serve config")

    async def get_serve_applications(self) -> ServeDetails:
        """Return every Serve application with its status and deployments."""
        answer = await self._call("GET", "/api/serve/applications/", read=True)
        data = self._ok(answer, "get Serve applications")
        return self._parse(ServeDetails.model_validate, data, answer)

    async def delete_serve_applications(self) -> None:
        """Delete every Serve application (and shut Serve down)."""
        answer = await self._call("DELETE", "/api/serve/applications/")
        self._check(answer, "delete Serve applications")

    async def serve_healthy(self) -> bool:
        """Return True when the Serve HTTP proxy answers ``/-/healthz`` with 200; never raises."""
        if not self.address.serve_url:
            return False
        try:
            answer = await self._once("GET", f"{self.address.serve_url}/-/healthz", None)
        except DashboardError:
            return False
        return answer.status == 200

    async def aclose(self) -> None:
        """Close the HTTP session, if this client made it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    # -- plumbing -------------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, *, body: Any = None, read: bool = False
    ) -> _Answer:
        url = self.address.dashboard_url + path
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=self._max_backoff),
            retry=retry_if_exception(_retryable_read if read else _not_sent),
            sleep=self._clock.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                answer = await self._once(method, url, body)
                if read and answer.status >= 500:
                    self._check(answer, f"{method} {path}")
                return answer
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _once(self, method: str, url: str, body: Any) -> _Answer:
        session = self._session_for_call()
        try:
            async with session.request(
                method,
                url,
                json=body,
                headers=dict(self.address.headers),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                ssl=self._ssl,
            ) as response:
                return _Answer(response.status, await response.text())
        except TimeoutError as exc:
            raise DashboardError(f"{method} {url}: no answer in {self._timeout} s") from exc
        except aiohttp.ClientError as exc:
            raise DashboardError(f"{method} {url}: {exc}") from exc

    def _session_for_call(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    @staticmethod
    def _check(answer: _Answer, what: str) -> None:
        if answer.status >= 400:
            raise answer_error(what, answer.status, answer.text)

    def _ok(self, answer: _Answer, what: str) -> Any:
        self._check(answer, what)
        return answer.json()

    @staticmethod
    def _parse(validate: Callable[[Any], _T], data: Any, answer: _Answer) -> _T:
        try:
            return validate(data)
        except ValidationError as exc:
            raise DashboardError(
                f"unexpected answer shape: {exc.errors()[0]['msg']}",
                status=answer.status,
                body=answer.text,
            ) from exc


def dashboard_for(
    namespace: str,
    name: str,
    *,
    locator: DashboardLocator,
    service: str | None = None,
    **options: Any,
) -> HttpDashboardClient:
    """Return a client for cluster ``namespace/name``, found by ``locator``.

    ``options`` are :class:`HttpDashboardClient`'s keyword options (timeout, attempts, clock, ssl).
    """
    return HttpDashboardClient(locator.locate(namespace, name, service=service), **options)


class HttpDashboards:
    """A :class:`~rayop.ray.dashboard.DashboardProvider` of HTTP clients, one per cluster."""

    def __init__(self, locator: DashboardLocator, **options: Any) -> None:
        self._locator = locator
        self._options = options
        self._clients: dict[tuple[str, str], HttpDashboardClient] = {}

    def for_cluster(self, namespace: str, name: str) -> HttpDashboardClient:
        """Return the cluster's client, creating it on first use."""
        key = (namespace, name)
        if key not in self._clients:
            self._clients[key] = dashboard_for(
                namespace, name, locator=self._locator, **self._options
            )
        return self._clients[key]

    async def forget(self, namespace: str, name: str) -> None:
        """Close and drop the client of a cluster that is gone."""
        client = self._clients.pop((namespace, name), None)
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        """Close every client."""
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.aclose() for c in clients))
