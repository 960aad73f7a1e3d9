"""Generalization hierarchies for quasi-identifiers.

Each hierarchy maps a column to coarser and coarser text values: level 0 is the
original value and the top level is ``*`` (the value suppressed). The parameters
a hierarchy needs (band origin, rare categories) are fitted once on the full
column so the same mapping can be applied chunk by chunk to a file.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from garrison.privacy.validators import parse_date

__all__ = [
    "CategoryHierarchy",
    "DateHierarchy",
    "Hierarchy",
    "NumericHierarchy",
    "PrefixHierarchy",
    "generalize_frame",
    "infer_hierarchy",
]

SUPPRESSED = "*"


class Hierarchy:
    """Base class: ``height`` is the top level (where every value is ``*``)."""

    kind = "abstract"
    column: str
    height: int

    def describe(self, level: int) -> str:
        raise NotImplementedError

    def _apply(self, values: pd.Series, level: int) -> pd.Series:
        raise NotImplementedError

    def apply(self, values: pd.Series, level: int) -> pd.Series:
        """Generalize a text series to ``level`` (missing values stay missing)."""
        if level <= 0:
            return values
        present = values.notna()
        if level >= self.height:
            out = pd.Series(SUPPRESSED, index=values.index, dtype="object")
        else:
            out = self._apply(values, level).astype("object")
        return out.where(present, None)

    def to_dict(self, level: int) -> dict[str, object]:
        return {
            "column": self.column,
            "kind": self.kind,
            "level": level,
            "height": self.height,
            "description": self.describe(level),
        }


@dataclass
class NumericHierarchy(Hierarchy):
    """Numbers into bands of growing width (ages: 5, 10, 20, 40 years)."""

    column: str
    widths: tuple[float, ...]
    origin: float = 0.0
    kind = "numeric"

    @property
    def height(self) -> int:  # type: ignore[override]
        return len(self.widths) + 1

    def describe(self, level: int) -> str:
        if level <= 0:
            return "exact value"
        if level >= self.height:
            return "suppressed"
        return f"bands of width {self.widths[level - 1]:g}"

    def _apply(self, values: pd.Series, level: int) -> pd.Series:
        width = self.widths[level - 1]
        numbers = pd.to_numeric(values, errors="coerce")
        low = np.floor((numbers - self.origin) / width) * width + self.origin
        high = low + width - (1 if float(width).is_integer() else 0)
        text = low.map(_fmt) + "-" + high.map(_fmt)
        return text.where(numbers.notna(), SUPPRESSED)


def _fmt(x: float) -> str:
    return f"{x:g}" if x == x else ""


@dataclass
class PrefixHierarchy(Hierarchy):
    """Codes (ZIP codes) truncated from the right: ``02139`` -> ``0213*`` -> ``021**``."""

    column: str
    length: int
    kind = "prefix"

    @property
    def height(self) -> int:  # type: ignore[override]
        return self.length

    def describe(self, level: int) -> str:
        if level <= 0:
            return "exact value"
        if level >= self.height:
            return "suppressed"
        return f"first {self.length - level} characters kept"

    def _apply(self, values: pd.Series, level: int) -> pd.Series:
        keep = self.length - level
        text = values.astype(str)
        return text.str.slice(0, keep) + "*" * level


@dataclass
class DateHierarchy(Hierarchy):
    """Dates to month, year, five-year band, decade."""

    column: str
    kind = "date"
    _labels = ("exact date", "year and month", "year", "five-year band", "decade")

    @property
    def height(self) -> int:  # type: ignore[override]
        return len(self._labels)

    def describe(self, level: int) -> str:
        return "suppressed" if level >= self.height else self._labels[max(level, 0)]

    def _apply(self, values: pd.Series, level: int) -> pd.Series:
        unique = values.dropna().unique()
        mapping: dict[str, str] = {}
        for raw in unique:
            date = _cached_date(str(raw))
            if date is None:
                mapping[raw] = SUPPRESSED
            elif level == 1:
                mapping[raw] = f"{date.year:04d}-{date.month:02d}"
            elif level == 2:
                mapping[raw] = f"{date.year:04d}"
            else:
                width = 5 if level == 3 else 10
                start = date.year // width * width
                mapping[raw] = f"{start}-{start + width - 1}"
        return values.map(mapping)


@functools.lru_cache(maxsize=65_536)
def _cached_date(text: str) -> _dt.date | None:
    return parse_date(text)


@dataclass
class CategoryHierarchy(Hierarchy):
    """Categories: rare ones folded into ``other``, then everything suppressed."""

    column: str
    common: frozenset[str]
    kind = "category"

    @property
    def height(self) -> int:  # type: ignore[override]
        return 2

    def describe(self, level: int) -> str:
        if level <= 0:
            return "exact value"
        return "rare values grouped as 'other'" if level == 1 else "suppressed"

    def _apply(self, values: pd.Series, level: int) -> pd.Series:
        return values.where(values.isin(self.common), "other")


def infer_hierarchy(values: pd.Series, column: str, k: int) -> Hierarchy:
    """Pick a hierarchy from the values of a (text) column."""
    present = values.dropna().astype(str)
    sample = present.sample(min(len(present), 500), random_state=0) if len(present) else present
    if len(sample) and np.mean([parse_date(x) is not None for x in sample]) >= 0.9:
        return DateHierarchy(column)
    lengths = present.str.len()
    same_length_digits = (
        len(present) > 0 and bool(present.str.fullmatch(r"[0-9]+").all()) and lengths.nunique() == 1
    )
    if same_length_digits and lengths.iloc[0] >= 3 and present.str.startswith("0").any():
        return PrefixHierarchy(column, int(lengths.iloc[0]))
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) and numbers.notna().mean() >= 0.95:
        low, high = float(numbers.min()), float(numbers.max())
        integral = bool((numbers.dropna() % 1 == 0).all())
        if integral and low >= 0 and high <= 120:
            return NumericHierarchy(column, (5, 10, 20, 40))
        if same_length_digits:
            return PrefixHierarchy(column, int(lengths.iloc[0]))
        span = max(high - low, 1e-9)
        widths = tuple(_nice(span / bins) for bins in (50, 20, 10, 4, 2))
        return NumericHierarchy(column, widths, origin=float(np.floor(low)))
    counts = present.value_counts()
    return CategoryHierarchy(column, frozenset(str(c) for c in counts[counts >= k].index))


def _nice(width: float) -> float:
    """Round a band width up to 1, 2 or 5 times a power of ten."""
    exponent = np.floor(np.log10(width))
    for step in (1, 2, 5, 10):
        candidate = step * 10**exponent
        if candidate >= width:
            return float(candidate)
    return float(10 ** (exponent + 1))


def generalize_frame(
    frame: pd.DataFrame, hierarchies: Sequence[Hierarchy], levels: Sequence[int]
) -> pd.DataFrame:
    """Return a copy with each hierarchy's column generalized to its level."""
    out = frame.copy()
    for hierarchy, level in zip(hierarchies, levels, strict=True):
        out[hierarchy.column] = hierarchy.apply(frame[hierarchy.column], level)
    return out
