"""Registry lifecycle, four eyes, rollback, integrity and the safe loader."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from garrison.audit import AuditQuery
from garrison.errors import (
    ApprovalRequired,
    ArtifactRefused,
    Conflict,
    DecryptionFailed,
    Forbidden,
    FourEyesViolation,
    InvalidSignature,
    InvalidTransition,
)
from garrison.registry import artifact_context
from garrison.signing import Keyring, sign_json
from tests.registry.helpers import SERVABLE


def _events(services, **filters):
    return services.store.query(AuditQuery(limit=None, **filters))


def test_register_scans_signs_and_encrypts(env, model_file, fitted) -> None:
    services, p = env
    v = services.registry.register(p["alice"], "fraud", model_file, {"framework": "sklearn"})
    assert (v.ref, v.stage, v.registrant) == ("fraud:1", "registered", "alice")
    sealed = services.registry._artifacts.path("fraud", 1).read_bytes()
    plain = model_file.read_bytes()
    assert plain[100:164] not in sealed and sealed.startswith(b"GSEAL1")
    assert oct(os.stat(services.registry._artifacts.path("fraud", 1)).st_mode & 0o777) == "0o600"
    out = services.registry.verify(p["dan"], "fraud", 1)
    assert out["sha256"] == v.digest and out["signed_by"] == [services.keyring.active_id]
    loaded = services.loader.load("fraud", 1)
    model, X = fitted
    assert np.array_equal(loaded.model.predict(X), model.predict(X))
    [event] = _events(services, action="register-model-version")
    assert (event.actor, event.outcome) == ("alice", "ok")


def test_malicious_artifact_is_refused_and_nothing_stored(env, tmp_path) -> None:
    services, p = env
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ArtifactRefused):
        services.registry.register(p["alice"], "fraud", evil)
    assert not marker.exists()
    assert services.registry.list_versions(p["root"]) == []
    assert not (services.settings.artifacts / "fraud").exists()
    [event] = _events(services, action="register-model-version")
    assert (event.outcome, event.reason) == ("failed", "artifact-refused")
    assert "posix.system" in event.payload or "os.system" in event.payload


def test_four_eyes(env, model_file) -> None:
    services, p = env
    reg = services.registry
    reg.register(p["carol"], "fraud", model_file, SERVABLE)
    with pytest.raises(FourEyesViolation):
        reg.approve(p["carol"], "fraud", 1)  # approver, but the registrant
    reg.register(p["root"], "fraud", model_file, SERVABLE)
    with pytest.raises(FourEyesViolation):
        reg.approve(p["root"], "fraud", 2)  # an admin cannot approve their own either
    with pytest.raises(Forbidden):
        reg.approve(p["alice"], "fraud", 1)  # data scientists cannot approve at all
    assert reg.approve(p["bob"], "fraud", 1, "looks good").stage == "approved"
    # Someone else's version, but root made carol's account and key: root could act as
    # carol, so carol's approval would be a second pair of root's eyes (issue 11).
    with pytest.raises(FourEyesViolation):
        reg.approve(p["carol"], "fraud", 2)
    denied = [(e.actor, e.reason) for e in _events(services, outcome="denied",
                                                     action="approve-model-version")]
    assert denied == [("carol", "four-eyes-violation"), ("root", "four-eyes-violation"),
                      ("alice", "no-role-grants-action"), ("carol", "four-eyes-violation")]


def test_promotion_needs_approval_and_rollback_restores(env, model_file) -> None:
    services, p = env
    reg = services.registry
    for _ in range(3):
        reg.register(p["alice"], "fraud", model_file, SERVABLE)
    with pytest.raises(ApprovalRequired):
        reg.promote(p["bob"], "fraud", 1)
    for n in (1, 2, 3):
        reg.approve(p["bob"], "fraud", n)
    reg.promote(p["bob"], "fraud", 1)
    with pytest.raises(InvalidTransition):
        reg.approve(p["bob"], "fraud", 1)  # approving again must not demote production
    assert reg.production("fraud").version == 1
    reg.promote(p["bob"], "fraud", 2)
    assert reg.production("fraud").version == 2
    assert reg.get("fraud", 1).stage == "approved"
    reg.promote(p["bob"], "fraud", 3, stage="shadow")
    restored = reg.rollback(p["bob"], "fraud", "bad precision")
    assert restored.version == 1 and reg.production("fraud").version == 1
    assert reg.get("fraud", 2).stage == "approved"
    with pytest.raises(Forbidden):
        reg.rollback(p["alice"], "fraud")
    reg.retire(p["bob"], "fraud", 2)
    with pytest.raises(Conflict):
        reg.rollback(p["bob"], "fraud")  # version 2 was retired: nothing to go back to
    with pytest.raises(InvalidTransition):
        reg.promote(p["bob"], "fraud", 2)
    rollback = _events(services, action="rollback-model")
    assert [(e.actor, e.outcome) for e in rollback] == [("bob", "ok"), ("alice", "denied"),
                                                         ("bob", "failed")]


def _tamper_cases(services, p, model_file):
    reg = services.registry
    reg.register(p["alice"], "fraud", model_file)
    other = model_file.with_name("other.pkl")
    other.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    reg.register(p["alice"], "fraud", other)
    return reg


def test_flipped_byte_is_refused_and_audited(env, model_file) -> None:
    services, p = env
    reg = _tamper_cases(services, p, model_file)
    path = reg._artifacts.path("fraud", 1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DecryptionFailed):
        services.loader.load("fraud", 1)
    with pytest.raises(DecryptionFailed):
        reg.verify(p["dan"], "fraud", 1)
    reasons = [(e.action, e.reason) for e in _events(services, outcome="failed")]
    assert ("load-model-version", "decryption-failed") in reasons
    assert ("verify-model-version", "decryption-failed") in reasons


def test_swapped_files_are_refused(env, model_file) -> None:
    services, p = env
    reg = _tamper_cases(services, p, model_file)
    a, b = reg._artifacts.path("fraud", 1), reg._artifacts.path("fraud", 2)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    for version in (1, 2):
        with pytest.raises(DecryptionFailed):
            services.loader.load("fraud", version)


def _set_manifest(services, version: int, manifest: dict) -> None:
    import json

    from sqlalchemy import text

    with services.store.engine.begin() as conn:
        conn.execute(text("UPDATE model_versions SET manifest = :m WHERE name = 'fraud' AND "
                          "version = :v"), {"m": json.dumps(manifest), "v": version})


def test_replaced_manifest_is_refused(env, model_file) -> None:
    services, p = env
    reg = _tamper_cases(services, p, model_file)
    v2 = reg.get("fraud", 2)
    _set_manifest(services, 1, v2.manifest)  # a valid signature, for another artifact
    with pytest.raises(InvalidSignature):
        services.loader.load("fraud", 1)
    from garrison.signing import verify_json

    statement = verify_json(services.keyring, v2.manifest,
                            payload_type="application/vnd.in-toto+json")
    forged = sign_json(Keyring.generate(), "application/vnd.in-toto+json", statement)
    _set_manifest(services, 2, forged)  # the right statement, signed by an unknown key
    with pytest.raises(InvalidSignature):
        services.loader.load("fraud", 2)
    failed = [e.reason for e in _events(services, action="load-model-version",
                                        outcome="failed")]
    assert failed == ["invalid-signature", "invalid-signature"]


def test_key_rotation_keeps_old_signatures_valid(env, model_file) -> None:
    services, p = env
    reg = services.registry
    reg.register(p["alice"], "fraud", model_file)
    old = services.keyring.active_id
    new = services.keyring.rotate()
    reg.register(p["alice"], "fraud", model_file)
    assert reg.verify(p["dan"], "fraud", 1)["signed_by"] == [old]
    assert reg.verify(p["dan"], "fraud", 2)["signed_by"] == [new]


def test_download_needs_permission_and_is_audited(env, model_file) -> None:
    services, p = env
    services.registry.register(p["alice"], "fraud", model_file)
    with pytest.raises(Forbidden):
        services.registry.download(p["dan"], "fraud", 1)
    data = services.registry.download(p["alice"], "fraud", 1)
    assert data == model_file.read_bytes()
    events = [(e.actor, e.outcome) for e in _events(services, action="download-artifact")]
    assert events == [("dan", "denied"), ("alice", "ok")]


def test_context_binds_blob_to_version(env, model_file) -> None:
    services, p = env
    v = services.registry.register(p["alice"], "fraud", model_file)
    with pytest.raises(DecryptionFailed):
        services.registry._artifacts.get("fraud", 1, artifact_context("fraud", 2, v.digest))
