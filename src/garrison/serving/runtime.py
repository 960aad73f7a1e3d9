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


def _fitted_names(model: Any) -> list[str] | None:
    try:
        names = getattr(model, "feature_names_in_", None)
    except Exception:  # Some estimators raise other errors from this property.
        return None
    return [str(n) for n in names] if names is not None else None


class SklearnRuntime:
    """scikit-learn estimators and pipelines (and their XGBoost/LightGBM wrappers).

    An estimator fitted on named columns gets its rows as a DataFrame under those names
    (a ``ColumnTransformer`` selects columns by name); registration has checked that the
    schema lists them in the model's order.
    """

    kind = "sklearn"

    def __init__(self, model: Any, feature_names: list[str]) -> None:
        if not hasattr(model, "predict"):
            raise UnsupportedModel("the artifact holds no estimator with predict()")
        self.model = model
        self._names = feature_names
        fitted = _fitted_names(model)
        self._named = fitted is not None and fitted == list(feature_names)
        self._proba = hasattr(model, "predict_proba") and hasattr(model, "classes_")
        self._classes = np.asarray(model.classes_) if self._proba else None

    def predict(self, X: Any) -> RuntimeOutput:
        data = _frame(X, self._names)
        if self._named and isinstance(data, np.ndarray):
            import pandas as pd

            data = pd.DataFrame(data, columns=self._names)
        if self._proba:
            proba = np.asarray(self.model.predict_proba(data), dtype=np.float64)
            assert self._classes is not None
            return RuntimeOutput(self._classes[proba.argmax(axis=1)], proba, self._classes)
        return RuntimeOutput(np.asarray(self.model.predict(data)))


_ONNX_DTYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(string)": np.object_,
}


class OnnxRuntime:
    """ONNX Runtime sessions: one numeric tensor of all features (skl2onnx's default), or
    one ``[n, 1]`` tensor per feature, matched by name (mixed-type pipelines)."""

    kind = "onnx"

    def __init__(self, model: Any, feature_names: list[str]) -> None:
        self.model = model
        session = getattr(model, "session", model)  # The loader's OnnxModel, or a bare session.
        self._session = session
        inputs = session.get_inputs()
        self._outputs = [o.name for o in session.get_outputs()]
        self._by_name: list[tuple[str, Any]] | None = None
        if len(inputs) == 1:
            self._input = inputs[0].name
            self._dtype = _ONNX_DTYPES.get(inputs[0].type, np.float32)
            if self._dtype is np.object_:
                raise UnsupportedModel("an ONNX model with one text input cannot take rows")
            return
        missing = [i.name for i in inputs if i.name not in feature_names]
        if missing:
            raise UnsupportedModel(f"the ONNX model's inputs {missing[:5]} are not features of "
                                   "the input schema")
        self._by_name = [(i.name, _ONNX_DTYPES.get(i.type, np.float32)) for i in inputs]

    def _feeds(self, X: Any) -> dict[str, Any]:
        if self._by_name is None:
            if isinstance(X, Mapping):
                raise UnsupportedModel("this ONNX model takes numeric features only")
            return {self._input: np.asarray(X, dtype=self._dtype)}
        feeds = {}
        for name, dtype in self._by_name:
            column = X[name] if isinstance(X, Mapping) else None
            if column is None:
                raise UnsupportedModel("ONNX models with several inputs take named columns")
            if dtype is np.object_:
                values = np.array(["" if v is None else str(v) for v in column], dtype=object)
            else:
                values = np.asarray(column, dtype=dtype)
            feeds[name] = values.reshape(-1, 1)
        return feeds

    def predict(self, X: Any) -> RuntimeOutput:
        if self._by_name is not None and not isinstance(X, Mapping):
            matrix = np.asarray(X)
            X = {name: matrix[:, j] for j, name in enumerate(self._names_of(matrix))}
        results = self._session.run(None, self._feeds(X))
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

    def _names_of(self, matrix: np.ndarray) -> list[str]:
        assert self._by_name is not None
        if matrix.ndim != 2 or matrix.shape[1] != len(self._by_name):
            raise UnsupportedModel("the rows do not have one column per ONNX input")
        return [name for name, _ in self._by_name]


def _xgboost_task(booster: Any) -> tuple[str, int]:
    """(objective name, number of classes) from the booster's saved configuration."""
    import json

    learner = json.loads(booster.save_config())["learner"]
    classes = int(float(learner.get("learner_model_param", {}).get("num_class", "0") or 0))
    return str(learner["objective"]["name"]), classes


def _lightgbm_objective(booster: Any) -> str:
    objective = booster.params.get("objective") if booster.params else None
    return str(objective or booster.dump_model(num_iteration=0).get("objective", ""))


