"""Attacks on the stored gate records, and the two-person override.

Whoever can write the database can edit a column, an envelope, or delete a row; none of
that may turn a failed gate into a passed one, a policy into a laxer one, or one admin
into two.
"""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import delete, select, update

from garrison.audit import AuditQuery
from garrison.errors import (
    Conflict,
    DigestMismatch,
    Forbidden,
    FourEyesViolation,
    GateFailed,
    IntegrityFailure,
    InvalidInput,
)
from garrison.storage.tables_gates import gate_overrides, gate_policies, gate_reports
from tests.gates.flow_helpers import register_holdout, register_model, verdict

POLICY = {"holdout_dataset": "holdout:1", "task": "classification"}


@pytest.fixture
def failed(gated, tmp_path):
    """A model with a policy and a version whose newest gate report failed."""
    services, p, runner = gated
    register_holdout(services, p["alice"], tmp_path)
    v = register_model(services, p["alice"], tmp_path)
    services.gates.set_policy(p["bob"], "credit", POLICY)
    runner.answer = verdict(False)
    services.gates.run(p["alice"], "credit", v.version)
    return services, p, runner, v


def _forge(envelope: dict, change) -> dict:
    """The envelope with its payload changed and the old signature kept."""
    body = json.loads(base64.b64decode(envelope["payload"]))
    change(body)
    return {**envelope, "payload": base64.b64encode(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).decode()}


def _exec(services, statement) -> None:
    with services.store.engine.begin() as conn:
        conn.execute(statement)


def _envelope(services, table, **where) -> dict:
    with services.store.engine.connect() as conn:
        stmt = select(table.c.envelope)
        for key, value in where.items():
            stmt = stmt.where(table.c[key] == value)
        return json.loads(conn.execute(stmt.order_by(table.c[next(iter(where))])).scalars()
                          .all()[-1])


def test_a_passed_column_changes_nothing_and_a_forged_verdict_fails_its_signature(failed
                                                                                  ) -> None:
    services, p, _, v = failed
    _exec(services, update(gate_reports).values(passed=True))
    with pytest.raises(GateFailed, match="failed its release gate"):
        services.registry.approve(p["bob"], "credit", v.version)
    forged = _forge(_envelope(services, gate_reports, model="credit"),
                    lambda b: (b["predicate"].update(passed=True),
                               [c.update(passed=True) for c in b["predicate"]["checks"]]))
    _exec(services, update(gate_reports).values(envelope=json.dumps(forged)))
    with pytest.raises(IntegrityFailure, match="gate report of credit:1 failed verification"):
        services.registry.approve(p["bob"], "credit", v.version)
    with pytest.raises(IntegrityFailure):
        services.gates.report(p["bob"], "credit", v.version)
    assert services.registry.get("credit", v.version).stage == "registered"
    assert services.alerts.list("gate-report-tampered")


def test_deleting_the_newest_failed_report_to_reach_an_older_pass_is_detected(failed) -> None:
    services, p, runner, v = failed
    runner.answer = verdict(True)
    services.gates.run(p["alice"], "credit", v.version)
    runner.answer = verdict(False)
    services.gates.run(p["alice"], "credit", v.version)  # The newest: failed.
    with services.store.engine.connect() as conn:
        newest = conn.execute(select(gate_reports.c.id).order_by(gate_reports.c.id.desc())
                              ).scalars().first()
    _exec(services, delete(gate_reports).where(gate_reports.c.id == newest))
    with pytest.raises(IntegrityFailure, match="not the one the audit trail last records"):
        services.registry.approve(p["bob"], "credit", v.version)


def test_a_report_copied_to_another_version_vouches_for_the_wrong_artifact(failed, tmp_path
                                                                           ) -> None:
    services, p, runner, v = failed
    runner.answer = verdict(True)
    services.gates.run(p["alice"], "credit", v.version)
    with services.store.engine.connect() as conn:
        passing = conn.execute(select(gate_reports.c.envelope).order_by(
            gate_reports.c.id.desc())).scalars().first()
    runner.answer = verdict(False)
    other = register_model(services, p["alice"], tmp_path, c=0.3)  # Gate runs: failed.
    _exec(services, update(gate_reports).where(gate_reports.c.version == other.version)
          .values(envelope=passing))
    with pytest.raises(IntegrityFailure, match="another artifact"):
        services.registry.approve(p["bob"], "credit", other.version)


