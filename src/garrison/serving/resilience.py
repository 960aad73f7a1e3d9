"""Failover primitives: a circuit breaker, deadline-bounded model calls, fallbacks.

A Python thread cannot be killed. ``call_with_deadline`` therefore stops *waiting*
at the deadline (raising ``ModelTimeout``) while the model call runs on to its end in
its worker thread. A :class:`BoundedExecutor` caps how many such calls (running or
queued) can exist at once and sheds the rest with ``Overloaded``, so hung calls
cannot pile up without bound; with a breaker, repeated timeouts open the circuit
and later requests fail fast with ``CircuitOpen`` (or take the fallback).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import enum
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from garrison.errors import CircuitOpen, InvalidInput, ModelTimeout, Overloaded

__all__ = [
    "BoundedExecutor",
    "BreakerState",
    "CircuitBreaker",
    "FallbackPolicy",
    "call_with_deadline",
]

T = TypeVar("T")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


def _counts_as_failure(exc: BaseException) -> bool:
    """Errors of the caller's input (and cancellations) are not the model's fault."""
    return isinstance(exc, Exception) and not isinstance(exc, InvalidInput)


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` failures within ``window`` seconds;
    open -> half-open after ``cooldown`` seconds, when exactly one trial call may
    pass; the trial's success closes the circuit, its failure reopens it.

    ``clock`` returns seconds (monotonic by default; inject a fake in tests). A trial
    that never reports back is given up after ``cooldown`` and another is allowed.
    Caller errors (``InvalidInput``) never count as failures when using :meth:`guard`.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        window: float = 30.0,
        cooldown: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
        is_failure: Callable[[BaseException], bool] = _counts_as_failure,
    ) -> None:
        if failure_threshold < 1 or window <= 0 or cooldown <= 0:
            raise InvalidInput("failure_threshold >= 1, window > 0 and cooldown > 0 required")
        self.failure_threshold = failure_threshold
        self.window = window
        self.cooldown = cooldown
        self.name = name
        self.is_failure = is_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: collections.deque[float] = collections.deque()
        self._opened_at = 0.0
        self._open = False
        self._trial_started: float | None = None
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        """The current state (for metrics: 0 closed, 1 open, 2 half-open is customary)."""
        with self._lock:
            return self._state(self._clock())

    def _state(self, now: float) -> BreakerState:
        if not self._open:
            return BreakerState.CLOSED
        if now - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self) -> None:
        """Let the call through or raise ``CircuitOpen`` with ``retry_after``."""
        with self._lock:
            now = self._clock()
            state = self._state(now)
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN:
                stale = self._trial_started is not None and (
                    now - self._trial_started >= self.cooldown
                )
                if self._trial_started is None or stale:
                    self._trial_started = now
                    return
                retry = self.cooldown - (now - self._trial_started)
            else:
                retry = self.cooldown - (now - self._opened_at)
            raise CircuitOpen("model circuit open", retry_after=max(retry, 0.0),
                              breaker=self.name, state=state.value)

    def record_success(self) -> None:
        with self._lock:
            if self._open and self._trial_started is not None:
                self._open = False
                self._failures.clear()
            self._trial_started = None

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._open:
                if self._trial_started is not None:
                    self._opened_at = now  # The trial failed: stay open for another cooldown.
                    self._trial_started = None
                    self.times_opened += 1
                return
            self._failures.append(now)
            while self._failures and now - self._failures[0] > self.window:
                self._failures.popleft()
            if len(self._failures) >= self.failure_threshold:
                self._open = True
                self._opened_at = now
                self._failures.clear()
                self.times_opened += 1

    def release_trial(self) -> None:
        """Forget a trial that ended without a verdict (e.g. it was cancelled)."""
        with self._lock:
            self._trial_started = None

    def record_error(self, exc: BaseException) -> None:
        """A call ended with ``exc``: a failure if ``is_failure`` says so, otherwise a
        trial that gave no verdict (bad input, cancellation)."""
        if self.is_failure(exc):
            self.record_failure()
        else:
            self.release_trial()

    @contextmanager
    def guard(self) -> Iterator[None]:
        """``with breaker.guard(): call()`` -- checks, then records the outcome."""
        self.before_call()
        try:
            yield
        except BaseException as exc:
            self.record_error(exc)
            raise
        self.record_success()

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            recent = sum(1 for t in self._failures if now - t <= self.window)
            return {
                "name": self.name,
                "state": self._state(now).value,
                "recent_failures": recent,
                "times_opened": self.times_opened,
            }


class BoundedExecutor(concurrent.futures.Executor):
    """A thread pool that refuses work instead of queueing it without bound.

    At most ``max_workers`` calls run and ``max_pending`` more wait; a submit beyond
    that raises ``Overloaded``. A call counts until its thread really finishes, so
    calls that outlived their deadline keep holding capacity.
    """

    def __init__(self, max_workers: int, max_pending: int = 0, *, name: str = "model") -> None:
        if max_workers < 1 or max_pending < 0:
            raise InvalidInput("max_workers must be >= 1 and max_pending >= 0")
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(max_workers + max_pending)
        self.capacity = max_workers + max_pending

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        if not self._slots.acquire(blocking=False):
            raise Overloaded("model workers saturated", retry_after=1.0, reason="executor-full")
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _f: self._slots.release())
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


async def call_with_deadline(
    fn: Callable[..., T],
    *args: Any,
    timeout: float,
    executor: concurrent.futures.Executor,
    breaker: CircuitBreaker | None = None,
) -> T:
    """Run blocking ``fn(*args)`` in ``executor`` and await it for ``timeout`` s.

    Raises ``ModelTimeout`` at the deadline (queue time included; a call still queued
    is cancelled and never runs), ``Overloaded`` if the executor is full and
    ``CircuitOpen`` if ``breaker`` is open. Timeouts and model exceptions are recorded
    as breaker failures; the model's own exception propagates unchanged.
    """
    if breaker is not None:
        breaker.before_call()
    try:
        future = executor.submit(functools.partial(fn, *args))
    except BaseException:
        if breaker is not None:
            breaker.release_trial()
        raise
    try:
        result = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
    except TimeoutError:
        if breaker is not None:
            breaker.record_failure()
        raise ModelTimeout("model call timed out", timeout=timeout) from None
    except BaseException as exc:
        if breaker is not None:
            breaker.record_error(exc)
        raise
    if breaker is not None:
        breaker.record_success()
    return result


@dataclass(frozen=True)
class FallbackPolicy:
    """What a deployment answers when its model is unavailable (timeout, open circuit).

    ``kind="version"`` routes to another (approved) ``version``; ``"constant"`` returns
    ``constant`` (a JSON-able prediction, marked as a fallback in the response and
    audit); ``"none"`` (default) surfaces the error (503).
    """

    kind: Literal["version", "constant", "none"] = "none"
    version: str | None = None
    constant: Any = None

    def __post_init__(self) -> None:
        if self.kind not in ("version", "constant", "none"):
            raise InvalidInput("fallback kind must be 'version', 'constant' or 'none'")
        if (self.kind == "version") != (self.version is not None):
            raise InvalidInput("a 'version' fallback needs a version, and only it")
        if (self.kind == "constant") != (self.constant is not None):
            raise InvalidInput("a 'constant' fallback needs a constant, and only it")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.version is not None:
            out["version"] = self.version
        if self.constant is not None:
            out["constant"] = self.constant
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FallbackPolicy:
        if not isinstance(data, dict) or set(data) - {"kind", "version", "constant"}:
            raise InvalidInput("fallback must be an object with kind, version, constant")
        return cls(data.get("kind", "none"), data.get("version"), data.get("constant"))
