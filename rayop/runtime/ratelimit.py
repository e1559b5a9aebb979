"""Rate limiters for the work queue: how long a key waits before it is retried.

A rate limiter answers one question — :meth:`RateLimiter.when`: "this key failed again; how many
seconds until it may run?" — and keeps whatever state it needs per key until told to
:meth:`~RateLimiter.forget` it. :meth:`WorkQueue.add_rate_limited <rayop.runtime.queue.WorkQueue>`
is
``add_after(key, limiter.when(key))``.

The defaults are controller-runtime's (``DefaultTypedControllerRateLimiter``): the larger of a
per-key exponential backoff (5 ms doubling to 1000 s) and an overall token bucket (10 per second,
burst 100), so one failing key backs off on its own while a storm of failures across many keys is
held to 10 retries a second.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from rayop.runtime.clock import Clock, RealClock

__all__ = [
    "BucketRateLimiter",
    "ExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

# 2.0 ** 1023 is the largest power of two a float holds; past it the backoff is the cap anyway.
_MAX_EXPONENT = 1023


class RateLimiter(Protocol[K_contra]):
    """Decides how long a key waits before it is retried."""

    def when(self, key: K_contra) -> float:
        """Count one more failure of ``key``; return the seconds it should wait."""
        ...

    def forget(self, key: K_contra) -> None:
        """Stop tracking ``key``: its next failure counts as the first."""
        ...

    def num_requeues(self, key: K_contra) -> int:
        """Return how many failures of ``key`` are counted."""
        ...


class ExponentialFailureRateLimiter(Generic[K]):
    """Per-key exponential backoff: ``base * 2 ** failures``, capped at ``cap`` seconds.

    The first failure waits ``base``; with the defaults that is 5 ms, 10 ms, 20 ms, ... reaching
    the 1000 s cap at the 19th failure in a row.
    """

    def __init__(self, *, base: float = 0.005, cap: float = 1000.0) -> None:
        if base < 0 or cap < 0:
            raise ValueError("base and cap must be >= 0")
        self._base = base
        self._cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """Count a failure of ``key`` and return its backoff."""
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        return min(self._base * 2.0 ** min(exponent, _MAX_EXPONENT), self._cap)

    def forget(self, key: K) -> None:
        """Reset ``key``'s failure count."""
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        """Return ``key``'s failure count."""
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """An overall token bucket: ``burst`` retries at once, then ``qps`` per second, for all keys.

    The bucket starts full and refills at ``qps`` tokens a second up to ``burst``. Each
    :meth:`when` takes a token; when none is left it reserves the next one and returns how long
    until it exists, so waits queue up behind each other (0.1 s, 0.2 s, ... at 10/s). It keeps no
    per-key state: :meth:`forget` does nothing and :meth:`num_requeues` is always 0.
    """

    def __init__(self, *, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be > 0 and burst >= 1")
        self._qps = qps
        self._burst = float(burst)
        self._clock: Clock = clock if clock is not None else RealClock()
        self._tokens = float(burst)
        self._last = self._clock.monotonic()

    def when(self, key: Hashable) -> float:
        """Take a token; return 0 if one was there, else the seconds until the reserved one."""
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self._tokens = min(self._burst, self._tokens + elapsed * self._qps) - 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, key: Hashable) -> None:
        """Do nothing: the bucket is shared by all keys."""

    def num_requeues(self, key: Hashable) -> int:
        """Return 0: the bucket counts no failures per key."""
        return 0


class MaxOfRateLimiter(Generic[K]):
    """Combines limiters: waits as long as the slowest of them says; forgets in all of them."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self._limiters = limiters

    def when(self, key: K) -> float:
        """Ask every limiter (each counts the failure) and return the longest wait."""
        return max(limiter.when(key) for limiter in self._limiters)

    def forget(self, key: K) -> None:
        """Forget ``key`` in every limiter."""
        for limiter in self._limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Return the highest failure count any limiter holds for ``key``."""
        return max(limiter.num_requeues(key) for limiter in self._limiters)


def default_controller_rate_limiter(*, clock: Clock | None = None) -> RateLimiter[Hashable]:
    """Return controller-runtime's default: max of 5 ms..1000 s per-key backoff and 10/s burst 100.

    Pass the queue's ``clock`` (a :class:`~rayop.runtime.queue.WorkQueue` built without a rate
    limiter
    does this itself), or the bucket refills on the real clock while the queue waits on another.
    """
    return MaxOfRateLimiter[Hashable](
        ExponentialFailureRateLimiter[Hashable](base=0.005, cap=1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
