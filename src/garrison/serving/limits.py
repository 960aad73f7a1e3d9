"""Per-key rate limits and daily quotas, and global load shedding.

* :class:`MemoryRateLimiter`: per-key token bucket (``rate`` tokens per second,
  ``burst`` capacity) plus an optional per-key daily query quota (UTC days), held in
  a bounded LRU table so a flood of keys cannot exhaust memory. One process only.
* ``garrison.gateway.limits_redis.RedisRateLimiter`` implements the same algorithm in
  one atomic Lua script so the limits are shared by every worker and replica.
* :class:`ConcurrencyLimiter`: caps the requests in flight and sheds load with
  :class:`Overloaded` instead of letting a queue grow.

Time is a float of seconds since the Unix epoch (``time.time()``), passed as ``now``
so tests and known-answer runs control it; UTC days are ``floor(now / 86400)``.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from garrison.errors import InvalidInput, Overloaded, PayloadTooLarge, QuotaExceeded, RateLimited

__all__ = [
    "ConcurrencyLimiter",
    "Decision",
    "LimitPolicy",
    "MemoryRateLimiter",
    "RateLimiter",
    "check_cost",
    "seconds_to_utc_midnight",
]

DAY = 86_400.0


def seconds_to_utc_midnight(now: float) -> float:
    """Seconds from ``now`` (epoch seconds) to the next UTC midnight."""
    return (math.floor(now / DAY) + 1) * DAY - now


@dataclass(frozen=True)
class LimitPolicy:
    """Limits for one key.

    ``rate`` is in tokens per second (``None`` disables the bucket), ``burst`` is the
    bucket capacity, and ``daily_quota`` the number of cost units per UTC day
    (``None``: no quota). A request of cost ``c`` needs ``c`` tokens and ``c`` units.
    """

    rate: float | None = 10.0
    burst: int = 20
    daily_quota: int | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise InvalidInput("rate must be a positive finite number of tokens per second")
        if self.burst < 1:
            raise InvalidInput("burst must be at least 1")
        if self.daily_quota is not None and self.daily_quota < 0:
            raise InvalidInput("daily_quota must not be negative")


@dataclass(frozen=True)
class Decision:
    """The answer to one :meth:`RateLimiter.hit`.

    ``retry_after`` is 0 when allowed, otherwise the seconds until the request could
    pass (until UTC midnight for a quota). ``remaining`` is the whole tokens left in
    the bucket (``-1`` without a bucket), ``quota_remaining`` the units left today
    (``-1`` without a quota). ``reason`` is ``"rate"`` or ``"quota"`` when refused.
    ``degraded`` marks an answer given without the shared store (fail-open or local).
    """

    allowed: bool
    retry_after: float = 0.0
    remaining: int = -1
    quota_remaining: int = -1
    reason: Literal["rate", "quota"] | None = None
    degraded: bool = False

    def raise_if_denied(self) -> None:
        """Raise ``RateLimited`` or ``QuotaExceeded`` (with ``retry_after``) if refused."""
        if self.allowed:
            return
        if self.reason == "quota":
            raise QuotaExceeded(
                "daily query quota used up", retry_after=self.retry_after, reason="quota"
            )
        raise RateLimited("too many requests", retry_after=self.retry_after, reason="rate")

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "retry_after": self.retry_after,
            "remaining": self.remaining,
            "quota_remaining": self.quota_remaining,
            "reason": self.reason,
            "degraded": self.degraded,
        }


class RateLimiter(Protocol):
    """Per-key limiter. ``now`` defaults to the limiter's clock (wall or store time)."""

    def policy_for(self, key: str) -> LimitPolicy: ...

    def hit(self, key: str, cost: int = 1, now: float | None = None) -> Decision: ...

    async def ahit(self, key: str, cost: int = 1, now: float | None = None) -> Decision: ...


def check_cost(policy: LimitPolicy, cost: int) -> None:
    """Refuse a cost that is not a positive int or that no bucket could ever hold."""
    if type(cost) is not int or cost < 1:
        raise InvalidInput("cost must be a positive integer")
    if policy.rate is not None and cost > policy.burst:
        raise PayloadTooLarge(
            "request larger than the burst allowance",
            problem="cost-above-burst",
            limit=policy.burst,
        )


class _State:
    __slots__ = ("day", "tokens", "ts", "used")

    def __init__(self, tokens: float, ts: float) -> None:
        self.tokens = tokens
        self.ts = ts
        self.day = -1
        self.used = 0


