"""Out-of-fold predicted probabilities: every row is scored by a model that never saw it.

Confident learning, the boundary check and the backdoor check all compare a row's given
label with what a model trained on *other* rows predicts for it. The model is a fast one
(logistic regression on small sets, histogram gradient boosting on large ones, or
their average on request) so
that the check scales to a few hundred thousand rows on a laptop.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

__all__ = ["fit_predict_proba", "out_of_fold_proba", "resolve_model"]


AUTO_BOOSTING_ROWS = 5_000


def resolve_model(kind: str, n_rows: int) -> tuple[str, ...]:
    """The concrete models behind a configured kind.

    ``auto`` is logistic regression below ``AUTO_BOOSTING_ROWS`` rows (better calibrated
    on little data) and histogram gradient boosting from there on (it learns non-linear
    classes, so their honest rows stop looking like label errors).
    """
    if kind == "auto":
        return ("logistic",) if n_rows < AUTO_BOOSTING_ROWS else ("hist_gradient_boosting",)
    if kind == "ensemble":
        return ("logistic", "hist_gradient_boosting")
    return (kind,)


def _estimator(name: str, n_rows: int, random_state: int) -> ClassifierMixin:
    if name == "logistic":
        return LogisticRegression(C=1.0, max_iter=300)
    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        min_samples_leaf=max(5, min(20, n_rows // 50)),
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


def out_of_fold_proba(
    matrix: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    folds: int,
    models: tuple[str, ...],
    random_state: int,
) -> np.ndarray:
    """Stratified K-fold out-of-fold probabilities, shape ``(n_rows, n_classes)``."""
    smallest = int(np.bincount(labels, minlength=n_classes).min())
    splitter = StratifiedKFold(
        n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=random_state
    )
    proba = np.zeros((matrix.shape[0], n_classes), dtype=np.float64)
    for train, test in splitter.split(matrix, labels):
        proba[test] = fit_predict_proba(
            matrix[train], labels[train], matrix[test], n_classes, models, random_state
        )
    return proba
