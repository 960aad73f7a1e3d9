"""Every public scikit-learn estimator, fitted on tiny data, plus the options people use.

``CASES`` maps a case id to a factory returning ``(fitted estimator, X to predict on)``.
Estimators that ``all_estimators()`` lists and that fit generically (a default
constructor, the usual X and y for their kind) are built by :func:`_generic`; the
others (meta-estimators, text and dict inputs, multi-output targets, one-feature
inputs) have a recipe in :data:`RECIPES`, never a skip: a test checks that every
estimator ``all_estimators()`` returns has a case. :data:`VARIANTS` adds the common
options whose fitted state differs from the default (KD/ball trees, categorical
features, periodic splines, probability SVMs, score functions, kernels, ...), and the
XGBoost and LightGBM scikit-learn wrappers.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CASES", "RECIPES", "VARIANTS", "all_estimator_names", "outputs"]

Built = tuple[Any, Any]

_RNG = np.random.RandomState(0)
X = _RNG.uniform(0.1, 1.0, (40, 4))
Y_CLASS = np.arange(40) % 3
Y_BINARY = np.arange(40) % 2
Y_REG = X @ np.array([1.0, 2.0, 3.0, 4.0]) + _RNG.normal(0, 0.1, 40)
Y_MULTI = np.column_stack([Y_REG, X[:, 0] - X[:, 1]])
Y_LABELS = np.column_stack([Y_BINARY, (np.arange(40) // 2) % 2])
DOCS = ["spam offer now", "meeting at noon", "cheap offer spam", "lunch meeting today",
        "win money now", "project meeting notes", "free offer inside", "agenda for noon"] * 3
DOC_LABELS = [1, 0, 1, 0, 1, 0, 1, 0] * 3
RECORDS = [{"city": c, "temp": float(t)} for c, t in zip(["a", "b", "c", "a"] * 10, range(40))]


def all_estimator_names() -> list[str]:
    from sklearn.utils.discovery import all_estimators

    return [name for name, _ in all_estimators()]


def _classes() -> dict[str, type]:
    from sklearn.utils.discovery import all_estimators

    return dict(all_estimators())


def _fit(est: Any, x: Any, y: Any = None) -> Built:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if y is None:
            est.fit(x)
        else:
            est.fit(x, y)
    return est, x


_SMALL = {"n_estimators": 5, "max_iter": 20}


def _generic(name: str) -> Built:
    """Default constructor; X and y chosen from the estimator's tags."""
    from sklearn.utils import get_tags

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Deprecated estimators warn when constructed.
        est = _classes()[name]()
    # Same fitted structure, less work: few trees and boosting rounds, one thread.
    params = est.get_params()
    est.set_params(**{k: v for k, v in _SMALL.items()
                      if isinstance(params.get(k), int) and params[k] > v})
    tags = get_tags(est)
    y = None
    if tags.estimator_type == "classifier":
        y = Y_CLASS
    elif tags.estimator_type == "regressor" or tags.target_tags.required:
        y = Y_REG
    x = X @ X.T if tags.input_tags.pairwise else X
    return _fit(est, x, y)


def _lr() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=200)


def _ridge() -> Any:
    from sklearn.linear_model import Ridge

    return Ridge()


def _tree() -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=2, random_state=0)


