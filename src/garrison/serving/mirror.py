"""A non-blocking, sampled, batching mirror: the shadow deployment's off-path worker.

The gateway answers every request from the production version. For a sampled
fraction of requests it hands :class:`ShadowMirror` a *factory*: a callable that
runs the shadow version and builds one observation (in Garrison a
:class:`~garrison.serving.shadow.ShadowObservation`). The mirror calls factories on
its own daemon threads and writes batches to a sink, so the shadow never changes
the response and never adds latency to it: :meth:`ShadowMirror.submit` only takes a
short lock and appends to an in-memory queue, and when ``max_queue`` observations
are in flight it drops the new one and counts it instead of waiting.

Daemon threads rather than an asyncio task: they work the same inside uvicorn
workers (whose event loop must never run a model) and in plain synchronous code.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from garrison.errors import InvalidInput

__all__ = ["ShadowMirror"]

log = logging.getLogger("garrison.serving.mirror")

T = TypeVar("T")


def _bucket(request_id: str, key: bytes) -> float:
    digest = hashlib.blake2b(request_id.encode("utf-8"), digest_size=8, key=key,
                             person=b"garrison-shadow").digest()
    return int.from_bytes(digest, "big") / 2.0**64


_STOP = object()


class ShadowMirror(Generic[T]):
    """Runs shadow work off the request path and writes observations in batches.

    ``submit`` never blocks: it takes a short lock, checks that fewer than
    ``max_queue`` observations are in flight (queued, running or awaiting the sink)
    and appends the factory to an unbounded queue; otherwise the factory is dropped
    and ``dropped`` counts it. ``workers`` daemon threads call the factories, one
    daemon thread hands batches of up to ``batch_size`` to ``sink`` at least every
    ``flush_interval`` seconds. Threads start at the first ``submit``, so a mirror
    built before a server forks its workers starts in the process that uses it.
    ``close()`` runs what was accepted and flushes it. Counters: ``mirrored``
    (observations the sink accepted), ``dropped`` (refused because the mirror was
    full or closed) and ``errors`` (factories or sink calls that raised).
    """

    def __init__(
        self,
        fraction: float,
        sink: Callable[[list[T]], object],
        *,
        max_queue: int = 10_000,
        batch_size: int = 200,
        flush_interval: float = 0.5,
        workers: int = 1,
        key: bytes = b"",
    ) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise InvalidInput("the shadow traffic fraction must be between 0 and 1")
        if max_queue < 1 or batch_size < 1 or workers < 1 or not flush_interval > 0:
            raise InvalidInput("max_queue, batch_size and workers must be >= 1, "
                               "flush_interval > 0")
        if len(key) > 64:
            raise InvalidInput("the sampling key is at most 64 bytes")
        self.fraction = float(fraction)
        self._sink = sink
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._workers = workers
        self._key = key
        self._lock = threading.Lock()
        self._work_cv = threading.Condition(self._lock)
        self._done_cv = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: list[T] = []
        self._threads: list[threading.Thread] = []
        self._flusher: threading.Thread | None = None
        self._started = self._closed = self._stopping = False
        self._flush_waiters = 0
        self._inflight = self._submitted = self._settled = 0
        self._mirrored = self._dropped = self._errors = 0
        self.last_error: str | None = None

    # -- sampling ------------------------------------------------------------------
    def should_mirror(self, request_id: str, fraction: float | None = None) -> bool:
        """Whether this request is mirrored: a keyed hash of its id, so replays agree.

        ``fraction`` overrides the mirror's own (one mirror can serve models with
        different fractions). Raising the fraction only adds requests to the
        mirrored set. Pass a secret ``key`` when callers choose their own request
        ids, so they cannot pick.
        """
        share = self.fraction if fraction is None else fraction
        if share <= 0.0:
            return False
        return share >= 1.0 or _bucket(request_id, self._key) < share

    # -- the request path ----------------------------------------------------------
    def submit(self, factory: Callable[[], T]) -> bool:
        """Queue shadow work without waiting; ``False`` if it was dropped."""
        with self._lock:
            if self._closed or self._inflight >= self._max_queue:
                self._dropped += 1
                return False
            self._inflight += 1
            self._submitted += 1
            if not self._started:
                self._start()
        self._queue.put(factory)
        return True

    def _start(self) -> None:
        self._started = True
        for number in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"garrison-shadow-{number}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        self._flusher = threading.Thread(target=self._flush_loop, name="garrison-shadow-sink",
                                         daemon=True)
        self._flusher.start()

    # -- background threads --------------------------------------------------------
    def _settle(self, count: int, *, ok: bool, error: BaseException | None = None) -> None:
        with self._lock:
            self._inflight -= count
            self._settled += count
            if ok:
                self._mirrored += count
            else:
                self._errors += count
                self.last_error = type(error).__name__
            self._done_cv.notify_all()

    def _work(self) -> None:
        while True:
            factory = self._queue.get()
            if factory is _STOP:
                return
            try:
                observation = factory()
            except Exception as exc:  # A failing shadow must never reach the caller.
                log.warning("shadow observation failed: %s", type(exc).__name__)
                self._settle(1, ok=False, error=exc)
                continue
            with self._lock:
                self._pending.append(observation)
                if len(self._pending) >= self._batch_size or self._flush_waiters:
                    self._work_cv.notify()

    def _ready(self) -> bool:
        return (len(self._pending) >= self._batch_size or self._stopping
                or bool(self._pending and self._flush_waiters))

    def _flush_loop(self) -> None:
        while True:
            with self._lock:
                self._work_cv.wait_for(self._ready, timeout=self._flush_interval)
                batch = self._pending[: self._batch_size]
                del self._pending[: len(batch)]
                finished = self._stopping and not self._pending
            if batch:
                try:
                    self._sink(batch)
                except Exception as exc:  # Lost batches are counted, never raised.
                    log.warning("shadow sink failed for %d observations: %s", len(batch),
                                type(exc).__name__)
                    self._settle(len(batch), ok=False, error=exc)
                else:
                    self._settle(len(batch), ok=True)
            if finished:
                return

    # -- control -------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything accepted so far reached the sink (or failed)."""
        with self._lock:
            target = self._submitted
            self._flush_waiters += 1
            self._work_cv.notify_all()
            try:
                return self._done_cv.wait_for(lambda: self._settled >= target, timeout=timeout)
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new work, finish what was accepted, flush it, stop the threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            started = self._started
        if not started:
            return
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._stopping = True
            self._work_cv.notify_all()
        assert self._flusher is not None
        self._flusher.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> ShadowMirror[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metrics ---------------------------------------------------------------------
    @property
    def mirrored(self) -> int:
        return self._mirrored

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def errors(self) -> int:
        return self._errors

    @property
    def queued(self) -> int:
        """Observations accepted and not yet settled (queued, running or being written)."""
        return self._inflight

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"submitted": self._submitted, "mirrored": self._mirrored,
                    "dropped": self._dropped, "errors": self._errors, "queued": self._inflight}
