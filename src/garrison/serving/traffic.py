"""Durable traffic counts: requests, rows, rejections and fallbacks per model and minute.

:class:`TrafficRecorder` is a data-plane ``Telemetry`` that wraps another one (the
Prometheus counters) and also adds each event to an in-memory table keyed by model,
version and minute. A daemon thread hands the table to a sink every ``interval``
seconds (and on close); the SQL sink adds the counts to the stored rows, so any number
of workers and replicas feed one history. Each event costs a dict update on the request
path, nothing more. Counts that could not be written are logged and counted in
``dropped``; monitoring that lost data says so.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from garrison.serving.monitoring import TrafficCount
from garrison.types import utc_iso

__all__ = ["TrafficRecorder"]

log = logging.getLogger("garrison.gateway")

_Key = tuple[str, int, int]  # model, version, minute (seconds since the epoch // 60)


class TrafficRecorder:
    def __init__(self, sink: Callable[[Sequence[TrafficCount]], None], *,
                 inner: Any = None, interval: float = 10.0,
                 time_source: Callable[[], float] = time.time) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._sink = sink
        self._inner = inner
        self._interval = interval
        self._time = time_source
        self._counts: dict[_Key, list[int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="garrison-traffic", daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Any:
        # Anything else the wrapped telemetry offers (render, watch_queues, ...).
        inner = self.__dict__.get("_inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def _add(self, model: str, version: int, column: int, amount: int = 1) -> None:
        key = (model, int(version), int(self._time() // 60))
        with self._lock:
            row = self._counts.get(key)
            if row is None:
                row = self._counts[key] = [0, 0, 0, 0]
            row[column] += amount

    # -- the Telemetry protocol -------------------------------------------------------
    def request(self, model: str, version: int, outcome: str, seconds: float,
                rows: int) -> None:
        if self._inner is not None:
            self._inner.request(model, version, outcome, seconds, rows)
        key = (model, int(version), int(self._time() // 60))
        with self._lock:
            row = self._counts.get(key)
            if row is None:
                row = self._counts[key] = [0, 0, 0, 0]
            row[0] += 1
            row[1] += rows
            if outcome == "fallback":
                row[3] += 1

    def rejected(self, reason: str, model: str = "", version: int = 0) -> None:
        if self._inner is not None:
            self._inner.rejected(reason, model, version)
        if model:
            self._add(model, version, 2)

    def fallback(self, model: str, reason: str) -> None:
        # Counted by ``request`` (outcome "fallback"), which names the version that answered.
        if self._inner is not None:
            self._inner.fallback(model, reason)

    # -- flushing -----------------------------------------------------------------------
    def take(self) -> list[TrafficCount]:
        """Everything counted since the last call, as stored rows."""
        with self._lock:
            counts, self._counts = self._counts, {}
        return [TrafficCount(model, version,
                             utc_iso(_dt.datetime.fromtimestamp(minute * 60, _dt.UTC)),
                             *row)
                for (model, version, minute), row in counts.items()]

    def flush(self) -> None:
        batch = self.take()
        if not batch:
            return
        try:
            self._sink(batch)
        except Exception:
            self.dropped += len(batch)
            log.exception("traffic counts could not be stored (%d rows dropped)", len(batch))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(self._interval + 5)
        self.flush()
