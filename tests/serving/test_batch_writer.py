"""BatchWriter: batches in order, lingers without capping throughput, drops and counts
when full, survives a failing sink, flushes on close."""

from __future__ import annotations

import threading
import time

from garrison.serving.decisions import BatchWriter


def test_everything_arrives_in_order_in_bounded_batches() -> None:
    batches: list[list[int]] = []
    writer = BatchWriter(batches.append, batch_size=7, linger=0.01, name="t")
    for i in range(50):
        writer.submit(i)
    assert writer.flush(5)
    writer.close()
    assert [x for b in batches for x in b] == list(range(50))
    assert max(map(len, batches)) <= 7 and writer.written == 50


def test_a_trickle_within_the_linger_is_one_batch() -> None:
    batches: list[list[int]] = []
    writer = BatchWriter(batches.append, batch_size=100, linger=2.0, name="t")
    for i in range(5):
        writer.submit(i)
        time.sleep(0.02)
    assert writer.flush(5)
    writer.close()
    assert batches == [[0, 1, 2, 3, 4]]


def test_the_linger_never_caps_the_write_rate() -> None:
    """A full batch is written at once: 2,000 items in batches of 100 with a 60 s linger
    are written as 20 full batches, where lingering before every batch would take 20
    minutes (the flush below gives up long before that)."""
    batches: list[list[int]] = []
    writer = BatchWriter(batches.append, batch_size=100, linger=60, name="t")
    for i in range(2_000):
        writer.submit(i)
    assert writer.flush(120)
    writer.close()
    assert writer.written == 2_000
    assert len(batches) <= 21
    assert [len(b) for b in batches] == [100] * 20


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    gate = threading.Event()
    holding = threading.Event()

    def sink(items: list[int]) -> None:
        holding.set()
        gate.wait()  # Until the test opens it: a submit that blocked would never return.

    writer = BatchWriter(sink, max_queue=10, batch_size=1, linger=0, name="t")
    writer.submit(-1)
    assert holding.wait(60)  # The writer holds -1 in the blocked sink.
    submitter = threading.Thread(target=lambda: [writer.submit(i) for i in range(30)])
    submitter.start()
    submitter.join(60)
    blocked = submitter.is_alive()
    gate.set()
    assert not blocked  # submit never blocks the hot path
    assert writer.dropped == 20
    assert writer.flush(60)
    writer.close()
    assert writer.written == 11


def test_a_failing_sink_is_reported_and_the_writer_goes_on() -> None:
    seen: list[list[int]] = []
    errors: list[BaseException] = []

    def sink(items: list[int]) -> None:
        if 3 in items:
            raise RuntimeError("disk full")
        seen.append(items)

    writer = BatchWriter(sink, batch_size=1, linger=0, name="t", on_error=errors.append)
    for i in range(6):
        writer.submit(i)
    writer.close()
    assert [b[0] for b in seen] == [0, 1, 2, 4, 5]
    assert writer.failed == 1 and str(errors[0]) == "disk full"
