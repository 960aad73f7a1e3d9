"""The inference workflow's guard primitives: framework-free, independently tested.

Input validation against the model's schema, per-key rate limits and quotas, load
shedding, circuit breaking with deadlines, fallbacks and output hardening. The
gateway (``garrison.gateway``) composes them; see ``docs/limits.md``.
"""

from garrison.serving.limits import (
    ConcurrencyLimiter,
    Decision,
    LimitPolicy,
    MemoryRateLimiter,
    RateLimiter,
    check_cost,
    seconds_to_utc_midnight,
)
from garrison.serving.output import HardenedOutput, OIPTensor, OutputPolicy
from garrison.serving.resilience import (
    BoundedExecutor,
    BreakerState,
    CircuitBreaker,
    FallbackPolicy,
    call_with_deadline,
)
from garrison.serving.validation import (
    InputValidator,
    ValidatedBatch,
    ValidationLimits,
    json_depth_exceeds,
)

__all__ = [
    "BoundedExecutor",
    "BreakerState",
    "CircuitBreaker",
    "ConcurrencyLimiter",
    "Decision",
    "FallbackPolicy",
    "HardenedOutput",
    "InputValidator",
    "LimitPolicy",
    "MemoryRateLimiter",
    "OIPTensor",
    "OutputPolicy",
    "RateLimiter",
    "ValidatedBatch",
    "ValidationLimits",
    "call_with_deadline",
    "check_cost",
    "json_depth_exceeds",
    "seconds_to_utc_midnight",
]
