"""Approval and promotion need a passing gate report for the exact artifact under the
current policy; a model without a policy is governed as before unless the installation
requires gates."""

from __future__ import annotations

import json

import pytest

from garrison.audit import AuditQuery
from garrison.errors import (
    ApprovalRequired,
    DatasetNotFound,
    Forbidden,
    GateFailed,
    InvalidInput,
    NotFound,
)
from tests.gates.flow_helpers import register_holdout, register_model, verdict

#: The flow on SQLite; the attacks on stored records run on PostgreSQL too.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

POLICY = {"holdout_dataset": "holdout:1", "task": "classification"}


def _events(services, **filters):
    return services.store.query(AuditQuery(limit=None, **filters))


def test_the_policy_needs_the_approver_role_and_a_registered_holdout(gated, tmp_path) -> None:
    services, p, _ = gated
    register_holdout(services, p["alice"], tmp_path)
    register_model(services, p["alice"], tmp_path)
    with pytest.raises(Forbidden):
        services.gates.set_policy(p["alice"], "credit", POLICY)
    with pytest.raises(DatasetNotFound):
        services.gates.set_policy(p["bob"], "credit", {**POLICY, "holdout_dataset": "nope:1"})
    with pytest.raises(InvalidInput, match="no column 'region'"):
        services.gates.set_policy(p["bob"], "credit", {**POLICY, "sensitive": "region"})
    with pytest.raises(InvalidInput, match="unknown gate policy key"):
        services.gates.set_policy(p["bob"], "credit", {**POLICY, "treshold": 1})
    record = services.gates.set_policy(p["bob"], "credit", POLICY)
    assert record.revision == 1 and record.policy.label == "label"  # the dataset's target
    [event] = _events(services, action="set-gate-policy", outcome="ok")
    assert event.actor == "bob"
    assert json.loads(event.payload)["digest"] == record.digest
    assert len(_events(services, action="set-gate-policy", outcome="failed")) == 3
    assert services.gates.policy(p["dan"], "credit").digest == record.digest


def test_approval_without_a_report_is_refused_and_a_passing_run_allows_it(gated, tmp_path
                                                                        ) -> None:
    services, p, runner = gated
    register_holdout(services, p["alice"], tmp_path)
    v = register_model(services, p["alice"], tmp_path)
    services.gates.set_policy(p["bob"], "credit", POLICY)
    with pytest.raises(GateFailed, match="no release-gate report"):
        services.registry.approve(p["bob"], "credit", v.version)
    assert services.registry.get("credit", v.version).stage == "registered"
    refused = _events(services, action="check-model-version", outcome="failed")
    assert json.loads(refused[-1].payload)["check"] == "release-gate"

    runner.answer = verdict(False)
    report = services.gates.run(p["alice"], "credit", v.version)
    assert not report.passed and report.current
    assert report.predicate["holdout"]["sha256"] == services.datasets.get(
        p["alice"], "holdout", 1).digest
    with pytest.raises(GateFailed, match=r"performance: accuracy 0\.41 is below"):
        services.registry.approve(p["bob"], "credit", v.version)
    # The approver's review lists the report's checks with the refusal.
    rows = services.approvals.review(p["bob"], "credit", v.version).checks
    assert [(r.check, r.outcome) for r in rows[:2]] == [("gate: artifact", "ok"),
                                                       ("gate: performance", "failed")]
    assert "below the floor" in rows[1].detail

    runner.answer = verdict(True)
    services.gates.run(p["alice"], "credit", v.version)
    assert services.registry.approve(p["bob"], "credit", v.version).stage == "approved"
    assert services.registry.promote(p["bob"], "credit", v.version).stage == "production"
    ok = _events(services, action="check-model-version", outcome="ok")
    gates = [json.loads(e.payload) for e in ok if json.loads(e.payload)["check"] == "release-gate"]
    assert [g["purpose"] for g in gates] == ["approve", "promote"]
    assert all(g["passed"] for g in gates)


def test_the_request_carries_the_verified_artifact_and_production_to_compare(gated, tmp_path
                                                                            ) -> None:
    services, p, runner = gated
    register_holdout(services, p["alice"], tmp_path)
    first = register_model(services, p["alice"], tmp_path)
    services.gates.set_policy(p["bob"], "credit", POLICY)
    services.gates.run(p["alice"], "credit", first.version)
    services.registry.approve(p["bob"], "credit", first.version)
    services.registry.promote(p["bob"], "credit", first.version)
    # Registering a new version of a model with a policy runs its gate at once.
    second = register_model(services, p["alice"], tmp_path, c=0.5)
    request = runner.requests[-1]
    assert request.candidate == services.registry.verified_bytes(second)
    assert request.production == services.registry.verified_bytes(first)
    assert request.policy["label"] == "label"
    assert services.gates.report(p["dan"], "credit", second.version).passed
    assert services.registry.approve(p["carol"], "credit", second.version).stage == "approved"


