"""Corpus builders for data formats and containers, and the benign sklearn-era models."""

from __future__ import annotations

import functools
import io
import json
import pickle
import struct
import tarfile
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from payloads import PICKLE_PAYLOADS, Built, Evil

__all__ = ["MORE_BENIGN", "MORE_MALICIOUS"]


def _write(out: Path, filename: str, data: bytes) -> Built:
    path = out / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Built(path)


def _evil_pickle(out: Path, name: str) -> bytes:
    return PICKLE_PAYLOADS["pickle-os-system"][0](str(out / f"MARKER-{name}"))


# -- ONNX --------------------------------------------------------------------------------

def _onnx(domain: str = "", location: str | None = None, opset_only: bool = False) -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    op = "Relu" if not domain or opset_only else "Exfiltrate"
    node = helper.make_node(op, ["x"], ["y"], domain="" if opset_only else domain)
    weight = numpy_helper.from_array(np.zeros(4, np.float32), "w")
    if location is not None:
        weight.ClearField("raw_data")
        weight.data_location = TensorProto.EXTERNAL
        entry = weight.external_data.add()
        entry.key, entry.value = "location", location
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], initializer=[weight])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def _onnx_symlink(out: Path) -> Any:
    folder = out / "onnx-symlink"
    folder.mkdir(exist_ok=True)
    link = folder / "weights.bin"
    if not link.is_symlink():
        link.symlink_to("/etc/hostname")
    return _write(folder, "model.onnx", _onnx(location="weights.bin"))


def _onnx_external_ok(out: Path) -> Any:
    folder = out / "onnx-external-ok"
    folder.mkdir(exist_ok=True)
    (folder / "weights.bin").write_bytes(b"\x00" * 16)
    return _write(folder, "model.onnx", _onnx(location="weights.bin"))


def _skl2onnx(out: Path) -> Any:
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(x, y)
    onx = to_onnx(model, x[:1].astype(np.float32))
    return _write(out, "skl2onnx.onnx", onx.SerializeToString())


# -- safetensors -------------------------------------------------------------------------

def _st(header: dict[str, Any] | str, data: bytes, length: int | None = None) -> bytes:
    raw = (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def _f32(begin: int, end: int, n: int) -> dict[str, Any]:
    return {"dtype": "F32", "shape": [n], "data_offsets": [begin, end]}


SAFETENSORS_BAD: dict[str, bytes] = {
    "safetensors-overlap": _st({"a": _f32(0, 8, 2), "b": _f32(4, 12, 2)}, b"\x00" * 12),
    "safetensors-out-of-bounds": _st({"a": _f32(0, 16, 4)}, b"\x00" * 8),
    "safetensors-gap": _st({"a": _f32(0, 8, 2), "b": _f32(12, 20, 2)}, b"\x00" * 20),
    "safetensors-duplicate-key": _st('{"a": {"dtype": "F32", "shape": [1], "data_offsets": '
                                     '[0, 4]}, "a": {"dtype": "F32", "shape": [2], '
                                     '"data_offsets": [0, 8]}}', b"\x00" * 8),
    "safetensors-bad-dtype": _st({"a": {"dtype": "PYOBJ", "shape": [1],
                                        "data_offsets": [0, 8]}}, b"\x00" * 8),
    "safetensors-negative-shape": _st({"a": {"dtype": "F32", "shape": [-2],
                                             "data_offsets": [0, 8]}}, b"\x00" * 8),
    "safetensors-metadata-not-string": _st({"__metadata__": {"k": 1}, "a": _f32(0, 4, 1)},
                                           b"\x00" * 4),
    "safetensors-header-past-end": _st({"a": _f32(0, 4, 1)}, b"\x00" * 4, length=10_000),
}


def _safetensors_ok(out: Path) -> Any:
    import numpy as np
    from safetensors.numpy import save

    tensors = {"w": np.ones((3, 4), np.float32), "b": np.arange(5, dtype=np.int64),
               "e": np.zeros((0,), np.float16)}
    return _write(out, "ok.safetensors", save(tensors, metadata={"format": "np"}))


# -- Containers --------------------------------------------------------------------------

def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def _zip_symlink(out: Path) -> Any:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("models/link")
        info.create_system = 3
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "../../../../etc/passwd")
    return _write(out, "symlink.zip", buffer.getvalue())


def _zip_duplicate(out: Path) -> Any:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)
        archive.writestr("model.pkl", pickle.dumps({"a": 1}))
        archive.writestr("model.pkl", pickle.dumps({"a": 2}))
    return _write(out, "duplicate.zip", buffer.getvalue())


