"""TreeSHAP for scikit-learn trees: brute force agreement, local accuracy, refusals."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
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
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from garrison.errors import UnsupportedModel
from garrison.explain import explain, explainer_for
from garrison.explain._treeshap import Tree, TreePaths

VECTORS = Path(__file__).parent.parent / "vectors" / "explain"


# --- An independent reference: Algorithm 1 (path-dependent conditional expectation) plus
# --- enumeration of every coalition. Exponential, so only for small feature counts.


def _expectation(nodes, x, known, node=0):
    """E[f(x) | x_S] over one tree, following x at splits on known features, else cover."""
    left, right, feature, threshold, nan_left, cover, value = nodes
    if left[node] < 0:
        return value[node]
    f = feature[node]
    if f in known:
        go_left = bool(nan_left[node]) if np.isnan(x[f]) else x[f] <= threshold[node]
        return _expectation(nodes, x, known, left[node] if go_left else right[node])
    return (
        cover[left[node]] * _expectation(nodes, x, known, left[node])
        + cover[right[node]] * _expectation(nodes, x, known, right[node])
    ) / cover[node]


def _brute_force(trees, x, n_features):
    """Exact Shapley values of the summed path-dependent game, one vector per output."""
    players = range(n_features)
    phi = np.zeros((len(np.atleast_1d(trees[0][6][0])), n_features))

    def game(known):
        return sum(np.atleast_1d(_expectation(t, x, frozenset(known))) for t in trees)

    for i in players:
        others = [p for p in players if p != i]
        for size in range(len(others) + 1):
            weight = math.factorial(size) * math.factorial(n_features - size - 1)
            weight /= math.factorial(n_features)
            for subset in itertools.combinations(others, size):
                phi[:, i] += weight * (game((*subset, i)) - game(subset))
    return phi, game(())


def _sklearn_nodes(estimator, values):
    t = estimator.tree_
    return (
        t.children_left,
        t.children_right,
        t.feature,
        t.threshold,
        t.missing_go_to_left,
        t.weighted_n_node_samples,
        values,
    )


def _reference_trees(model):
    """Read the model's trees straight from scikit-learn (not through garrison.explain)."""
    if isinstance(model, GradientBoostingRegressor):
        return [
            _sklearn_nodes(e, e.tree_.value[:, 0, 0] * model.learning_rate)
            for e in model.estimators_[:, 0]
        ]
    if isinstance(model, HistGradientBoostingRegressor):
        out = []
        for [predictor] in model._predictors:
            n = predictor.nodes
            leaf = n["is_leaf"].astype(bool)
            out.append(
                (
                    np.where(leaf, -1, n["left"].astype(int)),
                    n["right"].astype(int),
                    n["feature_idx"],
                    n["num_threshold"],
                    n["missing_go_to_left"],
                    n["count"].astype(float),
                    n["value"],
                )
            )
        return out
    estimators = getattr(model, "estimators_", [model])
    scale = 1.0 / len(estimators)
    if hasattr(model, "classes_"):
        return [
            _sklearn_nodes(
                e, e.tree_.value[:, 0, :] / e.tree_.value[:, 0, :].sum(1, keepdims=True) * scale
            )
            for e in estimators
        ]
    return [_sklearn_nodes(e, e.tree_.value[:, 0, 0] * scale) for e in estimators]


def _small_problem(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] * 2 + (X[:, 1] > 0) * X[:, 2] + np.sin(3 * X[:, 3]) + 0.1 * rng.normal(size=300)
    return X, y


SMALL_MODELS = [
    lambda: DecisionTreeRegressor(max_depth=5, random_state=0),
    lambda: RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0),
    lambda: ExtraTreesRegressor(n_estimators=3, max_depth=5, random_state=0),
    lambda: GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=0),
    lambda: HistGradientBoostingRegressor(max_iter=4, max_depth=4, random_state=0),
]


