"""Guard.audited: one place that records how unaudited-by-construction work ended."""

from __future__ import annotations

import json

import pytest

from garrison.audit import AuditDraft, AuditQuery
from garrison.errors import DigestMismatch
from garrison.governance import Guard


def _events(store):
    return store.query(AuditQuery(action="verify-model-version"))


def test_success_is_recorded_with_the_payload_of_the_result(store) -> None:
    guard = Guard(store)
    result = guard.audited("alice", "verify-model-version", lambda: b"abc", resource="model:m:1",
                           request_id="r1", ok_payload=lambda data: {"bytes": len(data)})
    assert result == b"abc"
    (event,) = _events(store)
    assert (event.actor, event.outcome, event.resource, event.request_id) == (
        "alice", "ok", "model:m:1", "r1")
    assert json.loads(event.payload) == {"bytes": 3}


def test_a_garrison_error_is_recorded_as_failed_and_raised_again(store) -> None:
    guard = Guard(store)

    def work() -> bytes:
        raise DigestMismatch("the artifact does not match its signed digest")

    with pytest.raises(DigestMismatch):
        guard.audited("alice", "verify-model-version", work, resource="model:m:1",
                      ok_payload=lambda _: {"never": True})
    (event,) = _events(store)
    assert (event.outcome, event.reason) == ("failed", "digest-mismatch")
    assert json.loads(event.payload) == {
        "message": "the artifact does not match its signed digest"}


def test_without_ok_payload_the_work_records_its_own_success(store) -> None:
    guard = Guard(store)

    def work() -> int:
        store.append(AuditDraft(action="verify-model-version", actor="alice",
                                payload={"own": True}))
        return 7

    assert guard.audited("alice", "verify-model-version", work) == 7
    assert [json.loads(e.payload) for e in _events(store)] == [{"own": True}]


def test_a_foreign_exception_is_not_turned_into_an_audit_event(store) -> None:
    """Only Garrison's own errors have a stable code to record; a bug propagates as is."""
    guard = Guard(store)
    with pytest.raises(ZeroDivisionError):
        guard.audited("alice", "verify-model-version", lambda: 1 // 0)
    assert _events(store) == []
