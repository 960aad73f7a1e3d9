"""Adversarial-input signals that use the deployed model itself, through its own pipeline.

Minimal-perturbation evasion attacks leave three footprints. The input sits next to the
decision boundary, so small random noise (scaled to each numeric feature) flips the
prediction (``perturbation-instability``). The model is unusually unsure of it compared
with reference rows of the same predicted class (``confidence-profile``). And the input
was pushed out of its own class's region just far enough to change the answer, so its
nearest reference rows still carry the *other* predicted label
(``neighbour-disagreement``, in the spirit of deep k-nearest-neighbour detection). All
are calibrated like every detector. A model with category inputs gets them as code
columns after the numeric ones (see ``encoding``): noise moves the numbers only, and a
different category counts as one standard deviation in the neighbour distance.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from garrison.detection.base import DetectorInfo, FitContext, register_detector
from garrison.errors import UnsupportedModel

__all__ = [
    "ConfidenceProfileDetector",
    "NeighbourDisagreementDetector",
    "PerturbationInstabilityDetector",
]


def _require_proba(model: Any) -> Any:
    if model is None or not callable(getattr(model, "predict_proba", None)):
        raise UnsupportedModel("this detector needs a model with predict_proba")
    return model


class PerturbationInstabilityDetector:
    """Share of ``k`` noisy copies whose predicted class differs from the row's own.

    Noise is Gaussian with ``noise`` x the reference standard deviation per column.
    The score adds ``0.5 * (1 - margin)``, where ``margin`` is the gap between the two
    largest class probabilities: it ranks rows with the same share (the threshold is
    calibrated on a continuous score) and sharpens the signal for minimal
    perturbations, which land just past the boundary. The whole batch, originals and
    copies, goes to the model in one ``predict_proba`` call.
    """

    id = "perturbation-instability"

    def __init__(self, k: int = 16, noise: float = 0.05, max_batch: int = 4096,
                 pool: int = 4096) -> None:
        self.k = k
        self.noise = noise
        self.max_batch = max_batch
        self.pool = pool

    def fit(self, reference: np.ndarray, context: FitContext) -> None:
        self.model = _require_proba(context.model)
        self.sigma = self.noise * context.scale
        # Category code columns keep their value: noise is for the numeric inputs.
        self.sigma[context.numeric_width:] = 0.0
        self.rng = context.rng
        # Noise is drawn once, at fit, from the detector's generator; each call reads
        # ``k`` rows per input from a random offset. Drawing fresh Gaussians cost more
        # than the model itself on the request path (a compiled model answers 17 rows
        # in a few microseconds).
        self._noise = self.rng.standard_normal((max(self.pool, self.k), reference.shape[1])) \
            * self.sigma
        # A linear model's decision is affine: decision(x + e) = decision(x) + shift(e).
        # Its shifts of the noise pool are computed once, and each copy then costs an
        # addition instead of a model call (the same labels, to rounding).
        shift = getattr(self.model, "decision_shift", None)
        self._shift = np.asarray(shift(self._noise)) if callable(shift) else None
        # Offsets into the pool: a stdlib generator seeded from the detector's own (a numpy
        # draw costs more than the rest of a one-row linear score). Neither is a
        # cryptographic generator, and neither was before.
        self._offsets = random.Random(int(self.rng.integers(2**63)))  # noqa: S311

    def score(self, rows: np.ndarray) -> np.ndarray:
        step = max(1, self.max_batch // (self.k + 1))
        return np.concatenate([
            self._score(rows[i:i + step]) for i in range(0, len(rows), step)
        ]) if len(rows) else np.zeros(0)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        n, d = rows.shape
        start = self._offsets.randrange(len(self._noise))
        if self._shift is not None:
            return self._score_linear(rows, start)
        noise = np.take(self._noise, range(start, start + n * self.k), axis=0, mode="wrap")
        batch = np.empty((n, self.k + 1, d))
        batch[:, 0, :] = rows
        np.add(rows[:, None, :], noise.reshape(n, self.k, d), out=batch[:, 1:, :])
        proba = np.asarray(self.model.predict_proba(batch.reshape(-1, d)))
        proba = proba.reshape(n, self.k + 1, -1)
        own = proba[:, 0, :].argmax(axis=1)
        flipped = proba[:, 1:, :].argmax(axis=2) != own[:, None]
        return flipped.sum(axis=1) / self.k + 0.5 * (1.0 - _margin(proba[:, 0, :]))

    def _score_linear(self, rows: np.ndarray, start: int) -> np.ndarray:
        assert self._shift is not None
        n, k = len(rows), self.k
        decision = np.asarray(self.model.decision(rows))  # (n, c): c = 1 for two classes
        pool = self._shift
        if start + n * k <= len(pool):
            shift = pool[start:start + n * k]  # A view: no copy.
        else:
            shift = np.take(pool, range(start, start + n * k), axis=0, mode="wrap")
        if decision.shape[1] == 1 and n == 1 and start + k <= len(pool):
            # One row, two classes (the common request): 16 additions and a tanh.
            d0 = float(decision[0, 0])
            flips = int(np.count_nonzero((pool[start:start + k, 0] + d0 > 0) != (d0 > 0)))
            # |p1 - p0| = |2 expit(d) - 1| = |tanh(d / 2)|
            return np.array([flips / k + 0.5 * (1.0 - abs(math.tanh(d0 / 2.0)))])
        if decision.shape[1] == 1:  # Class 1 exactly when the decision is positive.
            d = decision[:, 0]
            flipped = (d[:, None] + shift[:, 0].reshape(n, k) > 0) != (d > 0)[:, None]
            margin = np.abs(2.0 * np.asarray(self.model.proba_of_decision(decision))[:, 1]
                            - 1.0)
        else:
            copies = decision[:, None, :] + shift.reshape(n, k, -1)
            flipped = copies.argmax(axis=2) != decision.argmax(axis=1)[:, None]
            margin = _margin(np.asarray(self.model.proba_of_decision(decision)))
        return flipped.sum(axis=1) / k + 0.5 * (1.0 - margin)


class NeighbourDisagreementDetector:
    """How far the row is from reference rows of its predicted class, relative to the rest.

    ``score = (d_same / d_other) * (1 - margin)`` where ``d_same`` is the mean
    distance (in standardized units) to the ``k`` nearest reference rows that the model
    assigns the row's predicted class, ``d_other`` the same for every other class, and
    ``margin`` the gap between the two largest class probabilities: a row near the
    boundary that sits among rows of another class. The reference is subsampled to
    ``max_reference`` rows.
    """

    id = "neighbour-disagreement"

    def __init__(self, k: int = 5, max_reference: int = 2000) -> None:
        self.k = k
        self.max_reference = max_reference

    def fit(self, reference: np.ndarray, context: FitContext) -> None:
        self.model = _require_proba(context.model)
        if len(reference) > self.max_reference:
            pick = context.rng.choice(len(reference), self.max_reference, replace=False)
            reference = reference[pick]
        self.width = context.numeric_width
        self.sizes = context.categories
        self.inv_scale = 1.0 / context.scale[:self.width]
        self.points = self._embed(reference)
        self.sq_norms = np.einsum("ij,ij->i", self.points, self.points)
        self.labels = np.argmax(np.asarray(self.model.predict_proba(reference)), axis=1)
        self.k_eff = max(1, min(self.k, int(np.bincount(self.labels).min())))
        if len(np.unique(self.labels)) < 2:
            raise UnsupportedModel("the model predicts a single class on the reference")

    def score(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0)
        proba = np.asarray(self.model.predict_proba(rows))
        pred = np.argmax(proba, axis=1)
        closeness = 1.0 - _margin(proba)
        z = self._embed(rows)
        out = np.empty(len(rows))
        for start in range(0, len(rows), 512):
            zs = z[start:start + 512]
            sq = np.einsum("ij,ij->i", zs, zs)[:, None] + self.sq_norms - 2.0 * zs @ self.points.T
            dist = np.sqrt(np.maximum(sq, 0.0))
            same = self.labels[None, :] == pred[start:start + 512, None]
            d_same = _mean_k_smallest(np.where(same, dist, np.inf), self.k_eff)
            d_other = _mean_k_smallest(np.where(same, np.inf, dist), self.k_eff)
            out[start:start + 512] = (d_same + 1e-9) / (d_other + 1e-9)
        return out * closeness

    def _embed(self, rows: np.ndarray) -> np.ndarray:
        """Standardized numbers, then each category one-hot scaled by 1/sqrt(2), so
        that a different category adds 1 to the squared distance, like one standard
        deviation of a number."""
        parts = [rows[:, :self.width] * self.inv_scale]
        for k, size in enumerate(self.sizes):
            codes = np.rint(rows[:, self.width + k]).astype(np.intp)
            hot = np.zeros((len(rows), size))
            hot[np.arange(len(rows)), np.clip(codes, 0, size - 1)] = _HALF_SQRT2
            parts.append(hot)
        return np.hstack(parts) if len(parts) > 1 else parts[0]


class ConfidenceProfileDetector:
    """How unusually unsure the model is, against reference rows of the same predicted class.

    The score is the share of reference rows predicted as the row's class whose margin
    (gap between the two largest class probabilities) is larger than the row's, ties
    counted half. A minimal-perturbation attack stops just past the decision boundary,
    where the margin is near zero; comparing with the row's own class keeps a class the
    model is always less sure of from being flagged wholesale. One ``predict_proba``
    call per batch.
    """

    id = "confidence-profile"

    def fit(self, reference: np.ndarray, context: FitContext) -> None:
        self.model = _require_proba(context.model)
        proba = np.asarray(self.model.predict_proba(reference))
        pred = np.argmax(proba, axis=1)
        margin = _margin(proba)
        self.n_classes = proba.shape[1]
        self.sorted = [np.sort(margin[pred == c]) for c in range(self.n_classes)]
        everything = np.sort(margin)
        # A class the reference never predicts is compared with every reference row.
        self.sorted = [m if len(m) else everything for m in self.sorted]

    def score(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros(0)
        proba = np.asarray(self.model.predict_proba(rows))
        pred = np.argmax(proba, axis=1)
        margin = _margin(proba)
        out = np.empty(len(rows))
        for c in range(self.n_classes):
            mine = pred == c
            if mine.any():
                ref = self.sorted[c]
                above = len(ref) - np.searchsorted(ref, margin[mine], side="right")
                ties = np.searchsorted(ref, margin[mine], side="right") - np.searchsorted(
                    ref, margin[mine], side="left")
                out[mine] = (above + 0.5 * ties) / len(ref)
        return out


_HALF_SQRT2 = float(np.sqrt(0.5))


def _margin(proba: np.ndarray) -> np.ndarray:
    """Gap between the two largest class probabilities of each row."""
    if proba.shape[1] < 2:
        return np.ones(len(proba))
    top2 = np.partition(proba, proba.shape[1] - 2, axis=1)[:, -2:]
    return np.abs(top2[:, 1] - top2[:, 0])


def _mean_k_smallest(dist: np.ndarray, k: int) -> np.ndarray:
    part = np.partition(dist, k - 1, axis=1)[:, :k]
    return part.mean(axis=1)


register_detector(DetectorInfo(
    id="perturbation-instability", factory=PerturbationInstabilityDetector, needs_model=True,
    description="Share of small random perturbations that flip the model's prediction.",
    params={"k": 16, "noise": 0.05},
))
register_detector(DetectorInfo(
    id="neighbour-disagreement", factory=NeighbourDisagreementDetector, needs_model=True,
    description="Distance to reference rows of the predicted class vs. rows of other classes.",
    params={"k": 5, "max_reference": 2000},
))
register_detector(DetectorInfo(
    id="confidence-profile", factory=ConfidenceProfileDetector, needs_model=True,
    description="Share of reference rows of the same predicted class the model is surer of.",
))