def _nested(depth: int) -> bytes:
    data = pickle.dumps({"a": 1})
    for level in range(depth):
        data = _zip({f"level{level}.zip" if level else "model.pkl": data})
    return data


def _tar(entries: list[tarfile.TarInfo], files: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for info in entries:
            archive.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


# -- Benign models -----------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _iris() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@functools.lru_cache(maxsize=1)
def _pipeline() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(*_iris())


def _models() -> dict[str, Callable[[], Any]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    docs = ["spam offer now", "meeting at noon", "cheap offer spam", "lunch meeting today"] * 3
    return {
        "random-forest": lambda: RandomForestClassifier(n_estimators=4, random_state=0).fit(
            *_iris()),
        "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=5).fit(
            *_iris()),
        "tfidf-sparse-pipeline": lambda: make_pipeline(TfidfVectorizer(), LogisticRegression())
        .fit(docs, [1, 0, 1, 0] * 3),
        "tfidf-matrix": lambda: TfidfVectorizer().fit_transform(docs),
        "grid-search": lambda: GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]},
                                            cv=2).fit(*_iris()),
        "ordereddict-state": lambda: OrderedDict(
            (f"layer{i}.weight", __import__("numpy").full((4, 4), i, dtype="float32"))
            for i in range(3)),
        "pickle5-buffers": lambda: {"buffer": pickle.PickleBuffer(bytearray(b"\x01" * 4096)),
                                    "array": __import__("numpy").arange(64.0).reshape(8, 8),
                                    "structured": __import__("numpy").zeros(
                                        3, dtype=[("a", "f8"), ("b", "i4"), ("c", "U3")])},
        "xgboost-sklearn": lambda: __import__("xgboost").XGBClassifier(
            n_estimators=3, max_depth=2).fit(*_iris()),
        "lightgbm-sklearn": lambda: __import__("lightgbm").LGBMClassifier(
            n_estimators=3, verbose=-1).fit(*_iris()),
    }


def _pickled(name: str, factory: Callable[[], Any], how: str) -> Callable[[Path], Any]:
    def build_it(out: Path) -> Any:
        import joblib

        value = factory()
        if how == "joblib":
            buffer = io.BytesIO()
            joblib.dump(value, buffer, compress=3)
            return _write(out, f"{name}.joblib", buffer.getvalue())
        return _write(out, f"{name}.pkl", pickle.dumps(value, protocol=5))

    return build_it


def _pipeline_pickle(protocol: int) -> Callable[[Path], Any]:
    return lambda out: _write(out, f"pipeline-p{protocol}.pkl", pickle.dumps(_pipeline(), protocol))


def _pipeline_joblib(compress: Any) -> Callable[[Path], Any]:
    def build_it(out: Path) -> Any:
        import joblib

        buffer = io.BytesIO()
        joblib.dump(_pipeline(), buffer, compress=compress)
        return _write(out, f"pipeline-{compress[0] if compress else 'raw'}.joblib",
                      buffer.getvalue())

    return build_it


def _npy(value: Any, name: str, npz: bool = False) -> Callable[[Path], Any]:
    def build_it(out: Path) -> Any:
        import numpy as np

        buffer = io.BytesIO()
        if npz:
            np.savez_compressed(buffer, **value())
        else:
            np.save(buffer, value(), allow_pickle=True)
        return _write(out, name, buffer.getvalue())

    return build_it


def _gbm(out: Path, kind: str) -> Any:
    import lightgbm
    import xgboost

    x, y = _iris()
    if kind == "lightgbm":
        model = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, y)
        return _write(out, "model.txt", model.booster_.model_to_string().encode())
    booster = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(x, y).get_booster()
    raw = booster.save_raw(raw_format="json" if kind == "json" else "ubj")
    return _write(out, f"model.{'json' if kind == 'json' else 'ubj'}", bytes(raw))


def _skops_ok(out: Path) -> Any:
    import skops.io as sio

    return _write(out, "pipeline.skops", sio.dumps(_pipeline()))


def _tar_gz_ok(out: Path) -> Any:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.arange(10.0))
    return _write(out, "bundle.tar.gz", _tar([], {"model/pipeline.pkl": pickle.dumps(_pipeline()),
                                                  "model/w.npy": buffer.getvalue()}, "w:gz"))


