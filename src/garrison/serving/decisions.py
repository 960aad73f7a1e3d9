"""Decision records, written off the hot path in batches.

Every prediction gets a record (request id, caller, model version, time, output,
fallback, detection flags, optional explanation, inputs only as the deployment's
policy allows). :class:`BatchWriter` queues records and a daemon thread hands them
to the sink in batches; the SQL sink commits each batch with ONE audit event whose
payload carries a SHA-256 over the stored batch, so decision records are anchored in
the tamper-evident chain without an audit write per prediction
(``storage/decisions_repo.py``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["BatchWriter", "DecisionRecord", "settle", "unanswered_record"]

T = TypeVar("T")


@dataclass(slots=True)
class DecisionRecord:
    request_id: str
    created: str
    caller: str
    model: str
    version: int
    rows: int
    outputs: list[Any]
    input_policy: str = "none"
    inputs: list[Any] | None = None
    fallback: str = ""
    flags: list[Any] = field(default_factory=list)
    explanation: list[Any] | None = None
    latency_ms: int = 0
    #: The client's X-Request-ID as given (recorded, echoed, never a key).
    client_request_id: str | None = None
    #: The decision log (one per gateway worker) and this record's number in it.
    writer: str | None = None
    wseq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def unanswered_record(request_id: str, created: str, caller: str, model: str, version: int,
                      batch: Any, input_policy: str, reason: str, latency_ms: int,
                      client_request_id: str | None) -> DecisionRecord:
    """The record of a request the model failed and no fallback answered: no outputs,
    and ``fallback`` reads ``unanswered;`` and the failure's code (``model-error``,
    ``model-timeout``, ``circuit-open``...)."""
    return DecisionRecord(
        request_id=request_id, created=created, caller=caller, model=model, version=version,
        rows=batch.n_rows, outputs=[], input_policy=input_policy,
        fallback=f"unanswered;{reason}"[:64],
        inputs=batch.matrix if input_policy != "none" else None,
        latency_ms=latency_ms, client_request_id=client_request_id)


def settle(records: list[DecisionRecord],
           pseudonymize: Callable[[list[Any]], list[str]]) -> list[DecisionRecord]:
    """Finish records on the writer thread, not the request path.

    The data plane hands over its arrays as they are: ``outputs`` and ``inputs`` become
    lists here, and inputs are kept as the record's policy says (``full`` rows, keyed
    ``pseudonymized`` digests of each row, or nothing).
    """
    for r in records:
        if isinstance(r.outputs, np.ndarray):
            r.outputs = r.outputs.tolist()
        if isinstance(r.inputs, np.ndarray):
            rows = r.inputs.tolist()
            r.inputs = rows if r.input_policy == "full" else \
                pseudonymize(rows) if r.input_policy == "pseudonymized" else None
    return records


class BatchWriter(Generic[T]):
    """A bounded queue drained by a daemon thread into ``sink`` in batches.

    ``submit`` never blocks: when the queue is full the item is dropped and counted
    (``dropped`` is exported as a metric so an operator sees it).
    """

    def __init__(
        self, sink: Callable[[list[T]], object], *, max_queue: int = 50_000,
        batch_size: int = 500, flush_interval: float = 0.2, name: str = "writer",
        on_error: Callable[[BaseException], None] | None = None, linger: float = 0.05,
    ) -> None:
        #: After the first item, wait this long for more before writing: producers then
        #: never wake the writer thread per item (the hot path's biggest hidden cost).
        self._linger = linger
        self._sink = sink
        self._queue: queue.Queue[T | None] = queue.Queue(max_queue)
        self._batch = batch_size
        self._interval = flush_interval
        self._on_error = on_error
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name=f"garrison-{name}", daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        try:
            self._idle.clear()
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def _drain(self, first: T) -> list[T]:
        items = [first]
        while len(items) < self._batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)
                break
            items.append(nxt)
        return items

    def _wait_for_batch(self) -> None:
        """Linger until a full batch is queued or ``linger`` has passed, whichever is
        first: a busy producer never waits, and the write rate is never capped at
        ``batch_size / linger``."""
        deadline = time.monotonic() + self._linger
        while self._queue.qsize() + 1 < self._batch:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.02))

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._interval)
            except queue.Empty:
                self._idle.set()
                continue
            if first is None:
                self._idle.set()
                return
            self._wait_for_batch()
            items = self._drain(first)
            try:
                self._sink(items)
                self.written += len(items)
            except BaseException as exc:
                self.failed += len(items)
                if self._on_error is not None:
                    self._on_error(exc)
            if self._queue.empty():
                self._idle.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far has reached the sink."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._idle.wait(0.05) and self._queue.empty():
                return True
        return False

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._queue.put(None)
        self._thread.join(timeout)