class BoosterRuntime:
    """Native XGBoost and LightGBM boosters (binary, multi-class or regression).

    The task is read once from the booster: XGBoost's objective (``binary:logistic`` gives
    the positive-class probability, ``binary:logitraw`` a margin turned into one by the
    logistic function, ``multi:softprob`` a probability matrix, ``multi:softmax`` class
    indices, so its margins are put through softmax), LightGBM's objective (``binary``,
    ``multiclass``, ``multiclassova``, ``cross_entropy``). Anything else is a regression or
    ranking score. Rows go in the booster's feature order under its feature names, so a
    booster saved with names accepts them; missing values (NaN) are the boosters' own
    missing value.
    """

    def __init__(self, booster: Any, kind: str) -> None:
        self.model = booster
        self.kind = kind
        self._classes = 0
        if kind == "xgboost":
            objective, self._classes = _xgboost_task(booster)
            self._names = booster.feature_names
            self._types = booster.feature_types
            if self._types and "c" in self._types:
                raise UnsupportedModel("XGBoost boosters with categorical features are not "
                                       "served natively; export the scikit-learn wrapper")
            self._mode = {"binary:logistic": "binary", "binary:logitraw": "binary-margin",
                          "multi:softprob": "multi", "multi:softmax": "multi-margin",
                          "binary:hinge": "labels"}.get(objective, "score")
        else:
            objective = _lightgbm_objective(booster).split(" ", 1)[0]
            if getattr(booster, "pandas_categorical", None):
                raise UnsupportedModel("LightGBM boosters trained on pandas categoricals are "
                                       "not served natively; export the scikit-learn wrapper")
            self._mode = {"binary": "binary", "cross_entropy": "binary", "xentropy": "binary",
                          "multiclass": "multi", "softmax": "multi", "multiclassova": "multi",
                          "multiclass_ova": "multi", "ova": "multi", "ovr": "multi"
                          }.get(objective, "score")
        self.objective = objective

    def _raw(self, X: np.ndarray, *, margin: bool = False) -> np.ndarray:
        if self.kind == "xgboost":
            import xgboost

            matrix = xgboost.DMatrix(X, missing=np.nan, feature_names=self._names,
                                     feature_types=self._types)
            return np.asarray(self.model.predict(matrix, output_margin=margin))
        return np.asarray(self.model.predict(X, num_threads=1))

    def predict(self, X: Any) -> RuntimeOutput:
        if isinstance(X, Mapping):
            raise UnsupportedModel("native boosters take numeric features only")
        X = np.asarray(X, dtype=np.float64)
        mode = self._mode
        if mode == "multi-margin":
            from scipy.special import softmax

            proba = softmax(self._raw(X, margin=True).reshape(len(X), -1), axis=1)
        else:
            raw = self._raw(X)
            if mode == "binary":
                proba = np.column_stack([1.0 - raw, raw])
            elif mode == "binary-margin":
                from scipy.special import expit

                p = expit(raw)
                proba = np.column_stack([1.0 - p, p])
            elif mode == "multi":
                proba = raw.reshape(len(X), -1)
            elif mode == "labels":
                return RuntimeOutput(raw.astype(np.int64))
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

    def _decision(self, X: Any) -> np.ndarray:
        if isinstance(X, Mapping):
            raise UnsupportedModel("the linear fast path takes numeric features only")
        Z = np.array(X, dtype=np.float64)
        if self._mean is not None:
            Z -= self._mean
        if self._scale is not None:
            Z /= self._scale
        decision: np.ndarray = Z @ self._coef + self._intercept
        return decision

    def predict_proba(self, X: Any) -> np.ndarray:
        """``predict_proba`` of the wrapped model, for rows already validated."""
        decision = self._decision(X)
        if decision.shape[1] == 1:
            proba = np.empty((len(decision), 2))
            proba[:, 1] = self._expit(decision[:, 0])
            np.subtract(1.0, proba[:, 1], out=proba[:, 0])
            return proba
        softmax: np.ndarray = self._softmax(decision, axis=1)
        return softmax

    def argmax_proba(self, X: Any) -> np.ndarray:
        """``predict_proba(X).argmax(axis=1)``, the same index on every row, ties included.

        With two classes the probabilities are ``1 - p`` and ``p`` (``p`` the logistic of
        the decision), so class 1 wins exactly when ``p > 1 - p`` as computed: a tie (say a
        decision so small that ``p`` rounds to 0.5) and a NaN go to class 0, the first, as
        ``argmax`` gives them. Not ``decision > 0``, which differs at such ties. Saves the
        two-column matrix and its strided ``argmax`` on large batches.
        """
        decision = self._decision(X)
        if decision.shape[1] == 1:
            p = self._expit(decision[:, 0])
            index: np.ndarray = (p > np.subtract(1.0, p)).astype(np.intp)
            return index
        winners: np.ndarray = self._softmax(decision, axis=1).argmax(axis=1)
        return winners

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
