"""The compiled serving path (``serving/compiled.py``): it serves only what reproduces the
original model on the reference sample, and every model of the zoo gets the same answers
through whichever runtime is chosen."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from garrison.serving import compiled_trees
from garrison.serving.compiled import TOLERANCE, CompiledRuntime, choose_runtime
from garrison.serving.runtime import LinearRuntime, SklearnRuntime, runtime_for

from ..scanning import sklearn_zoo as zoo

#: The families the issue promises, as zoo case ids: each must compile.
MUST_COMPILE = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
                "ExtraTreesRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor",
                "GradientBoostingClassifier",
                "GradientBoostingRegressor", "HistGradientBoostingClassifier",
                "HistGradientBoostingRegressor")


def _numeric(x: Any) -> np.ndarray | None:
    try:
        m = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return m if m.ndim == 2 and np.isfinite(m).all() else None


def _choose(est: Any, x: np.ndarray) -> tuple[Any, Any, list[str]]:
    names = [f"f{i}" for i in range(x.shape[1])]
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        runtime = runtime_for(est, "pickle", names)
        chosen, compilation = choose_runtime(runtime, est, names, x)
    return chosen, compilation, names


def _servable_cases() -> list[str]:
    """Every zoo case but the estimators that cannot predict at all (transformers,
    clusterers without ``predict``): no runtime serves those, so they are left out here
    rather than skipped."""
    classes = zoo._classes()
    return sorted(case for case in zoo.CASES()
                  if case not in classes or callable(getattr(classes[case], "predict", None)))


@pytest.mark.parametrize("case", _servable_cases())
def test_chosen_runtime_agrees_with_the_model_on_its_reference_sample(case: str) -> None:
    est, x = zoo.build(case)
    ref = _numeric(x)
    if ref is None or not callable(getattr(est, "predict", None)):
        pytest.skip("not servable from numeric rows")
    try:
        chosen, compilation, names = _choose(est, ref)
    except Exception:
        pytest.skip("no runtime serves this estimator")
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        if compilation.compiled:
            assert isinstance(chosen, CompiledRuntime | LinearRuntime)
            got = chosen.predict(ref)
            if got.scores is not None:
                expected = np.asarray(est.predict_proba(ref), dtype=np.float64)
                assert np.max(np.abs(got.scores - expected)) < TOLERANCE
                np.testing.assert_array_equal(got.classes, est.classes_)
                np.testing.assert_array_equal(got.labels, est.predict(ref))
            else:
                expected = np.asarray(est.predict(ref), dtype=np.float64)
                np.testing.assert_allclose(got.labels, expected, rtol=TOLERANCE, atol=0)
        else:
            assert isinstance(chosen, SklearnRuntime)
            assert compilation.reason
    if case in MUST_COMPILE or case.startswith(("xgboost.", "lightgbm.")):
        assert compilation.compiled, compilation


def test_a_compiled_runtime_that_disagrees_is_not_served(monkeypatch) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    est = HistGradientBoostingClassifier(max_iter=20).fit(X, (X[:, 0] > 0).astype(int))
    real = compiled_trees.build_graph

    def off_by_a_little(model: Any) -> Any:
        graph = real(model)
        from dataclasses import replace

        return replace(graph, base=graph.base + 1e-4)  # A converter bug, say.

    monkeypatch.setattr(compiled_trees, "build_graph", off_by_a_little)
    chosen, compilation, _ = _choose(est, X[:100])
    assert isinstance(chosen, SklearnRuntime) and chosen.model is est
    assert not compilation.compiled
    assert "disagrees" in compilation.reason and compilation.max_abs_diff is not None
    assert compilation.max_abs_diff >= TOLERANCE


def test_without_a_reference_sample_the_original_serves() -> None:
    from sklearn.ensemble import RandomForestClassifier

    X = np.random.default_rng(1).normal(size=(100, 4))
    est = RandomForestClassifier(5, random_state=0).fit(X, X[:, 0] > 0)
    names = ["a", "b", "c", "d"]
    chosen, compilation = choose_runtime(runtime_for(est, "pickle", names), est, names, None)
    assert isinstance(chosen, SklearnRuntime) and not compilation.compiled
    assert "reference" in compilation.reason


def test_rows_with_missing_values_go_to_the_original_when_the_model_refuses_them() -> None:
    """``GradientBoosting*`` has no side for NaN: its graph is not checked on holes, and a
    row with a missing value gets the original's own answer (here, its refusal)."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    est = GradientBoostingClassifier(n_estimators=10).fit(X, (X[:, 1] > 0).astype(int))
    chosen, compilation, names = _choose(est, X[:50])
    assert compilation.compiled and compilation.missing_values == "original"
    assert isinstance(chosen, CompiledRuntime) and not chosen.missing_ok
    rows = X[:5].copy()
    rows[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SklearnRuntime(est, names).predict(rows)
    with pytest.raises(ValueError, match="NaN"):
        chosen.predict(rows)


# --- scikit-learn ensembles that send NaN to a side of each split (HistGradientBoosting*,
# forests since scikit-learn 1.4), and imputers in front: rows with holes.


def _holey(seed: int, n: int = 600, missing: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] - X[:, 1] + 0.5 * X[:, 2] * X[:, 3] > 0).astype(int)
    X[rng.random(X.shape) < missing] = np.nan
    return X, y


