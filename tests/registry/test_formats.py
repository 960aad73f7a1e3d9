"""Every supported format registers (scanned, signed, sealed) and loads through the safe loader,
and the loaded model predicts exactly like the original."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from garrison.serving.runtime import runtime_for


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:, :8].astype(np.float64), y


def _lr(data):
    X, y = data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)


def _write(fmt, data, path):
    X, y = data
    if fmt == "pickle":
        model = _lr(data)
        path.write_bytes(pickle.dumps(model, protocol=5))
    elif fmt == "joblib-zlib":
        model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
        joblib.dump(model, path, compress=("zlib", 3))
    elif fmt == "skops":
        import skops.io

        model = _lr(data)
        skops.io.dump(model, path)
    elif fmt == "onnx":
        from skl2onnx import to_onnx

        model = _lr(data)
        path.write_bytes(to_onnx(model, X[:1].astype(np.float32),
                                 options={"zipmap": False}).SerializeToString())
    elif fmt == "xgboost":
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=5, max_depth=3).fit(X, y)
        model.get_booster().save_model(str(path.with_suffix(".json")))
        path.write_bytes(path.with_suffix(".json").read_bytes())
        return model, "xgboost"
    elif fmt == "lightgbm":
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
        model.booster_.save_model(str(path))
        return model, "lightgbm"
    return model, fmt


@pytest.mark.parametrize("fmt", ["pickle", "joblib-zlib", "skops", "onnx", "xgboost",
                                 "lightgbm"])
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_register_and_load_each_format(env, data, tmp_path, fmt) -> None:
    services, p = env
    path = tmp_path / f"model.{fmt}"
    original, _ = _write(fmt, data, path)
    X, _ = data
    names = [f"x{i}" for i in range(X.shape[1])]
    v = services.registry.register(p["alice"], "multi", path, {
        "input_schema": {"features": [{"name": n} for n in names]}})
    loaded = services.loader.load("multi", v.version)
    runtime = runtime_for(loaded.model, v.format, names)
    out = runtime.predict(X[:50])
    expected = original.predict_proba(X[:50])
    assert out.scores is not None
    assert np.allclose(out.scores, expected, atol=1e-4), v.format
