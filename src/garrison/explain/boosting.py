"""TreeSHAP for XGBoost and LightGBM through their own exact implementations.

Both libraries ship the exact path-dependent TreeSHAP algorithm in C++ (``pred_contribs=True``
for XGBoost, ``pred_contrib=True`` for LightGBM); Garrison calls it rather than re-deriving
their tree formats. Both are optional extras, so they are imported only when a model of
theirs is explained. The explained output is the raw margin (log-odds for binary classifiers,
per-class logits for multi-class, the raw score for regressors). XGBoost computes in float32,
so local accuracy holds to about 1e-6 relative.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from garrison.errors import UnsupportedModel

from .base import Explanation, as_rows, build_explanations, check_feature_names, ensure_fitted
from .registry import ExplainerSpec

__all__ = ["LIGHTGBM_SPEC", "XGBOOST_SPEC", "BoosterExplainer", "is_lightgbm", "is_xgboost"]


def _module_root(model: Any) -> str:
    return type(model).__module__.split(".", 1)[0]


def _is_native(model: Any) -> bool:
    return type(model).__name__ == "Booster"


def is_xgboost(model: Any) -> bool:
    """True for XGBoost's scikit-learn wrappers and native boosters (checked without
    importing xgboost)."""
    return _module_root(model) == "xgboost" and (hasattr(model, "get_booster")
                                                 or _is_native(model))


def is_lightgbm(model: Any) -> bool:
    """True for LightGBM's scikit-learn wrappers and native boosters (checked without
    importing lightgbm)."""
    return _module_root(model) == "lightgbm" and (hasattr(model, "booster_")
                                                  or _is_native(model))


#: Native objectives whose raw score is a log-odds (binary) or per-class logits.
_BINARY = {"binary:logistic", "binary:logitraw", "binary", "cross_entropy", "xentropy"}
_MULTI = {"multi:softprob", "multi:softmax", "multiclass", "softmax", "multiclassova",
          "multiclass_ova", "ova", "ovr"}


def _native_classes(booster: Any, library: str) -> list[str]:
    """A native booster's classes as the runtime answers them (``0..k-1``), from its
    objective; none for a regression or ranking score."""
    import json

    if library == "xgboost":
        learner = json.loads(booster.save_config())["learner"]
        objective = str(learner["objective"]["name"])
        k = int(float(learner.get("learner_model_param", {}).get("num_class", "0") or 0))
    else:
        objective = str((booster.params or {}).get("objective")
                        or booster.dump_model(num_iteration=0).get("objective", ""))
        objective = objective.split(" ", 1)[0]
        k = int(booster.num_model_per_iteration())
    if objective in _BINARY:
        return ["0", "1"]
    if objective in _MULTI:
        return [str(i) for i in range(k)]
    return []


class BoosterExplainer:
    """Exact TreeSHAP computed by the boosting library itself."""

    def __init__(self, model: Any, feature_names: Sequence[str], background: Any = None) -> None:
        del background  # Path-dependent TreeSHAP uses the training cover.
        if is_xgboost(model):
            self.method = "xgboost-tree-shap"
            self._library = "xgboost"
        elif is_lightgbm(model):
            self.method = "lightgbm-tree-shap"
            self._library = "lightgbm"
        else:
            raise UnsupportedModel(f"{type(model).__name__} is not an XGBoost/LightGBM model")
        self._native = _is_native(model)
        self._model = model
        if self._native:  # A booster as saved by the library (the gateway's native formats).
            self._n_features = int(model.num_features() if self._library == "xgboost"
                                   else model.num_feature())
            classes = _native_classes(model, self._library)
        else:
            ensure_fitted(model)
            self._n_features = int(model.n_features_in_)
            raw = getattr(model, "classes_", None)
            classes = [] if raw is None else [str(c) for c in np.asarray(raw).tolist()]
        self.feature_names = check_feature_names(feature_names, self._n_features, model)
        self.baseline = "training-cover"
        self.target: str | None = None
        self.labels: list[str] | None = None
        if len(classes) == 2:
            self.target = classes[1]
            self.output_space = "log-odds"
        elif len(classes) > 2:
            self.labels = classes
            self.output_space = "logit"
        else:
            self.output_space = "raw-score"
        self._n_outputs = len(self.labels) if self.labels else 1

    def _raw(self, rows: np.ndarray) -> np.ndarray:
        """Contributions with the bias last, shape (rows, outputs, features + 1)."""
        if self._library == "xgboost":
            import xgboost

            booster = self._model if self._native else self._model.get_booster()
            # A booster fitted on a DataFrame validates the names; the rows are in its order.
            matrix = xgboost.DMatrix(
                rows,
                missing=np.nan,
                feature_names=booster.feature_names,
                feature_types=booster.feature_types,
            )
            raw = booster.predict(matrix, pred_contribs=True, strict_shape=False)
        elif self._native:
            raw = self._model.predict(rows, pred_contrib=True)
        else:
            raw = self._model.predict(self._lightgbm_rows(rows), pred_contrib=True)
        raw = np.asarray(raw, dtype=np.float64)
        return raw.reshape(rows.shape[0], self._n_outputs, self._n_features + 1)

    def _lightgbm_rows(self, rows: np.ndarray) -> Any:
        """Rows under the fitted column names, so scikit-learn does not warn about them.

        Models fitted with pandas categoricals keep the bare array: LightGBM would refuse a
        frame without its categorical columns.
        """
        names = getattr(self._model, "feature_names_in_", None)
        if names is None or getattr(self._model.booster_, "pandas_categorical", None):
            return rows
        import pandas as pd

        return pd.DataFrame(rows, columns=[str(n) for n in names])

    def contributions(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrays (base, phi, output): (outputs,), (rows, outputs, features), (rows, outputs)."""
        rows = as_rows(X, self._n_features, allow_nan=True)
        raw = self._raw(rows)
        phi = raw[:, :, :-1]
        base = raw[0, :, -1] if rows.shape[0] else np.zeros(self._n_outputs)
        return base, phi, raw.sum(axis=2)

    def explain(self, X: Any) -> list[Explanation]:
        base, phi, output = self.contributions(X)
        return build_explanations(
            method=self.method,
            output_space=self.output_space,
            baseline=self.baseline,
            feature_names=self.feature_names,
            labels=self.labels,
            target=self.target,
            base=base,
            phi=phi,
            output=output,
        )


XGBOOST_SPEC = ExplainerSpec(
    id="xgboost-tree-shap",
    description="XGBoost's built-in exact TreeSHAP (pred_contribs=True), raw margin space.",
    model_types=("XGBClassifier", "XGBRegressor", "Booster"),
    output_space="log-odds | logit | raw-score",
    exact=True,
    supports=is_xgboost,
    factory=BoosterExplainer,
)

LIGHTGBM_SPEC = ExplainerSpec(
    id="lightgbm-tree-shap",
    description="LightGBM's built-in exact TreeSHAP (pred_contrib=True), raw score space.",
    model_types=("LGBMClassifier", "LGBMRegressor", "Booster"),
    output_space="log-odds | logit | raw-score",
    exact=True,
    supports=is_lightgbm,
    factory=BoosterExplainer,
)
