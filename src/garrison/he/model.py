"""Compile a fitted scikit-learn linear model into plain weights for encrypted scoring.

A :class:`LinearHEModel` is what a deployment stores: one weight row and one bias per
output score, the output kind (how scores become predictions) and the class labels.
Affine preprocessing steps of a pipeline (``StandardScaler``, ``MinMaxScaler`` without
clipping, ``MaxAbsScaler``) are folded into the weights, so the server evaluates a
single affine map ``scores = W @ x + b`` on the encrypted raw features.

scikit-learn is only read here (fitted attributes and ``isinstance`` checks); nothing
is fitted or predicted with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from garrison.errors import InvalidInput, UnsupportedModel

__all__ = [
    "KINDS",
    "LinearHEModel",
    "compile_model",
    "predict_from_scores",
    "probabilities_from_scores",
]

#: Output kinds: how a row of scores becomes a prediction.
KINDS = {
    "binary": "one score; the prediction is classes[1] when the score is > 0, else classes[0]",
    "multiclass": "one score per class; the prediction is the class with the largest score",
    "ovo": "one score per pair (i, j) of classes, i < j; a positive score is a vote for i, "
    "otherwise for j; the most voted class wins, ties going to the lower index (libsvm)",
    "regression": "the scores are the predicted values, one per target",
}
_PROBABILITY = {"sigmoid", "softmax"}
MAX_FEATURES = 65_536


def _json_label(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or (isinstance(value, float) and np.isfinite(value)):
        return value
    raise UnsupportedModel(f"class label {value!r} is not a JSON number, string or boolean")


def _ovo_pairs(k: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def predict_from_scores(kind: str, classes: tuple[Any, ...] | None, scores: np.ndarray) -> list:
    """Turn an ``(n_samples, n_outputs)`` array of scores into predictions."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if kind == "regression" or classes is None:
        return [row[0] if len(row) == 1 else list(row) for row in scores.tolist()]
    if kind == "binary":
        return [classes[1] if s > 0 else classes[0] for s in scores[:, 0]]
    if kind == "multiclass":
        return [classes[i] for i in np.argmax(scores, axis=1)]
    votes = np.zeros((scores.shape[0], len(classes)), dtype=np.int64)
    for p, (i, j) in enumerate(_ovo_pairs(len(classes))):
        votes[:, i] += scores[:, p] > 0
        votes[:, j] += scores[:, p] <= 0
    return [classes[i] for i in np.argmax(votes, axis=1)]


