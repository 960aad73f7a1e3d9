"""Circuit breaker, deadline-bounded model calls, bounded executor and fallbacks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from garrison.errors import CircuitOpen, InvalidInput, ModelTimeout, Overloaded, SchemaViolation
from garrison.serving import (
    BoundedExecutor,
    BreakerState,
    CircuitBreaker,
    FallbackPolicy,
    call_with_deadline,
)


class ManualTime:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualTime:
    return ManualTime()


@pytest.fixture
def breaker(clock: ManualTime) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, window=10.0, cooldown=5.0, clock=clock, name="m")


def test_opens_after_threshold_failures_within_window(
    breaker: CircuitBreaker, clock: ManualTime
) -> None:
    for _ in range(2):
        breaker.record_failure()
        clock.now += 6  # spread out: the window forgets old failures
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.times_opened == 1
    clock.now += 2
    with pytest.raises(CircuitOpen) as info:
        breaker.before_call()
    assert info.value.retry_after == pytest.approx(3.0)
    assert info.value.detail == {"breaker": "m", "state": "open"}


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()


def test_half_open_lets_exactly_one_trial_through(
    breaker: CircuitBreaker, clock: ManualTime
) -> None:
    trip(breaker)
    clock.now += 5
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.before_call()


def test_failed_trial_reopens_for_another_cooldown(
    breaker: CircuitBreaker, clock: ManualTime
) -> None:
    trip(breaker)
    clock.now += 5
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.times_opened == 2
    clock.now += 4.9
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_trial_that_never_reports_is_replaced(breaker: CircuitBreaker, clock: ManualTime) -> None:
    trip(breaker)
    clock.now += 5
    breaker.before_call()
    clock.now += 5
    breaker.before_call()  # the first trial was lost; a second one may go


def test_guard_ignores_caller_errors(breaker: CircuitBreaker) -> None:
    for _ in range(5):
        with pytest.raises(SchemaViolation), breaker.guard():
            raise SchemaViolation("bad row")
    assert breaker.state is BreakerState.CLOSED
    for _ in range(3):
        with pytest.raises(RuntimeError), breaker.guard():
            raise RuntimeError("model crashed")
    assert breaker.state is BreakerState.OPEN
    assert breaker.to_dict() == {
        "name": "m",
        "state": "open",
        "recent_failures": 0,
        "times_opened": 1,
    }


def test_breaker_refuses_nonsense_settings() -> None:
    with pytest.raises(InvalidInput):
        CircuitBreaker(failure_threshold=0)


# ----- call_with_deadline -----------------------------------------------------------


def test_returns_result_and_propagates_model_errors() -> None:
    executor = BoundedExecutor(2)

    async def scenario() -> None:
        assert await call_with_deadline(pow, 2, 10, timeout=1.0, executor=executor) == 1024
        with pytest.raises(ZeroDivisionError):
            await call_with_deadline(divmod, 1, 0, timeout=1.0, executor=executor)

    asyncio.run(scenario())
    executor.shutdown()


def test_timeout_raises_fast_and_the_hung_call_keeps_its_capacity() -> None:
    release = threading.Event()
    finished = threading.Event()
    executor = BoundedExecutor(max_workers=1, max_pending=0)

    def hang() -> None:
        release.wait(60)
        finished.set()

    async def scenario() -> None:
        with pytest.raises(ModelTimeout) as info:
            await call_with_deadline(hang, timeout=0.05, executor=executor)
        assert not finished.is_set()  # The deadline answered; it did not wait for the call.
        assert info.value.detail == {"timeout": 0.05}
        # The thread is still blocked: the pool is full, so new work is shed.
        with pytest.raises(Overloaded):
            await call_with_deadline(pow, 2, 2, timeout=30.0, executor=executor)
        release.set()
        for _ in range(6_000):  # A hang guard of about a minute, not a speed goal.
            try:
                assert await call_with_deadline(pow, 2, 2, timeout=30.0, executor=executor) == 4
                return
            except Overloaded:
                await asyncio.sleep(0.01)
        raise AssertionError("capacity never came back")

    asyncio.run(scenario())
    executor.shutdown()


def test_a_call_still_queued_at_its_deadline_never_runs() -> None:
    release = threading.Event()
    ran = threading.Event()
    executor = BoundedExecutor(max_workers=1, max_pending=1)

    async def scenario() -> None:
        blocker = asyncio.ensure_future(
            call_with_deadline(release.wait, 60, timeout=60.0, executor=executor)
        )
        await asyncio.sleep(0.02)
        with pytest.raises(ModelTimeout):
            await call_with_deadline(ran.set, timeout=0.05, executor=executor)
        release.set()
        assert await blocker is True

    asyncio.run(scenario())
    executor.shutdown(wait=True)
    assert not ran.is_set()


def test_repeated_timeouts_open_the_breaker(clock: ManualTime) -> None:
    release = threading.Event()
    executor = BoundedExecutor(max_workers=4)
    breaker = CircuitBreaker(failure_threshold=2, window=60, cooldown=30, clock=clock)
    submitted = []

    def model() -> None:
        submitted.append(1)
        release.wait(5)

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(ModelTimeout):
                await call_with_deadline(model, timeout=0.02, executor=executor, breaker=breaker)
        with pytest.raises(CircuitOpen):
            await call_with_deadline(model, timeout=0.02, executor=executor, breaker=breaker)

    asyncio.run(scenario())
    release.set()
    executor.shutdown()
    assert len(submitted) == 2 and breaker.state is BreakerState.OPEN


def test_caller_errors_do_not_trip_the_breaker(clock: ManualTime) -> None:
    executor = BoundedExecutor(1)
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)

    def refuse() -> None:
        raise SchemaViolation("bad")

    async def scenario() -> None:
        for _ in range(3):
            with pytest.raises(SchemaViolation):
                await call_with_deadline(refuse, timeout=1, executor=executor, breaker=breaker)

    asyncio.run(scenario())
    executor.shutdown()
    assert breaker.state is BreakerState.CLOSED


# ----- fallback description ---------------------------------------------------------


def test_fallback_policy_is_validated_data() -> None:
    assert FallbackPolicy().to_dict() == {"kind": "none"}
    version = FallbackPolicy("version", version="3")
    assert FallbackPolicy.from_dict(version.to_dict()) == version
    constant = FallbackPolicy("constant", constant={"label": "review"})
    assert FallbackPolicy.from_dict(constant.to_dict()) == constant
    for bad in (
        {"kind": "version"},
        {"kind": "constant"},
        {"kind": "none", "version": "2"},
        {"kind": "retry"},
        {"kind": "none", "extra": 1},
    ):
        with pytest.raises(InvalidInput):
            FallbackPolicy.from_dict(bad)
