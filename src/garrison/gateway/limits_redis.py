"""Rate limits and daily quotas shared by every worker and replica, kept in Redis.

One Lua script per hit does the whole decision atomically: it refills and takes
from the key's token bucket (a hash ``{tokens, ts}`` whose TTL is the time to refill
completely) and counts the key's daily quota (a hash ``{day, used}`` that expires
after the UTC day ends). Nothing is taken unless both allow. The script is the
line-by-line twin of ``garrison.serving.limits._decide``; the same contract tests run
against both.

When ``now`` is not given, the script reads the Redis server clock, so all replicas
share one time base and client clock skew cannot buy tokens.

If Redis fails (down, timeout, script error) the ``on_error`` policy applies:
``"deny"`` (default, fail closed: raise ``Overloaded``, which the gateway answers
with 503 and ``Retry-After``), ``"allow"`` (fail open: allow, ``degraded=True``) or
``"local"`` (fall back to a per-process ``MemoryRateLimiter`` with the same policy,
``degraded=True``). An optional ``CircuitBreaker`` skips Redis while it is open so a
dead server costs no socket timeout per request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import redis
import redis.asyncio
from redis.exceptions import RedisError

from garrison.errors import CircuitOpen, ConfigurationError, InvalidInput, Overloaded
from garrison.serving.limits import Decision, LimitPolicy, MemoryRateLimiter, check_cost
from garrison.serving.resilience import CircuitBreaker

__all__ = ["LUA_HIT", "RedisRateLimiter"]

LUA_HIT = """
-- KEYS[1]: bucket hash {tokens, ts}; KEYS[2]: quota hash {day, used}.
-- ARGV: cost, rate (0: no bucket), burst, quota (-1: none), now ('': server clock).
local cost = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local tokens = burst
local ts = now
local remaining = -1
local rate_retry = 0
if rate > 0 then
  local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
  if s[1] then
    tokens = tonumber(s[1])
    ts = tonumber(s[2])
    local elapsed = now - ts
    if elapsed > 0 then tokens = math.min(burst, tokens + elapsed * rate) end
  end
  if tokens < cost then rate_retry = (cost - tokens) / rate end
end
local day = math.floor(now / 86400)
local quota_left = -1
local used = 0
if quota >= 0 then
  local q = redis.call('HMGET', KEYS[2], 'day', 'used')
  if q[1] and tonumber(q[1]) == day then used = tonumber(q[2]) end
  quota_left = quota - used
  if used + cost > quota then
    if rate > 0 then remaining = math.floor(tokens) end
    local retry = string.format('%.17g', (day + 1) * 86400 - now)
    return {0, retry, remaining, math.max(quota_left, 0), 2}
  end
end
if rate_retry > 0 then
  return {0, string.format('%.17g', rate_retry), math.floor(tokens), quota_left, 1}
end
if rate > 0 then
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
             'ts', string.format('%.17g', math.max(now, ts)))
  redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1)
  remaining = math.floor(tokens)
end
if quota >= 0 then
  used = used + cost
  redis.call('HSET', KEYS[2], 'day', day, 'used', used)
  redis.call('EXPIRE', KEYS[2], math.ceil((day + 1) * 86400 - now) + 60)
  quota_left = quota - used
