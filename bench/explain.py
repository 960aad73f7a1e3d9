"""Cost of per-decision explanations, per row, against the model's own prediction.

Run: ``python bench/explain.py [--strict]``

Each figure is the best of several timed repeats (the machine is shared and noisy) and is
printed with its ratio to a baseline measured in the same run: the model's own scoring call
on the same rows, which the gateway pays anyway. The goals are ratios, because absolute times
on a shared host move by several times between runs. Checked with ``--strict``:

* linear (StandardScaler + LogisticRegression, 30 features), one row, full ``Explanation``
  objects: at most 0.5x the model's own ``decision_function`` on that row;
* path-dependent TreeSHAP for a 100-tree random forest of depth 8 on 20 features, one row:
  at most 4x the forest's own ``predict`` on that row.

XGBoost's C++ TreeSHAP on a 100-tree depth-8 booster is printed for reference only. Every
timing runs with the BLAS and OpenMP pools limited to one thread (threadpoolctl), as in a
gateway worker; otherwise thread start-up on a busy host swamps the small calls measured here.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from garrison.explain import explainer_for

GOAL_LINEAR_RATIO = 0.5
GOAL_TREE_RATIO = 4.0


def best_us(fn: Callable[[], Any], number: int, repeat: int = 7) -> float:
    """Best per-call time in microseconds over ``repeat`` repeats."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def line(label: str, value_us: float, baseline_us: float, unit: str = "us") -> None:
    shown = value_us / 1000 if unit == "ms" else value_us
    print(f"  {label:<52} {shown:10.2f} {unit}   {value_us / baseline_us:6.2f}x baseline")


def bench_linear() -> tuple[float, float]:
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    explainer = explainer_for(model, [f"x{i}" for i in range(X.shape[1])])
    row = X[:1]
    baseline = best_us(lambda: model.decision_function(row), 200)
    print("linear: StandardScaler + LogisticRegression, 30 features")
    print(f"  {'baseline: model.decision_function, 1 row':<52} {baseline:10.2f} us")
    arrays = best_us(lambda: explainer.contributions(row), 2000)
    full = best_us(lambda: explainer.explain(row), 2000)
    batch = best_us(lambda: explainer.explain(X[:100]), 20) / 100
    line("contributions() arrays, 1 row", arrays, baseline)
    line("explain() -> Explanation, 1 row", full, baseline)
    line("explain() -> Explanation, per row in a batch of 100", batch, baseline)
    return full, full / baseline


def bench_forest() -> tuple[float, float]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 20))
    y = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + X[:, 2] * X[:, 3] + rng.normal(size=5000)
    model = RandomForestRegressor(n_estimators=100, max_depth=8, random_state=0).fit(X, y)
    names = [f"f{i}" for i in range(20)]
    build = best_us(lambda: explainer_for(model, names), 1, repeat=2)
    explainer = explainer_for(model, names)
    row = X[:1]
    baseline = best_us(lambda: model.predict(row), 20)
    leaves = sum(int(e.tree_.n_leaves) for e in model.estimators_)
    print(f"tree: RandomForestRegressor, 100 trees, depth 8, 20 features, {leaves} leaves")
    print(f"  {'baseline: model.predict, 1 row':<52} {baseline / 1000:10.2f} ms")
    single = best_us(lambda: explainer.explain(row), 3)
    batch = best_us(lambda: explainer.explain(X[:64]), 1, repeat=5) / 64
    line("explainer construction (once per model version)", build, baseline, "ms")
    line("explain(), 1 row", single, baseline, "ms")
    line("explain(), per row in a batch of 64", batch, baseline, "ms")
    return single, single / baseline


def bench_xgboost_reference() -> None:
    try:
        import xgboost
    except ImportError:
        print("xgboost reference: skipped (xgboost not installed)")
        return
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 20))
    y = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + X[:, 2] * X[:, 3] + rng.normal(size=5000)
    model = xgboost.XGBRegressor(n_estimators=100, max_depth=8, n_jobs=1).fit(X, y)
    explainer = explainer_for(model, [f"f{i}" for i in range(20)])
    row = X[:1]
    baseline = best_us(lambda: model.predict(row), 20)
    print("reference: XGBRegressor, 100 trees, depth 8, 20 features (library C++ TreeSHAP)")
    print(f"  {'baseline: model.predict, 1 row':<52} {baseline / 1000:10.2f} ms")
    line("explain(), 1 row", best_us(lambda: explainer.explain(row), 5), baseline, "ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        linear_us, linear_ratio = bench_linear()
        tree_us, tree_ratio = bench_forest()
        bench_xgboost_reference()
    missed = []
    if linear_ratio > GOAL_LINEAR_RATIO:
        missed.append(f"linear: {linear_us:.1f} us, {linear_ratio:.2f}x")
    if tree_ratio > GOAL_TREE_RATIO:
        missed.append(f"tree: {tree_us / 1000:.2f} ms, {tree_ratio:.2f}x")
    print("goals:", "all met" if not missed else "MISSED " + "; ".join(missed))
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