class MemoryRateLimiter:
    """In-process token buckets and daily quotas over a bounded LRU key table.

    When more than ``max_keys`` keys are live, the least recently used is evicted:
    its bucket starts full and its quota count at zero if it comes back. Keys should
    be authenticated principal names, so growing the table needs many credentials;
    across processes use the Redis limiter, whose state is shared.
    """

    def __init__(
        self,
        policy: LimitPolicy | None = None,
        *,
        max_keys: int = 100_000,
        overrides: Mapping[str, LimitPolicy] | None = None,
    ) -> None:
        if max_keys < 1:
            raise InvalidInput("max_keys must be at least 1")
        self.policy = policy or LimitPolicy()
        self.max_keys = max_keys
        self.overrides = dict(overrides or {})
        self._table: collections.OrderedDict[str, _State] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._table)

    def policy_for(self, key: str) -> LimitPolicy:
        return self.overrides.get(key, self.policy)

    def hit(self, key: str, cost: int = 1, now: float | None = None) -> Decision:
        """Take ``cost`` tokens and quota units for ``key`` if both suffice, else none."""
        policy = self.policy_for(key)
        check_cost(policy, cost)
        if now is None:
            now = time.time()
        with self._lock:
            state = self._table.get(key)
            if state is None:
                state = _State(float(policy.burst), now)
                self._table[key] = state
                if len(self._table) > self.max_keys:
                    self._table.popitem(last=False)
            else:
                self._table.move_to_end(key)
            return _decide(state, policy, cost, now)

    async def ahit(self, key: str, cost: int = 1, now: float | None = None) -> Decision:
        return self.hit(key, cost, now)


def _decide(state: _State, policy: LimitPolicy, cost: int, now: float) -> Decision:
    """The algorithm; ``limits_redis.LUA_HIT`` is its line-by-line twin."""
    tokens = state.tokens
    remaining = -1
    rate_retry = 0.0
    if policy.rate is not None:
        elapsed = now - state.ts
        if elapsed > 0:
            tokens = min(float(policy.burst), tokens + elapsed * policy.rate)
        if tokens < cost:
            rate_retry = (cost - tokens) / policy.rate
    quota_left = -1
    day = math.floor(now / DAY)
    if policy.daily_quota is not None:
        used = state.used if state.day == day else 0
        quota_left = policy.daily_quota - used
        if used + cost > policy.daily_quota:
            retry = seconds_to_utc_midnight(now)
            remaining = math.floor(tokens) if policy.rate is not None else -1
            return Decision(False, retry, remaining, max(quota_left, 0), "quota")
    if rate_retry > 0:
        return Decision(False, rate_retry, math.floor(tokens), quota_left, "rate")
    if policy.rate is not None:
        tokens -= cost
        state.tokens = tokens
        state.ts = max(now, state.ts)
        remaining = math.floor(tokens)
    if policy.daily_quota is not None:
        state.used = (state.used if state.day == day else 0) + cost
        state.day = day
        quota_left = policy.daily_quota - state.used
    return Decision(True, 0.0, remaining, quota_left)


class ConcurrencyLimiter:
    """A global cap on requests in flight, with load shedding.

    ``slot()`` takes a slot at once if one is free. Otherwise, if fewer than
    ``max_queue`` requests are waiting, it waits up to ``queue_timeout`` seconds for
    one; else (or on timeout) it raises ``Overloaded`` with ``retry_after`` so the
    client backs off instead of piling up. Use it from one event loop.
    """

    def __init__(
        self,
        max_in_flight: int,
        max_queue: int = 0,
        *,
        queue_timeout: float = 1.0,
        retry_after: float = 1.0,
    ) -> None:
        if max_in_flight < 1 or max_queue < 0:
            raise InvalidInput("max_in_flight must be >= 1 and max_queue >= 0")
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.retry_after = retry_after
        self.in_flight = 0
        self.shed = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def _overloaded(self) -> Overloaded:
        self.shed += 1
        return Overloaded(
            "server at capacity",
            retry_after=self.retry_after,
            reason="concurrency",
            in_flight=self.in_flight,
        )

    def try_acquire(self) -> None:
        """Take a slot now or raise ``Overloaded``; pair with :meth:`release`."""
        if self.in_flight >= self.max_in_flight:
            raise self._overloaded()
        self.in_flight += 1

    def release(self) -> None:
        """Give the slot to the oldest live waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1

    async def acquire(self) -> None:
        """Take a slot, waiting in the bounded queue if allowed; or raise ``Overloaded``."""
        if self.in_flight < self.max_in_flight:
            self.in_flight += 1
            return
        if self.queued >= self.max_queue:
            raise self._overloaded()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.queue_timeout)
        except TimeoutError:
            if waiter.done():
                return  # The slot was handed over just as the wait timed out.
            self._forget(waiter)
            raise self._overloaded() from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # We were given a slot but will not use it: pass it on.
            else:
                self._forget(waiter)
            raise

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        waiter.cancel()
        with suppress(ValueError):
            self._waiters.remove(waiter)

    def slot(self) -> _Slot:
        """``async with limiter.slot(): ...`` around the work of one request."""
        return _Slot(self)


class _Slot:
    """The context manager of :meth:`ConcurrencyLimiter.slot` (a plain class: a
    generator-based one costs more than the counting it guards)."""

    __slots__ = ("_limiter",)

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter = limiter

    async def __aenter__(self) -> None:
        await self._limiter.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._limiter.release()