MORE_MALICIOUS: dict[str, Callable[[Path], Any]] = {
    "onnx-external-parent": lambda out: _write(out, "parent.onnx", _onnx(location="../w.bin")),
    "onnx-external-absolute": lambda out: _write(out, "abs.onnx", _onnx(location="/etc/hostname")),
    "onnx-external-symlink": _onnx_symlink,
    "onnx-unknown-domain": lambda out: _write(out, "domain.onnx", _onnx(domain="evil.ops")),
    "onnx-unknown-opset": lambda out: _write(out, "opset.onnx", _onnx("evil.ops", opset_only=True)),
    **{name: (lambda data, name=name: lambda out: _write(out, f"{name}.safetensors", data))(data)
       for name, data in SAFETENSORS_BAD.items()},
    "zip-slip": lambda out: _write(out, "slip.zip", _zip({"../../evil.pkl": b"x"})),
    "zip-absolute-path": lambda out: _write(out, "abs.zip", _zip({"/tmp/evil.pkl": b"x"})),
    "zip-symlink-escape": _zip_symlink,
    "zip-bomb": lambda out: _write(out, "bomb.zip", _zip({"zeros.bin": b"\x00" * (24 << 20)})),
    "zip-nested-depth": lambda out: _write(out, "nested.zip", _nested(9)),
    "zip-duplicate-member": _zip_duplicate,
    "zip-evil-member": lambda out: _write(out, "evil.zip", _zip(
        {"model.pkl": _evil_pickle(out, "zip-evil-member")})),
    "tar-symlink-escape": lambda out: _write(out, "symlink.tar", _tar(
        [_link("models/w.bin", "../../etc/passwd", tarfile.SYMTYPE)], {})),
    "tar-hardlink-escape": lambda out: _write(out, "hardlink.tar", _tar(
        [_link("models/w.bin", "../outside.bin", tarfile.LNKTYPE)], {})),
    "tar-device": lambda out: _write(out, "device.tar", _tar(
        [_link("models/dev", "", tarfile.CHRTYPE)], {})),
    "tar-gz-evil-member": lambda out: _write(out, "evil.tar.gz", _tar(
        [], {"model.pkl": _evil_pickle(out, "tar-gz-evil-member")}, "w:gz")),
    "cloudpickle-lambda": lambda out: _write(out, "lambda.pkl", __import__("cloudpickle").dumps(
        lambda: open(str(out / "MARKER-cloudpickle-lambda"), "w").close())),
    "lz4-compressed": lambda out: _write(out, "model.lz4", b"\x04\x22\x4d\x18" + b"\x00" * 32),
    "xgboost-invalid-json": lambda out: _write(out, "bad.json", json.dumps(
        {"learner": {"gradient_booster": {"name": "evil"}}, "version": [1, 7, 0]}).encode()),
    "lightgbm-invalid-text": lambda out: _write(out, "bad.txt", b"tree\nversion=v4\nTree=0\n"
                                                b"split_feature=__import__('os')\nend of trees\n"),
    "pickle-evil-in-joblib-object-array": lambda out: _write(
        out, "object-array.joblib", _joblib_object(out)),
}


def _joblib_object(out: Path) -> bytes:
    import joblib
    import numpy as np

    buffer = io.BytesIO()
    evil = np.array([Evil(str(out / "MARKER-pickle-evil-in-joblib-object-array"))], dtype=object)
    joblib.dump({"w": np.arange(8.0), "objects": evil}, buffer)
    return buffer.getvalue()


MORE_BENIGN: dict[str, Callable[[Path], Any]] = {
    **{f"sklearn-pipeline-p{p}": _pipeline_pickle(p) for p in range(6)},
    **{f"sklearn-pipeline-joblib-{c[0] if c else 'raw'}": _pipeline_joblib(c)
       for c in (0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3))},
    **{name: _pickled(name, factory, "joblib" if name == "hist-gradient-boosting" else "pickle")
       for name, factory in _models().items()},
    "cloudpickle-sklearn": lambda out: _write(out, "cloud.pkl", __import__("cloudpickle").dumps(
        _pipeline())),
    "npy-float": _npy(lambda: __import__("numpy").arange(12.0).reshape(3, 4), "float.npy"),
    "npy-object-strings": _npy(lambda: __import__("numpy").array(["a", 1, None], dtype=object),
                               "strings.npy"),
    "npz-arrays": _npy(lambda: {"a": __import__("numpy").arange(5),
                                "b": __import__("numpy").eye(3)}, "arrays.npz", npz=True),
    "skops-pipeline": _skops_ok,
    "onnx-skl2onnx": _skl2onnx,
    "onnx-external-ok": _onnx_external_ok,
    "safetensors-numpy": _safetensors_ok,
    "xgboost-json": lambda out: _gbm(out, "json"),
    "xgboost-ubjson": lambda out: _gbm(out, "ubj"),
    "lightgbm-text": lambda out: _gbm(out, "lightgbm"),
    "tar-gz-models": _tar_gz_ok,
}

assert not set(MORE_MALICIOUS) & set(MORE_BENIGN)
