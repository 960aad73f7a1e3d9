"""Hand-made models and frames for the per-check tests: outputs fixed row by row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from garrison.gates import GatePolicy
from garrison.gates._context import Context, build_context


class FixedLabels:
    """A "model" answering from a lookup on the ``row`` column: exact control of each output."""

    def __init__(self, pred: Any, classes: Any = None) -> None:
        self.pred = np.asarray(pred)
        if classes is not None:
            self.classes_ = np.asarray(classes)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return self.pred[x["row"].to_numpy(dtype=int)]


class FixedProba(FixedLabels):
    """Like ``FixedLabels``, with probabilities (columns in ``classes`` order)."""

    def __init__(self, pred: Any, proba: Any, classes: Any) -> None:
        super().__init__(pred, classes)
        self.proba = np.asarray(proba, dtype=float)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return self.proba[x["row"].to_numpy(dtype=int)]


def Fixed(pred: Any, proba: Any = None, classes: Any = None) -> FixedLabels:
    return FixedLabels(pred, classes) if proba is None else FixedProba(pred, proba, classes)


class PredictOnly:
    """A classifier without predict_proba (wraps a function of the frame)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.fn(x))


def policy(**extra: Any) -> GatePolicy:
    return GatePolicy.from_mapping({"holdout_dataset": "holdout:1", "label": "y", **extra})


def frame(y: Any, **columns: Any) -> pd.DataFrame:
    y = np.asarray(y)
    return pd.DataFrame({"row": np.arange(y.size), **columns, "y": y})


def context(
    candidate: Any,
    production: Any | None,
    holdout: pd.DataFrame,
    training: pd.DataFrame | None = None,
    **extra: Any,
) -> Context:
    return build_context(candidate, production, holdout, policy(**extra), training, seed=0)
