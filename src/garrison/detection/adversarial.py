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

import numpy as np

from garrison.detection.base import DetectorInfo, FitContext, register_detector
from garrison.detection.perturbation import (
    DECIDE_MIN_ROWS,
    EARLY_STOP_MISS,
    PerturbationInstabilityDetector,
    _margin,
    _require_proba,
)
from garrison.errors import UnsupportedModel

__all__ = [
    "DECIDE_MIN_ROWS",
    "EARLY_STOP_MISS",
    "ConfidenceProfileDetector",
    "NeighbourDisagreementDetector",
    "PerturbationInstabilityDetector",
]


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
