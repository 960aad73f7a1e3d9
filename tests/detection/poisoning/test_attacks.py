"""Poisoned-row recall and precision on seeded attacks, and false alarms on clean data.

The bounds were measured with ``random_state=0`` and these seeds, then loosened for
headroom; the measured figures are in the comments and in ``docs/poisoning.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from garrison.detection.poisoning import PoisonCheckConfig, PoisonReport, poison_check
from tests.detection.poisoning.attacks import (
    bundled,
    category_backdoor,
    conflicting_copies,
    mixed_frame,
    pixel_backdoor,
    random_flips,
    recall_precision,
    targeted_flips,
)


@pytest.fixture(scope="module")
def breast_cancer() -> pd.DataFrame:
    return bundled("breast_cancer")


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    return bundled("wine")


def _flag_rate(report: PoisonReport) -> float:
    return len(report.flagged_rows) / report.rows


@pytest.mark.parametrize(("name", "bound"), [("breast_cancer", 0.035), ("wine", 0.03)])
def test_clean_bundled_data_raises_few_false_alarms(name: str, bound: float) -> None:
    # Measured: 1.8% of breast_cancer rows (10 of 569), 1.1% of wine (2 of 178).
    report = poison_check(bundled(name), "y")
    assert _flag_rate(report) <= bound
    # The strong checks stay silent on clean data.
    assert report.summary("conflicting-duplicates").rows_flagged == 0
    assert report.summary("backdoor-trigger").rows_flagged == 0
    assert report.summary("label-issue").rows_flagged <= 2


def test_clean_mixed_data_raises_few_false_alarms() -> None:
    # Measured: 0.6% (9 of 1500); seeds 1 and 2 give 1.0%.
    report = poison_check(mixed_frame(1500, seed=0), "y")
    assert _flag_rate(report) <= 0.02
    assert report.summary("backdoor-trigger").rows_flagged == 0


def test_random_flips_on_breast_cancer(breast_cancer: pd.DataFrame) -> None:
    poisoned, truth = random_flips(breast_cancer, 0.05, seed=0)
    report = poison_check(poisoned, "y")
    # Measured: all checks recall 1.00, precision 0.74; label-issue 0.93 / 0.81.
    recall, precision = recall_precision(report.flagged_rows, truth)
    assert recall >= 0.85 and precision >= 0.6
    recall, precision = recall_precision(report.rows_flagged_by("label-issue"), truth)
    assert recall >= 0.8 and precision >= 0.7


def test_random_flips_on_wine_multiclass(wine: pd.DataFrame) -> None:
    poisoned, truth = random_flips(wine, 0.05, seed=0)
    report = poison_check(poisoned, "y")
    # Measured: recall 1.00, precision 0.82 (9 flips among 178 rows, 3 classes).
    recall, precision = recall_precision(report.flagged_rows, truth)
    assert recall >= 0.85 and precision >= 0.65


def test_random_flips_on_iris() -> None:
    poisoned, truth = random_flips(bundled("iris"), 0.05, seed=0)
    report = poison_check(poisoned, "y")
    # Measured: recall 0.88, precision 0.37: versicolor and virginica overlap, so with
    # 150 rows natural ambiguity is flagged beside the 8 flips.
    recall, precision = recall_precision(report.flagged_rows, truth)
    assert recall >= 0.75 and precision >= 0.3


def test_targeted_boundary_flips_on_wine(wine: pd.DataFrame) -> None:
    poisoned, truth = targeted_flips(wine, 0.05, source=0)
    # Confident learning misses these by construction; the boundary check does not, at
    # the hunting threshold 0.6 (the default, 0.8, keeps clean sets under 1% flagged and
    # finds only the deepest of these flips).
    # Measured: boundary-flip recall 0.67, precision 0.86; label-issue recall 0.
    report = poison_check(poisoned, "y", config=PoisonCheckConfig(
        thresholds={"boundary-flip": 0.6}))
    recall, precision = recall_precision(report.rows_flagged_by("boundary-flip"), truth)
    assert recall >= 0.5 and precision >= 0.7


def test_targeted_boundary_flips_on_iris() -> None:
    poisoned, truth = targeted_flips(bundled("iris"), 0.05, source=1)
    report = poison_check(poisoned, "y", config=PoisonCheckConfig(
        thresholds={"boundary-flip": 0.6}))
    # Measured: recall 0.50, precision 0.57.
    recall, precision = recall_precision(report.flagged_rows, truth)
    assert recall >= 0.4 and precision >= 0.45


def test_pixel_backdoor_on_digits() -> None:
    poisoned, truth = pixel_backdoor(bundled("digits"), 0.03, seed=0)
    report = poison_check(poisoned, "y")
    # Measured: backdoor-trigger recall 1.00, precision 1.00 (54 rows); seeds 1, 2 alike.
    recall, precision = recall_precision(report.rows_flagged_by("backdoor-trigger"), truth)
    assert recall >= 0.95 and precision >= 0.95
    triggers = report.summary("backdoor-trigger").detail["triggers"]
    assert triggers[0]["pattern"] == [{"feature": "pixel_0_0", "value": "16.0"}]
    assert triggers[0]["label"] == "0"
    finding = next(f for f in report.findings if f.row == min(truth))
    assert any("pixel_0_0" in reason.detail for reason in finding.reasons)


def test_mixed_set_random_flips_and_category_backdoor() -> None:
    clean = mixed_frame(1500, seed=0)
    poisoned, truth = random_flips(clean, 0.05, seed=0)
    report = poison_check(poisoned, "y")
    # Measured: recall 0.85, precision 0.85.
    recall, precision = recall_precision(report.flagged_rows, truth)
    assert recall >= 0.75 and precision >= 0.7

    poisoned, truth = category_backdoor(clean, 0.03, seed=0)
    report = poison_check(poisoned, "y")
    # Measured: backdoor-trigger recall 1.00, precision 1.00 (45 rows).
    recall, precision = recall_precision(report.rows_flagged_by("backdoor-trigger"), truth)
    assert recall >= 0.95 and precision >= 0.95
    pattern = report.summary("backdoor-trigger").detail["triggers"][0]["pattern"]
    assert {item["feature"] for item in pattern} <= {"region", "noise"}


@pytest.mark.parametrize("jitter", [0.0, 0.001])
def test_duplicates_with_conflicting_labels(breast_cancer: pd.DataFrame, jitter: float) -> None:
    poisoned, copies, originals = conflicting_copies(breast_cancer, 15, seed=0, jitter=jitter)
    report = poison_check(poisoned, "y", config=_only("conflicting-duplicates"))
    # Measured: both copies and originals found, nothing else (recall = precision = 1).
    recall, precision = recall_precision(report.flagged_rows, copies | originals)
    assert recall == 1.0 and precision == 1.0
    words = "identical to" if jitter == 0 else "a near duplicate of"
    assert all(words in f.reasons[0].detail for f in report.findings)


def test_injected_outliers_are_flagged(breast_cancer: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    extreme = breast_cancer.sample(5, random_state=0).copy()
    numeric = [c for c in extreme.columns if c != "y"]
    signs = rng.choice([-25.0, 25.0], size=(5, len(numeric)))
    shift = breast_cancer[numeric].std().to_numpy() * signs
    extreme[numeric] = extreme[numeric].to_numpy() + shift
    poisoned = pd.concat([breast_cancer, extreme], ignore_index=True)
    report = poison_check(poisoned, "y", config=_only("outlier"))
    injected = set(range(len(breast_cancer), len(poisoned)))
    recall, precision = recall_precision(report.flagged_rows, injected)
    assert recall == 1.0 and precision >= 0.8


def _only(check: str) -> PoisonCheckConfig:
    return PoisonCheckConfig(checks=(check,))
