"""The whole registry lifecycle over HTTP through the SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os

import pytest

from garrison.client import VersionDetail, VersionInfo
from garrison.errors import (
    ArtifactRefused,
    Conflict,
    Forbidden,
    FourEyesViolation,
    InvalidTransition,
    ModelVersionNotFound,
)
from tests.web.helpers import SCHEMA, evil_pickle, model_bytes


def test_full_lifecycle(inst, sdk, tmp_path) -> None:
    alice, bob, carol, dan = sdk("alice"), sdk("bob"), sdk("carol"), sdk("dan")
    original = model_bytes(0)
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(original)

    v1 = alice.register("fraud", artifact, metadata={"framework": "scikit-learn",
                                                     "input_schema": SCHEMA})
    assert isinstance(v1, VersionInfo)
    assert (v1.ref, v1.stage, v1.registrant, v1.framework) == (
        "fraud:1", "registered", "alice", "scikit-learn")
    assert v1.digest == hashlib.sha256(original).hexdigest()

    with pytest.raises(Forbidden) as denied:
        alice.approve("fraud", 1)  # data scientists cannot approve at all
    assert denied.value.detail["status"] == 403 and denied.value.detail["request_id"]
    assert bob.approve("fraud", 1, reason="metrics reviewed").stage == "approved"

    v2 = carol.register("fraud", model_bytes(1), filename="model-v2.pkl",
                        metadata={"input_schema": SCHEMA})
    with pytest.raises(FourEyesViolation) as four_eyes:
        carol.approve("fraud", v2.version)  # an approver, but the registrant
    assert four_eyes.value.detail["status"] == 403
    assert bob.approve("fraud", 2).stage == "approved"

    assert bob.promote("fraud", 1).stage == "production"
    assert bob.promote("fraud", 2, reason="better recall").stage == "production"
    assert [v.stage for v in dan.list_versions("fraud")] == ["approved", "production"]
    restored = bob.rollback("fraud", reason="precision dropped")
    assert (restored.version, restored.stage) == (1, "production")
    with pytest.raises(InvalidTransition):
        bob.reject("fraud", 1)  # production cannot become rejected

    check = dan.verify("fraud", 1)
    assert check.ok and check.sha256 == v1.digest and check.signed_by == (
        inst.services.keyring.active_id,)
    assert alice.download("fraud", 1) == original
    out = tmp_path / "downloaded.pkl"
    assert alice.download_to("fraud", 1, out) == len(original)
    assert out.read_bytes() == original and (os.stat(out).st_mode & 0o777) == 0o600

    detail = dan.show("fraud", 1)
    assert isinstance(detail, VersionDetail)
    assert [(h.to_stage, h.actor) for h in detail.history] == [
        ("registered", "alice"), ("approved", "bob"), ("production", "bob"),
        ("approved", "bob"), ("production", "bob")]
    assert detail.manifest["signatures"][0]["keyid"] == inst.services.keyring.active_id

    page = dan.audit_events(action="approve-model-version")
    assert [(e.actor, e.outcome, e.reason) for e in page.events] == [
        ("alice", "denied", "no-role-grants-action"), ("bob", "ok", ""),
        ("carol", "denied", "four-eyes-violation"), ("bob", "ok", "")]
    assert page.next_after_seq is None
    assert four_eyes.value.detail["request_id"] == page.events[2].request_id
    downloads = dan.audit_events(action="download-artifact")
    assert [(e.actor, e.outcome) for e in downloads.events] == [("alice", "ok"), ("alice", "ok")]
    report = dan.verify_audit()
    assert report.ok and report.events == report.head_seq > 20


def test_refusals_raise_the_matching_errors(inst, sdk, tmp_path) -> None:
    alice, bob, dan = sdk("alice"), sdk("bob"), sdk("dan")
    marker = tmp_path / "PWNED"
    with pytest.raises(ArtifactRefused) as refused:
        alice.register("fraud", evil_pickle(marker), filename="evil.pkl")
    assert refused.value.detail["status"] == 422 and not marker.exists()
    assert dan.list_versions() == []
    with pytest.raises(ModelVersionNotFound):
        dan.show("fraud", 1)
    with pytest.raises(Conflict):
        bob.rollback("fraud")
    with pytest.raises(Forbidden):
        dan.download("fraud", 1)
    with pytest.raises(Forbidden):
        alice.verify_audit()


def test_audit_paging_and_time_filters(inst, sdk) -> None:
    dan = sdk("dan")
    first = dan.audit_events(limit=3)
    assert [e.seq for e in first.events] == [1, 2, 3] and first.next_after_seq == 3
    second = dan.audit_events(limit=3, after_seq=first.next_after_seq)
    assert [e.seq for e in second.events] == [4, 5, 6]
    assert dan.audit_events(since="2030-01-01T00:00:00Z").events == ()
    assert len(dan.audit_events(until="2030-01-01T00:00:00+02:00", limit=5).events) == 5
