"""XGBoost and LightGBM boosters as ONNX ``TreeEnsemble`` graphs (private).

The trees are read from each library's own serialized model, never from its Python
objects' internals, into the node arrays ``compiled_trees.py`` writes:

* **XGBoost** (``Booster`` and the ``XGB*`` scikit-learn wrappers): the JSON model
  (``save_raw(raw_format="json")``, the format the registry stores), whose numbers print
  as exact float32 values. XGBoost rounds rows to float32 and sends ``x < split`` left,
  NaN to each node's ``default_left`` side. The raw score is the intercept
  (``base_score`` through the objective's inverse link) plus the trees of each output
  group (``tree_info``; DART trees times their ``weight_drop``), summed **in float32 in
  that order**, as XGBoost sums them: the graph is float32 and the intercept is its first
  tree (summed in float64 the scores of 100 deep trees drift ~1e-6 from XGBoost's). A
  wrapper fitted with early stopping predicts with its best iteration's trees only, as
  its ``predict`` does.
* **LightGBM** (``Booster``, ``LGBM*`` wrappers): ``dump_model()`` (17 significant
  digits, exact doubles). LightGBM compares float64 rows, ``x <= threshold`` goes left;
  NaN goes to ``default_left`` when the node's missing type is ``NaN`` and is read as 0.0
  when it is ``None``. The raw score is the sum of the trees (``boost_from_average`` is in
  the first tree), tree ``i`` feeding class ``i % num_tree_per_iteration``; random-forest
  boosting averages them.

Then the objective's link: sigmoid (with LightGBM's ``sigmoid:`` factor), softmax,
exp, or none. Categorical splits, LightGBM's zero-as-missing splits and linear trees,
multi-target trees, a custom ``missing`` value and objectives not listed here raise
``ValueError``: the original model serves, and the reason is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from garrison.serving.compiled_trees import BRANCH_LEQ, BRANCH_LT, TreeGraph, _Nodes

__all__ = ["booster_graph"]

Link = Callable[[np.ndarray], np.ndarray]

#: XGBoost objective -> (base_score to margin, margin to prediction).
_XGB_OBJECTIVES = {
    "binary:logistic": ("logit", "sigmoid"), "reg:logistic": ("logit", "sigmoid"),
    # Margins; the gateway serves a native booster's as probabilities (BoosterRuntime).
    "binary:logitraw": ("none", "sigmoid"),
    "multi:softprob": ("none", "softmax"), "multi:softmax": ("none", "softmax"),
    "reg:squarederror": ("none", "none"), "reg:squaredlogerror": ("none", "none"),
    "reg:pseudohubererror": ("none", "none"), "reg:absoluteerror": ("none", "none"),
    "reg:quantileerror": ("none", "none"), "rank:pairwise": ("none", "none"),
    "rank:ndcg": ("none", "none"), "rank:map": ("none", "none"),
    "count:poisson": ("log", "exp"), "reg:gamma": ("log", "exp"),
    "reg:tweedie": ("log", "exp"),
}
#: LightGBM objective (and aliases) -> link.
_LGBM_OBJECTIVES = {
    **dict.fromkeys(("binary", "cross_entropy", "xentropy"), "sigmoid"),
    **dict.fromkeys(("multiclass", "softmax"), "softmax"),
    **dict.fromkeys(("multiclassova", "multiclass_ova", "ova", "ovr"), "sigmoid"),
    **dict.fromkeys(("poisson", "gamma", "tweedie"), "exp"),
    **dict.fromkeys(("regression", "regression_l2", "l2", "mean_squared_error", "mse",
                     "l2_root", "root_mean_squared_error", "rmse", "regression_l1", "l1",
                     "mean_absolute_error", "mae", "huber", "fair", "quantile", "mape",
                     "mean_absolute_percentage_error", "lambdarank", "rank_xendcg"), "none"),
}
#: Objectives whose native booster the gateway serves as a classifier (``BoosterRuntime``).
_NATIVE_CLASSIFIERS = {"binary:logistic", "binary:logitraw", "multi:softprob", "multi:softmax",
                       "binary", "cross_entropy", "xentropy", "multiclass", "softmax",
                       "multiclassova", "multiclass_ova", "ova", "ovr"}


def _link(kind: str, scale: float, classifier: bool) -> Link | None:
    """raw scores -> predictions; a one-column classifier's become two class columns."""
    from scipy.special import expit, softmax

    if kind == "none":
        return None
    if kind == "exp":
        return np.exp
    if kind == "softmax":
        return lambda raw: np.asarray(softmax(raw, axis=1))

    def sigmoid(raw: np.ndarray) -> np.ndarray:
        p = np.asarray(expit(raw * scale) if scale != 1.0 else expit(raw))
        if classifier and p.ndim == 1:
            return np.column_stack([1.0 - p, p])
        return p
    return sigmoid