@pytest.mark.parametrize("build", SMALL_MODELS, ids=lambda b: type(b()).__name__)
def test_treeshap_equals_brute_force_shapley_values(build):
    X, y = _small_problem(1)
    model = build().fit(X, y)
    explainer = explainer_for(model, [f"f{i}" for i in range(5)])
    reference_trees = _reference_trees(model)
    offset = float(np.ravel(getattr(model, "_baseline_prediction", [0.0]))[0])
    if isinstance(model, GradientBoostingRegressor):
        offset = float(model.init_.constant_.ravel()[0])
    # scikit-learn's own trees compare float32 copies of the inputs.
    rows = (
        X[:6]
        if isinstance(model, HistGradientBoostingRegressor)
        else (X[:6].astype(np.float32).astype(np.float64))
    )
    phi, output = explainer.contributions(rows)
    for r, x in enumerate(rows):
        expected_phi, expected_base = _brute_force(reference_trees, x, 5)
        assert np.abs(phi[r] - expected_phi).max() < 1e-10
        assert abs(explainer.base_values[0] - (expected_base[0] + offset)) < 1e-10
    assert np.abs(output[:, 0] - model.predict(X[:6])).max() < 1e-9


def test_brute_force_agreement_for_classifier_probabilities_per_class():
    X, y = load_wine(return_X_y=True)
    X = X[:, :6]
    model = RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(X, y)
    explainer = explainer_for(model, [f"f{i}" for i in range(6)])
    rows = X[::40].astype(np.float32).astype(np.float64)
    phi, output = explainer.contributions(rows)
    for r, x in enumerate(rows):
        expected_phi, expected_base = _brute_force(_reference_trees(model), x, 6)
        assert np.abs(phi[r] - expected_phi).max() < 1e-12
        assert np.abs(explainer.base_values - expected_base).max() < 1e-12
    assert np.abs(output - model.predict_proba(X[::40])).max() < 1e-12


def test_known_answer_vectors():
    data = json.loads((VECTORS / "treeshap_hand.json").read_text())
    for case in data["cases"]:
        t = case["tree"]
        tree = Tree(
            left=np.array(t["left"]),
            right=np.array(t["right"]),
            feature=np.array(t["feature"]),
            threshold=np.array(t["threshold"], dtype=float),
            nan_left=np.array(t["nan_left"], dtype=bool),
            cover=np.array(t["cover"], dtype=float),
            value=np.array(t["value"], dtype=float).reshape(-1, 1),
        )
        paths = TreePaths([tree], case["n_features"], 1)
        assert paths.expected_value[0] == pytest.approx(case["expected_value"], abs=1e-12)
        for row in case["rows"]:
            x = np.array([np.nan if v is None else v for v in row["x"]], dtype=float)
            phi, output = paths.shap_values(x[None, :])
            assert phi[0, 0].tolist() == pytest.approx(row["phi"], abs=1e-12), case["name"]
            assert output[0, 0] == pytest.approx(row["output"], abs=1e-12)


CANCER = load_breast_cancer(return_X_y=True)
WINE = load_wine(return_X_y=True)
DIABETES = load_diabetes(return_X_y=True)

ACCURACY_CASES = [
    (DecisionTreeClassifier(max_depth=6, random_state=0), CANCER, "predict_proba", "probability"),
    (
        RandomForestClassifier(25, max_depth=7, random_state=0),
        CANCER,
        "predict_proba",
        "probability",
    ),
    (ExtraTreesClassifier(15, max_depth=6, random_state=0), WINE, "predict_proba", "probability"),
    (RandomForestRegressor(20, max_depth=8, random_state=0), DIABETES, "predict", "prediction"),
    (
        GradientBoostingClassifier(n_estimators=30, random_state=0),
        CANCER,
        "decision_function",
        "log-odds",
    ),
    (
        GradientBoostingClassifier(n_estimators=15, random_state=0),
        WINE,
        "decision_function",
        "logit",
    ),
    (GradientBoostingRegressor(n_estimators=30, random_state=0), DIABETES, "predict", "raw-score"),
    (
        HistGradientBoostingClassifier(max_iter=30, random_state=0),
        CANCER,
        "decision_function",
        "log-odds",
    ),
    (
        HistGradientBoostingClassifier(max_iter=15, random_state=0),
        WINE,
        "decision_function",
        "logit",
    ),
    (HistGradientBoostingRegressor(max_iter=30, random_state=0), DIABETES, "predict", "raw-score"),
]