def _recipes() -> dict[str, Callable[[], Built]]:
    from sklearn import (
        calibration,
        compose,
        cross_decomposition,
        decomposition,
        ensemble,
        feature_extraction,
        feature_selection,
        frozen,
        isotonic,
        linear_model,
        model_selection,
        multiclass,
        multioutput,
        neighbors,
        pipeline,
        preprocessing,
        random_projection,
        semi_supervised,
        svm,
    )

    y_semi = Y_CLASS.copy()
    y_semi[::4] = -1
    return {
        "CCA": lambda: _fit(cross_decomposition.CCA(n_components=1), X, Y_MULTI),
        "PLSCanonical": lambda: _fit(cross_decomposition.PLSCanonical(n_components=1), X,
                                     Y_MULTI),
        "PLSSVD": lambda: _fit(cross_decomposition.PLSSVD(n_components=1), X, Y_MULTI),
        "ClassifierChain": lambda: _fit(multioutput.ClassifierChain(_lr()), X, Y_LABELS),
        "RegressorChain": lambda: _fit(multioutput.RegressorChain(_ridge()), X, Y_MULTI),
        "MultiOutputClassifier": lambda: _fit(multioutput.MultiOutputClassifier(_lr()), X,
                                              Y_LABELS),
        "MultiOutputRegressor": lambda: _fit(multioutput.MultiOutputRegressor(_ridge()), X,
                                             Y_MULTI),
        "ColumnTransformer": lambda: _fit(compose.ColumnTransformer(
            [("scale", preprocessing.StandardScaler(), [0, 1]),
             ("bins", preprocessing.KBinsDiscretizer(
                 n_bins=3, quantile_method="averaged_inverted_cdf"), [2])],
            remainder="passthrough"), X),
        "FeatureUnion": lambda: _fit(pipeline.FeatureUnion(
            [("pca", decomposition.PCA(n_components=2)),
             ("select", feature_selection.SelectKBest(k=1))]), X, Y_CLASS),
        "Pipeline": lambda: _fit(pipeline.Pipeline(
            [("scale", preprocessing.StandardScaler()), ("model", _lr())]), X, Y_CLASS),
        "FixedThresholdClassifier": lambda: _fit(
            model_selection.FixedThresholdClassifier(_lr(), threshold=0.4), X, Y_BINARY),
        "TunedThresholdClassifierCV": lambda: _fit(
            model_selection.TunedThresholdClassifierCV(_lr(), cv=2, thresholds=5), X,
            Y_BINARY),
        "FrozenEstimator": lambda: _fit(frozen.FrozenEstimator(_fit(_lr(), X, Y_CLASS)[0]), X,
                                        Y_CLASS),
        "GridSearchCV": lambda: _fit(model_selection.GridSearchCV(
            _lr(), {"C": [0.1, 1.0]}, cv=2, scoring="f1_macro"), X, Y_CLASS),
        "RandomizedSearchCV": lambda: _fit(model_selection.RandomizedSearchCV(
            _ridge(), {"alpha": [0.1, 1.0, 10.0]}, n_iter=2, cv=2, random_state=0,
            scoring="neg_mean_absolute_error"), X, Y_REG),
        "OneVsOneClassifier": lambda: _fit(multiclass.OneVsOneClassifier(_lr()), X, Y_CLASS),
        "OneVsRestClassifier": lambda: _fit(multiclass.OneVsRestClassifier(_lr()), X, Y_CLASS),
        "OutputCodeClassifier": lambda: _fit(
            multiclass.OutputCodeClassifier(_lr(), random_state=0), X, Y_CLASS),
        "RFE": lambda: _fit(feature_selection.RFE(_lr(), n_features_to_select=2), X, Y_CLASS),
        "RFECV": lambda: _fit(feature_selection.RFECV(_lr(), cv=2), X, Y_CLASS),
        "SelectFromModel": lambda: _fit(feature_selection.SelectFromModel(_lr()), X, Y_CLASS),
        "SequentialFeatureSelector": lambda: _fit(feature_selection.SequentialFeatureSelector(
            _lr(), n_features_to_select=2, cv=2), X, Y_CLASS),
        "SelectKBest": lambda: _fit(feature_selection.SelectKBest(k=2), X, Y_CLASS),
        "SelectPercentile": lambda: _fit(feature_selection.SelectPercentile(percentile=50), X,
                                         Y_CLASS),
        "SelfTrainingClassifier": lambda: _fit(
            semi_supervised.SelfTrainingClassifier(_lr()), X, y_semi),
        "SparseCoder": lambda: _fit(decomposition.SparseCoder(
            dictionary=decomposition.PCA(n_components=2).fit(X).components_), X),
        "StackingClassifier": lambda: _fit(ensemble.StackingClassifier(
            [("lr", _lr()), ("tree", _tree())], cv=2), X, Y_CLASS),
        "StackingRegressor": lambda: _fit(ensemble.StackingRegressor(
            [("ridge", _ridge()), ("knn", neighbors.KNeighborsRegressor(3))], cv=2), X, Y_REG),
        "VotingClassifier": lambda: _fit(ensemble.VotingClassifier(
            [("lr", _lr()), ("tree", _tree())], voting="soft"), X, Y_CLASS),
        "VotingRegressor": lambda: _fit(ensemble.VotingRegressor(
            [("ridge", _ridge()), ("knn", neighbors.KNeighborsRegressor(3))]), X, Y_REG),
        "CountVectorizer": lambda: _fit(feature_extraction.text.CountVectorizer(), DOCS),
        "TfidfVectorizer": lambda: _fit(feature_extraction.text.TfidfVectorizer(), DOCS),
        "DictVectorizer": lambda: _fit(feature_extraction.DictVectorizer(), RECORDS),
        "IsotonicRegression": lambda: _fit(isotonic.IsotonicRegression(), X[:, 0], Y_REG),
        "LabelBinarizer": lambda: _fit(preprocessing.LabelBinarizer(), Y_CLASS),
        "LabelEncoder": lambda: _fit(preprocessing.LabelEncoder(), np.array(["b", "a", "c"] * 4)),
        "MultiTaskElasticNet": lambda: _fit(linear_model.MultiTaskElasticNet(alpha=0.01), X,
                                            Y_MULTI),
        "MultiTaskElasticNetCV": lambda: _fit(linear_model.MultiTaskElasticNetCV(cv=2), X,
                                              Y_MULTI),
        "MultiTaskLasso": lambda: _fit(linear_model.MultiTaskLasso(alpha=0.01), X, Y_MULTI),
        "MultiTaskLassoCV": lambda: _fit(linear_model.MultiTaskLassoCV(cv=2), X, Y_MULTI),
        "NeighborhoodComponentsAnalysis": lambda: _fit(
            neighbors.NeighborhoodComponentsAnalysis(max_iter=5, random_state=0), X, Y_CLASS),
        "GaussianRandomProjection": lambda: _fit(
            random_projection.GaussianRandomProjection(n_components=2, random_state=0), X),
        "SparseRandomProjection": lambda: _fit(
            random_projection.SparseRandomProjection(n_components=2, random_state=0), X),
        "TSNE": lambda: _fit(__import__("sklearn.manifold").manifold.TSNE(
            perplexity=5, max_iter=250, random_state=0), X),
        "MiniBatchSparsePCA": lambda: _fit(decomposition.MiniBatchSparsePCA(
            n_components=2, max_iter=5, random_state=0), X),
        "CalibratedClassifierCV": lambda: _fit(
            calibration.CalibratedClassifierCV(svm.LinearSVC(), cv=2), X, Y_CLASS),
        "FeatureHasher": lambda: _fit(feature_extraction.FeatureHasher(n_features=16),
                                      [{k: str(v) for k, v in r.items()} for r in RECORDS]),
        "HashingVectorizer": lambda: _fit(
            feature_extraction.text.HashingVectorizer(n_features=32), DOCS),
        "PatchExtractor": lambda: _fit(
            feature_extraction.image.PatchExtractor(patch_size=(2, 2)),
            X.reshape(10, 4, 4)[:, :, :]),
    }


