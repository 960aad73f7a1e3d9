"""Encrypted and plaintext predictions agree on every test row of the bundled data sets.

Each test reports the largest absolute score error it saw (run with ``-s`` to read it)
and asserts it is below ``TOLERANCE``; predicted classes must be identical to the
scikit-learn estimator's own ``predict``.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from tests.he.conftest import Deployment, deploy

TOLERANCE = 1e-3


def _reference(dep: Deployment, X: np.ndarray) -> np.ndarray:
    """The estimator's own scores, shaped (n_samples, n_outputs)."""
    est = dep.estimator
    if dep.model.kind == "regression":
        return np.asarray(est.predict(X)).reshape(len(X), -1)
    decision = est.decision_function(X)
    if dep.model.kind == "ovo":
        final = est[-1] if hasattr(est, "steps") else est
        ovo = final.decision_function_shape
        final.decision_function_shape = "ovo"
        try:
            decision = est.decision_function(X)
        finally:
            final.decision_function_shape = ovo
    return np.asarray(decision).reshape(len(X), -1)


def _single_scores(dep: Deployment, X: np.ndarray) -> np.ndarray:
    assert dep.single is not None
    rows = []
    for x in X:
        response = dep.scorer.handle(dep.single.request_single(x))
        rows.append(dep.single.decrypt_response(response)[0])
    return np.asarray(rows)


def _batch_scores(dep: Deployment, X: np.ndarray) -> np.ndarray:
    response = dep.scorer.handle(dep.batch.request_batch(X))
    return dep.batch.decrypt_response(response)


def _check(dep: Deployment, X: np.ndarray, encrypted: np.ndarray, label: str) -> None:
    expected = _reference(dep, X)
    # The compiled weights reproduce the estimator (folding the scaler is exact).
    np.testing.assert_allclose(dep.model.scores(X), expected, rtol=1e-9, atol=1e-9)
    error = float(np.abs(encrypted - expected).max())
    print(f"\n{label}: {len(X)} rows, max |encrypted - plaintext| score error = {error:.3e}")
    assert encrypted.shape == expected.shape
    assert error < TOLERANCE
    if dep.model.kind != "regression":
        assert dep.params.predict(encrypted) == list(dep.estimator.predict(X))


@pytest.mark.parametrize("mode", ["single", "batch"])
def test_breast_cancer_logistic_pipeline(cancer_lr: Deployment, cancer, mode: str) -> None:
    X = cancer.X_test
    scores = _single_scores(cancer_lr, X) if mode == "single" else _batch_scores(cancer_lr, X)
    _check(cancer_lr, X, scores, f"breast cancer, StandardScaler+LogisticRegression, {mode}")
    probabilities = cancer_lr.params.probabilities(scores)
    np.testing.assert_allclose(probabilities, cancer_lr.estimator.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("mode", ["single", "batch"])
def test_wine_multiclass_logistic_pipeline(wine_lr: Deployment, wine, mode: str) -> None:
    X = wine.X_test
    scores = _single_scores(wine_lr, X) if mode == "single" else _batch_scores(wine_lr, X)
    _check(wine_lr, X, scores, f"wine, StandardScaler+LogisticRegression (3 classes), {mode}")
    probabilities = wine_lr.params.probabilities(scores)
    np.testing.assert_allclose(probabilities, wine_lr.estimator.predict_proba(X), atol=1e-4)


@pytest.fixture(scope="module")
def diabetes_models(diabetes) -> dict[str, Deployment]:
    fit = lambda est: est.fit(diabetes.X_train, diabetes.y_train)  # noqa: E731
    return {
        "LinearRegression": deploy(fit(LinearRegression())),
        "Ridge": deploy(fit(make_pipeline(StandardScaler(), Ridge(alpha=1.0))), single=False),
    }


@pytest.mark.parametrize("name", ["LinearRegression", "Ridge"])
def test_diabetes_regression(diabetes_models: dict[str, Deployment], diabetes, name: str) -> None:
    dep = diabetes_models[name]
    X = diabetes.X_test
    _check(dep, X, _batch_scores(dep, X), f"diabetes, {name}, batch")
    if dep.single is not None:  # Every row is covered in batch mode; a sample suffices here.
        _check(dep, X[:25], _single_scores(dep, X[:25]), f"diabetes, {name}, single")


def test_linear_svc_on_breast_cancer_and_wine(cancer, wine) -> None:
    for name, split in (("breast cancer", cancer), ("wine", wine)):
        est = make_pipeline(StandardScaler(), LinearSVC(C=0.5, max_iter=20_000))
        dep = deploy(est.fit(split.X_train, split.y_train), single=name == "wine")
        _check(dep, split.X_test, _batch_scores(dep, split.X_test), f"{name}, LinearSVC, batch")
        if dep.single is not None:
            scores = _single_scores(dep, split.X_test)
            _check(dep, split.X_test, scores, f"{name}, LinearSVC, single")


def test_kernel_linear_svc_one_vs_one_on_wine(wine) -> None:
    est = make_pipeline(StandardScaler(), SVC(kernel="linear", C=0.5))
    dep = deploy(est.fit(wine.X_train, wine.y_train), single=False)
    assert dep.model.kind == "ovo" and dep.model.n_outputs == 3
    _check(dep, wine.X_test, _batch_scores(dep, wine.X_test), "wine, SVC(kernel=linear) ovo, batch")


def test_a_full_batch_of_4096_samples(cancer_lr: Deployment, cancer) -> None:
    rng = np.random.default_rng(7)
    X = cancer.X_test[rng.integers(0, len(cancer.X_test), cancer_lr.params.slots)]
    scores = _batch_scores(cancer_lr, X)
    assert scores.shape == (4096, 1)
    _check(cancer_lr, X, scores, "breast cancer, 4,096-sample batch")


def test_outputs_with_all_zero_weights_are_encrypted_constants() -> None:
    """A zero weight row cannot be multiplied in (transparent ciphertext): the bias is encrypted."""
    from garrison.he import EncryptedScorer, HEClient, HEParams, LinearHEModel

    X = np.random.default_rng(5).normal(size=(6, 4))
    for weights in ([[0.0] * 4, [1.0, -2.0, 0.0, 0.5]], [[0.0] * 4, [0.0] * 4]):
        model = LinearHEModel(np.array(weights), np.array([1.5, -0.25]), "regression", None)
        params = HEParams.for_model(model)
        scorer = EncryptedScorer(model, params)
        client = HEClient.generate(params, mode="single")
        scorer.register(client.registration())
        batch = client.decrypt_response(scorer.handle(client.request_batch(X)))
        single = client.decrypt_response(scorer.handle(client.request_single(X[0])))
        np.testing.assert_allclose(batch, model.scores(X), atol=TOLERANCE)
        np.testing.assert_allclose(single, model.scores(X[:1]), atol=TOLERANCE)
