"""The leakage check: holdout rows found in training, and single features that copy the label."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from garrison.gates.checks import leakage
from garrison.gates.checks.leakage import (
    check_leakage,
    feature_label_strength,
    feature_label_strengths,
    natural_overlap,
    row_overlap,
)
from garrison.gates.policy import LeakageThresholds
from tests.gates.helpers import Fixed, context, frame

RNG = np.random.default_rng(0)


def test_row_overlap_survives_storage_changes_and_finds_only_real_copies() -> None:
    train = pd.DataFrame(
        {
            "a": RNG.normal(size=200),
            "n": RNG.integers(0, 5, 200),
            "s": RNG.choice(["x", "y"], 200),
            "y": RNG.integers(0, 2, 200),
        }
    )
    copies = train.iloc[:20].copy()
    copies["n"] = copies["n"].astype(float)  # int stored as float
    text = io.StringIO()
    copies.to_csv(text, index=False)
    round_trip = pd.read_csv(io.StringIO(text.getvalue()))  # and read back from CSV
    fresh = train.iloc[20:40].assign(a=lambda f: f["a"] + 1e-3)  # changed: not a copy
    holdout = pd.concat([round_trip, fresh], ignore_index=True)[["y", "s", "n", "a"]]
    found = row_overlap(holdout, train, ["a", "n", "s", "y"])
    assert found[:20].all() and not found[20:].any()
    relabelled = train.iloc[:5].assign(y=lambda f: 1 - f["y"])
    assert not row_overlap(relabelled, train, ["a", "n", "s", "y"]).any()


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_single_feature_strength_flags_copies_and_not_noise(task: str) -> None:
    n = 1000
    folds = RNG.integers(0, 2, size=n)
    if task == "regression":
        y, classes = RNG.normal(size=n), None
    else:
        k = 2 if task == "binary" else 4
        y, classes = RNG.integers(0, k, size=n), np.arange(k)
    copy = pd.Series(y * 3.0 + RNG.normal(scale=0.01, size=n))
    text_copy = pd.Series(np.asarray(y).round(1).astype(str))
    noise = pd.Series(RNG.normal(size=n))
    assert feature_label_strength(copy, y, classes, folds) > 0.99
    if task != "regression":
        assert feature_label_strength(text_copy, y, classes, folds) > 0.99
    assert feature_label_strength(noise, y, classes, folds) < 0.6


def test_check_fails_for_a_leaked_column_and_for_a_contaminated_holdout() -> None:
    y = RNG.integers(0, 2, size=300)
    holdout = frame(y, honest=RNG.normal(size=300), leaked=y + RNG.normal(scale=0.05, size=300))
    ctx = context(Fixed(y, classes=[0, 1]), None, holdout)
    result = check_leakage(ctx, LeakageThresholds())
    assert not result.passed and "'leaked' alone predicts the label" in result.reason
    assert result.metrics["strongest_feature"] == "leaked"
    clean = frame(y, honest=RNG.normal(size=300))
    training = pd.concat(
        [clean.iloc[:30], frame(RNG.integers(0, 2, 100), honest=RNG.normal(size=100))]
    )
    ctx = context(Fixed(y, classes=[0, 1]), None, clean, training)
    result = check_leakage(ctx, LeakageThresholds())
    assert not result.passed and "10.0% of holdout rows" in result.reason
    assert result.metrics["overlap_rows"] == 30
    assert check_leakage(ctx, LeakageThresholds(max_overlap_fraction=0.2)).passed


def test_a_near_copy_hidden_among_10000_rows_and_many_columns_is_found() -> None:
    rng = np.random.default_rng(16)
    n = 10_000
    y = rng.integers(0, 2, size=n)
    columns = {f"f{j}": rng.normal(size=n) for j in range(30)}
    # The label with noise, rounded (many ties), and with 3% of its values flipped.
    near = np.round(y + rng.normal(scale=0.2, size=n), 1)
    flip = rng.random(n) < 0.03
    near[flip] = 1 - near[flip]
    holdout = frame(y, **columns, near=near)
    ctx = context(Fixed(y, classes=[0, 1]), None, holdout)
    result = check_leakage(ctx, LeakageThresholds(max_feature_auc=0.9))
    assert not result.passed and "'near' alone predicts the label" in result.reason
    assert result.metrics["strongest_feature"] == "near"
    assert result.metrics["leaked_features"] == 1
    # The columns are screened on a sample; the strongest is still measured on every row.
    folds = np.zeros(n, dtype=int)
    exact = feature_label_strength(holdout["near"], y, np.array([0, 1]), folds)
    assert result.metrics["strongest_feature_auc"] == pytest.approx(exact, abs=1e-12)
    # A weaker copy, just above the threshold, is found too, among the same noise columns.
    weak = np.where(rng.random(n) < 0.12, 1 - y, y) + rng.normal(scale=0.01, size=n)
    assert 0.87 < feature_label_strength(pd.Series(weak), y, np.array([0, 1]), folds) < 0.89
    ctx = context(Fixed(y, classes=[0, 1]), None, frame(y, **columns, weak=weak))
    result = check_leakage(ctx, LeakageThresholds(max_feature_auc=0.86))
    assert not result.passed and result.metrics["strongest_feature"] == "weak"


def test_strengths_of_all_columns_at_once_equal_one_column_at_a_time() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    y = rng.integers(0, 2, size=n)
    holes = rng.normal(size=n)
    holes[::7] = np.nan
    data = pd.DataFrame(
        {
            "plain": rng.normal(size=n),
            "ties": rng.integers(0, 4, size=n),
            "copy": y * 2.0,
            "constant": np.zeros(n),
            "holes": holes,
            "text": rng.choice(["a", "b", "c"], size=n),
            "flag": rng.random(n) < 0.5,
        }
    )
    folds = rng.integers(0, 2, size=n)
    for classes in (np.array([0, 1]), np.array([0, 1, 2])):
        together = feature_label_strengths(data, y, classes, folds)
        assert list(together) == list(data.columns)
        for column in data.columns:
            alone = feature_label_strength(data[column], y, classes, folds)
            assert together[column] == pytest.approx(alone, abs=1e-12), column


def test_without_training_the_overlap_is_skipped_or_required() -> None:
    y = RNG.integers(0, 2, size=100)
    ctx = context(Fixed(y, classes=[0, 1]), None, frame(y, f=RNG.normal(size=100)))
    result = check_leakage(ctx, LeakageThresholds())
    assert result.passed and "overlap not checked" in result.reason
    assert not check_leakage(ctx, LeakageThresholds(require_training=True)).passed


def test_natural_overlap_is_zero_for_continuous_rows_and_high_for_few_categories() -> None:
    continuous = pd.DataFrame({"a": RNG.normal(size=300), "y": RNG.integers(0, 2, 300)})
    assert natural_overlap(continuous, 1000, ["a", "y"]) == 0.0
    # Copies of distinct training rows do not repeat within the holdout: still zero.
    train = pd.DataFrame({"a": RNG.normal(size=500), "y": RNG.integers(0, 2, 500)})
    contaminated = pd.concat([continuous, train.iloc[:100]], ignore_index=True)
    assert natural_overlap(contaminated, 500, ["a", "y"]) == 0.0
    # Twelve possible rows: any holdout row is almost surely among 500 training rows.
    few = pd.DataFrame({"c": RNG.choice(list("abc"), 300), "y": RNG.integers(0, 4, 300)})
    assert natural_overlap(few, 500, ["c", "y"]) > 0.99
    # About 300 possible rows, drawn 300 times: well between the two.
    some = pd.DataFrame({"c": RNG.integers(0, 100, 300), "y": RNG.integers(0, 3, 300)})
    assert 0.3 < natural_overlap(some, 300, ["c", "y"]) < 0.9


def test_row_ids_are_exact_with_or_without_the_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    train = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(["x", "y"], 300)})
    holdout = pd.concat([train.iloc[:7], train.iloc[:7].assign(a=lambda f: f["a"] + 1)])
    hashed = leakage.row_overlap(holdout, train, ["a", "b"])
    assert hashed.tolist() == [True] * 7 + [False] * 7
    # Were two different rows ever to share a hash, the rows' bytes decide instead.
    monkeypatch.setattr(leakage, "_ids_by_hash", lambda keys: None)
    assert leakage.row_overlap(holdout, train, ["a", "b"]).tolist() == hashed.tolist()
