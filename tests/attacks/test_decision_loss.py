"""Issue 11, findings 1 and 7: a failing batch never drops other rows, and every lost
decision record is counted, alerted and reported by ``audit decisions``.

The decision log runs here against the real SQL store on SQLite and PostgreSQL; the
only fake is a wrapper that makes the store fail on purpose.
"""

from __future__ import annotations

import json
import threading

import pytest

from garrison.audit import AuditQuery
from garrison.errors import Overloaded, StorageError
from garrison.serving.decision_log import DecisionLog
from garrison.serving.decisions import DecisionRecord
from garrison.storage.decisions_check import check_decisions
from garrison.storage.decisions_repo import SQLDecisionStore

LATER = "2027-01-01T00:00:00.000000Z"  # Far past any lease: silent logs are "unclosed".


def record(rid: str) -> DecisionRecord:
    return DecisionRecord(request_id=rid, created="2026-01-01T00:00:01.000000Z",
                          caller="app", model="m", version=1, rows=1, outputs=[1])


class Failing:
    """The real store, with switches that make one of its operations fail."""

    def __init__(self, inner: SQLDecisionStore) -> None:
        self.inner = inner
        self.fail_writes = False
        self.fail_reserve = False
        self.fail_drops = False
        self.gate: threading.Event | None = None

    def open_writer(self, *a, **k):
        return self.inner.open_writer(*a, **k)

    def reserve(self, *a, **k):
        if self.fail_reserve:
            raise StorageError("the database write failed")
        return self.inner.reserve(*a, **k)

    def add_many(self, *a, **k):
        if self.gate is not None:
            self.gate.wait()
        if self.fail_writes:
            raise StorageError("the database write failed")
        return self.inner.add_many(*a, **k)

    def record_drops(self, *a, **k):
        if self.fail_drops:
            raise StorageError("the database write failed")
        return self.inner.record_drops(*a, **k)

    def close_writer(self, *a, **k):
        return self.inner.close_writer(*a, **k)


def _log(sink, **kwargs) -> tuple[DecisionLog, list]:
    losses: list = []
    log = DecisionLog(sink, linger=0.01, batch_size=kwargs.pop("batch_size", 64),
                      retry_delays=(), on_loss=lambda n, why: losses.append((n, why)),
                      **kwargs)
    log.start()
    return log, losses


def test_one_bad_row_is_isolated_and_only_it_is_lost(store) -> None:
    repo = SQLDecisionStore(store)
    repo.add_many([record("taken")])  # A row the batch will collide with.
    log, losses = _log(repo, window=1000)
    for i in range(40):
        log.submit(record("taken" if i == 17 else f"r{i}"))
    assert log.flush(20)
    log.close()
    assert log.written == 39 and log.dropped == 1 and losses == [(1, "storage-error")]
    for i in range(40):
        if i != 17:
            assert repo.get(f"r{i}").wseq == i + 1
    [drop] = store.query(AuditQuery(action="drop-decision-records"))
    assert drop.outcome == "failed" and json.loads(drop.payload)["wseq"] == [[18, 18]]
    report = check_decisions(store)
    assert [(p.reason, p.count) for p in report.problems] == [("dropped", 1)]
    assert report.lost == 1 and report.writers[0].state == "closed"


def test_a_failing_store_is_retried_then_every_record_counted(store) -> None:
    sink = Failing(SQLDecisionStore(store))
    log, losses = _log(sink, window=64)
    sink.fail_writes = sink.fail_reserve = sink.fail_drops = True  # The store is down.
    for i in range(10):
        log.submit(record(f"r{i}"))
    assert log.flush(20)
    assert log.dropped == 10 and sum(n for n, _ in losses) == 10
    # Nothing can be stored or recorded, so the reservation cannot move: after one
    # window the gateway refuses instead of answering predictions it cannot record.
    with pytest.raises(Overloaded):
        for i in range(10, 200):
            log.submit(record(f"r{i}"))
    assert log.refused == 1
    assert log.flush(20) and log.dropped == 64
    sink.fail_writes = sink.fail_reserve = sink.fail_drops = False
    log.close()
    report = check_decisions(store)
    assert report.lost == log.dropped == 64  # Found as numbers neither stored nor dropped.
    assert [p.reason for p in report.problems] == ["missing"]


def test_a_loss_that_could_not_be_recorded_is_still_found(store) -> None:
    sink = Failing(SQLDecisionStore(store))
    log, _ = _log(sink, window=64)
    log.submit(record("a"))
    assert log.flush(20)
    sink.fail_writes = sink.fail_reserve = sink.fail_drops = True
    log.submit(record("b"))
    assert log.flush(20)
    sink.fail_writes = sink.fail_reserve = sink.fail_drops = False
    log.submit(record("c"))
    assert log.flush(20)
    log.close()
    report = check_decisions(store)
    assert [(p.reason, p.count) for p in report.problems] == [("missing", 1)]


def test_a_worker_that_stops_without_closing_is_reported_within_its_window(store) -> None:
    """The in-process model of kill -9: records queued, never written, no close."""
    sink = Failing(SQLDecisionStore(store))
    log, _ = _log(sink, window=256, lease=1.0)
    for i in range(30):
        log.submit(record(f"w{i}"))
    assert log.flush(20)
    sink.gate = threading.Event()  # The writer thread hangs: the "crash".
    for i in range(20):
        log.submit(record(f"q{i}"))
    report = check_decisions(store, now=LATER)
    [writer] = report.writers
    assert (writer.state, writer.written) == ("unclosed", 30)
    assert 20 <= report.possibly_lost <= log.window
    assert [p.reason for p in report.problems] == ["unclosed"]
    # Within its lease the same log is simply open (a running gateway), not a problem.
    assert check_decisions(store).ok
    sink.gate.set()
    log.close()


def test_a_clean_stop_accounts_for_everything(store) -> None:
    log, _ = _log(SQLDecisionStore(store), window=128)
    for i in range(300):  # More than the window: refused until reservations catch up.
        while True:
            try:
                log.submit(record(f"r{i}"))
                break
            except Overloaded:
                threading.Event().wait(0.01)
    assert log.flush(20)
    log.close()
    report = check_decisions(store, now=LATER)
    assert report.ok and report.records == 300
    assert report.writers[0].to_dict()["state"] == "closed"
    assert (report.lost, report.possibly_lost) == (0, 0)


def test_the_admin_api_reports_the_same_accounting(tmp_path, db_url, clock) -> None:
    import httpx

    from garrison.web import create_web_app
    from tests.web.helpers import SyncASGITransport, make_installation

    inst = make_installation(tmp_path / "home", db_url, clock)
    try:
        repo = SQLDecisionStore(inst.services.store)
        repo.add_many([record("taken")])
        log, _ = _log(repo, window=64)
        log.submit(record("taken"))
        log.submit(record("fine"))
        assert log.flush(20)
        log.close()
        transport = SyncASGITransport(create_web_app(inst.services))
        with httpx.Client(transport=transport, base_url="http://testserver") as api:
            answer = api.post("/admin/audit/decisions", headers=inst.auth("dan"))
            one = api.post("/admin/audit/decisions", json={"request_id": "fine"},
                           headers=inst.auth("dan"))
            refused = api.post("/admin/audit/decisions", headers=inst.auth("alice"))
        transport.close()
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ok"] is False and body["lost"] == 1
        assert body["problems"] == [{"reason": "dropped", "anchor_seq": None,
                                     "request_id": None, "writer": log.writer, "count": 1}]
        assert one.status_code == 200 and one.json()["ok"] is True
        assert refused.status_code == 403
    finally:
        inst.services.close()