def _sk_holey(kind: str) -> Any:
    from sklearn import ensemble, tree

    X, y = _holey(20)
    params: dict[str, Any] = ({"max_iter": 30} if kind.startswith("Hist")
                              else {"max_depth": 6, "random_state": 0}
                              if kind.startswith("Decision")
                              else {"n_estimators": 15, "random_state": 0})
    target = y if kind.endswith("Classifier") else np.nan_to_num(X[:, 0]) + y
    module = tree if kind.startswith("Decision") else ensemble
    return getattr(module, kind)(**params).fit(X, target)


def _expected(est: Any, rows: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        if hasattr(est, "predict_proba"):
            return np.asarray(est.predict_proba(rows), dtype=np.float64)
        return np.asarray(est.predict(rows), dtype=np.float64)


class _Refuse:
    """A fallback that fails the test if the compiled runtime hands it a batch."""

    kind = "refuse"

    def predict(self, X: Any) -> Any:
        raise AssertionError("a batch went to the original model")


@pytest.mark.parametrize("kind", ["HistGradientBoostingClassifier", "RandomForestClassifier",
                                  "ExtraTreesClassifier", "HistGradientBoostingRegressor",
                                  "RandomForestRegressor", "DecisionTreeClassifier",
                                  "DecisionTreeRegressor"])
def test_sklearn_trees_fitted_on_missing_values_score_them_compiled(kind: str) -> None:
    est = _sk_holey(kind)
    reference, _ = _holey(21, n=200)
    chosen, compilation, _ = _choose(est, reference)
    assert compilation.compiled and isinstance(chosen, CompiledRuntime), compilation
    assert compilation.missing_values == "compiled" and chosen.missing_ok
    assert compilation.to_payload()["missing_values"] == "compiled"
    fresh, _ = _holey(22, n=300)  # Rows the check never saw: ~41% have a hole.
    assert np.isnan(fresh).any(axis=1).mean() > 0.3
    chosen._fallback = _Refuse()  # Every row below is scored by the graph itself.
    with threadpool_limits(1):
        got = chosen.predict(fresh)
        one = chosen.predict(fresh[np.isnan(fresh).any(axis=1)][:1])
    expected = _expected(est, fresh)
    if got.scores is not None:
        assert np.max(np.abs(got.scores - expected)) < TOLERANCE
        np.testing.assert_array_equal(got.labels, est.classes_[expected.argmax(axis=1)])
        assert one.scores is not None
    else:
        np.testing.assert_allclose(got.labels, expected, rtol=TOLERANCE, atol=0)
    assert np.isfinite(np.asarray(one.labels, dtype=np.float64)).all()


def _flip_root_missing_side(graph: Any) -> Any:
    """The built graph with the first tree's root sending NaN to its other side."""
    from dataclasses import replace

    import onnx

    model = onnx.load_from_string(graph.onnx)
    for attribute in model.graph.node[0].attribute:
        if attribute.name == "nodes_missing_value_tracks_true":
            attribute.ints[0] = 1 - attribute.ints[0]
    return replace(graph, onnx=model.SerializeToString())


@pytest.mark.parametrize("kind", ["HistGradientBoostingClassifier", "RandomForestClassifier"])
def test_a_flipped_missing_side_is_caught_and_rows_with_holes_go_to_the_original(
        monkeypatch, kind: str) -> None:
    """One node of the built graph sends NaN the wrong way: every finite row still
    agrees, so the graph serves those; the check on rows with holes catches the flip and
    the audit payload says the original answers rows with a missing value. A reference
    sample with missing values of its own catches it sooner: nothing is compiled."""
    est = _sk_holey(kind)
    real = compiled_trees.build_graph
    monkeypatch.setattr(compiled_trees, "build_graph",
                        lambda model: _flip_root_missing_side(real(model)))
    sample, _ = _holey(21, n=400)
    chosen, compilation, _ = _choose(est, sample[:200])
    assert isinstance(chosen, SklearnRuntime) and not compilation.compiled
    assert "disagrees" in compilation.reason
    reference = sample[~np.isnan(sample).any(axis=1)]  # Finite rows only: they agree.
    chosen, compilation, _ = _choose(est, reference)
    assert compilation.compiled and isinstance(chosen, CompiledRuntime)
    assert compilation.missing_values == "original" and not chosen.missing_ok
    assert compilation.to_payload()["missing_values"] == "original"
    fresh, _ = _holey(22, n=300)
    holey = np.isnan(fresh).any(axis=1)
    with threadpool_limits(1):
        np.testing.assert_array_equal(chosen.predict_proba(fresh[holey]),
                                      _expected(est, fresh[holey]))
        finite = chosen.predict_proba(fresh[~holey])
        chosen.missing_ok = True  # What the flipped graph would have answered.
        wrong = chosen.predict_proba(fresh[holey])
    assert np.max(np.abs(finite - _expected(est, fresh[~holey]))) < TOLERANCE
    assert np.max(np.abs(wrong - _expected(est, fresh[holey]))) >= TOLERANCE


def test_a_pipeline_with_an_imputer_in_front_compiles_and_scores_holes_compiled() -> None:
    """``SimpleImputer`` (numeric fill) is run in numpy before the graph, which then sees
    no NaN; the holes check proves the fill. An imputer that adds indicator columns, or
    drops an all-missing feature, is not compiled: the original serves."""
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _holey(30)
    reference, _ = _holey(31, n=200)
    fresh, _ = _holey(32, n=300)
    for est in (make_pipeline(SimpleImputer(), GradientBoostingClassifier(n_estimators=15)),
                make_pipeline(StandardScaler(), SimpleImputer(strategy="median"),
                              HistGradientBoostingClassifier(max_iter=15))):
        est.fit(X, y)
        chosen, compilation, _ = _choose(est, reference)
        assert compilation.compiled and compilation.missing_values == "compiled"
        chosen._fallback = _Refuse()
        with threadpool_limits(1):
            got = chosen.predict_proba(fresh)
        assert np.max(np.abs(got - _expected(est, fresh))) < TOLERANCE
    empty = X.copy()
    empty[:, 3] = np.nan
    dropping = make_pipeline(SimpleImputer(), HistGradientBoostingClassifier(max_iter=5))
    with pytest.warns(UserWarning, match="without any observed values"):
        dropping.fit(empty, y)
    for est in (make_pipeline(SimpleImputer(add_indicator=True),
                              HistGradientBoostingClassifier(max_iter=5)).fit(X, y),
                dropping):
        chosen, compilation, _ = _choose(est, reference)
        assert isinstance(chosen, SklearnRuntime) and not compilation.compiled
        assert compilation.reason == "no compiled runtime for this model"


def test_a_wrong_imputer_fill_is_caught_and_rows_with_holes_go_to_the_original(
        monkeypatch) -> None:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    from garrison.serving import compiled_prep

    X, y = _holey(30)
    est = make_pipeline(SimpleImputer(), GradientBoostingClassifier(n_estimators=15)).fit(X, y)
    real = compiled_prep.imputer_twin

    def off(step: Any) -> Any:
        if real(step) is None:
            return None

        def wrong(Z: np.ndarray) -> None:
            Z[np.isnan(Z)] = 0.5  # Not the fitted means.
        return wrong

    monkeypatch.setattr(compiled_prep, "imputer_twin", off)
    sample, _ = _holey(31, n=400)
    chosen, compilation, _ = _choose(est, sample[:200])  # Its NaN rows disagree.
    assert isinstance(chosen, SklearnRuntime) and not compilation.compiled
    chosen, compilation, _ = _choose(est, sample[~np.isnan(sample).any(axis=1)])
    assert compilation.compiled and compilation.missing_values == "original"
    fresh, _ = _holey(32, n=300)
    with threadpool_limits(1):
        np.testing.assert_array_equal(chosen.predict_proba(fresh), _expected(est, fresh))


def test_a_pipeline_with_a_scaler_in_front_compiles_and_agrees() -> None:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 5)) * 10 + 3
    y = (X[:, 0] + X[:, 2] > 6).astype(int) + (X[:, 1] > 3)
    est = make_pipeline(StandardScaler(), RobustScaler(), MinMaxScaler(clip=True),
                        GradientBoostingClassifier(n_estimators=15)).fit(X, y)
    chosen, compilation, _ = _choose(est, X[:100])
    assert compilation.compiled and compilation.family == "Pipeline"
    fresh = rng.normal(size=(50, 5)) * 10 + 3
    assert np.max(np.abs(chosen.predict_proba(fresh) - est.predict_proba(fresh))) < TOLERANCE


