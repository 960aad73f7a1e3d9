"""A numeric twin of a linear model, for checks that query it many times.

scikit-learn validates its input on every call, which costs about a millisecond whatever
the batch; the robustness check asks a model for a few hundred labels some twenty times.
For a plain scikit-learn ``LogisticRegression`` (alone or behind a ``StandardScaler`` in a
``Pipeline``) the serving layer's linear fast path computes the same numbers with the
same operations and no validation: it is what the gateway serves for such a model.

The twin is used only when the model is exactly those scikit-learn classes (a subclass
could behave differently away from the holdout rows) and when it reproduces the model on
the holdout rows the gate has already scored: the same decision on every row and
probabilities within :data:`garrison.serving.compiled.TOLERANCE`. Any other model, a
disagreement, or a holdout set with a missing value leaves every check on the model
itself. The attack still has the model confirm every adversarial point it counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from garrison.serving.compiled import TOLERANCE
from garrison.serving.runtime import LinearRuntime

__all__ = ["LinearTwin", "linear_twin", "plain_sklearn_linear"]


class LinearTwin:
    """The verified twin: ``proba`` (columns follow the gate's classes) and ``labels`` of
    rows given as a float matrix whose columns are the model's features in order."""

    name = "linear-twin"

    def __init__(self, runtime: LinearRuntime, model_classes: np.ndarray, classes: np.ndarray):
        self._runtime = runtime
        self._model_classes = model_classes
        self._columns = np.searchsorted(classes, model_classes)
        self._width = classes.size

    def raw(self, x: np.ndarray) -> np.ndarray:
        proba: np.ndarray = self._runtime.predict_proba(x)
        return proba

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self._widened(self.raw(x))

    def _widened(self, raw: np.ndarray) -> np.ndarray:
        out = np.zeros((len(raw), self._width))
        out[:, self._columns] = raw
        return out

    def labels(self, x: np.ndarray) -> np.ndarray:
        labels: np.ndarray = self._model_classes[self._runtime.argmax_proba(x)]
        return labels

    __call__ = labels

    def outputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(proba(x), labels(x))`` from one pass: the labels are the argmax of the same
        probabilities (what ``labels`` computes, ties included; see ``argmax_proba``)."""
        raw = self.raw(x)
        labels: np.ndarray = self._model_classes[np.argmax(raw, axis=1)]
        return self._widened(raw), labels


def plain_sklearn_linear(model: Any) -> bool:
    """Whether ``model`` is exactly a scikit-learn ``Pipeline`` or ``LogisticRegression``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return type(model) in (Pipeline, LogisticRegression)


def linear_twin(
    model: Any, x: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, classes: Any
) -> LinearTwin | None:
    """The linear fast path of ``model``, checked against its own outputs on ``x``.

    ``x`` holds the holdout rows (the model's features, in its order) on which the model
    gave the decisions ``pred`` and probabilities ``proba`` (columns follow ``classes``,
    the gate's sorted classes). Returns ``None`` when no twin applies or it disagrees.
    """
    if classes is None or proba is None or not plain_sklearn_linear(model):
        return None
    if x.ndim != 2 or not np.isfinite(x).all():
        return None
    try:
        runtime = LinearRuntime.compile(model)
    except Exception:  # a model this layer cannot read: the checks keep the model itself
        return None
    if runtime is None:
        return None
    model_classes = np.asarray(getattr(model, "classes_", np.empty(0)))
    if model_classes.size < 2 or not np.isin(model_classes, classes).all():
        return None
    twin = LinearTwin(runtime, model_classes, np.asarray(classes))
    try:
        got, labels = twin.outputs(x)
    except Exception:
        return None
    if got.shape != proba.shape or not np.array_equal(labels, pred):
        return None
    if not float(np.max(np.abs(got - proba), initial=0.0)) < TOLERANCE:
        return None
    return twin