def test_a_new_policy_makes_earlier_reports_stale(gated, tmp_path) -> None:
    services, p, _ = gated
    register_holdout(services, p["alice"], tmp_path)
    v = register_model(services, p["alice"], tmp_path)
    services.gates.set_policy(p["bob"], "credit", POLICY)
    services.gates.run(p["alice"], "credit", v.version)
    services.registry.approve(p["bob"], "credit", v.version)
    services.gates.set_policy(p["bob"], "credit", {**POLICY, "performance": {"floor": 0.99}})
    assert not services.gates.report(p["bob"], "credit", v.version).current
    with pytest.raises(GateFailed, match="earlier policy"):
        services.registry.promote(p["bob"], "credit", v.version)


def test_a_model_without_policy_is_governed_as_before(gated, tmp_path) -> None:
    services, p, runner = gated
    v = register_model(services, p["alice"], tmp_path)
    assert services.registry.approve(p["bob"], "credit", v.version).stage == "approved"
    assert runner.requests == []
    with pytest.raises(NotFound, match="no gate policy"):
        services.gates.run(p["alice"], "credit", v.version)


@pytest.mark.parametrize("gated", [{"require_gates": True}], indirect=True)
def test_an_installation_can_require_a_policy_for_every_model(gated, tmp_path) -> None:
    services, p, _ = gated
    v = register_model(services, p["alice"], tmp_path)
    with pytest.raises(GateFailed, match="GARRISON_REQUIRE_GATES"):
        services.registry.approve(p["bob"], "credit", v.version)


def test_a_run_the_sandbox_could_not_finish_is_a_failed_report(gated, tmp_path) -> None:
    services, p, runner = gated
    register_holdout(services, p["alice"], tmp_path)
    v = register_model(services, p["alice"], tmp_path)
    services.gates.set_policy(p["bob"], "credit", POLICY)
    runner.answer, runner.problem = None, "the gate run did not finish within the 1 s deadline"
    report = services.gates.run(p["alice"], "credit", v.version)
    assert not report.passed
    assert report.result.check("evaluation").reason.startswith("the gate run did not finish")
    with pytest.raises(GateFailed, match="evaluation"):
        services.registry.approve(p["bob"], "credit", v.version)


def test_a_holdout_file_changed_after_registration_is_refused(gated, tmp_path) -> None:
    services, p, _ = gated
    register_holdout(services, p["alice"], tmp_path)
    v = register_model(services, p["alice"], tmp_path)
    services.gates.set_policy(p["bob"], "credit", POLICY)
    with (tmp_path / "holdout.csv").open("a") as f:
        f.write("30,50,10,1\n")
    with pytest.raises(Exception, match="changed since it was registered"):
        services.gates.run(p["alice"], "credit", v.version)
    [failed] = _events(services, action="run-gate", outcome="failed")
    assert failed.reason == "digest-mismatch"


def test_shadow_to_production_needs_shadow_agreement_under_a_gate_policy(gated, tmp_path
                                                                         ) -> None:
    services, p, _ = gated
    register_holdout(services, p["alice"], tmp_path)
    first = register_model(services, p["alice"], tmp_path)
    services.gates.set_policy(p["bob"], "credit", POLICY)
    services.gates.run(p["alice"], "credit", first.version)
    services.registry.approve(p["bob"], "credit", first.version)
    services.registry.promote(p["bob"], "credit", first.version)
    second = register_model(services, p["alice"], tmp_path, c=0.5)  # Gate passes at once.
    services.registry.approve(p["bob"], "credit", second.version)
    assert services.registry.promote(p["bob"], "credit", second.version,
                                     "shadow").stage == "shadow"
    # No mirrored traffic compared yet: the default minimum agreement cannot be shown.
    with pytest.raises(ApprovalRequired, match="mirrored requests were compared"):
        services.registry.promote(p["bob"], "credit", second.version)
    refused = _events(services, action="check-model-version", outcome="failed")
    assert json.loads(refused[-1].payload)["check"] == "shadow-agreement"
    assert services.registry.get("credit", second.version).stage == "shadow"
