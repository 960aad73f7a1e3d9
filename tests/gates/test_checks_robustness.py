"""The robustness check: perturbations scaled to each feature, and the decision-based attack."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from garrison.gates._context import spread_of, spreads_of
from garrison.gates.checks._attack import boundary_attack
from garrison.gates.checks.robustness import check_robustness, perturb
from garrison.gates.evaluate import evaluate
from garrison.gates.policy import RobustnessThresholds
from tests.gates import candidates
from tests.gates.helpers import policy


def test_noise_is_scaled_to_each_feature_and_categories_stay_observed() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    frame = pd.DataFrame(
        {
            "small": rng.normal(scale=0.01, size=n),
            "large": rng.normal(scale=100.0, size=n),
            "constant": np.full(n, 3.0),
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    spread = {c: spread_of(frame[c].to_numpy()) for c in ("small", "large", "constant")}
    assert spreads_of(frame, ("small", "large", "constant")) == pytest.approx(spread)
    holed = frame.assign(small=frame["small"].where(frame.index % 7 != 0))
    assert spreads_of(holed, ("small",))["small"] == pytest.approx(spread["small"], rel=0.05)
    before = frame.copy()
    noisy = perturb(frame, ("small", "large", "constant"), ("colour",), spread, 0.1, rng)
    pd.testing.assert_frame_equal(frame, before)  # the input is never modified
    assert np.std(noisy["small"] - frame["small"]) == pytest.approx(0.001, rel=0.05)
    assert np.std(noisy["large"] - frame["large"]) == pytest.approx(10.0, rel=0.05)
    assert (noisy["constant"] == 3.0).all()
    swapped = noisy["colour"] != frame["colour"]
    assert swapped.mean() == pytest.approx(0.1, abs=0.01)
    assert set(noisy["colour"]) == {"red", "green", "blue"}
    holed = frame.assign(colour=frame["colour"].where(frame.index % 4 != 0))
    noisy = perturb(holed, ("small",), ("colour",), spread, 0.5, rng)
    assert noisy["colour"].isna().equals(holed["colour"].isna())


def test_the_attack_never_beats_the_true_minimum_and_comes_close_to_it() -> None:
    # For a linear model the smallest flipping change is known exactly, so the attack's
    # distances can be checked from both sides.
    train, holdout = candidates.synthetic()
    x = holdout.drop(columns="y")
    model = LogisticRegression(max_iter=2000).fit(train.drop(columns="y"), train["y"])
    dims = list(x.columns)
    spread = np.array([spread_of(x[c].to_numpy()) for c in dims])
    pred = model.predict(x)
    rows = np.flatnonzero(pred == holdout["y"].to_numpy())[:80]
    w = model.coef_[0] * spread  # the weights in units of each feature's spread
    exact = np.abs(model.decision_function(x.iloc[rows])) / np.linalg.norm(w) / np.sqrt(len(dims))
    outcome = boundary_attack(
        model.predict,
        x.iloc[rows],
        pred[rows],
        x,
        pred,
        dims,
        spread,
        budget=2000,
        radius=0.0,
        rng=np.random.default_rng(0),
    )
    ratio = outcome.distances / exact
    assert np.all(ratio >= 0.999)  # every point found really flips the label, so never closer
    assert np.median(ratio) < 1.15
    assert outcome.queries <= 2000 * rows.size


def test_the_attack_leaves_categorical_columns_alone() -> None:
    rng = np.random.default_rng(2)
    n = 600
    frame = pd.DataFrame(
        {"x0": rng.normal(size=n), "x1": rng.normal(size=n), "kind": rng.choice(["a", "b"], size=n)}
    )
    y = ((frame["x0"] + (frame["kind"] == "a") * 0.5) > 0).astype(int)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["kind"]), remainder=StandardScaler()),
        LogisticRegression(),
    ).fit(frame, y)
    seen: list[pd.DataFrame] = []

    def spy(batch: pd.DataFrame) -> np.ndarray:
        seen.append(batch)
        return model.predict(batch)

    pred = model.predict(frame)
    rows = frame.iloc[:30]
    boundary_attack(
        spy,
        rows,
        pred[:30],
        frame,
        pred,
        ["x0", "x1"],
        np.array([1.0, 1.0]),
        budget=200,
        radius=0.1,
        rng=rng,
    )
    assert seen
    for batch in seen:
        assert set(batch["kind"]) <= {"a", "b"}


def test_mixed_numeric_and_categorical_pipeline_passes_the_full_default_gate() -> None:
    rng = np.random.default_rng(5)
    n = 1200
    frame = pd.DataFrame(
        {
            "x0": rng.normal(size=n),
            "x1": rng.normal(size=n),
            "plan": rng.choice(["basic", "plus", "pro"], size=n),
        }
    )
    frame["y"] = (
        (frame["x0"] - frame["x1"] + (frame["plan"] == "pro") + rng.normal(scale=0.5, size=n)) > 0
    ).astype(int)
    train, holdout = frame.iloc[:600], frame.iloc[600:].reset_index(drop=True)

    def fit() -> object:
        return make_pipeline(
            make_column_transformer((OneHotEncoder(), ["plan"]), remainder=StandardScaler()),
            LogisticRegression(),
        ).fit(train.drop(columns="y"), train["y"])

    result = evaluate(fit(), fit(), holdout, policy(), train)
    assert result.passed, result.summary
    assert float(result.check("robustness").metrics["attack_success"]) >= 0


def test_the_fragile_model_is_caught_by_noise_and_by_the_attack() -> None:
    case = candidates.fragile_case()
    ctx_result = evaluate(case.candidate, case.production, case.holdout, case.policy, case.training)
    robustness = ctx_result.check("robustness")
    assert not robustness.passed
    assert float(robustness.metrics["score_drop"]) > 0.05
    assert (
        float(robustness.metrics["attack_success"])
        > float(robustness.metrics["production_attack_success"]) + 0.15
    )
    assert ctx_result.check("performance").passed  # as accurate as production on clean rows


def test_regression_measures_the_relative_rmse_rise_and_skips_the_attack() -> None:
    case = candidates.good("diabetes-ridge")
    from garrison.gates._context import build_context

    ctx = build_context(case.candidate, None, case.holdout, case.policy, case.training, 0)
    result = check_robustness(ctx, RobustnessThresholds())
    assert result.passed and "not applicable to regression" in result.reason
    assert result.metrics["measure"] == "relative RMSE rise"


def test_missing_values_stay_missing_and_the_other_features_are_attacked() -> None:
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
    frame.loc[::3, "x1"] = np.nan
    seen: list[pd.DataFrame] = []

    def model(batch: pd.DataFrame) -> np.ndarray:  # depends on x0 only; x1 may be missing
        seen.append(batch)
        return (batch["x0"].to_numpy() > 0).astype(int)

    attacked = np.flatnonzero(frame["x1"].isna().to_numpy())[:60]  # every one missing x1
    pred = model(frame)
    seen.clear()
    outcome = boundary_attack(
        model,
        frame.iloc[attacked],
        pred[attacked],
        frame,
        pred,
        ["x0", "x1"],
        np.array([1.0, 1.0]),
        budget=300,
        radius=10.0,
        rng=np.random.default_rng(0),
    )
    assert np.isfinite(outcome.distances).all()
    assert outcome.success_rate(10.0) == 1.0
    assert seen and all(batch["x1"].isna().all() for batch in seen)


def test_noise_is_measured_on_at_most_5000_sampled_rows() -> None:
    from garrison.gates._context import build_context

    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"x0": rng.normal(size=6000), "x1": rng.normal(size=6000)})
    frame["y"] = (frame["x0"] > 0).astype(int)
    model = LogisticRegression().fit(frame[["x0", "x1"]], frame["y"])
    th = RobustnessThresholds(attack_rows=0)
    big = build_context(model, None, frame, policy(), None, 0)
    small = build_context(model, None, frame.iloc[:800], policy(), None, 0)
    assert check_robustness(big, th).metrics["noise_rows"] == 5000
    assert check_robustness(small, th).metrics["noise_rows"] == 800
