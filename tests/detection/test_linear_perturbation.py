"""perturbation-instability on a linear model: the decision shift of each noisy copy is
added instead of calling the model; the labels are the model's own on the copies."""

from __future__ import annotations

import numpy as np

from garrison.demo import FEATURES, demo_model
from garrison.detection.adversarial import PerturbationInstabilityDetector
from garrison.detection.base import FitContext
from garrison.serving.compiled import choose_runtime
from garrison.serving.runtime import runtime_for


class _Plain:
    """The same model without the linear shortcut (every copy through predict_proba)."""

    def __init__(self, runtime):
        self.predict_proba = runtime.predict_proba


def _fitted(model, X, seed):
    det = PerturbationInstabilityDetector()
    det.fit(X, FitContext(rng=np.random.default_rng(seed), scale=X.std(axis=0), model=model))
    return det


def test_the_linear_shortcut_scores_as_the_model_would() -> None:
    est, X = demo_model()
    runtime, compilation = choose_runtime(runtime_for(est, "pickle", FEATURES), est, FEATURES,
                                          X[:200])
    assert compilation.compiled and callable(getattr(runtime, "decision_shift", None))
    fast, slow = _fitted(runtime, X, 3), _fitted(_Plain(runtime), X, 3)
    assert fast._shift is not None and slow._shift is None
    np.testing.assert_array_equal(fast._noise, slow._noise)  # Same pool, same draws.
    rows = X[:300].copy()
    # Push every third row almost onto the boundary, so that copies do flip.
    w = est.coef_[0]
    rows[::3] -= np.outer((rows[::3] @ w + est.intercept_[0]) / (w @ w), w) * 0.98
    a, b = fast.score(rows), slow.score(rows)
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert (a[::3] > 0.5).any()  # Some rows do flip: the comparison is not vacuous.


def test_one_row_at_a_time_scores_as_the_model_would() -> None:
    est, X = demo_model()
    runtime, _ = choose_runtime(runtime_for(est, "pickle", FEATURES), est, FEATURES, X[:200])
    fast, slow = _fitted(runtime, X, 4), _fitted(_Plain(runtime), X, 4)
    w = est.coef_[0]
    rows = X[:40].copy()
    rows[::2] -= np.outer((rows[::2] @ w + est.intercept_[0]) / (w @ w), w) * 0.98
    a = np.concatenate([fast.score(rows[i:i + 1]) for i in range(40)])
    b = np.concatenate([slow.score(rows[i:i + 1]) for i in range(40)])
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert (a[::2] > 0.5).any()
