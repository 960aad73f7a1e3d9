"""Exact additive explanations for linear models and affine-scaler pipelines.

A linear model's score is ``f(x) = w . z + b`` with ``z = a * x + c`` after any chain of
per-feature affine scalers (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler). Folding
the scalers into the weights gives ``f(x) = w' . x + b'`` in the ORIGINAL feature space, and
for a baseline point ``mu`` the contributions ``phi_j = w'_j * (x_j - mu_j)`` with
``base_value = w' . mu + b'`` sum to ``f(x)`` exactly (up to float rounding). These are also
the exact (interventional) Shapley values of ``f`` against ``mu``.

Baseline, in order of precedence: the mean of ``background`` given when the explainer is built
(``"background-mean"``); the training mean stored by a leading StandardScaler
(``"scaler-mean"``); otherwise the origin (``"zero"``, so ``base_value`` is the intercept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import (
    ElasticNet,
    ElasticNetCV,
    Lasso,
    LassoCV,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    RidgeClassifierCV,
    RidgeCV,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import SVC, LinearSVC, LinearSVR

from garrison.errors import InvalidInput, UnsupportedModel

from .base import AdditiveExplainer, as_rows, check_feature_names, ensure_fitted
from .registry import ExplainerSpec

__all__ = ["LINEAR_SPEC", "LinearExplainer", "is_linear_model"]

_CLASSIFIERS = (LogisticRegression, LinearSVC, RidgeClassifier, RidgeClassifierCV, SGDClassifier)
_REGRESSORS = (
    LinearRegression,
    Ridge,
    RidgeCV,
    Lasso,
    LassoCV,
    ElasticNet,
    ElasticNetCV,
    SGDRegressor,
    LinearSVR,
)
_SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler)


def _is_bare_linear(model: Any) -> bool:
    if isinstance(model, SVC):
        return model.kernel == "linear"
    return isinstance(model, _CLASSIFIERS + _REGRESSORS)


def is_linear_model(model: Any) -> bool:
    """True for a supported linear model, or a Pipeline of affine scalers ending in one."""
    if isinstance(model, Pipeline):
        *head, (_, last) = model.steps
        return _is_bare_linear(last) and all(
            step in (None, "passthrough") or isinstance(step, _SCALERS) for _, step in head
        )
    return _is_bare_linear(model)


def _affine(scaler: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(a, c)`` with ``scaler.transform(x) == a * x + c`` feature by feature."""
    one, zero = np.ones(n), np.zeros(n)
    if isinstance(scaler, StandardScaler):
        scale = one if scaler.scale_ is None else np.asarray(scaler.scale_, dtype=np.float64)
        mean = zero if scaler.mean_ is None or not scaler.with_mean else scaler.mean_
        return 1.0 / scale, -np.asarray(mean, dtype=np.float64) / scale
    if isinstance(scaler, MinMaxScaler):
        if scaler.clip:
            raise UnsupportedModel("MinMaxScaler(clip=True) is not affine, so not explainable")
        return np.asarray(scaler.scale_, dtype=np.float64), np.asarray(scaler.min_, np.float64)
    if isinstance(scaler, MaxAbsScaler):
        return 1.0 / np.asarray(scaler.scale_, dtype=np.float64), zero
    if isinstance(scaler, RobustScaler):
        scale = one if scaler.scale_ is None else np.asarray(scaler.scale_, dtype=np.float64)
        center = zero if scaler.center_ is None else np.asarray(scaler.center_, np.float64)
        return 1.0 / scale, -center / scale
    raise UnsupportedModel(f"{type(scaler).__name__} is not an affine scaler")


def _dense(value: Any) -> np.ndarray:
    if hasattr(value, "toarray"):  # A sparsified coef_ (after .sparsify()).
        value = value.toarray()
    return np.asarray(value, dtype=np.float64)


