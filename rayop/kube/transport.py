"""One HTTP exchange with the API server: send, retry what is safe, map every failure to ApiError.

Requests go through kubernetes-asyncio's ``ApiClient.call_api`` (so kubeconfig auth, token
refresh, TLS and proxies are its job) with ``_preload_content=False``: the raw bytes come back and
are decoded with orjson, never into the typed ``V1`` models (71x slower, DESIGN.md section 8).

Retry policy, in one place (:func:`classify`):

- **429** and **connection never made** (refused, DNS, connect timeout): retried for every verb —
  the server did not run the request, so a second try cannot apply it twice.
- **5xx, 504/Timeout, a connection lost mid-request, a read timeout**: retried only for
  idempotent calls (get, list, the opening of a watch, a replace that carries a
  resourceVersion, a delete with preconditions) — the first try may have taken effect.
- **Anything else** (other 4xx, TLS errors): never retried.

Waits honour ``Retry-After`` (header, or ``details.retryAfterSeconds``) and otherwise back off
exponentially with jitter; attempts and total time are bounded by :class:`RetryPolicy`, and every
wait is a :class:`~rayop.runtime.clock.Clock` sleep, so tests run in virtual time.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp
import structlog
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import ConfigException
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from rayop.runtime import jsoncodec
from rayop.runtime.clock import Clock
from rayop.runtime.errors import ApiError, ServerError, Timeout, TooManyRequests, Unauthorized

__all__ = ["Call", "Outcome", "RetryPolicy", "Transport", "api_error", "classify"]

T = TypeVar("T")
JSON = "application/json"
_MAX_TEXT = 2048
_log = structlog.get_logger("rayop.kube")


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How many times and how long the real backend retries a request that may yet succeed."""

    max_attempts: int = 5
    """Attempts in all, the first included; 1 turns retries off."""
    max_time: float = 30.0
    """Seconds from the first attempt after which no new attempt starts (waits included)."""
    backoff: float = 0.2
    """The first wait when the server gave no ``Retry-After``; doubles on each retry."""
    max_backoff: float = 5.0
    """The longest wait without ``Retry-After``."""
    jitter: float = 0.2
    """Each backoff is scaled by a random factor in ``[1 - jitter, 1]``."""

    def backoff_for(self, attempt: int, rng: random.Random) -> float:
        """Return the wait after failed attempt number ``attempt`` (1-based)."""
        base: float = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return base * (1.0 - self.jitter * rng.random())


class Outcome(enum.Enum):
    """What a failed attempt says about the request."""

    NOT_SENT = "not-sent"
    """The server did not run it (429, no connection made): safe to retry any verb."""
    MAYBE_APPLIED = "maybe-applied"
    """It may have run (5xx, connection lost, timeout): retry only idempotent calls."""
    FINAL = "final"
    """Retrying cannot help (other 4xx, TLS errors)."""


def classify(exc: BaseException) -> Outcome:
    """Say whether a failed attempt was not sent, may have been applied, or is final."""
    if isinstance(exc, TooManyRequests):
        return Outcome.NOT_SENT
    if isinstance(exc, aiohttp.ClientSSLError):
        return Outcome.FINAL
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return Outcome.NOT_SENT
    if isinstance(exc, ServerError | Timeout | aiohttp.ClientError | TimeoutError):
        return Outcome.MAYBE_APPLIED
    return Outcome.FINAL