# --- XGBoost and LightGBM: native boosters (loaded as the gateway loads them) and wrappers,
# trained and checked on rows with missing values (serving/compiled_boosters.py).

NAMES = [f"f{i}" for i in range(6)]


def _booster_data(seed: int = 5) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 6))
    X[rng.random(X.shape) < 0.08] = np.nan
    Z = np.nan_to_num(X)
    score = Z[:, 0] - Z[:, 1] + 0.5 * Z[:, 2] * Z[:, 3]
    return X, {"binary": (score > 0).astype(int), "multi": np.digitize(score, [-0.7, 0.7]),
               "value": 3 * score + Z[:, 4] ** 2, "count": np.exp(0.4 * score).round()}


def _native_xgb(objective: str, y: str, **params: Any) -> Any:
    from garrison.registry.loader import loader_for
    from garrison.scanning import DEFAULT_POLICY

    xgboost = pytest.importorskip("xgboost")
    X, ys = _booster_data()
    booster = xgboost.train({"objective": objective, "max_depth": 4, "nthread": 1, **params},
                            xgboost.DMatrix(X, label=ys[y], feature_names=NAMES),
                            num_boost_round=40)
    load = loader_for("xgboost-json")
    assert load is not None
    return load(bytes(booster.save_raw(raw_format="json")), DEFAULT_POLICY), "xgboost-json"


