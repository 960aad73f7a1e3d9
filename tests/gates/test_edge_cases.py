"""Unusual but legitimate inputs: the gate answers, with every check present, and never crashes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from garrison.gates.evaluate import evaluate
from tests.gates.helpers import policy

ALL = ["performance", "fairness", "robustness", "privacy", "leakage", "calibration"]


def _fits(result: object) -> None:
    checks = result.checks  # type: ignore[attr-defined]
    assert [c.name for c in checks] == ALL
    for check in checks:
        assert "could not run" not in check.reason, check.reason


def test_a_tiny_holdout_skips_what_it_cannot_judge() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "g": rng.choice(["a", "b"], 60)})
    frame["y"] = (frame["x"] > 0).astype(int)
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    result = evaluate(model, model, frame.iloc[:8], policy(sensitive="g"), frame.iloc[8:16])
    _fits(result)
    assert result.check("fairness").skipped
    assert "attack skipped" in result.check("robustness").reason
    assert result.check("privacy").skipped


def test_only_categorical_features_and_boolean_labels() -> None:
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame({"plan": rng.choice(["a", "b", "c"], n), "flag": rng.random(n) > 0.5})
    frame["y"] = ((frame["plan"] == "a") ^ (rng.random(n) < 0.2)).astype(bool)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["plan", "flag"])), LogisticRegression()
    ).fit(frame[["plan", "flag"]], frame["y"])
    result = evaluate(model, None, frame.iloc[300:], policy(), frame.iloc[:300])
    _fits(result)
    assert "no numeric feature" in result.check("robustness").reason
    # Categorical-only rows repeat naturally: most holdout rows are also training rows, and
    # as many are expected from how often they repeat, so that is not contamination.
    leakage = result.check("leakage")
    assert float(leakage.metrics["overlap_fraction"]) > 0.9
    assert float(leakage.metrics["expected_natural_overlap"]) > 0.9
    assert leakage.passed, leakage.reason


def test_dates_and_pandas_categoricals_are_treated_as_categories() -> None:
    rng = np.random.default_rng(2)
    n = 400
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "day": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 5, n), unit="D"),
            "tier": pd.Categorical(rng.choice(["gold", "silver"], n)),
        }
    )
    frame["y"] = (frame["x"] + rng.normal(scale=0.5, size=n) > 0).astype(int)

    class OnX:
        classes_ = np.array([0, 1])

        def predict(self, x: pd.DataFrame) -> np.ndarray:
            assert x["tier"].dtype == "category"
            return (x["x"].to_numpy() > 0).astype(int)

    result = evaluate(OnX(), None, frame, policy())
    _fits(result)
    assert result.passed, result.summary


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_regression_metrics_each_run(metric: str) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    frame["y"] = 2 * frame["a"] - frame["b"] + rng.normal(scale=0.5, size=500)
    train, holdout = frame.iloc[:250], frame.iloc[250:]
    model = LinearRegression().fit(train[["a", "b"]], train["y"])
    result = evaluate(
        model, model, holdout, policy(task="regression", primary_metric=metric), train
    )
    _fits(result)
    assert result.passed, result.summary
    assert result.check("performance").metrics["metric"] == metric


def test_nullable_integer_columns_with_missing_values() -> None:
    rng = np.random.default_rng(4)
    n = 400
    count = pd.array(rng.integers(0, 20, n), dtype="Int64")
    count[::9] = pd.NA
    frame = pd.DataFrame({"x": rng.normal(size=n), "count": count})
    frame["y"] = (frame["x"] + rng.normal(scale=0.5, size=n) > 0).astype(int)

    class OnX:
        classes_ = np.array([0, 1])

        def predict(self, x: pd.DataFrame) -> np.ndarray:
            return (x["x"].to_numpy() > 0).astype(int)

    result = evaluate(OnX(), OnX(), frame.iloc[200:], policy(), frame.iloc[:200])
    _fits(result)
    assert result.passed, result.summary


def test_integer_column_names_from_an_in_memory_frame() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = LogisticRegression().fit(x[:200], y[:200])  # fitted on an array: no names

    class OnArray:
        classes_ = model.classes_

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return model.predict(frame.to_numpy())

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return model.predict_proba(frame.to_numpy())

    frame = pd.DataFrame(x).assign(y=y)  # columns 0, 1, 2 and "y"
    result = evaluate(OnArray(), None, frame.iloc[200:], policy(), frame.iloc[:200])
    _fits(result)
    assert result.passed, result.summary
