"""The decision log: every answered prediction's record is stored, or its loss is counted.

One :class:`DecisionLog` per gateway worker. It gives each record a number in the
worker's log (``writer``, ``wseq`` = 1, 2, 3, ...) when the prediction is answered, and
hands records to a :class:`~garrison.serving.decisions.BatchWriter` that stores them in
batches off the request path. Three rules make every loss visible:

**Reservation ahead of use.** Numbers are reserved durably (in the audit trail) before
they are used: ``window`` numbers at start (``open``), and with every stored batch the
reservation moves to the highest number accounted for plus ``window``. The gateway
never answers beyond the reservation: when the writer cannot keep up, :meth:`submit`
refuses with ``Overloaded`` (503) instead of answering without a record. So at any
instant at most ``window`` answered predictions per worker wait to be stored, and
after a kill -9 ``audit decisions`` reports the numbers between the last one accounted
for and the reservation: at most ``window``. Each write also records how many numbers
were used by then (``used``), so the numbers used before the last write but never
stored are known to be lost (``missing``), and only the rest is an upper bound. An
idle log writes a heartbeat every ``lease / 2`` seconds (``reserve-decision-records``),
so a log silent for twice its lease and never closed is known to have stopped.

**Isolation of bad rows.** A batch that fails is not dropped whole. When the store
still answers (a small reservation write succeeds), the batch is split in halves until
each failing record is alone; only those are dropped. When the store does not answer,
the whole batch is retried after ``retry_delays`` before it is dropped.

**Accounting.** Every dropped record is counted (:attr:`dropped`, the
``garrison_decision_records_dropped`` metric), reported to ``on_loss`` (an alert) and,
when the store allows, recorded by a ``drop-decision-records`` audit event naming the
numbers. ``garrison audit decisions`` finds every number neither stored nor dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from garrison.errors import GarrisonError, Overloaded
from garrison.serving.decisions import BatchWriter, DecisionRecord

__all__ = ["DecisionLog", "DecisionSink"]

log = logging.getLogger(__name__)


class DecisionSink(Protocol):
    """Durable storage of decision records and of the log's numbering
    (``garrison.storage.decisions_repo.SQLDecisionStore``)."""

    def open_writer(self, writer: str, reserved: int, detail: dict[str, Any]) -> None: ...

    def reserve(self, writer: str, reserved: int, used: int) -> None: ...

    def add_many(self, records: Sequence[DecisionRecord], *, writer: str | None = None,
                 reserved: int | None = None, used: int | None = None) -> None: ...

    def record_drops(self, writer: str, records: Sequence[DecisionRecord], reason: str,
                     message: str) -> None: ...

    def close_writer(self, writer: str, last: int) -> None: ...


class DecisionLog:
    """Numbers, reserves, stores and accounts for decision records (see the module)."""

    def __init__(
        self, sink: DecisionSink, *, window: int = 4096, batch_size: int = 2_000,
        linger: float = 0.3, lease: float = 60.0,
        prepare: Callable[[list[DecisionRecord]], list[DecisionRecord]] = lambda r: r,
        on_loss: Callable[[int, str], None] | None = None,
        retry_delays: Sequence[float] = (0.5, 1.0, 2.0), writer_id: str | None = None,
    ) -> None:
        if window < 2:
            raise ValueError("the decision window must be at least 2")
        self.writer = writer_id or os.urandom(8).hex()
        self.window = window
        self.lease = lease
        self._sink = sink
        self._prepare = prepare
        self._on_loss = on_loss
        self._retry_delays = tuple(retry_delays)
        self._lock = threading.Lock()
        self._used = 0
        self._ceiling = 0
        self._last_write = time.monotonic()
        #: Records stored, records that could not be stored, predictions refused.
        self.written = 0
        self.dropped = 0
        self.refused = 0
        self._stopping = threading.Event()
        self._reserver: threading.Thread | None = None
        # The queue holds at most the window (numbers beyond it are refused), so it can
        # never be full and drop silently.
        self._batches: BatchWriter[DecisionRecord] = BatchWriter(
            self._write, max_queue=window + batch_size, batch_size=batch_size,
            linger=linger, name="decisions")

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Open the log durably (raises if the store refuses: nothing is served then)."""
        self._sink.open_writer(self.writer, self.window,
                               {"pid": os.getpid(), "window": self.window,
                                "lease": self.lease})
        self._raise_ceiling(0)
        self._reserver = threading.Thread(target=self._heartbeat_loop,
                                          name="garrison-decision-heartbeat", daemon=True)
        self._reserver.start()

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued, then record the last number used (a clean stop)."""
        self._batches.close(timeout)
        self._stopping.set()
        if self._reserver is not None:
            self._reserver.join(timeout)
        try:
            self._sink.close_writer(self.writer, self._used)
        except Exception:
            log.exception("the decision log could not record its close")

    def flush(self, timeout: float = 10.0) -> bool:
        return self._batches.flush(timeout)

    @property
    def queued(self) -> int:
        return self._batches._queue.qsize()

    # -- the request path -----------------------------------------------------------
    def submit(self, record: DecisionRecord) -> None:
        """Number ``record`` and queue it; refuse (503) rather than exceed the reservation."""
        with self._lock:
            number = self._used + 1
            if number > self._ceiling:
                self.refused += 1
                raise Overloaded("decision records cannot be stored fast enough; retry",
                                 retry_after=1.0, problem="decision-window")
            self._used = number
        record.writer, record.wseq = self.writer, number
        self._batches.submit(record)

    # -- the writer threads ---------------------------------------------------------
    def _raise_ceiling(self, accounted: int) -> None:
        """Records up to ``accounted`` are stored or durably recorded as dropped."""
        with self._lock:
            self._ceiling = max(self._ceiling, accounted + self.window)
        self._last_write = time.monotonic()

    def _heartbeat_loop(self) -> None:
        while not self._stopping.wait(timeout=max(self.lease / 2, 0.01)):
            if time.monotonic() - self._last_write < self.lease / 2:
                continue  # Batches are flowing: each one is a sign of life.
            self._try_reserve()

    def _try_reserve(self) -> bool:
        """A reservation write that moves nothing: a heartbeat, and a probe of the store."""
        with self._lock:
            reserved, used = self._ceiling, self._used
        try:
            self._sink.reserve(self.writer, reserved, used)
        except Exception as exc:
            log.error("the decision log could not reach its store: %s", _describe(exc))
            return False
        self._last_write = time.monotonic()
        return True

    def _write(self, records: list[DecisionRecord]) -> None:
        try:
            ready = self._prepare(records)
        except Exception:  # Find the records that cannot be prepared; keep the rest.
            ready, bad, failure = [], [], None
            for record in records:
                try:
                    ready += self._prepare([record])
                except Exception as exc:
                    bad.append(record)
                    failure = exc
            if bad and failure is not None:
                self._drop(bad, failure)
        if ready:
            self._store(ready, probe=True)

    def _store(self, records: list[DecisionRecord], *, probe: bool) -> None:
        failure = self._add(records)
        if failure is None:
            return
        if probe:
            # The store, or these rows? A small reservation write tells them apart.
            healthy = self._try_reserve()
            for delay in () if healthy else self._retry_delays:
                time.sleep(delay)
                failure = self._add(records)
                if failure is None:
                    return
                healthy = self._try_reserve()
                if healthy:
                    break
            if not healthy:
                self._drop(records, failure)  # Retried whole; the store still fails.
                return
        if len(records) == 1:
            self._drop(records, failure)
            return
        middle = len(records) // 2
        self._store(records[:middle], probe=False)
        self._store(records[middle:], probe=False)

    def _add(self, records: list[DecisionRecord]) -> BaseException | None:
        """Store one batch; the failure, or None once it is stored."""
        top = max((r.wseq or 0) for r in records)
        try:
            self._sink.add_many(records, writer=self.writer, reserved=top + self.window,
                                used=self._used)
        except Exception as exc:
            return exc
        self.written += len(records)
        self._raise_ceiling(top)
        return None

    def _drop(self, records: list[DecisionRecord], exc: BaseException) -> None:
        reason = exc.code if isinstance(exc, GarrisonError) else "storage-error"
        self.dropped += len(records)
        log.error("%d decision record(s) could not be stored: %s", len(records),
                  _describe(exc))
        try:
            self._sink.record_drops(self.writer, records, reason, _describe(exc))
        except Exception as again:
            # Not accounted durably: the numbers stay unreserved-beyond, so a store that
            # is down stops the gateway after one window instead of losing more.
            log.error("the dropped decision records could not be recorded: %s",
                      _describe(again))
        else:
            self._raise_ceiling(max((r.wseq or 0) for r in records))
        if self._on_loss is not None:
            try:
                self._on_loss(len(records), reason)
            except Exception:
                log.exception("the loss of decision records could not be reported")


def _describe(exc: BaseException) -> str:
    """The error's class and Garrison message, never a driver message with values in it."""
    if isinstance(exc, GarrisonError):
        return f"{exc.code}: {exc.message}"
    return type(exc).__name__
