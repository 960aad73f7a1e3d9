"""Issue 19: the poisoning check's false alarms, its weak-model refusal and its ranking.

Each scenario is generated here (seeded); the figures in the comments were measured with
``random_state=0`` and are in ``docs/poisoning.md``. The old check failed every one of
them: it flagged 53% of the clean circles set, trusted a chance-level logistic model,
blamed 82 randomly flipped digits rows on a "trigger" of two zero pixels, and ranked
trigger rows by score only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from garrison.detection.poisoning import PoisonCheckConfig, PoisonReport, poison_check
from tests.detection.poisoning.attacks import (
    bundled,
    mixed_frame,
    pixel_backdoor,
    random_flips,
    recall_precision,
)


def circles(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Two concentric noisy circles plus two noise columns: no line separates them."""
    x, y = datasets.make_circles(n_samples=n, noise=0.08, factor=0.5, random_state=seed)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(np.round(x, 4), columns=["a", "b"])
    frame["n1"] = np.round(rng.normal(size=n), 4)
    frame["n2"] = np.round(rng.normal(size=n), 4)
    frame["y"] = y
    return frame


def overlapping(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Clean labels, but classes that overlap: no model beats about 65% accuracy."""
    x, y = datasets.make_classification(
        n_samples=n, n_features=6, n_informative=3, n_redundant=0, class_sep=0.3,
        flip_y=0.0, random_state=seed,
    )
    frame = pd.DataFrame(np.round(x, 4), columns=[f"f{i}" for i in range(6)])
    frame["y"] = y
    return frame


def synthetic(n: int = 2000, features: int = 20, seed: int = 0) -> pd.DataFrame:
    """Two clusters per class (not linearly separable), ``features`` columns."""
    x, y = datasets.make_classification(
        n_samples=n, n_features=features, n_informative=features // 2 - 2,
        n_redundant=features // 5, n_clusters_per_class=2, class_sep=1.5, flip_y=0.0,
        random_state=seed,
    )
    frame = pd.DataFrame(np.round(x, 3), columns=[f"f{i}" for i in range(features)])
    frame["y"] = y
    return frame


def _rate(report: PoisonReport) -> float:
    return len(report.flagged_rows) / report.rows


@pytest.mark.parametrize(
    "make",
    [
        lambda: bundled("breast_cancer"),
        lambda: bundled("wine"),
        lambda: mixed_frame(1500, seed=0),
        lambda: synthetic(),
    ],
    ids=["breast_cancer", "wine", "mixed", "synthetic"],
)
def test_clean_sets_are_flagged_at_most_one_percent(make) -> None:  # type: ignore[no-untyped-def]
    # Measured: 0.88%, 0%, 0.33%, 0.67%; each check on its own stays under 1% too.
    report = poison_check(make(), "y")
    assert report.labels_judged and not report.warnings
    assert _rate(report) <= 0.01
    assert report.confirmed_rows == ()


def test_clean_rows_deep_in_the_other_class_stay_few() -> None:
    # On this set 4.5% of the clean rows lie among the other class (the best model's
    # out-of-fold accuracy is 0.955); no label check can tell them from flips. Measured:
    # 1.3% flagged, cleanlab with gradient boosting 1.8% (27 rows).
    report = poison_check(synthetic(1500, features=12), "y")
    assert _rate(report) <= 0.015


def test_non_linear_clean_set_is_not_flagged_en_masse() -> None:
    # The old default (logistic regression below 5,000 rows) flagged 53% of this set.
    report = poison_check(circles(), "y")
    assert "hist_gradient_boosting" in report.model_selection["chosen"]
    assert report.model_selection["skill"] >= 0.9
    assert report.model_selection["candidates"]["logistic"]["skill"] < 0.2
    assert _rate(report) <= 0.01 and report.labels_judged


def test_a_model_too_weak_to_judge_labels_is_refused_loudly() -> None:
    # Forced to the logistic model, the circles look like noise: refuse, do not flag.
    report = poison_check(circles(), "y", config=PoisonCheckConfig(model="logistic"))
    assert not report.labels_judged
    assert report.summary("label-issue").rows_flagged == 0
    assert report.summary("label-issue").detail["judged"] is False
    assert "labels not judged" in report.warnings[0] and "logistic" in report.warnings[0]
    assert report.to_dict()["labels_judged"] is False
    # The generative boundary check cannot judge a circle either, and says so.
    assert report.summary("boundary-flip").rows_flagged == 0
    assert any(w.startswith("boundary-flip: not judged") for w in report.warnings)


def test_overlapping_clean_classes_raise_a_warning_not_a_flood() -> None:
    report = poison_check(overlapping(), "y")
    # Measured: best model skill 0.3 (65% accuracy); the old check flagged 20% of rows.
    assert not report.labels_judged and report.model_selection["skill"] < 0.5
    assert _rate(report) <= 0.01
    # A user who accepts a weak model can lower the bar, and then gets its verdicts.
    lowered = poison_check(overlapping(), "y", config=PoisonCheckConfig(min_model_skill=0.1))
    assert lowered.labels_judged and lowered.summary("label-issue").rows_flagged > 0


@pytest.mark.parametrize(("fraction", "recall_min", "precision_min"),
                         [(0.05, 0.85, 0.75), (0.15, 0.8, 0.8)])
def test_random_flips_on_a_non_linear_set(
    fraction: float, recall_min: float, precision_min: float
) -> None:
    # Measured on these 800 rows: 5%: recall 0.93, precision 0.86; 15%: 0.84 / 0.86.
    poisoned, truth = random_flips(circles(), fraction, seed=0)
    report = poison_check(poisoned, "y")
    recall, precision = recall_precision(report.flagged_rows, truth)
    assert recall >= recall_min and precision >= precision_min


def test_random_flips_fifteen_percent_on_breast_cancer() -> None:
    # Measured: recall 0.85, precision 0.90 (cleanlab: 0.87 / 0.77).
    poisoned, truth = random_flips(bundled("breast_cancer"), 0.15, seed=0)
    report = poison_check(poisoned, "y")
    recall, precision = recall_precision(report.flagged_rows, truth)
    assert recall >= 0.8 and precision >= 0.85


def test_random_flips_are_not_blamed_on_a_trigger() -> None:
    # The old check reported "pixel_4_4 = 0 and pixel_2_4 = 0" (the hole of a zero) as a
    # trigger of label 0 and flagged 82 clean-but-flipped rows with it.
    poisoned, _ = random_flips(bundled("digits"), 0.05, seed=0)
    report = poison_check(poisoned, "y", config=PoisonCheckConfig(checks=("backdoor-trigger",)))
    assert report.summary("backdoor-trigger").detail["triggers"] == []
    assert report.findings == ()


def test_a_usual_value_is_never_a_trigger() -> None:
    # Twenty rows of class 1 given label 0, and the two always-zero pixels they share
    # with every other row: no trigger, although the rows are pure and rare in label 0.
    frame = bundled("digits")
    frame = frame[frame["y"].isin([0, 1])].reset_index(drop=True)
    rows = np.flatnonzero(frame["y"].to_numpy() == 1)[:20]
    frame.loc[rows, "y"] = 0
    report = poison_check(frame, "y", config=PoisonCheckConfig(checks=("backdoor-trigger",)))
    for trigger in report.summary("backdoor-trigger").detail["triggers"]:
        for item in trigger["pattern"]:
            assert (frame[item["feature"]].astype(str) == item["value"]).mean() <= 0.1


def test_a_planted_trigger_is_confirmed_and_ranked_first() -> None:
    # A trigger on 3% of the rows beside 5% random flips: the trigger's rows are listed
    # first as confirmed, not interleaved with the statistical suspicions.
    backdoored, planted = pixel_backdoor(bundled("digits"), 0.03, seed=0)
    poisoned, flipped = random_flips(backdoored, 0.05, seed=1)
    planted -= flipped  # A flip took the trigger's label away from these rows.
    report = poison_check(poisoned, "y")
    confirmed = set(report.confirmed_rows)
    recall, precision = recall_precision(confirmed, planted)
    assert recall >= 0.95 and precision >= 0.95
    head = [f.row for f in report.findings[: len(confirmed)]]
    assert set(head) == confirmed
    assert all(f.confirmed for f in report.findings[: len(confirmed)])
    assert not any(f.confirmed for f in report.findings[len(confirmed):])
    # Overall, both attacks are found and the flags stay mostly right.
    recall, precision = recall_precision(report.flagged_rows, planted | flipped)
    assert recall >= 0.85 and precision >= 0.75


def test_a_trigger_on_non_linear_classes_is_found_with_the_stronger_model() -> None:
    # A logistic model of the other rows cannot place rows of circles, so it expects the
    # label half the time; the retest with the chosen boosting model finds the trigger.
    frame = circles()
    rng = np.random.default_rng(0)
    rows = rng.choice(np.flatnonzero(frame["y"].to_numpy() == 1), size=30, replace=False)
    frame.loc[rows, "n1"] = 2.23
    frame.loc[rows, "y"] = 0
    report = poison_check(frame, "y")
    recall, precision = recall_precision(report.rows_flagged_by("backdoor-trigger"),
                                         set(rows.tolist()))
    assert recall == 1.0 and precision == 1.0
