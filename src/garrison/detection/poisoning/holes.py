"""``boundary-hole``: a class with an empty band along a boundary normal (targeted flips).

An attacker who relabels the rows of class ``s`` closest to the decision boundary as the
runner-up class ``r`` leaves a *hole*: projected on the boundary normal, ``s`` has rows on
both sides of a band (its bulk on one side, the rows a linear model misclassifies on the
other) but none inside it, while ``r`` gains exactly those rows. A clean class's projected
density is smooth, so long stretches without it between stretches with it are rare.

The test, for each pair of classes the model confuses (``s``, ``r``):

1. fit a logistic regression on the rows labelled ``s`` or ``r`` and sort them by its
   decision value (one O(n log n) sort);
2. every maximal run of ``L`` consecutive rows none of which is labelled ``s`` is a
   candidate hole. Its two flanks are the ``2 L`` rows on either side. If the share of ``s``
   were the same in the run and in a flank (``k`` rows of ``s`` among the flank's ``w``),
   the chance that all ``k`` fall outside the run is hypergeometric,
   ``C(w, k) / C(w + L, k)``. A hole must be improbable on *both* sides (the larger of
   the two chances is its p-value), so the sharp edge of a separable class never counts;
3. the p-value is multiplied by the number of runs, pairs, orientations and refit rounds
   (Bonferroni), so on clean data the chance that the check flags anything is at most the
   threshold (default 0.01);
4. rows labelled ``r`` inside a significant hole are flagged. The hypothesis that they
   belong to ``s`` is then used to refit the direction (a poisoned fit tilts towards the
   flips), and the scan is repeated, at most ``_ROUNDS`` times in all.

Its limits: when the classes are linearly separable the misclassified rows of ``s`` that
make the far flank do not exist, and the flipped band is indistinguishable from a class
edge; when the direction a poisoned fit finds is far from the attacker's, the hole is
smeared. Rows of ``r`` that really lie in the band are flagged with the flips.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from garrison.detection.poisoning._context import CheckContext
from garrison.detection.poisoning.registry import CheckOutcome, PoisonDetector, RowFlag

__all__ = ["BOUNDARY_HOLE", "HoleScan", "scan_holes"]

_ROUNDS = 3
_MIN_RUN = 3
_FLANK = 2
_MAX_PAIRS = 50
_MIN_CLASS_ROWS = 10


@dataclass(frozen=True)
class HoleScan:
    """The most significant hole of one class along one ordering, and its run's positions.

    ``start`` and ``end`` index the sorted order (the run is ``order[start:end]``);
    ``log_p`` is the natural log of the unadjusted p-value; ``runs`` is how many runs were
    tested (the Bonferroni factor of this scan).
    """

    start: int
    end: int
    log_p: float
    runs: int


def _log_all_outside(flank: np.ndarray, in_flank: np.ndarray, run: np.ndarray) -> np.ndarray:
    """log C(w, k) - log C(w + L, k): all ``k`` class rows of ``w + L`` fall in the flank."""
    return (
        gammaln(flank + 1)
        - gammaln(flank - in_flank + 1)
        - gammaln(flank + run + 1)
        + gammaln(flank + run - in_flank + 1)
    )


def scan_holes(
    values: np.ndarray, is_class: np.ndarray, tie_break: np.ndarray | None = None
) -> tuple[np.ndarray, list[HoleScan]]:
    """Every run of at least ``_MIN_RUN`` rows without the class, with its p-value.

    Rows with equal ``values`` are ordered by ``tie_break`` (random keys), never by their
    position: a file sorted by label would otherwise turn every tie into a run.
    Returns the sort order of ``values`` and one :class:`HoleScan` per run (``runs`` is
    the same for all: their number). Vectorized: O(n log n) for the sort, O(n) after.
    """
    keys = np.zeros(len(values)) if tie_break is None else tie_break
    order = np.lexsort((keys, values))
    marks = is_class[order].astype(np.int64)
    positions = np.flatnonzero(marks)
    if len(positions) < 2:
        return order, []
    cumulative = np.concatenate([[0], np.cumsum(marks)])
    start = positions[:-1] + 1
    end = positions[1:]
    length = end - start
    keep = length >= _MIN_RUN
    start, end, length = start[keep], end[keep], length[keep]
    if len(start) == 0:
        return order, []
    n = len(marks)
    left = np.maximum(0, start - _FLANK * length)
    right = np.minimum(n, end + _FLANK * length)
    log_left = _log_all_outside(
        (start - left).astype(float), (cumulative[start] - cumulative[left]).astype(float),
        length.astype(float),
    )
    log_right = _log_all_outside(
        (right - end).astype(float), (cumulative[right] - cumulative[end]).astype(float),
        length.astype(float),
    )
    log_p = np.maximum(log_left, log_right)
    runs = len(start)
    return order, [
        HoleScan(int(s), int(e), float(p), runs)
        for s, e, p in zip(start, end, log_p, strict=True)
    ]


def _confused_pairs(ctx: CheckContext) -> list[tuple[int, int]]:
    """Class pairs, most confused first: a row's label and its runner-up class."""
    labels = ctx.labels
    counts = np.bincount(labels, minlength=ctx.prepared.n_classes)
    if ctx.prepared.n_classes == 2:
        return [(0, 1)] if counts.min() >= _MIN_CLASS_ROWS else []
    proba = ctx.oof_proba.copy()
    proba[np.arange(len(labels)), labels] = -1.0
    runner_up = proba.argmax(axis=1)
    low = np.minimum(labels, runner_up)
    high = np.maximum(labels, runner_up)
    n_classes = ctx.prepared.n_classes
    tally = np.bincount(low * n_classes + high, minlength=n_classes * n_classes)
    ranked = np.argsort(-tally, kind="stable")
    pairs = [(int(code // n_classes), int(code % n_classes)) for code in ranked if tally[code]]
    pairs = [(a, b) for a, b in pairs if a != b and min(counts[a], counts[b]) >= _MIN_CLASS_ROWS]
    return pairs[:_MAX_PAIRS]


def _direction(matrix: np.ndarray, is_source: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(max_iter=2000).fit(matrix, is_source)
    return np.asarray(model.decision_function(matrix))


def _scan_pair(
    matrix: np.ndarray,
    labels: np.ndarray,
    pair: tuple[int, int],
    log_alpha: float,
    tie_break: np.ndarray,
) -> dict[int, tuple[int, float]]:
    """Positions (in ``matrix``) flagged in this pair: ``{position: (source, log_p)}``."""
    first = labels == pair[0]
    hypothesis = first.copy()
    found: dict[int, tuple[int, float]] = {}
    for _ in range(_ROUNDS):
        values = _direction(matrix, hypothesis)
        flagged: dict[int, tuple[int, float]] = {}
        for source, is_source in ((pair[0], first), (pair[1], ~first)):
            order, holes = scan_holes(values, is_source, tie_break)
            for hole in holes:
                if hole.log_p + np.log(hole.runs) > log_alpha:
                    continue
                for position in order[hole.start : hole.end]:
                    flagged[int(position)] = (source, hole.log_p + np.log(hole.runs))
        if not flagged or flagged.keys() == found.keys():
            break
        found = flagged
        hypothesis = first.copy()
        for position, (source, _) in found.items():
            hypothesis[position] = source == pair[0]
    return found


def _boundary_hole(ctx: CheckContext, threshold: float) -> CheckOutcome:
    labels = ctx.labels
    pairs = _confused_pairs(ctx)
    method = (
        "empty-band scan along logistic boundary normals (hypergeometric, both flanks, "
        f"Bonferroni over runs, {len(pairs)} class pair(s), 2 orientations, {_ROUNDS} rounds)"
    )
    if not pairs or threshold <= 0:
        return CheckOutcome(method=method, flags=(), detail={"pairs": len(pairs), "holes": 0})
    # The per-run level: the family-wise rate split over pairs, orientations and rounds.
    log_alpha = float(np.log(threshold) - np.log(len(pairs) * 2 * _ROUNDS))
    tie_break = ctx.rng(19).random(len(labels))
    best: dict[int, tuple[float, str]] = {}
    for pair in pairs:
        rows = np.flatnonzero((labels == pair[0]) | (labels == pair[1]))
        found = _scan_pair(
            ctx.prepared.matrix[rows], labels[rows], pair, log_alpha, tie_break[rows]
        )
        for position, (source, log_p) in found.items():
            row = int(rows[position])
            adjusted = float(np.exp(log_p + np.log(len(pairs) * 2 * _ROUNDS)))
            score = 1.0 - min(1.0, adjusted)
            if row not in best or score > best[row][0]:
                best[row] = (
                    score,
                    f"label {ctx.class_name(labels[row])!r} inside a band that class "
                    f"{ctx.class_name(source)!r} leaves empty along their boundary normal "
                    f"(adjusted p {min(1.0, adjusted):.1e})",
                )
    flags = tuple(
        RowFlag(row=row, score=score, detail=detail)
        for row, (score, detail) in sorted(best.items())
    )
    return CheckOutcome(
        method=method,
        flags=flags,
        detail={"pairs": len(pairs), "rows_in_holes": len(flags)},
    )


BOUNDARY_HOLE = PoisonDetector(
    id="boundary-hole",
    description=(
        "Targeted flips near a boundary: a class with rows on both sides of a band along "
        "the boundary normal but none inside, while the other class fills it. Threshold: "
        "family-wise false-alarm rate of the hole test (clean data)."
    ),
    default_threshold=0.01,
    applies_to=("binary", "multiclass", "numeric", "categorical"),
    run=_boundary_hole,
)