@pytest.mark.parametrize(
    ("model", "data", "score", "space"),
    ACCURACY_CASES,
    ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(ACCURACY_CASES)],
)
def test_local_accuracy_on_real_datasets(model, data, score, space):
    X, y = data
    model.fit(X, y)
    names = [f"x{i}" for i in range(X.shape[1])]
    explainer = explainer_for(model, names)
    assert explainer.output_space == space
    phi, output = explainer.contributions(X)
    expected = getattr(model, score)(X).reshape(len(X), -1)
    if score == "predict_proba" and expected.shape[1] == 2:
        expected = expected[:, 1:]  # Binary models explain the positive class.
    assert np.abs(output - expected).max() < 1e-9
    assert np.abs(explainer.base_values + phi.sum(axis=2) - expected).max() < 1e-9


def test_explanation_objects_for_a_multiclass_forest():
    X, y = WINE
    model = RandomForestClassifier(10, max_depth=4, random_state=0).fit(X, y)
    names = [f"x{i}" for i in range(X.shape[1])]
    [explanation] = explain(model, X[:1], names)
    assert explanation.method == "tree-shap-path-dependent"
    assert explanation.baseline == "training-cover"
    proba = model.predict_proba(X[:1])[0]
    for k, label in enumerate(["0", "1", "2"]):
        total = explanation.base_value[label] + sum(explanation.contributions[label].values())
        assert total == pytest.approx(proba[k], abs=1e-9)
    payload = explanation.to_dict()
    assert set(payload["contributions"]) == {"0", "1", "2"}
    assert json.loads(json.dumps(payload)) == payload


def test_missing_values_follow_the_learned_direction():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4))
    y = X[:, 0] + 2 * X[:, 1]
    X[rng.random(400) < 0.2, 1] = np.nan
    y = np.where(np.isnan(X[:, 1]), 5.0, y)
    rows = X[:40]
    for model in (
        HistGradientBoostingRegressor(max_iter=10, random_state=0),
        RandomForestRegressor(5, max_depth=5, random_state=0),
    ):
        model.fit(X, y)
        explainer = explainer_for(model, ["a", "b", "c", "d"])
        phi, output = explainer.contributions(rows)
        assert np.isnan(rows[:, 1]).any()
        assert np.abs(output[:, 0] - model.predict(rows)).max() < 1e-9
        assert np.abs(explainer.base_values + phi.sum(axis=2) - output).max() < 1e-9


def test_categorical_hist_gradient_boosting_is_refused():
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 4, 200), rng.normal(size=200)]
    y = (X[:, 0] == 2) * 3.0 + X[:, 1]
    model = HistGradientBoostingRegressor(max_iter=5, categorical_features=[0], random_state=0).fit(
        X, y
    )
    with pytest.raises(UnsupportedModel):
        explainer_for(model, ["cat", "num"])


def test_custom_init_and_multi_output_are_refused():
    X, y = DIABETES
    custom = GradientBoostingRegressor(n_estimators=3, init=LinearRegression()).fit(X, y)
    with pytest.raises(UnsupportedModel):
        explainer_for(custom, [f"x{i}" for i in range(10)])
    two = DecisionTreeRegressor(max_depth=3).fit(X, np.c_[y, -y])
    with pytest.raises(UnsupportedModel):
        explainer_for(two, [f"x{i}" for i in range(10)])


def test_single_leaf_trees_give_zero_contributions():
    X, _ = DIABETES
    model = RandomForestRegressor(3, random_state=0).fit(X, np.full(len(X), 4.0))
    explainer = explainer_for(model, [f"x{i}" for i in range(10)])
    phi, output = explainer.contributions(X[:5])
    assert np.all(phi == 0.0)
    assert np.allclose(output, 4.0) and np.allclose(explainer.base_values, 4.0)