end
return {1, '0', remaining, quota_left, 0}
"""

_REASONS: dict[int, Literal["rate", "quota"] | None] = {0: None, 1: "rate", 2: "quota"}
OnError = Literal["deny", "allow", "local"]


def _decision(reply: list[Any]) -> Decision:
    allowed, retry, remaining, quota_left, reason = reply
    return Decision(
        allowed=bool(allowed),
        retry_after=float(retry),
        remaining=int(remaining),
        quota_remaining=int(quota_left),
        reason=_REASONS[int(reason)],
    )


class RedisRateLimiter:
    """``RateLimiter`` backed by Redis: ``hit`` uses ``client``, ``ahit`` ``aclient``.

    Give the sync ``redis.Redis`` client, the ``redis.asyncio.Redis`` client, or both;
    build them with short socket timeouts (see :meth:`from_url`), since a slow limiter
    is a slow gateway.
    """

    def __init__(
        self,
        policy: LimitPolicy | None = None,
        *,
        client: redis.Redis | None = None,
        aclient: redis.asyncio.Redis | None = None,
        prefix: str = "garrison:limits",
        overrides: Mapping[str, LimitPolicy] | None = None,
        on_error: OnError = "deny",
        error_retry_after: float = 1.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if client is None and aclient is None:
            raise ConfigurationError("RedisRateLimiter needs a client or an aclient")
        if on_error not in ("deny", "allow", "local"):
            raise ConfigurationError("on_error must be 'deny', 'allow' or 'local'")
        self.policy = policy or LimitPolicy()
        self.overrides = dict(overrides or {})
        self.prefix = prefix
        self.on_error = on_error
        self.error_retry_after = error_retry_after
        self.breaker = breaker
        self.failures = 0
        self._client = client
        self._aclient = aclient
        self._script = client.register_script(LUA_HIT) if client is not None else None
        self._ascript = aclient.register_script(LUA_HIT) if aclient is not None else None
        self._local = MemoryRateLimiter(self.policy, overrides=self.overrides)

    @classmethod
    def from_url(
        cls,
        url: str,
        policy: LimitPolicy | None = None,
        *,
        socket_timeout: float = 0.1,
        **kwargs: Any,
    ) -> RedisRateLimiter:
        """Both clients for ``url`` with short connect and read timeouts."""
        return cls(
            policy,
            client=redis.Redis.from_url(url, socket_timeout=socket_timeout,
                                        socket_connect_timeout=socket_timeout),
            aclient=redis.asyncio.Redis.from_url(url, socket_timeout=socket_timeout,
                                                 socket_connect_timeout=socket_timeout),
            **kwargs,
        )

    def policy_for(self, key: str) -> LimitPolicy:
        return self.overrides.get(key, self.policy)

    def _call(self, key: str, cost: int, now: float | None) -> tuple[list[str], list[Any]]:
        if not isinstance(key, str) or not key or len(key) > 256:
            raise InvalidInput("limiter key must be a non-empty string of at most 256 chars")
        policy = self.policy_for(key)
        check_cost(policy, cost)
        base = f"{self.prefix}:{{{key}}}"
        args = [
            cost,
            policy.rate if policy.rate is not None else 0,
            policy.burst,
            policy.daily_quota if policy.daily_quota is not None else -1,
            repr(float(now)) if now is not None else "",
        ]
        return [f"{base}:bucket", f"{base}:quota"], args

    def hit(self, key: str, cost: int = 1, now: float | None = None) -> Decision:
        if self._script is None:
            raise ConfigurationError("this RedisRateLimiter has no sync client")
        keys, args = self._call(key, cost, now)
        try:
            if self.breaker is not None:
                self.breaker.before_call()
            reply = self._script(keys=keys, args=args)
        except (RedisError, OSError, CircuitOpen) as exc:
            return self._failed(exc, key, cost, now)
        self._succeeded()
        return _decision(reply)

    async def ahit(self, key: str, cost: int = 1, now: float | None = None) -> Decision:
        if self._ascript is None:
            raise ConfigurationError("this RedisRateLimiter has no async client")
        keys, args = self._call(key, cost, now)
        try:
            if self.breaker is not None:
                self.breaker.before_call()
            reply = await self._ascript(keys=keys, args=args)
        except (RedisError, OSError, CircuitOpen) as exc:
            return self._failed(exc, key, cost, now)
        self._succeeded()
        return _decision(reply)

    def _succeeded(self) -> None:
        if self.breaker is not None:
            self.breaker.record_success()

    def _failed(self, exc: Exception, key: str, cost: int, now: float | None) -> Decision:
        self.failures += 1
        if self.breaker is not None and not isinstance(exc, CircuitOpen):
            self.breaker.record_failure()
        if self.on_error == "allow":
            return Decision(True, degraded=True)
        if self.on_error == "local":
            return dataclasses.replace(self._local.hit(key, cost, now), degraded=True)
        raise Overloaded(
            "rate limiter unavailable",
            retry_after=self.error_retry_after,
            reason="limiter-unavailable",
            error=type(exc).__name__,
        ) from exc