class LinearExplainer(AdditiveExplainer):
    """Exact contributions of a linear model, precomputed as folded weights at construction."""

    method = "linear-exact"

    def __init__(self, model: Any, feature_names: Sequence[str], background: Any = None) -> None:
        if not is_linear_model(model):
            raise UnsupportedModel(f"{type(model).__name__} is not a supported linear model")
        ensure_fitted(model)
        steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
        estimator = steps[-1][1]
        coef = _dense(estimator.coef_)
        weights = coef.reshape(1, -1) if coef.ndim == 1 else coef
        intercept = np.broadcast_to(
            np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1), (weights.shape[0],)
        ).copy()
        n = weights.shape[1]
        self.feature_names = check_feature_names(feature_names, n, model)
        # Fold the scalers, last to first, into the weights and the intercept.
        first_scaler = None
        for _, step in reversed(steps[:-1]):
            if step in (None, "passthrough"):
                continue
            a, c = _affine(step, n)
            intercept = intercept + weights @ c
            weights = weights * a
            first_scaler = step
        self._weights = weights
        self._weights_t = np.ascontiguousarray(weights.T)
        self._setup_outputs(estimator, weights.shape[0])
        self._mu, self.baseline = self._baseline(background, first_scaler, n)
        self._base = weights @ self._mu + intercept

    def _setup_outputs(self, estimator: Any, n_outputs: int) -> None:
        self.target: str | None = None
        self.labels: list[str] | None = None
        if hasattr(estimator, "classes_"):
            classes = [str(label) for label in estimator.classes_]
            if n_outputs == 1:
                self.target = classes[-1]
            elif n_outputs == len(classes) and not isinstance(estimator, SVC):
                self.labels = classes
            else:
                # A multi-class SVC scores class pairs and votes; that is not additive.
                raise UnsupportedModel("only binary SVC(kernel='linear') models are explainable")
            is_logistic = isinstance(estimator, LogisticRegression) or (
                isinstance(estimator, SGDClassifier) and estimator.loss == "log_loss"
            )
            if is_logistic:
                self.output_space = "log-odds" if n_outputs == 1 else "logit"
            else:
                self.output_space = "decision-function"
        elif n_outputs == 1:
            self.output_space = "prediction"
        else:
            raise UnsupportedModel("multi-target linear regressors are not explainable")

    def _baseline(self, background: Any, first_scaler: Any, n: int) -> tuple[np.ndarray, str]:
        if background is not None:
            data = np.asarray(background, dtype=np.float64)
            mu = data if data.ndim == 1 else data.mean(axis=0)
            if mu.shape != (n,) or not np.isfinite(mu).all():
                raise InvalidInput(f"background must be finite rows of {n} features")
            return mu, "background-mean"
        if (
            isinstance(first_scaler, StandardScaler)
            and first_scaler.with_mean
            and first_scaler.mean_ is not None
        ):
            return np.asarray(first_scaler.mean_, dtype=np.float64).copy(), "scaler-mean"
        return np.zeros(n), "zero"

    @property
    def base_values(self) -> np.ndarray:
        """The expected score at the baseline, one per output."""
        return self._base.copy()

    def contributions(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Arrays ``(phi, output)`` of shapes (rows, outputs, features) and (rows, outputs)."""
        rows = as_rows(X, self._weights.shape[1], allow_nan=False)
        centered = rows - self._mu
        phi = centered[:, None, :] * self._weights
        # A small dot product is cheaper than a numpy reduction call for one row.
        return phi, centered @ self._weights_t + self._base


LINEAR_SPEC = ExplainerSpec(
    id="linear-exact",
    description=(
        "Exact additive contributions w'_j * (x_j - mu_j) of a linear model in the original "
        "feature space (affine scalers folded into the weights)."
    ),
    model_types=(
        "LogisticRegression",
        "LinearRegression",
        "Ridge",
        "Lasso",
        "ElasticNet",
        "LinearSVC",
        "LinearSVR",
        "RidgeClassifier",
        "SGDClassifier",
        "SGDRegressor",
        "SVC(kernel='linear')",
        "Pipeline(affine scalers + one of these)",
    ),
    output_space="log-odds | logit | decision-function | prediction",
    exact=True,
    supports=is_linear_model,
    factory=LinearExplainer,
)
