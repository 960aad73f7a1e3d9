"""Outliers: rows far from every other row, scored by an isolation forest.

An injected row that sits where no real data lives (crafted extreme values, a unit mix-up
left in on purpose) is isolated by few random splits. The score is the isolation-forest
anomaly score ``s`` in (0, 1] of Liu, Ting and Zhou (2008): about 0.5 for ordinary rows,
approaching 1 for rows that are isolated almost at once. Outliers are not poison by
themselves, so the default threshold is strict.

Each tree is grown on 256 rows. On sets larger than :data:`_FIT_POOL` rows, those 256 are
drawn from a seeded random pool of that many rows rather than from all of them: scikit-learn
passes every row to every tree's fit, which made fitting cost as much as scoring.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest
from threadpoolctl import threadpool_limits

from garrison.detection.poisoning._context import CheckContext
from garrison.detection.poisoning.registry import (
    CheckOutcome,
    PoisonDetector,
    RowFlag,
)

__all__ = ["OUTLIER"]

_FIT_POOL = 20_000


def _run(ctx: CheckContext, threshold: float) -> CheckOutcome:
    matrix = ctx.prepared.matrix
    forest = IsolationForest(
        n_estimators=100, max_samples=min(256, matrix.shape[0]), random_state=ctx.random_state
    )
    n = matrix.shape[0]
    pool = np.sort(ctx.rng(41).choice(n, size=_FIT_POOL, replace=False)) if n > _FIT_POOL else None
    with threadpool_limits(limits=1):
        forest.fit(matrix if pool is None else matrix[pool])
        scores = -forest.score_samples(matrix)
    median = float(np.median(scores))
    flags = []
    for row in np.flatnonzero(scores >= threshold):
        values = np.abs(matrix[row])
        top = int(values.argmax())
        flags.append(
            RowFlag(
                row=int(row),
                score=float(scores[row]),
                detail=(
                    f"isolation score {scores[row]:.2f} (median row {median:.2f}); most extreme "
                    f"feature {ctx.prepared.column_source[top]!r} at {values[top]:.1f} standard "
                    f"deviations"
                ),
            )
        )
    return CheckOutcome(
        method="isolation forest (100 trees, 256 rows each) on standardized features",
        flags=tuple(flags),
        detail={"median_score": round(median, 4), "max_score": round(float(scores.max()), 4)},
    )


OUTLIER = PoisonDetector(
    id="outlier",
    description=(
        "Rows isolated from the rest of the data. Threshold: minimum isolation-forest "
        "anomaly score (0.5 is ordinary, 1 is maximally isolated)."
    ),
    default_threshold=0.7,
    applies_to=("binary", "multiclass", "numeric", "categorical"),
    run=_run,
)