def probabilities_from_scores(probability: str | None, scores: np.ndarray) -> np.ndarray:
    """Exact probabilities from decrypted scores (client side): sigmoid or softmax."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if probability == "sigmoid":
        p1 = 1.0 / (1.0 + np.exp(-scores[:, :1]))
        return np.hstack([1.0 - p1, p1])
    if probability == "softmax":
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    raise UnsupportedModel("this model kind has no probabilities (only logistic regression)")


@dataclass(frozen=True, eq=False)
class LinearHEModel:
    """``scores = weights @ x + bias``, weights ``(n_outputs, n_features)``, bias ``(n_outputs,)``.

    ``kind`` says how scores become predictions (:data:`KINDS`), ``classes`` holds the
    labels of a classifier, ``probability`` the exact link (``"sigmoid"``/``"softmax"``)
    when the model is a logistic regression, ``source`` the estimator chain it came from.
    """

    weights: np.ndarray
    bias: np.ndarray
    kind: str
    classes: tuple[Any, ...] | None
    probability: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        w = np.array(self.weights, dtype=np.float64, ndmin=2)
        b = np.array(self.bias, dtype=np.float64, ndmin=1)
        if w.ndim != 2 or b.ndim != 1 or w.shape[0] != b.shape[0] or w.size == 0:
            raise InvalidInput("weights must be (n_outputs, n_features) and bias (n_outputs,)")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise UnsupportedModel("the model has non-finite weights")
        if w.shape[1] > MAX_FEATURES:
            raise UnsupportedModel(f"more than {MAX_FEATURES} features")
        if self.kind not in KINDS:
            raise InvalidInput(f"unknown output kind {self.kind!r}")
        if self.probability is not None and self.probability not in _PROBABILITY:
            raise InvalidInput(f"unknown probability link {self.probability!r}")
        expected = _expected_outputs(self.kind, self.classes, w.shape[0])
        if w.shape[0] != expected:
            raise InvalidInput(f"a {self.kind} model over these classes has {expected} outputs")
        w.setflags(write=False)
        b.setflags(write=False)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(_json_label(c) for c in self.classes))

    @property
    def n_features(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.weights.shape[0])

    def scores(self, X: Any) -> np.ndarray:
        """Plaintext scores ``(n_samples, n_outputs)``: the reference for encrypted results."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.n_features:
            raise InvalidInput(f"expected {self.n_features} features, got {X.shape[1]}")
        return X @ self.weights.T + self.bias

    def predict(self, X: Any) -> list:
        return predict_from_scores(self.kind, self.classes, self.scores(X))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "garrison-linear-he-model",
            "version": 1,
            "kind": self.kind,
            "classes": None if self.classes is None else list(self.classes),
            "probability": self.probability,
            "n_features": self.n_features,
            "weights": self.weights.tolist(),
            "bias": self.bias.tolist(),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Any) -> LinearHEModel:
        if not isinstance(data, dict) or data.get("format") != "garrison-linear-he-model":
            raise InvalidInput("not a garrison linear HE model")
        if data.get("version") != 1:
            raise InvalidInput("unsupported linear HE model version")
        try:
            model = cls(
                weights=np.asarray(data["weights"], dtype=np.float64),
                bias=np.asarray(data["bias"], dtype=np.float64),
                kind=str(data["kind"]),
                classes=None if data.get("classes") is None else tuple(data["classes"]),
                probability=data.get("probability"),
                source=str(data.get("source", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("malformed linear HE model") from exc
        if data.get("n_features") != model.n_features:
            raise InvalidInput("n_features does not match the weights")
        return model


def _expected_outputs(kind: str, classes: tuple[Any, ...] | None, n_rows: int) -> int:
    if kind == "regression":
        if classes is not None:
            raise InvalidInput("a regression model has no classes")
        return n_rows
    if classes is None or len(classes) < 2 or len(set(classes)) != len(classes):
        raise InvalidInput("a classifier needs two or more distinct classes")
    k = len(classes)
    return {"binary": 1, "multiclass": k, "ovo": k * (k - 1) // 2}[kind]


# --- compilation from scikit-learn -----------------------------------------------------

_SUPPORTED = (
    "LogisticRegression, LinearRegression, Ridge, Lasso, ElasticNet, RidgeClassifier, "
    "LinearSVC, LinearSVR, SVC(kernel='linear'), SVR(kernel='linear'), optionally in a "
    "Pipeline after StandardScaler / MinMaxScaler(clip=False) / MaxAbsScaler steps"
)


def _dense(value: Any) -> np.ndarray:
    if hasattr(value, "toarray"):  # A sparse coefficient matrix (SVC fitted on sparse data).
        value = value.toarray()
    return np.asarray(value, dtype=np.float64)


def _is_passthrough(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _affine_step(step: Any, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``x -> scale * x + offset`` for one fitted preprocessing step."""
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

    if _is_passthrough(step):
        return np.ones(n or 0), np.zeros(n or 0)
    if isinstance(step, StandardScaler):
        if not hasattr(step, "n_features_in_"):
            raise UnsupportedModel("the StandardScaler is not fitted")
        size = int(step.n_features_in_)
        # `mean_` is fitted even when `with_mean=False`; the flags decide what is applied.
        mean = _dense(step.mean_) if step.with_mean else np.zeros(size)
        std = _dense(step.scale_) if step.with_std else np.ones(size)
        return 1.0 / std, -mean / std
    if isinstance(step, MinMaxScaler):
        if step.clip:
            raise UnsupportedModel("MinMaxScaler(clip=True) is not affine")
        return _dense(step.scale_), _dense(step.min_)
    if isinstance(step, MaxAbsScaler):
        return 1.0 / _dense(step.scale_), np.zeros_like(_dense(step.scale_))
    raise UnsupportedModel(
        f"pipeline step {type(step).__name__} cannot be folded into a linear model; "
        f"supported: {_SUPPORTED}"
    )


def _final_linear(est: Any) -> tuple[np.ndarray, np.ndarray, str, tuple | None, str | None]:
    from sklearn import linear_model as lm
    from sklearn import svm

    name = type(est).__name__
    if isinstance(est, svm.SVC | svm.SVR) and est.kernel != "linear":
        raise UnsupportedModel(f"{name}(kernel={est.kernel!r}) is not linear")
    if not hasattr(est, "coef_"):
        raise UnsupportedModel(f"{name} is not a fitted linear model; supported: {_SUPPORTED}")
    if isinstance(est, svm.SVC) and est.break_ties:
        raise UnsupportedModel("SVC(break_ties=True) does not predict from pairwise votes")
    classifiers = (lm.LogisticRegression, lm.RidgeClassifier, svm.LinearSVC, svm.SVC)
    regressors = (lm.LinearRegression, lm.Ridge, lm.Lasso, lm.ElasticNet, svm.LinearSVR, svm.SVR)
    coef = np.atleast_2d(_dense(est.coef_))
    intercept = np.atleast_1d(_dense(est.intercept_)).ravel()
    if intercept.size == 1 and coef.shape[0] > 1:
        intercept = np.full(coef.shape[0], intercept[0])
    if isinstance(est, classifiers):
        classes = tuple(_json_label(c) for c in est.classes_)
        probability = None
        if isinstance(est, lm.LogisticRegression):
            probability = "sigmoid" if len(classes) == 2 else "softmax"
        if len(classes) == 2:
            kind = "binary"
        elif isinstance(est, svm.SVC):
            kind = "ovo"
        else:
            kind = "multiclass"
        return coef, intercept, kind, classes, probability
    if isinstance(est, regressors):
        return coef, intercept, "regression", None, None
    raise UnsupportedModel(
        f"{name} is not supported for encrypted inference; supported: {_SUPPORTED}"
    )


def compile_model(estimator: Any) -> LinearHEModel:
    """Fold a fitted estimator (or pipeline) into a :class:`LinearHEModel`; raise if unsupported."""
    from sklearn.pipeline import Pipeline

    steps = [estimator]
    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps]
    *pre, final = steps
    coef, intercept, kind, classes, probability = _final_linear(final)
    n = coef.shape[1]
    scale, offset = np.ones(n), np.zeros(n)
    for step in pre:
        s, o = _affine_step(step, n)
        if s.shape != (n,) or o.shape != (n,):
            raise UnsupportedModel("a preprocessing step changes the number of features")
        scale, offset = s * scale, s * offset + o
    weights = coef * scale
    bias = intercept + coef @ offset
    source = " -> ".join(type(step).__name__ for step in steps if not _is_passthrough(step))
    return LinearHEModel(weights, bias, kind, classes, probability, source)
