"""What the poison check does differently on large sets, and that it finds the same things."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform
from threadpoolctl import threadpool_info, threadpool_limits

from garrison.detection.poisoning import (
    CheckOutcome,
    PoisonCheckConfig,
    PoisonDetector,
    poison_check,
    register_detector,
    unregister_detector,
)
from garrison.detection.poisoning._oof import (
    LARGE_ROWS,
    effective_folds,
    fit_rows,
    out_of_fold_proba,
    select_model,
)
from garrison.detection.poisoning.duplicates import _near_pairs


def test_fit_rows_leaves_a_small_training_part_alone() -> None:
    train = np.arange(0, 300, 3)
    labels = np.arange(300) % 2
    out = fit_rows(train, labels, 100, np.random.default_rng(0))
    assert out is train


def test_fit_rows_keeps_class_shares_and_every_row_of_a_rare_class() -> None:
    labels = np.array([0] * 9_000 + [1] * 3_000 + [2] * 12)
    train = np.arange(len(labels))
    out = fit_rows(train, labels, 1_200, np.random.default_rng(0))
    counts = np.bincount(labels[out], minlength=3)
    # 9,000 and 3,000 of 12,012 rows keep their share of 1,200 (rounded); 12 rows are kept.
    assert counts.tolist() == [899, 300, 12]
    assert np.all(np.diff(out) > 0)
    assert np.isin(out, train).all()


def test_folds_drop_to_three_from_the_large_size_on() -> None:
    assert effective_folds(5, LARGE_ROWS - 1) == 5
    assert effective_folds(5, LARGE_ROWS) == 3
    assert effective_folds(2, LARGE_ROWS * 10) == 2
    assert effective_folds(10, 1_000) == 10


def test_capped_fits_still_score_every_row_with_a_useful_model() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((2_000, 4))
    labels = (matrix[:, 0] + 0.3 * rng.standard_normal(2_000) > 0).astype(np.int64)
    proba = out_of_fold_proba(
        matrix, labels, 2, folds=5, models=("logistic",), random_state=0, max_fit_rows=200
    )
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.mean(proba.argmax(axis=1) == labels) > 0.85


def test_large_sets_report_the_folds_they_used() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((LARGE_ROWS, 3))
    labels = (matrix[:, 0] > 0).astype(np.int64)
    choice = select_model(matrix, labels, 2, kind="logistic", folds=5, random_state=0)
    assert choice.folds == 3
    frame = pd.DataFrame(matrix, columns=["a", "b", "c"]).assign(y=labels)
    report = poison_check(
        frame, "y", config=PoisonCheckConfig(checks=("label-issue",), model="logistic")
    )
    assert report.model == "logistic, 3-fold out-of-fold"


def _brute_pairs(matrix: np.ndarray, radius: float) -> set[tuple[int, int]]:
    distance = squareform(pdist(matrix))
    left, right = np.nonzero(np.triu(distance <= radius, k=1))
    return set(zip(left.tolist(), right.tolist(), strict=True))


@pytest.mark.parametrize("dimensions", [5, 20])
def test_near_pairs_finds_exactly_the_pairs_a_full_search_finds(dimensions: int) -> None:
    rng = np.random.default_rng(dimensions)
    matrix = rng.standard_normal((1_500, dimensions))
    # Exact copies (one row copied three times), near copies at and just inside the
    # radius, and one just outside it.
    matrix[10] = matrix[11] = matrix[12] = matrix[13]
    for row, scale in ((20, 0.5), (30, 0.99), (40, 1.01)):
        direction = rng.standard_normal(dimensions)
        matrix[row + 1] = matrix[row] + 0.2 * scale * direction / np.linalg.norm(direction)
    left, right = _near_pairs(matrix, 0.2, seed=0)
    found = set(zip(left.tolist(), right.tolist(), strict=True))
    expected = _brute_pairs(matrix, 0.2)
    assert found == expected
    assert {(10, 11), (10, 12), (10, 13), (11, 12), (11, 13), (12, 13)} <= found
    assert (20, 21) in found and (30, 31) in found and (40, 41) not in found


def test_outlier_found_when_the_forest_is_fitted_on_a_pool() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.standard_normal((25_000, 4)), columns=["a", "b", "c", "d"])
    frame["y"] = (frame["a"] > 0).astype(int)
    frame.loc[777, ["a", "b", "c", "d"]] = [40.0, -40.0, 40.0, -40.0]
    report = poison_check(frame, "y", config=PoisonCheckConfig(checks=("outlier",)))
    assert report.flagged_rows == (777,)


def test_the_check_runs_on_one_native_thread() -> None:
    seen: list[int] = []

    def record(ctx: object, threshold: float) -> CheckOutcome:
        seen.extend(pool["num_threads"] for pool in threadpool_info())
        return CheckOutcome(method="records thread counts", flags=())

    register_detector(
        PoisonDetector(
            id="thread-probe",
            description="test probe",
            default_threshold=0.5,
            applies_to=("binary",),
            run=record,
        )
    )
    try:
        frame = pd.DataFrame({"a": np.arange(40.0), "y": np.arange(40) % 2})
        with threadpool_limits(limits=2):
            poison_check(frame, "y", config=PoisonCheckConfig(checks=("thread-probe",)))
            after = [pool["num_threads"] for pool in threadpool_info()]
    finally:
        unregister_detector("thread-probe")
    assert seen and set(seen) == {1}
    assert not after or max(after) <= 2
