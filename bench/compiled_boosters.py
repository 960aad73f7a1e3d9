"""Compiled boosters (XGBoost, LightGBM, HistGradientBoosting) against their own predict.

Run: ``python bench/compiled_boosters.py [--strict]``

For each booster (binary classifier, 20 features, 100 trees, trained on rows with 5%
missing values; XGBoost and LightGBM native and wrapped, and scikit-learn's
``HistGradientBoostingClassifier``, which also sends NaN down its trees) the script
builds the runtime the gateway would serve (``serving/compiled.py``, checked on a
200-row reference sample) and times, in the same run, one row and a batch of 100 rows
(10% missing values) through:

* the library's own call (``Booster.predict`` on a ``DMatrix`` / on the array,
  ``predict_proba`` of a wrapper), one thread, as a gateway worker runs it;
* the runtime Garrison served before (``BoosterRuntime`` for a native booster,
  ``SklearnRuntime`` for a wrapper; for ``HistGradientBoosting`` this is also what
  served a batch with a missing value before its graph was checked on holes);
* the compiled runtime (ONNX ``TreeEnsemble``, one thread).

Each figure is the best of several repeats (the machine is shared and noisy); the ratio
to the library's call in the same run is the number to compare across runs. With
``--strict`` the script exits 1 when a compiled runtime is slower than the library's
call, or when a booster does not compile.
"""

from __future__ import annotations

import argparse
import sys
import timeit
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import load_line
from threadpoolctl import threadpool_limits

from garrison.serving.compiled import CompiledRuntime, choose_runtime
from garrison.serving.runtime import runtime_for

N_FEATURES, N_TREES = 20, 100
NAMES = [f"f{i}" for i in range(N_FEATURES)]


def best_us(fn: Callable[[], Any], number: int, repeat: int = 5) -> float:
    """Best per-call time in microseconds over ``repeat`` repeats."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def _data(seed: int, n: int, missing: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    y = (X[:, 0] + np.sin(3 * X[:, 1]) + X[:, 2] * X[:, 3] > 0).astype(int)
    X[rng.random(X.shape) < missing] = np.nan
    return X, y


def _models() -> list[tuple[str, Any, str, Callable[[np.ndarray], Any]]]:
    """(label, served model, stored format, the library's own call)."""
    import lightgbm
    import xgboost

    X, y = _data(0, 5000, 0.05)
    out: list[tuple[str, Any, str, Callable[[np.ndarray], Any]]] = []
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1},
                            xgboost.DMatrix(X, label=y, feature_names=NAMES),
                            num_boost_round=N_TREES)
    out.append(("xgboost Booster (depth 6)", booster, "xgboost-json",
                lambda rows: booster.predict(xgboost.DMatrix(rows, feature_names=NAMES))))
    wrapper = xgboost.XGBClassifier(n_estimators=N_TREES, max_depth=6, n_jobs=1).fit(X, y)
    out.append(("XGBClassifier (depth 6)", wrapper, "pickle", wrapper.predict_proba))
    lgb = lightgbm.train({"objective": "binary", "num_leaves": 31, "verbose": -1,
                          "num_threads": 1}, lightgbm.Dataset(X, label=y),
                         num_boost_round=N_TREES)
    out.append(("lightgbm Booster (31 leaves)", lgb, "lightgbm",
                lambda rows: lgb.predict(rows, num_threads=1)))
    lwrap = lightgbm.LGBMClassifier(n_estimators=N_TREES, num_leaves=31, n_jobs=1,
                                    verbose=-1).fit(X, y)
    out.append(("LGBMClassifier (31 leaves)", lwrap, "pickle", lwrap.predict_proba))
    from sklearn.ensemble import HistGradientBoostingClassifier

    hgb = HistGradientBoostingClassifier(max_iter=N_TREES, random_state=0).fit(X, y)
    out.append(("scikit-learn HistGradientBoostingClassifier", hgb, "pickle",
                hgb.predict_proba))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    print(load_line())
    reference, _ = _data(1, 200, 0.05)
    batch, _ = _data(2, 100, 0.10)
    row = batch[~np.isnan(batch).any(axis=1)][:1]
    missed: list[str] = []
    warnings.simplefilter("ignore")
    with threadpool_limits(limits=1):
        for label, model, fmt, library in _models():
            served = runtime_for(model, fmt, NAMES)
            chosen, compilation = choose_runtime(served, model, NAMES, reference)
            print(f"{label}: compiled={compilation.compiled} "
                  f"max_abs_diff={compilation.max_abs_diff} "
                  f"missing values -> {compilation.missing_values or 'original'}")
            if not isinstance(chosen, CompiledRuntime):
                missed.append(f"{label}: not compiled ({compilation.reason})")
                continue
            for name, rows, number in (("1 row", row, 100), ("100 rows", batch, 10)):
                base = best_us(lambda f=library, r=rows: f(r), number)
                before = best_us(lambda f=served.predict, r=rows: f(r), number)
                after = best_us(lambda f=chosen.predict, r=rows: f(r), number)
                print(f"  {name:<9} library {base:9.1f} us | served before "
                      f"({served.kind}) {before:9.1f} us {before / base:5.2f}x | compiled "
                      f"{after:9.1f} us {after / base:5.2f}x")
                if after > base:
                    missed.append(f"{label}, {name}: compiled {after / base:.2f}x the library")
    print("goals:", "all met" if not missed else "MISSED " + "; ".join(missed))
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