def _native_lgb(objective: str, y: str, **params: Any) -> Any:
    from garrison.registry.loader import loader_for
    from garrison.scanning import DEFAULT_POLICY

    lightgbm = pytest.importorskip("lightgbm")
    X, ys = _booster_data()
    booster = lightgbm.train({"objective": objective, "verbose": -1, "num_threads": 1,
                              **params}, lightgbm.Dataset(X, label=ys[y], feature_name=NAMES),
                             num_boost_round=40)
    load = loader_for("lightgbm")
    assert load is not None
    return load(booster.model_to_string().encode(), DEFAULT_POLICY), "lightgbm"


def _wrapper(library: str, kind: str, y: str, scaler: Any = None, early: bool = False,
             **params: Any) -> Any:
    from sklearn.pipeline import make_pipeline

    module = pytest.importorskip(library)
    X, ys = _booster_data()
    common = ({"n_jobs": 1, "max_depth": 4} if library == "xgboost"
              else {"n_jobs": 1, "verbose": -1, "num_leaves": 15})
    est = getattr(module, kind)(n_estimators=200 if early else 40, **common, **params)
    fit: dict[str, Any] = {}
    if early and library == "xgboost":
        est.set_params(early_stopping_rounds=3)
        fit = {"eval_set": [(X[400:], ys[y][400:])], "verbose": False}
    elif early:
        fit = {"eval_set": [(X[400:], ys[y][400:])],
               "callbacks": [module.early_stopping(3, verbose=False)]}
    model = est if scaler is None else make_pipeline(scaler, est)
    if scaler is not None:
        fit = {f"{type(est).__name__.lower()}__{k}": v for k, v in fit.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:400] if early else X, ys[y][:400] if early else ys[y], **fit)
    if early and library == "xgboost":  # predict uses fewer trees than the booster holds.
        assert 0 < est.best_iteration + 1 < est.get_booster().num_boosted_rounds()
    elif early:  # LightGBM keeps the trees up to its best iteration.
        assert 0 < est.best_iteration_ < 200
    return model, "pickle"


def _scaler(name: str) -> Any:
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    return {"standard": StandardScaler(), "minmax": MinMaxScaler()}[name]


