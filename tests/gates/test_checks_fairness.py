"""The fairness check: group gaps computed exactly, small groups left out, production compared."""

from __future__ import annotations

import numpy as np
import pytest

from garrison.gates._context import Scored
from garrison.gates.checks.fairness import check_fairness, group_gaps
from garrison.gates.policy import FairnessThresholds
from tests.gates.helpers import Fixed, context, frame


def test_gaps_by_hand() -> None:
    # Group a: 4 rows, 2 positive, both predicted positive, plus one false positive.
    # Group b: 4 rows, 2 positive, one predicted positive.
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    pred = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    groups = np.array(["a"] * 4 + ["b"] * 4)
    gaps = group_gaps(
        np.repeat(y, 5),
        Scored(np.repeat(pred, 5), None),
        np.repeat(groups, 5),
        ["a", "b"],
        np.array([0, 1]),
    )
    assert gaps["demographic_parity_difference"] == pytest.approx(0.75 - 0.25)
    assert gaps["equal_opportunity_difference"] == pytest.approx(1.0 - 0.5)
    yr = np.array([1.0, 2.0, 3.0, 4.0])
    gaps = group_gaps(
        yr,
        Scored(yr + np.array([1, 1, 3, 3]), None),
        np.array(["a", "a", "b", "b"]),
        ["a", "b"],
        None,
    )
    assert gaps["group_error_gap"] == pytest.approx((3 - 1) / 2)


def _case(pred_a: float, pred_b: float, prod_b: float | None, n: int = 400) -> object:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=n)
    group = np.array(["a", "b"] * (n // 2))
    pred = y.copy()

    # Turn a share of group b's positives into negatives (missed opportunities).
    def miss(share: float) -> np.ndarray:
        out = y.copy()
        b_pos = np.flatnonzero((group == "b") & (y == 1))
        out[b_pos[: int(share * b_pos.size)]] = 0
        return out

    cand = miss(pred_b)
    prod = None if prod_b is None else Fixed(miss(prod_b), classes=[0, 1])
    del pred, pred_a
    holdout = frame(y, group=group)
    return context(Fixed(cand, classes=[0, 1]), prod, holdout, sensitive="group")


def test_unfair_candidate_fails_naming_the_measure() -> None:
    result = check_fairness(_case(0, 0.4, None), FairnessThresholds())  # type: ignore[arg-type]
    assert not result.passed
    assert "equal opportunity difference 0.400 above 0.100" in result.reason
    assert "demographic parity difference" in result.reason


def test_within_limits_but_much_worse_than_production_fails() -> None:
    th = FairnessThresholds(
        max_equal_opportunity_difference=0.3, max_demographic_parity_difference=0.3
    )
    ctx = _case(0, 0.2, 0.0)
    result = check_fairness(ctx, th)  # type: ignore[arg-type]
    assert not result.passed and "exceeds production's 0.000" in result.reason
    assert result.metrics["production_equal_opportunity_difference"] == 0.0
    assert check_fairness(_case(0, 0.2, 0.18), th).passed  # type: ignore[arg-type]


def test_groups_below_the_minimum_size_are_not_judged() -> None:
    y = np.array([1, 0] * 50 + [1] * 10)
    group = np.array(["big"] * 100 + ["tiny"] * 10)
    pred = np.concatenate([y[:100], np.zeros(10, dtype=int)])  # tiny group: all missed
    ctx = context(Fixed(pred, classes=[0, 1]), None, frame(y, group=group), sensitive="group")
    result = check_fairness(ctx, FairnessThresholds(min_group_size=30))
    assert result.passed and result.skipped
    assert "fewer than two groups" in result.reason
    assert not check_fairness(ctx, FairnessThresholds(min_group_size=5)).passed


def test_no_sensitive_column_is_a_visible_skip() -> None:
    y = np.array([0, 1] * 20)
    result = check_fairness(context(Fixed(y, classes=[0, 1]), None, frame(y)), FairnessThresholds())
    assert result.passed and result.skipped and "no sensitive column" in result.reason


def test_regression_group_error_gap_fails_a_model_worse_for_one_group() -> None:
    rng = np.random.default_rng(6)
    n = 400
    y = rng.normal(size=n)
    group = np.array(["a", "b"] * (n // 2))
    even = y + rng.normal(scale=0.3, size=n)
    skewed = y + rng.normal(scale=np.where(group == "b", 0.9, 0.3))
    holdout = frame(y, group=group)
    fair = context(Fixed(even), None, holdout, task="regression", sensitive="group")
    result = check_fairness(fair, FairnessThresholds())
    assert result.passed, result.reason
    unfair = context(Fixed(skewed), Fixed(even), holdout, task="regression", sensitive="group")
    result = check_fairness(unfair, FairnessThresholds())
    assert not result.passed and "group error gap" in result.reason
    assert float(result.metrics["production_group_error_gap"]) < 0.25
