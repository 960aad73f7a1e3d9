"""Reach a target k by generalizing quasi-identifiers and suppressing rare rows.

The search walks the generalization lattice greedily: from the original data it
raises, one level at a time, the quasi-identifier whose step removes the most
at-risk rows per unit of information lost, until the rows left in classes smaller
than k fit under the suppression cap; then it walks back down, lowering any
column whose lower level still meets the target (so the result is minimal along
each axis). The rows still at risk are suppressed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from garrison.errors import InvalidInput
from garrison.privacy.generalize import Hierarchy, generalize_frame, infer_hierarchy
from garrison.privacy.risk import NULL_KEY, _keys, class_sizes, k_anonymity
from garrison.privacy.tabular import (
    DEFAULT_CHUNK_ROWS,
    FrameWriter,
    iter_chunks,
    list_columns,
    read_columns,
)

__all__ = ["AnonymizationPlan", "AnonymizationResult", "anonymize_file", "plan_anonymization"]

DEFAULT_MAX_SUPPRESSION = 0.05


@dataclass(frozen=True)
class AnonymizationPlan:
    """Chosen generalization levels and the classes that must be suppressed."""

    quasi_identifiers: tuple[str, ...]
    k: int
    max_suppression: float
    hierarchies: tuple[Hierarchy, ...]
    levels: tuple[int, ...]
    rows: int
    rows_suppressed: int
    k_reached: int
    suppressed_keys: pd.MultiIndex = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "quasi_identifiers": list(self.quasi_identifiers),
            "target_k": self.k,
            "k_reached": self.k_reached,
            "rows": self.rows,
            "rows_suppressed": self.rows_suppressed,
            "max_suppression": self.max_suppression,
            "generalizations": [
                h.to_dict(lv) for h, lv in zip(self.hierarchies, self.levels, strict=True)
            ],
        }

    def apply(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        """Generalize and suppress one chunk; return it and the rows dropped."""
        text = frame.copy()
        for column in self.quasi_identifiers:
            text[column] = _as_text(frame[column])
        out = generalize_frame(text, self.hierarchies, self.levels)
        if len(self.suppressed_keys) == 0:
            return out, 0
        # The same keys class_sizes built suppressed_keys from, or nothing would match.
        keys = _keys(out, self.quasi_identifiers)
        drop = pd.MultiIndex.from_frame(keys).isin(self.suppressed_keys)
        return out.loc[~drop].reset_index(drop=True), int(drop.sum())


def _as_text(series: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(series) and not pd.api.types.is_object_dtype(series):
        return series
    return series.map(lambda x: None if pd.isna(x) else str(x))


def _at_risk(sizes: pd.Series | np.ndarray, k: int) -> int:
    return int(sizes[sizes < k].sum())


def plan_anonymization(
    frame: pd.DataFrame,
    quasi: Sequence[str],
    k: int,
    *,
    max_suppression: float = DEFAULT_MAX_SUPPRESSION,
    hierarchies: Sequence[Hierarchy] | None = None,
) -> AnonymizationPlan:
    """Find generalization levels (and suppressions) that make ``frame`` k-anonymous."""
    if k < 1:
        raise InvalidInput("k must be at least 1")
    if not 0.0 <= max_suppression < 1.0:
        raise InvalidInput("the suppression cap must be in [0, 1)")
    missing = set(quasi) - set(frame.columns)
    if not quasi or missing:
        raise InvalidInput(f"quasi-identifiers missing from the data: {sorted(missing)}")
    n = len(frame)
    if n < k:
        raise InvalidInput(f"the data has {n} rows, fewer than k={k}")
    data = pd.DataFrame({c: _as_text(frame[c]) for c in quasi})
    hier = (
        tuple(hierarchies) if hierarchies else tuple(infer_hierarchy(data[c], c, k) for c in quasi)
    )
    cap = int(max_suppression * n)
    codes: dict[tuple[int, int], tuple[np.ndarray, int]] = {}
    cache: dict[tuple[int, ...], np.ndarray] = {}

    def column_codes(i: int, level: int) -> tuple[np.ndarray, int]:
        if (i, level) not in codes:
            values = hier[i].apply(data[quasi[i]], level).astype("object")
            factor, uniques = pd.factorize(values.where(values.notna(), NULL_KEY))
            codes[(i, level)] = (factor.astype(np.int64), max(len(uniques), 1))
        return codes[(i, level)]

    def sizes(levels: tuple[int, ...]) -> np.ndarray:
        """Equivalence-class sizes via mixed-radix integer keys over factorized columns."""
        if levels not in cache:
            key = np.zeros(n, dtype=np.int64)
            radix = 1
            for i, level in enumerate(levels):
                factor, cardinality = column_codes(i, level)
                if radix * cardinality >= 2**62:  # Re-factorize the partial key to stay in range.
                    key, uniques = pd.factorize(key)
                    key, radix = key.astype(np.int64), max(len(uniques), 1)
                key = key * cardinality + factor
                radix *= cardinality
            cache[levels] = np.unique(key, return_counts=True)[1]
        return cache[levels]

    levels = tuple(0 for _ in quasi)
    while _at_risk(sizes(levels), k) > cap:
        current = _at_risk(sizes(levels), k)
        best: tuple[float, int, tuple[int, ...]] | None = None
        for i, h in enumerate(hier):
            if levels[i] >= h.height:
                continue
            step = tuple(lv + 1 if j == i else lv for j, lv in enumerate(levels))
            after = _at_risk(sizes(step), k)
            gain = (current - after) * h.height  # rows saved per unit of normalized loss
            rank = (-gain, after, step)
            if best is None or rank < best:
                best = rank
        if best is None:
            break
        levels = best[2]
    levels = _walk_down(levels, lambda lv: _at_risk(sizes(lv), k) <= cap)
    final = class_sizes(generalize_frame(data, hier, levels), quasi)
    small = final[final < k]
    kept = final[final >= k]
    return AnonymizationPlan(
        quasi_identifiers=tuple(quasi),
        k=k,
        max_suppression=max_suppression,
        hierarchies=hier,
        levels=levels,
        rows=n,
        rows_suppressed=int(small.sum()),
        k_reached=int(kept.min()) if len(kept) else 0,
        suppressed_keys=_as_multiindex(small.index, len(quasi)),
    )


def _walk_down(levels: tuple[int, ...], ok: Callable[[tuple[int, ...]], bool]) -> tuple[int, ...]:
    changed = True
    while changed:
        changed = False
        for i in range(len(levels)):
            while levels[i] > 0:
                lower = tuple(lv - 1 if j == i else lv for j, lv in enumerate(levels))
                if not ok(lower):
                    break
                levels, changed = lower, True
    return levels


def _as_multiindex(index: pd.Index, width: int) -> pd.MultiIndex:
    if isinstance(index, pd.MultiIndex):
        return index
    if width == 1:
        return pd.MultiIndex.from_arrays([index.astype("object")])
    return cast(pd.MultiIndex, index)  # Several columns: pandas grouped into a MultiIndex.


@dataclass(frozen=True)
class AnonymizationResult:
    """What ``anonymize_file`` wrote, with k recomputed on the output."""

    plan: AnonymizationPlan
    output: str
    rows_written: int
    rows_suppressed: int
    k_verified: int

    def to_dict(self) -> dict[str, object]:
        out = self.plan.to_dict()
        out.update(
            output=self.output,
            rows_written=self.rows_written,
            rows_suppressed=self.rows_suppressed,
            k_verified=self.k_verified,
        )
        return out


def anonymize_file(
    path: str | Path,
    out: str | Path,
    quasi: Sequence[str],
    k: int,
    *,
    max_suppression: float = DEFAULT_MAX_SUPPRESSION,
    drop: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> AnonymizationResult:
    """Plan on the quasi-identifier columns only, then stream the file to ``out``.

    ``drop`` removes columns (direct identifiers) from the output. The k reported
    as ``k_verified`` is recomputed from the written file.
    """
    if Path(path).resolve() == Path(out).resolve():
        raise InvalidInput("the output must not overwrite the input")
    columns = list_columns(path)
    unknown = (set(quasi) | set(drop)) - set(columns)
    if unknown:
        raise InvalidInput(f"no such column(s): {sorted(unknown)}")
    if set(quasi) & set(drop):
        raise InvalidInput("a quasi-identifier cannot also be dropped")
    plan = plan_anonymization(
        read_columns(path, quasi, chunk_rows=chunk_rows), quasi, k, max_suppression=max_suppression
    )
    written = suppressed = 0
    writer = FrameWriter(out)
    try:
        for chunk in iter_chunks(path, chunk_rows=chunk_rows, all_text=False, text_columns=quasi):
            result, dropped = plan.apply(chunk.drop(columns=list(drop)))
            suppressed += dropped
            written += len(result)
            writer.write(result)
    finally:
        writer.close([c for c in columns if c not in drop])
    verified = read_columns(out, quasi, chunk_rows=chunk_rows)
    return AnonymizationResult(plan, str(out), written, suppressed, k_anonymity(verified, quasi))
