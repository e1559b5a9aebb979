"""The exceptions rayop raises, as one tree.

::

    RayopError
     ├── ApiError                 a Kubernetes API answer (real or fake) that is not success
     │    ├── BadRequest          400
     │    ├── Unauthorized        401
     │    ├── Forbidden           403
     │    ├── NotFound            404
     │    │    └── PathNotFound   404 from the router: no such path (plain text)
     │    ├── MethodNotAllowed    405
     │    ├── AlreadyExists       409, reason AlreadyExists
     │    ├── Conflict            409, reason Conflict (stale resourceVersion, failed precondition)
     │    ├── Gone                410, reason Expired/Gone (a watch or list resourceVersion too old)
     │    ├── UnsupportedMediaType 415
     │    ├── Invalid             422, with the failing field paths in ``causes``
     │    ├── TooManyRequests     429, with ``retry_after`` seconds
     │    ├── ServerError         5xx
     │    └── Timeout             504 / reason Timeout, or a request that took too long
     │                            (also a TimeoutError)
     ├── TerminalError            raised by a reconciler: do not retry until the object changes
     ├── CacheSyncTimeout         rayop.runtime.sharedinformers: informers not synced in time
     │                            (also a TimeoutError)
     ├── LeaderElectionLost       rayop.runtime.leader: the lease went to another while leading
     ├── PatchError               rayop.runtime.patch (also a ValueError)
     │    ├── MalformedPatch      not a valid patch (HTTP 400 on a server)
     │    └── PatchFailed         a valid patch that does not apply (HTTP 422 on a server)
     ├── ShutDown                 rayop.runtime.queue: the work queue is shutting down
     ├── TooDeep                  rayop.runtime.jsoncodec: JSON nested past the API server's
     │                            10,000 levels (also a ValueError)
     ├── KubeConfigError          rayop.kube.config: no usable kubeconfig or in-cluster config
     ├── YAMLTooBig               rayop.ray.resources.serve: YAML too deep or too large once
     │                            its aliases are expanded (also a yaml.YAMLError)
     ├── StrategicMergeError      rayop.fakes.apiserver: a strategic merge patch it cannot apply
     ├── DashboardError           rayop.ray.dashboard: a Ray dashboard answer that is not success
     │    └── JobAlreadySubmitted the submission id is taken (Ray's 400 for a known id)
     ├── NotSettled               rayop.testing.simulation: a wait that did not converge
     │                            (also an AssertionError)
     ├── HotLoop                  rayop.testing.simulation: a key reconciled in a hot loop
     └── InvariantViolation       rayop.testing.simulation: an invariant broken (AssertionError)

Only the classes of the first block live here; the others are defined beside the code that
raises them (above the runtime, they cannot be imported here) and all derive from
:class:`RayopError`, so ``except RayopError`` catches everything rayop raises on purpose.

Every :class:`ApiError` converts to and from the Kubernetes ``Status`` object, so the fake cluster,
its REST front and the real backend speak the same errors byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Cause",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "PathNotFound",
    "RayopError",
    "ServerError",
    "TerminalError",
    "Timeout",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
]


class RayopError(Exception):
    """The root of every exception rayop raises on purpose."""


@dataclass(frozen=True)
class Cause:
    """One reason an API request failed: usually a field path and what is wrong with it."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        """Return the cause as it appears in ``Status.details.causes``."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


