"""In-memory limiter specifics (LRU bound, errors) and the concurrency limiter.

The token-bucket and quota semantics are contract tests run against both the memory
and the Redis backends in ``tests/gateway/test_limits_redis.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from garrison.errors import InvalidInput, Overloaded, QuotaExceeded, RateLimited
from garrison.serving import (
    ConcurrencyLimiter,
    Decision,
    LimitPolicy,
    MemoryRateLimiter,
    seconds_to_utc_midnight,
)

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def test_seconds_to_utc_midnight() -> None:
    assert seconds_to_utc_midnight(T0) == 86_400 - (22 * 3600 + 13 * 60 + 20)
    assert seconds_to_utc_midnight(19_000 * 86_400.0) == 86_400
    assert seconds_to_utc_midnight(19_000 * 86_400.0 - 0.25) == 0.25


def test_key_table_is_bounded_and_evicts_least_recently_used() -> None:
    limiter = MemoryRateLimiter(LimitPolicy(rate=0.001, burst=2), max_keys=100)
    for _ in range(2):
        limiter.hit("alice", now=T0)
    assert not limiter.hit("alice", now=T0).allowed
    for i in range(99):  # alice stays most recently used among 100 live keys
        limiter.hit(f"k{i}", now=T0)
    assert len(limiter) == 100
    assert not limiter.hit("alice", now=T0).allowed
    for i in range(10_000):
        limiter.hit(f"flood{i}", now=T0)
    assert len(limiter) == 100
    # Evicted: documented consequence, which is why keys must be authenticated principals.
    assert limiter.hit("alice", now=T0).allowed


def test_decision_raises_the_matching_error() -> None:
    Decision(True).raise_if_denied()
    with pytest.raises(RateLimited) as rate:
        Decision(False, 2.5, 0, -1, "rate").raise_if_denied()
    assert rate.value.retry_after == 2.5 and rate.value.code == "rate-limited"
    with pytest.raises(QuotaExceeded) as quota:
        Decision(False, 3600.0, 4, 0, "quota").raise_if_denied()
    assert quota.value.retry_after == 3600.0
    assert Decision(False, 1.0, 0, -1, "rate").to_dict()["reason"] == "rate"


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 0}, {"rate": -1}, {"rate": float("inf")}, {"burst": 0}, {"daily_quota": -1}],
)
def test_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        LimitPolicy(**kwargs)  # type: ignore[arg-type]


def test_cost_must_be_a_positive_int() -> None:
    limiter = MemoryRateLimiter()
    for cost in (0, -1, 1.5, True):
        with pytest.raises(InvalidInput):
            limiter.hit("k", cost=cost, now=T0)  # type: ignore[arg-type]


def test_ahit_is_the_same_decision() -> None:
    limiter = MemoryRateLimiter(LimitPolicy(rate=1, burst=1))
    assert asyncio.run(limiter.ahit("k", now=T0)).allowed
    assert not asyncio.run(limiter.ahit("k", now=T0)).allowed


# ----- concurrency limiter ----------------------------------------------------------


def test_sheds_load_without_a_queue() -> None:
    async def scenario() -> None:
        limiter = ConcurrencyLimiter(max_in_flight=2, retry_after=3.0)
        async with limiter.slot(), limiter.slot():
            assert limiter.in_flight == 2
            with pytest.raises(Overloaded) as info:
                async with limiter.slot():
                    pass
            assert info.value.retry_after == 3.0
        assert limiter.in_flight == 0 and limiter.shed == 1
        with pytest.raises(ZeroDivisionError):
            async with limiter.slot():
                1 / 0
        assert limiter.in_flight == 0

    asyncio.run(scenario())


def test_bounded_queue_waits_then_sheds() -> None:
    async def scenario() -> None:
        limiter = ConcurrencyLimiter(max_in_flight=1, max_queue=1, queue_timeout=5.0)
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        assert limiter.queued == 1
        with pytest.raises(Overloaded):  # the queue is full: shed at once
            await limiter.acquire()
        limiter.release()  # hands the slot straight to the waiter
        await waiter
        assert limiter.in_flight == 1 and limiter.queued == 0
        limiter.release()
        assert limiter.in_flight == 0

    asyncio.run(scenario())


def test_queue_timeout_and_cancellation_leak_nothing() -> None:
    async def scenario() -> None:
        limiter = ConcurrencyLimiter(max_in_flight=1, max_queue=5, queue_timeout=0.05)
        limiter.try_acquire()
        with pytest.raises(Overloaded):
            await limiter.acquire()
        assert limiter.queued == 0
        task = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert limiter.queued == 0
        limiter.release()
        assert limiter.in_flight == 0
        limiter.try_acquire()  # the slot is really free
        with pytest.raises(Overloaded):
            limiter.try_acquire()

    asyncio.run(scenario())


def test_many_concurrent_requests_never_exceed_the_cap() -> None:
    async def scenario() -> tuple[int, int, int]:
        limiter = ConcurrencyLimiter(max_in_flight=3, max_queue=4, queue_timeout=1.0)
        peak = 0
        served = shed = 0

        async def request() -> None:
            nonlocal peak, served, shed
            try:
                async with limiter.slot():
                    peak = max(peak, limiter.in_flight)
                    await asyncio.sleep(0.01)
                    served += 1
            except Overloaded:
                shed += 1

        await asyncio.gather(*(request() for _ in range(20)))
        assert limiter.in_flight == 0 and limiter.queued == 0
        return peak, served, shed

    peak, served, shed = asyncio.run(scenario())
    assert peak == 3
    assert served == 7 and shed == 13  # 3 running + 4 queued; the rest shed at once