@dataclass(kw_only=True)
class Call:
    """One logical request (however many attempts it takes) and what its attempts revealed."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    content_type: str = JSON
    idempotent: bool = False
    timeout: aiohttp.ClientTimeout | None = None
    namespace: str | None = None
    name: str | None = None
    maybe_applied: bool = False
    """Set once an earlier attempt failed in a way that may have taken effect."""

    def should_retry(self, exc: BaseException) -> bool:
        """Return whether another attempt is safe after ``exc`` (and remember what it revealed)."""
        outcome = classify(exc)
        if outcome is Outcome.MAYBE_APPLIED:
            if not self.idempotent:
                return False
            self.maybe_applied = True
            return True
        return outcome is Outcome.NOT_SENT

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class Transport:
    """Sends :class:`Call` s through a kubernetes-asyncio ``ApiClient`` with retries."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        clock: Clock,
        retry: RetryPolicy,
        rng: random.Random,
        request_timeout: float | None,
    ) -> None:
        self.api_client = api_client
        self.clock = clock
        self.retry = retry
        self._rng = rng
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)

    async def request(self, call: Call) -> Any:
        """Run ``call`` with retries and return its decoded JSON body."""
        body = await self._with_retries(call, self._fetch)
        try:
            return jsoncodec.loads(body) if body else None
        except ValueError as exc:
            raise ServerError(f"{call}: the server's answer is not JSON: {exc}") from exc

    async def open(self, call: Call) -> aiohttp.ClientResponse:
        """Run ``call`` with retries until a 2xx response starts; the caller must close it."""
        return await self._with_retries(call, self._exchange)

    async def _with_retries(self, call: Call, attempt: Callable[[Call], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            sleep=self.clock.sleep,
            stop=self._stop_for(call),
            wait=self._wait,
            retry=retry_if_exception(call.should_retry),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return await retrying(attempt, call)
        except ApiError:
            raise  # an answer (a 504 Timeout is a TimeoutError too): already rayop's error
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc, call) from exc

    def _stop_for(self, call: Call) -> Callable[[RetryCallState], bool]:
        start = self.clock.monotonic()
        policy = self.retry

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= policy.max_attempts:
                return True
            return self.clock.monotonic() - start + state.upcoming_sleep > policy.max_time

        return stop

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self.retry.backoff_for(state.attempt_number, self._rng)

    async def _fetch(self, call: Call) -> bytes:
        response = await self._exchange(call)
        try:
            return await response.read()
        finally:
            response.release()

    async def _send(self, call: Call) -> aiohttp.ClientResponse:
        response: aiohttp.ClientResponse = await self.api_client.call_api(
            call.path,
            call.method,
            query_params=list(call.query),
            header_params={"Accept": JSON, "Content-Type": call.content_type},
            body=call.body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=call.timeout or self._timeout,
        )
        return response

    async def _exchange(self, call: Call) -> aiohttp.ClientResponse:
        """Send one attempt; return a 2xx response, raise the mapped error for any other."""
        try:
            try:
                response = await self._send(call)
            except RecursionError:
                # kubernetes-asyncio encodes the body recursively, before sending anything: a
                # body nested deeper than the recursion limit (the API server takes 10,000
                # levels) is sent again with room for it.
                with jsoncodec.room_for_depth():
                    response = await self._send(call)
        except ConfigException as exc:  # a credential plugin or token refresh failed
            raise Unauthorized(f"{call}: cannot get credentials: {exc}") from exc
        if 200 <= response.status < 300:
            return response
        try:
            body = await response.read()
        finally:
            response.release()
        raise api_error(response.status, response.headers, body, now=self.clock.now(), call=call)


def api_error(
    status: int, headers: Mapping[str, str], body: bytes, *, now: datetime, call: Call
) -> ApiError:
    """Map a non-2xx answer to its :class:`ApiError`, from a ``Status`` body or from plain text."""
    retry_after = parse_retry_after(headers.get("Retry-After"), now=now)
    data = _status_body(body)
    if data is None:
        text = body.decode("utf-8", "replace").strip()[:_MAX_TEXT]
        data = {"message": text or f"HTTP {status} from {call}", "code": status}
    error = ApiError.from_status(data, code=status, retry_after=retry_after)
    if error.namespace is None:
        error.namespace = call.namespace
    if error.name is None:
        error.name = call.name
    return error


def _status_body(body: bytes) -> dict[str, Any] | None:
    try:
        data = jsoncodec.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("kind") == "Status":
        return data
    return None


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Parse a ``Retry-After`` header (seconds, or an HTTP date) into seconds from ``now``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def transport_error(exc: BaseException, call: Call) -> ApiError:
    """Map a failure below HTTP: a timeout to :class:`Timeout`, the rest to a 503 ServerError."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return Timeout(
            f"{call}: no answer in time ({detail})", namespace=call.namespace, name=call.name
        )
    return ServerError(
        f"{call}: the API server could not be reached: {detail}",
        reason="ServiceUnavailable",
        code=503,
        namespace=call.namespace,
        name=call.name,
    )


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    call = state.args[0] if state.args else None
    _log.info(
        "retrying kube request",
        request=str(call),
        attempt=state.attempt_number,
        wait=round(state.upcoming_sleep, 3),
        error=str(exc),
    )