def _hgb_categorical() -> Built:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = X.copy()
    x[:, 0] = np.arange(40) % 4
    return _fit(HistGradientBoostingClassifier(categorical_features=[0], max_iter=5), x,
                Y_CLASS)


def _hgb_from_dtype() -> Built:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["colour"] = pd.Categorical(["red", "green", "blue", "red"] * 10)
    return _fit(HistGradientBoostingRegressor(categorical_features="from_dtype", max_iter=5),
                frame, Y_REG)


def _column_transformer_frame() -> Built:
    import pandas as pd
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["city"] = ["Paris", "Oslo", "Rome", "Lima"] * 10
    transformer = ColumnTransformer([
        ("num", StandardScaler(), make_column_selector(dtype_include=np.number)),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
    ])
    return _fit(make_pipeline(transformer, _lr()), frame, Y_CLASS)


def _function_transformer(func: Any, inverse: Any = None) -> Callable[[], Built]:
    def build() -> Built:
        from sklearn.preprocessing import FunctionTransformer

        return _fit(FunctionTransformer(func, inverse_func=inverse, check_inverse=False), X)

    return build


def _variants() -> dict[str, Callable[[], Built]]:
    from sklearn import (
        cluster,
        decomposition,
        ensemble,
        feature_extraction,
        feature_selection,
        gaussian_process,
        impute,
        model_selection,
        neighbors,
        preprocessing,
        svm,
    )
    from sklearn.gaussian_process import kernels

    variants: dict[str, Callable[[], Built]] = {
        "HistGradientBoostingClassifier[categorical_features]": _hgb_categorical,
        "HistGradientBoostingRegressor[from_dtype]": _hgb_from_dtype,
        "SplineTransformer[periodic]": lambda: _fit(
            preprocessing.SplineTransformer(n_knots=4, extrapolation="periodic"), X),
        "SplineTransformer[quantile]": lambda: _fit(
            preprocessing.SplineTransformer(n_knots=3, knots="quantile", degree=2), X),
        "PCA[full,0.9]": lambda: _fit(decomposition.PCA(n_components=0.9, svd_solver="full"), X),
        "PCA[randomized,whiten]": lambda: _fit(
            decomposition.PCA(n_components=2, svd_solver="randomized", whiten=True,
                              random_state=0), X),
        "SVC[probability]": lambda: _fit(svm.SVC(probability=True, random_state=0), X, Y_CLASS),
        "SVC[poly]": lambda: _fit(svm.SVC(kernel="poly", degree=2), X, Y_CLASS),
        "SVR[linear]": lambda: _fit(svm.SVR(kernel="linear"), X, Y_REG),
        "OneHotEncoder[strings]": lambda: _fit(
            preprocessing.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=2),
            np.array([["a", "x"], ["b", "y"], ["a", "y"], ["c", "x"]] * 5, dtype=object)),
        "OrdinalEncoder[unknown]": lambda: _fit(
            preprocessing.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
            np.array([["a"], ["b"], ["c"]] * 4, dtype=object)),
        "TargetEncoder[strings]": lambda: _fit(
            preprocessing.TargetEncoder(cv=2),
            np.array([["a"], ["b"], ["c"], ["a"]] * 10, dtype=object), Y_REG),
        "FunctionTransformer[log1p]": _function_transformer(np.log1p, np.expm1),
        "FunctionTransformer[sqrt]": _function_transformer(np.sqrt, np.square),
        "FunctionTransformer[partial-round]": _function_transformer(
            functools.partial(np.round, decimals=2)),
        "FunctionTransformer[partial-clip]": _function_transformer(
            functools.partial(np.clip, a_min=0.2, a_max=0.8)),
        "FeatureAgglomeration[median]": lambda: _fit(
            cluster.FeatureAgglomeration(n_clusters=2, pooling_func=np.median), X),
        "TfidfVectorizer[bigrams,sublinear]": lambda: _fit(
            feature_extraction.text.TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
                                                    max_features=20, strip_accents="unicode"),
            DOCS),
        "TfidfVectorizer[char]": lambda: _fit(
            feature_extraction.text.TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)),
            DOCS),
        "GaussianProcessRegressor[kernel]": lambda: _fit(
            gaussian_process.GaussianProcessRegressor(
                kernels.ConstantKernel() * kernels.RBF() + kernels.WhiteKernel(),
                random_state=0), X, Y_REG),
        "GaussianProcessClassifier[matern]": lambda: _fit(
            gaussian_process.GaussianProcessClassifier(kernels.Matern(nu=1.5), random_state=0),
            X, Y_BINARY),
        "IterativeImputer": _iterative_imputer,
        "KNNImputer[nan]": lambda: _fit(impute.KNNImputer(n_neighbors=2), _with_nan()),
        "SimpleImputer[median]": lambda: _fit(impute.SimpleImputer(strategy="median"),
                                              _with_nan()),
        "HalvingGridSearchCV": _halving,
        "LocalOutlierFactor[novelty]": lambda: _fit(
            neighbors.LocalOutlierFactor(n_neighbors=5, novelty=True), X),
        "IsolationForest[small]": lambda: _fit(
            ensemble.IsolationForest(n_estimators=5, random_state=0), X),
        "GenericUnivariateSelect[mutual_info]": lambda: _fit(
            feature_selection.GenericUnivariateSelect(
                functools.partial(feature_selection.mutual_info_classif, random_state=0),
                mode="k_best", param=2), X, Y_CLASS),
        "SelectKBest[f_regression]": lambda: _fit(
            feature_selection.SelectKBest(feature_selection.f_regression, k=2), X, Y_REG),
        "SelectKBest[chi2]": lambda: _fit(
            feature_selection.SelectKBest(feature_selection.chi2, k=2), X, Y_CLASS),
        "GridSearchCV[roc_auc,refit]": lambda: _fit(model_selection.GridSearchCV(
            _lr(), {"C": [0.1, 1.0]}, cv=2, scoring=["roc_auc", "accuracy"],
            refit="roc_auc"), X, Y_BINARY),
        "KMeans[elkan]": lambda: _fit(cluster.KMeans(3, algorithm="elkan", n_init=2,
                                                     random_state=0), X),
        "BisectingKMeans[elkan]": lambda: _fit(
            cluster.BisectingKMeans(3, algorithm="elkan", random_state=0), X),
        "RandomForestClassifier[small]": lambda: _fit(
            ensemble.RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0), X,
            Y_CLASS),
        "GradientBoostingClassifier[small]": lambda: _fit(
            ensemble.GradientBoostingClassifier(n_estimators=3, random_state=0), X, Y_CLASS),
        "xgboost.XGBClassifier": lambda: _fit(
            __import__("xgboost").XGBClassifier(**_XGB), X, Y_CLASS),
        "xgboost.XGBRegressor": lambda: _fit(
            __import__("xgboost").XGBRegressor(**_XGB), X, Y_REG),
        "xgboost.XGBRanker": lambda: _fit_ranker(__import__("xgboost").XGBRanker(**_XGB)),
        "xgboost.XGBRFClassifier": lambda: _fit(
            __import__("xgboost").XGBRFClassifier(**_XGB), X, Y_BINARY),
        "xgboost.XGBRFRegressor": lambda: _fit(
            __import__("xgboost").XGBRFRegressor(**_XGB), X, Y_REG),
        "lightgbm.LGBMClassifier": lambda: _fit(
            __import__("lightgbm").LGBMClassifier(**_LGBM), X, Y_CLASS),
        "lightgbm.LGBMRegressor": lambda: _fit(
            __import__("lightgbm").LGBMRegressor(**_LGBM), X, Y_REG),
        "lightgbm.LGBMRanker": lambda: _fit_ranker(__import__("lightgbm").LGBMRanker(**_LGBM)),
    }
    for algorithm in ("kd_tree", "ball_tree", "brute"):
        for cls in ("KNeighborsClassifier", "KNeighborsRegressor", "NearestNeighbors",
                    "RadiusNeighborsClassifier"):
            variants[f"{cls}[{algorithm}]"] = _neighbors(cls, algorithm)
    variants["KNeighborsClassifier[minkowski-p1]"] = lambda: _fit(
        neighbors.KNeighborsClassifier(3, p=1, algorithm="ball_tree"), X, Y_CLASS)
    variants["KNeighborsClassifier[haversine]"] = lambda: _fit(
        neighbors.KNeighborsClassifier(3, metric="haversine", algorithm="ball_tree"),
        X[:, :2], Y_CLASS)
    variants["KDTree"] = lambda: (neighbors.KDTree(X, leaf_size=4), X)
    variants["BallTree"] = lambda: (neighbors.BallTree(X, leaf_size=4, metric="manhattan"), X)
    return variants


