"""The performance check: metrics, the trivial baseline, floors, and the paired tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from garrison.gates._context import Scored
from garrison.gates._stats import auc, baseline_score, metric, paired_test
from garrison.gates.checks.performance import check_performance
from garrison.gates.policy import PerformanceThresholds
from tests.gates.helpers import Fixed, context, frame

RNG = np.random.default_rng(0)


def _flipped(y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = y.copy()
    out[rows] = 1 - out[rows]
    return out


def test_metrics_agree_with_scikit_learn() -> None:
    y = RNG.integers(0, 3, size=300)
    proba = RNG.dirichlet(np.ones(3), size=300)
    pred = proba.argmax(axis=1)
    scored, classes = Scored(pred, proba), np.arange(3)
    assert metric("accuracy", y, scored, classes) == pytest.approx(skm.accuracy_score(y, pred))
    assert metric("f1", y, scored, classes) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert metric("log_loss", y, scored, classes) == pytest.approx(skm.log_loss(y, proba))
    assert metric("roc_auc", y, scored, classes) == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    yb = (y > 0).astype(int)
    pb = np.column_stack([1 - proba[:, 0], proba[:, 0]])
    assert metric("roc_auc", yb, Scored(pb.argmax(1), pb), np.arange(2)) == pytest.approx(
        skm.roc_auc_score(yb, pb[:, 1])
    )
    assert metric("f1", yb, Scored(pb.argmax(1), pb), np.arange(2)) == pytest.approx(
        skm.f1_score(yb, pb.argmax(1))
    )
    yr, pr = RNG.normal(size=200), RNG.normal(size=200)
    assert metric("rmse", yr, Scored(pr, None), None) == pytest.approx(
        np.sqrt(skm.mean_squared_error(yr, pr))
    )
    assert metric("mae", yr, Scored(pr, None), None) == pytest.approx(
        skm.mean_absolute_error(yr, pr)
    )
    assert metric("r2", yr, Scored(pr, None), None) == pytest.approx(skm.r2_score(yr, pr))
    assert auc(np.array([True, False, True, False]), np.array([1, 1, 2, 0])) == pytest.approx(
        skm.roc_auc_score([1, 0, 1, 0], [1, 1, 2, 0])
    )


def test_baselines_are_the_input_blind_models() -> None:
    y = np.array([0] * 70 + [1] * 30)
    assert baseline_score("accuracy", y, np.arange(2)) == pytest.approx(0.7)
    assert baseline_score("roc_auc", y, np.arange(2)) == 0.5
    assert baseline_score("log_loss", y, np.arange(2)) == pytest.approx(
        -(0.7 * np.log(0.7) + 0.3 * np.log(0.3))
    )
    yr = np.array([1.0, 2.0, 3.0, 6.0])
    assert baseline_score("rmse", yr, None) == pytest.approx(np.std(yr))
    assert baseline_score("r2", yr, None) == pytest.approx(0.0)


def test_mcnemar_is_the_exact_binomial_test_on_discordant_rows() -> None:
    y = RNG.integers(0, 2, size=1000)
    prod = _flipped(y, np.arange(0, 100))  # production wrong on rows 0-99
    cand = _flipped(y, np.arange(30, 160))  # candidate wrong on 30-159: 60 vs 30 discordant
    test = paired_test(
        "accuracy",
        y,
        Scored(cand, None),
        Scored(prod, None),
        np.arange(2),
        confidence=0.95,
        rounds=100,
        rng=RNG,
    )
    assert test.method == "mcnemar-exact"
    assert test.p_worse == pytest.approx(stats.binomtest(60, 90, 0.5, alternative="greater").pvalue)
    assert test.upper < 0  # significantly worse: the whole interval is below zero
    # The bound is the exact (Clopper-Pearson) interval's upper end on the candidate's share.
    high = stats.binomtest(30, 90, 0.5).proportion_ci(confidence_level=0.9).high
    assert test.upper == pytest.approx((2 * high - 1) * 90 / 1000, rel=1e-9)


def _run(y: np.ndarray, cand: np.ndarray, prod: np.ndarray | None, **th: float) -> object:
    holdout = frame(y)
    ctx = context(
        Fixed(cand, classes=[0, 1]), None if prod is None else Fixed(prod, classes=[0, 1]), holdout
    )
    return check_performance(ctx, PerformanceThresholds(**th))  # type: ignore[arg-type]


def test_a_drop_within_noise_passes_and_a_significant_one_fails() -> None:
    y = RNG.integers(0, 2, size=600)
    prod = _flipped(y, np.arange(0, 60))  # 90% accurate
    noise = _flipped(y, np.arange(5, 70))  # 89.2%: 5 rows better, 10 worse
    result = _run(y, noise, prod)
    assert result.passed, result.reason  # type: ignore[attr-defined]
    assert "not significant" in result.reason  # type: ignore[attr-defined]
    worse = _flipped(y, np.arange(0, 120))  # 80%: 60 more rows wrong, none better
    result = _run(y, worse, prod)
    assert not result.passed  # type: ignore[attr-defined]
    assert "significantly worse" in result.reason  # type: ignore[attr-defined]


def test_a_significant_drop_inside_the_tolerance_passes() -> None:
    y = RNG.integers(0, 2, size=20000)
    prod = _flipped(y, np.arange(0, 2000))
    cand = _flipped(y, np.arange(0, 2100))  # 0.5 points worse, and certainly so
    assert not _run(y, cand, prod, tolerance=0.0).passed  # type: ignore[attr-defined]
    result = _run(y, cand, prod, tolerance=0.01)
    assert result.passed, result.reason  # type: ignore[attr-defined]
    assert "tolerance" in result.reason  # type: ignore[attr-defined]


def test_floor_and_trivial_baseline() -> None:
    y = np.array([0] * 80 + [1] * 20)
    majority = np.zeros(100, dtype=int)
    result = _run(y, majority, None)
    assert not result.passed and "does not beat trivial baseline" in result.reason  # type: ignore[attr-defined]
    good = _flipped(y, np.arange(0, 10))
    assert _run(y, good, None).passed  # type: ignore[attr-defined]
    result = _run(y, good, None, floor=0.95)
    assert not result.passed and "misses the floor 0.95" in result.reason  # type: ignore[attr-defined]


def test_lower_is_better_metrics_use_a_ceiling_and_a_bootstrap() -> None:
    yr = RNG.normal(size=400)
    holdout = frame(yr)
    close = yr + RNG.normal(scale=0.3, size=400)
    far = yr + RNG.normal(scale=0.6, size=400)
    ctx = context(Fixed(far), Fixed(close), holdout, task="regression")
    result = check_performance(ctx, PerformanceThresholds())
    assert not result.passed and "significantly worse" in result.reason
    assert result.metrics["test"] == "paired-bootstrap"
    ctx = context(Fixed(close), None, holdout, task="regression")
    assert not check_performance(ctx, PerformanceThresholds(floor=0.1)).passed
    assert check_performance(ctx, PerformanceThresholds(floor=0.5)).passed


def test_roc_auc_needs_probabilities() -> None:
    from garrison.errors import UnsupportedModel

    y = RNG.integers(0, 2, size=50)
    ctx = context(Fixed(y, classes=[0, 1]), None, frame(y), primary_metric="roc_auc")
    with pytest.raises(UnsupportedModel):
        check_performance(ctx, PerformanceThresholds())


@pytest.mark.parametrize(("name", "k"), [("f1", 2), ("f1", 4), ("roc_auc", 2), ("roc_auc", 4)])
def test_resampled_metrics_equal_the_metric_on_the_resampled_rows(name: str, k: int) -> None:
    from garrison.gates._stats import resampled_metric

    y = RNG.integers(0, k, size=120)
    proba = RNG.dirichlet(np.ones(k), size=120).round(1)  # rounded: plenty of ties
    scored, classes = Scored(proba.argmax(1), proba), np.arange(k)
    draws = RNG.integers(0, 120, size=(5, 120))
    got = resampled_metric(name, y, scored, classes, draws)
    for r, rows in enumerate(draws):
        want = metric(name, y[rows], Scored(scored.pred[rows], proba[rows]), classes)
        assert got[r] == pytest.approx(want)


def test_positive_label_picks_the_class_f1_is_about() -> None:
    from garrison.errors import InvalidInput

    y = np.array(["churn"] * 20 + ["stay"] * 80)
    pred = y.copy()
    pred[:10] = "stay"  # half of the churners missed: poor F1 for "churn", fine for "stay"
    holdout = frame(y)
    model = Fixed(pred, classes=["churn", "stay"])
    default = check_performance(
        context(model, None, holdout, primary_metric="f1"), PerformanceThresholds()
    )
    chosen = check_performance(
        context(model, None, holdout, primary_metric="f1", positive_label="churn"),
        PerformanceThresholds(),
    )
    assert float(default.metrics["f1"]) == pytest.approx(skm.f1_score(y, pred, pos_label="stay"))
    assert float(chosen.metrics["f1"]) == pytest.approx(skm.f1_score(y, pred, pos_label="churn"))
    with pytest.raises(InvalidInput, match="not one of the holdout's classes"):
        context(model, None, holdout, positive_label="leave")
    numbers = frame(np.array([0, 1] * 30))
    ctx = context(Fixed(numbers["y"].to_numpy(), classes=[0, 1]), None, numbers, positive_label="1")
    assert ctx.positive == 1  # "1" from a CSV or a form matches the integer class
