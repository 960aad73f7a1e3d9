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


def _onnx_reading(location: str) -> bytes:
    """A model whose only weight is external data at ``location``: y = x + file bytes."""
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros(16, np.uint8), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("length", "16")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "leak",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [16])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [16])], initializer=[weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8).SerializeToString()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_onnx_external_data_cannot_read_the_working_directory(env, tmp_path,
                                                              monkeypatch) -> None:
    """ONNX Runtime resolves external data from bytes against the CWD (onnxruntime#6696):
    a model naming a file there must be refused by the scan, registration and loading."""
    from garrison.audit import AuditQuery
    from garrison.errors import ArtifactRefused
    from garrison.scanning import scan_bytes

    services, p = env
    cwd = tmp_path / "server"
    cwd.mkdir()
    (cwd / "garrison.db").write_bytes(b"SECRET-SECRET-SECRET")
    monkeypatch.chdir(cwd)
    data = _onnx_reading("garrison.db")

    report = scan_bytes(data, "leak.onnx")
    assert report.verdict == "refused"
    assert {f.rule_id for f in report.findings} == {"onnx-external-data-missing"}

    # Uploaded from elsewhere: the file is not next to the model, registration refuses.
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "leak.onnx").write_bytes(data)
    with pytest.raises(ArtifactRefused):
        services.registry.register(p["alice"], "leak", upload / "leak.onnx")

    # Even with the named file next to the model, registration scans a private copy
    # whose folder holds nothing else: refused before anything is signed or stored.
    (cwd / "leak.onnx").write_bytes(data)
    with pytest.raises(ArtifactRefused):
        services.registry.register(p["alice"], "leak", cwd / "leak.onnx")
    with services.store.read() as tx:
        assert tx.models.list_versions() == []
    failed = services.store.query(AuditQuery(limit=None, outcome="failed"))
    assert failed and all(e.reason == "artifact-refused" for e in failed)


def test_onnx_loader_reads_no_external_data_from_the_working_directory(tmp_path,
                                                                      monkeypatch) -> None:
    """Defence in depth: even without the scan, the ONNX loader resolves external data
    against an empty directory, never the process's working directory."""
    import onnxruntime

    from garrison.registry.loader import _onnx
    from garrison.scanning import DEFAULT_POLICY

    (tmp_path / "garrison.db").write_bytes(b"SECRET-SECRET-SECRET")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(onnxruntime.capi.onnxruntime_pybind11_state.Fail):
        _onnx(_onnx_reading("garrison.db"), DEFAULT_POLICY)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_load_refuses_a_format_other_than_the_registered_one(env, data, tmp_path,
                                                             monkeypatch) -> None:
    import dataclasses

    import garrison.registry.loader as loader_module
    from garrison.audit import AuditQuery
    from garrison.errors import ArtifactRefused

    services, p = env
    path = tmp_path / "model.onnx"
    _write("onnx", data, path)
    v = services.registry.register(p["alice"], "fmt", path)
    names: list[str] = []
    real_scan = loader_module.scan_bytes

    def scan(data, name, policy):  # type: ignore[no-untyped-def]
        names.append(name)
        report = real_scan(data, name, policy)
        return report if len(names) == 1 else dataclasses.replace(report, format="pickle")

    monkeypatch.setattr(loader_module, "scan_bytes", scan)
    assert services.loader.load("fmt", v.version).format == "onnx"
    assert names[0] == "fmt:1.onnx"  # the registered file's extension, so hints match
    with pytest.raises(ArtifactRefused, match="scanned as 'pickle'"):
        services.loader.load("fmt", v.version)
    [event] = services.store.query(AuditQuery(limit=None, action="load-model-version",
                                              outcome="failed"))
    assert event.reason == "artifact-refused"
    assert "registered as 'onnx'" in event.payload


def test_joblib_loads_hold_the_unpickler_swap_lock(monkeypatch) -> None:
    import io

    import garrison.registry.loader as loader_module
    from garrison.scanning import DEFAULT_POLICY

    seen: list[bool] = []
    real_load = joblib.load

    def load(source):  # type: ignore[no-untyped-def]
        import joblib.numpy_pickle as numpy_pickle

        seen.append(loader_module._JOBLIB_LOCK.locked())
        seen.append(numpy_pickle.NumpyUnpickler.__name__ == "GuardedJoblibUnpickler")
        return real_load(source)

    monkeypatch.setattr(joblib, "load", load)
    buffer = io.BytesIO()
    joblib.dump({"w": np.arange(4)}, buffer)
    out = loader_module._joblib(buffer.getvalue(), DEFAULT_POLICY)
    assert list(out["w"]) == [0, 1, 2, 3]
    assert seen == [True, True] and not loader_module._JOBLIB_LOCK.locked()
