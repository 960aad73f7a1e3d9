"""The SQL alert store, on SQLite and on PostgreSQL: every alert is audited atomically."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, func, select

from garrison.audit import AuditQuery, verify_chain
from garrison.errors import AlreadyExists, Conflict, InvalidInput, NotFound, StorageError
from garrison.serving.alerts import AlertRecord, AlertService
from garrison.signing import Keyring
from garrison.storage import Store
from garrison.storage.alerts_repo import ACK_ACTION, RAISE_ACTION, SQLAlertStore
from garrison.storage.tables_alerts import alerts
from garrison.testing import make_store
from garrison.types import FixedClock


def rec(n: int, *, kind: str = "extraction-pattern", caller: str = "mallory",
        created: str | None = None) -> AlertRecord:
    return AlertRecord(
        id=f"00000000-0000-0000-0000-{n:012d}", kind=kind, caller=caller, severity="high",
        detail={"shapiro_w": 0.61, "queries": 140 + n},
        created=created or f"2026-01-01T00:00:{n:02d}.000000Z",
    )


def _verify(store: Store) -> int:
    return verify_chain(store.records(), verifier=store.signer, head=store.head()).events


def test_add_stores_the_alert_and_its_audit_event_together(store: Store) -> None:
    repo = SQLAlertStore(store)
    repo.add(rec(1))
    assert repo.get(rec(1).id) == rec(1)
    [event] = store.query(AuditQuery(action=RAISE_ACTION))
    assert (event.actor, event.resource, event.reason, event.outcome) == (
        "system", f"alert:{rec(1).id}", "extraction-pattern", "ok")
    assert json.loads(event.payload)["detail"] == {"queries": 141, "shapiro_w": 0.61}
    assert _verify(store) == 1


def test_a_refused_insert_writes_no_audit_event(store: Store) -> None:
    repo = SQLAlertStore(store)
    repo.add(rec(1))
    with pytest.raises(AlreadyExists):
        repo.add(rec(1))
    assert len(store.query(AuditQuery(action=RAISE_ACTION))) == 1
    assert len(repo.list()) == 1


class FailingSigner:
    """Signs nothing: the audit append fails after the alert row was inserted."""

    def __init__(self) -> None:
        self._inner = Keyring.generate()

    def sign(self, message: bytes) -> tuple[str, bytes]:
        raise StorageError("signing key unavailable")

    def verify(self, key_id: str, signature: bytes, message: bytes) -> None:
        self._inner.verify(key_id, signature, message)


def test_a_failed_audit_append_rolls_the_alert_back(db_url: str, clock: FixedClock) -> None:
    store = make_store(db_url, FailingSigner(), clock=clock)  # type: ignore[arg-type]
    try:
        with pytest.raises(StorageError):
            SQLAlertStore(store).add(rec(1))
        with store.read() as tx:
            assert tx.conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 0
        assert list(store.records()) == []
    finally:
        store.dispose()


def test_list_is_newest_first_and_filters(store: Store) -> None:
    repo = SQLAlertStore(store)
    repo.add(rec(1, caller="a"))
    repo.add(rec(2, caller="b", kind="quota-exceeded"))
    repo.add(rec(3, caller="a", kind="quota-exceeded"))
    assert [r.id[-1] for r in repo.list()] == ["3", "2", "1"]
    assert [r.id[-1] for r in repo.list(kind="quota-exceeded")] == ["3", "2"]
    assert [r.id[-1] for r in repo.list(caller="a")] == ["3", "1"]
    assert [r.id[-1] for r in repo.list("quota-exceeded", "a")] == ["3"]
    assert [r.id[-1] for r in repo.list(since="2026-01-01T00:00:02Z")] == ["3", "2"]
    since = dt.datetime(2026, 1, 1, 1, 0, 3, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert [r.id[-1] for r in repo.list(since=since)] == ["3"]
    assert [r.id[-1] for r in repo.list(limit=1)] == ["3"]
    for bad in ({"limit": 0}, {"limit": 10_001}, {"since": "last tuesday"}):
        with pytest.raises(InvalidInput):
            repo.list(**bad)


def test_acknowledge_is_audited_and_happens_once(store: Store, clock: FixedClock) -> None:
    repo = SQLAlertStore(store)
    repo.add(rec(1))
    repo.add(rec(2))
    done = repo.acknowledge(rec(1).id, "alice")
    assert done.acknowledged_by == "alice" and done.acknowledged is not None
    assert repo.get(rec(1).id) == done
    assert [r.id for r in repo.list(open_only=True)] == [rec(2).id]
    [event] = store.query(AuditQuery(action=ACK_ACTION))
    assert (event.actor, event.resource) == ("alice", f"alert:{rec(1).id}")
    with pytest.raises(Conflict):
        repo.acknowledge(rec(1).id, "bob")
    with pytest.raises(NotFound):
        repo.acknowledge("no-such-alert", "bob")
    with pytest.raises(NotFound):
        repo.get("no-such-alert")
    assert repo.get(rec(1).id).acknowledged_by == "alice"
    assert len(store.query(AuditQuery(action=ACK_ACTION))) == 1
    assert _verify(store) == 3


def test_hostile_strings_are_stored_literally(store: Store) -> None:
    repo = SQLAlertStore(store)
    caller = "x'); DROP TABLE alerts; --"
    record = AlertRecord("id-1", "auth-failures", caller, "high", {"q": "' OR 1=1 --"},
                         "2026-01-01T00:00:00.000000Z")
    repo.add(record)
    assert repo.list(caller=caller) == [record]


def test_the_service_over_sql_audits_each_recorded_alert_once(store: Store,
                                                              clock: FixedClock) -> None:
    service = AlertService(SQLAlertStore(store), clock=clock, dedupe_window=60)
    from garrison.detection.access import Alert, AlertKind, Severity

    flood = [Alert(AlertKind.QUOTA, "mallory", Severity.HIGH, {"queries": n}, clock.now())
             for n in range(200)]
    assert service.raise_all(flood) == 1
    clock.advance(60)
    assert service.raise_all(flood[:5]) == 1
    assert len(service.list()) == 2
    assert len(store.query(AuditQuery(action=RAISE_ACTION))) == 2
    assert _verify(store) == 2


def test_the_migration_creates_exactly_the_declared_table(store: Store) -> None:
    only = MetaData()
    alerts.to_metadata(only)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), only)
    assert [d for d in diff if "alerts" in repr(d) and d[0] != "remove_table"] == []
    assert "0005_alerts" in (store.revision() or "")
