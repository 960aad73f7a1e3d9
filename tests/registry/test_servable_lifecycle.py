"""Only servable versions reach a serving stage: checked at registration, and again on
the exact signed artifact before approve, promote, rollback and a fallback assignment.

Every check is an audit event; a failed one refuses the transition with the reason.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from garrison.audit import AuditQuery
from garrison.errors import InvalidInput, ModelNotServable
from tests.registry.helpers import SERVABLE, servable_model_bytes

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

rng = np.random.default_rng(11)
TRAIN = pd.DataFrame({"age": rng.integers(18, 80, 200).astype(float),
                      "income": rng.normal(50, 10, 200), "debt": rng.normal(10, 3, 200)})
TRAIN["label"] = (TRAIN["income"] - 3 * TRAIN["debt"] > 20).astype(int)
FEATURES = ["age", "income", "debt"]


@pytest.fixture(scope="module")
def named_model() -> bytes:
    model = LogisticRegression(max_iter=500).fit(TRAIN[FEATURES], TRAIN["label"])
    return pickle.dumps(model, protocol=5)


def _files(tmp_path, model: bytes, frame: pd.DataFrame, name: str = "train.csv"):  # type: ignore[no-untyped-def]
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(model)
    reference = tmp_path / name
    frame.to_csv(reference, index=False)
    return artifact, reference


def _events(services, **filters):  # type: ignore[no-untyped-def]
    return services.store.query(AuditQuery(limit=None, **filters))


def test_a_reference_with_the_label_is_refused_and_target_fixes_it(env, tmp_path,
                                                                   named_model) -> None:
    services, p = env
    artifact, reference = _files(tmp_path, named_model, TRAIN)
    with pytest.raises(ModelNotServable, match="does not take: label") as refused:
        services.registry.register(p["alice"], "credit", artifact, reference=reference)
    assert "--target label" in refused.value.message
    with services.store.read() as tx:
        assert tx.models.list_versions() == []
    [failed] = _events(services, action="register-model-version", outcome="failed")
    assert failed.reason == "model-not-servable"
    assert json.loads(failed.payload)["inputs"]["names"] == FEATURES

    v = services.registry.register(p["alice"], "credit", artifact, reference=reference,
                                   target="label")
    assert v.metadata.input_schema is not None
    assert v.metadata.input_schema.names == FEATURES
    frame = services.registry.reference_frame(v)
    assert list(frame.columns) == FEATURES


def test_renamed_and_reordered_columns(env, tmp_path, named_model) -> None:
    services, p = env
    renamed = TRAIN.rename(columns={"age": "AGE"})
    artifact, reference = _files(tmp_path, named_model, renamed)
    with pytest.raises(ModelNotServable, match="'AGE' differs from the model's 'age' only"):
        services.registry.register(p["alice"], "credit", artifact, reference=reference,
                                   target="label")
    # Columns in another order are put into the model's order, sample included.
    shuffled = TRAIN[["debt", "label", "income", "age"]]
    artifact, reference = _files(tmp_path, named_model, shuffled, "shuffled.csv")
    v = services.registry.register(p["alice"], "credit", artifact, reference=reference,
                                   target="label")
    assert v.metadata.input_schema.names == FEATURES  # type: ignore[union-attr]
    assert list(services.registry.reference_frame(v).columns) == FEATURES
    # Written by hand in another order, the schema is refused instead.
    explicit = {"input_schema": {"features": [{"name": n} for n in reversed(FEATURES)]}}
    with pytest.raises(ModelNotServable, match="another order than the model"):
        services.registry.register(p["alice"], "credit", artifact, explicit)


def test_a_row_id_and_unknown_columns(env, tmp_path) -> None:
    services, p = env
    unnamed = LogisticRegression().fit(TRAIN[FEATURES].to_numpy(), TRAIN["label"])
    with_index = TRAIN.reset_index()  # "index": 0..199, the usual accident.
    artifact, reference = _files(tmp_path, pickle.dumps(unnamed), with_index)
    with pytest.raises(ModelNotServable) as refused:
        services.registry.register(p["alice"], "credit", artifact, reference=reference,
                                   target="label")
    assert "likely extra: index" in refused.value.message
    assert "--drop index" in refused.value.message
    v = services.registry.register(p["alice"], "credit", artifact, reference=reference,
                                   target="label", drop=["index"])
    assert v.metadata.input_schema.names == FEATURES  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        services.registry.register(p["alice"], "credit", artifact, reference=reference,
                                   target="nope")
    with pytest.raises(InvalidInput, match="give it with --reference"):
        services.registry.register(p["alice"], "credit", artifact, target="label")


def test_a_latin1_reference_needs_its_encoding(env, tmp_path, named_model) -> None:
    services, p = env
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(named_model)
    reference = tmp_path / "latin.csv"
    text = TRAIN.assign(note="café").to_csv(index=False)
    reference.write_bytes(text.encode("latin-1"))
    with pytest.raises(InvalidInput, match="--encoding"):
        services.registry.register(p["alice"], "credit", artifact, reference=reference,
                                   target="label", drop=["note"])
    v = services.registry.register(p["alice"], "credit", artifact, reference=reference,
                                   target="label", drop=["note"], encoding="latin-1")
    assert v.metadata.input_schema.names == FEATURES  # type: ignore[union-attr]


def test_no_schema_registers_but_never_serves(env, tmp_path) -> None:
    services, p = env
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(servable_model_bytes())
    v = services.registry.register(p["alice"], "sdk", artifact)
    assert v.metadata.input_schema is None
    for move in (lambda: services.registry.approve(p["bob"], "sdk", 1),):
        with pytest.raises(ModelNotServable, match="has no input schema"):
            move()
    assert services.registry.get("sdk", 1).stage == "registered"
    checks = _events(services, action="check-model-version")
    assert [(e.outcome, e.reason) for e in checks] == [("failed", "model-not-servable")]
    [refusal] = _events(services, action="approve-model-version")
    assert (refusal.outcome, refusal.reason) == ("failed", "model-not-servable")
    # With an explicit schema (what the SDK and the admin API can send) it serves.
    services.registry.register(p["alice"], "sdk", artifact, SERVABLE)
    assert services.registry.approve(p["bob"], "sdk", 2).stage == "approved"
    [ok] = _events(services, action="check-model-version", outcome="ok")
    payload = json.loads(ok.payload)
    assert (payload["check"], payload["purpose"], payload["rows"], payload["reference"]) == (
        "servable", "approve", 3, "schema")


def test_storable_only_formats_never_serve(env, tmp_path) -> None:
    from safetensors.numpy import save

    services, p = env
    artifact = tmp_path / "weights.safetensors"
    artifact.write_bytes(save({"w": np.zeros(4, dtype=np.float32)}))
    v = services.registry.register(p["alice"], "weights", artifact, SERVABLE)
    assert v.format == "safetensors"
    with pytest.raises(ModelNotServable, match="stored and downloaded but never served"):
        services.registry.approve(p["bob"], "weights", 1)
    with pytest.raises(InvalidInput, match="cannot be served"):
        ref = tmp_path / "ref.csv"
        TRAIN[[*FEATURES[:1], "label"]].head(20).to_csv(ref, index=False)
        services.registry.register(p["alice"], "weights", artifact, reference=ref,
                                   target="label")


def _break(services, name: str, version: int, stage: str, *,  # type: ignore[no-untyped-def]
           was_production: bool = False) -> None:
    """What a direct database edit (or a version from before these checks) leaves behind:
    the stage, and with ``was_production`` a transition into production in the history."""
    from sqlalchemy import insert, update

    from garrison.storage.tables import model_transitions, model_versions

    with services.store.engine.begin() as conn:
        conn.execute(update(model_versions).where(
            model_versions.c.name == name, model_versions.c.version == version,
        ).values(stage=stage))
        if was_production:
            conn.execute(insert(model_transitions).values(
                name=name, version=version, from_stage="approved", to_stage="production",
                actor="db-edit", reason="edited", created="2026-01-01T00:00:00.000000Z"))


def test_rollback_and_promotion_onto_a_broken_version_are_refused(env, tmp_path) -> None:
    services, p = env
    reg = services.registry
    good = tmp_path / "good.pkl"
    good.write_bytes(servable_model_bytes())
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(pickle.dumps({"coef": [1.0]}))
    reg.register(p["alice"], "churn", broken)            # 1: stored, never servable
    reg.register(p["alice"], "churn", good, SERVABLE)   # 2
    _break(services, "churn", 1, "approved")           # as if approved before the checks
    with pytest.raises(ModelNotServable, match="has no input schema"):
        reg.promote(p["bob"], "churn", 1)
    # Version 1 served once (before these checks existed); version 2 replaced it.
    _break(services, "churn", 1, "approved", was_production=True)
    reg.approve(p["bob"], "churn", 2)
    reg.promote(p["bob"], "churn", 2)
    with pytest.raises(ModelNotServable, match="has no input schema"):
        reg.rollback(p["bob"], "churn", "try the old one")
    assert reg.production("churn").version == 2  # type: ignore[union-attr]
    rollbacks = _events(services, action="rollback-model")
    assert [(e.outcome, e.reason) for e in rollbacks] == [("failed", "model-not-servable")]
    checks = [json.loads(e.payload)["purpose"] for e in
              _events(services, action="check-model-version", outcome="failed")]
    assert checks == ["promote", "rollback"]


def test_a_fallback_must_serve(env, tmp_path) -> None:
    services, p = env
    reg = services.registry
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(pickle.dumps({"coef": [1.0]}))
    reg.register(p["alice"], "churn", broken)
    with pytest.raises(ModelNotServable):
        reg.ensure_servable(p["bob"], "churn", 1, purpose="fallback")
    [event] = _events(services, action="configure-deployment")
    assert (event.actor, event.outcome, event.reason) == ("bob", "failed",
                                                          "model-not-servable")


def test_a_tampered_artifact_fails_its_check(env, tmp_path) -> None:
    services, p = env
    reg = services.registry
    good = tmp_path / "good.pkl"
    good.write_bytes(servable_model_bytes())
    reg.register(p["alice"], "churn", good, SERVABLE)
    path = reg._artifacts.path("churn", 1)
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(Exception) as refused:
        reg.approve(p["bob"], "churn", 1)
    assert getattr(refused.value, "code", "") == "decryption-failed"
    [check] = _events(services, action="check-model-version")
    assert (check.outcome, check.reason) == ("failed", "decryption-failed")
