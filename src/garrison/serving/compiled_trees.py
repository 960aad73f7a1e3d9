"""Tree ensembles as ONNX ``TreeEnsemble`` graphs in double precision (private).

Each supported estimator is read into flat node arrays and written as one
``ai.onnx.ml`` opset 5 ``TreeEnsemble`` node whose thresholds and leaf weights are
float64, so the graph compares and sums exactly as scikit-learn does:

* ``RandomForest*`` / ``ExtraTrees*`` and ``DecisionTree*`` (a forest of one tree;
  single output): scikit-learn casts rows to float32 before it walks a tree, so
  :class:`TreeGraph` does the same (``cast32``) and compares the float32 value, widened,
  with the float64 threshold; NaN goes to each split's ``missing_go_to_left``. A
  classifier's
  leaves are class fractions; one copy of every tree per class (an opset 5 leaf feeds
  one target) averages them exactly as ``predict_proba`` does.
* ``GradientBoosting*``: the same float32 walk; raw score = the prior (only the default
  ``init``) + learning rate x the sum of the trees, then the model's own link.
* ``HistGradientBoosting*``: float64 rows, the predictors' numeric thresholds and
  their missing-value side; categorical splits are refused (served by the original).

XGBoost and LightGBM boosters are read from their own model dumps into the same node
arrays (``compiled_boosters.py``). Whatever is built here is only a candidate:
``compiled.py`` serves it only if it reproduces the original on the sealed reference
sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BRANCH_LEQ", "BRANCH_LT", "TreeGraph", "build_graph"]

#: A split that every finite value and NaN takes to its true side (single-leaf trees).
_ALWAYS = np.inf
#: ``TreeEnsemble`` node modes: ``x <= split`` (scikit-learn, LightGBM), ``x < split``
#: (XGBoost).
BRANCH_LEQ, BRANCH_LT = 0, 1


@dataclass
class _Nodes:
    """Flat ``TreeEnsemble`` attributes, filled one tree at a time."""

    roots: list[int] = field(default_factory=list)
    features: list[int] = field(default_factory=list)
    splits: list[float] = field(default_factory=list)
    true_ids: list[int] = field(default_factory=list)
    true_leaf: list[int] = field(default_factory=list)
    false_ids: list[int] = field(default_factory=list)
    false_leaf: list[int] = field(default_factory=list)
    missing_true: list[int] = field(default_factory=list)
    modes: list[int] = field(default_factory=list)
    leaf_targets: list[int] = field(default_factory=list)
    leaf_weights: list[float] = field(default_factory=list)

    def add_tree(self, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
                 right: np.ndarray, is_leaf: np.ndarray, missing_left: np.ndarray,
                 weight: np.ndarray, target: int, mode: int = BRANCH_LEQ) -> None:
        """One binary tree: ``x[feature] <= threshold`` (``<`` with ``mode=BRANCH_LT``,
        or NaN with ``missing_left``) goes to ``left``; ``weight[j]`` is leaf ``j``'s
        contribution to ``target``."""
        leaf_index: dict[int, int] = {}
        node_index: dict[int, int] = {}
        for j in range(len(feature)):
            if is_leaf[j]:
                leaf_index[j] = len(self.leaf_weights)
                self.leaf_targets.append(target)
                self.leaf_weights.append(float(weight[j]))
        if is_leaf[0]:  # A tree with no split: one always-true split to its only leaf.
            self.roots.append(len(self.features))
            self._node(0, _ALWAYS, leaf_index[0], 1, leaf_index[0], 1, 1, BRANCH_LEQ)
            return
        base = len(self.features)
        for j in range(len(feature)):
            if not is_leaf[j]:
                node_index[j] = base + len(node_index)
        self.roots.append(base)
        for j in range(len(feature)):
            if is_leaf[j]:
                continue
            lo, hi = int(left[j]), int(right[j])
            self._node(int(feature[j]), float(threshold[j]),
                       leaf_index[lo] if is_leaf[lo] else node_index[lo], int(is_leaf[lo]),
                       leaf_index[hi] if is_leaf[hi] else node_index[hi], int(is_leaf[hi]),
                       int(bool(missing_left[j])), mode)

    def _node(self, feature: int, split: float, true_id: int, true_leaf: int, false_id: int,
              false_leaf: int, missing_true: int, mode: int) -> None:
        self.features.append(feature)
        self.splits.append(split)
        self.true_ids.append(true_id)
        self.true_leaf.append(true_leaf)
        self.false_ids.append(false_id)
        self.false_leaf.append(false_leaf)
        self.missing_true.append(missing_true)
        self.modes.append(mode)

    def add_constant(self, value: float, target: int) -> None:
        """A tree with no split whose one leaf adds ``value`` to ``target``."""
        one = np.ones(1, dtype=bool)
        self.add_tree(np.zeros(1, dtype=np.int64), np.zeros(1), -one.astype(np.int64),
                      -one.astype(np.int64), one, one, np.array([value]), target)

    def model_bytes(self, n_features: int, n_targets: int, *, single: bool = False) -> bytes:
        """The ``TreeEnsemble`` model: float64 rows, thresholds, leaves and sums, or float32
        throughout with ``single`` (the trees are then summed in float32, in order)."""
        from onnx import TensorProto, helper, numpy_helper

        real = np.float32 if single else np.float64
        io = TensorProto.FLOAT if single else TensorProto.DOUBLE

        def tensor(values: list[float] | list[int], dtype: Any) -> Any:
            return numpy_helper.from_array(np.asarray(values, dtype=dtype))

        node = helper.make_node(
            "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=n_targets,
            aggregate_function=1, post_transform=0, tree_roots=self.roots,
            nodes_featureids=self.features,
            nodes_modes=tensor(self.modes, np.uint8),
            nodes_splits=tensor(self.splits, real),
            nodes_truenodeids=self.true_ids, nodes_trueleafs=self.true_leaf,
            nodes_falsenodeids=self.false_ids, nodes_falseleafs=self.false_leaf,
            nodes_missing_value_tracks_true=self.missing_true,
            leaf_targetids=self.leaf_targets, leaf_weights=tensor(self.leaf_weights, real))
        graph = helper.make_graph(
            [node], "garrison-trees",
            [helper.make_tensor_value_info("X", io, [None, n_features])],
            [helper.make_tensor_value_info("Y", io, [None, n_targets])])
        model = helper.make_model(graph, opset_imports=[
            helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
        return bytes(model.SerializeToString())


@dataclass(frozen=True)
class TreeGraph:
    """An ensemble as ONNX bytes plus what turns its raw output into the model's answer.

    ``base``: added to the raw sums (the boosting prior); ``link``: raw -> probabilities
    (classifiers) or values (regressors), the estimator's own function; ``cast32``: walk
    the trees on float32-rounded rows, as scikit-learn's trees do; ``single``: the graph
    is float32 throughout (rows are rounded to float32 and summed so, as XGBoost does);
    ``missing``: the
    graph sends NaN where the model does, so rows with missing values need not go to the
    original (still checked, see ``compiled.py``).
    """

    family: str
    onnx: bytes
    n_targets: int
    base: np.ndarray
    link: Any
    cast32: bool
    classifier: bool
    missing: bool = False
    single: bool = False


def _sk_tree(nodes: _Nodes, tree: Any, weight: np.ndarray, target: int) -> None:
    t = tree.tree_
    left = t.children_left
    missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8))
    nodes.add_tree(t.feature, t.threshold, left, t.children_right, left == -1, missing,
                   weight, target)


def _forest(model: Any, classifier: bool, trees: list[Any] | None = None) -> TreeGraph:
    """A forest's trees averaged (``trees``: ``[model]`` for a single decision tree)."""
    trees = model.estimators_ if trees is None else trees
    nodes = _Nodes()
    if getattr(model, "n_outputs_", 1) != 1:
        raise ValueError("multi-output forests are not compiled")
    n = len(trees)
    # Trees fitted by scikit-learn >= 1.3 record each split's side for NaN.
    missing = all(hasattr(tree.tree_, "missing_go_to_left") for tree in trees)
    if classifier:
        k = len(model.classes_)
        for tree in trees:
            value = tree.tree_.value[:, 0, :]
            total = value.sum(axis=1, keepdims=True)
            fractions = value / np.where(total == 0, 1.0, total)
            for c in range(k):
                _sk_tree(nodes, tree, fractions[:, c] / n, c)
        return TreeGraph(type(model).__name__, nodes.model_bytes(model.n_features_in_, k), k,
                         np.zeros(k), None, True, True, missing=missing)
    for tree in trees:
        _sk_tree(nodes, tree, tree.tree_.value[:, 0, 0] / n, 0)
    return TreeGraph(type(model).__name__, nodes.model_bytes(model.n_features_in_, 1), 1,
                     np.zeros(1), None, True, False, missing=missing)


