"""Datasets and candidate models for the gate tests: good ones of several families, and one
per defect. Everything is small and seeded, and built once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine, make_classification
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from garrison.gates import GatePolicy


@dataclass(frozen=True)
class Case:
    """A candidate, what it is compared with, and the data of its gate run."""

    candidate: Any
    production: Any | None
    holdout: pd.DataFrame
    training: pd.DataFrame | None
    policy: GatePolicy


def _policy(**extra: Any) -> GatePolicy:
    return GatePolicy.from_mapping({"holdout_dataset": "holdout:1", "label": "y", **extra})


def _split(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, holdout = train_test_split(frame, test_size=0.5, random_state=seed, stratify=frame["y"])
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def _fit(model: Any, train: pd.DataFrame) -> Any:
    return model.fit(train.drop(columns="y"), train["y"])


def _lr() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


@cache
def cancer() -> tuple[pd.DataFrame, pd.DataFrame]:
    """scikit-learn's bundled breast-cancer set, half for training and half held out."""
    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "y"})
    return _split(frame)


@cache
def synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Eight features, five informative, 3% flipped labels."""
    x, y = make_classification(
        n_samples=1600, n_features=8, n_informative=5, n_redundant=1, flip_y=0.03, random_state=7
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)]).assign(y=y)
    return _split(frame)


@cache
def cancer_production() -> Any:
    return _fit(_lr(), cancer()[0])


@cache
def synthetic_production() -> Any:
    return _fit(_lr(), synthetic()[0])


GOOD = (
    "cancer-logistic",
    "cancer-random-forest",
    "cancer-knn",
    "cancer-logistic-weaker-within-noise",
    "synthetic-logistic",
    "synthetic-random-forest",
    "synthetic-naive-bayes",
    "synthetic-gradient-boosting",
    "synthetic-logistic-half-the-data",
    "synthetic-fair-logistic",
    "wine-logistic",
    # Library defaults, no tuning: unpruned forests (probabilities pulled to the middle,
    # in-bag rows fitted closely) and boosting.
    "cancer-default-random-forest",
    "cancer-default-gradient-boosting",
    "synthetic-default-random-forest",
    "wine-default-random-forest",
    "diabetes-ridge",
    "diabetes-random-forest",
    "diabetes-gradient-boosting",
)


@cache
def good(name: str) -> Case:
    """A good candidate: every check of the default policy must pass."""
    if name.endswith(("-default-random-forest", "-default-gradient-boosting")):
        return default_case(name)
    if name.startswith("cancer-"):
        train, holdout = cancer()
        production = cancer_production()
        model = {
            "cancer-logistic": lambda: make_pipeline(
                StandardScaler(), LogisticRegression(C=0.3, max_iter=2000)
            ),
            "cancer-random-forest": lambda: RandomForestClassifier(
                100, min_samples_leaf=3, random_state=0
            ),
            "cancer-knn": lambda: make_pipeline(StandardScaler(), KNeighborsClassifier(15)),
            # Over-regularized on purpose: slightly worse than production, within noise.
            "cancer-logistic-weaker-within-noise": lambda: make_pipeline(
                StandardScaler(), LogisticRegression(C=0.05, max_iter=2000)
            ),
        }[name]()
        if name == "cancer-random-forest":
            production = None  # the first version to reach production
        return Case(_fit(model, train), production, holdout, train, _policy())
    if name == "synthetic-fair-logistic":
        return fairness_case(unfair=False)
    if name.startswith("synthetic-"):
        train, holdout = synthetic()
        production = synthetic_production()
        fitted = {
            "synthetic-logistic": lambda: _fit(_lr(), train),
            "synthetic-random-forest": lambda: _fit(
                RandomForestClassifier(100, min_samples_leaf=5, random_state=0), train
            ),
            "synthetic-naive-bayes": lambda: _fit(GaussianNB(), train),
            "synthetic-gradient-boosting": lambda: _fit(
                GradientBoostingClassifier(n_estimators=80, max_depth=3, random_state=0), train
            ),
            "synthetic-logistic-half-the-data": lambda: _fit(_lr(), train.iloc[: len(train) // 2]),
        }[name]()
        return Case(fitted, production, holdout, train, _policy())
    if name == "wine-logistic":  # three classes
        frame = load_wine(as_frame=True).frame.rename(columns={"target": "y"})
        train, holdout = _split(frame)
        production = _fit(_lr(), train)
        candidate = _fit(make_pipeline(StandardScaler(), LogisticRegression(C=0.3)), train)
        return Case(candidate, production, holdout, train, _policy(primary_metric="roc_auc"))
    train, holdout = diabetes()
    production = _fit(Ridge(alpha=1.0), train)
    model = {
        "diabetes-ridge": lambda: Ridge(alpha=0.3),
        "diabetes-random-forest": lambda: RandomForestRegressor(
            100, min_samples_leaf=5, random_state=0
        ),
        "diabetes-gradient-boosting": lambda: GradientBoostingRegressor(
            n_estimators=60, max_depth=2, learning_rate=0.05, random_state=0
        ),
    }[name]()
    return Case(_fit(model, train), production, holdout, train, _policy(task="regression"))


def default_case(name: str) -> Case:
    """A library-default forest or boosting model, against the data set's production model."""
    production: Any
    data, family = name.split("-default-")
    if data == "wine":
        frame = load_wine(as_frame=True).frame.rename(columns={"target": "y"})
        train, holdout = _split(frame)
        production = _fit(_lr(), train)
    elif data == "cancer":
        # The first version to reach production: on these 285 rows both families are
        # significantly less accurate than the tuned logistic regression of cancer_production().
        train, holdout = cancer()
        production = None
    else:
        train, holdout = synthetic()
        production = synthetic_production()
    model = (
        RandomForestClassifier(random_state=0)
        if family == "random-forest"
        else GradientBoostingClassifier(random_state=0)
    )
    return Case(_fit(model, train), production, holdout, train, _policy())


