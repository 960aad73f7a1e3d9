"""Turn a training DataFrame into the numeric matrix and label codes the checks share.

Numeric columns are standardized (missing and infinite values become the median plus a
missing-indicator column); categorical columns (object, string, category, bool) are
one-hot encoded with at most ``max_categories`` columns each, the rest sharing an
"other" column. Labels become integer codes ``0..K-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from garrison.errors import InvalidInput, LimitExceeded

__all__ = ["Prepared", "is_categorical", "prepare"]


@dataclass(frozen=True, eq=False)
class Prepared:
    """The encoded training set (row order is the DataFrame's positional order)."""

    features: tuple[str, ...]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    matrix: np.ndarray
    column_source: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[Any, ...]
    frame: pd.DataFrame

    @property
    def n_rows(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def columns_of(self, features: set[str]) -> np.ndarray:
        """Boolean mask of the matrix columns that come from ``features``."""
        return np.array([source in features for source in self.column_source], dtype=bool)


def is_categorical(series: pd.Series) -> bool:
    """Whether a column is treated as categorical (everything that is not a number)."""
    return not (
        pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series)
    )


def _label_codes(target: pd.Series) -> tuple[np.ndarray, tuple[Any, ...]]:
    if target.isna().any():
        raise InvalidInput(
            f"the target column has {int(target.isna().sum())} missing value(s)",
            missing=int(target.isna().sum()),
        )
    try:
        codes, uniques = pd.factorize(target, sort=True)
    except TypeError:
        codes, uniques = pd.factorize(target.astype(str), sort=True)
    classes = tuple(value.item() if hasattr(value, "item") else value for value in uniques)
    if len(classes) < 2:
        raise InvalidInput("the target column holds a single class; nothing to check")
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() < 2:
        rare = [str(classes[i]) for i in np.flatnonzero(counts < 2)][:5]
        raise InvalidInput(
            f"class(es) {', '.join(rare)} have a single row; each class needs at least 2 rows",
            classes=rare,
        )
    return codes.astype(np.int64), classes


def _numeric_block(series: pd.Series) -> tuple[list[np.ndarray], list[str]]:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    values = np.where(np.isfinite(values), values, np.nan)
    missing = np.isnan(values)
    if missing.all():
        return [np.zeros_like(values)], [str(series.name)]
    fill = float(np.nanmedian(values))
    filled = np.where(missing, fill, values)
    std = float(filled.std())
    scaled = (filled - float(filled.mean())) / (std if std > 0 else 1.0)
    blocks = [scaled]
    if missing.any():
        blocks.append(missing.astype(np.float64))
    return blocks, [str(series.name)] * len(blocks)


def _categorical_block(
    series: pd.Series, max_categories: int
) -> tuple[list[np.ndarray], list[str]]:
    text = series.astype("object").where(series.notna(), "<missing>").astype(str)
    counts = text.value_counts(sort=True)
    kept = list(counts.index[:max_categories])
    blocks = [(text.to_numpy() == value).astype(np.float64) for value in kept]
    if len(counts) > max_categories:
        blocks.append((~text.isin(kept)).to_numpy().astype(np.float64))
    return blocks, [str(series.name)] * len(blocks)


def prepare(df: pd.DataFrame, target: str, *, max_rows: int, max_categories: int) -> Prepared:
    """Encode ``df`` for the checks; raise ``InvalidInput`` on an unusable table."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInput("poison check expects a pandas DataFrame")
    if target not in df.columns:
        raise InvalidInput(f"unknown target column {target!r}", target=target)
    if len(df) > max_rows:
        raise LimitExceeded(f"{len(df)} rows is above the limit of {max_rows}", rows=len(df))
    if len(df) < 10:
        raise InvalidInput("poison check needs at least 10 rows")
    frame = df.reset_index(drop=True)
    frame.columns = [str(column) for column in frame.columns]
    if frame.columns.duplicated().any():
        raise InvalidInput("the table has duplicate column names")
    target = str(target)
    features = tuple(column for column in frame.columns if column != target)
    if not features:
        raise InvalidInput("the table has no feature columns besides the target")
    labels, classes = _label_codes(frame[target])
    blocks: list[np.ndarray] = []
    sources: list[str] = []
    numeric: list[str] = []
    categorical: list[str] = []
    for name in features:
        series = frame[name]
        if is_categorical(series):
            categorical.append(name)
            new_blocks, new_sources = _categorical_block(series, max_categories)
        else:
            numeric.append(name)
            new_blocks, new_sources = _numeric_block(series)
        blocks.extend(new_blocks)
        sources.extend(new_sources)
    matrix = np.column_stack(blocks).astype(np.float64)
    return Prepared(
        features=features,
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        matrix=matrix,
        column_source=tuple(sources),
        labels=labels,
        classes=classes,
        frame=frame[list(features)],
    )
