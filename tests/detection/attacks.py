"""Minimal-perturbation evasion attacks and the models they attack (tests and the bench).

``MinimalAttack`` is a decision-only (black-box) L2 attack in the manner of
HopSkipJump: start from the nearest reference row the model labels differently, binary
search to the decision boundary, then repeatedly estimate the boundary's normal from
the labels of random probes around the boundary point, step along it and search back
towards the original row. The result is clipped to the reference range and rounded to
each column's precision; if rounding undoes the flip, the row moves a little further
out until it flips again. Only numeric columns move; category values stay the row's own.
Everything is batched over rows, so one model call serves every row being attacked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

__all__ = ["AttackCase", "MinimalAttack", "mixed_case", "numeric_case"]


def decimals(column: np.ndarray) -> int:
    """The fewest decimals that hold every value of ``column`` (at most 6)."""
    for d in range(7):
        if np.allclose(column, np.round(column, d), atol=1e-9):
            return d
    return 6


class MinimalAttack:
    """``predict(numeric_rows, owner)`` labels numeric rows; ``owner[i]`` is the attacked
    row that numeric row ``i`` belongs to (its category values)."""

    def __init__(self, predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 reference: np.ndarray, rng: np.random.Generator, *, iterations: int = 12,
                 probes: int = 48) -> None:
        self.predict = predict
        self.low, self.high = reference.min(axis=0), reference.max(axis=0)
        self.scale = np.where(reference.std(axis=0) > 0, reference.std(axis=0), 1.0)
        self.factor = 10.0 ** np.array([decimals(reference[:, j])
                                        for j in range(reference.shape[1])])
        self.reference = reference
        self.rng = rng
        self.iterations = iterations
        self.probes = probes

    def _round(self, x: np.ndarray) -> np.ndarray:
        return np.round(np.clip(x, self.low, self.high) * self.factor) / self.factor

    def _flips(self, rows: np.ndarray, owner: np.ndarray, label: np.ndarray) -> np.ndarray:
        # ``owner`` counts the rows still under attack; ``_rows`` maps them to the caller's.
        return self.predict(rows, self._rows[owner]) != label[owner]

    def _boundary(self, x: np.ndarray, adv: np.ndarray, label: np.ndarray,
                  steps: int = 18) -> np.ndarray:
        owner = np.arange(len(x))
        lo, hi = np.zeros(len(x)), np.ones(len(x))
        for _ in range(steps):
            mid = (lo + hi) / 2
            flip = self._flips(x + mid[:, None] * (adv - x), owner, label)
            hi, lo = np.where(flip, mid, hi), np.where(flip, lo, mid)
        return x + hi[:, None] * (adv - x)

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices of the rows attacked successfully, their adversarial numeric rows)."""
        n, dim = x.shape
        self._rows = np.arange(n)
        label = self.predict(x, self._rows)
        start = np.full(x.shape, np.nan)
        z_ref = self.reference / self.scale
        for i in range(n):
            # The nearest reference rows, given row i's categories, that flip the label.
            near = np.argsort(np.linalg.norm(z_ref - x[i] / self.scale, axis=1))[:200]
            flips = self._flips(self.reference[near], np.full(len(near), i), label)
            if flips.any():
                start[i] = self.reference[near[np.argmax(flips)]]
        keep = np.flatnonzero(~np.isnan(start).any(axis=1))
        x, start, label = x[keep], start[keep], label[keep]
        owner = np.arange(len(x))
        self._rows = keep
        point = self._boundary(x, start, label)
        for t in range(self.iterations):
            dist = np.linalg.norm((point - x) / self.scale, axis=1)
            delta = np.maximum(1e-3, 0.05 * dist)
            u = self.rng.standard_normal((len(x), self.probes, dim))
            u /= np.linalg.norm(u, axis=2, keepdims=True)
            probes = point[:, None, :] + delta[:, None, None] * u * self.scale
            flips = self._flips(probes.reshape(-1, dim), np.repeat(owner, self.probes), label)
            phi = np.where(flips.reshape(len(x), -1), 1.0, -1.0)
            base = phi.mean(axis=1, keepdims=True)
            weights = np.where(np.abs(base) == 1.0, phi, phi - base)
            grad = (weights[:, :, None] * u).mean(axis=1)
            grad /= np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-12)
            step = dist / np.sqrt(t + 1)
            found = np.zeros(len(x), dtype=bool)
            moved = point.copy()
            for _ in range(10):
                trial = point + step[:, None] * grad * self.scale
                flip = self._flips(trial, owner, label) & ~found
                moved[flip], found = trial[flip], found | flip
                step = step / 2
            point = np.where(found[:, None], self._boundary(x, moved, label), point)
        out = np.full(x.shape, np.nan)
        todo = np.ones(len(x), dtype=bool)
        for k in range(40):
            rounded = self._round(x + (1 + 0.02 * k) * (point - x))
            flip = self._flips(rounded, owner, label) & todo
            out[flip], todo = rounded[flip], todo & ~flip
        good = ~np.isnan(out).any(axis=1)
        return keep[good], out[good]


