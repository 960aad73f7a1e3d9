"""``InputMonitor.flags``: the gateway's column-wise verdicts equal ``score_batch``'s."""

from __future__ import annotations

import numpy as np
import pandas as pd

from garrison.demo import FEATURES, demo_model
from garrison.detection import InputMonitor
from garrison.serving.runtime import runtime_for


def _expected(monitor: InputMonitor, rows: np.ndarray) -> list[dict]:
    return [{"row": i, "score": round(float(v.score), 4), "reasons": list(v.reasons)[:5]}
            for i, v in enumerate(monitor.score_batch(rows)) if v.anomalous]


def test_flags_match_score_batch_row_for_row() -> None:
    est, X = demo_model()
    runtime = runtime_for(est, "pickle", FEATURES)
    monitor = InputMonitor.fit(pd.DataFrame(X, columns=FEATURES), model=runtime, fpr=0.05,
                               detectors=("magnitude", "mahalanobis"))
    rng = np.random.default_rng(5)
    rows = X[rng.choice(len(X), 200)].copy()
    rows[::7] *= 4.0  # Outliers: flagged by magnitude and Mahalanobis.
    rows[3, 2] = X[:, 2].max() * 1.05  # Within the schema, extreme in one column.
    got = monitor.flags(rows)
    assert got == _expected(monitor, rows)
    assert len(got) >= 200 // 7  # Something was flagged: the comparison is not vacuous.
    assert monitor.flags(X[:0]) == []


def test_rows_a_rule_refuses_take_the_per_row_path_and_agree() -> None:
    est, X = demo_model()
    monitor = InputMonitor.fit(pd.DataFrame(X, columns=FEATURES), fpr=0.05)
    rows = X[:10].copy()
    rows[4, 0] = 1e9  # Outside the profiled range: a rule fires.
    got = monitor.flags(rows)
    assert got == _expected(monitor, rows)
    assert any(f["row"] == 4 for f in got)


def test_one_row_at_a_time_matches_too() -> None:
    est, X = demo_model()
    monitor = InputMonitor.fit(pd.DataFrame(X, columns=FEATURES), fpr=0.05,
                               detectors=("magnitude", "mahalanobis"))
    rows = X[:60].copy()
    rows[::4] *= 4.0
    flagged = 0
    for i in range(len(rows)):
        got = monitor.flags(rows[i:i + 1])
        assert got == _expected(monitor, rows[i:i + 1])
        flagged += bool(got)
    assert flagged >= 15
