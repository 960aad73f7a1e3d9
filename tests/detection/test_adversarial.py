"""Adversarial examples crafted here against scikit-learn models are detected.

Two attacks: the minimal L2 step along a LogisticRegression's weight vector that just
crosses the boundary, and a greedy coordinate search against a RandomForest. The
detection rate is printed next to the false-positive rate on fresh normal rows, and
a floor is asserted for each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from garrison.detection import InputMonitor

D = 8
NAMES = [f"f{i}" for i in range(D)]


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    x, y = make_classification(n_samples=7000, n_features=D, n_informative=5, n_redundant=2,
                               class_sep=1.5, random_state=0)
    return {"xtr": x[:2500], "ytr": y[:2500], "xref": x[2500:5500], "xte": x[5500:],
            "yte": y[5500:]}


def _confident(model, data) -> np.ndarray:
    proba = model.predict_proba(data["xte"])
    keep = (proba.max(axis=1) > 0.9) & (proba.argmax(axis=1) == data["yte"])
    return data["xte"][keep][:150]


def _rates(monitor: InputMonitor, adversarial: np.ndarray, normal: np.ndarray) -> tuple:
    hit = np.mean([v.anomalous for v in monitor.score_batch(adversarial)])
    fpr = np.mean([v.anomalous for v in monitor.score_batch(normal)])
    return float(hit), float(fpr)


def test_minimal_perturbation_against_logistic_regression(data) -> None:
    model = LogisticRegression().fit(data["xtr"], data["ytr"])
    monitor = InputMonitor.fit(pd.DataFrame(data["xref"], columns=NAMES), model=model,
                               fpr=0.01, rng=3)
    src = _confident(model, data)
    w, b = model.coef_[0], model.intercept_[0]
    logit = src @ w + b
    # The smallest L2 step that moves the logit just past zero (to -0.05 * sign).
    adversarial = src - ((logit + np.sign(logit) * 0.05) / (w @ w))[:, None] * w
    assert np.all(model.predict(adversarial) != model.predict(src))
    hit, fpr = _rates(monitor, adversarial, data["xte"][-1000:])
    size = np.median(np.linalg.norm((adversarial - src) / data["xref"].std(0), axis=1))
    print(f"\nLogisticRegression minimal attack (median step {size:.2f} sd): detected "
          f"{hit:.1%} of {len(src)}; false positives on normal rows {fpr:.1%}")
    # Measured 52.7% at 0.7% FPR with this seed; across seeds of the calibration split
    # it ranged from about 30% to 94% (see docs/detection.md): the held-out tail near
    # the boundary decides the threshold.
    assert hit >= 0.4
    assert fpr <= 0.04


def _greedy_attack(model, src: np.ndarray, step: np.ndarray, iterations: int = 40) -> np.ndarray:
    """Per row, repeatedly apply the +/- one-coordinate step that most lowers the
    probability of the original class, until the prediction flips."""
    adv, own = src.copy(), model.predict(src)
    active = np.ones(len(src), dtype=bool)
    moves = np.zeros((2 * D, D))
    for j in range(D):
        moves[2 * j, j], moves[2 * j + 1, j] = step[j], -step[j]
    for _ in range(iterations):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        cand = adv[idx][:, None, :] + moves[None]
        proba = model.predict_proba(cand.reshape(-1, D)).reshape(len(idx), 2 * D, -1)
        mine = proba[np.arange(len(idx)), :, own[idx]]
        adv[idx] = cand[np.arange(len(idx)), mine.argmin(axis=1)]
        active[idx[model.predict(adv[idx]) != own[idx]]] = False
    return adv[~active]


def test_greedy_coordinate_attack_against_random_forest(data) -> None:
    model = RandomForestClassifier(n_estimators=40, random_state=0).fit(data["xtr"], data["ytr"])
    monitor = InputMonitor.fit(pd.DataFrame(data["xref"], columns=NAMES), model=model,
                               fpr=0.01, rng=4)
    src = _confident(model, data)
    adversarial = _greedy_attack(model, src, 0.25 * data["xref"].std(axis=0))
    assert len(adversarial) >= 40
    hit, fpr = _rates(monitor, adversarial, data["xte"][-1000:])
    print(f"\nRandomForest greedy attack: {len(adversarial)} of {len(src)} succeeded; detected "
          f"{hit:.1%}; false positives on normal rows {fpr:.1%}")
    assert hit >= 0.8
    assert fpr <= 0.04
