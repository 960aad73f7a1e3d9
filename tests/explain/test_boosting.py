"""XGBoost and LightGBM through their built-in exact TreeSHAP."""

from __future__ import annotations

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from garrison.explain import explain, explainer_for, spec_for

CANCER = load_breast_cancer(return_X_y=True)
WINE = load_wine(return_X_y=True)
DIABETES = load_diabetes(return_X_y=True)

CASES = [
    (
        "xgb-binary",
        lambda: xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1),
        CANCER,
        "log-odds",
    ),
    (
        "xgb-multi",
        lambda: xgboost.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1),
        WINE,
        "logit",
    ),
    (
        "xgb-reg",
        lambda: xgboost.XGBRegressor(n_estimators=20, max_depth=3, n_jobs=1),
        DIABETES,
        "raw-score",
    ),
    (
        "lgbm-binary",
        lambda: lightgbm.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1),
        CANCER,
        "log-odds",
    ),
    (
        "lgbm-multi",
        lambda: lightgbm.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1),
        WINE,
        "logit",
    ),
    (
        "lgbm-reg",
        lambda: lightgbm.LGBMRegressor(n_estimators=20, verbose=-1, n_jobs=1),
        DIABETES,
        "raw-score",
    ),
]


def _margin(model, X):
    if model.__class__.__module__.startswith("xgboost"):
        return model.predict(X, output_margin=True).reshape(len(X), -1)
    return model.predict(X, raw_score=True).reshape(len(X), -1)


@pytest.mark.parametrize(("case", "build", "data", "space"), CASES, ids=[c[0] for c in CASES])
def test_local_accuracy_in_margin_space(case, build, data, space):
    X, y = data
    model = build().fit(X, y)
    names = [f"x{i}" for i in range(X.shape[1])]
    explainer = explainer_for(model, names)
    assert explainer.output_space == space
    assert spec_for(model).id == explainer.method
    base, phi, output = explainer.contributions(X[:50])
    margin = _margin(model, X[:50])
    scale = max(1.0, float(np.abs(margin).max()))
    assert np.abs(output - margin).max() < 1e-5 * scale
    assert np.abs(base + phi.sum(axis=2) - margin).max() < 1e-5 * scale
    explanations = explain(model, X[:3], names)
    assert len(explanations) == 3
    if space == "logit":
        assert set(explanations[0].contributions) == {"0", "1", "2"}
    else:
        assert len(explanations[0].contributions) == X.shape[1]


def test_a_feature_the_model_never_uses_gets_zero():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    X[:, [1, 3]] = 0.5  # Constant columns can never be split on.
    y = 3 * X[:, 0] - X[:, 2]
    model = xgboost.XGBRegressor(n_estimators=15, max_depth=3, n_jobs=1).fit(X, y)
    _, phi, _ = explainer_for(model, ["a", "b", "c", "d"]).contributions(rng.normal(size=(20, 4)))
    assert np.abs(phi[:, 0, [1, 3]]).max() == 0.0
    assert np.abs(phi[:, 0, 0]).max() > 0.1


@pytest.mark.parametrize(
    "build",
    [
        lambda: xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1),
        lambda: lightgbm.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1),
    ],
    ids=["xgb", "lgbm"],
)
def test_a_model_fitted_on_a_dataframe_is_explained(build):
    X, y = CANCER
    names = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=names)
    model = build().fit(frame, y)
    explainer = explainer_for(model, names)
    for rows in (frame.iloc[:40], X[:40]):
        base, phi, output = explainer.contributions(rows)
        margin = _margin(model, frame.iloc[:40])
        scale = max(1.0, float(np.abs(margin).max()))
        assert np.abs(output - margin).max() < 1e-5 * scale
        assert np.abs(base + phi.sum(axis=2) - margin).max() < 1e-5 * scale
    explanations = explain(model, frame.iloc[:3], names)
    assert len(explanations) == 3
    assert set(explanations[0].contributions) == set(names)
