"""Decision records on SQLite and PostgreSQL: round trip, one anchoring audit event per
batch, no partial batch, and tampering with the table found by verification."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, insert, update

from garrison.audit import AuditDraft, AuditQuery, verify_chain
from garrison.errors import DecisionNotFound, IntegrityFailure
from garrison.serving.decisions import DecisionRecord
from garrison.storage.decisions_repo import SQLDecisionStore, rows_digest
from garrison.storage.tables import decisions


def record(rid: str, **changes) -> DecisionRecord:
    fields = dict(request_id=rid, created="2026-01-01T00:00:01.000000Z", caller="app",
                  model="credit-risk", version=3, rows=2, outputs=["good", "bad"],
                  input_policy="full", inputs=[[0.1, 2.0], [float("nan"), 1e300]],
                  fallback="", flags=[{"row": 1, "score": 0.5, "reasons": ["f01"]}],
                  explanation=None, latency_ms=4)
    fields.update(changes)
    return DecisionRecord(**fields)


def anchors(store) -> list:
    return store.query(AuditQuery(action="invoke-model", resource="decisions"))


def test_round_trip_and_one_anchoring_event_per_batch(store) -> None:
    repo = SQLDecisionStore(store)
    hostile = record("r2", caller="x'); DROP TABLE decisions; --", inputs=None,
                     input_policy="none", fallback="model-timeout",
                     explanation=[{"f01": 0.25}], outputs=[1, 0])
    repo.add_many([record("r1"), hostile])
    repo.add_many([])
    got = repo.get("r1")
    assert got.outputs == ["good", "bad"] and got.flags == record("r1").flags
    assert got.inputs[0] == [0.1, 2.0] and got.inputs[1][1] == 1e300
    assert got.inputs[1][0] is None  # NaN is stored as JSON null, never as invalid JSON.
    assert repo.get("r2").to_dict() == hostile.to_dict()
    [event] = anchors(store)
    payload = json.loads(event.payload)
    assert payload["decisions"] == 2 and {payload["first"], payload["last"]} == {"r1", "r2"}
    assert payload["models"] == ["credit-risk:3"]
    assert repo.verify("r1") == repo.verify("r2") == {"verified": True,
                                                      "anchor_seq": event.seq}
    with pytest.raises(DecisionNotFound):
        repo.get("nope")
    with pytest.raises(DecisionNotFound):
        repo.verify("nope")


def test_a_failing_record_writes_nothing_of_its_batch(store) -> None:
    repo = SQLDecisionStore(store)
    repo.add_many([record("r1")])
    with pytest.raises(Exception):
        repo.add_many([record("r2"), record("r1")])  # r1 again: primary key conflict.
    with pytest.raises(DecisionNotFound):
        repo.get("r2")
    assert len(anchors(store)) == 1
    assert verify_chain(store.records(), verifier=store.signer, head=store.head()).events \
        == len(store.query(AuditQuery(limit=None)))
    assert repo.verify_all().ok


def _tamper(store, statement) -> None:
    with store.write() as tx:
        tx.conn.execute(statement)


@pytest.mark.parametrize("attack,reason", [
    (lambda: update(decisions).where(decisions.c.request_id == "b1").values(
        outputs='["approve"]'), "batch-mismatch"),
    (lambda: update(decisions).where(decisions.c.request_id == "b1").values(
        caller="someone-else"), "batch-mismatch"),
    (lambda: update(decisions).where(decisions.c.request_id == "b1").values(
        inputs=None), "batch-mismatch"),
    (lambda: delete(decisions).where(decisions.c.request_id == "b2"), "batch-mismatch"),
])
def test_tampering_with_a_batch_is_found(store, attack, reason) -> None:
    repo = SQLDecisionStore(store)
    repo.add_many([record("a1"), record("a2")])
    repo.add_many([record("b1"), record("b2"), record("b3")])
    assert repo.verify_all().to_dict() == {"ok": True, "batches": 2, "records": 5,
                                           "problems": []}
    _tamper(store, attack())
    report = repo.verify_all()
    assert not report.ok
    assert [(p.reason, p.anchor_seq) for p in report.problems] == [
        (reason, anchors(store)[1].seq)]
    assert repo.verify("a1")["verified"]  # The other batch is intact.
    with pytest.raises(IntegrityFailure) as caught:
        repo.verify("b3")
    assert caught.value.detail["reason"] == reason


def test_forged_and_unanchored_records_are_found(store) -> None:
    repo = SQLDecisionStore(store)
    repo.add_many([record("a1")])
    seq = anchors(store)[0].seq
    other = store.append(AuditDraft(action="approve-model-version", actor="bob")).seq
    base = {c.name: v for c, v in zip(decisions.c, [
        "x", "2026-01-01T00:00:00.000000Z", "app", "credit-risk", 3, 1, "[1]", None, "none",
        "", "[]", None, 1, None, None, None, None], strict=True)}
    _tamper(store, insert(decisions).values(**{**base, "request_id": "forged-in-batch",
                                                "anchor_seq": seq}))
    _tamper(store, insert(decisions).values(**{**base, "request_id": "no-anchor"}))
    _tamper(store, insert(decisions).values(**{**base, "request_id": "fake-anchor",
                                                "anchor_seq": other}))
    _tamper(store, insert(decisions).values(**{**base, "request_id": "no-such-event",
                                                "anchor_seq": other + 1000}))
    problems = {(p.reason, p.request_id) for p in repo.verify_all().problems}
    assert problems == {("batch-mismatch", None), ("unanchored", "no-anchor"),
                        ("not-an-anchor", "fake-anchor"), ("not-an-anchor", "no-such-event")}
    for rid, reason in [("no-anchor", "unanchored"), ("fake-anchor", "not-an-anchor"),
                        ("no-such-event", "not-an-anchor"), ("a1", "batch-mismatch")]:
        with pytest.raises(IntegrityFailure) as caught:
            repo.verify(rid)
        assert caught.value.detail["reason"] == reason


def test_digest_covers_every_stored_column_and_not_the_order() -> None:
    row = ("r1", "t", "app", "m", 1, 1, "[1]", None, "none", "", "[]", None, 3)
    base = rows_digest([row])
    for i in range(len(row)):
        changed = list(row)
        changed[i] = "other" if not isinstance(row[i], int) else row[i] + 1
        assert rows_digest([tuple(changed)]) != base, i
    other = ("r2", *row[1:])
    assert rows_digest([row, other]) == rows_digest([other, row])
    assert rows_digest([row, other]) != rows_digest([row])


def test_the_migration_creates_exactly_the_declared_table(store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData

    only = MetaData()
    decisions.to_metadata(only)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), only)
    assert [d for d in diff if "decisions" in repr(d) and d[0] != "remove_table"] == []
    assert "0007_decision_anchor" in _applied(store)


def _applied(store) -> set[str]:
    """Every revision applied: the current heads and all their ancestors."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from garrison.storage import migrate

    cfg = Config()
    cfg.set_main_option("script_location", str(migrate._HERE))
    script = ScriptDirectory.from_config(cfg)
    heads = (store.revision() or "").split(",")
    return {r.revision for r in script.iterate_revisions(heads, "base")}


