"""Explanations for native XGBoost and LightGBM boosters, as the gateway loads them
(issue 12): contributions plus the base value add up to the booster's raw margin, with
the booster's own TreeSHAP, NaN rows included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from garrison.explain import explainer_for
from garrison.registry.loader import loader_for
from garrison.scanning import DEFAULT_POLICY

xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")

NAMES = ["age", "income", "debt", "tenure"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=NAMES)
    binary = (X["income"] - X["debt"] > 0).astype(int).to_numpy()
    multi = np.digitize(X["age"] + X["tenure"], [-0.5, 0.5])
    return X, binary, multi


def _rows(X: pd.DataFrame) -> np.ndarray:
    rows = X.to_numpy(dtype=np.float64)[:20].copy()
    rows[::5, 1] = np.nan
    return rows


def _xgb(X, y, objective, **params):  # type: ignore[no-untyped-def]
    booster = xgboost.train({"objective": objective, "max_depth": 3, "nthread": 1, **params},
                            xgboost.DMatrix(X, label=y), num_boost_round=6)
    raw = bytes(booster.save_raw(raw_format="json"))
    return loader_for("xgboost-json")(raw, DEFAULT_POLICY)  # type: ignore[misc]


def _lgb(X, y, objective, **params):  # type: ignore[no-untyped-def]
    booster = lightgbm.train({"objective": objective, "verbose": -1, "num_threads": 1,
                              **params}, lightgbm.Dataset(X, label=y), num_boost_round=6)
    return loader_for("lightgbm")(booster.model_to_string().encode(), DEFAULT_POLICY)  # type: ignore[misc]


def test_native_xgboost_binary_and_multiclass(data) -> None:
    X, binary, multi = data
    rows = _rows(X)
    booster = _xgb(X, binary, "binary:logistic")
    explanations = explainer_for(booster, NAMES).explain(rows)
    margin = booster.predict(xgboost.DMatrix(rows, feature_names=NAMES), output_margin=True)
    for e, m in zip(explanations, margin, strict=True):
        d = e.to_dict()
        assert d["output_space"] == "log-odds" and d["target"] == "1"
        assert d["base_value"] + sum(d["contributions"].values()) == pytest.approx(m, abs=1e-4)
    booster = _xgb(X, multi, "multi:softprob", num_class=3)
    d = explainer_for(booster, NAMES).explain(rows[:3])[0].to_dict()
    assert d["output_space"] == "logit"


def test_native_lightgbm_binary_and_regression(data) -> None:
    X, binary, _ = data
    rows = _rows(X)
    booster = _lgb(X, binary, "binary")
    explanations = explainer_for(booster, NAMES).explain(rows)
    raw = booster.predict(rows, raw_score=True)
    for e, r in zip(explanations, raw, strict=True):
        d = e.to_dict()
        assert d["output_space"] == "log-odds"
        assert d["base_value"] + sum(d["contributions"].values()) == pytest.approx(r, abs=1e-9)
    booster = _lgb(X, X["income"].to_numpy(), "regression")
    d = explainer_for(booster, NAMES).explain(rows[:2])[0].to_dict()
    assert d["output_space"] == "raw-score"
    assert d["base_value"] + sum(d["contributions"].values()) == pytest.approx(
        booster.predict(rows[:1])[0], abs=1e-9)


def test_native_booster_names_must_fit(data) -> None:
    from garrison.errors import InvalidInput

    X, binary, _ = data
    with pytest.raises(InvalidInput):
        explainer_for(_lgb(X, binary, "binary"), NAMES[:3])
