"""The explainer registry, refusals of unsupported models, and the public surface."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import SVC

import garrison.explain as explain_pkg
from garrison.errors import AlreadyExists, InvalidInput, UnsupportedModel
from garrison.explain import (
    ExplainerSpec,
    Explanation,
    ensure_explainable,
    explainer_for,
    explainers,
    register_explainer,
)

X, Y = load_breast_cancer(return_X_y=True)
NAMES = [f"x{i}" for i in range(X.shape[1])]


class _FittedStub:
    """Stands in for any model object; nothing reads its attributes before refusing it."""


@pytest.mark.parametrize(
    "model",
    [
        KNeighborsClassifier(),
        MLPClassifier(),
        SVC(kernel="rbf"),
        IsolationForest(),
        KMeans(),
        make_pipeline(PolynomialFeatures(), LogisticRegression()),
        make_pipeline(StandardScaler(), KNeighborsClassifier()),
        _FittedStub(),
        "not a model",
    ],
    ids=lambda m: type(m).__name__,
)
def test_unsupported_models_are_refused(model):
    with pytest.raises(UnsupportedModel) as info:
        ensure_explainable(model)
    assert info.value.code == "unsupported-model"
    assert "supported:" in str(info.value)
    with pytest.raises(UnsupportedModel):
        explainer_for(model, NAMES)


def test_builtin_methods_are_registered_with_metadata():
    ids = [spec.id for spec in explainers()]
    assert ids[:4] == [
        "linear-exact",
        "tree-shap-path-dependent",
        "xgboost-tree-shap",
        "lightgbm-tree-shap",
    ]
    for spec in explainers():
        meta = spec.to_dict()
        assert meta["description"] and meta["model_types"] and meta["output_space"]
        assert meta["exact"] is True


def test_duplicate_ids_are_refused_and_third_parties_can_register():
    builtin = explainers()[0]
    with pytest.raises(AlreadyExists):
        register_explainer(builtin)

    class ConstantExplainer:
        method = "test-constant"
        output_space = "prediction"

        def __init__(self, model, feature_names, background):
            self.feature_names = tuple(feature_names)

        def explain(self, rows):
            return [Explanation(self.method, self.output_space, 1.0, {"a": 0.0}, 1.0, "zero")]

    spec = ExplainerSpec(
        id="test-constant",
        description="Test double.",
        model_types=("_FittedStub",),
        output_space="prediction",
        exact=True,
        supports=lambda model: isinstance(model, _FittedStub),
        factory=ConstantExplainer,
    )
    register_explainer(spec)
    try:
        [explanation] = explainer_for(_FittedStub(), ["a"]).explain([[0.0]])
        assert explanation.method == "test-constant"
    finally:
        explain_pkg.registry._REGISTRY.pop("test-constant")
    with pytest.raises(UnsupportedModel):
        ensure_explainable(_FittedStub())


def test_to_dict_is_json_and_non_finite_values_become_null():
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    [explanation] = explainer_for(model, NAMES).explain(X[0])
    payload = explanation.to_dict()
    assert set(payload) == {
        "method",
        "output_space",
        "baseline",
        "target",
        "base_value",
        "output_value",
        "contributions",
    }
    assert payload["method"] == "linear-exact"
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    odd = Explanation("m", "prediction", float("nan"), {"a": float("inf")}, 1.0, "zero")
    assert odd.to_dict()["base_value"] is None
    assert odd.to_dict()["contributions"] == {"a": None}


def test_linear_explanations_are_cheap_per_request():
    # Not a benchmark (bench/explain.py times it against the model's own call), a guard
    # against an accidental slow path, counted rather than timed: the explainer is built
    # once, and one row runs a handful of Python calls and none into scikit-learn (whose
    # per-call input checks alone cost more than the whole explanation).
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    explainer = explainer_for(model, NAMES)
    row = X[0]
    calls = _python_calls(lambda: explainer.explain(row))
    assert not [name for name in calls if "sklearn" in name], calls
    assert len(calls) <= 20, calls


def _python_calls(call):
    """The file of every Python function entered while ``call()`` runs."""
    entered: list[str] = []

    def profile(frame, event, arg):
        if event == "call":
            entered.append(frame.f_code.co_filename)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return entered


def test_exported_members():
    for name in explain_pkg.__all__:
        assert hasattr(explain_pkg, name), name
    assert {"explain", "explainer_for", "ensure_explainable", "Explanation"} <= set(
        explain_pkg.__all__
    )


def _module_level_imports(path: Path) -> set[str]:
    """Top-level package names imported outside any function or class body."""
    names: set[str] = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            pending.extend(ast.iter_child_nodes(node))
    return names


def test_optional_boosting_libraries_are_not_imported_eagerly():
    package = Path(explain_pkg.__file__).parent
    for path in package.glob("*.py"):
        assert _module_level_imports(path) <= {
            "__future__",
            "collections",
            "dataclasses",
            "math",
            "typing",
            "numpy",
            "sklearn",
            "garrison",
        }, path.name
    # And the lazy imports exist where they should.
    assert "import xgboost" in (package / "boosting.py").read_text()


def test_unfitted_models_are_rejected():
    for model in (LogisticRegression(), make_pipeline(StandardScaler(), LogisticRegression())):
        with pytest.raises(InvalidInput, match="not fitted"):
            explainer_for(model, NAMES)
    from sklearn.ensemble import RandomForestClassifier

    with pytest.raises(InvalidInput, match="not fitted"):
        explainer_for(RandomForestClassifier(), NAMES)


def test_names_must_match_the_columns_the_model_was_fitted_on():
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    frame = pd.DataFrame(X, columns=NAMES)
    for model in (
        make_pipeline(StandardScaler(), LogisticRegression()),
        RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
    ):
        model.fit(frame, Y)
        explainer_for(model, NAMES)  # Same names, same order: accepted.
        swapped = [NAMES[1], NAMES[0], *NAMES[2:]]
        with pytest.raises(InvalidInput, match="fitted on"):
            explainer_for(model, swapped)