class ApiError(RayopError):
    """A Kubernetes API answer that is not success; the base of the HTTP-status errors."""

    code: ClassVar[int] = 500
    default_reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str = "",
        *,
        reason: str | None = None,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        group: str | None = None,
        causes: tuple[Cause, ...] | list[Cause] = (),
        retry_after: float | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.group = group
        self.causes = tuple(causes)
        self.retry_after = retry_after
        if code is not None:
            self.status_code = code
        else:
            self.status_code = self.code

    def __str__(self) -> str:
        return f"{self.status_code} {self.reason}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"

    def to_status(self) -> dict[str, Any]:
        """Return the Kubernetes ``Status`` object a server sends for this error."""
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group is not None:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = max(1, round(self.retry_after))
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.status_code,
        }
        if details:
            status["details"] = details
        return status

    @staticmethod
    def from_status(
        status: dict[str, Any], *, code: int | None = None, retry_after: float | None = None
    ) -> ApiError:
        """Build the matching error from a ``Status`` object (and the HTTP code, if known)."""
        http_code = int(status.get("code") or code or 500)
        reason = str(status.get("reason") or "")
        details = status.get("details") or {}
        causes = [
            Cause(
                field=str(c.get("field", "")),
                message=str(c.get("message", "")),
                reason=str(c.get("reason", "")),
            )
            for c in details.get("causes") or []
        ]
        if retry_after is None and details.get("retryAfterSeconds") is not None:
            retry_after = float(details["retryAfterSeconds"])
        cls = error_class(http_code, reason)
        return cls(
            str(status.get("message") or reason or f"HTTP {http_code}"),
            reason=reason or None,
            kind=details.get("kind"),
            name=details.get("name"),
            group=details.get("group"),
            causes=causes,
            retry_after=retry_after,
            code=http_code,
        )


class BadRequest(ApiError):
    """400: the request itself is malformed (a bad selector, a patch that does not apply)."""

    code = 400
    default_reason = "BadRequest"


class Unauthorized(ApiError):
    """401: no valid credentials."""

    code = 401
    default_reason = "Unauthorized"


class Forbidden(ApiError):
    """403: the credentials may not do this."""

    code = 403
    default_reason = "Forbidden"


class NotFound(ApiError):
    """404: the object, or its kind, does not exist."""

    code = 404
    default_reason = "NotFound"


class PathNotFound(NotFound):
    """404 from the server's router, not its API: no such path (a group nothing serves).

    kube-apiserver answers these with plain text (``404 page not found``), not a Status.
    """

    def __init__(self, message: str = "404 page not found", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class MethodNotAllowed(ApiError):
    """405: the verb is not supported on this resource."""

    code = 405
    default_reason = "MethodNotAllowed"


class AlreadyExists(ApiError):
    """409 AlreadyExists: create of a name that is taken."""

    code = 409
    default_reason = "AlreadyExists"


class Conflict(ApiError):
    """409 Conflict: a stale resourceVersion or a failed precondition; re-read and retry."""

    code = 409
    default_reason = "Conflict"


class Gone(ApiError):
    """410: the requested resourceVersion is older than the server keeps; relist."""

    code = 410
    default_reason = "Expired"


class UnsupportedMediaType(ApiError):
    """415: the content type (for example a patch type) is not supported."""

    code = 415
    default_reason = "UnsupportedMediaType"


class Invalid(ApiError):
    """422: the object fails validation; ``causes`` names each failing field."""

    code = 422
    default_reason = "Invalid"

    @property
    def fields(self) -> tuple[str, ...]:
        """The failing field paths, in the order the server gave them."""
        return tuple(c.field for c in self.causes)


class TooManyRequests(ApiError):
    """429: throttled; wait ``retry_after`` seconds before trying again."""

    code = 429
    default_reason = "TooManyRequests"


class ServerError(ApiError):
    """5xx: the server failed; the request may or may not have taken effect."""

    code = 500
    default_reason = "InternalError"


class Timeout(ApiError, TimeoutError):
    """504 or reason Timeout: the request did not finish in time; it may have taken effect.

    Also a :class:`TimeoutError`, so ``except TimeoutError`` catches it with every other timeout.
    """

    code = 504
    default_reason = "Timeout"


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
    504: Timeout,
}


def error_class(code: int, reason: str = "") -> type[ApiError]:
    """Return the error class for an HTTP status code and a ``Status`` reason."""
    if code == 409:
        return AlreadyExists if reason == "AlreadyExists" else Conflict
    if reason == "Timeout":
        return Timeout
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code >= 500:
        return ServerError
    return ApiError


class TerminalError(RayopError):
    """Raised by a reconciler for a failure that retrying cannot fix; the key is forgotten."""