_XGB = {"n_estimators": 3, "max_depth": 2, "n_jobs": 1}
_LGBM = {"n_estimators": 3, "min_child_samples": 2, "verbose": -1, "n_jobs": 1}


def _neighbors(cls: str, algorithm: str) -> Callable[[], Built]:
    def build() -> Built:
        from sklearn import neighbors

        est = getattr(neighbors, cls)(algorithm=algorithm, **(
            {"radius": 2.0} if cls.startswith("Radius") else {"n_neighbors": 3}))
        y = None if cls == "NearestNeighbors" else (Y_REG if "Regressor" in cls else Y_CLASS)
        return _fit(est, X, y)

    return build


def _fit_ranker(est: Any) -> Built:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, np.arange(40) % 3, group=[10, 10, 10, 10])
    return est, X


def _with_nan() -> Any:
    x = X.copy()
    x[::5, 1] = np.nan
    return x


def _iterative_imputer() -> Built:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    return _fit(IterativeImputer(max_iter=3, random_state=0), _with_nan())


def _halving() -> Built:
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    return _fit(HalvingGridSearchCV(_lr(), {"C": [0.1, 1.0, 10.0]}, cv=2, min_resources=20,
                                    random_state=0), X, Y_CLASS)


@functools.lru_cache(maxsize=1)
def _all_cases() -> dict[str, Callable[[], Built]]:
    recipes = _recipes()
    cases: dict[str, Callable[[], Built]] = {}
    for name in all_estimator_names():
        cases[name] = recipes.get(name) or functools.partial(_generic, name)
    cases.update(_variants())
    return cases


