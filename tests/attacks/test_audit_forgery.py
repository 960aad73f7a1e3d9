"""Issue 11, findings 2 and 3: wiping the audit trail, forging events past the signed head.

Each test is the attack as it was run from outside, with database access only, and
each one failed on the code before the fix: a wiped trail verified as "intact: 0
events" and restarted at seq 1; a correctly linked forged event just past the signed
head passed verification, then made verification crash and blocked every later
audited action with an IntegrityError.
"""

from __future__ import annotations

import json

import pytest

from garrison.app import read_witness
from garrison.audit import record_hash
from garrison.errors import AuditChainBroken
from tests.attacks.conftest import sql


def _forge_after(inst, seq: int) -> dict[str, object]:
    """A record that links correctly to ``seq`` and claims an approval."""
    [(prev,)] = sql(inst, "SELECT hash FROM audit_events WHERE seq = :s", s=seq)
    fields = dict(seq=seq + 1, event_id="00000000-0000-4000-8000-00000000f0f0",
                  created="2026-01-01T00:00:00.000000Z", actor="bob",
                  action="approve-model-version", resource="model:fraud:1", outcome="ok",
                  reason="", request_id="", payload="{}", prev_hash=prev)
    return {**fields, "hash": record_hash(**fields)}  # type: ignore[arg-type]


def _insert(inst, row: dict[str, object]) -> None:
    sql(inst, "INSERT INTO audit_events (seq, event_id, created, actor, action, resource, "
              "outcome, reason, request_id, payload, prev_hash, hash) VALUES (:seq, "
              ":event_id, :created, :actor, :action, :resource, :outcome, :reason, "
              ":request_id, :payload, :prev_hash, :hash)", **row)


def _verify(inst):
    return inst.services.audit.verify(inst.people["root"])


def _broken(inst) -> AuditChainBroken:
    with pytest.raises(AuditChainBroken) as info:
        _verify(inst)
    return info.value


def test_init_signs_a_genesis_checkpoint_into_the_witness(inst) -> None:
    [genesis] = read_witness(inst.services.settings.witness_file)[:1]
    assert genesis.seq >= 1
    inst.services.keyring.verify(genesis.key_id, genesis.signature, __import__(
        "garrison.audit", fromlist=["checkpoint_message"]).checkpoint_message(
            genesis.seq, genesis.hash, genesis.created))


def test_a_wiped_trail_is_detected_and_never_restarted(inst) -> None:
    for table in ("audit_events", "audit_head", "audit_checkpoints"):
        sql(inst, f"DELETE FROM {table}")
    err = _broken(inst)
    assert (err.reason, err.position) == ("truncated", 1)
    # Nothing may start a new chain at seq 1 signed with the real key.
    with pytest.raises(AuditChainBroken) as info:
        inst.services.accounts.create_principal(inst.people["root"], "eve")
    assert info.value.reason == "truncated"
    assert sql(inst, "SELECT COUNT(*) FROM audit_events") == [(0,)]


def test_a_forged_event_past_the_signed_head_is_reported_then_quarantined(inst) -> None:
    services, root = inst.services, inst.people["root"]
    head = services.store.head().seq
    forged = _forge_after(inst, head)
    _insert(inst, forged)

    err = _broken(inst)  # Reported from what was read, before anything was written.
    assert (err.reason, err.position) == ("inserted", head + 1)
    # Recording that verification moved the forged row aside instead of colliding with it.
    assert sql(inst, "SELECT hash FROM audit_quarantine") == [(forged["hash"],)]
    [(action, reason)] = sql(inst, "SELECT action, reason FROM audit_events WHERE seq = :s",
                             s=head + 1)
    assert (action, reason) == ("quarantine-audit-events", "inserted")

    # Later audited actions are not blocked by the planted row.
    services.accounts.create_principal(root, "erin", roles=["client"])
    # Verification keeps failing, for a named reason, until an admin looks at it.
    err = _broken(inst)
    assert (err.reason, err.position) == ("quarantined", head + 1)
    assert err.detail["incident"] == f"quarantine:{head + 1}"
    alerts = services.alerts.sink.list(kind="audit-quarantine")
    assert len(alerts) == 1 and alerts[0].severity == "high"

    services.audit.acknowledge(root, f"quarantine:{head + 1}", "planted row, see ticket 7")
    report = _verify(inst)
    [incident] = report.incidents
    assert incident.acknowledged_by == "root" and incident.count == 1
    assert incident.records[0]["hash"] == forged["hash"]


def test_every_later_append_quarantines_and_records_what_it_moved(inst) -> None:
    """Several planted rows, found by an ordinary action rather than by verify."""
    head = inst.services.store.head().seq
    first = _forge_after(inst, head)
    _insert(inst, first)
    second = {**first, "seq": head + 2, "prev_hash": first["hash"],
              "event_id": "00000000-0000-4000-8000-00000000f0f1"}
    second["hash"] = record_hash(**{k: v for k, v in second.items() if k != "hash"})
    _insert(inst, second)
    inst.services.accounts.create_principal(inst.people["root"], "erin")
    [(payload,)] = sql(inst, "SELECT payload FROM audit_events WHERE action = "
                             "'quarantine-audit-events'")
    moved = json.loads(payload)
    assert (moved["count"], moved["first"], moved["last"]) == (2, head + 1, head + 2)
    assert [r["seq"] for r in moved["records"]] == [head + 1, head + 2]
    err = _broken(inst)
    assert err.reason == "quarantined"


def test_a_middle_insert_is_reported_with_its_reason(inst) -> None:
    head = inst.services.store.head().seq
    for seq in range(head, 3, -1):
        sql(inst, "UPDATE audit_events SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    _insert(inst, _forge_after(inst, 3))
    err = _broken(inst)
    assert (err.reason, err.position) == ("inserted", 4)


def test_an_insert_with_recomputed_hashes_is_reported_as_rewritten(inst) -> None:
    """The forger inserts a record and recomputes every later hash: only the signatures
    can tell, and they do."""
    rows = sql(inst, "SELECT seq, event_id, created, actor, action, resource, outcome, "
                     "reason, request_id, payload, prev_hash, hash FROM audit_events "
                     "ORDER BY seq")
    sql(inst, "DELETE FROM audit_events WHERE seq > 3")
    prev = rows[2][11]
    forged = _forge_after(inst, 3)
    _insert(inst, forged)
    prev = forged["hash"]
    for old in rows[3:]:
        fields = dict(zip(("seq", "event_id", "created", "actor", "action", "resource",
                           "outcome", "reason", "request_id", "payload", "prev_hash"),
                          old[:11], strict=True))
        fields.update(seq=old[0] + 1, prev_hash=prev)
        row = {**fields, "hash": record_hash(**fields)}  # type: ignore[arg-type]
        _insert(inst, row)
        prev = row["hash"]
    err = _broken(inst)
    assert err.reason in ("rewritten", "inserted")
    assert err.position >= 1


def test_truncation_with_the_head_deleted_is_reported_not_crashed(inst) -> None:
    sql(inst, "DELETE FROM audit_events WHERE seq > 3")
    sql(inst, "DELETE FROM audit_head")
    err = _broken(inst)
    assert err.reason in ("truncated", "bad-checkpoint")
    # The chain cannot be extended without its signed head: the verdict still stands,
    # and says it could not be recorded.
    assert err.detail.get("recorded") is False
    with pytest.raises(AuditChainBroken) as info:
        inst.services.accounts.create_principal(inst.people["root"], "erin")
    assert info.value.reason == "bad-checkpoint"
