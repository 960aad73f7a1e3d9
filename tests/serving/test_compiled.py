"""The compiled serving path (``serving/compiled.py``): it serves only what reproduces the
original model on the reference sample, and every model of the zoo gets the same answers
through whichever runtime is chosen."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from garrison.serving import compiled_trees
from garrison.serving.compiled import TOLERANCE, CompiledRuntime, choose_runtime
from garrison.serving.runtime import LinearRuntime, SklearnRuntime, runtime_for

from ..scanning import sklearn_zoo as zoo

#: The families the issue promises, as zoo case ids: each must compile.
MUST_COMPILE = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
                "ExtraTreesRegressor", "GradientBoostingClassifier",
                "GradientBoostingRegressor", "HistGradientBoostingClassifier",
                "HistGradientBoostingRegressor")


def _numeric(x: Any) -> np.ndarray | None:
    try:
        m = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return m if m.ndim == 2 and np.isfinite(m).all() else None


def _choose(est: Any, x: np.ndarray) -> tuple[Any, Any, list[str]]:
    names = [f"f{i}" for i in range(x.shape[1])]
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        runtime = runtime_for(est, "pickle", names)
        chosen, compilation = choose_runtime(runtime, est, names, x)
    return chosen, compilation, names


def _servable_cases() -> list[str]:
    """Every zoo case but the estimators that cannot predict at all (transformers,
    clusterers without ``predict``): no runtime serves those, so they are left out here
    rather than skipped."""
    classes = zoo._classes()
    return sorted(case for case in zoo.CASES()
                  if case not in classes or callable(getattr(classes[case], "predict", None)))


@pytest.mark.parametrize("case", _servable_cases())
def test_chosen_runtime_agrees_with_the_model_on_its_reference_sample(case: str) -> None:
    est, x = zoo.build(case)
    ref = _numeric(x)
    if ref is None or not callable(getattr(est, "predict", None)):
        pytest.skip("not servable from numeric rows")
    try:
        chosen, compilation, names = _choose(est, ref)
    except Exception:
        pytest.skip("no runtime serves this estimator")
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        if compilation.compiled:
            assert isinstance(chosen, CompiledRuntime | LinearRuntime)
            got = chosen.predict(ref)
            if got.scores is not None:
                expected = np.asarray(est.predict_proba(ref), dtype=np.float64)
                assert np.max(np.abs(got.scores - expected)) < TOLERANCE
                np.testing.assert_array_equal(got.classes, est.classes_)
                np.testing.assert_array_equal(got.labels, est.predict(ref))
            else:
                expected = np.asarray(est.predict(ref), dtype=np.float64)
                np.testing.assert_allclose(got.labels, expected, rtol=TOLERANCE, atol=0)
        else:
            assert isinstance(chosen, SklearnRuntime)
            assert compilation.reason
    if case in MUST_COMPILE or case in ("xgboost.XGBClassifier", "xgboost.XGBRegressor",
                                        "lightgbm.LGBMClassifier", "lightgbm.LGBMRegressor"):
        assert compilation.compiled, compilation


def test_a_compiled_runtime_that_disagrees_is_not_served(monkeypatch) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    est = HistGradientBoostingClassifier(max_iter=20).fit(X, (X[:, 0] > 0).astype(int))
    real = compiled_trees.build_graph

    def off_by_a_little(model: Any) -> Any:
        graph = real(model)
        from dataclasses import replace

        return replace(graph, base=graph.base + 1e-4)  # A converter bug, say.

    monkeypatch.setattr(compiled_trees, "build_graph", off_by_a_little)
    chosen, compilation, _ = _choose(est, X[:100])
    assert isinstance(chosen, SklearnRuntime) and chosen.model is est
    assert not compilation.compiled
    assert "disagrees" in compilation.reason and compilation.max_abs_diff is not None
    assert compilation.max_abs_diff >= TOLERANCE


def test_without_a_reference_sample_the_original_serves() -> None:
    from sklearn.ensemble import RandomForestClassifier

    X = np.random.default_rng(1).normal(size=(100, 4))
    est = RandomForestClassifier(5, random_state=0).fit(X, X[:, 0] > 0)
    names = ["a", "b", "c", "d"]
    chosen, compilation = choose_runtime(runtime_for(est, "pickle", names), est, names, None)
    assert isinstance(chosen, SklearnRuntime) and not compilation.compiled
    assert "reference" in compilation.reason


def test_rows_with_missing_values_go_to_the_original_model() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    est = HistGradientBoostingClassifier(max_iter=10).fit(X, (X[:, 1] > 0).astype(int))
    chosen, compilation, _ = _choose(est, X[:50])
    assert compilation.compiled
    rows = X[:5].copy()
    rows[2, 1] = np.nan
    np.testing.assert_allclose(chosen.predict_proba(rows), est.predict_proba(rows), atol=1e-12)


def test_a_pipeline_with_a_scaler_in_front_compiles_and_agrees() -> None:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 5)) * 10 + 3
    y = (X[:, 0] + X[:, 2] > 6).astype(int) + (X[:, 1] > 3)
    est = make_pipeline(StandardScaler(), RobustScaler(), MinMaxScaler(clip=True),
                        GradientBoostingClassifier(n_estimators=15)).fit(X, y)
    chosen, compilation, _ = _choose(est, X[:100])
    assert compilation.compiled and compilation.family == "Pipeline"
    fresh = rng.normal(size=(50, 5)) * 10 + 3
    assert np.max(np.abs(chosen.predict_proba(fresh) - est.predict_proba(fresh))) < TOLERANCE