@cache
def diabetes() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "y"})
    train, holdout = train_test_split(frame, test_size=0.5, random_state=0)
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


@cache
def fairness_case(*, unfair: bool) -> Case:
    """Groups 'a' and 'b' with the same feature and label distributions. The unfair candidate
    learnt from historically biased labels: half of group b's positives were recorded as 0."""
    rng = np.random.default_rng(11)
    n = 2400
    x = rng.normal(size=(n, 4))
    group = rng.choice(["a", "b"], size=n)
    y = (x @ np.array([1.5, -1.0, 0.8, 0.5]) + rng.normal(scale=0.7, size=n) > 0).astype(int)
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2", "x3"]).assign(
        group_b=(group == "b").astype(int), group=group, y=y
    )
    train, holdout = _split(frame)
    features = ["x0", "x1", "x2", "x3", "group_b"]
    production = _lr().fit(train[features], train["y"])
    labels = train["y"].to_numpy().copy()
    if unfair:
        biased = np.flatnonzero((train["group"] == "b").to_numpy() & (labels == 1))
        labels[biased[: biased.size // 2]] = 0
    candidate = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(
        train[features], labels
    )
    return Case(candidate, production, holdout, train, _policy(sensitive="group"))


DEFECTS = {
    # name -> (the check that must fail, words its reason must contain, other checks the
    # defect may also fail for a sound reason)
    "clearly-worse": ("performance", "significantly worse", {"robustness"}),
    # Biased labels also cost accuracy on the fair holdout labels.
    "unfair": ("fairness", "demographic parity", {"performance"}),
    "fragile": ("robustness", "attack success", set()),
    # Certainty about every training row also shows as overconfidence.
    "memorizing": ("privacy", "memorizes", {"calibration"}),
    "contaminated-holdout": ("leakage", "contaminated", set()),
    "leaked-label": ("leakage", "near-copy of the label", set()),
    "miscalibrated": ("calibration", "miscalibrated", set()),
}


@cache
def defect(name: str) -> Case:
    """A candidate with exactly one defect, compared with a sound production model."""
    train, holdout = synthetic()
    production = synthetic_production()
    if name == "clearly-worse":
        # A feature pipeline that lost the three most informative columns.
        blind = make_pipeline(ColumnDropper(["x0", "x1", "x2"]), _lr())
        return Case(_fit(blind, train), production, holdout, train, _policy())
    if name == "unfair":
        return fairness_case(unfair=True)
    if name == "fragile":
        return fragile_case()
    if name == "memorizing":
        # Distance-weighted neighbours give every training row its own label with
        # certainty: good holdout accuracy, and a model that remembers who it saw.
        knn = make_pipeline(StandardScaler(), KNeighborsClassifier(25, weights="distance"))
        return Case(_fit(knn, train), production, holdout, train, _policy())
    if name == "contaminated-holdout":
        model = _fit(_lr(), train)
        mixed = pd.concat([holdout.iloc[:480], train.iloc[:320]], ignore_index=True)
        return Case(model, production, mixed, train, _policy())
    if name == "leaked-label":
        rng = np.random.default_rng(3)

        def with_leak(frame: pd.DataFrame) -> pd.DataFrame:
            code = frame["y"] * 10 + rng.normal(scale=0.5, size=len(frame))
            return frame.assign(settlement_code=code)

        leaky_train, leaky_holdout = with_leak(train), with_leak(holdout)
        prod = _fit(_lr(), train)  # production never saw the leaked column
        prod_wrapped = make_pipeline(ColumnDropper(["settlement_code"]), prod)
        model = _fit(_lr(), leaky_train)
        return Case(model, prod_wrapped, leaky_holdout, leaky_train, _policy())
    if name == "miscalibrated":
        return miscalibrated_case()
    raise KeyError(name)


class ColumnDropper:
    """A stateless transformer dropping named columns (a production model fitted without them)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns

    def fit(self, x: pd.DataFrame, y: Any = None) -> ColumnDropper:
        return self

    def transform(self, x: pd.DataFrame) -> pd.DataFrame:
        return x.drop(columns=self.columns)


@cache
def fragile_case() -> Case:
    """An ill-conditioned linear model: a near-duplicate feature with huge opposite weights.
    On the holdout rows the two cancel (same accuracy as production); any small independent
    change of either one swings the decision."""
    train, holdout = synthetic()

    def with_twin(frame: pd.DataFrame) -> pd.DataFrame:
        rng = np.random.default_rng(len(frame))
        return frame.assign(x0_copy=frame["x0"] + rng.normal(scale=0.002, size=len(frame)))

    train, holdout = with_twin(train), with_twin(holdout)
    production = LogisticRegression(max_iter=2000).fit(train.drop(columns="y"), train["y"])
    model = LogisticRegression(max_iter=2000).fit(train.drop(columns="y"), train["y"])
    columns = list(train.drop(columns="y").columns)
    model.coef_ = model.coef_.copy()
    model.coef_[0, columns.index("x0")] += 60.0
    model.coef_[0, columns.index("x0_copy")] -= 60.0
    return Case(model, production, holdout, train, _policy())


class Sharpened:
    """A classifier whose probabilities are its base model's, raised to a high temperature's
    inverse: the same decisions, overconfident probabilities (as from an overfit network)."""

    def __init__(self, base: Any, power: float) -> None:
        self.base = base
        self.power = power
        self.classes_ = base.classes_
        self.feature_names_in_ = base.feature_names_in_

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return self.base.predict(x)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = self.base.predict_proba(x) ** self.power
        return p / p.sum(axis=1, keepdims=True)


@cache
def miscalibrated_case() -> Case:
    train, holdout = synthetic()
    production = synthetic_production()
    model = Sharpened(_fit(_lr(), train), power=10.0)
    return Case(model, production, holdout, train, _policy())
