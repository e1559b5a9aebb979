from collections.abc import Hashable

import pytest

from rayop.runtime.clock import VirtualClock
from rayop.runtime.ratelimit import (
    BucketRateLimiter,
    ExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


def test_backoff_doubles_from_5ms_and_caps_at_1000s() -> None:
    limiter = ExponentialFailureRateLimiter[str]()
    delays = [limiter.when("a") for _ in range(25)]
    assert delays[:5] == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert delays[17] == pytest.approx(0.005 * 2**17)  # 655.36 s, still under the cap
    assert delays[18:] == [1000.0] * 7
    assert limiter.num_requeues("a") == 25


def test_backoff_never_overflows_after_many_failures() -> None:
    limiter = ExponentialFailureRateLimiter[str](base=1.0, cap=60.0)
    for _ in range(5000):
        delay = limiter.when("a")
    assert delay == 60.0


def test_forget_resets_one_key_only() -> None:
    limiter = ExponentialFailureRateLimiter[str]()
    for _ in range(4):
        limiter.when("a")
        limiter.when("b")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("b") == pytest.approx(0.08)


async def test_bucket_allows_a_burst_of_100_then_10_per_second() -> None:
    clock = VirtualClock()
    bucket = BucketRateLimiter(clock=clock)
    assert [bucket.when(i) for i in range(100)] == [0.0] * 100
    # Tokens are reserved in turn: the next ten wait 0.1 s, 0.2 s, ... 1.0 s.
    assert [bucket.when(i) for i in range(10)] == pytest.approx([0.1 * n for n in range(1, 11)])
    await clock.advance(1.0)
    # One second refilled the ten reserved tokens, nothing more.
    assert bucket.when("x") == pytest.approx(0.1)


async def test_bucket_refills_only_up_to_the_burst() -> None:
    clock = VirtualClock()
    bucket = BucketRateLimiter(qps=10, burst=100, clock=clock)
    for i in range(100):
        bucket.when(i)
    await clock.advance(3600)
    assert [bucket.when(i) for i in range(101)][-2:] == pytest.approx([0.0, 0.1])


async def test_bucket_keeps_no_per_key_state() -> None:
    bucket = BucketRateLimiter(clock=VirtualClock())
    bucket.when("a")
    bucket.forget("a")
    assert bucket.num_requeues("a") == 0


def test_max_of_takes_the_longest_wait_and_forgets_in_all() -> None:
    slow = ExponentialFailureRateLimiter[str](base=1.0, cap=100.0)
    fast = ExponentialFailureRateLimiter[str](base=0.1, cap=100.0)
    limiter = MaxOfRateLimiter[str](fast, slow)
    assert [limiter.when("a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert limiter.num_requeues("a") == 3
    limiter.forget("a")
    assert (slow.num_requeues("a"), fast.num_requeues("a")) == (0, 0)
    assert limiter.when("a") == 1.0


async def test_default_limiter_is_backoff_per_key_and_bucket_overall() -> None:
    clock = VirtualClock()
    limiter = default_controller_rate_limiter(clock=clock)
    first: list[float] = [limiter.when(("key", i)) for i in range(100)]
    assert first == pytest.approx([0.005] * 100)  # each key's own first backoff
    assert limiter.when(("key", 100)) == pytest.approx(0.1)  # the bucket is empty
    await clock.advance(60)
    same: Hashable = ("key", 0)
    delays = [limiter.when(same) for _ in range(20)]
    assert delays[0] == pytest.approx(0.01)  # its second failure
    assert delays[-1] == 1000.0


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        ExponentialFailureRateLimiter[str](base=-1)
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=0)
    with pytest.raises(ValueError):
        MaxOfRateLimiter[str]()
