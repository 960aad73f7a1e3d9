"""Path-dependent TreeSHAP for scikit-learn tree models.

Reads the fitted tree arrays (``tree_`` of DecisionTree*, RandomForest*, ExtraTrees*,
GradientBoosting*; the predictor ``nodes`` of HistGradientBoosting*) into the model-neutral
``Tree`` form and explains with the vectorized algorithm in ``_treeshap``. Cover is
``weighted_n_node_samples`` (``count`` for HistGradientBoosting).

Output spaces: the class probability for DecisionTreeClassifier / RandomForestClassifier /
ExtraTreesClassifier (the positive class of a binary model, one output per class otherwise);
the raw score before the link function for the gradient-boosting models (log-odds for binary
classifiers, per-class logits for multi-class, the raw prediction for regressors); the
prediction for tree and forest regressors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from garrison.errors import UnsupportedModel

from ._treeshap import Tree, TreePaths
from .base import AdditiveExplainer, as_rows, check_feature_names, ensure_fitted
from .registry import ExplainerSpec

__all__ = ["SKLEARN_TREE_SPEC", "TreeExplainer", "is_sklearn_tree_model"]

_SINGLE = (DecisionTreeClassifier, DecisionTreeRegressor)
_FORESTS = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
)
_BOOSTED = (GradientBoostingClassifier, GradientBoostingRegressor)
_HIST = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)


def is_sklearn_tree_model(model: Any) -> bool:
    """True for the scikit-learn tree models this module explains."""
    return isinstance(model, _SINGLE + _FORESTS + _BOOSTED + _HIST)


def _from_sklearn(estimator: Any, values: np.ndarray) -> Tree:
    tree = estimator.tree_
    nan_left = getattr(tree, "missing_go_to_left", np.ones(tree.node_count, dtype=bool))
    return Tree(
        left=tree.children_left,
        right=tree.children_right,
        feature=tree.feature,
        threshold=tree.threshold,
        nan_left=np.asarray(nan_left, dtype=bool),
        cover=np.asarray(tree.weighted_n_node_samples, dtype=np.float64),
        value=values,
    )


def _classifier_values(estimator: Any, keep: slice, scale: float) -> np.ndarray:
    value = estimator.tree_.value[:, 0, :]
    total = value.sum(axis=1, keepdims=True)
    proba = np.divide(value, total, out=np.zeros_like(value), where=total > 0)
    return proba[:, keep] * scale


def _from_hist(predictor: Any, output: int, n_outputs: int) -> Tree:
    nodes = predictor.nodes
    if nodes["is_categorical"].any():
        raise UnsupportedModel("HistGradientBoosting with categorical splits is not explainable")
    leaf = nodes["is_leaf"].astype(bool)
    values = np.zeros((len(nodes), n_outputs))
    values[:, output] = nodes["value"]
    return Tree(
        left=np.where(leaf, -1, nodes["left"].astype(np.intp)),
        right=np.where(leaf, -1, nodes["right"].astype(np.intp)),
        feature=nodes["feature_idx"].astype(np.intp),
        threshold=nodes["num_threshold"].astype(np.float64),
        nan_left=nodes["missing_go_to_left"].astype(bool),
        cover=nodes["count"].astype(np.float64),
        value=values,
    )


class TreeExplainer(AdditiveExplainer):
    """Path-dependent TreeSHAP over a fitted scikit-learn tree model.

    The tree paths are extracted once, at construction; ``explain`` then works on blocks of
    rows. ``background`` is not used: path-dependent TreeSHAP takes its reference
    distribution from the training cover stored in the trees.
    """

    method = "tree-shap-path-dependent"

    def __init__(self, model: Any, feature_names: Sequence[str], background: Any = None) -> None:
        del background  # The training cover is the background.
        if not is_sklearn_tree_model(model):
            raise UnsupportedModel(f"{type(model).__name__} is not a supported tree model")
        ensure_fitted(model)
        if getattr(model, "n_outputs_", 1) != 1:
            raise UnsupportedModel("multi-output tree models are not explainable")
        n_features = int(model.n_features_in_)
        self.feature_names = check_feature_names(feature_names, n_features, model)
        self.target: str | None = None
        self.labels: list[str] | None = None
        self._float32 = not isinstance(model, _HIST)
        self.baseline = "training-cover"
        offset, trees, n_outputs = self._trees(model)
        self._paths = TreePaths(trees, n_features, n_outputs)
        self._base = self._paths.expected_value + offset
        self._offset = offset

    def _outputs(self, model: Any, per_class: int) -> tuple[int, slice]:
        classes = [str(label) for label in getattr(model, "classes_", [])]
        if not classes:
            return 1, slice(0, 1)
        if len(classes) == 2:
            self.target = classes[1]
            return 1, slice(1, 2) if per_class == 2 else slice(0, 1)
        self.labels = classes
        return len(classes), slice(0, len(classes))

    def _trees(self, model: Any) -> tuple[np.ndarray, list[Tree], int]:
        if isinstance(model, _SINGLE + _FORESTS):
            estimators = [model] if isinstance(model, _SINGLE) else list(model.estimators_)
            scale = 1.0 / len(estimators)
            is_classifier = hasattr(model, "classes_")
            n_outputs, keep = self._outputs(model, 2 if is_classifier else 1)
            self.output_space = "probability" if is_classifier else "prediction"
            trees = [
                _from_sklearn(
                    est,
                    _classifier_values(est, keep, scale)
                    if is_classifier
                    else est.tree_.value[:, 0, :1] * scale,
                )
                for est in estimators
            ]
            return np.zeros(n_outputs), trees, n_outputs
        if isinstance(model, _BOOSTED):
            return self._boosted(model)
        return self._hist(model)

    def _boosted(self, model: Any) -> tuple[np.ndarray, list[Tree], int]:
        init = model.init_
        if not (init == "zero" or type(init).__name__ in ("DummyClassifier", "DummyRegressor")):
            raise UnsupportedModel(
                "GradientBoosting with a custom init estimator is not explainable"
            )
        n_outputs = model.estimators_.shape[1]
        self._outputs(model, 1)
        self._boost_space(model)
        try:
            # Private but long-standing: the constant raw score of the init estimator.
            init_raw = model._raw_predict_init(
                np.zeros((1, model.n_features_in_), dtype=np.float32)
            )
        except AttributeError as exc:
            raise UnsupportedModel("this scikit-learn version hides the boosting init") from exc
        offset = np.asarray(init_raw, dtype=np.float64).reshape(n_outputs)
        trees = []
        for stage in model.estimators_:
            for k, est in enumerate(stage):
                values = np.zeros((est.tree_.node_count, n_outputs))
                values[:, k] = est.tree_.value[:, 0, 0] * model.learning_rate
                trees.append(_from_sklearn(est, values))
        return offset, trees, n_outputs

    def _hist(self, model: Any) -> tuple[np.ndarray, list[Tree], int]:
        n_outputs = int(model.n_trees_per_iteration_)
        self._outputs(model, 1)
        self._boost_space(model)
        try:
            # Private but long-standing: the fitted predictors and the baseline raw score.
            baseline, predictors = model._baseline_prediction, model._predictors
            trees = [
                _from_hist(predictor, k, n_outputs)
                for iteration in predictors
                for k, predictor in enumerate(iteration)
            ]
        except (AttributeError, KeyError, ValueError) as exc:
            raise UnsupportedModel(
                "cannot read this scikit-learn version's HistGradientBoosting predictor nodes"
            ) from exc
        offset = np.asarray(baseline, dtype=np.float64).reshape(n_outputs)
        return offset, trees, n_outputs

    def _boost_space(self, model: Any) -> None:
        if self.target is not None:
            self.output_space = "log-odds"
        elif self.labels is not None:
            self.output_space = "logit"
        else:
            self.output_space = "raw-score"

    @property
    def base_values(self) -> np.ndarray:
        """Expected raw output over the training cover, one per output."""
        return self._base.copy()

    def contributions(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Arrays ``(phi, output)`` of shapes (rows, outputs, features) and (rows, outputs)."""
        rows = as_rows(X, self._paths.n_features, allow_nan=True)
        if self._float32:
            # scikit-learn compares float32 copies of the inputs with the thresholds.
            rows = rows.astype(np.float32).astype(np.float64)
        phi, output = self._paths.shap_values(rows)
        return phi, output + self._offset


SKLEARN_TREE_SPEC = ExplainerSpec(
    id="tree-shap-path-dependent",
    description=(
        "Exact path-dependent TreeSHAP (Lundberg et al. 2018, Algorithm 2) over the fitted "
        "scikit-learn tree arrays, vectorized across rows and leaves."
    ),
    model_types=(
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
    ),
    output_space="probability | log-odds | logit | raw-score | prediction",
    exact=True,
    supports=is_sklearn_tree_model,
    factory=TreeExplainer,
)
