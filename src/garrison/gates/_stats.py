"""Metrics, trivial baselines and the paired tests the performance check relies on.

All functions are vectorized over rows: a paired bootstrap of 1,000 rounds over a
10,000-row holdout set costs one matrix of resampled indices, not 1,000 metric calls,
for every metric that is a mean of per-row terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from garrison.errors import UnsupportedModel
from garrison.gates._context import Scored
from garrison.gates.policy import higher_is_better

__all__ = [
    "PairedTest",
    "auc",
    "auc_columns",
    "baseline_score",
    "metric",
    "paired_test",
    "resampled_auc",
    "resampled_metric",
    "targets_of",
]

_EPS = 1e-15


def auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the boolean ``positive`` (Mann-Whitney, ties counted half)."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    score = np.asarray(score, dtype=float)
    if np.isnan(score).any():
        return float("nan")
    # Average ranks of tied scores, from one sort (scipy's rankdata costs several times more).
    order = np.argsort(score)
    ordered = score[order]
    starts = np.empty(ordered.size, dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    bounds = np.append(np.flatnonzero(starts), ordered.size)
    mean_rank = (bounds[:-1] + bounds[1:] + 1) / 2.0
    rank_sum = float(mean_rank[np.cumsum(starts) - 1][positive[order]].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auc_columns(positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``auc`` of every column of the finite float matrix ``scores`` (rows x columns).

    Mann-Whitney from sorted values, no ranks: each positive counts the negatives below it
    and half those equal to it (two binary searches of the sorted positives among the
    sorted negatives). Sorting values is several times cheaper than sorting indices.
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    k = scores.shape[1]
    if n_pos == 0 or n_neg == 0 or k == 0:
        return np.full(k, np.nan)
    # One row per column, so that each sort runs over contiguous memory.
    pos = np.sort(np.ascontiguousarray(scores[positive].T), axis=1)
    neg = np.sort(np.ascontiguousarray(scores[~positive].T), axis=1)
    below = np.empty(k)
    for j in range(k):
        left = np.searchsorted(neg[j], pos[j], side="left")
        right = np.searchsorted(neg[j], pos[j], side="right")
        below[j] = (left.sum() + right.sum()) / 2.0
    result: np.ndarray = below / (n_pos * n_neg)
    return result


def _true_class_proba(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    index = np.searchsorted(classes, y)
    return np.clip(proba[np.arange(y.size), index], _EPS, 1.0)


def _needs_proba(name: str, scored: Scored) -> np.ndarray:
    if scored.proba is None:
        raise UnsupportedModel(f"the metric {name} needs a model with predict_proba")
    return scored.proba


def targets_of(classes: np.ndarray, positive: Any = None) -> list[Any]:
    """The classes judged one by one: the positive class alone for binary labels (the
    policy's ``positive_label``, else the second in sorted order), every class otherwise."""
    if classes.size != 2:
        return list(classes)
    return [classes[1] if positive is None else positive]


def _f1(y: np.ndarray, pred: np.ndarray, classes: np.ndarray, positive: Any = None) -> float:
    """F1 of the positive class (binary) or the macro F1 (multi-class)."""
    targets = targets_of(classes, positive)
    scores = []
    for c in targets:
        tp = float(np.sum((pred == c) & (y == c)))
        fp = float(np.sum((pred == c) & (y != c)))
        fn = float(np.sum((pred != c) & (y == c)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))


def metric(
    name: str, y: np.ndarray, scored: Scored, classes: np.ndarray | None, positive: Any = None
) -> float:
    """The value of ``name`` for one model's outputs on the rows of ``y``."""
    if name == "accuracy":
        return float(np.mean(scored.pred == y))
    if name == "f1":
        assert classes is not None
        return _f1(y, scored.pred, classes, positive)
    if name == "log_loss":
        assert classes is not None
        return float(np.mean(-np.log(_true_class_proba(y, _needs_proba(name, scored), classes))))
    if name == "roc_auc":
        assert classes is not None
        proba = _needs_proba(name, scored)
        if classes.size == 2:
            return auc(y == classes[1], proba[:, 1])
        values = [auc(y == c, proba[:, i]) for i, c in enumerate(classes) if np.any(y == c)]
        return float(np.nanmean(values))
    error = np.asarray(scored.pred, dtype=float) - y
    if name == "rmse":
        return float(np.sqrt(np.mean(error**2)))
    if name == "mae":
        return float(np.mean(np.abs(error)))
    if name == "r2":
        total = float(np.sum((y - y.mean()) ** 2))
        return 1.0 - float(np.sum(error**2)) / total if total > 0 else float("nan")
    raise UnsupportedModel(f"unknown metric {name!r}")


def baseline_score(
    name: str, y: np.ndarray, classes: np.ndarray | None, positive: Any = None
) -> float:
    """The metric of a model that ignores its input (majority class, class priors, mean)."""
    if classes is None:
        return metric(name, y, Scored(np.full(y.size, y.mean()), None), None)
    counts = np.array([np.sum(y == c) for c in classes], dtype=float)
    majority = classes[int(np.argmax(counts))]
    priors = np.tile(counts / counts.sum(), (y.size, 1))
    if name == "roc_auc":
        return 0.5
    constant = Scored(np.full(y.size, majority, dtype=classes.dtype), priors)
    return metric(name, y, constant, classes, positive)


def _row_terms(
    name: str, y: np.ndarray, scored: Scored, classes: np.ndarray | None
) -> np.ndarray | None:
    """Per-row terms whose mean orders models as ``name`` does (higher is better), if any."""
    if name == "accuracy":
        return (scored.pred == y).astype(float)
    if name == "log_loss":
        assert classes is not None
        return np.log(_true_class_proba(y, _needs_proba(name, scored), classes))
    if name in ("rmse", "r2"):  # both are monotone in the mean squared error on the same rows
        return -((np.asarray(scored.pred, dtype=float) - y) ** 2)
    if name == "mae":
        return -np.abs(np.asarray(scored.pred, dtype=float) - y)
    return None


def resampled_auc(positive: np.ndarray, score: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """ROC AUC of each resample (a row of ``draws``, row indices), ties counted half.

    One pass of counting per resample: the draws are counted per (score value, class)
    group, and the AUC follows from cumulative negative counts below each group.
    """
    _, group = np.unique(score, return_inverse=True)
    groups = int(group.max()) + 1
    rounds = draws.shape[0]
    key = group[draws] * 2 + positive[draws] + (2 * groups * np.arange(rounds))[:, None]
    counts = np.bincount(key.ravel(), minlength=rounds * groups * 2).reshape(rounds, groups, 2)
    neg, pos = counts[:, :, 0], counts[:, :, 1]
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: np.ndarray = np.sum(pos * (below + 0.5 * neg), axis=1) / pairs
    return result


def resampled_metric(
    name: str,
    y: np.ndarray,
    scored: Scored,
    classes: np.ndarray,
    draws: np.ndarray,
    positive: Any = None,
) -> np.ndarray:
    """``f1`` or ``roc_auc`` of each resample (a row of ``draws``, row indices)."""
    if name == "f1":
        scores = []
        for c in targets_of(classes, positive):
            hit, truth = scored.pred == c, y == c
            tp = np.sum((hit & truth)[draws], axis=1)
            wrong = np.sum((hit != truth)[draws], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                scores.append(np.where(tp + wrong > 0, 2 * tp / (2 * tp + wrong), 0.0))
        return np.mean(scores, axis=0)
    if name == "roc_auc":
        proba = _needs_proba(name, scored)
        if classes.size == 2:
            return resampled_auc(y == classes[1], proba[:, 1], draws)
        per_class = [resampled_auc(y == c, proba[:, i], draws) for i, c in enumerate(classes)]
        with np.errstate(invalid="ignore"):
            return np.nanmean(np.vstack(per_class), axis=0)
    raise UnsupportedModel(f"no resampled form of the metric {name!r}")


@dataclass(frozen=True)
class PairedTest:
    """Candidate minus production on the same rows, oriented so that positive is better.

    ``p_worse`` is the one-sided p-value of "the candidate is worse"; ``upper`` the
    upper bound of the one-sided interval of the difference at the test's confidence
    (in the units of the per-row terms for bootstrapped means, of the metric otherwise).
    """

    method: str
    p_worse: float
    upper: float


def paired_test(
    name: str,
    y: np.ndarray,
    candidate: Scored,
    production: Scored,
    classes: np.ndarray | None,
    *,
    confidence: float,
    rounds: int,
    rng: np.random.Generator,
    positive: Any = None,
) -> PairedTest:
    """McNemar's exact test for accuracy, a paired bootstrap for every other metric."""
    if name == "accuracy":
        right_c = candidate.pred == y
        right_p = production.pred == y
        only_p = int(np.sum(right_p & ~right_c))
        only_c = int(np.sum(right_c & ~right_p))
        discordant = only_p + only_c
        if discordant == 0:
            return PairedTest("mcnemar-exact", 1.0, 0.0)
        p = float(stats.binomtest(only_p, discordant, 0.5, alternative="greater").pvalue)
        # The interval of the accuracy difference from the binomial bound on the discordant split:
        # the upper end of the two-sided exact (Clopper-Pearson) interval at 2 * confidence - 1,
        # i.e. the ``confidence`` quantile of Beta(k + 1, n - k), in closed form (what
        # ``binomtest(...).proportion_ci()`` finds by root search, to its tolerance).
        high = 1.0 if only_c == discordant else float(
            special.betaincinv(only_c + 1, discordant - only_c, confidence)
        )
        return PairedTest("mcnemar-exact", p, float((2 * high - 1) * discordant / y.size))
    terms_c = _row_terms(name, y, candidate, classes)
    terms_p = _row_terms(name, y, production, classes)
    n = y.size
    # Resamples of the row indices, in chunks so that a large holdout set never needs the
    # whole rounds x rows matrix at once; the same resamples judge both models.
    chunk = max(1, 1_000_000 // n)
    parts = []
    for start in range(0, rounds, chunk):
        draws = rng.integers(0, n, size=(min(chunk, rounds - start), n))
        if terms_c is not None and terms_p is not None:
            parts.append((terms_c - terms_p)[draws].mean(axis=1))
        else:
            assert classes is not None
            cand = resampled_metric(name, y, candidate, classes, draws, positive)
            prod = resampled_metric(name, y, production, classes, draws, positive)
            parts.append(cand - prod if higher_is_better(name) else prod - cand)
    boot = np.concatenate(parts)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return PairedTest("paired-bootstrap", 1.0, 0.0)
    p = float((np.sum(boot >= 0) + 1) / (boot.size + 1))
    return PairedTest("paired-bootstrap", p, float(np.quantile(boot, confidence)))
