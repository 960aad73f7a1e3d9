"""Re-identification risk: k-anonymity, unique rows, l-diversity, risky combinations.

Everything is computed exactly on the full data, never on a sample: equivalence-class
sizes are group counts, and for files the counts are aggregated chunk by chunk
(:class:`CountAccumulator`), so memory grows with the number of distinct
combinations, not with the number of rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from garrison.errors import InvalidInput
from garrison.privacy.tabular import DEFAULT_CHUNK_ROWS, iter_chunks

__all__ = [
    "NULL_KEY",
    "Combination",
    "CountAccumulator",
    "RiskReport",
    "assess_file_risk",
    "assess_risk",
    "class_sizes",
    "k_anonymity",
]

NULL_KEY = "\x00null"
_COMPACT_EVERY = 8


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """QI values as text with missing values as one explicit key (a class of their own)."""
    return frame[list(columns)].astype("object").where(frame[list(columns)].notna(), NULL_KEY)


def class_sizes(frame: pd.DataFrame, quasi: Sequence[str]) -> pd.Series:
    """Size of each equivalence class over ``quasi`` (missing values form their own key)."""
    if not quasi:
        raise InvalidInput("at least one quasi-identifier is needed")
    missing = set(quasi) - set(frame.columns)
    if missing:
        raise InvalidInput(f"no such column(s): {sorted(missing)}")
    return _keys(frame, quasi).groupby(list(quasi), sort=False).size()


def k_anonymity(frame: pd.DataFrame, quasi: Sequence[str]) -> int:
    """The smallest equivalence-class size (0 for an empty table)."""
    sizes = class_sizes(frame, quasi)
    return int(sizes.min()) if len(sizes) else 0


@dataclass(frozen=True)
class Combination:
    """A set of quasi-identifiers and the share of rows it makes unique."""

    columns: tuple[str, ...]
    unique_share: float
    classes: int

    def to_dict(self) -> dict[str, object]:
        return {
            "columns": list(self.columns),
            "unique_share": round(self.unique_share, 4),
            "classes": self.classes,
        }


@dataclass(frozen=True)
class RiskReport:
    """Risk figures over one set of quasi-identifiers."""

    quasi_identifiers: tuple[str, ...]
    rows: int
    k_anonymity: int
    classes: int
    unique_rows: int
    sensitive: str | None = None
    l_diversity: int | None = None
    risky_combinations: tuple[Combination, ...] = ()
    suggestion: dict[str, object] | None = field(default=None, compare=False)

    @property
    def unique_share(self) -> float:
        return self.unique_rows / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "quasi_identifiers": list(self.quasi_identifiers),
            "rows": self.rows,
            "k_anonymity": self.k_anonymity,
            "classes": self.classes,
            "unique_rows": self.unique_rows,
            "unique_share": round(self.unique_share, 4),
            "sensitive": self.sensitive,
            "l_diversity": self.l_diversity,
            "risky_combinations": [c.to_dict() for c in self.risky_combinations],
            "suggestion": self.suggestion,
        }


class CountAccumulator:
    """Exact group counts for several column sets, aggregated over chunks."""

    def __init__(self, column_sets: Iterable[Sequence[str]]) -> None:
        self.column_sets = [tuple(c) for c in column_sets]
        self._parts: dict[tuple[str, ...], list[pd.Series]] = {c: [] for c in self.column_sets}
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        self.rows += len(frame)
        needed = sorted({c for cols in self.column_sets for c in cols})
        keys = _keys(frame, needed)
        for cols in self.column_sets:
            parts = self._parts[cols]
            parts.append(keys.groupby(list(cols), sort=False).size())
            if len(parts) >= _COMPACT_EVERY:
                self._parts[cols] = [self._merge(parts, len(cols))]

    @staticmethod
    def _merge(parts: list[pd.Series], levels: int) -> pd.Series:
        if len(parts) == 1:
            return parts[0]
        return pd.concat(parts).groupby(level=list(range(levels)), sort=False).sum()

    def counts(self, columns: Sequence[str]) -> pd.Series:
        cols = tuple(columns)
        parts = self._parts[cols]
        if not parts:
            return pd.Series([], dtype="int64")
        merged = self._merge(parts, len(cols))
        self._parts[cols] = [merged]
        return merged


def _combinations(quasi: Sequence[str], max_size: int) -> list[tuple[str, ...]]:
    size = min(max_size, len(quasi))
    return [c for n in range(1, size + 1) for c in itertools.combinations(quasi, n)]


def _report(
    acc: CountAccumulator,
    quasi: Sequence[str],
    sensitive: str | None,
    combos: list[tuple[str, ...]],
    top: int,
) -> RiskReport:
    sizes = acc.counts(quasi)
    l_div = None
    if sensitive is not None:
        joint = acc.counts([*quasi, sensitive])
        per_class = joint.groupby(level=list(range(len(quasi))), sort=False).size()
        l_div = int(per_class.min()) if len(per_class) else 0
    ranked = []
    for cols in combos:
        counts = acc.counts(cols)
        unique = int((counts == 1).sum())
        ranked.append(Combination(cols, unique / acc.rows if acc.rows else 0.0, len(counts)))
    ranked.sort(key=lambda c: (-c.unique_share, len(c.columns), c.columns))
    return RiskReport(
        quasi_identifiers=tuple(quasi),
        rows=acc.rows,
        k_anonymity=int(sizes.min()) if len(sizes) else 0,
        classes=len(sizes),
        unique_rows=int((sizes == 1).sum()),
        sensitive=sensitive,
        l_diversity=l_div,
        risky_combinations=tuple(c for c in ranked[:top] if c.unique_share > 0),
    )


def _column_sets(
    quasi: Sequence[str], sensitive: str | None, max_combination: int
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    if not quasi:
        raise InvalidInput("at least one quasi-identifier is needed")
    if len(set(quasi)) != len(quasi):
        raise InvalidInput("quasi-identifiers must be distinct")
    if sensitive is not None and sensitive in quasi:
        raise InvalidInput("the sensitive column cannot also be a quasi-identifier")
    combos = [c for c in _combinations(quasi, max_combination) if c != tuple(quasi)]
    sets = [tuple(quasi), *combos]
    if sensitive is not None:
        sets.append((*quasi, sensitive))
    return combos, sets


def assess_risk(
    frame: pd.DataFrame,
    quasi: Sequence[str],
    *,
    sensitive: str | None = None,
    max_combination: int = 3,
    top: int = 5,
) -> RiskReport:
    """Exact risk figures for an in-memory table."""
    missing = set(quasi) - set(frame.columns) | ({sensitive} - set(frame.columns) - {None})
    if missing:
        raise InvalidInput(f"no such column(s): {sorted(str(m) for m in missing)}")
    combos, sets = _column_sets(quasi, sensitive, max_combination)
    acc = CountAccumulator(sets)
    acc.add(frame)
    return _report(acc, quasi, sensitive, combos, top)


def assess_file_risk(
    path: str | Path,
    quasi: Sequence[str],
    *,
    sensitive: str | None = None,
    max_combination: int = 3,
    top: int = 5,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> RiskReport:
    """Exact risk figures for a CSV or Parquet file, streamed chunk by chunk."""
    combos, sets = _column_sets(quasi, sensitive, max_combination)
    needed = list(dict.fromkeys([*quasi, *([sensitive] if sensitive else [])]))
    acc = CountAccumulator(sets)
    for chunk in iter_chunks(path, columns=needed, chunk_rows=chunk_rows):
        acc.add(chunk)
    return _report(acc, quasi, sensitive, combos, top)
