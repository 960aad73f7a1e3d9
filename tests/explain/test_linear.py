"""Exact linear explanations: local accuracy, original feature space, baselines, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import SVC, LinearSVC

from garrison.errors import InvalidInput, SchemaViolation, UnsupportedModel
from garrison.explain import Explainer, ensure_explainable, explain, explainer_for

TOL = 1e-9


def _data(loader):
    X, y = loader(return_X_y=True)
    return X, y, [f"x{i}" for i in range(X.shape[1])]


CANCER = _data(load_breast_cancer)
WINE = _data(load_wine)
DIABETES = _data(load_diabetes)


def _scores(model, X):
    score = model.decision_function if hasattr(model, "decision_function") else model.predict
    return score(X).reshape(len(X), -1)


CASES = [
    ("cancer-logreg", CANCER, lambda: make_pipeline(StandardScaler(), LogisticRegression())),
    ("wine-logreg", WINE, lambda: make_pipeline(StandardScaler(), LogisticRegression())),
    ("cancer-linearsvc", CANCER, lambda: make_pipeline(StandardScaler(), LinearSVC())),
    ("cancer-svc", CANCER, lambda: make_pipeline(RobustScaler(), SVC(kernel="linear"))),
    ("wine-minmax", WINE, lambda: make_pipeline(MinMaxScaler(), LogisticRegression())),
    ("wine-maxabs", WINE, lambda: make_pipeline(MaxAbsScaler(), LinearSVC())),
    (
        "wine-chain",
        WINE,
        lambda: make_pipeline(
            RobustScaler(), "passthrough", StandardScaler(), LogisticRegression()
        ),
    ),
    (
        "cancer-sgd",
        CANCER,
        lambda: make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)),
    ),
    ("diabetes-ols", DIABETES, LinearRegression),
    ("diabetes-ridge", DIABETES, lambda: Ridge(alpha=0.5)),
    ("diabetes-lasso", DIABETES, lambda: Lasso(alpha=0.05)),
    ("diabetes-enet", DIABETES, lambda: ElasticNet(alpha=0.01)),
    ("diabetes-scaled-ridge", DIABETES, lambda: make_pipeline(StandardScaler(), Ridge())),
]


@pytest.mark.parametrize(("case", "data", "build"), CASES, ids=[c[0] for c in CASES])
def test_contributions_sum_to_the_models_own_score(case, data, build):
    X, y, names = data
    model = build().fit(X, y)
    explainer = explainer_for(model, names)
    phi, output = explainer.contributions(X)
    expected = _scores(model, X)
    assert np.abs(output - expected).max() < TOL
    assert np.abs(explainer.base_values + phi.sum(axis=2) - expected).max() < TOL
    # The same holds through the public Explanation objects.
    for row, explanation in zip(expected[:5], explain(model, X[:5], names), strict=True):
        assert _total(explanation) == pytest.approx(row.tolist(), abs=TOL)


def _total(explanation):
    """base + sum(contributions) per output, as a list."""
    if explanation.target is not None or not isinstance(explanation.base_value, dict):
        return [explanation.base_value + sum(explanation.contributions.values())]
    return [
        explanation.base_value[label] + sum(explanation.contributions[label].values())
        for label in explanation.base_value
    ]


def test_multiclass_explanations_are_per_class_logits():
    X, y, names = WINE
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    [explanation] = explain(model, X[:1], names)
    assert explanation.output_space == "logit"
    assert explanation.target is None
    assert set(explanation.contributions) == {"0", "1", "2"}
    logits = model.decision_function(X[:1])[0]
    for k, label in enumerate(("0", "1", "2")):
        total = explanation.base_value[label] + sum(explanation.contributions[label].values())
        assert abs(total - logits[k]) < TOL
        assert abs(explanation.output_value[label] - logits[k]) < TOL


def test_binary_logistic_explains_the_positive_class_in_log_odds():
    X, y, names = CANCER
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    [explanation] = explain(model, X[:1], names)
    assert explanation.output_space == "log-odds"
    assert explanation.target == "1"
    proba = model.predict_proba(X[:1])[0, 1]
    assert abs(1.0 / (1.0 + np.exp(-explanation.output_value)) - proba) < 1e-12


def test_contributions_are_in_original_feature_space():
    # Changing one ORIGINAL feature moves only its own contribution, by the score change.
    X, y, names = WINE
    model = make_pipeline(RobustScaler(), StandardScaler(), LogisticRegression()).fit(X, y)
    explainer = explainer_for(model, names)
    x = X[10].copy()
    moved = x.copy()
    moved[4] += 7.5
    phi_x, _ = explainer.contributions(x)
    phi_m, _ = explainer.contributions(moved)
    delta = phi_m - phi_x
    assert np.abs(np.delete(delta, 4, axis=2)).max() < TOL
    score_change = model.decision_function(moved[None])[0] - model.decision_function(x[None])[0]
    assert np.abs(delta[0, :, 4] - score_change).max() < TOL


def test_default_baseline_is_the_scalers_training_mean():
    X, y, names = CANCER
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    explainer = explainer_for(model, names)
    assert explainer.baseline == "scaler-mean"
    at_mean = model.decision_function(X.mean(axis=0, keepdims=True))[0]
    assert abs(explainer.base_values[0] - at_mean) < TOL
    # At the baseline point every contribution is zero.
    phi, _ = explainer.contributions(X.mean(axis=0))
    assert np.abs(phi).max() < TOL


def test_background_mean_overrides_the_default_baseline():
    X, y, names = DIABETES
    model = LinearRegression().fit(X, y)
    assert explainer_for(model, names).baseline == "zero"
    assert abs(explainer_for(model, names).base_values[0] - model.intercept_) < TOL
    background = X[:100]
    explainer = Explainer.for_model(model, names, background)
    assert explainer.baseline == "background-mean"
    assert abs(explainer.base_values[0] - model.predict(background).mean()) < TOL
    [explanation] = explainer.explain(X[200])
    assert explanation.baseline == "background-mean"
    total = explanation.base_value + sum(explanation.contributions.values())
    assert abs(total - model.predict(X[200:201])[0]) < TOL


@pytest.mark.parametrize(
    "build",
    [
        lambda: make_pipeline(MinMaxScaler(clip=True), LogisticRegression()),
        lambda: make_pipeline(StandardScaler(), SVC(kernel="linear")),  # Three classes: votes.
    ],
    ids=["minmax-clip", "multiclass-svc"],
)
def test_non_additive_configurations_are_refused(build):
    X, y, names = WINE
    model = build().fit(X, y)
    with pytest.raises(UnsupportedModel):
        explainer_for(model, names)


def test_rbf_svc_and_multi_target_regression_are_refused():
    X, y, _ = CANCER
    rbf = SVC(kernel="rbf").fit(StandardScaler().fit_transform(X), y)
    with pytest.raises(UnsupportedModel):
        ensure_explainable(rbf)
    Xd, yd, nd = DIABETES
    two_targets = LinearRegression().fit(Xd, np.c_[yd, -yd])
    with pytest.raises(UnsupportedModel):
        explainer_for(two_targets, nd)


def test_bad_rows_and_names_are_rejected():
    X, y, names = DIABETES
    explainer = explainer_for(Ridge().fit(X, y), names)
    with pytest.raises(SchemaViolation):
        explainer.explain(X[:2, :5])
    bad = X[:2].copy()
    bad[0, 3] = np.nan
    with pytest.raises(SchemaViolation):
        explainer.explain(bad)
    with pytest.raises(SchemaViolation):
        explainer.explain([["a"] * 10])
    with pytest.raises(InvalidInput):
        explainer_for(Ridge().fit(X, y), names[:-1])
    with pytest.raises(InvalidInput):
        explainer_for(Ridge().fit(X, y), ["same"] * 10)
    with pytest.raises(InvalidInput):
        explainer_for(Ridge().fit(X, y), names, background=np.ones(3))