def _gradient_boosting(model: Any, classifier: bool) -> TreeGraph:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = model.init_
    if not (init == "zero" or type(init) in (DummyClassifier, DummyRegressor)):
        raise ValueError("a custom init estimator is not compiled")
    stages = model.estimators_  # (n_iter, K) regression trees
    k = stages.shape[1]
    nodes = _Nodes()
    rate = float(model.learning_rate)
    for row in stages:
        for c, tree in enumerate(row):
            _sk_tree(nodes, tree, tree.tree_.value[:, 0, 0] * rate, c)
    probe = np.zeros((1, model.n_features_in_))
    base = np.asarray(model._raw_predict_init(probe), dtype=np.float64)[0]
    link = model._loss.predict_proba if classifier else None
    return TreeGraph(type(model).__name__, nodes.model_bytes(model.n_features_in_, k), k,
                     base, link, True, classifier)


def _hist_gradient_boosting(model: Any, classifier: bool) -> TreeGraph:
    if getattr(model, "_preprocessor", None) is not None:
        raise ValueError("categorical preprocessing is not compiled")
    nodes = _Nodes()
    k = int(model.n_trees_per_iteration_)
    for iteration in model._predictors:
        for c, predictor in enumerate(iteration):
            arr = predictor.nodes
            if arr["is_categorical"].any():
                raise ValueError("categorical splits are not compiled")
            nodes.add_tree(arr["feature_idx"], arr["num_threshold"], arr["left"],
                           arr["right"], arr["is_leaf"], arr["missing_go_to_left"],
                           arr["value"], c)
    base = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    link = model._loss.predict_proba if classifier else model._loss.link.inverse
    return TreeGraph(type(model).__name__, nodes.model_bytes(model.n_features_in_, k), k,
                     base, link, False, classifier, missing=True)


def build_graph(model: Any) -> TreeGraph | None:
    """The graph of a supported scikit-learn ensemble or XGBoost / LightGBM booster (native
    or its scikit-learn wrapper), or ``None`` for any other model.

    Raises ``ValueError`` for a supported family in a configuration not compiled
    (multi-output, custom ``init``, categorical splits, an objective not known here).
    """
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

    kind = type(model)
    if kind in (DecisionTreeClassifier, DecisionTreeRegressor):
        return _forest(model, kind is DecisionTreeClassifier, [model])
    if kind in (RandomForestClassifier, ExtraTreesClassifier):
        return _forest(model, True)
    if kind in (RandomForestRegressor, ExtraTreesRegressor):
        return _forest(model, False)
    if kind in (GradientBoostingClassifier, GradientBoostingRegressor):
        return _gradient_boosting(model, kind is GradientBoostingClassifier)
    if kind in (HistGradientBoostingClassifier, HistGradientBoostingRegressor):
        return _hist_gradient_boosting(model, kind is HistGradientBoostingClassifier)
    from garrison.serving.compiled_boosters import booster_graph

    return booster_graph(model)
