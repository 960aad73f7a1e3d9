"""Exact additive explanations for ONNX linear models.

An ONNX graph whose score is one ``LinearClassifier`` or ``LinearRegressor`` node
(``ai.onnx.ml``, as skl2onnx and onnxmltools write linear models) reading the graph's
input, directly or through a ``Cast``, computes ``f(x) = W x + b`` before its post
transform. For a baseline ``mu`` (the mean of ``background``, else the origin) the
contributions ``phi_j = W_oj * (x_j - mu_j)`` and ``base_value = W_o . mu + b_o`` sum to
the score exactly: the Shapley values of a linear function.

Output spaces follow the node's ``post_transform``: ``LOGISTIC`` over two classes is
``log-odds`` of the second class, ``LOGISTIC`` or ``SOFTMAX`` over more classes is
``logit`` per class, no transform is the ``decision-function`` of a classifier or the
``prediction`` of a regressor. Graphs with preprocessing before the linear node, or
tree ensembles, are not explained (``UnsupportedModel``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from garrison.errors import UnsupportedModel

from .base import Explanation, as_rows, build_explanations, check_feature_names
from .registry import ExplainerSpec

__all__ = ["ONNX_LINEAR_SPEC", "OnnxLinearExplainer", "is_onnx_model"]

_LINEAR = ("LinearClassifier", "LinearRegressor")


def is_onnx_model(model: Any) -> bool:
    """A loaded ONNX model that keeps its graph (checked without importing onnx)."""
    return isinstance(getattr(model, "onnx_graph", None), bytes) and hasattr(model, "run")


def _linear_node(graph: Any) -> Any:
    """The one linear node reading the graph input (through at most a Cast), or raise."""
    inputs = {i.name for i in graph.input} - {t.name for t in graph.initializer}
    if len(inputs) != 1:
        raise UnsupportedModel("only ONNX graphs with one input tensor are explained")
    source = inputs.pop()
    readers = [n for n in graph.node if source in n.input]
    if len(readers) == 1 and readers[0].op_type == "Cast":
        source = readers[0].output[0]
        readers = [n for n in graph.node if source in n.input]
    if len(readers) != 1 or readers[0].op_type not in _LINEAR \
            or readers[0].domain != "ai.onnx.ml":
        raise UnsupportedModel("only ONNX graphs whose input goes straight into a "
                               "LinearClassifier or LinearRegressor are explained")
    return readers[0]


class OnnxLinearExplainer:
    def __init__(self, model: Any, feature_names: Sequence[str], background: Any = None) -> None:
        if not is_onnx_model(model):
            raise UnsupportedModel(f"{type(model).__name__} is not an ONNX model")
        import onnx
        from onnx import helper

        node = _linear_node(onnx.load_from_string(model.onnx_graph).graph)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        n = len(feature_names)
        coef = np.asarray(attrs.get("coefficients", []), dtype=np.float64)
        if n == 0 or coef.size % n:
            raise UnsupportedModel("the linear node's coefficients do not fit the features")
        weights = coef.reshape(-1, n)
        intercepts = np.asarray(attrs.get("intercepts", []), dtype=np.float64)
        if intercepts.size == 0:
            intercepts = np.zeros(weights.shape[0])
        if intercepts.size != weights.shape[0]:
            raise UnsupportedModel("the linear node's intercepts do not fit its coefficients")
        self.feature_names = check_feature_names(feature_names, n)
        self.method = "onnx-linear"
        self.target: str | None = None
        self.labels: list[str] | None = None
        post = attrs.get("post_transform", b"NONE")
        post = post.decode() if isinstance(post, bytes) else str(post)
        if node.op_type == "LinearRegressor":
            if weights.shape[0] != 1:
                raise UnsupportedModel("multi-target ONNX regressors are not explained")
            self.output_space = "prediction"
        else:
            raw = attrs.get("classlabels_strings") or attrs.get("classlabels_ints") or []
            classes = [c.decode() if isinstance(c, bytes) else str(c) for c in raw]
            if len(classes) == 2:  # The second class's score (skl2onnx writes [-w, w]).
                weights, intercepts = weights[-1:], intercepts[-1:]
                self.target = classes[1]
                self.output_space = "log-odds" if post == "LOGISTIC" else "decision-function"
            elif len(classes) == weights.shape[0] and classes:
                self.labels = classes
                self.output_space = "logit" if post in ("LOGISTIC", "SOFTMAX") \
                    else "decision-function"
            else:
                raise UnsupportedModel("the linear node's classes do not fit its coefficients")
        self._weights = weights
        self._intercepts = intercepts
        if background is not None:
            self._mu = as_rows(background, n, allow_nan=False).mean(axis=0)
            self.baseline = "background-mean"
        else:
            self._mu = np.zeros(n)
            self.baseline = "zero"

    def explain(self, X: Any) -> list[Explanation]:
        rows = as_rows(X, len(self.feature_names), allow_nan=False)
        phi = self._weights[None, :, :] * (rows - self._mu)[:, None, :]
        base = self._weights @ self._mu + self._intercepts
        return build_explanations(
            method=self.method, output_space=self.output_space, baseline=self.baseline,
            feature_names=self.feature_names, labels=self.labels, target=self.target,
            base=base, phi=phi, output=base[None, :] + phi.sum(axis=2))


ONNX_LINEAR_SPEC = ExplainerSpec(
    id="onnx-linear",
    description="Exact contributions of an ONNX LinearClassifier / LinearRegressor graph "
    "(weights read from the graph).",
    model_types=("ONNX LinearClassifier", "ONNX LinearRegressor"),
    output_space="log-odds | logit | decision-function | prediction",
    exact=True,
    supports=is_onnx_model,
    factory=OnnxLinearExplainer,
)