@dataclass
class AttackCase:
    """A model, the reference it is monitored against, fresh normal rows, attacked rows."""

    name: str
    model: Any
    reference: pd.DataFrame
    normal: pd.DataFrame
    adversarial: pd.DataFrame
    sources: pd.DataFrame


def _attack(model: Any, frame: pd.DataFrame, reference: pd.DataFrame, numeric: list[str],
            rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    def predict(rows: np.ndarray, owner: np.ndarray) -> np.ndarray:
        batch = frame.iloc[owner].reset_index(drop=True).copy()
        for j, name in enumerate(numeric):
            batch[name] = rows[:, j].astype(frame[name].dtype)
        return np.asarray(model.predict(batch))

    attack = MinimalAttack(predict, reference[numeric].to_numpy(dtype=float), rng)
    done, rows = attack.run(frame[numeric].to_numpy(dtype=float))
    sources = frame.iloc[done].reset_index(drop=True)
    adversarial = sources.copy()
    for j, name in enumerate(numeric):
        adversarial[name] = rows[:, j].astype(frame[name].dtype)
    return sources, adversarial


def numeric_case(attacks: int = 80, seed: int = 0) -> AttackCase:
    """A random forest on the breast-cancer data (30 numeric features, 569 rows).

    The model is trained on 40% of the rows; the reference is another 40%, rows the model
    has not seen; the remaining 20% are the normal rows and the rows attacked.
    """
    data = load_breast_cancer(as_frame=True)
    frame, y = data.data, data.target.to_numpy()
    order = np.random.default_rng(seed).permutation(len(frame))
    train, ref, test = np.split(order, [int(0.4 * len(order)), int(0.8 * len(order))])
    model = RandomForestClassifier(100, random_state=seed).fit(frame.iloc[train], y[train])
    reference = frame.iloc[ref].reset_index(drop=True)
    normal = frame.iloc[test].reset_index(drop=True)
    sources, adversarial = _attack(model, normal.iloc[:attacks], reference, list(frame.columns),
                                   np.random.default_rng(seed))
    return AttackCase("random forest, breast cancer", model, reference, normal, adversarial,
                      sources)


CATEGORIES = {
    "home": ["rent", "own", "mortgage"],
    "purpose": ["car", "home", "education", "business", "other"],
    "region": ["north", "south", "east", "west"],
}


def credit_frame(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Loan applications: six numeric columns at their natural precision, three
    categorical; the label depends on both, with noise."""
    frame = pd.DataFrame({
        "income": np.round(rng.lognormal(10.8, 0.45, n), 0),
        "age": rng.integers(18, 80, n),
        "debt_ratio": np.round(rng.beta(2.0, 5.0, n), 3),
        "credit_lines": rng.poisson(5, n),
        "months_employed": np.minimum(rng.geometric(1 / 40, n), 480),
        "balance": np.round(rng.gamma(2.0, 1500.0, n), 2),
        **{name: rng.choice(values, n) for name, values in CATEGORIES.items()},
    })
    effect = {"rent": -0.5, "own": 0.6, "mortgage": 0.1, "car": 0.0, "home": 0.4,
              "education": -0.3, "business": -0.8, "other": -0.2}
    logit = (1.4 * (np.log(frame["income"]) - 10.8) / 0.45
             - 2.2 * (frame["debt_ratio"] - 0.28) / 0.16
             + 0.02 * (frame["age"] - 45) + 0.012 * (frame["months_employed"] - 40)
             - 0.00012 * (frame["balance"] - 3000)
             + frame["home"].map(effect) + frame["purpose"].map(effect)
             + np.where(frame["region"] == "south", -0.3, 0.0))
    y = (logit + rng.logistic(0.0, 0.6, n) > 0).astype(int).to_numpy()
    return frame, y


def mixed_case(attacks: int = 80, seed: int = 0, rows: int = 4000) -> AttackCase:
    """A gradient-boosted pipeline (OneHotEncoder on three category columns, six numeric
    columns passed through) on generated loan data."""
    rng = np.random.default_rng(seed)
    frame, y = credit_frame(rows, rng)
    cats = list(CATEGORIES)
    model = Pipeline([
        ("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), cats)],
                                   remainder="passthrough")),
        ("gb", GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=seed)),
    ])
    train, ref, test = np.split(np.arange(rows), [rows // 2, rows * 7 // 8])
    model.fit(frame.iloc[train], y[train])
    reference = frame.iloc[ref].reset_index(drop=True)
    normal = frame.iloc[test].reset_index(drop=True)
    numeric = [c for c in frame.columns if c not in CATEGORIES]
    sources, adversarial = _attack(model, normal.iloc[:attacks], reference, numeric, rng)
    return AttackCase("gradient boosting pipeline, mixed loan data", model, reference, normal,
                      adversarial, sources)


class Step:
    """A non-linear two-class model for the perturbation tests: class 1 when x0 > 0, surer
    farther away (margin 2 min(|x0|, 0.49)); it counts the rows it scores."""

    def __init__(self) -> None:
        self.rows_scored = 0

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        self.rows_scored += len(rows)
        p1 = np.where(rows[:, 0] > 0, 0.5 + np.minimum(np.abs(rows[:, 0]), 0.49),
                      0.5 - np.minimum(np.abs(rows[:, 0]), 0.49))
        return np.column_stack([1 - p1, p1])
