"""Native XGBoost and LightGBM boosters serve like the libraries predict.

Each booster goes through its saved format and the registry's loader, as in the
gateway: feature names survive, missing values are the boosters' own, and each
objective gives probabilities (classifiers) or values (regressors) equal to the
library's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from garrison.registry.loader import loader_for
from garrison.scanning import DEFAULT_POLICY
from garrison.serving.runtime import BoosterRuntime, runtime_for

xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")

NAMES = ["age", "income", "debt", "tenure"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=NAMES)
    binary = (X["income"] - X["debt"] + rng.normal(scale=0.3, size=400) > 0).astype(int)
    multi = np.digitize(X["age"] + 0.5 * X["tenure"], [-0.5, 0.5])
    return X, binary.to_numpy(), multi


def _rows(X: pd.DataFrame) -> np.ndarray:
    rows = X.to_numpy(dtype=np.float64)[:50].copy()
    rows[::7, 2] = np.nan  # Missing values go through as the boosters' own missing value.
    return rows


def _served_xgboost(booster) -> BoosterRuntime:  # type: ignore[no-untyped-def]
    raw = bytes(booster.save_raw(raw_format="json"))
    model = loader_for("xgboost-json")(raw, DEFAULT_POLICY)  # type: ignore[misc]
    runtime = runtime_for(model, "xgboost-json", NAMES)
    assert isinstance(runtime, BoosterRuntime)
    return runtime


def _served_lightgbm(booster) -> BoosterRuntime:  # type: ignore[no-untyped-def]
    model = loader_for("lightgbm")(booster.model_to_string().encode(), DEFAULT_POLICY)  # type: ignore[misc]
    runtime = runtime_for(model, "lightgbm", NAMES)
    assert isinstance(runtime, BoosterRuntime)
    return runtime


def _xgb(X, y, objective: str, **params):  # type: ignore[no-untyped-def]
    matrix = xgboost.DMatrix(X, label=y)  # A DataFrame: the booster keeps the names.
    return xgboost.train({"objective": objective, "max_depth": 3, "nthread": 1, **params},
                         matrix, num_boost_round=8)


def test_xgboost_booster_with_feature_names_answers(data) -> None:
    X, y, _ = data
    booster = _xgb(X, y, "binary:logistic")
    assert booster.feature_names == NAMES
    runtime = _served_xgboost(booster)
    rows = _rows(X)
    out = runtime.predict(rows)
    expected = booster.predict(xgboost.DMatrix(pd.DataFrame(rows, columns=NAMES)))
    assert out.scores is not None and np.allclose(out.scores[:, 1], expected, atol=1e-6)
    assert np.array_equal(out.labels, (expected > 0.5).astype(int))


def test_xgboost_logitraw_margins_become_probabilities(data) -> None:
    X, y, _ = data
    booster = _xgb(X, y, "binary:logitraw")
    out = _served_xgboost(booster).predict(_rows(X))
    margin = booster.predict(xgboost.DMatrix(pd.DataFrame(_rows(X), columns=NAMES)))
    assert np.allclose(out.scores[:, 1], 1 / (1 + np.exp(-margin)), atol=1e-6)  # type: ignore[index]


def test_xgboost_softmax_gives_probabilities_and_the_same_classes(data) -> None:
    X, _, y = data
    softmax = _xgb(X, y, "multi:softmax", num_class=3)
    softprob = _xgb(X, y, "multi:softprob", num_class=3)
    rows = _rows(X)
    frame = xgboost.DMatrix(pd.DataFrame(rows, columns=NAMES))
    out = _served_xgboost(softmax).predict(rows)
    assert out.scores is not None and out.scores.shape == (50, 3)
    assert np.allclose(out.scores.sum(axis=1), 1.0)
    assert np.array_equal(out.labels, softmax.predict(frame).astype(int))
    prob = _served_xgboost(softprob).predict(rows)
    assert np.allclose(prob.scores, softprob.predict(frame), atol=1e-6)  # type: ignore[arg-type]


def test_xgboost_regression_returns_values(data) -> None:
    X, _, _ = data
    target = X["income"].to_numpy() * 2
    booster = _xgb(X, target, "reg:squarederror")
    out = _served_xgboost(booster).predict(_rows(X))
    assert out.scores is None
    expected = booster.predict(xgboost.DMatrix(pd.DataFrame(_rows(X), columns=NAMES)))
    assert np.allclose(out.labels, expected, atol=1e-5)


@pytest.mark.parametrize("objective", ["binary", "cross_entropy"])
def test_lightgbm_binary_booster(data, objective: str) -> None:
    X, y, _ = data
    booster = lightgbm.train({"objective": objective, "verbose": -1, "num_threads": 1},
                             lightgbm.Dataset(X, label=y), num_boost_round=8)
    runtime = _served_lightgbm(booster)
    rows = _rows(X)
    out = runtime.predict(rows)
    expected = booster.predict(rows)
    assert out.scores is not None and np.allclose(out.scores[:, 1], expected)
    assert runtime.model.feature_name() == NAMES


def test_lightgbm_multiclass_and_regression(data) -> None:
    X, _, y = data
    multi = lightgbm.train({"objective": "multiclass", "num_class": 3, "verbose": -1},
                           lightgbm.Dataset(X, label=y), num_boost_round=5)
    rows = _rows(X)
    out = _served_lightgbm(multi).predict(rows)
    assert np.allclose(out.scores, multi.predict(rows))  # type: ignore[arg-type]
    assert np.array_equal(out.labels, multi.predict(rows).argmax(axis=1))
    regression = lightgbm.train({"objective": "regression", "verbose": -1},
                                lightgbm.Dataset(X, label=X["income"]), num_boost_round=5)
    values = _served_lightgbm(regression).predict(rows)
    assert values.scores is None and np.allclose(values.labels, regression.predict(rows))


def test_categorical_boosters_are_refused_with_a_reason(data) -> None:
    from garrison.errors import UnsupportedModel

    X, y, _ = data
    frame = X.assign(region=pd.Categorical(np.where(X["age"] > 0, "north", "south")))
    booster = lightgbm.train({"objective": "binary", "verbose": -1},
                             lightgbm.Dataset(frame, label=y), num_boost_round=3)
    model = loader_for("lightgbm")(booster.model_to_string().encode(), DEFAULT_POLICY)  # type: ignore[misc]
    with pytest.raises(UnsupportedModel, match="pandas categoricals"):
        runtime_for(model, "lightgbm", [*NAMES, "region"])