RECIPES = _recipes
VARIANTS = _variants
CASES = _all_cases


@functools.cache
def build(case: str) -> Built:
    """The fitted estimator of one case (cached: the formats share one fit)."""
    from threadpoolctl import threadpool_limits

    # One thread: tiny data gains nothing from threads on a shared machine.
    with threadpool_limits(1):
        return _all_cases()[case]()


_METHODS = ("predict", "predict_proba", "decision_function", "transform", "score_samples",
            "mahalanobis")
#: Methods that draw random numbers on every call, so two calls never agree.
_RANDOM_METHODS = {"BernoulliRBM": {"score_samples"}}


def outputs(est: Any, x: Any) -> dict[str, Any]:
    """What the model computes on ``x``, to compare before saving and after loading."""
    from threadpoolctl import threadpool_limits

    found: dict[str, Any] = {}
    skip = _RANDOM_METHODS.get(type(est).__name__, set())
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        for method in _METHODS:
            if method in skip:
                continue
            fn = getattr(est, method, None)
            if fn is None or not callable(fn):
                continue
            try:
                value = fn(x)
            except Exception:
                continue
            if hasattr(value, "toarray"):
                value = value.toarray()
            found[method] = np.asarray(value)
        if callable(getattr(est, "query", None)):
            found["query"] = np.asarray(est.query(x[:3], k=2)[1])
        if callable(getattr(est, "kneighbors", None)):
            with contextlib.suppress(Exception):
                found["kneighbors"] = np.asarray(est.kneighbors(x[:3], 2)[1])
    if not found:
        # Estimators that only learn attributes (covariances, biclusters, LOF scores).
        for attr, value in sorted(vars(est).items()):
            if attr.endswith("_") and not attr.startswith("_") and isinstance(value, np.ndarray):
                found[attr] = value
    return found
