"""The privacy check: a loss-threshold membership-inference attack on training vs holdout rows."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from garrison.gates.checks.privacy import check_privacy
from garrison.gates.policy import PrivacyThresholds
from tests.gates import candidates
from tests.gates.helpers import context


def _ctx(model: object, with_training: bool = True) -> object:
    train, holdout = candidates.synthetic()
    fitted = model.fit(train.drop(columns="y"), train["y"])  # type: ignore[attr-defined]
    return context(fitted, None, holdout, train if with_training else None)


def test_a_memorizing_model_fails_and_a_generalizing_one_passes() -> None:
    # Distance weighting gives each training row its own label with certainty. (A 1-NN
    # answers 0/1 probabilities: a loss threshold then only sees its generalization gap.)
    memorizer = _ctx(KNeighborsClassifier(15, weights="distance"))
    result = check_privacy(memorizer, PrivacyThresholds())  # type: ignore[arg-type]
    assert not result.passed and "memorizes" in result.reason
    memorized = result.metrics["membership_auc"]
    assert float(memorized) > 0.8
    assert float(result.metrics["max_advantage"]) > 0.1
    result = check_privacy(_ctx(LogisticRegression()), PrivacyThresholds())  # type: ignore[arg-type]
    assert result.passed, result.reason
    assert 0.4 < float(result.metrics["membership_auc"]) < 0.6
    # An unpruned forest fits its in-bag rows closely (AUC well above chance) but does not
    # recall each training row with certainty: the default does not block it.
    forest = check_privacy(_ctx(RandomForestClassifier(random_state=0)), PrivacyThresholds())  # type: ignore[arg-type]
    assert forest.passed, forest.reason
    assert 0.6 < float(forest.metrics["membership_auc"]) < float(memorized)


def test_without_a_training_set_the_check_is_skipped_or_required() -> None:
    ctx = _ctx(LogisticRegression(), with_training=False)
    result = check_privacy(ctx, PrivacyThresholds())  # type: ignore[arg-type]
    assert result.passed and result.skipped and "no training set" in result.reason
    result = check_privacy(ctx, PrivacyThresholds(require_training=True))  # type: ignore[arg-type]
    assert not result.passed and "requires one" in result.reason


def test_sampling_is_bounded_and_seeded() -> None:
    ctx = _ctx(LogisticRegression())
    a = check_privacy(ctx, PrivacyThresholds(sample_rows=100))  # type: ignore[arg-type]
    b = check_privacy(ctx, PrivacyThresholds(sample_rows=100))  # type: ignore[arg-type]
    assert a.metrics["rows_per_side"] == 100
    assert a == b
    assert np.isfinite(float(a.metrics["membership_auc"]))
