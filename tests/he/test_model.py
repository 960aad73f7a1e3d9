"""Compiling scikit-learn models into plain weights (no encryption involved)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR

from garrison.errors import InvalidInput, UnsupportedModel
from garrison.he import LinearHEModel, compile_model

RNG = np.random.default_rng(0)
Xc, yc = make_classification(200, 6, n_informative=4, random_state=0)
Xc = Xc * RNG.uniform(0.1, 50, 6) + RNG.uniform(-100, 100, 6)  # Uneven raw scales.
Xm, ym = make_classification(200, 6, n_informative=4, n_classes=4, random_state=1)
ym_labels = np.array(["ant", "bee", "cat", "dog"])[ym]
Xr, yr = make_regression(200, 6, n_targets=1, random_state=2)
Xr2, yr2 = make_regression(200, 6, n_targets=3, random_state=3)

CLASSIFIERS = {
    "logistic": (LogisticRegression(max_iter=2000), Xc, yc),
    "logistic-multi": (LogisticRegression(max_iter=2000), Xm, ym_labels),
    "ridge-classifier": (RidgeClassifier(), Xm, ym),
    "linear-svc": (LinearSVC(max_iter=20_000), Xc, yc),
    "linear-svc-multi": (LinearSVC(max_iter=20_000), Xm, ym),
    "svc-linear": (make_pipeline(StandardScaler(), SVC(kernel="linear")), Xc, yc),
    "svc-linear-ovo": (SVC(kernel="linear"), Xm, ym_labels),
    "scaled-logistic": (make_pipeline(StandardScaler(), LogisticRegression()), Xc, yc),
    "minmax-svc": (make_pipeline(MinMaxScaler(), LinearSVC(max_iter=20_000)), Xm, ym),
    "two-scalers": (make_pipeline(MaxAbsScaler(), StandardScaler(), LogisticRegression()), Xc, yc),
    "passthrough": (make_pipeline("passthrough", StandardScaler(), RidgeClassifier()), Xc, yc),
    "no-mean": (make_pipeline(StandardScaler(with_mean=False), LogisticRegression()), Xc, yc),
}
REGRESSORS = {
    "linear": (LinearRegression(), Xr, yr),
    "linear-multi-target": (LinearRegression(), Xr2, yr2),
    "ridge": (Ridge(), Xr, yr),
    "lasso": (Lasso(alpha=0.5), Xr, yr),
    "elastic-net": (ElasticNet(), Xr2, yr2),
    "linear-svr": (make_pipeline(StandardScaler(), LinearSVR(max_iter=20_000)), Xr, yr),
    "svr-linear": (SVR(kernel="linear"), Xr, yr),
}


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classifiers_compile_exactly(name: str) -> None:
    est, X, y = CLASSIFIERS[name]
    est.fit(X, y)
    model = compile_model(est)
    predictions = model.predict(X)
    assert predictions == list(est.predict(X))
    expected = est.decision_function(X).reshape(len(X), -1)
    if model.kind == "ovo":
        final = est[-1] if hasattr(est, "steps") else est
        final.decision_function_shape = "ovo"
        expected = est.decision_function(X)
    np.testing.assert_allclose(model.scores(X), expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_regressors_compile_exactly(name: str) -> None:
    est, X, y = REGRESSORS[name]
    est.fit(X, y)
    model = compile_model(est)
    assert model.kind == "regression" and model.classes is None
    np.testing.assert_allclose(model.scores(X), est.predict(X).reshape(len(X), -1),
                               rtol=1e-8, atol=1e-6)


def test_kinds_and_probability_links() -> None:
    binary = compile_model(LogisticRegression().fit(Xc, yc))
    assert (binary.kind, binary.probability, binary.n_outputs) == ("binary", "sigmoid", 1)
    multi = compile_model(LogisticRegression(max_iter=2000).fit(Xm, ym_labels))
    assert (multi.kind, multi.probability, multi.classes) == (
        "multiclass", "softmax", ("ant", "bee", "cat", "dog"))
    ovo = compile_model(SVC(kernel="linear").fit(Xm, ym))
    assert (ovo.kind, ovo.n_outputs, ovo.probability) == ("ovo", 6, None)
    assert binary.source == "LogisticRegression"
    scaled = compile_model(make_pipeline(StandardScaler(), LogisticRegression()).fit(Xc, yc))
    assert scaled.source == "StandardScaler -> LogisticRegression"


@pytest.mark.parametrize("est, message", [
    (RandomForestClassifier(n_estimators=3), "not a fitted linear model"),
    (SVC(kernel="rbf"), "kernel='rbf'"),
    (SVC(kernel="linear", break_ties=True, decision_function_shape="ovr"), "break_ties"),
    (make_pipeline(MinMaxScaler(clip=True), LogisticRegression()), "clip=True"),
    (make_pipeline(PolynomialFeatures(2), LogisticRegression()), "PolynomialFeatures"),
])
def test_unsupported_models_are_refused_with_a_clear_message(est, message: str) -> None:
    est.fit(Xm, ym)
    with pytest.raises(UnsupportedModel, match=message):
        compile_model(est)


def test_unfitted_models_are_refused() -> None:
    with pytest.raises(UnsupportedModel, match="not a fitted"):
        compile_model(LogisticRegression())


def test_round_trip_through_json() -> None:
    model = compile_model(LogisticRegression(max_iter=2000).fit(Xm, ym_labels))
    again = LinearHEModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(again.weights, model.weights)
    np.testing.assert_array_equal(again.bias, model.bias)
    assert (again.kind, again.classes, again.probability) == (
        model.kind, model.classes, model.probability)
    assert again.to_dict() == model.to_dict()
    with pytest.raises(ValueError):
        again.weights[0, 0] = 1.0  # Read-only: a deployed model cannot be changed in place.


@pytest.mark.parametrize("change", [
    {"format": "other"}, {"version": 2}, {"n_features": 5}, {"kind": "ranking"},
    {"weights": [[1.0, float("nan")] * 3]}, {"classes": ["ant", "ant", "cat", "dog"]},
    {"bias": [0.0]}, {"weights": "oops"},
])
def test_malformed_model_documents_are_refused(change: dict) -> None:
    doc = compile_model(LogisticRegression(max_iter=2000).fit(Xm, ym)).to_dict() | change
    with pytest.raises(InvalidInput):
        LinearHEModel.from_dict(doc)
