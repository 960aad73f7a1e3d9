"""Compare a training set with the last accepted one: rows, labels and categories.

Rows are matched by a content hash (SHA-256 of the canonical text of every column, in
column-name order, numbers normalized so ``1`` and ``1.0`` hash alike), so a reordered
file is unchanged and an edited row counts as one removal plus one addition. The label
distributions are compared with a chi-square test of homogeneity on the 2 x K table of
label counts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from garrison.detection.poisoning._prepare import is_categorical
from garrison.detection.poisoning.report import json_value
from garrison.errors import InvalidInput

__all__ = ["ComparisonReport", "LabelShift", "compare_training_sets", "row_hashes"]

DEFAULT_ALPHA = 0.01
_MAX_LISTED = 20


def _canonical(series: pd.Series) -> list[str]:
    if pd.api.types.is_bool_dtype(series.dtype):
        return ["b:" + str(bool(v)) if pd.notna(v) else "na" for v in series]
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return ["na" if np.isnan(v) else "n:" + repr(float(v)) for v in values]
    return ["na" if pd.isna(v) else "s:" + str(v) for v in series]


def row_hashes(df: pd.DataFrame) -> list[str]:
    """SHA-256 of each row's canonical text (columns in name order)."""
    columns = sorted(str(column) for column in df.columns)
    frame = df.copy()
    frame.columns = [str(column) for column in frame.columns]
    texts = [_canonical(frame[column]) for column in columns]
    header = "\x1e".join(columns)
    return (
        [
            hashlib.sha256((header + "\x1d" + "\x1f".join(parts)).encode("utf-8")).hexdigest()
            for parts in zip(*texts, strict=True)
        ]
        if texts
        else []
    )


@dataclass(frozen=True)
class LabelShift:
    """Label distributions before and after, and the chi-square test between them."""

    previous: dict[str, int]
    current: dict[str, int]
    statistic: float
    p_value: float
    dof: int
    total_variation: float
    alpha: float
    method: str = "chi-square test of homogeneity"

    @property
    def shifted(self) -> bool:
        return self.p_value < self.alpha

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "previous": dict(self.previous),
            "current": dict(self.current),
            "statistic": round(self.statistic, 6),
            "p_value": self.p_value,
            "dof": self.dof,
            "total_variation": round(self.total_variation, 6),
            "alpha": self.alpha,
            "shifted": self.shifted,
        }


@dataclass(frozen=True)
class ComparisonReport:
    """What changed between the accepted training set and the candidate."""

    previous_rows: int
    current_rows: int
    new_rows: tuple[int, ...]
    removed_rows: tuple[int, ...]
    label_shift: LabelShift
    new_labels: tuple[str, ...]
    new_categories: dict[str, tuple[str, ...]]
    added_columns: tuple[str, ...]
    removed_columns: tuple[str, ...]
    alerts: tuple[str, ...] = field(default=())

    def to_dict(self, *, max_rows: int = 100) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "kind": "garrison.training-set-comparison",
            "previous_rows": self.previous_rows,
            "current_rows": self.current_rows,
            "new_rows": {"count": len(self.new_rows), "rows": list(self.new_rows[:max_rows])},
            "removed_rows": {
                "count": len(self.removed_rows),
                "previous_rows": list(self.removed_rows[:max_rows]),
            },
            "label_shift": self.label_shift.to_dict(),
            "new_labels": list(self.new_labels),
            "new_categories": {k: list(v) for k, v in self.new_categories.items()},
            "added_columns": list(self.added_columns),
            "removed_columns": list(self.removed_columns),
            "alerts": list(self.alerts),
        }


def _matched(hashes: list[str], other: list[str]) -> tuple[int, ...]:
    """Positions in ``hashes`` with no partner in ``other`` (multiset difference)."""
    remaining = Counter(other)
    unmatched = []
    for position, digest in enumerate(hashes):
        if remaining[digest] > 0:
            remaining[digest] -= 1
        else:
            unmatched.append(position)
    return tuple(unmatched)


def _label_shift(previous: pd.Series, current: pd.Series, alpha: float) -> LabelShift:
    before = Counter(str(json_value(v)) for v in previous)
    after = Counter(str(json_value(v)) for v in current)
    labels = sorted(set(before) | set(after))
    table = np.array([[before[k] for k in labels], [after[k] for k in labels]], dtype=float)
    if len(labels) < 2:
        statistic, p_value, dof = 0.0, 1.0, 0
    else:
        result = chi2_contingency(table, correction=False)
        statistic, p_value, dof = float(result.statistic), float(result.pvalue), int(result.dof)
    share = table / table.sum(axis=1, keepdims=True)
    return LabelShift(
        previous={k: before[k] for k in labels},
        current={k: after[k] for k in labels},
        statistic=statistic,
        p_value=p_value,
        dof=dof,
        total_variation=float(0.5 * np.abs(share[0] - share[1]).sum()),
        alpha=alpha,
    )


def compare_training_sets(
    previous_df: pd.DataFrame,
    current_df: pd.DataFrame,
    target: str,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> ComparisonReport:
    """Report what changed from ``previous_df`` (accepted) to ``current_df`` (candidate).

    New and removed rows are positions (0-based) in the current and previous table;
    ``alerts`` lists the changes worth a human look (a significant label shift, labels
    never seen before, categories never seen before).
    """
    for name, frame in (("previous", previous_df), ("current", current_df)):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInput(f"the {name} training set must be a pandas DataFrame")
        if str(target) not in {str(column) for column in frame.columns}:
            raise InvalidInput(f"unknown target column {target!r} in the {name} training set")
    previous = previous_df.reset_index(drop=True)
    current = current_df.reset_index(drop=True)
    previous.columns = [str(column) for column in previous.columns]
    current.columns = [str(column) for column in current.columns]
    target = str(target)
    before, after = row_hashes(previous), row_hashes(current)
    shift = _label_shift(previous[target], current[target], alpha)
    new_labels = tuple(sorted(k for k, v in shift.current.items() if v and not shift.previous[k]))
    new_categories: dict[str, tuple[str, ...]] = {}
    for column in current.columns:
        if column == target or column not in previous.columns:
            continue
        if not (is_categorical(current[column]) or is_categorical(previous[column])):
            continue
        seen = set(previous[column].dropna().astype(str))
        fresh = sorted(set(current[column].dropna().astype(str)) - seen)
        if fresh:
            new_categories[column] = tuple(fresh[:_MAX_LISTED])
    alerts = []
    if shift.shifted:
        alerts.append(f"label distribution shifted (chi-square p = {shift.p_value:.2g} < {alpha})")
    if new_labels:
        alerts.append(f"new label value(s): {', '.join(new_labels[:_MAX_LISTED])}")
    for column, values in new_categories.items():
        alerts.append(f"new categories in {column!r}: {', '.join(values)}")
    return ComparisonReport(
        previous_rows=len(previous),
        current_rows=len(current),
        new_rows=_matched(after, before),
        removed_rows=_matched(before, after),
        label_shift=shift,
        new_labels=new_labels,
        new_categories=new_categories,
        added_columns=tuple(sorted(set(current.columns) - set(previous.columns))),
        removed_columns=tuple(sorted(set(previous.columns) - set(current.columns))),
        alerts=tuple(alerts),
    )
