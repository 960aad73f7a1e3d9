"""Failed sign-in throttling: a sliding window of failures per client and per account.

After ``max_failures`` failures within ``window`` seconds for one key (a client address,
or the account that was tried), further attempts for that key are refused with
:class:`~garrison.errors.RateLimited` until the oldest failure leaves the window. A
success clears the keys it presented. Memory is bounded: at most ``max_tracked`` keys,
the least recently failed dropped first. The state lives in one process, so with
several console replicas each one throttles on its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable

from garrison.errors import InvalidInput, RateLimited
from garrison.types import Clock, SystemClock

__all__ = ["LoginThrottle"]


class LoginThrottle:
    def __init__(self, *, max_failures: int = 5, window: float = 900.0,
                 max_tracked: int = 10_000, clock: Clock | None = None) -> None:
        if max_failures < 1 or window <= 0 or max_tracked < 1:
            raise InvalidInput("max_failures, window and max_tracked must be positive")
        self.max_failures = max_failures
        self.window = float(window)
        self.max_tracked = max_tracked
        self._clock = clock or SystemClock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def ensure_allowed(self, keys: Iterable[str]) -> None:
        """Raise :class:`RateLimited` (with ``retry_after``) if any key is locked out."""
        now = self._now()
        with self._lock:
            wait = 0.0
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.max_failures:
                    wait = max(wait, times[0] + self.window - now)
        if wait > 0:
            raise RateLimited("too many failed sign-ins; try again later",
                              retry_after=wait, why="sign-in-throttled")

    def failed(self, keys: Iterable[str]) -> None:
        now = self._now()
        with self._lock:
            for key in keys:
                times = self._recent(key, now) or deque(maxlen=self.max_failures)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_tracked:
                self._failures.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
