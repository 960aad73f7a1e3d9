"""Confident learning (Northcutt, Jiang and Chuang, JAIR 2021) from out-of-fold probabilities.

This is the ``prune_by_noise_rate`` variant that cleanlab's ``find_label_issues`` uses by
default, written out so the core does not depend on cleanlab at run time (the test suite
checks that both agree on the same probabilities):

1. per-class thresholds ``t_j`` = mean predicted probability of class ``j`` over the rows
   labelled ``j``;
2. the confident joint ``C[i][j]`` counts rows labelled ``i`` whose probability of ``j`` is
   at least ``t_j`` (the most probable such class when several qualify), calibrated so
   each row sums to the count of label ``i`` and the whole matrix to ``n``;
3. for every off-diagonal cell, the ``C[i][j]`` rows labelled ``i`` with the largest margin
   ``p_j - p_i`` are label issues;
4. rows whose given label is also the model's most probable class are never issues.
"""

from __future__ import annotations

import numpy as np

__all__ = ["confident_joint", "find_label_issues", "label_quality"]


def _thresholds(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    n_classes = proba.shape[1]
    out = np.empty(n_classes, dtype=np.float64)
    for j in range(n_classes):
        rows = labels == j
        out[j] = proba[rows, j].mean() if rows.any() else 1.0
    return out


def _round_preserving_sum(values: np.ndarray) -> np.ndarray:
    floor = np.floor(values)
    missing = round(float(values.sum() - floor.sum()))
    if missing > 0:
        order = np.argsort(-(values - floor), kind="stable")
        floor[order[:missing]] += 1
    return floor.astype(np.int64)


def confident_joint(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The calibrated confident joint ``C[given][true]`` (integer counts summing to ``n``)."""
    n_classes = proba.shape[1]
    confident = proba >= _thresholds(labels, proba) - 1e-6
    count = confident.sum(axis=1)
    guess = np.where(count > 1, proba.argmax(axis=1), confident.argmax(axis=1))
    joint = np.zeros((n_classes, n_classes), dtype=np.float64)
    np.add.at(joint, (labels[count > 0], guess[count > 0]), 1.0)
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1.0))
    label_counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    joint = joint / joint.sum(axis=1, keepdims=True) * label_counts[:, None]
    joint = joint / joint.sum() * label_counts.sum()
    return np.vstack([_round_preserving_sum(row) for row in joint])


def find_label_issues(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows whose given label confident learning considers wrong."""
    labels = np.asarray(labels, dtype=np.int64)
    joint = confident_joint(labels, proba)
    issues = np.zeros(len(labels), dtype=bool)
    for given in range(proba.shape[1]):
        rows = np.flatnonzero(labels == given)
        if len(rows) <= 1:
            continue
        for true in range(proba.shape[1]):
            prune = int(joint[given, true])
            if true == given or prune <= 0:
                continue
            margin = proba[rows, true] - proba[rows, given]
            issues[rows[np.argsort(-margin, kind="stable")[:prune]]] = True
    nudged = proba.copy()
    nudged[np.arange(len(labels)), labels] += 1e-6
    issues[nudged.argmax(axis=1) == labels] = False
    return issues


def label_quality(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Normalized margin in [0, 1]: 1 when the given label dominates, 0 when another does."""
    given = proba[np.arange(len(labels)), labels]
    others = proba.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    best_other = others.max(axis=1)
    return np.clip((given - best_other + 1.0) / 2.0, 0.0, 1.0)
