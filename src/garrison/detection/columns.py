"""Columns that are not features: row identifiers, and leaving columns out by name.

A row id in a table compared for drift always "drifts" (new ids), a row id in training
data is a perfect memorization key, and a row id in a model's reference data becomes a
required model input. :func:`row_id_columns` finds the usual shapes of one: a saved
DataFrame index (``Unnamed: 0``), consecutive integers with one value per row, a unique
value per row under an id-like name, or one UUID per row. It only looks at the values
and the name; the caller decides whether to refuse, warn or leave the column out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from garrison.errors import InvalidInput

__all__ = ["ID_NAME", "drop_columns", "row_id_columns"]

#: Names that usually hold a row identifier.
ID_NAME = re.compile(
    r"^(id|ids|idx|index|row|rownum|row_?(id|idx|index|num|number|no)|record_?(id|no)|uuid|"
    r"guid|pk|key|[a-z0-9_]*_id|[a-z0-9]+Id|[A-Za-z0-9_]*ID)$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")
#: Fewer rows than this prove nothing about consecutive integers.
MIN_ROWS_FOR_SEQUENCE = 20


def _one_per_row(column: Any, rows: int) -> bool:
    return rows >= 2 and int(column.notna().sum()) == rows and column.nunique() == rows


def _why(name: str, column: Any, rows: int) -> str | None:
    import pandas as pd

    if not _one_per_row(column, rows):
        return None
    if name.lower().startswith("unnamed:"):
        return "a saved DataFrame index"
    if pd.api.types.is_integer_dtype(column.dtype) and rows >= MIN_ROWS_FOR_SEQUENCE:
        ordered = column.sort_values().to_numpy()
        if int(ordered[-1]) - int(ordered[0]) == rows - 1:
            return "consecutive integers, one per row"
    if ID_NAME.match(name):
        return "a different value in every row under an id-like name"
    if column.dtype == object and rows >= MIN_ROWS_FOR_SEQUENCE:
        sample = column.head(200).astype(str)
        if sample.map(lambda v: bool(_UUID.match(v))).all():
            return "a UUID per row"
    return None


def row_id_columns(frame: Any) -> dict[str, str]:
    """Columns of ``frame`` that look like row identifiers, each with why."""
    rows = len(frame)
    found = {}
    for name in frame.columns:
        reason = _why(str(name), frame[name], rows)
        if reason is not None:
            found[str(name)] = reason
    return found


def drop_columns(frame: Any, names: Iterable[str], *, what: str = "the data") -> Any:
    """``frame`` without ``names``; a name that is not a column is an error (a typo would
    otherwise leave the column in silently)."""
    names = list(dict.fromkeys(names))
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InvalidInput(f"{what} has no column {missing[0]!r} to leave out "
                           f"(columns: {', '.join(map(str, list(frame.columns)[:12]))})",
                           missing=missing)
    return frame.drop(columns=names) if names else frame
