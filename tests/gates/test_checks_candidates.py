"""Every defect is blocked for the right reason; no good candidate is blocked.

Candidates come from scikit-learn's bundled datasets (breast cancer, wine, diabetes) and
seeded synthetic data (``tests/gates/candidates.py``), each judged by the default policy
(only the holdout set, the label and, for fairness, the sensitive column are named).
"""

from __future__ import annotations

import pytest

from garrison.gates.evaluate import evaluate
from tests.gates import candidates


@pytest.mark.parametrize("name", candidates.GOOD)
def test_no_good_candidate_is_blocked(name: str) -> None:
    case = candidates.good(name)
    result = evaluate(case.candidate, case.production, case.holdout, case.policy, case.training)
    assert result.passed, result.summary
    assert [c.name for c in result.checks] == [
        "performance",
        "fairness",
        "robustness",
        "privacy",
        "leakage",
        "calibration",
    ]
    for check in result.checks:
        assert check.reason and "\n" not in check.reason


@pytest.mark.parametrize("name", sorted(candidates.DEFECTS))
def test_each_defect_is_blocked_for_the_right_reason(name: str) -> None:
    case = candidates.defect(name)
    check, words, also = candidates.DEFECTS[name]
    result = evaluate(case.candidate, case.production, case.holdout, case.policy, case.training)
    assert not result.passed
    failed = {c.name for c in result.failed}
    assert check in failed, result.summary
    assert words in result.check(check).reason, result.check(check).reason
    assert failed <= {check} | also, result.summary


def test_within_noise_candidates_really_are_worse_than_production() -> None:
    # The "within noise" good candidates must be genuinely (slightly) worse, or the
    # test above would not show that noise does not block.
    for name in (
        "cancer-logistic-weaker-within-noise",
        "synthetic-naive-bayes",
        "diabetes-random-forest",
    ):
        case = candidates.good(name)
        result = evaluate(case.candidate, case.production, case.holdout, case.policy, case.training)
        performance = result.check("performance")
        assert performance.passed
        assert float(performance.metrics["drop"]) > 0, performance.metrics
        assert "not significant" in performance.reason
