"""Label checks: confident-learning label issues and targeted flips near the boundary.

``label-issue`` runs confident learning on the out-of-fold probabilities of the
discriminative model; it catches flips that land deep inside another class.

``boundary-flip`` targets the harder attack: an adversary flips the rows of one class that
lie closest to the decision boundary. A discriminative model moves its boundary to
accommodate them, so they no longer look wrong to it. A generative model (linear
discriminant analysis: class means and one shrunk covariance) is steered by the bulk of
each class instead, and a neighbour vote is local; a row is flagged when *both* give its
label at most 20% support (default threshold 0.8, chosen so that the check flags under 1%
of the rows of clean sets). The score is ``1 - max(p_generative, neighbour share)``. When
the generative model itself is too weak (its skill is below ``min_model_skill``: the
classes are not linear) the check flags nothing and says so.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold

from garrison.detection.poisoning._context import CheckContext
from garrison.detection.poisoning._oof import model_skill
from garrison.detection.poisoning.confident import find_label_issues, label_quality
from garrison.detection.poisoning.registry import (
    CheckOutcome,
    PoisonDetector,
    RowFlag,
)

__all__ = ["BOUNDARY_FLIP", "LABEL_ISSUE", "generative_proba"]

_NEIGHBOURS = 10


def generative_proba(
    matrix: np.ndarray, labels: np.ndarray, n_classes: int, *, folds: int, random_state: int
) -> np.ndarray:
    """Out-of-fold probabilities of a shrinkage LDA, shape ``(n_rows, n_classes)``."""
    smallest = int(np.bincount(labels, minlength=n_classes).min())
    splitter = StratifiedKFold(
        n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=random_state
    )
    proba = np.zeros((matrix.shape[0], n_classes))
    for train, test in splitter.split(matrix, labels):
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
        with warnings.catch_warnings():
            # Collinear one-hot columns are expected; the shrinkage handles them.
            warnings.simplefilter("ignore", UserWarning)
            model.fit(matrix[train], labels[train])
        proba[test[:, None], model.classes_[None, :]] = model.predict_proba(matrix[test])
    return proba


def _label_issue(ctx: CheckContext, threshold: float) -> CheckOutcome:
    proba = ctx.oof_proba
    labels = ctx.labels
    method = f"confident learning (prune by noise rate) on {ctx.model_description}"
    accuracy = float(np.mean(proba.argmax(axis=1) == labels))
    if ctx.model_too_weak:
        return CheckOutcome(
            method=method,
            flags=(),
            detail={"out_of_fold_accuracy": round(accuracy, 4), "judged": False},
        )
    issues = find_label_issues(labels, proba)
    quality = label_quality(labels, proba)
    flags = []
    for row in np.flatnonzero(issues):
        score = 1.0 - float(quality[row])
        if score < threshold:
            continue
        predicted = int(proba[row].argmax())
        flags.append(
            RowFlag(
                row=int(row),
                score=score,
                detail=(
                    f"given label {ctx.class_name(labels[row])!r} has out-of-fold probability "
                    f"{proba[row, labels[row]]:.2f}; the model predicts "
                    f"{ctx.class_name(predicted)!r} ({proba[row, predicted]:.2f})"
                ),
            )
        )
    return CheckOutcome(
        method=method,
        flags=tuple(flags),
        detail={
            "out_of_fold_accuracy": round(accuracy, 4),
            "confident_issues": int(issues.sum()),
        },
    )


def _boundary_flip(ctx: CheckContext, threshold: float) -> CheckOutcome:
    labels = ctx.labels
    proba = generative_proba(
        ctx.prepared.matrix,
        labels,
        ctx.prepared.n_classes,
        folds=ctx.config.folds,
        random_state=ctx.random_state,
    )
    method = f"out-of-fold shrinkage LDA + {_NEIGHBOURS}-nearest-neighbour label vote"
    skill = model_skill(labels, proba)
    detail = {
        "generative_accuracy": round(float(np.mean(proba.argmax(axis=1) == labels)), 4),
        "generative_skill": round(skill, 4),
    }
    if ctx.config.min_model_skill > 0 and skill < ctx.config.min_model_skill:
        return CheckOutcome(
            method=method,
            flags=(),
            detail={**detail, "judged": False},
            warnings=(
                f"not judged: the generative model's skill is {skill:.2f}, below "
                f"{ctx.config.min_model_skill:g} (the classes are not linearly shaped); "
                "targeted flips near the boundary cannot be told from the boundary itself",
            ),
        )
    given = proba[np.arange(len(labels)), labels]
    candidates = np.flatnonzero(1.0 - given >= threshold)
    neighbours, _ = ctx.neighbours(candidates, _NEIGHBOURS)
    share = (
        (ctx.labels[neighbours] == labels[candidates, None]).mean(axis=1)
        if neighbours.shape[1]
        else np.ones(len(candidates))
    )
    flags = []
    for row, agree in zip(candidates, share, strict=True):
        score = 1.0 - max(float(given[row]), float(agree))
        if score < threshold:
            continue
        predicted = int(proba[row].argmax())
        flags.append(
            RowFlag(
                row=int(row),
                score=score,
                detail=(
                    f"label {ctx.class_name(labels[row])!r} is supported by only "
                    f"{agree:.0%} of its {neighbours.shape[1]} nearest rows and has "
                    f"generative-model probability {given[row]:.2f} (predicts "
                    f"{ctx.class_name(predicted)!r})"
                ),
            )
        )
    return CheckOutcome(method=method, flags=tuple(flags), detail=detail)


LABEL_ISSUE = PoisonDetector(
    id="label-issue",
    description=(
        "Rows whose given label confident learning finds wrong, from out-of-fold "
        "predicted probabilities. Threshold: minimum 1 - normalized margin."
    ),
    default_threshold=0.5,
    applies_to=("binary", "multiclass", "numeric", "categorical"),
    run=_label_issue,
)

BOUNDARY_FLIP = PoisonDetector(
    id="boundary-flip",
    description=(
        "Targeted flips near the decision boundary: rows whose label both a generative "
        "model and the nearest neighbours reject. Threshold: minimum "
        "1 - max(generative probability, neighbour agreement)."
    ),
    default_threshold=0.8,
    applies_to=("binary", "multiclass", "numeric", "categorical"),
    run=_boundary_flip,
)
