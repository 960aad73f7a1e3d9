"""Attack the audit trail directly in the database; each attack is caught for its reason."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from garrison.audit import AuditDraft, Checkpoint, checkpoint_message, record_hash, verify_chain
from garrison.errors import AuditChainBroken
from garrison.signing import Keyring
from garrison.storage import Store

N = 25


def _fill(store: Store, n: int = N) -> None:
    for i in range(n):
        store.append(AuditDraft(action="create-principal", actor=f"user{i % 3}",
                                resource=f"principal:p{i}", payload={"i": i}))


def _verify(store: Store, witness: list[Checkpoint] | None = None):
    return verify_chain(
        store.records(), verifier=store.signer, head=store.head(),
        checkpoints=[*store.checkpoints(), *(witness or [])],
        reload=lambda: list(store.records()),
    )


def _exec(store: Store, sql: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql), params)


def _broken(store: Store, witness: list[Checkpoint] | None = None) -> AuditChainBroken:
    with pytest.raises(AuditChainBroken) as info:
        _verify(store, witness)
    return info.value


def test_intact_chain_verifies(store: Store) -> None:
    _fill(store)
    report = _verify(store)
    assert report.events == N and report.head_seq == N
    assert report.checkpoints_checked == 3  # checkpoints at 10 and 20, plus the head


@pytest.mark.parametrize("column,value", [
    ("actor", "mallory"), ("outcome", "denied"), ("payload", '{"i":999}'),
    ("created", "2020-01-01T00:00:00.000000Z"), ("reason", "x"), ("resource", "principal:z"),
])
def test_modified_field_is_detected(store: Store, column: str, value: str) -> None:
    _fill(store)
    _exec(store, f"UPDATE audit_events SET {column} = :v WHERE seq = 7", v=value)
    err = _broken(store)
    assert (err.position, err.reason) == (7, "modified")


def test_deleted_event_is_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "DELETE FROM audit_events WHERE seq = 12")
    err = _broken(store)
    assert (err.position, err.reason) == (12, "deleted")


def test_deleted_and_renumbered_is_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "DELETE FROM audit_events WHERE seq = 12")
    for seq in range(13, N + 1):
        _exec(store, "UPDATE audit_events SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    err = _broken(store)
    assert (err.position, err.reason) == (12, "deleted")


def test_swapped_events_are_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "UPDATE audit_events SET seq = -1 WHERE seq = 5")
    _exec(store, "UPDATE audit_events SET seq = 5 WHERE seq = 9")
    _exec(store, "UPDATE audit_events SET seq = 9 WHERE seq = -1")
    err = _broken(store)
    assert (err.position, err.reason) == (5, "reordered")


def test_adjacent_swap_is_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "UPDATE audit_events SET seq = -1 WHERE seq = 15")
    _exec(store, "UPDATE audit_events SET seq = 15 WHERE seq = 16")
    _exec(store, "UPDATE audit_events SET seq = 16 WHERE seq = -1")
    err = _broken(store)
    assert (err.position, err.reason) == (15, "reordered")


def _forge(store: Store, seq: int, prev_hash: str) -> dict[str, object]:
    fields = dict(seq=seq, event_id="00000000-0000-4000-8000-000000000000",
                  created="2026-01-01T00:00:00.000000Z", actor="admin",
                  action="approve-model-version", resource="model:fraud:9", outcome="ok",
                  reason="", request_id="", payload="{}", prev_hash=prev_hash)
    return {**fields, "hash": record_hash(**fields)}  # type: ignore[arg-type]


def test_inserted_forged_event_is_detected(store: Store) -> None:
    """The forger links the new record correctly and shifts the rest down by one."""
    _fill(store)
    for seq in range(N, 7, -1):
        _exec(store, "UPDATE audit_events SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    prev = next(r.hash for r in store.records() if r.seq == 7)
    row = _forge(store, 8, prev)
    _exec(store, "INSERT INTO audit_events VALUES (:seq, :event_id, :created, :actor, :action,"
          " :resource, :outcome, :reason, :request_id, :payload, :prev_hash, :hash)", **row)
    err = _broken(store)
    assert (err.position, err.reason) == (8, "inserted")


def test_event_appended_past_signed_head_is_detected(store: Store) -> None:
    _fill(store)
    prev = next(r.hash for r in store.records() if r.seq == N)
    row = _forge(store, N + 1, prev)
    _exec(store, "INSERT INTO audit_events VALUES (:seq, :event_id, :created, :actor, :action,"
          " :resource, :outcome, :reason, :request_id, :payload, :prev_hash, :hash)", **row)
    err = _broken(store)
    assert (err.position, err.reason) == (N + 1, "inserted")


def test_truncated_tail_is_detected(store: Store) -> None:
    _fill(store)
    _exec(store, "DELETE FROM audit_events WHERE seq > 21")
    err = _broken(store)
    assert (err.position, err.reason) == (22, "truncated")


def test_recomputed_chain_is_caught_by_signed_checkpoints(store: Store) -> None:
    """An attacker rewrites event 3 and recomputes every later hash: only signatures catch it."""
    _fill(store)
    records = list(store.records())
    prev = records[1].hash
    for rec in records[2:]:
        fields = {**rec._asdict(), "prev_hash": prev}
        fields.pop("hash")
        if rec.seq == 3:
            fields["actor"] = "mallory"
        digest = record_hash(**fields)
        _exec(store, "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h "
              "WHERE seq = :s", a=fields["actor"], p=prev, h=digest, s=rec.seq)
        prev = digest
    err = _broken(store)
    assert err.reason == "rewritten" and err.position == 1  # no good checkpoint before it


def test_forged_head_signature_is_detected(store: Store) -> None:
    _fill(store)
    other = Keyring.generate()
    head = store.head()
    assert head is not None
    key_id, sig = other.sign(checkpoint_message(head.seq, head.hash, head.created))
    _exec(store, "UPDATE audit_head SET signature = :s", s=sig)
    err = _broken(store)
    assert err.reason == "bad-checkpoint"


def test_rolled_back_head_with_truncation_is_caught_by_witness(store: Store, tmp_path) -> None:
    """A database-level attacker cuts the tail and restores an older signed head;
    the witness file kept outside the database still names the lost positions."""
    _fill(store, 20)
    witness = store.checkpoints()  # what was mirrored off the database
    old = next(cp for cp in witness if cp.seq == 10)
    _exec(store, "DELETE FROM audit_events WHERE seq > 10")
    _exec(store, "DELETE FROM audit_checkpoints WHERE seq > 10")
    _exec(store, "UPDATE audit_head SET seq = :s, hash = :h, created = :c, signature = :g",
          s=old.seq, h=old.hash, c=old.created, g=old.signature)
    assert _verify(store).events == 10  # the database alone cannot tell
    err = _broken(store, witness)
    assert (err.position, err.reason) == (11, "truncated")


def test_export_lines_match_records(store: Store) -> None:
    _fill(store, 3)
    dumped = [json.dumps(r.to_dict()) for r in store.records()]
    assert [json.loads(d)["seq"] for d in dumped] == [1, 2, 3]