def test_records_from_before_the_anchor_are_reported_unanchored(db_url, keyring,
                                                                clock) -> None:
    from sqlalchemy import create_engine, text

    from garrison.storage.migrate import upgrade
    from tests.conftest import make_store

    engine = create_engine(db_url)
    upgrade(engine, "0003_gateway")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO decisions (request_id, created, caller, model, version, rows, "
            "outputs, input_policy, fallback, flags, latency_ms) VALUES ('old', "
            "'2026-01-01T00:00:00.000000Z', 'app', 'm', 1, 1, '[1]', 'none', '', '[]', 1)"))
    engine.dispose()
    store = make_store(db_url, keyring, clock=clock)
    try:
        repo = SQLDecisionStore(store)
        assert repo.get("old").outputs == [1]
        repo.add_many([record("new")])
        report = repo.verify_all()
        assert [(p.reason, p.request_id) for p in report.problems] == [("unanchored", "old")]
        assert repo.verify("new")["verified"]
    finally:
        store.dispose()


def test_a_batch_larger_than_one_statement(store) -> None:
    """600 records go in three multi-row statements (256, 256, 88), one anchor."""
    repo = SQLDecisionStore(store)
    repo.add_many([record(f"r{i:04d}", outputs=[i]) for i in range(600)])
    assert repo.get("r0599").outputs == [599] and repo.get("r0256").outputs == [256]
    report = repo.verify_all()
    assert report.ok and (report.batches, report.records) == (1, 600)