def _is_wrapper(model: Any) -> bool:
    return hasattr(model, "get_booster") or hasattr(model, "booster_")


def _classifier(model: Any, objective: str) -> bool:
    if _is_wrapper(model):
        return callable(getattr(model, "predict_proba", None)) \
            and getattr(model, "classes_", None) is not None
    return objective in _NATIVE_CLASSIFIERS


def _xgb_trees(model: Any) -> tuple[dict[str, Any], list[dict[str, Any]], list[int], list[float]]:
    """(learner, trees used by predict, their output group, their weight)."""
    if _is_wrapper(model):
        missing = getattr(model, "missing", np.nan)
        if missing is not None and not (isinstance(missing, float) and np.isnan(missing)):
            raise ValueError("a custom missing value is not compiled")
        booster = model.get_booster()
    else:
        booster = model
    learner = json.loads(bytes(booster.save_raw(raw_format="json")))["learner"]
    gbm = learner["gradient_booster"]
    if gbm["name"] == "dart":
        weights = [float(np.float32(w)) for w in gbm["weight_drop"]]
        gbm = gbm["gbtree"]
    elif gbm["name"] == "gbtree":
        weights = [1.0] * len(gbm["model"]["trees"])
    else:
        raise ValueError(f"the {gbm['name']} booster has no trees to compile")
    trees, groups = gbm["model"]["trees"], [int(g) for g in gbm["model"]["tree_info"]]
    used = len(trees)
    if _is_wrapper(model):  # The wrapper predicts with its best iteration, if it has one.
        try:
            best = model.best_iteration
        except AttributeError:
            best = None
        if best is not None:
            used = int(gbm["model"]["iteration_indptr"][int(best) + 1])
    return learner, trees[:used], groups[:used], weights[:used]


def _xgboost(model: Any) -> TreeGraph:
    learner, trees, groups, weights = _xgb_trees(model)
    params = learner["learner_model_param"]
    objective = learner["objective"]["name"]
    if objective not in _XGB_OBJECTIVES:
        raise ValueError(f"the XGBoost objective {objective} is not compiled")
    if int(params.get("num_target", "1")) > 1:
        raise ValueError("multi-target XGBoost models are not compiled")
    n_features = int(params["num_feature"])
    k = max(1, int(params.get("num_class", "0")))
    to_margin, out = _XGB_OBJECTIVES[objective]
    base = np.array([float(np.float32(v)) for v in
                     str(params["base_score"]).strip("[]").split(",")], dtype=np.float64)
    if to_margin == "logit":
        base = np.log(base / (1.0 - base))
    elif to_margin == "log":
        base = np.log(base)
    nodes = _Nodes()
    for c, value in enumerate(np.broadcast_to(base, (k,))):
        nodes.add_constant(float(np.float32(value)), c)  # XGBoost starts from it.
    for tree, group, weight in zip(trees, groups, weights, strict=True):
        if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
            raise ValueError("multi-target XGBoost trees are not compiled")
        if any(int(t) != 0 for t in tree["split_type"]):
            raise ValueError("categorical splits are not compiled")
        left = np.asarray(tree["left_children"], dtype=np.int64)
        split = np.asarray(tree["split_conditions"], dtype=np.float32).astype(np.float64)
        nodes.add_tree(np.asarray(tree["split_indices"]), split, left,
                       np.asarray(tree["right_children"]), left == -1,
                       np.asarray(tree["default_left"]), split * weight, group, BRANCH_LT)
    classifier = _classifier(model, objective)
    return TreeGraph(type(model).__name__, nodes.model_bytes(n_features, k, single=True), k,
                     np.zeros(k), _link(out, 1.0, classifier), True, classifier,
                     missing=True, single=True)


