"""The approver's review: a candidate side by side with production, and who may approve."""

from __future__ import annotations

import pytest

from garrison.audit import AuditQuery
from garrison.errors import Forbidden, FourEyesViolation
from garrison.registry import DatasetRef, approval_blocker, ensure_approvable
from garrison.registry.review import build_review

# The model of conftest takes four numeric features.
SCHEMA_V1 = {"features": [{"name": "amount", "type": "float", "minimum": 0, "maximum": 100},
                          {"name": "age", "type": "float"},
                          {"name": "country", "type": "float"},
                          {"name": "score", "type": "float"}]}
SCHEMA_V2 = {"features": [{"name": "amount", "type": "float", "minimum": 0, "maximum": 500},
                          {"name": "age", "type": "float"},
                          {"name": "tenure", "type": "float"},
                          {"name": "score", "type": "float"}]}
SCHEMA = {"features": [{"name": f"x{i}", "type": "float"} for i in range(4)]}


def _register(env, model_file, who: str, **metadata):
    services, people = env
    metadata.setdefault("input_schema", SCHEMA)
    return services.registry.register(people[who], "fraud", model_file, metadata)


def test_the_review_compares_metrics_schema_and_signatures_with_production(
        env, model_file) -> None:
    services, people = env
    registry = services.registry
    v1 = _register(env, model_file, "alice", metrics={"auc": 0.81, "f1": 0.7},
                   input_schema=SCHEMA_V1, description="first")
    registry.approve(people["bob"], "fraud", v1.version, "ok")
    registry.promote(people["bob"], "fraud", v1.version, "production", "go")
    v2 = _register(env, model_file, "alice", metrics={"auc": 0.86, "recall": 0.6},
                   input_schema=SCHEMA_V2)
    review = registry.review(people["bob"], "fraud", v2.version)
    assert review.production is not None and review.production.version == v1.version
    metrics = {m.name: (m.candidate, m.production) for m in review.metrics}
    assert metrics == {"auc": (0.86, 0.81), "f1": (None, 0.7), "recall": (0.6, None)}
    assert round(next(m for m in review.metrics if m.name == "auc").delta, 6) == 0.05
    changes = {f.name: f.change for f in review.schema}
    assert changes == {"amount": "changed", "age": "same", "tenure": "added",
                       "country": "removed", "score": "same"}
    assert review.schema_changed
    assert review.candidate_signature.ok and review.production_signature.ok
    assert review.candidate_signature.signed_by
    assert review.blocker is None  # Bob did not register it.
    # The registrant sees why the approve button is missing: four eyes.
    own = registry.review(people["alice"], "fraud", v2.version)
    assert "roles" in own.blocker  # Alice is no approver at all.


def test_the_registrant_who_is_also_an_approver_is_told_about_four_eyes(env,
                                                                          model_file) -> None:
    services, people = env
    v = _register(env, model_file, "carol")
    blocker = approval_blocker(people["carol"], v)
    assert blocker is not None and "Four eyes" in blocker
    with pytest.raises(FourEyesViolation):
        ensure_approvable(people["carol"], v)
    with pytest.raises(FourEyesViolation):
        services.registry.approve(people["carol"], "fraud", v.version, "mine")
    assert approval_blocker(people["bob"], v) is None


def test_a_tampered_manifest_shows_as_an_invalid_signature(env, model_file) -> None:
    services, people = env
    v = _register(env, model_file, "alice", description="honest")
    forged = v.__class__(**{**v.__dict__, "metadata": v.metadata.__class__(
        description="forged")})
    status = services.registry.signature_status(forged)
    assert not status.ok and status.problem == "invalid-signature"


def test_datasets_are_compared_by_name_version_and_digest(env, model_file) -> None:
    services, people = env
    v = _register(env, model_file, "alice")
    a = DatasetRef("train", "1", "sha256:" + "a" * 64)
    b = DatasetRef("train", "2", "sha256:" + "b" * 64)
    holdout = DatasetRef("holdout", "1", "sha256:" + "c" * 64)
    cand = v.__class__(**{**v.__dict__, "metadata": v.metadata.__class__(datasets=(b,))})
    prod = v.__class__(**{**v.__dict__, "metadata": v.metadata.__class__(
        datasets=(a, holdout))})
    review = build_review(cand, prod, candidate_signature=None, production_signature=None,
                          blocker=None)
    assert [(d.name, d.change) for d in review.datasets] == [("train", "changed"),
                                                             ("holdout", "removed")]


def test_the_queue_needs_the_approver_role_and_lists_what_waits(env, model_file) -> None:
    services, people = env
    registry = services.registry
    v1 = _register(env, model_file, "alice")
    v2 = _register(env, model_file, "alice")
    registry.approve(people["bob"], "fraud", v1.version, "ok")
    reviews, promotable = registry.approval_queue(people["bob"])
    assert [r.candidate.version for r in reviews] == [v2.version]
    assert [v.version for v in promotable] == [v1.version]
    registry.promote(people["bob"], "fraud", v1.version, "production", "go")
    assert registry.approval_queue(people["bob"])[1] == []
    with pytest.raises(Forbidden):
        registry.approval_queue(people["dan"])
    [denied] = services.audit.log(people["root"], AuditQuery(actor="dan", outcome="denied"))
    assert denied.action == "approve-model-version"
