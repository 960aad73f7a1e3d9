"""Model runtimes: one call shape over every servable format.

``predict(X)`` returns :class:`RuntimeOutput` with per-row labels and, for
classifiers, a probability matrix in the order of ``classes``. ``X`` is a float64
matrix in the input schema's column order (or, for schemas with categorical or
string features, a column mapping that scikit-learn pipelines accept).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from garrison.errors import ModelUnavailable, UnsupportedModel

__all__ = ["ModelRuntime", "RuntimeOutput", "runtime_for"]


@dataclass(frozen=True)
class RuntimeOutput:
    labels: np.ndarray
    scores: np.ndarray | None = None
    classes: np.ndarray | None = None

    @property
    def is_classifier(self) -> bool:
        return self.scores is not None


class ModelRuntime(Protocol):
    kind: str
    model: Any

    def predict(self, X: Any) -> RuntimeOutput: ...


def _frame(X: Any, names: list[str]) -> Any:
    if isinstance(X, Mapping):
        import pandas as pd

        return pd.DataFrame({n: X[n] for n in names})
    return X


class SklearnRuntime:
    """scikit-learn estimators and pipelines (and their XGBoost/LightGBM wrappers)."""

    kind = "sklearn"

    def __init__(self, model: Any, feature_names: list[str]) -> None:
        if not hasattr(model, "predict"):
            raise UnsupportedModel("the artifact holds no estimator with predict()")
        self.model = model
        self._names = feature_names
        self._proba = hasattr(model, "predict_proba") and hasattr(model, "classes_")
        self._classes = np.asarray(model.classes_) if self._proba else None

    def predict(self, X: Any) -> RuntimeOutput:
        data = _frame(X, self._names)
        if self._proba:
            proba = np.asarray(self.model.predict_proba(data), dtype=np.float64)
            assert self._classes is not None
            return RuntimeOutput(self._classes[proba.argmax(axis=1)], proba, self._classes)
        return RuntimeOutput(np.asarray(self.model.predict(data)))


class OnnxRuntime:
    """ONNX Runtime sessions with one float input (skl2onnx's convention)."""

    kind = "onnx"

    def __init__(self, session: Any, feature_names: list[str]) -> None:
        self.model = session
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise UnsupportedModel("ONNX models with several inputs are not supported yet")
        self._input = inputs[0].name
        self._outputs = [o.name for o in session.get_outputs()]

    def predict(self, X: Any) -> RuntimeOutput:
        if isinstance(X, Mapping):
            raise UnsupportedModel("ONNX models take numeric features only")
        results = self.model.run(None, {self._input: np.asarray(X, dtype=np.float32)})
        labels = np.asarray(results[0]).ravel()
        if len(results) > 1:
            probs = results[1]
            if isinstance(probs, list):  # ZipMap output: one dict per row.
                classes = np.asarray(sorted(probs[0]))
                matrix = np.array([[row[c] for c in classes] for row in probs], dtype=np.float64)
            else:
                matrix = np.asarray(probs, dtype=np.float64)
                classes = np.arange(matrix.shape[1])
            return RuntimeOutput(labels, matrix, classes)
        return RuntimeOutput(labels.astype(np.float64))


class BoosterRuntime:
    """Native XGBoost and LightGBM boosters (binary, multi-class or regression)."""

    def __init__(self, booster: Any, kind: str) -> None:
        self.model = booster
        self.kind = kind

    def predict(self, X: Any) -> RuntimeOutput:
        if isinstance(X, Mapping):
            raise UnsupportedModel("native boosters take numeric features only")
        X = np.asarray(X, dtype=np.float64)
        if self.kind == "xgboost":
            import xgboost

            raw = np.asarray(self.model.predict(xgboost.DMatrix(X)))
            objective = str(self.model.save_config())
            binary = "binary:logistic" in objective
            multi = "multi:softprob" in objective
        else:
            raw = np.asarray(self.model.predict(X))
            objective = str(self.model.params.get("objective", self.model.dump_model().get(
                "objective", "")))
            binary = objective.startswith("binary")
            multi = objective.startswith("multiclass")
        if binary:
            proba = np.column_stack([1.0 - raw, raw])
        elif multi and raw.ndim == 2:
            proba = raw
        else:
            return RuntimeOutput(raw.astype(np.float64))
        classes = np.arange(proba.shape[1])
        return RuntimeOutput(classes[proba.argmax(axis=1)], proba, classes)


class LinearRuntime:
    """scikit-learn logistic regression (optionally after a StandardScaler), evaluated with
    the same operations scikit-learn performs, minus its per-call input validation.

    The gateway has already validated every value against the schema, so the checks
    scikit-learn repeats cost more than the arithmetic for small batches. ``inline``
    tells the data plane the cost is bounded (a dot product), so it may skip the thread
    hop. Outputs equal ``predict_proba`` to floating-point rounding (tested).
    """

    kind = "sklearn-linear"
    inline = True

    def __init__(self, model: Any, scaler: Any, classifier: Any) -> None:
        self.model = model
        self._mean = getattr(scaler, "mean_", None) if scaler is not None else None
        self._scale = getattr(scaler, "scale_", None) if scaler is not None else None
        self._coef = np.ascontiguousarray(classifier.coef_.T)
        self._intercept = classifier.intercept_
        self._classes = np.asarray(classifier.classes_)
        from scipy.special import expit, softmax  # scikit-learn's own link functions.

        self._expit, self._softmax = expit, softmax

    @classmethod
    def compile(cls, model: Any) -> LinearRuntime | None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        scaler, clf = None, model
        if isinstance(model, Pipeline):
            steps = [step for _, step in model.steps if step not in (None, "passthrough")]
            if len(steps) == 2 and type(steps[0]) is StandardScaler:
                scaler, clf = steps
            elif len(steps) == 1:
                clf = steps[0]
            else:
                return None
        if type(clf) is not LogisticRegression or getattr(clf, "solver", "") == "liblinear":
            return None
        if not hasattr(clf, "coef_") or (scaler is not None and not hasattr(scaler, "scale_")
                                         and not hasattr(scaler, "mean_")):
            return None
        return cls(model, scaler, clf)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``predict_proba`` of the wrapped model, for rows already validated."""
        if isinstance(X, Mapping):
            raise UnsupportedModel("the linear fast path takes numeric features only")
        Z = np.array(X, dtype=np.float64)
        if self._mean is not None:
            Z -= self._mean
        if self._scale is not None:
            Z /= self._scale
        decision = Z @ self._coef + self._intercept
        if decision.shape[1] == 1:
            proba = np.empty((len(Z), 2))
            proba[:, 1] = self._expit(decision[:, 0])
            np.subtract(1.0, proba[:, 1], out=proba[:, 0])
            return proba
        return self._softmax(decision, axis=1)

    def predict(self, X: Any) -> RuntimeOutput:
        proba = self.predict_proba(X)
        return RuntimeOutput(self._classes[proba.argmax(axis=1)], proba, self._classes)


def runtime_for(model: Any, fmt: str, feature_names: list[str]) -> ModelRuntime:
    """Pick the runtime for a loaded model by its stored format."""
    family = fmt.split("+", 1)[0]
    try:
        if family == "onnx":
            return OnnxRuntime(model, feature_names)
        if family.startswith("xgboost") and not hasattr(model, "predict_proba"):
            return BoosterRuntime(model, "xgboost")
        if family == "lightgbm" and not hasattr(model, "predict_proba"):
            return BoosterRuntime(model, "lightgbm")
        return LinearRuntime.compile(model) or SklearnRuntime(model, feature_names)
    except UnsupportedModel:
        raise
    except Exception as exc:  # A model that cannot even be inspected cannot serve.
        raise ModelUnavailable("the model could not be prepared for serving") from exc