def _lgbm_tree(nodes: _Nodes, root: dict[str, Any], scale: float, target: int) -> None:
    """One ``dump_model()`` tree, flattened depth first."""
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    is_leaf: list[bool] = []
    missing_left: list[bool] = []
    value: list[float] = []
    stack: list[tuple[dict[str, Any], int, str]] = [(root, -1, "")]
    while stack:
        node, parent, side = stack.pop()
        j = len(feature)
        if parent >= 0:
            (left if side == "left" else right)[parent] = j
        leaf = "leaf_value" in node
        if leaf and "leaf_coeff" in node:
            raise ValueError("linear trees are not compiled")
        if not leaf and node["decision_type"] != "<=":
            raise ValueError("categorical splits are not compiled")
        split = 0.0 if leaf else float(node["threshold"])
        missing = "None" if leaf else node["missing_type"]
        if missing == "Zero":
            raise ValueError("zero-as-missing splits are not compiled")
        feature.append(0 if leaf else int(node["split_feature"]))
        threshold.append(split)
        left.append(-1)
        right.append(-1)
        is_leaf.append(leaf)
        # LightGBM reads NaN as 0.0 unless the split has a NaN side of its own.
        missing_left.append(bool(node["default_left"]) if missing == "NaN" else split >= 0.0)
        value.append(float(node["leaf_value"]) * scale if leaf else 0.0)
        if not leaf:
            stack.append((node["right_child"], j, "right"))
            stack.append((node["left_child"], j, "left"))
    nodes.add_tree(np.asarray(feature), np.asarray(threshold), np.asarray(left),
                   np.asarray(right), np.asarray(is_leaf), np.asarray(missing_left),
                   np.asarray(value), target, BRANCH_LEQ)


def _lightgbm(model: Any) -> TreeGraph:
    booster = model.booster_ if _is_wrapper(model) else model
    dump = booster.dump_model()
    words = str(dump.get("objective", "")).split()
    objective = words[0] if words else ""
    options = dict(w.split(":", 1) for w in words[1:] if ":" in w)
    if objective not in _LGBM_OBJECTIVES or "sqrt" in words[1:]:
        raise ValueError(f"the LightGBM objective {' '.join(words) or '(none)'} "
                         f"is not compiled")
    if any(dump.get("pandas_categorical") or []):
        raise ValueError("pandas categorical features are not compiled")
    k = int(dump["num_tree_per_iteration"])
    trees = dump["tree_info"]
    scale = k / len(trees) if dump.get("average_output") and trees else 1.0
    nodes = _Nodes()
    for i, tree in enumerate(trees):
        _lgbm_tree(nodes, tree["tree_structure"], scale, i % k)
    classifier = _classifier(model, objective)
    link = _link(_LGBM_OBJECTIVES[objective], float(options.get("sigmoid", 1.0)), classifier)
    return TreeGraph(type(model).__name__, nodes.model_bytes(int(dump["max_feature_idx"]) + 1, k),
                     k, np.zeros(k), link, False, classifier, missing=True)


def booster_graph(model: Any) -> TreeGraph | None:
    """The graph of an XGBoost or LightGBM booster or wrapper, or None for other models."""
    library = type(model).__module__.split(".", 1)[0]
    if library == "xgboost" and (hasattr(model, "get_booster") or hasattr(model, "save_raw")):
        return _xgboost(model)
    if library == "lightgbm" and (hasattr(model, "booster_") or hasattr(model, "dump_model")):
        return _lightgbm(model)
    return None
