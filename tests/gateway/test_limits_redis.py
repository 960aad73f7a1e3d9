"""Limiter contract (memory and real Redis) plus Redis sharing and failure policy.

The Redis tests talk to the real server (``GARRISON_TEST_REDIS_URL``, default
redis://127.0.0.1:6379/0): in CI an unreachable server fails them, elsewhere they
skip. Each test works under its own key prefix and deletes it afterwards.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from garrison.errors import Overloaded, PayloadTooLarge
from garrison.gateway.limits_redis import RedisRateLimiter
from garrison.serving import CircuitBreaker, LimitPolicy, MemoryRateLimiter, RateLimiter

DAY = 86_400.0
T0 = 19_000 * DAY + 3_600.0  # 01:00 UTC on some day
Factory = Callable[..., RateLimiter]


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A fresh key prefix on the real server, deleted after the test."""
    value = f"garrison-test:{uuid.uuid4().hex}"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{value}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """A factory of limiters on one backend; Redis limiters all share one prefix."""
    if request.param == "memory":
        yield lambda policy, **kwargs: MemoryRateLimiter(policy, **kwargs)
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    clients: list[redis.Redis] = []

    def shared(policy: LimitPolicy, **kwargs: Any) -> RateLimiter:
        client = redis.Redis.from_url(url)  # each limiter: its own connection pool
        clients.append(client)
        return RedisRateLimiter(policy, client=client, prefix=prefix, **kwargs)

    yield shared
    for client in clients:
        client.close()


# ----- contract: identical behaviour on both backends -----------------------------------


def test_burst_then_refill(make: Factory) -> None:
    limiter = make(LimitPolicy(rate=2.0, burst=3))
    assert [limiter.hit("k", now=T0).remaining for _ in range(3)] == [2, 1, 0]
    denied = limiter.hit("k", now=T0)
    assert (denied.allowed, denied.reason, denied.retry_after) == (False, "rate", 0.5)
    assert limiter.hit("k", now=T0 + 0.25).retry_after == pytest.approx(0.25)
    assert limiter.hit("k", now=T0 + 0.5).allowed
    assert not limiter.hit("k", now=T0 + 0.5).allowed
    # A long pause refills to the burst, never beyond it.
    assert [limiter.hit("k", now=T0 + 1_000).allowed for _ in range(4)] == [True] * 3 + [False]


def test_cost_takes_several_tokens(make: Factory) -> None:
    limiter = make(LimitPolicy(rate=1.0, burst=5))
    assert limiter.hit("k", cost=4, now=T0).remaining == 1
    denied = limiter.hit("k", cost=3, now=T0)
    assert not denied.allowed and denied.retry_after == pytest.approx(2.0)
    assert limiter.hit("k", cost=1, now=T0).allowed  # a refused hit took nothing
    with pytest.raises(PayloadTooLarge):
        limiter.hit("k", cost=6, now=T0)


def test_clock_going_backwards_mints_no_tokens(make: Factory) -> None:
    limiter = make(LimitPolicy(rate=1.0, burst=1))
    assert limiter.hit("k", now=T0).allowed
    assert not limiter.hit("k", now=T0 - 50).allowed
    assert not limiter.hit("k", now=T0 + 0.5).allowed
    assert limiter.hit("k", now=T0 + 1).allowed


def test_keys_are_independent_and_overrides_apply(make: Factory) -> None:
    limiter = make(LimitPolicy(rate=1.0, burst=1), overrides={"vip": LimitPolicy(1.0, 3)})
    assert limiter.hit("a", now=T0).allowed and limiter.hit("b", now=T0).allowed
    assert not limiter.hit("a", now=T0).allowed
    assert [limiter.hit("vip", now=T0).allowed for _ in range(4)] == [True] * 3 + [False]


def test_daily_quota_resets_at_utc_midnight(make: Factory) -> None:
    limiter = make(LimitPolicy(rate=None, daily_quota=3))
    day_end = 19_001 * DAY
    assert [limiter.hit("k", now=T0).quota_remaining for _ in range(3)] == [2, 1, 0]
    late = day_end - 10.0
    denied = limiter.hit("k", now=late)
    assert (denied.allowed, denied.reason, denied.quota_remaining) == (False, "quota", 0)
    assert denied.retry_after == pytest.approx(10.0)
    assert limiter.hit("k", now=day_end).quota_remaining == 2  # a new UTC day
    assert limiter.hit("k", cost=2, now=day_end + 1).quota_remaining == 0
    assert not limiter.hit("k", now=day_end + 2).allowed


def test_rate_and_quota_together_take_nothing_when_either_refuses(make: Factory) -> None:
    limiter = make(LimitPolicy(rate=1.0, burst=2, daily_quota=3))
    assert limiter.hit("k", cost=2, now=T0).allowed
    rate_denied = limiter.hit("k", now=T0)
    assert rate_denied.reason == "rate" and rate_denied.quota_remaining == 1
    assert limiter.hit("k", now=T0 + 1).quota_remaining == 0  # the rate refusal cost no quota
    quota_denied = limiter.hit("k", now=T0 + 100)
    assert quota_denied.reason == "quota" and quota_denied.remaining == 2  # and no tokens


# ----- Redis only: sharing across workers, server clock, expiry ------------------------


@pytest.mark.redis
def test_two_workers_share_one_limit(redis_url: str, redis_prefix: str) -> None:
    policy = LimitPolicy(rate=1.0, burst=4, daily_quota=100)
    pools = [redis.Redis.from_url(redis_url) for _ in range(2)]  # two workers, two pools
    worker_a, worker_b = (RedisRateLimiter(policy, client=c, prefix=redis_prefix) for c in pools)
    assert worker_a.hit("k", now=T0).remaining == 3
    assert worker_b.hit("k", now=T0).remaining == 2
    assert worker_a.hit("k", cost=2, now=T0).remaining == 0
    denied = worker_b.hit("k", now=T0)
    assert not denied.allowed and denied.quota_remaining == 96
    for c in pools:
        c.close()


