"""Explanations of ONNX linear models as the gateway loads them (issue 12): exact
contributions read from the graph's LinearClassifier / LinearRegressor weights."""

from __future__ import annotations

import numpy as np
import pytest

from garrison.errors import UnsupportedModel
from garrison.explain import explainer_for
from garrison.registry.loader import loader_for
from garrison.scanning import DEFAULT_POLICY

skl2onnx = pytest.importorskip("skl2onnx")

NAMES = ["a", "b", "c"]


def _served(model, X):  # type: ignore[no-untyped-def]
    options = {id(model): {"zipmap": False}} if hasattr(model, "classes_") else None
    graph = skl2onnx.to_onnx(model, X[:1].astype(np.float32), options=options)
    return loader_for("onnx")(graph.SerializeToString(), DEFAULT_POLICY)  # type: ignore[misc]


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(200, 3))


def test_binary_logistic_regression_sums_to_the_log_odds(X) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(X, (X[:, 0] - X[:, 2] > 0).astype(int))
    explainer = explainer_for(_served(model, X), NAMES, background=X)
    assert explainer.method == "onnx-linear" and explainer.baseline == "background-mean"
    for e, score in zip(explainer.explain(X[:10]), model.decision_function(X[:10]),
                        strict=True):
        d = e.to_dict()
        assert d["output_space"] == "log-odds" and d["target"] == "1"
        assert d["base_value"] + sum(d["contributions"].values()) == pytest.approx(score,
                                                                                     abs=1e-5)


def test_multiclass_and_regression(X) -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    y = np.digitize(X[:, 1], [-0.5, 0.5])
    model = LogisticRegression(max_iter=500).fit(X, y)
    [d] = [e.to_dict() for e in explainer_for(_served(model, X), NAMES).explain(X[:1])]
    assert d["output_space"] == "logit"
    reg = LinearRegression().fit(X, X @ np.array([1.0, -2.0, 0.5]) + 3)
    [d] = [e.to_dict() for e in explainer_for(_served(reg, X), NAMES).explain(X[:1])]
    assert d["output_space"] == "prediction"
    assert d["base_value"] + sum(d["contributions"].values()) == pytest.approx(
        reg.predict(X[:1])[0], abs=1e-4)


def test_onnx_trees_and_preprocessing_are_refused_with_a_reason(X) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    y = X[:, 0]
    for model in (DecisionTreeRegressor(max_depth=2).fit(X, y),
                  make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)):
        with pytest.raises(UnsupportedModel):
            explainer_for(_served(model, X), NAMES)
