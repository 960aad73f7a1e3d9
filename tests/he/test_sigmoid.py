"""The optional server-side sigmoid: its stated error bound, and its encrypted evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from garrison.errors import InvalidInput, UnsupportedModel
from garrison.he import HEParams, LinearHEModel, SigmoidApprox
from tests.he.conftest import Deployment, deploy

#: The bound documented in docs/encrypted-inference.md for the default interval [-8, 8].
DOCUMENTED = {8.0: 0.1144, 4.0: 0.0383}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("bound", [2.0, 4.0, 8.0, 12.0])
def test_the_stated_error_bound_holds_everywhere_on_the_interval(bound: float) -> None:
    approx = SigmoidApprox.fit(bound)
    z = np.random.default_rng(3).uniform(-bound, bound, 200_000)
    z = np.concatenate([z, [-bound, 0.0, bound]])
    worst = float(np.abs(approx(z) - _sigmoid(z)).max())
    assert worst <= approx.max_error
    assert approx.max_error - worst < 1e-4  # The bound is tight, not a loose overestimate.
    c0, c1, c2, c3 = approx.coefficients
    assert (c0, c2) == (0.5, 0.0) and c1 > 0 > c3
    # Decisions are kept inside the interval: p(z) > 1/2 exactly when z > 0.
    assert np.sqrt(c1 / -c3) > bound


@pytest.mark.parametrize("bound", sorted(DOCUMENTED))
def test_the_documented_bounds(bound: float) -> None:
    assert SigmoidApprox.fit(bound).max_error == pytest.approx(DOCUMENTED[bound], abs=5e-5)


def test_the_fit_is_the_continuous_least_squares_solution() -> None:
    """Independent check: solve the normal equations with exact integrals (scipy quad)."""
    bound = 8.0
    moments = [integrate.quad(lambda z, k=k: z**k * (_sigmoid(z) - 0.5), -bound, bound)[0]
               for k in (1, 3)]
    gram = np.array([[2 * bound**3 / 3, 2 * bound**5 / 5], [2 * bound**5 / 5, 2 * bound**7 / 7]])
    c1, c3 = np.linalg.solve(gram, moments)
    approx = SigmoidApprox.fit(bound)
    assert approx.coefficients[1] == pytest.approx(c1, rel=1e-9)
    assert approx.coefficients[3] == pytest.approx(c3, rel=1e-9)


def test_sigmoid_parameters_round_trip_and_refuse_forged_coefficients() -> None:
    approx = SigmoidApprox.fit(6.0)
    assert SigmoidApprox.from_dict(approx.to_dict()) == approx
    forged = approx.to_dict() | {"coefficients": [0.5, 0.3, 0.0, -0.001]}
    with pytest.raises(InvalidInput, match="least-squares"):
        SigmoidApprox.from_dict(forged)
    with pytest.raises(InvalidInput):
        SigmoidApprox.fit(100.0)


def test_the_sigmoid_is_only_for_binary_logistic_regression() -> None:
    multi = LinearHEModel(np.ones((3, 4)), np.zeros(3), "multiclass", (0, 1, 2), "softmax")
    with pytest.raises(UnsupportedModel, match="binary logistic"):
        HEParams.for_model(multi, sigmoid=SigmoidApprox.fit())
    svm = LinearHEModel(np.ones((1, 4)), np.zeros(1), "binary", (0, 1), None)
    with pytest.raises(UnsupportedModel):
        HEParams.for_model(svm, sigmoid=SigmoidApprox.fit())


@pytest.fixture(scope="module")
def cancer_sigmoid(cancer_lr: Deployment) -> Deployment:
    return deploy(cancer_lr.estimator, sigmoid=SigmoidApprox.fit(8.0))


@pytest.mark.parametrize("mode", ["single", "batch"])
def test_encrypted_probabilities_match_the_polynomial(cancer_sigmoid: Deployment, cancer,
                                                      mode: str) -> None:
    dep = cancer_sigmoid
    approx = dep.params.sigmoid
    assert dep.params.depth == 3 and dep.params.coeff_mod_bit_sizes == (52, 38, 38, 38, 52)
    X = cancer.X_test if mode == "batch" else cancer.X_test[:12]
    client = dep.batch if mode == "batch" else dep.single
    if mode == "batch":
        probability = client.decrypt_response(
            dep.scorer.handle(client.request_batch(X, output="probability")))[:, 0]
    else:
        responses = [dep.scorer.handle(client.request_single(x, output="probability")) for x in X]
        probability = np.array([client.decrypt_response(r)[0, 0] for r in responses])
    z = dep.model.scores(X)[:, 0]
    homomorphic_error = float(np.abs(probability - approx(z)).max())
    inside = np.abs(z) <= approx.bound
    interval_error = np.abs(probability - _sigmoid(z))[inside].max()
    print(f"\nsigmoid {mode}: max |HE - p(z)| = {homomorphic_error:.2e}, "
          f"max |HE - sigmoid| on the interval = {interval_error:.3f}")
    assert homomorphic_error < 1e-3
    assert np.all(np.abs(probability - _sigmoid(z))[inside] <= approx.max_error + 1e-3)
    assert np.array_equal((probability > 0.5)[inside], (z > 0)[inside])
