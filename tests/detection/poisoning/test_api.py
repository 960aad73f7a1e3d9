"""Confident learning against cleanlab, the registry, the report schema and input errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from garrison.detection.poisoning import (
    BUILTIN_DETECTORS,
    CheckOutcome,
    PoisonCheckConfig,
    PoisonDetector,
    RowFlag,
    detectors,
    find_label_issues,
    get_detector,
    poison_check,
    register_detector,
    unregister_detector,
)
from garrison.detection.poisoning._oof import out_of_fold_proba
from garrison.detection.poisoning._prepare import prepare
from garrison.errors import AlreadyExists, InvalidInput, LimitExceeded
from tests.detection.poisoning.attacks import bundled, mixed_frame, random_flips


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits"])
def test_confident_learning_matches_cleanlab(name: str) -> None:
    import cleanlab.filter as cleanlab_filter  # A dev dependency: fail, never skip.
    poisoned, _ = random_flips(bundled(name), 0.05, seed=1)
    prepared = prepare(poisoned, "y", max_rows=10**6, max_categories=50)
    proba = out_of_fold_proba(
        prepared.matrix,
        prepared.labels,
        prepared.n_classes,
        folds=5,
        models=("logistic",),
        random_state=1,
    )
    ours = set(np.flatnonzero(find_label_issues(prepared.labels, proba)).tolist())
    theirs = set(
        np.flatnonzero(cleanlab_filter.find_label_issues(prepared.labels, proba, n_jobs=1)).tolist()
    )
    assert ours, "the flips must produce label issues"
    # Measured: identical sets on breast_cancer and wine, Jaccard 0.90+ on digits.
    assert len(ours & theirs) / len(ours | theirs) >= 0.85


def test_builtin_detectors_are_registered_with_metadata() -> None:
    ids = [detector.id for detector in detectors()]
    assert ids[:6] == [d.id for d in BUILTIN_DETECTORS]
    assert ids[:6] == [
        "label-issue",
        "boundary-flip",
        "boundary-hole",
        "conflicting-duplicates",
        "outlier",
        "backdoor-trigger",
    ]
    for detector in BUILTIN_DETECTORS:
        assert detector.description and 0.0 <= detector.default_threshold <= 1.0
        assert {"binary", "multiclass"} <= set(detector.applies_to)
        assert detector.to_dict()["id"] == detector.id


def test_registry_refuses_duplicates_and_unknown_ids() -> None:
    with pytest.raises(AlreadyExists):
        register_detector(BUILTIN_DETECTORS[0])
    with pytest.raises(InvalidInput):
        get_detector("no-such-check")
    with pytest.raises(InvalidInput):
        poison_check(bundled("iris"), "y", config=PoisonCheckConfig(checks=("no-such-check",)))


def test_a_plugin_detector_runs_like_a_builtin() -> None:
    def first_rows(ctx, threshold):  # type: ignore[no-untyped-def]
        return CheckOutcome(
            method="flags the first three rows",
            flags=tuple(RowFlag(row, 0.9, "plug-in says so") for row in range(3)),
            detail={"seen_rows": ctx.prepared.n_rows},
        )

    register_detector(
        PoisonDetector("first-rows", "test plug-in", 0.5, ("binary", "multiclass"), first_rows)
    )
    try:
        config = PoisonCheckConfig(checks=("first-rows",))
        report = poison_check(bundled("iris"), "y", config=config)
    finally:
        unregister_detector("first-rows")
    assert report.flagged_rows == (0, 1, 2)
    assert report.summary("first-rows").detail == {"seen_rows": 150}
    assert report.model == "none"  # No out-of-fold model was needed.


def test_threshold_override_is_recorded_and_applied() -> None:
    poisoned, _ = random_flips(bundled("wine"), 0.05, seed=0)
    strict = PoisonCheckConfig(checks=("boundary-flip",), thresholds={"boundary-flip": 0.95})
    loose = PoisonCheckConfig(checks=("boundary-flip",), thresholds={"boundary-flip": 0.5})
    strict_report = poison_check(poisoned, "y", config=strict)
    loose_report = poison_check(poisoned, "y", config=loose)
    assert strict_report.summary("boundary-flip").threshold == 0.95
    assert set(strict_report.flagged_rows) <= set(loose_report.flagged_rows)
    assert all(f.score >= 0.95 for f in strict_report.findings)


def test_report_json_schema_and_determinism() -> None:
    poisoned, _ = random_flips(mixed_frame(400, seed=3), 0.05, seed=3)
    first = poison_check(poisoned, "y", random_state=7)
    again = poison_check(poisoned, "y", random_state=7)
    data = first.to_dict(max_findings=5)
    assert json.loads(json.dumps(data)) == data
    assert data == again.to_dict(max_findings=5)
    assert data["schema_version"] == 2 and data["kind"] == "garrison.poison-check"
    assert data["labels_judged"] is True and data["warnings"] == []
    assert data["model_selection"]["chosen"] in data["model_selection"]["candidates"]
    assert data["rows"] == 400 and data["classes"] == ["approve", "deny"]
    assert data["rows_flagged"] == len(first.findings) >= data["findings_shown"] == 5
    assert [c["check"] for c in data["checks"]] == [d.id for d in BUILTIN_DETECTORS]
    for check in data["checks"]:
        assert set(check) == {"check", "method", "threshold", "rows_flagged", "detail"}
    ranks = [(not f["confirmed"], -f["score"]) for f in data["findings"]]
    assert ranks == sorted(ranks)
    for finding in data["findings"]:
        assert set(finding) == {"row", "score", "confirmed", "label", "reasons"}
        assert 0.0 <= finding["score"] <= 1.0
        for reason in finding["reasons"]:
            assert set(reason) == {"check", "detail", "score", "confirmed"}
            assert 0 <= reason["score"] <= 1
            assert finding["score"] >= reason["score"]


def test_non_default_index_and_integer_column_names() -> None:
    frame = bundled("wine")
    frame.index = frame.index * 10 + 5
    frame.columns = [*range(frame.shape[1] - 1), "y"]
    report = poison_check(frame, "y", config=PoisonCheckConfig(checks=("conflicting-duplicates",)))
    assert report.rows == 178 and report.findings == ()


@pytest.mark.parametrize(
    ("frame", "target", "message"),
    [
        (pd.DataFrame({"a": range(20), "y": [0, 1] * 10}), "label", "unknown target"),
        (pd.DataFrame({"a": range(20), "y": [1] * 20}), "y", "single class"),
        (pd.DataFrame({"a": range(20), "y": [0] * 19 + [1]}), "y", "single row"),
        (pd.DataFrame({"a": range(20), "y": [0, None] * 10}), "y", "missing"),
        (pd.DataFrame({"a": range(5), "y": [0, 1, 0, 1, 0]}), "y", "at least 10 rows"),
        (pd.DataFrame({"y": [0, 1] * 10}), "y", "no feature columns"),
    ],
)
def test_unusable_tables_raise_invalid_input(
    frame: pd.DataFrame, target: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        poison_check(frame, target)


def test_row_limit_and_config_validation() -> None:
    with pytest.raises(LimitExceeded):
        poison_check(bundled("iris"), "y", config=PoisonCheckConfig(max_rows=100))
    with pytest.raises(InvalidInput):
        PoisonCheckConfig(folds=1)
    with pytest.raises(InvalidInput):
        PoisonCheckConfig(thresholds={"outlier": 1.5})
    with pytest.raises(InvalidInput):
        PoisonCheckConfig(model="forest")  # type: ignore[arg-type]


def test_missing_and_infinite_values_are_handled() -> None:
    frame = mixed_frame(300, seed=4)
    frame.loc[::7, "income"] = np.nan
    frame.loc[::11, "debt"] = np.inf
    frame.loc[::13, "colour"] = None
    report = poison_check(frame, "y")
    assert report.rows == 300