BOOSTER_ZOO = {
    "xgb-native-binary": lambda: _native_xgb("binary:logistic", "binary"),
    "xgb-native-logitraw": lambda: _native_xgb("binary:logitraw", "binary"),
    "xgb-native-softprob": lambda: _native_xgb("multi:softprob", "multi", num_class=3),
    "xgb-native-softmax": lambda: _native_xgb("multi:softmax", "multi", num_class=3),
    "xgb-native-regression": lambda: _native_xgb("reg:squarederror", "value"),
    "xgb-native-poisson": lambda: _native_xgb("count:poisson", "count"),
    "xgb-native-dart": lambda: _native_xgb("binary:logistic", "binary", booster="dart",
                                           rate_drop=0.1),
    "XGBClassifier-binary": lambda: _wrapper("xgboost", "XGBClassifier", "binary"),
    "XGBClassifier-multi": lambda: _wrapper("xgboost", "XGBClassifier", "multi"),
    "XGBClassifier-early-stopping": lambda: _wrapper("xgboost", "XGBClassifier", "binary",
                                                     early=True),
    "XGBRegressor": lambda: _wrapper("xgboost", "XGBRegressor", "value"),
    "XGBRFClassifier": lambda: _wrapper("xgboost", "XGBRFClassifier", "binary"),
    "pipeline-XGBClassifier": lambda: _wrapper("xgboost", "XGBClassifier", "multi",
                                               scaler=_scaler("standard")),
    "lgb-native-binary": lambda: _native_lgb("binary", "binary"),
    "lgb-native-multiclass": lambda: _native_lgb("multiclass", "multi", num_class=3),
    "lgb-native-multiclassova": lambda: _native_lgb("multiclassova", "multi", num_class=3),
    "lgb-native-regression": lambda: _native_lgb("regression", "value"),
    "lgb-native-poisson": lambda: _native_lgb("poisson", "count"),
    "LGBMClassifier-binary": lambda: _wrapper("lightgbm", "LGBMClassifier", "binary"),
    "LGBMClassifier-multi": lambda: _wrapper("lightgbm", "LGBMClassifier", "multi"),
    "LGBMClassifier-early-stopping": lambda: _wrapper("lightgbm", "LGBMClassifier", "multi",
                                                      early=True),
    "LGBMClassifier-random-forest": lambda: _wrapper(
        "lightgbm", "LGBMClassifier", "binary", boosting_type="rf", bagging_freq=1,
        bagging_fraction=0.6),
    "LGBMRegressor": lambda: _wrapper("lightgbm", "LGBMRegressor", "value"),
    "pipeline-LGBMRegressor": lambda: _wrapper("lightgbm", "LGBMRegressor", "value",
                                               scaler=_scaler("minmax")),
}


def _served(model: Any, fmt: str, reference: np.ndarray) -> tuple[Any, Any, Any]:
    """(original runtime, chosen runtime, compilation), as ``table.py`` chooses them."""
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        original = runtime_for(model, fmt, NAMES)
        chosen, compilation = choose_runtime(original, model, NAMES, reference)
    return original, chosen, compilation


def _agree(expected: Any, got: Any) -> None:
    if expected.scores is not None:
        assert got.scores is not None
        assert np.max(np.abs(got.scores - expected.scores)) < TOLERANCE
        np.testing.assert_array_equal(got.classes, expected.classes)
        np.testing.assert_array_equal(got.labels, expected.labels)
    else:
        assert got.scores is None
        np.testing.assert_allclose(got.labels, np.asarray(expected.labels, dtype=np.float64),
                                   rtol=TOLERANCE, atol=0)


@pytest.mark.parametrize("case", sorted(BOOSTER_ZOO))
def test_boosters_compile_and_agree_with_missing_values(case: str) -> None:
    model, fmt = BOOSTER_ZOO[case]()
    X, _ = _booster_data()
    original, chosen, compilation = _served(model, fmt, X[:200])
    assert compilation.compiled, compilation
    assert isinstance(chosen, CompiledRuntime) and compilation.max_abs_diff < TOLERANCE
    # The graph itself answers rows with missing values: it was checked on them.
    assert compilation.missing_values == "compiled" and chosen.missing_ok
    fresh, _ = _booster_data(seed=11)  # Rows the check never saw, NaN included.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        _agree(original.predict(fresh), chosen.predict(fresh))
        _agree(original.predict(fresh[:1]), chosen.predict(fresh[:1]))