@pytest.mark.redis
def test_concurrent_hits_are_atomic(redis_url: str, redis_prefix: str) -> None:
    policy = LimitPolicy(rate=1e-6, burst=50)
    allowed = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal allowed
        client = redis.Redis.from_url(redis_url)
        limiter = RedisRateLimiter(policy, client=client, prefix=redis_prefix)
        mine = sum(limiter.hit("hot", now=T0).allowed for _ in range(30))
        client.close()
        with lock:
            allowed += mine

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed == 50


@pytest.mark.redis
def test_async_client_server_clock_and_expiry(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> list[bool]:
        aclient = redis.asyncio.Redis.from_url(redis_url)
        limiter = RedisRateLimiter(
            LimitPolicy(rate=0.5, burst=2, daily_quota=10), aclient=aclient, prefix=redis_prefix
        )
        outcomes = [(await limiter.ahit("k")).allowed for _ in range(3)]
        await aclient.aclose()
        return outcomes

    assert asyncio.run(scenario()) == [True, True, False]
    client = redis.Redis.from_url(redis_url)
    bucket_ttl = client.ttl(f"{redis_prefix}:{{k}}:bucket")
    quota_ttl = client.ttl(f"{redis_prefix}:{{k}}:quota")
    client.close()
    assert 0 < bucket_ttl <= 5  # ceil(2 tokens / 0.5 per s) + 1
    assert 0 < quota_ttl <= DAY + 61


# ----- failure policy ---------------------------------------------------------------


class DeadRedis:
    """A fake client whose script always fails like an unreachable server."""

    def __init__(self) -> None:
        self.calls = 0

    def register_script(self, _source: str) -> Callable[..., Any]:
        def run(**_kwargs: Any) -> Any:
            self.calls += 1
            raise RedisConnectionError("connection refused")

        return run


def test_fail_closed_by_default() -> None:
    limiter = RedisRateLimiter(LimitPolicy(), client=DeadRedis())  # type: ignore[arg-type]
    with pytest.raises(Overloaded) as info:
        limiter.hit("k", now=T0)
    assert info.value.detail["reason"] == "limiter-unavailable"
    assert info.value.retry_after == 1.0 and limiter.failures == 1


def test_fail_open_and_local_fallback_are_marked_degraded() -> None:
    dead = DeadRedis()
    policy = LimitPolicy(rate=1.0, burst=2)
    opened = RedisRateLimiter(policy, client=dead, on_error="allow")  # type: ignore[arg-type]
    assert all(opened.hit("k", now=T0).degraded for _ in range(5))
    local = RedisRateLimiter(policy, client=dead, on_error="local")  # type: ignore[arg-type]
    outcomes = [local.hit("k", now=T0) for _ in range(3)]
    assert [d.allowed for d in outcomes] == [True, True, False]
    assert all(d.degraded for d in outcomes)


def test_breaker_skips_a_dead_server() -> None:
    dead = DeadRedis()
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, window=10, cooldown=5, clock=lambda: now[0])
    client: Any = dead
    limiter = RedisRateLimiter(LimitPolicy(), client=client, on_error="allow", breaker=breaker)
    for _ in range(10):
        assert limiter.hit("k", now=T0).degraded
    assert dead.calls == 3 and breaker.state == "open"
    now[0] = 6.0  # half-open: one trial reaches the server again
    limiter.hit("k", now=T0)
    limiter.hit("k", now=T0)
    assert dead.calls == 4


def test_real_unreachable_server_fails_closed_fast() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", LimitPolicy(), socket_timeout=0.5)
    with pytest.raises(Overloaded):
        limiter.hit("k")

    async def ahit() -> None:
        await limiter.ahit("k")

    with pytest.raises(Overloaded):
        asyncio.run(ahit())


@pytest.mark.redis
def test_lua_script_is_the_twin_of_the_memory_algorithm(redis_url: str, redis_prefix: str) -> None:
    """Random hit sequences get identical decisions from both backends."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    client = redis.Redis.from_url(redis_url)
    hits = st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.integers(min_value=1, max_value=3),
            st.floats(min_value=-2.0, max_value=3_000.0),
        ),
        min_size=1,
        max_size=25,
    )

    @settings(max_examples=40, deadline=None)
    @given(
        rate=st.one_of(st.none(), st.floats(min_value=0.01, max_value=50.0)),
        burst=st.integers(min_value=3, max_value=10),
        quota=st.one_of(st.none(), st.integers(min_value=0, max_value=20)),
        sequence=hits,
    )
    def check(rate: float | None, burst: int, quota: int | None, sequence: Any) -> None:
        policy = LimitPolicy(rate=rate, burst=burst, daily_quota=quota)
        memory = MemoryRateLimiter(policy)
        shared = RedisRateLimiter(
            policy, client=client, prefix=f"{redis_prefix}:{uuid.uuid4().hex}"
        )
        now = DAY * 19_000 + DAY - 1_000.0  # sequences often cross a UTC midnight
        for key, cost, step in sequence:
            now += step
            a, b = memory.hit(key, cost, now), shared.hit(key, cost, now)
            assert (a.allowed, a.reason, a.remaining, a.quota_remaining) == (
                b.allowed,
                b.reason,
                b.remaining,
                b.quota_remaining,
            )
            assert a.retry_after == pytest.approx(b.retry_after, rel=1e-12, abs=1e-9)

    check()
    client.close()
