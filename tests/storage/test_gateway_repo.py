"""Decision records on SQLite and PostgreSQL: round trip, one audit event per batch,
and no partial batch when one record cannot be written."""

from __future__ import annotations

import json

import pytest

from garrison.audit import AuditQuery, verify_chain
from garrison.errors import DecisionNotFound
from garrison.serving.decisions import DecisionRecord, batch_digest
from garrison.storage.gateway_repo import SQLDecisionStore


def record(rid: str, **changes) -> DecisionRecord:
    fields = dict(request_id=rid, created="2026-01-01T00:00:01.000000Z", caller="app",
                  model="credit-risk", version=3, rows=2, outputs=["good", "bad"],
                  input_policy="full", inputs=[[0.1, 2.0], [float("nan"), 1e300]],
                  fallback="", flags=[{"row": 1, "score": 0.5, "reasons": ["f01"]}],
                  explanation=None, latency_ms=4)
    fields.update(changes)
    return DecisionRecord(**fields)


def test_round_trip_and_one_audit_event_per_batch(store) -> None:
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
    events = store.query(AuditQuery(action="invoke-model"))
    assert len(events) == 1
    payload = json.loads(events[0].payload)
    assert payload["decisions"] == 2 and payload["first"] == "r1" and payload["last"] == "r2"
    assert payload["sha256"] == batch_digest([record("r1"), hostile])
    assert payload["models"] == ["credit-risk:3"]
    with pytest.raises(DecisionNotFound):
        repo.get("nope")


def test_a_failing_record_writes_nothing_of_its_batch(store) -> None:
    repo = SQLDecisionStore(store)
    repo.add_many([record("r1")])
    with pytest.raises(Exception):
        repo.add_many([record("r2"), record("r1")])  # r1 again: primary key conflict.
    with pytest.raises(DecisionNotFound):
        repo.get("r2")
    assert len(store.query(AuditQuery(action="invoke-model"))) == 1
    assert verify_chain(store.records(), verifier=store.signer, head=store.head()).events \
        == len(store.query(AuditQuery()))


def test_digest_depends_on_every_anchored_field() -> None:
    base = batch_digest([record("r1")])
    for change in [dict(request_id="r9"), dict(model="m"), dict(version=4),
                   dict(outputs=["good", "good"]), dict(fallback="model-error")]:
        assert batch_digest([record(change.pop("request_id", "r1"), **change)]) != base
    assert batch_digest([record("r1"), record("r2")]) != batch_digest([record("r2"),
                                                                      record("r1")])