def test_categorical_splits_are_not_compiled_and_the_original_serves() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    xgboost = pytest.importorskip("xgboost")
    X, ys = _booster_data()
    codes = np.abs(np.nan_to_num(X)).round().clip(0, 3)  # Feature 0 holds category codes.
    lgb = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1, min_child_samples=5)
    lgb.fit(codes, ys["binary"], categorical_feature=[0])
    xgb = xgboost.XGBClassifier(n_estimators=10, n_jobs=1, enable_categorical=True,
                                feature_types=["c"] + ["q"] * 5, tree_method="hist")
    xgb.fit(codes, (codes[:, 0] == 2).astype(int))
    for model in (lgb, xgb):
        original, chosen, compilation = _served(model, "pickle", codes[:100])
        assert chosen is original and isinstance(chosen, SklearnRuntime)
        assert not compilation.compiled
        assert "categorical splits are not compiled" in compilation.reason


def test_a_custom_missing_value_is_not_compiled() -> None:
    xgboost = pytest.importorskip("xgboost")
    X, ys = _booster_data()
    est = xgboost.XGBClassifier(n_estimators=5, n_jobs=1, missing=-999.0)
    est.fit(np.nan_to_num(X, nan=-999.0), ys["binary"])
    original, chosen, compilation = _served(est, "pickle", np.nan_to_num(X[:50], nan=-999.0))
    assert chosen is original and "custom missing value" in compilation.reason


def test_a_tampered_xgboost_dump_is_not_served(monkeypatch) -> None:
    from garrison.serving import compiled_boosters

    model, fmt = BOOSTER_ZOO["xgb-native-binary"]()
    X, _ = _booster_data()
    real = compiled_boosters._xgb_trees

    def tampered(booster: Any) -> Any:
        learner, trees, groups, weights = real(booster)
        leaf = trees[0]["left_children"].index(-1)
        trees[0]["split_conditions"][leaf] += 1e-3  # One leaf, slightly off.
        return learner, trees, groups, weights

    monkeypatch.setattr(compiled_boosters, "_xgb_trees", tampered)
    original, chosen, compilation = _served(model, fmt, X[:200])
    assert chosen is original and not compilation.compiled
    assert "disagrees" in compilation.reason and compilation.max_abs_diff >= TOLERANCE


def test_a_wrong_missing_direction_sends_missing_values_to_the_original(monkeypatch) -> None:
    """A dump whose missing-value sides are flipped agrees on finite reference rows; the
    check on rows with holes catches it, and rows with a NaN go to the original."""
    model, fmt = BOOSTER_ZOO["lgb-native-binary"]()
    X, _ = _booster_data()
    finite = X[~np.isnan(X).any(axis=1)][:150]
    dump = model.dump_model()

    def flip(node: dict[str, Any]) -> None:
        if "leaf_value" not in node:
            node["default_left"] = not node["default_left"]
            flip(node["left_child"])
            flip(node["right_child"])

    for tree in dump["tree_info"]:
        flip(tree["tree_structure"])
    monkeypatch.setattr(model, "dump_model", lambda: dump)
    original, chosen, compilation = _served(model, fmt, finite)
    assert compilation.compiled and compilation.missing_values == "original"
    assert isinstance(chosen, CompiledRuntime) and not chosen.missing_ok
    with threadpool_limits(1):
        _agree(original.predict(X[:100]), chosen.predict(X[:100]))


def test_a_compiled_native_booster_feeds_the_model_based_detectors() -> None:
    """``BoosterRuntime`` has no ``predict_proba``, so the perturbation detector could not
    run on a native booster; the compiled runtime has one, NaN rows included."""
    from garrison.detection import InputMonitor, Policy
    from garrison.serving.table import GATEWAY_DETECTORS

    model, fmt = BOOSTER_ZOO["lgb-native-multiclass"]()
    X, _ = _booster_data()
    _, chosen, compilation = _served(model, fmt, X[:200])
    assert compilation.compiled
    reference = pd.DataFrame(X[:300], columns=NAMES)
    with threadpool_limits(1):
        monitor = InputMonitor.fit(reference, model=chosen, fpr=0.05, policy=Policy("flag"),
                                   detectors=GATEWAY_DETECTORS)
        flagged = monitor.flags(X[300:500])
    assert "perturbation-instability" in monitor.detectors
    assert all(0 <= f["row"] < 200 for f in flagged)
