"""The numpy twins of the preprocessing steps the compiled serving path runs in front of a
compiled model: numeric scalers (``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
``RobustScaler``) and numeric ``SimpleImputer`` steps of a ``Pipeline``, each the same
in-place operation scikit-learn's ``transform`` performs. A step with no twin keeps the
whole pipeline on its original runtime. ``compiled`` checks the result like any candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["imputer_twin", "scaler_twin", "split_pipeline"]


def scaler_twin(step: Any) -> Callable[[np.ndarray], None] | None:
    """An in-place numpy twin of a fitted numeric scaler's ``transform``, or None."""
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    kind = type(step)
    if kind is StandardScaler:
        mean, scale = step.mean_ if step.with_mean else None, step.scale_

        def standard(Z: np.ndarray) -> None:
            if mean is not None:
                Z -= mean
            if scale is not None:
                Z /= scale
        return standard
    if kind is MinMaxScaler:
        lo, hi = step.feature_range
        clip = step.clip

        def minmax(Z: np.ndarray) -> None:
            Z *= step.scale_
            Z += step.min_
            if clip:
                np.clip(Z, lo, hi, out=Z)
        return minmax
    if kind is MaxAbsScaler:
        def maxabs(Z: np.ndarray) -> None:
            Z /= step.scale_
        return maxabs
    if kind is RobustScaler:
        center = step.center_ if step.with_centering else None
        scale = step.scale_ if step.with_scaling else None

        def robust(Z: np.ndarray) -> None:
            if center is not None:
                Z -= center
            if scale is not None:
                Z /= scale
        return robust
    return None


def imputer_twin(step: Any) -> Callable[[np.ndarray], None] | None:
    """An in-place numpy twin of a fitted ``SimpleImputer`` that fills NaN with one
    number per feature, or None (an indicator, a custom missing marker, a feature the
    imputer drops or a non-numeric fill change the columns or their meaning)."""
    from sklearn.impute import SimpleImputer

    if type(step) is not SimpleImputer or step.add_indicator:
        return None
    marker = step.missing_values
    if not (isinstance(marker, float) and np.isnan(marker)):
        return None
    try:
        fill = np.asarray(step.statistics_, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if fill.ndim != 1 or not np.isfinite(fill).all():
        return None

    def impute(Z: np.ndarray) -> None:
        rows, cols = np.nonzero(np.isnan(Z))
        Z[rows, cols] = fill[cols]
    return impute


def split_pipeline(model: Any) -> tuple[list[Callable[[np.ndarray], None]], Any, bool] | None:
    """(scalers and imputers in order, final estimator, whether an imputer fills NaN), or
    None if a step cannot be compiled."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline):
        return [], model, False
    steps = [step for _, step in model.steps if step not in (None, "passthrough")]
    if not steps:
        return None
    prep = []
    fills = False
    for step in steps[:-1]:
        twin = scaler_twin(step)
        if twin is None:
            twin = imputer_twin(step)
            fills = fills or twin is not None
        if twin is None:
            return None
        prep.append(twin)
    return prep, steps[-1], fills
