"""Out-of-fold predicted probabilities: every row is scored by a model that never saw it.

Confident learning and the boundary check compare a row's given label with what a model
trained on *other* rows predicts for it, so that model must be good enough to judge. With
``auto`` both candidates (logistic regression and histogram gradient boosting) are fitted
out of fold and the one with the lowest out-of-fold Brier score wins, their average
included; :func:`select_model` also reports how much better than chance the winner is
(its *skill*), so a check can refuse to judge labels with a model that cannot.

Large sets cost less per row. From :data:`LARGE_ROWS` rows on, at most 3 folds are used
(:func:`effective_folds`): each model still learns from two thirds of the rows, at least
33,000, and judges labels as well as with 5 folds, for half the fitting. Each fold's model
is fitted on at most :data:`MAX_FIT_ROWS` rows of its training part (drawn class by class,
in proportion), so past 150,000 rows only the predictions grow with the number of rows.
Every row is still scored by a model that never saw it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

__all__ = [
    "LARGE_ROWS",
    "MAX_FIT_ROWS",
    "ModelChoice",
    "effective_folds",
    "fit_predict_proba",
    "fit_rows",
    "model_skill",
    "out_of_fold_proba",
    "resolve_model",
    "select_model",
]

_CANDIDATES = ("logistic", "hist_gradient_boosting")

LARGE_ROWS = 50_000
"""From this many rows on, out-of-fold models use at most :data:`_LARGE_FOLDS` folds."""

_LARGE_FOLDS = 3

MAX_FIT_ROWS = 100_000
"""The most rows one out-of-fold model is fitted on."""

# A class with at most this many rows in a fold's training part keeps all of them when the
# part is subsampled, so a rare class is never left out of the model.
_KEEP_RARE = 20


def effective_folds(folds: int, n_rows: int) -> int:
    """The folds used on ``n_rows`` rows: ``folds``, at most 3 from :data:`LARGE_ROWS` rows on."""
    return min(folds, _LARGE_FOLDS) if n_rows >= LARGE_ROWS else folds


def resolve_model(kind: str, n_rows: int) -> tuple[str, ...]:
    """The concrete models a configured kind fits (``auto`` fits both candidates)."""
    del n_rows
    if kind in ("auto", "ensemble"):
        return _CANDIDATES
    return (kind,)


@dataclass(frozen=True)
class ModelChoice:
    """The out-of-fold model the label checks use, and how it was chosen.

    ``skill`` is the chosen model's out-of-fold balanced accuracy rescaled so that chance
    is 0 and perfect is 1: ``(balanced_accuracy - 1/K) / (1 - 1/K)``.
    """

    models: tuple[str, ...]
    proba: np.ndarray
    skill: float
    folds: int
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "+".join(self.models)

    def describe(self) -> dict[str, Any]:
        return {
            "chosen": self.name,
            "skill": round(self.skill, 4),
            "candidates": {k: dict(v) for k, v in self.candidates.items()},
        }


def model_skill(labels: np.ndarray, proba: np.ndarray) -> float:
    """Balanced accuracy of ``argmax(proba)`` rescaled: 0 for chance, 1 for perfect."""
    n_classes = proba.shape[1]
    predicted = proba.argmax(axis=1)
    recalls = [
        float(np.mean(predicted[labels == c] == c)) for c in range(n_classes) if (labels == c).any()
    ]
    chance = 1.0 / n_classes
    return (float(np.mean(recalls)) - chance) / (1.0 - chance)


def _quality(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(labels)), labels] = 1.0
    return {
        "brier": round(float(np.mean(np.sum((proba - onehot) ** 2, axis=1))), 6),
        "accuracy": round(float(np.mean(proba.argmax(axis=1) == labels)), 4),
        "skill": round(model_skill(labels, proba), 4),
    }


def select_model(
    matrix: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    kind: str,
    folds: int,
    random_state: int,
) -> ModelChoice:
    """Out-of-fold probabilities of the configured model, or of the best candidate.

    ``auto`` fits logistic regression and histogram gradient boosting out of fold and
    keeps whichever of them, or their average, has the lowest out-of-fold Brier score
    (a proper score that label noise raises equally for every candidate). ``ensemble``
    is always the average; any other kind is that one model. ``folds`` is reduced on
    large sets (:func:`effective_folds`).
    """
    folds = effective_folds(folds, len(labels))
    fitted = {
        name: out_of_fold_proba(
            matrix, labels, n_classes, folds=folds, models=(name,), random_state=random_state
        )
        for name in resolve_model(kind, len(labels))
    }
    options: dict[tuple[str, ...], np.ndarray] = {(name,): p for name, p in fitted.items()}
    if len(fitted) > 1:
        options[tuple(fitted)] = np.mean(list(fitted.values()), axis=0)
    qualities = {"+".join(models): _quality(labels, p) for models, p in options.items()}
    if kind == "ensemble":
        chosen = tuple(fitted)
    else:
        chosen = min(options, key=lambda models: qualities["+".join(models)]["brier"])
    return ModelChoice(
        models=chosen,
        proba=options[chosen],
        skill=qualities["+".join(chosen)]["skill"],
        folds=folds,
        candidates=qualities,
    )


def _estimator(name: str, n_rows: int, random_state: int) -> ClassifierMixin:
    if name == "logistic":
        return LogisticRegression(C=1.0, max_iter=300)
    # Leaves of at least 20 rows (1% of the rows on big sets): a small cluster of planted
    # rows (a batch with contiguous ids, say) cannot get a leaf of its own, so the model
    # does not learn the poison and the label checks still see it.
    return HistGradientBoostingClassifier(
        max_iter=50,
        learning_rate=0.2,
        max_leaf_nodes=15,
        min_samples_leaf=max(20, min(200, n_rows // 100)),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def fit_predict_proba(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    n_classes: int,
    models: tuple[str, ...],
    random_state: int,
) -> np.ndarray:
    """Fit ``models`` on the training rows and return their averaged probabilities.

    Columns follow the label codes ``0..n_classes-1``; a class absent from the training
    rows gets probability zero.
    """
    total = np.zeros((x_test.shape[0], n_classes), dtype=np.float64)
    for name in models:
        model = _estimator(name, x_train.shape[0], random_state)
        # One native thread: on a shared machine OpenMP spin-waiting makes the small fits of
        # cross-validation many times slower, never faster.
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # A logistic fit that stops a little short of convergence still ranks rows well.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
            proba = model.predict_proba(x_test)
        total[:, np.asarray(model.classes_, dtype=np.int64)] += proba
    total /= len(models)
    return total


def fit_rows(
    train: np.ndarray, labels: np.ndarray, limit: int, rng: np.random.Generator
) -> np.ndarray:
    """At most about ``limit`` of the ``train`` positions, class by class in proportion.

    ``train`` is returned unchanged when it is not longer than ``limit``. Otherwise each
    class keeps its share of ``limit`` (rounded), and a class with at most ``_KEEP_RARE``
    rows keeps them all. The positions come back in ascending order.
    """
    if len(train) <= limit:
        return train
    given = labels[train]
    kept = []
    for code in np.unique(given):
        members = train[given == code]
        size = len(members)
        if size > _KEEP_RARE:
            size = max(_KEEP_RARE, round(size * limit / len(train)))
        kept.append(members if size >= len(members) else rng.choice(members, size, replace=False))
    return np.sort(np.concatenate(kept))


def out_of_fold_proba(
    matrix: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    folds: int,
    models: tuple[str, ...],
    random_state: int,
    max_fit_rows: int = MAX_FIT_ROWS,
) -> np.ndarray:
    """Stratified K-fold out-of-fold probabilities, shape ``(n_rows, n_classes)``.

    Each fold's model is fitted on at most ``max_fit_rows`` rows of its training part
    (see :func:`fit_rows`); every row of the test part is scored.
    """
    smallest = int(np.bincount(labels, minlength=n_classes).min())
    splitter = StratifiedKFold(
        n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=random_state
    )
    proba = np.zeros((matrix.shape[0], n_classes), dtype=np.float64)
    for fold, (train, test) in enumerate(splitter.split(matrix, labels)):
        train = fit_rows(train, labels, max_fit_rows, np.random.default_rng([random_state, fold]))
        proba[test] = fit_predict_proba(
            matrix[train], labels[train], matrix[test], n_classes, models, random_state
        )
    return proba
