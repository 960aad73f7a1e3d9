"""The vectorized fast path of validation for numeric-only schemas (private).

Every method here either returns the finished ``(n, d)`` float64 matrix or ``None``;
it never refuses. Whenever a value is not plainly valid (wrong type, NaN, out of
range, an integer too large to be exact in float64, ...) it abstains, and the
per-value reference path in ``validation.py`` decides and names the problem. A
property test checks that the two paths never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from garrison.serving._tensors import DATATYPES

__all__ = ["FastNumeric"]

_MAX = float(np.finfo(np.float64).max)
_EXACT = 2.0**53  # Integers beyond this are not exact in float64: the slow path checks them.
_TYPES = {"fp": frozenset({float, int}), "int": frozenset({int}), "bool": frozenset({bool})}


class FastNumeric:
    """Compiled bounds of a numeric-only schema.

    ``lo``/``hi`` are the inclusive feature bounds (``None``: unbounded), ``integral``
    and ``boolean`` flag ``int``/``bool`` features. Bool features are integral
    features bounded to [0, 1]; unbounded features get finite bounds so that the
    range test also refuses infinities (NaN fails every comparison).
    """

    def __init__(
        self,
        lo: Sequence[float],
        hi: Sequence[float],
        integral: Sequence[bool],
        boolean: Sequence[bool],
    ) -> None:
        self._d = len(lo)
        self._boolean = list(boolean)
        self._has_bool = any(boolean)
        self._all_bool = all(boolean)
        self._lo = np.array([0.0 if b else max(v, -_MAX) for v, b in zip(lo, boolean, strict=True)])
        self._hi = np.array([1.0 if b else min(v, _MAX) for v, b in zip(hi, boolean, strict=True)])
        flags = zip(integral, boolean, strict=True)
        self._integral = np.array([j for j, (i, b) in enumerate(flags) if i or b], dtype=np.intp)
        self._instance_types = frozenset({float, int, bool} if self._has_bool else {float, int})
        self._bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def instances(self, flat: list[Any], n: int) -> np.ndarray | None:
        """Friendly rows, already flattened row-major in schema order."""
        if self._has_bool and [type(v) is bool for v in flat] != self._boolean * n:
            return None  # Bool features need JSON booleans, and only they may hold them.
        return self._matrix(flat, n, self._instance_types, self._lo, self._hi)

    def tensor(self, flat: list[Any], n: int, datatype: str) -> np.ndarray | None:
        """One ``[n, d]`` OIP tensor, flattened row-major."""
        family = DATATYPES[datatype][0]
        if family not in _TYPES or (family == "bool" and not self._all_bool):
            return None
        lo, hi = self._bounds_for(datatype)
        return self._matrix(flat, n, _TYPES[family], lo, hi)

    def columns(self, data: list[list[Any]], datatypes: list[str], n: int) -> np.ndarray | None:
        """One OIP tensor per feature, in schema order, each with its own datatype."""
        if len(set(datatypes)) == 1:
            lo, hi = self._bounds_for(datatypes[0])
        else:
            lo, hi = np.empty(self._d), np.empty(self._d)
            for j, datatype in enumerate(datatypes):
                bounds = self._bounds_for(datatype)
                lo[j], hi[j] = bounds[0][j], bounds[1][j]
        for column, datatype, boolean in zip(data, datatypes, self._boolean, strict=True):
            family = DATATYPES[datatype][0]
            if family not in _TYPES or (family == "bool" and not boolean):
                return None
            if not set(map(type, column)) <= _TYPES[family]:
                return None
        try:
            m = np.ascontiguousarray(np.array(data, dtype=np.float64).T)
        except (OverflowError, ValueError, TypeError):
            return None
        return m if m.shape == (n, self._d) and self._in_bounds(m, lo, hi) else None

    def _matrix(
        self, flat: list[Any], n: int, types: frozenset[type], lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray | None:
        if not set(map(type, flat)) <= types:
            return None
        try:
            m = np.array(flat, dtype=np.float64).reshape(n, self._d)
        except (OverflowError, ValueError, TypeError):
            return None
        return m if self._in_bounds(m, lo, hi) else None

    def _in_bounds(self, m: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
        """Finite, within the (datatype-narrowed) range, and integral where required."""
        if not ((m >= lo) & (m <= hi)).all():
            return False
        if self._integral.size:
            sub = m[:, self._integral]
            return bool((sub == np.floor(sub)).all())
        return True

    def _bounds_for(self, datatype: str) -> tuple[np.ndarray, np.ndarray]:
        """Feature bounds narrowed to what the datatype holds exactly (cached)."""
        bounds = self._bounds.get(datatype)
        if bounds is None:
            family, lo, hi = DATATYPES[datatype]
            if family == "int":
                lo, hi = max(lo, -_EXACT), min(hi, _EXACT)
            bounds = (np.maximum(self._lo, lo), np.minimum(self._hi, hi))
            self._bounds[datatype] = bounds
        return bounds