def test_an_edited_or_rolled_back_policy_is_detected(failed) -> None:
    services, p, runner, v = failed
    runner.answer = verdict(True)
    strict = services.gates.set_policy(p["bob"], "credit",
                                       {**POLICY, "performance": {"floor": 0.99}})
    assert strict.revision == 2
    # Lower the floor in place: the signature no longer verifies.
    forged = _forge(_envelope(services, gate_policies, model="credit"),
                    lambda b: b["policy"]["performance"].update(floor=0.1))
    _exec(services, update(gate_policies).where(gate_policies.c.revision == 2)
          .values(envelope=json.dumps(forged)))
    with pytest.raises(IntegrityFailure, match="gate policy of credit failed verification"):
        services.gates.policy(p["bob"], "credit")
    # Delete revision 2 so that the older, laxer revision 1 looks current: the audit
    # trail names revision 2 as the last one set.
    _exec(services, delete(gate_policies).where(gate_policies.c.revision == 2))
    with pytest.raises(IntegrityFailure, match="not the one the audit trail last records"):
        services.registry.approve(p["bob"], "credit", v.version)
    # And deleting every revision does not make the model ungated.
    _exec(services, delete(gate_policies))
    with pytest.raises(IntegrityFailure, match="was deleted"):
        services.registry.approve(p["bob"], "credit", v.version)
    assert services.alerts.list("gate-policy-tampered")
    # An approver recovers by setting the policy again; it is signed and audited anew.
    again = services.gates.set_policy(p["bob"], "credit", POLICY)
    assert services.gates.policy(p["dan"], "credit").digest == again.digest
    with pytest.raises(GateFailed, match=r"earlier policy|failed its release gate"):
        services.registry.approve(p["bob"], "credit", v.version)


def test_an_override_needs_a_written_reason_and_a_second_admin(failed) -> None:
    services, p, _, v = failed
    desk = services.gate_overrides
    with pytest.raises(Forbidden):
        desk.request(p["bob"], "credit", v.version, "approvers cannot override gates at all")
    with pytest.raises(InvalidInput, match="written reason"):
        desk.request(p["root"], "credit", v.version, "because")
    asked = desk.request(p["root"], "credit", v.version,
                         "holdout set is stale; accepted by the risk board on 2026-12-07")
    assert not asked.approved and asked.report_sha256
    with pytest.raises(GateFailed):  # Pending: not yet a way through.
        services.registry.approve(p["bob"], "credit", v.version)
    with pytest.raises(FourEyesViolation):
        desk.approve(p["root"], asked.id)
    granted = desk.approve(p["root2"], asked.id)
    assert (granted.requested_by, granted.approved_by) == ("root", "root2")
    with pytest.raises(Conflict):
        desk.approve(p["root2"], asked.id)
    assert services.registry.approve(p["bob"], "credit", v.version).stage == "approved"
    actions = [e.action for e in services.store.query(AuditQuery(limit=None))]
    assert {"request-gate-override", "approve-gate-override"} <= set(actions)
    # A new policy is a new gate: the override does not carry over.
    services.gates.set_policy(p["bob"], "credit", {**POLICY, "performance": {"floor": 0.5}})
    with pytest.raises(GateFailed):
        services.registry.promote(p["bob"], "credit", v.version)


def test_a_forged_approval_of_an_override_is_refused(failed) -> None:
    services, p, _, v = failed
    desk = services.gate_overrides
    asked = desk.request(p["root"], "credit", v.version,
                         "an emergency release agreed with the model risk committee")
    # Mark it approved in the columns: nothing signed says so, so it stays pending.
    _exec(services, update(gate_overrides).values(approved_by="root2",
                                                  approved_at="2026-12-07T00:00:00Z"))
    with pytest.raises(GateFailed):
        services.registry.approve(p["bob"], "credit", v.version)
    # Put the request's own envelope where the approval belongs: refused.
    with services.store.engine.connect() as conn:
        request = conn.execute(select(gate_overrides.c.request)).scalars().one()
    _exec(services, update(gate_overrides).values(approval=request))
    with pytest.raises(IntegrityFailure, match=f"gate override {asked.id}"):
        services.registry.approve(p["bob"], "credit", v.version)


def test_a_holdout_swapped_in_the_dataset_registry_is_refused(failed, tmp_path) -> None:
    """Replace the holdout file and its registered digest together: the digest signed into
    the policy still names the original bytes."""
    import hashlib

    from garrison.storage.tables_datasets import datasets

    services, p, _, v = failed
    holdout = tmp_path / "holdout.csv"
    holdout.write_text(holdout.read_text() + "30,50,10,1\n")
    swapped = hashlib.sha256(holdout.read_bytes()).hexdigest()
    _exec(services, update(datasets).values(digest=swapped))
    with pytest.raises(DigestMismatch, match="signed into the gate policy"):
        services.gates.run(p["alice"], "credit", v.version)
