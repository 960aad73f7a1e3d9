"""The linear twin: used only for plain scikit-learn linear models it reproduces, and every
adversarial point it finds is confirmed by the model itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from garrison.gates._twin import linear_twin
from garrison.gates.checks._attack import boundary_attack
from garrison.gates.evaluate import evaluate
from tests.gates import candidates


def _fitted(model: object) -> tuple[object, pd.DataFrame, pd.DataFrame]:
    train, holdout = candidates.synthetic()
    return model.fit(train.drop(columns="y"), train["y"]), train, holdout  # type: ignore[attr-defined]


def _holdout_outputs(model: object, holdout: pd.DataFrame) -> tuple[np.ndarray, ...]:
    x = holdout.drop(columns="y")
    return x.to_numpy(), model.predict(x), model.predict_proba(x)  # type: ignore[attr-defined]


def test_the_twin_reproduces_a_plain_pipeline_and_refuses_anything_else() -> None:
    model, _, holdout = _fitted(make_pipeline(StandardScaler(), LogisticRegression()))
    x, pred, proba = _holdout_outputs(model, holdout)
    twin = linear_twin(model, x, pred, proba, np.array([0, 1]))
    assert twin is not None
    moved = x + np.random.default_rng(0).normal(size=x.shape)
    names = model.feature_names_in_  # type: ignore[attr-defined]
    own = model.predict(pd.DataFrame(moved, columns=names))  # type: ignore[attr-defined]
    assert np.array_equal(twin.labels(moved), own)
    # A model whose own outputs differ from the twin's on one row: no twin.
    wrong = pred.copy()
    wrong[0] = 1 - wrong[0]
    assert linear_twin(model, x, wrong, proba, np.array([0, 1])) is None
    # Missing values are for the model's own validation to judge.
    holed = x.copy()
    holed[3, 2] = np.nan
    assert linear_twin(model, holed, pred, proba, np.array([0, 1])) is None


class Sneaky(Pipeline):
    """A pipeline that answers like its steps on the holdout rows and differently elsewhere:
    a twin built from its coefficients would hide that."""

    def predict(self, X: object, **params: object) -> np.ndarray:  # type: ignore[override]
        return np.zeros(len(X), dtype=int)  # type: ignore[arg-type]


def test_a_subclass_gets_no_twin_and_is_attacked_through_its_own_predict() -> None:
    train, holdout = candidates.synthetic()
    sneaky = Sneaky([("scale", StandardScaler()), ("lr", LogisticRegression())])
    sneaky.fit(train.drop(columns="y"), train["y"])
    x, _, proba = _holdout_outputs(sneaky, holdout)
    assert linear_twin(sneaky, x, proba.argmax(axis=1), proba, np.array([0, 1])) is None
    plain, _, _ = _fitted(make_pipeline(StandardScaler(), LogisticRegression()))
    production = candidates.synthetic_production()
    result = evaluate(plain, production, holdout, candidates._policy(), train)
    assert result.check("robustness").metrics["attack_oracle"] == "linear-twin"
    forest, _, _ = _fitted(RandomForestClassifier(20, random_state=0))
    result = evaluate(forest, None, holdout, candidates._policy(), train)
    assert result.check("robustness").metrics["attack_oracle"] == "model"


def test_points_the_model_does_not_confirm_are_not_successes() -> None:
    # A lying twin says every query is adversarial; the model (a constant) never flips.
    rng = np.random.default_rng(1)
    rows = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    pool = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    labels = np.zeros(30, dtype=int)
    pool_labels = np.ones(60, dtype=int)
    calls = []

    def model(batch: pd.DataFrame) -> np.ndarray:
        calls.append(len(batch))
        return np.zeros(len(batch), dtype=int)

    outcome = boundary_attack(
        model,
        rows,
        labels,
        pool,
        pool_labels,
        ["a", "b", "c"],
        np.ones(3),
        budget=100,
        radius=10.0,
        rng=rng,
        twin=lambda x: np.ones(len(x), dtype=int),
    )
    assert outcome.oracle == "linear-twin"
    assert outcome.success_rate(10.0) == 0.0
    assert outcome.unconfirmed == 30
    assert calls == [30]  # one confirmation call, for every point the twin found


def test_the_twin_labels_are_the_argmax_of_its_probabilities_even_at_ties() -> None:
    from garrison.serving.runtime import LinearRuntime

    model = LogisticRegression().fit(np.array([[-1.0], [1.0]]), np.array([0, 1]))
    model.coef_, model.intercept_ = np.array([[1.0]]), np.array([0.0])
    runtime = LinearRuntime.compile(model)
    assert runtime is not None
    # 1e-300 > 0, yet its probability rounds to 0.5 on both sides: argmax gives class 0.
    x = np.array([[1e-300], [0.0], [-1e-300], [5.0], [-5.0], [40.0], [np.nan]])
    proba = runtime.predict_proba(x)
    assert proba[0, 0] == proba[0, 1] == 0.5
    assert np.array_equal(runtime.argmax_proba(x), proba.argmax(axis=1))
    assert runtime.argmax_proba(x)[0] == 0 and runtime.argmax_proba(x)[3] == 1
    # Three classes: the softmax's argmax.
    three = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0]]), np.array([0, 1, 2]))
    runtime3 = LinearRuntime.compile(three)
    assert runtime3 is not None
    grid = np.linspace(-3, 5, 101)[:, None]
    assert np.array_equal(runtime3.argmax_proba(grid), runtime3.predict_proba(grid).argmax(axis=1))
