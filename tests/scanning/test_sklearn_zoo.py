"""Every public scikit-learn estimator (and the XGBoost/LightGBM wrappers) with its common
options: fitted, saved with pickle, joblib and skops, scanned safe, loaded through the
guarded loaders, and computing what the original computes."""

from __future__ import annotations

import io
import pickle
import warnings
from typing import Any

import numpy as np
import pytest

from garrison.registry.loader import LOADERS
from garrison.scanning import DEFAULT_POLICY, scan_bytes

from . import sklearn_zoo as zoo

CASE_IDS = sorted(zoo.CASES())
#: skops cannot save these at all (its own limitation, checked below so the list stays true).
SKOPS_CANNOT_SAVE: frozenset[str] = frozenset({"Birch"})


def _dump(fmt: str, est: Any) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "pickle":
            return pickle.dumps(est, protocol=5)
        if fmt == "joblib":
            import joblib

            buffer = io.BytesIO()
            joblib.dump(est, buffer)
            return buffer.getvalue()
        import skops.io

        return skops.io.dumps(est)


def _assert_same_outputs(original: Any, loaded: Any, x: Any) -> None:
    expected = zoo.outputs(original, x)
    got = zoo.outputs(loaded, x)
    assert expected, "the case computes nothing to compare"
    assert got.keys() == expected.keys()
    for method, value in expected.items():
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(got[method], value, rtol=1e-7, atol=1e-9,
                                       err_msg=method)
        else:
            np.testing.assert_array_equal(got[method], value, err_msg=method)


def test_every_estimator_has_a_case_and_every_recipe_a_real_estimator() -> None:
    names = set(zoo.all_estimator_names())
    assert len(names) >= 200
    assert names <= set(CASE_IDS)
    assert set(zoo.RECIPES()) <= names
    assert len(CASE_IDS) >= len(names) + 50


@pytest.mark.parametrize("fmt", ["pickle", "joblib", "skops"])
@pytest.mark.parametrize("case", CASE_IDS)
def test_fitted_estimator_scans_safe_and_loads(case: str, fmt: str) -> None:
    est, x = zoo.build(case)
    if fmt == "skops" and case in SKOPS_CANNOT_SAVE:
        with pytest.raises(Exception):
            _dump(fmt, est)
        return
    data = _dump(fmt, est)
    suffix = {"pickle": ".pkl", "joblib": ".joblib", "skops": ".skops"}[fmt]
    report = scan_bytes(data, f"{case}{suffix}")
    assert report.verdict == "safe", [f.to_dict() for f in report.findings]
    assert report.format.split("+")[0] in {"pickle": {"pickle"}, "joblib": {"joblib", "pickle"},
                                           "skops": {"skops"}}[fmt]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = LOADERS[report.format](data, DEFAULT_POLICY)
    assert type(loaded) is type(est)
    _assert_same_outputs(est, loaded, x)
